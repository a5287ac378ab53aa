//! The write rules every path shares (single records, sObject Collections, Bulk ingest, loads):
//! column names to fields (parents by external id included), values coerced and checked, and
//! upsert by external id.

use crate::data::store::{Store, Undo};
use crate::data::value::{coerce, DmlError, Raw, Value};
use serde_json::Map;

/// Where an input column goes: a field, or a parent looked up by one of its external ids.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    Field(usize),
    Parent {
        reference: usize,
        parent: usize,
        key: usize,
    },
}

fn no_such_column(store: &Store, table: usize, name: &str) -> DmlError {
    DmlError::new(
        "INVALID_FIELD",
        format!(
            "No such column '{name}' on sobject of type {}",
            store.tables[table].def.name
        ),
        &[],
    )
}

/// Resolves `Name` or `Account.Ext_Id__c` (a relationship and the parent's external id field).
pub fn resolve_column(store: &Store, table: usize, name: &str) -> Result<Target, DmlError> {
    let def = &store.tables[table].def;
    if let Some((rel, key)) = name.split_once('.') {
        return resolve_parent(store, table, rel, key);
    }
    def.field_index(name)
        .map(Target::Field)
        .ok_or_else(|| no_such_column(store, table, name))
}

fn resolve_parent(store: &Store, table: usize, rel: &str, key: &str) -> Result<Target, DmlError> {
    let def = &store.tables[table].def;
    let reference = def
        .relationship(rel)
        .ok_or_else(|| no_such_column(store, table, rel))?;
    let parent = def.fields[reference]
        .reference_to
        .first()
        .and_then(|n| store.table_index(n))
        .ok_or_else(|| no_such_column(store, table, rel))?;
    let pdef = &store.tables[parent].def;
    let key_idx = pdef
        .field_index(key)
        .filter(|&k| pdef.fields[k].id_lookup || pdef.fields[k].external_id)
        .ok_or_else(|| {
            DmlError::new(
                "INVALID_FIELD",
                format!(
                    "Field name provided, {key} is not an External ID or indexed field for {}",
                    pdef.name
                ),
                &[],
            )
        })?;
    Ok(Target::Parent {
        reference,
        parent,
        key: key_idx,
    })
}

/// The id of the parent whose external id `key` is `value`.
pub fn lookup_parent(
    store: &Store,
    parent: usize,
    key: usize,
    value: &str,
) -> Result<Value, DmlError> {
    let t = &store.tables[parent];
    let kf = &t.def.fields[key];
    let rows = if kf.name == "Id" {
        store
            .resolve_id(parent, value)
            .map(|r| vec![r])
            .unwrap_or_default()
    } else {
        t.rows_by_value(key, value)
    };
    match rows.as_slice() {
        [r] => Ok(Value::text(t.rows[*r as usize].id())),
        [] => Err(DmlError::new(
            "INVALID_FIELD",
            format!("Foreign key external ID: {value} not found for field {} in entity {}", kf.name, t.def.name),
            &[],
        )),
        _ => Err(DmlError::new(
            "INVALID_FIELD",
            format!("Foreign key external ID: {value} matched more than one record for field {} in entity {}", kf.name, t.def.name),
            &[],
        )),
    }
}

/// Converts an input value for a target into `(field index, value)`; `None`: leave the field.
pub fn apply_target(
    store: &Store,
    table: usize,
    target: Target,
    raw: Raw<'_>,
) -> Result<Option<(usize, Value)>, DmlError> {
    match target {
        Target::Field(fi) => Ok(coerce(&store.tables[table].def.fields[fi], raw)?.map(|v| (fi, v))),
        Target::Parent {
            reference,
            parent,
            key,
        } => {
            let text = match raw {
                Raw::Csv("") => return Ok(None),
                Raw::Csv("#N/A") => return Ok(Some((reference, Value::Null))),
                Raw::Csv(s) => s.to_string(),
                Raw::Json(serde_json::Value::Null) => return Ok(Some((reference, Value::Null))),
                Raw::Json(serde_json::Value::String(s)) => s.clone(),
                Raw::Json(v) => v.to_string(),
            };
            Ok(Some((reference, lookup_parent(store, parent, key, &text)?)))
        }
    }
}

/// A JSON record body as field values. `Id` keys and `attributes` are skipped (callers handle
/// them); nested objects are parent references by external id: `"Account": {"Ext_Id__c": "A1"}`.
pub fn fields_from_json(
    store: &Store,
    table: usize,
    body: &Map<String, serde_json::Value>,
) -> Result<Vec<(usize, Value)>, DmlError> {
    let mut out = Vec::with_capacity(body.len());
    for (k, v) in body {
        if k == "attributes" || k.eq_ignore_ascii_case("id") {
            continue;
        }
        if let serde_json::Value::Object(inner) = v {
            let mut keys = inner.iter().filter(|(ik, _)| *ik != "attributes");
            let (Some((ik, iv)), None) = (keys.next(), keys.next()) else {
                return Err(DmlError::new(
                    "INVALID_FIELD",
                    format!(
                        "A foreign key reference for {k} must name exactly one external id field"
                    ),
                    &[],
                ));
            };
            let target = resolve_parent(store, table, k, ik)?;
            out.extend(apply_target(store, table, target, Raw::Json(iv))?);
            continue;
        }
        let target = resolve_column(store, table, k)?;
        out.extend(apply_target(store, table, target, Raw::Json(v))?);
    }
    Ok(out)
}

/// What one upsert did.
pub struct Upserted {
    pub id: String,
    pub created: bool,
    pub undo: Undo,
}

/// Upsert by external id (or by `Id`): create when nothing matches, update the one match.
pub fn upsert(
    store: &mut Store,
    table: usize,
    key: usize,
    key_value: &str,
    mut values: Vec<(usize, Value)>,
) -> Result<Upserted, DmlError> {
    let kf = store.tables[table].def.fields[key].clone();
    if key_value.is_empty() && kf.name != "Id" {
        return Err(DmlError::new(
            "REQUIRED_FIELD_MISSING",
            format!("Required fields are missing: [{}]", kf.name),
            &[&kf.name],
        ));
    }
    let matches = if kf.name == "Id" {
        if key_value.is_empty() {
            Vec::new()
        } else {
            vec![store.resolve_id(table, key_value)?]
        }
    } else {
        store.tables[table].rows_by_value(key, key_value)
    };
    match matches.as_slice() {
        [] => {
            if kf.name != "Id" {
                values.retain(|(f, _)| *f != key);
                values.push((key, Value::text(key_value)));
            }
            let (id, undo) = store.insert(table, values)?;
            Ok(Upserted {
                id,
                created: true,
                undo,
            })
        }
        [row] => {
            values.retain(|(f, _)| *f != key);
            let undo = store.update(table, *row, values)?;
            let id = store.tables[table].rows[*row as usize].id().to_string();
            Ok(Upserted {
                id,
                created: false,
                undo,
            })
        }
        rows => {
            let ids: Vec<&str> = rows
                .iter()
                .map(|r| store.tables[table].rows[*r as usize].id())
                .collect();
            Err(DmlError::new(
                "DUPLICATE_EXTERNAL_ID",
                format!(
                    "{}: more than one record found for external id field: [{}]",
                    kf.name,
                    ids.join(", ")
                ),
                &[&kf.name],
            ))
        }
    }
}
