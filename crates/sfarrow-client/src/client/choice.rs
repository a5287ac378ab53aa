//! Which API serves a read or a write: the caller's word for it, checked once.

use crate::error::{Error, Result};

/// `auto` chooses by the size of the work (Bulk API 2.0 at or above a threshold), `rest` and
/// `bulk` force one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Auto,
    Rest,
    Bulk,
}

impl Api {
    pub fn parse(s: &str) -> Result<Api> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Api::Auto),
            "rest" => Ok(Api::Rest),
            "bulk" => Ok(Api::Bulk),
            _ => Err(Error::config(format!(
                "api must be \"auto\", \"rest\" or \"bulk\", got {s:?}"
            ))),
        }
    }
}
