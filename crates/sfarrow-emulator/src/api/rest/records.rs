//! Single-record REST (§4.1): create, retrieve, update, delete, and upsert by external id.

use crate::api::answer::Answer;
use crate::api::state::OrgState;
use crate::data::dml::{fields_from_json, upsert};
use crate::data::store::Store;
use crate::http::{ApiError, Req, Resp};
use crate::soql;
use crate::soql::render::RecordCtx;
use serde_json::{json, Map};

fn parse_body(req: &Req) -> Result<Map<String, serde_json::Value>, ApiError> {
    match serde_json::from_slice::<serde_json::Value>(&req.body) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::bad_request(
            "JSON_PARSER_ERROR",
            "Cannot deserialize instance of sObject from a non-object value",
        )),
        Err(e) => Err(ApiError::bad_request(
            "JSON_PARSER_ERROR",
            format!("Unexpected character in the request body: {e}"),
        )),
    }
}

/// `/sobjects/{Type}`: GET basic info, POST create.
pub fn collection_root(state: &OrgState, req: &Req, version: &str, object: &str) -> Answer {
    match req.method.as_str() {
        "GET" => {
            let store = state.store.read();
            let t = store.table(object).ok_or_else(ApiError::not_found)?;
            Ok(Resp::json(
                200,
                &json!({"objectDescribe": {"name": t.def.name, "label": t.def.label, "keyPrefix": t.def.key_prefix, "urls": {"sobject": format!("/services/data/v{version}/sobjects/{}", t.def.name)}}, "recentItems": []}),
            ))
        }
        "POST" => {
            let body = parse_body(req)?;
            let mut store = state.store.write();
            let table = store.table_index(object).ok_or_else(ApiError::not_found)?;
            if body.keys().any(|k| k.eq_ignore_ascii_case("id")) {
                return Err(ApiError::bad_request("INVALID_FIELD", "Unable to create/update fields: Id. Please check the security settings of this field and verify that it is read/write for your profile or permission set.").with_fields(vec!["Id".into()]));
            }
            let values = fields_from_json(&store, table, &body)?;
            let (id, _) = store.insert(table, values)?;
            Ok(Resp::json(
                201,
                &json!({"id": id, "success": true, "errors": crate::api::pubsub::cdc::save_errors(&id)}),
            ))
        }
        m => Err(ApiError::method_not_allowed(m)),
    }
}

/// Renders one record with the given fields (all non-compound fields by default).
fn retrieve(
    store: &Store,
    version: &str,
    table: usize,
    row: u32,
    fields: Option<String>,
) -> Answer {
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
    let plan = soql::compile(store, &soql::parse(&soql)?)?;
    let rs = soql::ResultSet {
        plan,
        rows: vec![row],
        children: Vec::new(),
        aggregate_rows: Vec::new(),
        total: 1,
    };
    let mut out = String::new();
    RecordCtx {
        store,
        rs: &rs,
        version,
    }
    .write_record(&mut out, 0);
    Ok(Resp::json_text(200, out))
}

/// `/sobjects/{Type}/{id}`: GET, PATCH (204), DELETE (204).
pub fn by_id(state: &OrgState, req: &Req, version: &str, object: &str, id: &str) -> Answer {
    if req.method == "POST" && id.eq_ignore_ascii_case("Id") {
        return collection_root(state, req, version, object);
    }
    let mut store = state.store.write();
    let table = store.table_index(object).ok_or_else(ApiError::not_found)?;
    let row = match store.resolve_id(table, id) {
        Ok(r) => r,
        Err(e) if e.code == "ENTITY_IS_DELETED" => return Err(e.into()),
        Err(_) => return Err(ApiError::not_found()),
    };
    match req.method.as_str() {
        "GET" => retrieve(&store, version, table, row, req.param("fields")),
        "PATCH" => {
            let body = parse_body(req)?;
            let values = fields_from_json(&store, table, &body)?;
            store.update(table, row, values)?;
            Ok(Resp::empty(204))
        }
        "DELETE" => {
            store.delete(table, row)?;
            Ok(Resp::empty(204))
        }
        m => Err(ApiError::method_not_allowed(m)),
    }
}

/// 300 Multiple Choices: an external id names several records; the body lists their URLs.
fn multiple_choices(store: &Store, version: &str, table: usize, rows: &[u32]) -> Resp {
    let t = &store.tables[table];
    let urls: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "/services/data/v{version}/sobjects/{}/{}",
                t.def.name,
                t.rows[*r as usize].id()
            )
        })
        .collect();
    Resp::json(300, &json!(urls))
}

/// `/sobjects/{Type}/{ExtField}/{value}`: GET by external id, PATCH upsert, DELETE.
pub fn by_external_id(
    state: &OrgState,
    req: &Req,
    version: &str,
    object: &str,
    field: &str,
    value: &str,
) -> Answer {
    let value = crate::http::percent_decode(value.as_bytes());
    let mut store = state.store.write();
    let table = store.table_index(object).ok_or_else(ApiError::not_found)?;
    let def = &store.tables[table].def;
    let key = def
        .field_index(field)
        .filter(|&k| def.fields[k].id_lookup || def.fields[k].external_id)
        .ok_or_else(ApiError::not_found)?;
    let major: u32 = version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    match req.method.as_str() {
        "PATCH" => {
            let body = parse_body(req)?;
            let existing = store.tables[table].rows_by_value(key, &value);
            if existing.len() > 1 {
                return Ok(multiple_choices(&store, version, table, &existing));
            }
            if req.param("updateOnly").as_deref() == Some("true") && existing.is_empty() {
                return Err(ApiError::not_found());
            }
            let values = fields_from_json(&store, table, &body)?;
            let u = upsert(&mut store, table, key, &value, values)?;
            Ok(match (u.created, major >= 46) {
                // `created` exists in v46.0+ only.
                (true, true) => Resp::json(
                    201,
                    &json!({"id": u.id, "success": true, "errors": [], "created": true}),
                ),
                (true, false) => {
                    Resp::json(201, &json!({"id": u.id, "success": true, "errors": []}))
                }
                (false, true) => Resp::json(
                    200,
                    &json!({"id": u.id, "success": true, "errors": [], "created": false}),
                ),
                (false, false) => Resp::empty(204),
            })
        }
        "GET" | "DELETE" => {
            let rows = store.tables[table].rows_by_value(key, &value);
            match (rows.as_slice(), req.method.as_str()) {
                ([], _) => Err(ApiError::not_found()),
                ([r], "GET") => retrieve(&store, version, table, *r, req.param("fields")),
                ([r], _) => {
                    store.delete(table, *r)?;
                    Ok(Resp::empty(204))
                }
                (rows, _) => Ok(multiple_choices(&store, version, table, rows)),
            }
        }
        m => Err(ApiError::method_not_allowed(m)),
    }
}
