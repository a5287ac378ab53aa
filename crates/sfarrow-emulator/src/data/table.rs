//! One object's records: rows in the order they were written, the id index and the unique-field
//! indexes (external ids), and where the audit fields sit.

use crate::data::schema::ObjectDef;
use crate::data::value::Value;
use sfarrow_soql::ids;
use std::collections::HashMap;

pub const IDX_ID: usize = 0;
pub const IDX_IS_DELETED: usize = 1;

#[derive(Debug, Clone)]
pub struct Row {
    pub values: Vec<Value>,
    pub deleted: bool,
    pub purged: bool,
}

impl Row {
    pub fn get(&self, i: usize) -> &Value {
        // Fields defined after a row was written read as null.
        self.values.get(i).unwrap_or(&Value::Null)
    }

    pub fn id(&self) -> &str {
        self.get(IDX_ID).as_str().unwrap_or("")
    }
}

pub struct Table {
    pub def: ObjectDef,
    pub rows: Vec<Row>,
    pub(super) by_id: HashMap<Box<str>, u32>,
    /// field index -> lower-cased value -> row
    pub(super) unique: HashMap<usize, HashMap<Box<str>, u32>>,
    pub(super) next_sequence: u64,
    pub(super) audit: AuditIdx,
}

#[derive(Clone, Copy)]
pub(super) struct AuditIdx {
    pub(super) created_date: Option<usize>,
    pub(super) created_by: Option<usize>,
    pub(super) modified_date: Option<usize>,
    pub(super) modified_by: Option<usize>,
    pub(super) modstamp: Option<usize>,
    pub(super) owner: Option<usize>,
}

impl Table {
    pub fn new(def: ObjectDef) -> Self {
        let mut t = Table {
            def,
            rows: Vec::new(),
            by_id: HashMap::new(),
            unique: HashMap::new(),
            next_sequence: 1,
            audit: AuditIdx {
                created_date: None,
                created_by: None,
                modified_date: None,
                modified_by: None,
                modstamp: None,
                owner: None,
            },
        };
        t.reindex_schema();
        t
    }

    /// Recomputes the positions that depend on the field list (after a field is added).
    pub fn reindex_schema(&mut self) {
        let d = &self.def;
        self.audit = AuditIdx {
            created_date: d.field_index("CreatedDate"),
            created_by: d.field_index("CreatedById"),
            modified_date: d.field_index("LastModifiedDate"),
            modified_by: d.field_index("LastModifiedById"),
            modstamp: d.field_index("SystemModstamp"),
            owner: d.field_index("OwnerId"),
        };
        for (i, f) in self.def.fields.iter().enumerate() {
            if f.unique && !self.unique.contains_key(&i) {
                let mut index = HashMap::new();
                for (r, row) in self.rows.iter().enumerate() {
                    if let Some(s) = row.get(i).as_str() {
                        if !row.deleted && !row.purged {
                            index.insert(s.to_lowercase().into_boxed_str(), r as u32);
                        }
                    }
                }
                self.unique.insert(i, index);
            }
        }
    }

    pub fn row_by_id(&self, id: &str) -> Option<u32> {
        self.by_id.get(id).copied()
    }

    /// The live row whose unique field `field` equals `value` (case-insensitive).
    pub fn row_by_unique(&self, field: usize, value: &str) -> Option<u32> {
        self.unique
            .get(&field)?
            .get(value.to_lowercase().as_str())
            .copied()
    }

    /// Live rows matching `value` in `field`, for external ids that are not unique.
    pub fn rows_by_value(&self, field: usize, value: &str) -> Vec<u32> {
        if let Some(r) = self.row_by_unique(field, value) {
            return vec![r];
        }
        if self.def.fields[field].unique {
            return Vec::new();
        }
        self.rows
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.deleted && !r.purged)
            .filter(|(_, r)| {
                r.get(field)
                    .as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(value))
            })
            .map(|(i, _)| i as u32)
            .collect()
    }

    pub fn live_count(&self, include_deleted: bool) -> usize {
        self.rows
            .iter()
            .filter(|r| !r.purged && (include_deleted || !r.deleted))
            .count()
    }

    pub(super) fn new_id(&mut self, pod: &str) -> String {
        let id = ids::make(&self.def.key_prefix, pod, self.next_sequence);
        self.next_sequence += 1;
        id
    }

    pub(super) fn index_unique(&mut self, row: u32) {
        let r = &self.rows[row as usize];
        for (field, index) in self.unique.iter_mut() {
            if let Some(s) = r.values.get(*field).and_then(Value::as_str) {
                index.insert(s.to_lowercase().into_boxed_str(), row);
            }
        }
    }

    pub(super) fn unindex_unique(&mut self, row: u32) {
        let r = &self.rows[row as usize];
        for (field, index) in self.unique.iter_mut() {
            if let Some(s) = r.values.get(*field).and_then(Value::as_str) {
                if index.get(s.to_lowercase().as_str()) == Some(&row) {
                    index.remove(s.to_lowercase().as_str());
                }
            }
        }
    }
}
