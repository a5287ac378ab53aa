//! sObject Collections: up to 200 records a call, results in request order. Rows that hit
//! `UNABLE_TO_LOCK_ROW` are sent again on their own; a call whose answer was lost is never sent
//! again unless sending it twice cannot write twice.

use super::encode::{Cell, Op, Target, WritePlan};
use super::outcome::{stops_the_write, Outcome, Sent};

use crate::client::retry::Attempts;
use crate::client::{Client, Error, Request, Result};
use bytes::Bytes;
use reqwest::Method;
use sfarrow_soql::json_text::write_json_str;

/// Records per sObject Collections call.
pub const CHUNK: usize = 200;

/// Appends one record as sObject Collections takes it.
fn write_record(out: &mut String, plan: &WritePlan, cells: &[Cell]) {
    out.push_str("{\"attributes\":{\"type\":");
    write_json_str(out, &plan.object);
    out.push('}');
    for ((_, target), c) in plan.columns.iter().zip(cells) {
        out.push(',');
        match target {
            Target::Id => out.push_str("\"id\""),
            Target::Field(f) => write_json_str(out, f),
            Target::Parent { relationship, key } => {
                write_json_str(out, relationship);
                out.push_str(":{");
                write_json_str(out, key);
                out.push(':');
                c.write_json(out);
                out.push('}');
                continue;
            }
        }
        out.push(':');
        c.write_json(out);
    }
    out.push('}');
}

fn body(plan: &WritePlan, rows: &[(usize, Vec<Cell>)], all_or_none: bool) -> Bytes {
    let mut out = String::with_capacity(rows.len() * 128);
    out.push_str(if all_or_none {
        "{\"allOrNone\":true,\"records\":["
    } else {
        "{\"allOrNone\":false,\"records\":["
    });
    for (i, (_, cells)) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_record(&mut out, plan, cells);
    }
    out.push_str("]}");
    Bytes::from(out)
}

fn from_error_json(e: &serde_json::Value) -> Outcome {
    let s = |k: &str| e.get(k).and_then(|v| v.as_str()).map(String::from);
    let fields = e
        .get("fields")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join(",")
        })
        .filter(|f| !f.is_empty());
    Outcome {
        error_code: s("statusCode").or_else(|| s("errorCode")),
        error_message: s("message"),
        error_fields: fields,
        ..Outcome::default()
    }
}

/// One call for up to 200 rows, and again for the rows that found their record locked.
pub async fn chunk(
    client: &Client,
    plan: &WritePlan,
    rows: Vec<(usize, Vec<Cell>)>,
    all_or_none: bool,
) -> Sent {
    let mut done = Vec::with_capacity(rows.len());
    let mut todo = rows;
    // Rows another transaction holds are sent again on their own, as the retry policy allows.
    let mut attempts = Attempts::new(*client.retry_policy());
    loop {
        let results = match call(client, plan, &todo, all_or_none).await {
            Ok(r) => r,
            Err(e) => {
                let outcome = match &e {
                    Error::Transport { .. } => Outcome::unknown(format!(
                        "{e} while writing this row{}",
                        if plan.op == Op::Insert {
                            ""
                        } else {
                            " (an update, upsert or delete is safe to send again)"
                        }
                    )),
                    _ => Outcome::failed(e.code().unwrap_or("REQUEST_FAILED"), e.to_string()),
                };
                done.extend(todo.iter().map(|(i, _)| (*i, outcome.clone())));
                return (done, stops_the_write(&e).then_some(e));
            }
        };
        let any_locked = !all_or_none
            && results
                .iter()
                .any(|r| r.error_code.as_deref() == Some("UNABLE_TO_LOCK_ROW"));
        let again = any_locked && attempts.again().await;
        let mut retry = Vec::new();
        for ((idx, cells), r) in todo.into_iter().zip(results) {
            if again && r.error_code.as_deref() == Some("UNABLE_TO_LOCK_ROW") {
                retry.push((idx, cells));
            } else {
                done.push((idx, r));
            }
        }
        if retry.is_empty() {
            break;
        }
        todo = retry;
    }
    (done, None)
}

async fn call(
    client: &Client,
    plan: &WritePlan,
    rows: &[(usize, Vec<Cell>)],
    all_or_none: bool,
) -> Result<Vec<Outcome>> {
    let with_body = |method: Method, path: String| Request {
        method,
        body: Some((body(plan, rows, all_or_none), "application/json")),
        ..Request::get(path)
    };
    let req = match plan.op {
        // Sent again only when it never reached the server: a lost answer may hide new records.
        Op::Insert => Request {
            idempotent: false,
            ..with_body(Method::POST, "composite/sobjects".into())
        },
        // The same values set twice are set once.
        Op::Update => with_body(Method::PATCH, "composite/sobjects".into()),
        // Matched on the key, so a second upsert updates what the first created.
        Op::Upsert => with_body(
            Method::PATCH,
            format!(
                "composite/sobjects/{}/{}",
                plan.object,
                plan.external_id.as_deref().unwrap_or("Id")
            ),
        ),
        Op::Delete | Op::HardDelete => {
            // Every id was checked (`ids::normalize`) before it got here: letters and digits
            // only, so the list cannot carry another parameter.
            let ids: Vec<String> = rows
                .iter()
                .map(|(_, c)| match c.first() {
                    Some(Cell::Text(s)) => sfarrow_soql::urlenc::encode(s),
                    _ => String::new(),
                })
                .collect();
            Request {
                method: Method::DELETE,
                ..Request::get(format!(
                    "composite/sobjects?ids={}&allOrNone={all_or_none}",
                    ids.join(",")
                ))
            }
        }
    };
    let resp = client.send(req).await?;
    let resent = resp.resent;
    let resp = resp.json()?;
    let arr = resp
        .as_array()
        .ok_or_else(|| Error::protocol("sObject Collections answered without a result array"))?;
    if arr.len() != rows.len() {
        return Err(Error::protocol(format!(
            "sObject Collections answered {} results for {} records",
            arr.len(),
            rows.len()
        )));
    }
    Ok(arr
        .iter()
        .zip(rows)
        .map(|(r, (_, cells))| {
            let id = r.get("id").and_then(|v| v.as_str()).map(String::from);
            if r.get("success").and_then(|v| v.as_bool()) == Some(true) {
                return Outcome {
                    id,
                    success: true,
                    created: r
                        .get("created")
                        .and_then(|v| v.as_bool())
                        .unwrap_or(plan.op == Op::Insert),
                    ..Outcome::default()
                };
            }
            let first = r
                .get("errors")
                .and_then(|e| e.as_array())
                .and_then(|a| a.first())
                .cloned()
                .unwrap_or_default();
            let failed = from_error_json(&first);
            // A delete sent again after its answer was lost finds what the first one deleted.
            let deleted_before = resent
                && matches!(plan.op, Op::Delete)
                && failed.error_code.as_deref() == Some("ENTITY_IS_DELETED");
            if deleted_before {
                let asked = match cells.first() {
                    Some(Cell::Text(s)) => Some(s.clone()),
                    _ => None,
                };
                return Outcome {
                    id: id.or(asked),
                    success: true,
                    ..Outcome::default()
                };
            }
            Outcome { id, ..failed }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_json_with_exact_numbers() {
        let plan = WritePlan {
            object: "Account".into(),
            op: Op::Update,
            columns: vec![
                ("Id".into(), Target::Id),
                ("Name".into(), Target::Field("Name".into())),
                (
                    "AnnualRevenue".into(),
                    Target::Field("AnnualRevenue".into()),
                ),
                (
                    "Parent.Ext_Id__c".into(),
                    Target::Parent {
                        relationship: "Parent".into(),
                        key: "Ext_Id__c".into(),
                    },
                ),
            ],
            external_id: None,
        };
        let cells = vec![
            Cell::Text("001000000000001AAA".into()),
            Cell::Text("A \"quoted\" name".into()),
            Cell::Number("12345678901234567.89".into()),
            Cell::Null,
        ];
        let b = body(&plan, &[(0, cells)], false);
        let text = std::str::from_utf8(&b).unwrap();
        assert!(
            text.contains("\"AnnualRevenue\":12345678901234567.89"),
            "{text}"
        );
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(v["records"][0]["Name"], "A \"quoted\" name");
        assert_eq!(
            v["records"][0]["Parent"]["Ext_Id__c"],
            serde_json::Value::Null
        );
        assert_eq!(v["records"][0]["attributes"]["type"], "Account");
    }
}
