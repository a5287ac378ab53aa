//! The REST query cursors an org keeps: each one's result set, page size and the pages being
//! rendered ahead of the one served (see `query` for how they are used).

use crate::soql::ResultSet;
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

pub(crate) const MAX_CURSORS: usize = 10;
/// Pages rendered ahead of the one served.
pub(crate) const RENDER_AHEAD: usize = 2;

/// How long a cursor whose last page was served stays for that page to be asked again.
pub(crate) const FINISHED_KEPT: std::time::Duration = std::time::Duration::from_secs(60);

pub(crate) struct Cursor {
    pub(crate) rs: Arc<ResultSet>,
    pub(crate) batch: usize,
    pub(crate) last_used: Instant,
    pub(crate) created: u64,
    pub(crate) ahead: Vec<Ahead>,
    /// Its last page was served: it no longer counts toward the ten a user may hold open, but
    /// stays a minute, for a client that asks for that page again after a lost answer.
    pub(crate) finished: bool,
}

/// A page after the one served, being rendered (and gzipped when the client asked for gzip).
pub(crate) struct Ahead {
    pub(crate) offset: usize,
    pub(crate) gzip: bool,
    pub(crate) page: Arc<Pending>,
}

/// A page another thread is rendering (`OnceLock::wait` needs a newer Rust than our MSRV).
#[derive(Default)]
pub(crate) struct Pending {
    pub(crate) page: Mutex<Option<Vec<u8>>>,
    pub(crate) ready: Condvar,
}

impl Pending {
    pub(crate) fn set(&self, page: Vec<u8>) {
        *self.page.lock().unwrap_or_else(|e| e.into_inner()) = Some(page);
        self.ready.notify_all();
    }

    pub(crate) fn wait(&self) -> Vec<u8> {
        let mut slot = self.page.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(page) = slot.as_ref() {
                return page.clone();
            }
            slot = self.ready.wait(slot).unwrap_or_else(|e| e.into_inner());
        }
    }
}

#[derive(Default)]
pub(crate) struct Cursors {
    pub(crate) open: HashMap<String, Cursor>,
    pub(crate) sequence: u64,
}
