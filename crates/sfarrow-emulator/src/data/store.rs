//! The org's records and the writes (audit fields, recycle bin, undo) shared by REST
//! single-record calls, sObject Collections and Bulk API 2.0 ingest. A table and its indexes
//! are in `table`; what a record must satisfy to be written is in `validate`.

use crate::data::changes::{Capture, Kind};
use crate::data::locks::Locks;
use crate::data::schema::ObjectDef;
use crate::data::value::{DmlError, Value};
use sfarrow_soql::ids;
use sfarrow_soql::types::FieldType as T;
use std::collections::HashMap;

pub use crate::data::table::{Row, Table, IDX_ID, IDX_IS_DELETED};

/// What a successful write did, for undo (allOrNone) and for results.
#[derive(Debug, Clone)]
pub enum Undo {
    Insert {
        table: usize,
        row: u32,
    },
    Update {
        table: usize,
        row: u32,
        old: Row,
    },
    Delete {
        table: usize,
        row: u32,
    },
    Undelete {
        table: usize,
        row: u32,
    },
    /// A platform event: nothing is stored, and it is published only if the request commits.
    Event {
        table: usize,
        id: Box<str>,
    },
}

pub struct Store {
    pub tables: Vec<Table>,
    by_name: HashMap<String, usize>,
    pub user_id: String,
    pub pod: String,
    autonumber: u64,
    last_stamp: i64,
    /// When an object or field was last added: describe answers 304 to older If-Modified-Since.
    pub schema_modified: i64,
    /// When the org started: seeded records are dated in the two years before it.
    pub started: i64,
    /// Writes made by threads running an all-or-none composite request, to undo together.
    journals: HashMap<std::thread::ThreadId, Vec<Undo>>,
    /// Changes to objects selected for change data capture, until their transaction commits.
    pub changes: Capture,
    /// Records a test holds as another transaction would (`UNABLE_TO_LOCK_ROW`).
    pub locks: Locks,
}

pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Store {
    pub fn new(objects: Vec<ObjectDef>, pod: &str) -> Self {
        let mut s = Store {
            tables: Vec::new(),
            by_name: HashMap::new(),
            user_id: String::new(),
            pod: pod.to_string(),
            autonumber: 0,
            last_stamp: 0,
            schema_modified: now_millis(),
            started: now_millis(),
            journals: HashMap::new(),
            changes: Capture::default(),
            locks: Locks::default(),
        };
        for o in objects {
            s.add_object(o);
        }
        s
    }

    pub fn add_object(&mut self, def: ObjectDef) -> usize {
        self.schema_modified = now_millis();
        let i = self.tables.len();
        self.by_name.insert(def.name.to_lowercase(), i);
        self.tables.push(Table::new(def));
        i
    }

    pub fn table_index(&self, name: &str) -> Option<usize> {
        self.by_name.get(&name.to_lowercase()).copied()
    }

    pub fn table(&self, name: &str) -> Option<&Table> {
        self.table_index(name).map(|i| &self.tables[i])
    }

    pub fn table_by_prefix(&self, prefix: &str) -> Option<usize> {
        self.tables.iter().position(|t| t.def.key_prefix == prefix)
    }

    /// Finds a record by id in any table: (table, row).
    pub fn locate(&self, id: &str) -> Option<(usize, u32)> {
        let id = ids::normalize(id)?;
        let t = self.table_by_prefix(ids::key_prefix(&id))?;
        Some((t, self.tables[t].row_by_id(&id)?))
    }

    /// From now on, this thread's writes are kept until `end_journal` hands them back (to undo,
    /// when an all-or-none composite request fails part way).
    pub fn begin_journal(&mut self) {
        self.journals
            .insert(std::thread::current().id(), Vec::new());
    }

    pub fn end_journal(&mut self) -> Vec<Undo> {
        self.journals
            .remove(&std::thread::current().id())
            .unwrap_or_default()
    }

    fn note(&mut self, undo: &Undo) {
        if let Some(log) = self.journals.get_mut(&std::thread::current().id()) {
            log.push(undo.clone());
        }
    }

    /// A timestamp that never goes backwards, so SystemModstamp orders writes.
    pub fn stamp(&mut self) -> i64 {
        let now = now_millis().max(self.last_stamp);
        self.last_stamp = now;
        now
    }

    /// Child relationships pointing at `parent`: (relationship name, child table, field index).
    pub fn child_relationships(&self, parent: &str) -> Vec<(String, usize, usize)> {
        let mut out = Vec::new();
        for (ti, t) in self.tables.iter().enumerate() {
            for (fi, f) in t.def.fields.iter().enumerate() {
                if let Some(rel) = &f.child_relationship {
                    if f.reference_to
                        .iter()
                        .any(|r| r.eq_ignore_ascii_case(parent))
                    {
                        out.push((rel.clone(), ti, fi));
                    }
                }
            }
        }
        out
    }

    /// Inserts a record made of validated `(field index, value)` pairs.
    pub fn insert(
        &mut self,
        table: usize,
        values: Vec<(usize, Value)>,
    ) -> Result<(String, Undo), DmlError> {
        let stamp = self.stamp();
        self.insert_at(table, values, stamp, stamp)
    }

    /// Insert with explicit audit times (`CreatedDate`; `LastModifiedDate` and `SystemModstamp`):
    /// seeding back-dates records, and a late commit carries the time its transaction began.
    pub fn insert_at(
        &mut self,
        table: usize,
        values: Vec<(usize, Value)>,
        created: i64,
        modified: i64,
    ) -> Result<(String, Undo), DmlError> {
        let user = self.user_id.clone();
        let pod = self.pod.clone();
        let t = &self.tables[table];
        let mut row = vec![Value::Null; t.def.fields.len()];
        for (fi, f) in t.def.fields.iter().enumerate() {
            if let Some(d) = &f.default {
                row[fi] = if f.ftype == T::Boolean {
                    Value::Bool(d == "true")
                } else {
                    Value::text(d.as_str())
                };
            } else if f.ftype == T::Boolean {
                row[fi] = Value::Bool(false);
            }
        }
        for (fi, v) in values {
            let f = &t.def.fields[fi];
            if !f.createable {
                return Err(DmlError::not_writable(f));
            }
            row[fi] = v;
        }
        let audit = t.audit;
        if let Some(idx) = audit.created_date {
            row[idx] = Value::DateTime(created);
        }
        for idx in [audit.modified_date, audit.modstamp].into_iter().flatten() {
            row[idx] = Value::DateTime(modified);
        }
        for idx in [audit.created_by, audit.modified_by].into_iter().flatten() {
            row[idx] = Value::text(user.as_str());
        }
        if let Some(o) = audit.owner {
            if row[o].is_null() {
                row[o] = Value::text(user.as_str());
            }
        }
        let name = t.def.name.clone();
        if name == "Case" {
            self.autonumber += 1;
            if let Some(i) = t.def.field_index("CaseNumber") {
                row[i] = Value::text(format!("{:08}", self.autonumber));
            }
        }
        self.derive(table, &mut row);
        self.validate(table, &row, None)?;
        let t = &mut self.tables[table];
        let id = t.new_id(&pod);
        row[IDX_ID] = Value::text(id.as_str());
        if t.def.is_event() {
            self.changes.record(table, Kind::Create, &id, None, &row);
            let undo = Undo::Event {
                table,
                id: id.as_str().into(),
            };
            self.note(&undo);
            return Ok((id, undo));
        }
        let r = t.rows.len() as u32;
        t.rows.push(Row {
            values: row,
            deleted: false,
            purged: false,
        });
        t.by_id.insert(id.clone().into_boxed_str(), r);
        t.index_unique(r);
        self.changes
            .record(table, Kind::Create, &id, None, &t.rows[r as usize].values);
        let undo = Undo::Insert { table, row: r };
        self.note(&undo);
        Ok((id, undo))
    }

    pub fn update(
        &mut self,
        table: usize,
        row: u32,
        values: Vec<(usize, Value)>,
    ) -> Result<Undo, DmlError> {
        let stamp = self.stamp();
        self.update_at(table, row, values, stamp)
    }

    /// Update stamped with an explicit time (a late commit: see `Org::commit_late`).
    pub fn update_at(
        &mut self,
        table: usize,
        row: u32,
        values: Vec<(usize, Value)>,
        stamp: i64,
    ) -> Result<Undo, DmlError> {
        self.locks
            .check(self.tables[table].rows[row as usize].id())?;
        let user = self.user_id.clone();
        let t = &self.tables[table];
        let current = &t.rows[row as usize];
        if current.deleted || current.purged {
            return Err(DmlError::new("ENTITY_IS_DELETED", "entity is deleted", &[]));
        }
        let old = current.clone();
        let mut new = old.values.clone();
        new.resize(t.def.fields.len(), Value::Null);
        for (fi, v) in values {
            let f = &t.def.fields[fi];
            if fi == IDX_ID {
                continue;
            }
            if !f.updateable {
                return Err(DmlError::not_writable(f));
            }
            new[fi] = v;
        }
        for idx in [t.audit.modified_date, t.audit.modstamp]
            .into_iter()
            .flatten()
        {
            new[idx] = Value::DateTime(stamp);
        }
        if let Some(idx) = t.audit.modified_by {
            new[idx] = Value::text(user.as_str());
        }
        self.derive(table, &mut new);
        self.validate(table, &new, Some(row))?;
        let t = &mut self.tables[table];
        t.unindex_unique(row);
        t.rows[row as usize].values = new;
        t.index_unique(row);
        let r = &t.rows[row as usize];
        self.changes
            .record(table, Kind::Update, r.id(), Some(&old.values), &r.values);
        let undo = Undo::Update { table, row, old };
        self.note(&undo);
        Ok(undo)
    }

    /// Soft delete: the record goes to the recycle bin, visible to queryAll.
    pub fn delete(&mut self, table: usize, row: u32) -> Result<Undo, DmlError> {
        self.locks
            .check(self.tables[table].rows[row as usize].id())?;
        let stamp = self.stamp();
        let t = &mut self.tables[table];
        let r = &t.rows[row as usize];
        if r.deleted || r.purged {
            return Err(DmlError::new("ENTITY_IS_DELETED", "entity is deleted", &[]));
        }
        t.unindex_unique(row);
        let modstamp = t.audit.modstamp;
        let r = &mut t.rows[row as usize];
        r.deleted = true;
        r.values[IDX_IS_DELETED] = Value::Bool(true);
        if let Some(i) = modstamp {
            r.values[i] = Value::DateTime(stamp);
        }
        let r = &t.rows[row as usize];
        self.changes
            .record(table, Kind::Delete, r.id(), None, &r.values);
        let undo = Undo::Delete { table, row };
        self.note(&undo);
        Ok(undo)
    }

    /// Hard delete: gone, even from queryAll.
    pub fn purge(&mut self, table: usize, row: u32) -> Result<(), DmlError> {
        let t = &mut self.tables[table];
        if t.rows[row as usize].purged {
            return Err(DmlError::new("ENTITY_IS_DELETED", "entity is deleted", &[]));
        }
        t.unindex_unique(row);
        let r = &mut t.rows[row as usize];
        let id = r.id().to_string();
        if !r.deleted {
            self.changes
                .record(table, Kind::Delete, &id, None, &r.values);
        }
        r.purged = true;
        r.values.clear();
        t.by_id.remove(id.as_str());
        Ok(())
    }

    /// Restores a record from the recycle bin (SOAP `undelete`).
    pub fn undelete(&mut self, table: usize, row: u32) -> Result<Undo, DmlError> {
        let stamp = self.stamp();
        let user = self.user_id.clone();
        let t = &mut self.tables[table];
        let r = &t.rows[row as usize];
        if r.purged {
            return Err(DmlError::new("ENTITY_IS_DELETED", "entity is deleted", &[]));
        }
        if !r.deleted {
            return Err(DmlError::new(
                "UNDELETE_FAILED",
                "Entity is not in the recycle bin",
                &[],
            ));
        }
        let audit = t.audit;
        let r = &mut t.rows[row as usize];
        r.deleted = false;
        r.values[IDX_IS_DELETED] = Value::Bool(false);
        for idx in [audit.modified_date, audit.modstamp].into_iter().flatten() {
            r.values[idx] = Value::DateTime(stamp);
        }
        if let Some(idx) = audit.modified_by {
            r.values[idx] = Value::text(user.as_str());
        }
        t.index_unique(row);
        let r = &t.rows[row as usize];
        self.changes
            .record(table, Kind::Undelete, r.id(), None, &r.values);
        let undo = Undo::Undelete { table, row };
        self.note(&undo);
        Ok(undo)
    }

    /// Reverts writes, newest first (allOrNone rollback); their changes are never published.
    pub fn undo(&mut self, log: Vec<Undo>) {
        for u in log.into_iter().rev() {
            let (table, id) = match &u {
                Undo::Event { table, id } => (*table, id.to_string()),
                Undo::Insert { table, row }
                | Undo::Update { table, row, .. }
                | Undo::Delete { table, row }
                | Undo::Undelete { table, row } => (
                    *table,
                    self.tables[*table].rows[*row as usize].id().to_string(),
                ),
            };
            self.changes.forget(table, &id);
            match u {
                Undo::Insert { table, row } => {
                    let t = &mut self.tables[table];
                    t.unindex_unique(row);
                    let id = t.rows[row as usize].id().to_string();
                    t.by_id.remove(id.as_str());
                    if row as usize + 1 == t.rows.len() {
                        t.rows.pop();
                    } else {
                        let r = &mut t.rows[row as usize];
                        r.purged = true;
                        r.values.clear();
                    }
                }
                Undo::Update { table, row, old } => {
                    let t = &mut self.tables[table];
                    t.unindex_unique(row);
                    t.rows[row as usize] = old;
                    t.index_unique(row);
                }
                Undo::Delete { table, row } => {
                    let t = &mut self.tables[table];
                    let r = &mut t.rows[row as usize];
                    r.deleted = false;
                    r.values[IDX_IS_DELETED] = Value::Bool(false);
                    t.index_unique(row);
                }
                Undo::Event { .. } => {}
                Undo::Undelete { table, row } => {
                    let t = &mut self.tables[table];
                    t.unindex_unique(row);
                    let r = &mut t.rows[row as usize];
                    r.deleted = true;
                    r.values[IDX_IS_DELETED] = Value::Bool(true);
                }
            }
        }
    }

    /// Resolves a record id given by a client for update/delete on `table`.
    pub fn resolve_id(&self, table: usize, id: &str) -> Result<u32, DmlError> {
        let t = &self.tables[table];
        let Some(norm) = ids::normalize(id).filter(|n| ids::key_prefix(n) == t.def.key_prefix)
        else {
            return Err(DmlError::new(
                "MALFORMED_ID",
                format!("{} ID: id value of incorrect type: {id}", t.def.label),
                &["Id"],
            ));
        };
        match t.row_by_id(&norm) {
            Some(r) if t.rows[r as usize].deleted => {
                Err(DmlError::new("ENTITY_IS_DELETED", "entity is deleted", &[]))
            }
            Some(r) => Ok(r),
            None => Err(DmlError::new(
                "INVALID_CROSS_REFERENCE_KEY",
                "invalid cross reference id",
                &[],
            )),
        }
    }
}
