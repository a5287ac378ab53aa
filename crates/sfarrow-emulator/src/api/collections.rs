//! sObject Collections (§4.2): create, update, upsert, delete and retrieve up to 200 records per
//! call, results in request order, `allOrNone` rollback, `statusCode` in per-record errors.

use crate::api::answer::Answer;
use crate::api::state::OrgState;
use crate::data::dml::{self, fields_from_json};
use crate::data::store::{Store, Undo};
use crate::data::value::{DmlError, Value};
use crate::http::{ApiError, Req, Resp};
use crate::soql::render::json_value;
use serde_json::{json, Map, Value as Json};
use std::collections::HashMap;

const MAX_RECORDS: usize = 200;

struct Outcome {
    id: Option<String>,
    created: Option<bool>,
    result: Result<Vec<Undo>, DmlError>,
}

impl Outcome {
    fn done(id: String, created: Option<bool>, undo: Undo) -> Self {
        Outcome {
            id: Some(id),
            created,
            result: Ok(vec![undo]),
        }
    }

    fn failed(id: Option<String>, e: DmlError) -> Self {
        Outcome {
            id,
            created: None,
            result: Err(e),
        }
    }
}

fn outcome_json(o: &Outcome, rolled_back: bool) -> Json {
    let mut m = Map::new();
    match (&o.result, rolled_back) {
        (Ok(_), false) => {
            m.insert("id".into(), json!(o.id));
            m.insert("success".into(), json!(true));
            let errors =
                o.id.as_deref()
                    .map_or_else(|| json!([]), crate::api::pubsub::cdc::save_errors);
            m.insert("errors".into(), errors);
            if let Some(c) = o.created {
                m.insert("created".into(), json!(c));
            }
        }
        (result, _) => {
            if let (Some(id), false) = (&o.id, o.created.is_some()) {
                if result.is_err() {
                    m.insert("id".into(), json!(id));
                }
            }
            m.insert("success".into(), json!(false));
            let e = match result {
                Err(e) => e.clone(),
                Ok(_) => DmlError::new(
                    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                    "Record rolled back because not all records were valid and the request was using AllOrNone header",
                    &[],
                ),
            };
            m.insert(
                "errors".into(),
                json!([{"statusCode": e.code, "message": e.message, "fields": e.fields}]),
            );
        }
    }
    Json::Object(m)
}

/// Runs the per-record writes, rolls back on `allOrNone`, and renders the result array.
fn finish(store: &mut Store, outcomes: Vec<Outcome>, all_or_none: bool) -> Answer {
    let failed = outcomes.iter().any(|o| o.result.is_err());
    let rolled_back = all_or_none && failed;
    if rolled_back {
        let log: Vec<Undo> = outcomes
            .iter()
            .filter_map(|o| o.result.as_ref().ok())
            .flatten()
            .cloned()
            .collect();
        store.undo(log);
    }
    let body: Vec<Json> = outcomes
        .iter()
        .map(|o| outcome_json(o, rolled_back))
        .collect();
    Ok(Resp::json(200, &json!(body)))
}

fn parse(req: &Req) -> Result<(bool, Vec<Map<String, Json>>), ApiError> {
    let body: Json = serde_json::from_slice(&req.body).map_err(|e| {
        ApiError::bad_request(
            "JSON_PARSER_ERROR",
            format!("Unexpected character in the request body: {e}"),
        )
    })?;
    let all_or_none = body
        .get("allOrNone")
        .and_then(Json::as_bool)
        .unwrap_or(false);
    let Some(records) = body.get("records").and_then(Json::as_array) else {
        return Err(ApiError::bad_request(
            "JSON_PARSER_ERROR",
            "The request body must have a records array",
        ));
    };
    if records.len() > MAX_RECORDS {
        return Err(too_many_records());
    }
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        match r {
            Json::Object(m) => out.push(m.clone()),
            _ => {
                return Err(ApiError::bad_request(
                    "JSON_PARSER_ERROR",
                    "Each record must be a JSON object",
                ))
            }
        }
    }
    Ok((all_or_none, out))
}

fn record_type(store: &Store, r: &Map<String, Json>) -> Result<usize, ApiError> {
    let name = r
        .get("attributes")
        .and_then(|a| a.get("type"))
        .and_then(Json::as_str)
        .ok_or_else(|| {
            ApiError::bad_request("INVALID_TYPE", "Must send a concrete entity type.")
        })?;
    store
        .table_index(name)
        .ok_or_else(|| unsupported_type(name))
}

fn unsupported_type(name: &str) -> ApiError {
    ApiError::bad_request(
        "INVALID_TYPE",
        format!("sObject type '{name}' is not supported."),
    )
}

/// Each record's table, checked before anything is written.
fn record_tables(store: &Store, records: &[Map<String, Json>]) -> Result<Vec<usize>, ApiError> {
    let tables = records
        .iter()
        .map(|r| record_type(store, r))
        .collect::<Result<Vec<_>, _>>()?;
    too_many_chunks(&tables)?;
    Ok(tables)
}

/// Converts every record first: a request-level error (bad JSON type, unknown column) fails the
/// whole call before anything is written, as on a real org.
/// A record's field values, by field index.
type Values = Vec<(usize, Value)>;
type Converted = Vec<Result<Values, DmlError>>;

fn convert(
    store: &Store,
    tables: &[usize],
    records: &[Map<String, Json>],
) -> Result<Converted, ApiError> {
    let mut out = Vec::with_capacity(records.len());
    for (r, t) in records.iter().zip(tables) {
        match fields_from_json(store, *t, r) {
            Err(e) if e.is_request_level() => return Err(e.into()),
            other => out.push(other),
        }
    }
    Ok(out)
}

/// Mixed-type lists are processed in runs of same-type records, at most 10 runs a call (§4.2).
fn too_many_chunks(tables: &[usize]) -> Result<(), ApiError> {
    let chunks =
        tables.windows(2).filter(|w| w[0] != w[1]).count() + usize::from(!tables.is_empty());
    if chunks > 10 {
        return Err(ApiError::bad_request(
            "INVALID_BATCH_SIZE",
            format!("The request has {chunks} chunks of same-type records; at most 10 are allowed. Group records by type."),
        ));
    }
    Ok(())
}

fn too_many_records() -> ApiError {
    ApiError::bad_request(
        "EXCEEDED_ID_LIMIT",
        "record limit reached. cannot submit more than 200 records into this call",
    )
}

fn id_of(r: &Map<String, Json>) -> Option<String> {
    r.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("id"))
        .and_then(|(_, v)| v.as_str().map(String::from))
}

pub fn route(state: &OrgState, req: &Req, version: &str, tail: &[&str]) -> Answer {
    match (req.method.as_str(), tail) {
        ("POST", []) => create(state, req),
        ("PATCH", []) => update(state, req),
        ("DELETE", []) => delete(state, req),
        ("GET" | "POST", [object]) => retrieve(state, req, version, object),
        ("PATCH", [object, field]) => upsert(state, req, object, field),
        (m, _) => Err(ApiError::method_not_allowed(m)),
    }
}

/// Create and update: the body's records, each with its table and converted values, written
/// one by one by `write`, then committed or rolled back together (`finish`).
fn each_record(
    state: &OrgState,
    req: &Req,
    mut write: impl FnMut(&mut Store, &Map<String, Json>, usize, Result<Values, DmlError>) -> Outcome,
) -> Answer {
    let (all_or_none, records) = parse(req)?;
    let mut store = state.store.write();
    let tables = record_tables(&store, &records)?;
    let converted = convert(&store, &tables, &records)?;
    let outcomes = records
        .iter()
        .zip(&tables)
        .zip(converted)
        .map(|((r, t), values)| write(&mut store, r, *t, values))
        .collect();
    finish(&mut store, outcomes, all_or_none)
}

fn create(state: &OrgState, req: &Req) -> Answer {
    each_record(state, req, |store, r, t, values| {
        let result = if id_of(r).is_some() {
            Err(DmlError::new(
                "INVALID_FIELD",
                "cannot specify Id in an insert call",
                &["Id"],
            ))
        } else {
            values.and_then(|v| store.insert(t, v))
        };
        match result {
            Ok((id, undo)) => Outcome::done(id, None, undo),
            Err(e) => Outcome::failed(None, e),
        }
    })
}

fn update(state: &OrgState, req: &Req) -> Answer {
    each_record(state, req, |store, r, t, values| {
        let id = id_of(r);
        let result = match &id {
            None => Err(DmlError::new(
                "MISSING_ARGUMENT",
                "Id not specified in an update call",
                &[],
            )),
            Some(id) => values.and_then(|v| {
                let row = store.resolve_id(t, id)?;
                store.update(t, row, v)
            }),
        };
        Outcome {
            id: id.and_then(|i| sfarrow_soql::ids::normalize(&i).or(Some(i))),
            created: None,
            result: result.map(|u| vec![u]),
        }
    })
}

fn delete(state: &OrgState, req: &Req) -> Answer {
    let params = req.params();
    let all_or_none = params.get("allOrNone").is_some_and(|v| v == "true");
    let ids: Vec<String> = params
        .get("ids")
        .map(|s| {
            s.split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if ids.is_empty() {
        return Err(ApiError::bad_request(
            "MISSING_ARGUMENT",
            "ids parameter is required",
        ));
    }
    if ids.len() > MAX_RECORDS {
        return Err(too_many_records());
    }
    let mut store = state.store.write();
    let mut outcomes = Vec::with_capacity(ids.len());
    for id in ids {
        let found = store.locate(&id);
        let result = match found {
            Some((t, _)) => store
                .resolve_id(t, &id)
                .and_then(|row| store.delete(t, row)),
            None => Err(match sfarrow_soql::ids::normalize(&id) {
                None => DmlError::new("MALFORMED_ID", format!("malformed id {id}"), &[]),
                Some(_) => DmlError::new(
                    "INVALID_CROSS_REFERENCE_KEY",
                    "invalid cross reference id",
                    &[],
                ),
            }),
        };
        let id = sfarrow_soql::ids::normalize(&id).unwrap_or(id);
        outcomes.push(Outcome {
            id: Some(id),
            created: None,
            result: result.map(|u| vec![u]),
        });
    }
    finish(&mut store, outcomes, all_or_none)
}

fn upsert(state: &OrgState, req: &Req, object: &str, field: &str) -> Answer {
    let (all_or_none, records) = parse(req)?;
    let mut store = state.store.write();
    let table = store
        .table_index(object)
        .ok_or_else(|| unsupported_type(object))?;
    let def = &store.tables[table].def;
    let key = def
        .field_index(field)
        .filter(|&k| def.fields[k].external_id || def.fields[k].name == "Id")
        .ok_or_else(|| {
            ApiError::bad_request(
                "INVALID_FIELD",
                format!(
                    "Field name provided, {field} is not an External ID or indexed field for {}",
                    def.name
                ),
            )
        })?;
    let key_name = def.fields[key].name.clone();
    // A record may leave its type out here: the URL names it.
    if records
        .iter()
        .any(|r| record_type(&store, r).is_ok_and(|t| t != table))
    {
        return Err(ApiError::bad_request(
            "INVALID_TYPE",
            "All records must be of the type named in the URL",
        ));
    }
    let key_of = |r: &Map<String, Json>| -> String {
        r.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&key_name))
            .map(|(_, v)| match v {
                Json::String(s) => s.clone(),
                Json::Null => String::new(),
                other => other.to_string(),
            })
            .unwrap_or_default()
    };
    let mut seen: HashMap<String, usize> = HashMap::new();
    for r in &records {
        let k = key_of(r).to_lowercase();
        if !k.is_empty() {
            *seen.entry(k).or_default() += 1;
        }
    }
    let tables = vec![table; records.len()];
    let converted = convert(&store, &tables, &records)?;
    let mut outcomes = Vec::with_capacity(records.len());
    for (r, values) in records.iter().zip(converted) {
        let k = key_of(r);
        let result = if seen.get(&k.to_lowercase()).is_some_and(|n| *n > 1) {
            Err(DmlError::new(
                "DUPLICATE_EXTERNAL_ID",
                format!("Duplicate external id specified: {k}"),
                &[&key_name],
            ))
        } else {
            values.and_then(|v| dml::upsert(&mut store, table, key, &k, v))
        };
        outcomes.push(match result {
            Ok(u) => Outcome::done(u.id, Some(u.created), u.undo),
            Err(e) => Outcome {
                created: Some(false),
                ..Outcome::failed(None, e)
            },
        });
    }
    finish(&mut store, outcomes, all_or_none)
}

fn retrieve(state: &OrgState, req: &Req, version: &str, object: &str) -> Answer {
    let (ids, fields): (Vec<String>, Vec<String>) = if req.method == "GET" {
        let p = req.params();
        let split = |k: &str| -> Vec<String> {
            p.get(k)
                .map(|s| s.split(',').map(|x| x.trim().to_string()).collect())
                .unwrap_or_default()
        };
        (split("ids"), split("fields"))
    } else {
        let body: Json = serde_json::from_slice(&req.body).unwrap_or(Json::Null);
        let list = |k: &str| -> Vec<String> {
            body.get(k)
                .and_then(Json::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        (list("ids"), list("fields"))
    };
    if fields.is_empty() || ids.is_empty() {
        return Err(ApiError::bad_request(
            "MISSING_ARGUMENT",
            "ids and fields are required",
        ));
    }
    let store = state.store.read();
    let table = store
        .table_index(object)
        .ok_or_else(|| unsupported_type(object))?;
    let t = &store.tables[table];
    let field_idx = fields
        .iter()
        .map(|f| {
            t.def.field_index(f).ok_or_else(|| {
                ApiError::bad_request(
                    "INVALID_FIELD",
                    format!("No such column '{f}' on entity '{}'", t.def.name),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let out: Vec<Json> = ids
        .iter()
        .map(|id| {
            let row = store.resolve_id(table, id).ok()?;
            let r = &t.rows[row as usize];
            let mut m = Map::new();
            m.insert(
                "attributes".into(),
                json!({"type": t.def.name, "url": format!("/services/data/v{version}/sobjects/{}/{}", t.def.name, r.id())}),
            );
            // Like SOAP retrieve, the Id comes back whether or not it was asked for.
            m.insert("Id".into(), json!(r.id()));
            for &i in &field_idx {
                m.insert(t.def.fields[i].name.clone(), json_value(r.get(i)));
            }
            Some(Json::Object(m))
        })
        .map(|o| o.unwrap_or(Json::Null))
        .collect();
    Ok(Resp::json(200, &json!(out)))
}
