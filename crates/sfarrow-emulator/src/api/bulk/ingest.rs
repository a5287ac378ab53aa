//! Bulk API 2.0 ingest jobs (§6): create, CSV upload, UploadComplete, abort, and the
//! successful / failed / unprocessed result files with `sf__` columns. The rows themselves are
//! processed in `ingest_rows`.

use crate::api::answer::{Answer, Caller};
use crate::api::bulk::ingest_rows::{csv_row, parse_csv, process, Batch, Operation, Outcomes};
use crate::api::bulk::jobs::{IngestJob, JobHeader, JobState};
use crate::api::state::OrgState;
use crate::http::{ApiError, Req, Resp};
use crate::soql::render::CsvDialect;
use serde_json::{json, Value as Json};
use std::time::Instant;

/// 150 MB of base64 is about 100 MB of CSV: the largest upload one job takes.
const MAX_UPLOAD: usize = 100 * 1024 * 1024;

pub fn route(state: &OrgState, req: &Req, caller: &Caller, version: &str, tail: &[&str]) -> Answer {
    match (req.method.as_str(), tail) {
        ("POST", []) => create(state, req, caller, version),
        ("GET", []) => state.ingest_jobs.lock().list(current_info(state, version)),
        ("GET", [id]) => state
            .ingest_jobs
            .lock()
            .info(id, current_info(state, version)),
        ("PATCH", [id]) => change_state(state, req, version, id),
        ("DELETE", [id]) => state
            .ingest_jobs
            .lock()
            .delete(id, state.config.job_latency),
        ("PUT", [id, b]) if b.eq_ignore_ascii_case("batches") => upload(state, req, id),
        ("GET", [id, r]) => results(state, id, r),
        (m, _) => Err(ApiError::method_not_allowed(m)),
    }
}

fn api_error(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("API_ERROR", message)
}

fn create(state: &OrgState, req: &Req, caller: &Caller, version: &str) -> Answer {
    // A multipart request carries the job (`job` part) and its data (`content` part) at once.
    let multipart = req
        .header("content-type")
        .is_some_and(|c| c.starts_with("multipart/form-data"));
    let (job_json, content) = if multipart {
        let mut parts = req.form();
        (
            parts.remove("job").unwrap_or_default().into_bytes(),
            parts.remove("content"),
        )
    } else {
        (req.body.to_vec(), None)
    };
    if content.as_ref().is_some_and(|c| c.len() > 100_000) {
        return Err(api_error("ClientInputError : multipart uploads are limited to 100,000 characters of data; upload larger files with PUT"));
    }
    let body = serde_json::from_slice::<Json>(&job_json).map_err(|_| {
        ApiError::bad_request("JSON_PARSER_ERROR", "The request body is not valid JSON")
    })?;
    let s = |k: &str| body.get(k).and_then(Json::as_str).map(String::from);
    let operation = s("operation")
        .as_deref()
        .and_then(Operation::parse)
        .ok_or_else(|| api_error("InvalidJob : Invalid operation"))?;
    let object = {
        let store = state.store.read();
        let t = s("object")
            .as_deref()
            .and_then(|o| store.table(o))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "INVALIDENTITY",
                    format!(
                        "Entity '{}' is not supported by the Bulk API.",
                        s("object").unwrap_or_default()
                    ),
                )
            })?;
        t.def.name.clone()
    };
    let external_id = s("externalIdFieldName");
    match (operation, &external_id) {
        (Operation::Upsert, None) => {
            return Err(api_error(
                "InvalidJob : External ID was blank for upsert operation",
            ))
        }
        (op, Some(_)) if op != Operation::Upsert => {
            return Err(api_error(
                "InvalidJob : External ID field can only be specified for the upsert operation",
            ))
        }
        _ => {}
    }
    let delimiter = s("columnDelimiter").unwrap_or_else(|| "COMMA".into());
    let line_ending = s("lineEnding").unwrap_or_else(|| "LF".into());
    let dialect = CsvDialect::from_names(&delimiter, &line_ending)
        .ok_or_else(|| api_error("InvalidJob : Invalid columnDelimiter or lineEnding"))?;
    let mut jobs = state.ingest_jobs.lock();
    let mut job = IngestJob {
        header: JobHeader::new(
            jobs.next_id("In0"),
            operation.name(),
            object,
            caller,
            version,
            (delimiter, line_ending),
        ),
        operation,
        external_id,
        state: JobState::UploadComplete,
        open: true,
        closed_at: None,
        upload: Vec::new(),
        dialect,
        outcomes: None,
        error_message: None,
        multipart: content.is_some(),
    };
    if let Some(data) = content {
        job.upload = data.into_bytes();
        close_and_process(state, &mut job);
    }
    let info = job.info(state.config.job_latency, version);
    jobs.insert(job);
    Ok(Resp::json(200, &info))
}

/// A job's info as it is now, for a request of this version.
fn current_info<'a>(state: &'a OrgState, version: &'a str) -> impl Fn(&IngestJob) -> Json + 'a {
    move |j| j.info(state.config.job_latency, version)
}

fn upload(state: &OrgState, req: &Req, id: &str) -> Answer {
    let mut jobs = state.ingest_jobs.lock();
    let j = jobs.get_mut(id)?;
    if !j.open {
        return Err(ApiError::new(
            409,
            "INVALIDJOBSTATE",
            "Job is not in the Open state; data can only be uploaded to an open job",
        ));
    }
    if j.upload.len() + req.body.len() > MAX_UPLOAD {
        return Err(api_error(
            "ClientInputError : the data uploaded to a job may not exceed 150 MB (base64)",
        ));
    }
    if j.upload.is_empty() {
        j.upload.extend_from_slice(&req.body);
    } else {
        // A second upload appends its rows; its header must be the same.
        let body = &req.body[..];
        let split = body
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| i + 1)
            .unwrap_or(body.len());
        let first = j
            .upload
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| i + 1)
            .unwrap_or(j.upload.len());
        if body[..split] != j.upload[..first] {
            return Err(api_error(
                "ClientInputError : every upload to a job must have the same header row",
            ));
        }
        if !j.upload.ends_with(b"\n") {
            j.upload.push(b'\n');
        }
        j.upload.extend_from_slice(&body[split..]);
    }
    Ok(Resp::empty(201))
}

fn change_state(state: &OrgState, req: &Req, version: &str, id: &str) -> Answer {
    let body = serde_json::from_slice::<Json>(&req.body).unwrap_or_default();
    if body
        .as_object()
        .is_some_and(|m| m.keys().any(|k| k != "state"))
    {
        return Err(api_error(
            "InvalidJob : only the state may be sent when changing a job's state",
        ));
    }
    let wanted = body.get("state").and_then(Json::as_str).map(String::from);
    let mut jobs = state.ingest_jobs.lock();
    let j = jobs.get_mut(id)?;
    match wanted.as_deref() {
        Some("UploadComplete") => {
            if !j.open && j.multipart {
                // A multipart job closed itself; closing it again is harmless.
                return Ok(Resp::json(200, &j.info(state.config.job_latency, version)));
            }
            if !j.open {
                return Err(ApiError::new(
                    409,
                    "INVALIDJOBSTATE",
                    "Job is not in the Open state",
                ));
            }
            close_and_process(state, j);
            let mut info = j.info(state.config.job_latency, version);
            info["state"] = json!("UploadComplete");
            Ok(Resp::json(200, &info))
        }
        Some("Aborted") => {
            if !j.open
                && j.state.terminal()
                && j.state != JobState::Aborted
                && j.closed_at
                    .is_some_and(|t| t.elapsed() >= state.config.job_latency)
            {
                return Err(api_error("Cannot abort a job that has finished"));
            }
            if j.open {
                // Uploaded rows were never attempted: they are the unprocessed records.
                let (header, rows) = parse_csv(&j.upload, j.dialect).unwrap_or_default();
                j.outcomes = Some(Outcomes {
                    header,
                    successful: Vec::new(),
                    failed: Vec::new(),
                    unprocessed: rows,
                });
            }
            j.open = false;
            j.state = JobState::Aborted;
            Ok(Resp::json(200, &j.info(state.config.job_latency, version)))
        }
        _ => Err(api_error(
            "InvalidJobState : the state must be UploadComplete or Aborted",
        )),
    }
}

/// Runs the uploaded rows; each 10,000 records (at least one batch a job) count against
/// `DailyBulkApiBatches`.
fn close_and_process(state: &OrgState, j: &mut IngestJob) {
    j.open = false;
    j.closed_at = Some(Instant::now());
    let forced = state.ingest_failures.lock().pop_front();
    if let Some(message) = forced {
        j.state = JobState::Failed;
        j.error_message = Some(message);
        return;
    }
    let mut store = state.store.write();
    let batch = Batch {
        object: &j.header.object,
        operation: j.operation,
        external_id: j.external_id.as_deref(),
        data: &j.upload,
        dialect: j.dialect,
    };
    match process(&mut store, &batch) {
        Ok(o) => {
            let records = (o.successful.len() + o.failed.len()) as u64;
            state.usage.lock().bulk_batches += records.div_ceil(10_000).max(1);
            j.outcomes = Some(o);
            j.state = JobState::JobComplete;
        }
        Err(message) => {
            j.state = JobState::Failed;
            j.error_message = Some(message);
        }
    }
}

fn results(state: &OrgState, id: &str, which: &str) -> Answer {
    let jobs = state.ingest_jobs.lock();
    let j = jobs.get(id)?;
    let kind = which.to_ascii_lowercase();
    if !matches!(
        kind.as_str(),
        "successfulresults" | "failedresults" | "unprocessedrecords"
    ) {
        return Err(ApiError::not_found());
    }
    let state_name = j.current_state(state.config.job_latency);
    if !matches!(state_name, "JobComplete" | "Failed" | "Aborted") {
        return Err(api_error(format!(
            "InvalidJobState : results are not available while the job is {state_name}"
        )));
    }
    let empty = Outcomes {
        header: Vec::new(),
        successful: Vec::new(),
        failed: Vec::new(),
        unprocessed: Vec::new(),
    };
    let o = j.outcomes.as_ref().unwrap_or(&empty);
    let mut out = String::new();
    let d = j.dialect;
    let header = &o.header;
    match kind.as_str() {
        "successfulresults" => {
            csv_row(
                &mut out,
                d,
                &["sf__Id".into(), "sf__Created".into()],
                header,
            );
            for (id, created, row) in &o.successful {
                csv_row(&mut out, d, &[id.clone(), created.to_string()], row);
            }
        }
        "failedresults" => {
            csv_row(&mut out, d, &["sf__Id".into(), "sf__Error".into()], header);
            for (id, err, row) in &o.failed {
                csv_row(&mut out, d, &[id.clone(), err.clone()], row);
            }
        }
        _ => {
            csv_row(&mut out, d, &[], header);
            for row in &o.unprocessed {
                csv_row(&mut out, d, &[], row);
            }
        }
    }
    Ok(Resp::csv(200, out))
}
