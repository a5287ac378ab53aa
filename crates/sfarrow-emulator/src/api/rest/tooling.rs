//! The Tooling API's `/tooling/query`, for the one object a client reads before it subscribes to
//! change events: `PlatformEventChannelMember`, a row per entity selected for change data
//! capture (docs/wire-notes.md §10.10). Other objects are refused as the emulator not serving
//! them, so a test never mistakes an empty answer for an org's.

use crate::api::answer::Answer;
use crate::api::pubsub::schema::event_name;
use crate::api::state::OrgState;
use crate::http::{ApiError, Req, Resp};
use serde_json::{json, Map, Value};
use sfarrow_soql::soql::{self, SelectItem};

const OBJECT: &str = "PlatformEventChannelMember";
/// The members' fields this emulator knows.
const FIELDS: [&str; 4] = ["Id", "DeveloperName", "EventChannel", "SelectedEntity"];

pub fn query(state: &OrgState, req: &Req, version: &str) -> Answer {
    if req.method != "GET" {
        return Err(ApiError::method_not_allowed(&req.method));
    }
    let text = req.param("q").ok_or_else(|| {
        ApiError::bad_request("MALFORMED_QUERY", "A query string has to be specified")
    })?;
    let q =
        soql::parse(&text).map_err(|e| ApiError::bad_request("MALFORMED_QUERY", e.to_string()))?;
    if !q.from.eq_ignore_ascii_case(OBJECT) {
        return Err(ApiError::bad_request(
            "INVALID_TYPE",
            format!(
                "sObject type '{}' is not supported by the emulator's Tooling API (it serves {OBJECT} only)",
                q.from
            ),
        ));
    }
    if q.where_clause.is_some() || !q.order_by.is_empty() || !q.group_by.is_empty() {
        return Err(ApiError::bad_request(
            "MALFORMED_QUERY",
            format!("the emulator's Tooling API answers SELECT fields FROM {OBJECT}, without WHERE, ORDER BY or GROUP BY"),
        ));
    }
    let mut wanted = Vec::new();
    for item in &q.select {
        let SelectItem::Field(path) = item else {
            return Err(ApiError::bad_request(
                "MALFORMED_QUERY",
                "the emulator's Tooling API selects plain fields",
            ));
        };
        let name = path.0.join(".");
        let field = FIELDS
            .iter()
            .find(|f| f.eq_ignore_ascii_case(&name))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "INVALID_FIELD",
                    format!("No such column '{name}' on entity '{OBJECT}'"),
                )
            })?;
        wanted.push(*field);
    }
    let store = state.store.read();
    let records: Vec<Value> = store
        .changes
        .selected()
        .enumerate()
        .take(q.limit.map_or(usize::MAX, |n| n as usize))
        .map(|(n, table)| {
            let entity = event_name(&store.tables[table].def);
            let id = sfarrow_soql::ids::make("0v8", "Dn0", n as u64 + 1);
            let mut record = Map::new();
            record.insert(
                "attributes".into(),
                json!({"type": OBJECT, "url": format!("/services/data/v{version}/tooling/sobjects/{OBJECT}/{id}")}),
            );
            for field in &wanted {
                let value = match *field {
                    "Id" => id.clone(),
                    "DeveloperName" => entity.replace("__", "_"),
                    "EventChannel" => "ChangeEvents".to_string(),
                    _ => entity.clone(),
                };
                record.insert((*field).into(), Value::String(value));
            }
            Value::Object(record)
        })
        .collect();
    Ok(Resp::json(
        200,
        &json!({
            "size": records.len(),
            "totalSize": records.len(),
            "done": true,
            "queryLocator": null,
            "entityTypeName": OBJECT,
            "records": records,
        }),
    ))
}
