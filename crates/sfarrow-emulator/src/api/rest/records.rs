//! Single-record REST (§4.1) and the write rules every path shares: column names to fields
//! (parents by external id included), insert, update, upsert by external id, delete.

use crate::api::state::OrgState;
use crate::data::store::{Store, Undo};
use crate::data::value::{coerce, DmlError, Raw, Value};
use crate::http::{Req, Resp};
use crate::soql;
use crate::soql::render::RecordCtx;
use serde_json::{json, Map};

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

pub fn dml_error_resp(e: &DmlError) -> Resp {
    let status = if e.code == "ENTITY_IS_DELETED" {
        404
    } else {
        400
    };
    Resp::error_fields(status, e.code, &e.message, &e.fields)
}

fn parse_body(req: &Req) -> Result<Map<String, serde_json::Value>, Resp> {
    match serde_json::from_slice::<serde_json::Value>(&req.body) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        Ok(_) => Err(Resp::error(
            400,
            "JSON_PARSER_ERROR",
            "Cannot deserialize instance of sObject from a non-object value",
        )),
        Err(e) => Err(Resp::error(
            400,
            "JSON_PARSER_ERROR",
            &format!("Unexpected character in the request body: {e}"),
        )),
    }
}

/// `/sobjects/{Type}`: GET basic info, POST create.
pub fn collection_root(state: &OrgState, req: &Req, version: &str, object: &str) -> Resp {
    match req.method.as_str() {
        "GET" => {
            let store = state.store.read();
            let Some(t) = store.table(object) else {
                return Resp::not_found();
            };
            Resp::json(
                200,
                &json!({"objectDescribe": {"name": t.def.name, "label": t.def.label, "keyPrefix": t.def.key_prefix, "urls": {"sobject": format!("/services/data/v{version}/sobjects/{}", t.def.name)}}, "recentItems": []}),
            )
        }
        "POST" => {
            let body = match parse_body(req) {
                Ok(b) => b,
                Err(r) => return r,
            };
            let mut store = state.store.write();
            let Some(table) = store.table_index(object) else {
                return Resp::not_found();
            };
            if body.keys().any(|k| k.eq_ignore_ascii_case("id")) {
                return Resp::error_fields(400, "INVALID_FIELD", "Unable to create/update fields: Id. Please check the security settings of this field and verify that it is read/write for your profile or permission set.", &["Id".into()]);
            }
            let result =
                fields_from_json(&store, table, &body).and_then(|v| store.insert(table, v));
            match result {
                Ok((id, _)) => Resp::json(201, &json!({"id": id, "success": true, "errors": []})),
                Err(e) => dml_error_resp(&e),
            }
        }
        m => Resp::method_not_allowed(m),
    }
}

/// Renders one record with the given fields (all non-compound fields by default).
fn retrieve(store: &Store, version: &str, table: usize, row: u32, fields: Option<String>) -> Resp {
    let def = &store.tables[table].def;
    let list = match fields {
        Some(f) => f,
        None => def
            .fields
            .iter()
            .map(|f| f.name.clone())
            .collect::<Vec<_>>()
            .join(", "),
    };
    let soql = format!(
        "SELECT {list} FROM {} WHERE Id = '{}'",
        def.name,
        store.tables[table].rows[row as usize].id()
    );
    let rs = match soql::parse(&soql).and_then(|q| soql::compile(store, &q)) {
        Ok(plan) => soql::ResultSet {
            plan,
            rows: vec![row],
            children: Vec::new(),
            aggregate_rows: Vec::new(),
            total: 1,
        },
        Err(e) => return Resp::error(400, e.code, &e.message),
    };
    let mut out = String::new();
    RecordCtx {
        store,
        rs: &rs,
        version,
    }
    .write_record(&mut out, 0);
    Resp::json_text(200, out)
}

/// `/sobjects/{Type}/{id}`: GET, PATCH (204), DELETE (204).
pub fn by_id(state: &OrgState, req: &Req, version: &str, object: &str, id: &str) -> Resp {
    if req.method == "POST" && id.eq_ignore_ascii_case("Id") {
        return collection_root(state, req, version, object);
    }
    let mut store = state.store.write();
    let Some(table) = store.table_index(object) else {
        return Resp::not_found();
    };
    let row = match store.resolve_id(table, id) {
        Ok(r) => r,
        Err(e) if e.code == "ENTITY_IS_DELETED" => return dml_error_resp(&e),
        Err(_) => return Resp::not_found(),
    };
    match req.method.as_str() {
        "GET" => retrieve(&store, version, table, row, req.param("fields")),
        "PATCH" => {
            let body = match parse_body(req) {
                Ok(b) => b,
                Err(r) => return r,
            };
            match fields_from_json(&store, table, &body).and_then(|v| store.update(table, row, v)) {
                Ok(_) => Resp::empty(204),
                Err(e) => dml_error_resp(&e),
            }
        }
        "DELETE" => match store.delete(table, row) {
            Ok(_) => Resp::empty(204),
            Err(e) => dml_error_resp(&e),
        },
        m => Resp::method_not_allowed(m),
    }
}

/// `/sobjects/{Type}/{ExtField}/{value}`: GET by external id, PATCH upsert, DELETE.
pub fn by_external_id(
    state: &OrgState,
    req: &Req,
    version: &str,
    object: &str,
    field: &str,
    value: &str,
) -> Resp {
    let value = crate::http::percent_decode(value.as_bytes());
    let mut store = state.store.write();
    let Some(table) = store.table_index(object) else {
        return Resp::not_found();
    };
    let def = &store.tables[table].def;
    let Some(key) = def
        .field_index(field)
        .filter(|&k| def.fields[k].id_lookup || def.fields[k].external_id)
    else {
        return Resp::not_found();
    };
    let major: u32 = version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    match req.method.as_str() {
        "PATCH" => {
            let body = match parse_body(req) {
                Ok(b) => b,
                Err(r) => return r,
            };
            let existing = store.tables[table].rows_by_value(key, &value);
            if existing.len() > 1 {
                let urls: Vec<String> = existing
                    .iter()
                    .map(|r| {
                        format!(
                            "/services/data/v{version}/sobjects/{}/{}",
                            store.tables[table].def.name,
                            store.tables[table].rows[*r as usize].id()
                        )
                    })
                    .collect();
                return Resp::json(300, &json!(urls));
            }
            if req.param("updateOnly").as_deref() == Some("true") && existing.is_empty() {
                return Resp::not_found();
            }
            let result = fields_from_json(&store, table, &body)
                .and_then(|v| upsert(&mut store, table, key, &value, v));
            match result {
                // `created` exists in v46.0+ only.
                Ok(u) if u.created && major >= 46 => Resp::json(
                    201,
                    &json!({"id": u.id, "success": true, "errors": [], "created": true}),
                ),
                Ok(u) if u.created => {
                    Resp::json(201, &json!({"id": u.id, "success": true, "errors": []}))
                }
                Ok(u) if major >= 46 => Resp::json(
                    200,
                    &json!({"id": u.id, "success": true, "errors": [], "created": false}),
                ),
                Ok(_) => Resp::empty(204),
                Err(e) => dml_error_resp(&e),
            }
        }
        "GET" | "DELETE" => {
            let rows = store.tables[table].rows_by_value(key, &value);
            match (rows.as_slice(), req.method.as_str()) {
                ([], _) => Resp::not_found(),
                ([r], "GET") => retrieve(&store, version, table, *r, req.param("fields")),
                ([r], _) => match store.delete(table, *r) {
                    Ok(_) => Resp::empty(204),
                    Err(e) => dml_error_resp(&e),
                },
                (rows, _) => {
                    let urls: Vec<String> = rows
                        .iter()
                        .map(|r| {
                            format!(
                                "/services/data/v{version}/sobjects/{}/{}",
                                store.tables[table].def.name,
                                store.tables[table].rows[*r as usize].id()
                            )
                        })
                        .collect();
                    Resp::json(300, &json!(urls))
                }
            }
        }
        m => Resp::method_not_allowed(m),
    }
}
