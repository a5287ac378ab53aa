//! Records another transaction holds (a test control): a write that touches one fails with
//! `UNABLE_TO_LOCK_ROW`, as an org answers while a trigger, a batch job or another integration
//! holds the row, until the hold has refused its number of writes.

use crate::data::value::DmlError;
use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct Locks {
    held: HashMap<String, u32>,
}

impl Locks {
    /// The next `times` writes to `id` are refused (0 releases it).
    pub fn hold(&mut self, id: &str, times: u32) {
        if times == 0 {
            self.held.remove(id);
        } else {
            self.held.insert(id.to_string(), times);
        }
    }

    /// A write to `id`: refused while it is held, using up one of the hold's refusals.
    pub fn check(&mut self, id: &str) -> Result<(), DmlError> {
        let Some(left) = self.held.get_mut(id) else {
            return Ok(());
        };
        *left -= 1;
        if *left == 0 {
            self.held.remove(id);
        }
        Err(DmlError::new(
            "UNABLE_TO_LOCK_ROW",
            "unable to obtain exclusive access to this record or 1 records",
            &[],
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_refuses_its_number_of_writes_then_lets_go() {
        let mut locks = Locks::default();
        locks.hold("001A", 2);
        assert_eq!(locks.check("001A").unwrap_err().code, "UNABLE_TO_LOCK_ROW");
        assert!(locks.check("001B").is_ok());
        assert!(locks.check("001A").is_err());
        assert!(locks.check("001A").is_ok());
        locks.hold("001A", 1);
        locks.hold("001A", 0);
        assert!(locks.check("001A").is_ok());
    }
}
