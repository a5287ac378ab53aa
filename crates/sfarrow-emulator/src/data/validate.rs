//! What a record must satisfy before it is written (required fields, lengths and types,
//! references to records of the right object, unique values), and the fields a real org
//! computes on every write. Kept apart from the store's bookkeeping: these are Salesforce's
//! rules, the same for every API that writes.

use crate::data::schema::FieldDef;
use crate::data::store::{Store, IDX_ID};
use crate::data::value::{check_limits, DmlError, Value};
use sfarrow_soql::ids;
use sfarrow_soql::types::FieldType as T;

impl Store {
    pub(super) fn validate(
        &self,
        table: usize,
        row: &[Value],
        existing: Option<u32>,
    ) -> Result<(), DmlError> {
        let t = &self.tables[table];
        let mut missing = Vec::new();
        for (fi, f) in t.def.fields.iter().enumerate() {
            let v = &row[fi];
            if v.is_null() {
                if !f.nillable && (f.createable || f.updateable) && fi != IDX_ID {
                    missing.push(f.name.as_str());
                }
                continue;
            }
            check_limits(f, v)?;
            if f.ftype == T::Reference && f.createable {
                self.check_reference(f, v)?;
            }
            if f.unique {
                if let Some(s) = v.as_str() {
                    if let Some(other) = t.row_by_unique(fi, s) {
                        if Some(other) != existing {
                            return Err(DmlError::new(
                                "DUPLICATE_VALUE",
                                format!(
                                    "duplicate value found: {} duplicates value on record with id: {}",
                                    f.name,
                                    t.rows[other as usize].id()
                                ),
                                &[&f.name],
                            ));
                        }
                    }
                }
            }
        }
        if !missing.is_empty() {
            return Err(DmlError::new(
                "REQUIRED_FIELD_MISSING",
                format!("Required fields are missing: [{}]", missing.join(", ")),
                &missing,
            ));
        }
        Ok(())
    }

    fn check_reference(&self, f: &FieldDef, v: &Value) -> Result<(), DmlError> {
        let text = v.as_str().unwrap_or("");
        let Some(id) = ids::normalize(text) else {
            return Err(DmlError::new(
                "MALFORMED_ID",
                format!("{}: id value of incorrect type: {text}", f.label),
                &[&f.name],
            ));
        };
        match self.locate(&id) {
            Some((t, _))
                if f.reference_to
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(&self.tables[t].def.name)) =>
            {
                Ok(())
            }
            Some(_) => Err(DmlError::new(
                "FIELD_INTEGRITY_EXCEPTION",
                format!("{}: id value of incorrect type: {text}", f.label),
                &[&f.name],
            )),
            None => Err(DmlError::new(
                "INVALID_CROSS_REFERENCE_KEY",
                "invalid cross reference id",
                &[&f.name],
            )),
        }
    }

    /// Fields a real org computes: person names, opportunity and case closed flags.
    pub(super) fn derive(&self, table: usize, row: &mut [Value]) {
        let def = &self.tables[table].def;
        let get = |row: &[Value], name: &str| def.field_index(name).map(|i| row[i].clone());
        if let (Some(name_idx), Some(Value::Text(last))) =
            (def.field_index("Name"), get(row, "LastName"))
        {
            if !def.fields[name_idx].createable {
                let full = match get(row, "FirstName") {
                    Some(Value::Text(first)) => format!("{first} {last}"),
                    _ => last.to_string(),
                };
                row[name_idx] = Value::text(full);
            }
        }
        let set = |row: &mut [Value], name: &str, v: Value| {
            if let Some(i) = def.field_index(name) {
                row[i] = v;
            }
        };
        match def.name.as_str() {
            "Opportunity" => {
                let stage = get(row, "StageName");
                let stage = stage.as_ref().and_then(Value::as_str).unwrap_or("");
                set(row, "IsClosed", Value::Bool(stage.starts_with("Closed")));
                set(row, "IsWon", Value::Bool(stage == "Closed Won"));
            }
            "Case" => {
                let closed = get(row, "Status").as_ref().and_then(Value::as_str) == Some("Closed");
                set(row, "IsClosed", Value::Bool(closed));
            }
            _ => {}
        }
    }
}
