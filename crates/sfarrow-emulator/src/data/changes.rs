//! Record changes kept for change data capture: what each write did, per thread (a request runs
//! on one thread from start to commit), until the API layer turns a committed transaction into
//! change events. Only objects selected for change notifications are recorded, so bulk seeding
//! and loading pay nothing.

use crate::data::value::Value;
use std::collections::HashMap;
use std::thread::ThreadId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Create,
    Update,
    Delete,
    Undelete,
}

#[derive(Debug, Clone)]
pub struct Change {
    pub table: usize,
    pub kind: Kind,
    pub id: Box<str>,
    /// The record before an update.
    pub old: Option<Vec<Value>>,
    /// The record after the write (before it, for a delete).
    pub new: Vec<Value>,
    /// Transactions within one request: Bulk ingest commits every 200 rows.
    pub tx: u32,
}

#[derive(Default)]
struct Pending {
    changes: Vec<Change>,
    tx: u32,
}

#[derive(Default)]
pub struct Capture {
    /// By table index: "Select objects for change notifications" (off, as in a new org).
    selected: Vec<bool>,
    pending: HashMap<ThreadId, Pending>,
}

impl Capture {
    pub fn is_selected(&self, table: usize) -> bool {
        self.selected.get(table).copied().unwrap_or(false)
    }

    pub fn select(&mut self, table: usize, on: bool) {
        if self.selected.len() <= table {
            self.selected.resize(table + 1, false);
        }
        self.selected[table] = on;
    }

    pub fn selected(&self) -> impl Iterator<Item = usize> + '_ {
        self.selected
            .iter()
            .enumerate()
            .filter(|(_, on)| **on)
            .map(|(i, _)| i)
    }

    pub fn record(
        &mut self,
        table: usize,
        kind: Kind,
        id: &str,
        old: Option<&[Value]>,
        new: &[Value],
    ) {
        if !self.is_selected(table) {
            return;
        }
        let p = self.pending.entry(std::thread::current().id()).or_default();
        p.changes.push(Change {
            table,
            kind,
            id: id.into(),
            old: old.map(<[Value]>::to_vec),
            new: new.to_vec(),
            tx: p.tx,
        });
    }

    /// Ends this thread's current transaction; later changes belong to the next one.
    pub fn end_transaction(&mut self) {
        if let Some(p) = self.pending.get_mut(&std::thread::current().id()) {
            p.tx += 1;
        }
    }

    /// Forgets this thread's latest change to a record, which a rollback undid: it never
    /// committed, so it is never published.
    pub fn forget(&mut self, table: usize, id: &str) {
        if let Some(p) = self.pending.get_mut(&std::thread::current().id()) {
            if let Some(i) = p
                .changes
                .iter()
                .rposition(|c| c.table == table && &*c.id == id)
            {
                p.changes.remove(i);
            }
        }
    }

    /// This thread's changes since its last commit, which are now committed.
    pub fn take(&mut self) -> Vec<Change> {
        self.pending
            .remove(&std::thread::current().id())
            .map(|p| p.changes)
            .unwrap_or_default()
    }
}
