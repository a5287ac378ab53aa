//! Single-record REST (§4.1): create, retrieve, update, delete, and upsert by external id.

use crate::api::state::OrgState;
use crate::data::dml::{fields_from_json, upsert};
use crate::data::store::Store;
use crate::data::value::DmlError;
use crate::http::{Req, Resp};
use crate::soql;
use crate::soql::render::RecordCtx;
use serde_json::{json, Map};

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
