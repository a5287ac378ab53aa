//! Bulk API 2.0 ingest: one job per CSV file (create, upload, close, wait, read the three result
//! files), each outcome joined back to its input row.
//!
//! Nothing is written twice: an upload whose fate is unknown is never repeated on the same job;
//! the job is abandoned (never closed, so never processed) and the data goes to a new job. Once
//! a job is closed, a failure to follow it leaves its rows `UNKNOWN_OUTCOME`, never resent.

use super::encode::WritePlan;
use super::outcome::{stops_the_write, Outcome, RowOutcomes, Sent, NOT_SENT};

use crate::client::retry::Attempts;
use crate::client::{Client, Error, Request, Result};
use bytes::Bytes;
use reqwest::Method;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// Ingest results echo each row's cells but not its position: rows are matched by a hash of
/// their cells (identical rows are interchangeable, and take their outcomes in turn).
pub fn row_hash<'a>(cells: impl Iterator<Item = &'a str>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for c in cells {
        c.hash(&mut h);
    }
    h.finish()
}

pub fn csv_line<'a>(cells: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for (i, c) in cells.enumerate() {
        if i > 0 {
            out.push(',');
        }
        if c.contains([',', '"', '\n', '\r']) || c.starts_with(' ') || c.ends_with(' ') {
            out.push('"');
            out.push_str(&c.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(c);
        }
    }
    out.push('\n');
    out
}

/// `CODE:message:Field1,Field2 --` -> (code, message, fields)
fn parse_sf_error(s: &str) -> (String, String, Option<String>) {
    let trimmed = s.trim_end().trim_end_matches("--").trim_end();
    let (code, rest) = trimmed.split_once(':').unwrap_or((trimmed, ""));
    let (message, fields) = match rest.rsplit_once(':') {
        Some((m, f)) => (
            m.to_string(),
            Some(f.trim().to_string()).filter(|f| !f.is_empty()),
        ),
        None => (rest.to_string(), None),
    };
    (code.to_string(), message, fields)
}

async fn job_call(
    client: &Client,
    method: Method,
    path: String,
    body: Option<serde_json::Value>,
) -> Result<serde_json::Value> {
    let req = match body {
        Some(b) => Request {
            idempotent: false,
            ..Request::json(method, path, &b)
        },
        None => Request {
            method,
            ..Request::get(path)
        },
    };
    client.send(req).await?.json()
}

/// A job id from the server, before it goes into a path: letters and digits only.
fn job_id(job: &serde_json::Value) -> Result<String> {
    job.get("id")
        .and_then(|v| v.as_str())
        .filter(|id| sfarrow_soql::ids::normalize(id).is_some())
        .map(String::from)
        .ok_or_else(|| Error::protocol("the ingest job came back without a valid id"))
}

fn every_row(rows: &[(usize, u64)], outcome: Outcome) -> RowOutcomes {
    rows.iter().map(|(i, _)| (*i, outcome.clone())).collect()
}

/// Creates a job and uploads the CSV to it; on an upload whose fate is unknown, abandons that
/// job and starts again on a new one.
async fn create_and_upload(client: &Client, plan: &WritePlan, data: Bytes) -> Result<String> {
    let mut attempts = Attempts::new(*client.retry_policy());
    loop {
        let mut spec = serde_json::json!({"object": plan.object, "operation": plan.op.bulk_name(), "contentType": "CSV", "lineEnding": "LF", "columnDelimiter": "COMMA"});
        if let Some(k) = &plan.external_id {
            spec["externalIdFieldName"] = serde_json::json!(k);
        }
        // A job created twice is harmless: the extra one stays Open, empty, and is never run.
        let job = match job_call(client, Method::POST, "jobs/ingest".into(), Some(spec)).await {
            Ok(j) => j,
            Err(e) if e.is_transient() && attempts.again().await => continue,
            Err(e) => return Err(e),
        };
        let id = job_id(&job)?;
        let put = Request {
            method: Method::PUT,
            body: Some((data.clone(), "text/csv")),
            idempotent: false,
            ..Request::get(format!("jobs/ingest/{id}/batches"))
        };
        match client.send(put).await {
            Ok(_) => return Ok(id),
            Err(e) if e.is_transient() && attempts.again().await => {
                let _ = job_call(
                    client,
                    Method::PATCH,
                    format!("jobs/ingest/{id}"),
                    Some(serde_json::json!({"state": "Aborted"})),
                )
                .await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Closes the job; true once it is past `Open` (closing twice is harmless: the state tells).
async fn close(client: &Client, id: &str) -> Result<()> {
    let mut attempts = Attempts::new(*client.retry_policy());
    loop {
        let closed = job_call(
            client,
            Method::PATCH,
            format!("jobs/ingest/{id}"),
            Some(serde_json::json!({"state": "UploadComplete"})),
        )
        .await;
        match closed {
            Ok(_) => return Ok(()),
            Err(e) if e.is_transient() || e.status() == Some(409) => {
                let info = job_call(client, Method::GET, format!("jobs/ingest/{id}"), None).await?;
                if info.get("state").and_then(|s| s.as_str()) != Some("Open") {
                    return Ok(());
                }
                if !attempts.again().await {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// One ingest job, start to finish. Never fails: every row gets an outcome, and an error that
/// should stop the whole write (session, allowance, configuration) is handed back beside them.
pub async fn job(client: &Client, plan: &WritePlan, csv: String, rows: Vec<(usize, u64)>) -> Sent {
    let id = match create_and_upload(client, plan, Bytes::from(csv)).await {
        Ok(id) => id,
        Err(e) => {
            let o = Outcome::failed(
                e.code().unwrap_or(NOT_SENT),
                format!("{e}; the job was never closed, so nothing of it was written"),
            );
            return (every_row(&rows, o), stops_the_write(&e).then_some(e));
        }
    };
    if let Err(e) = close(client, &id).await {
        let o = Outcome::unknown(format!(
            "Bulk job {id} could not be closed ({e}); if it was, Salesforce processes it"
        ));
        return (every_row(&rows, o), stops_the_write(&e).then_some(e));
    }
    match follow(client, &id, &rows).await {
        Ok(out) => (out, None),
        Err(e) => {
            let o = Outcome::unknown(format!(
                "Bulk job {id} was submitted, but its results could not be read ({e}); see the job in Salesforce"
            ));
            (every_row(&rows, o), stops_the_write(&e).then_some(e))
        }
    }
}

/// Waits for the job to end and joins its three result files back to the input rows.
async fn follow(client: &Client, id: &str, rows: &[(usize, u64)]) -> Result<RowOutcomes> {
    let mut delay = Duration::from_millis(50);
    let info = loop {
        let info = job_call(client, Method::GET, format!("jobs/ingest/{id}"), None).await?;
        match info.get("state").and_then(|s| s.as_str()).unwrap_or("") {
            "JobComplete" | "Failed" | "Aborted" => break info,
            _ => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    };
    let state = info.get("state").and_then(|s| s.as_str()).unwrap_or("");
    let job_error = info
        .get("errorMessage")
        .and_then(|v| v.as_str())
        .filter(|m| !m.is_empty())
        .map(String::from);
    let mut by_content: HashMap<u64, VecDeque<usize>> = HashMap::new();
    for (idx, hash) in rows {
        by_content.entry(*hash).or_default().push_back(*idx);
    }
    let mut out = Vec::with_capacity(rows.len());
    for kind in ["successfulResults", "failedResults", "unprocessedrecords"] {
        let resp = client
            .send(Request {
                accept: "text/csv",
                ..Request::get(format!("jobs/ingest/{id}/{kind}/"))
            })
            .await?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(&resp.body[..]);
        let skip = if kind == "unprocessedrecords" { 0 } else { 2 };
        for rec in reader.records() {
            let rec = rec.map_err(|e| Error::protocol(format!("bad {kind} CSV: {e}")))?;
            let Some(idx) = by_content
                .get_mut(&row_hash(rec.iter().skip(skip)))
                .and_then(VecDeque::pop_front)
            else {
                continue;
            };
            let o = match kind {
                "successfulResults" => Outcome {
                    id: rec.get(0).map(String::from).filter(|s| !s.is_empty()),
                    success: true,
                    created: rec.get(1) == Some("true"),
                    ..Outcome::default()
                },
                "failedResults" => {
                    let (code, message, fields) = parse_sf_error(rec.get(1).unwrap_or(""));
                    Outcome {
                        id: rec.get(0).map(String::from).filter(|s| !s.is_empty()),
                        error_code: Some(code),
                        error_message: Some(message),
                        error_fields: fields,
                        ..Outcome::default()
                    }
                }
                _ => Outcome::failed(
                    "UNPROCESSED",
                    job_error
                        .clone()
                        .unwrap_or_else(|| "the job stopped before this row was processed".into()),
                ),
            };
            out.push((idx, o));
        }
    }
    // A job that failed as a whole processed none of the rows its results leave out.
    if state == "Failed" || state == "Aborted" {
        let why = match &job_error {
            Some(m) => format!("Bulk job {id} {}: {m}", state.to_ascii_lowercase()),
            None => format!(
                "Bulk job {id} {} before this row was processed",
                state.to_ascii_lowercase()
            ),
        };
        for idx in by_content.into_values().flatten() {
            out.push((idx, Outcome::failed("BULK_JOB_FAILED", why.clone())));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sf_errors() {
        assert_eq!(
            parse_sf_error("REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --"),
            (
                "REQUIRED_FIELD_MISSING".into(),
                "Required fields are missing: [Name]".into(),
                Some("Name".into())
            )
        );
        assert_eq!(
            parse_sf_error("INVALID_CROSS_REFERENCE_KEY:invalid cross reference id:--"),
            (
                "INVALID_CROSS_REFERENCE_KEY".into(),
                "invalid cross reference id".into(),
                None
            )
        );
    }

    #[test]
    fn csv_lines_quote_what_they_must() {
        assert_eq!(
            csv_line(["a", "b,c", "d\"e", " f"].into_iter()),
            "a,\"b,c\",\"d\"\"e\",\" f\"\n"
        );
    }
}
