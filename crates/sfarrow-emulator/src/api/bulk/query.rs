//! Bulk API 2.0 query jobs (§5): create, state machine, CSV result pages by locator, parallel
//! `resultPages` (v58.0+), abort, delete, list. Results are rendered page by page on request.

use crate::api::answer::{Answer, Caller};
use crate::api::bulk::jobs::{JobHeader, JobState, QueryJob};
use crate::api::state::OrgState;
use crate::http::{ApiError, Req, Resp};
use crate::soql::render::{csv_page, CsvDialect};
use crate::soql::{self, ResultSet};
use base64::Engine;
use serde_json::{json, Value as Json};
use std::sync::Arc;
use std::time::Instant;

const LOCATOR: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD_NO_PAD;

pub fn route(state: &OrgState, req: &Req, caller: &Caller, version: &str, tail: &[&str]) -> Answer {
    match (req.method.as_str(), tail) {
        ("POST", []) => create(state, req, caller, version),
        ("GET", []) => state.query_jobs.lock().list(current_info(state)),
        ("GET", [id]) => state.query_jobs.lock().info(id, current_info(state)),
        ("PATCH", [id]) => abort(state, req, id),
        ("DELETE", [id]) => state.query_jobs.lock().delete(id, state.config.job_latency),
        ("GET", [id, r]) if r.eq_ignore_ascii_case("results") => results(state, req, version, id),
        ("GET", [id, r]) if r.eq_ignore_ascii_case("resultPages") => {
            result_pages(state, req, version, id)
        }
        (m, _) => Err(ApiError::method_not_allowed(m)),
    }
}

fn api_error(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("API_ERROR", message)
}

fn create(state: &OrgState, req: &Req, caller: &Caller, version: &str) -> Answer {
    let body = serde_json::from_slice::<Json>(&req.body).map_err(|_| {
        ApiError::bad_request("JSON_PARSER_ERROR", "The request body is not valid JSON")
    })?;
    let operation = body.get("operation").and_then(Json::as_str).unwrap_or("");
    if operation != "query" && operation != "queryAll" {
        return Err(api_error(format!("Invalid operation: {operation}")));
    }
    let soql = body
        .get("query")
        .and_then(Json::as_str)
        .ok_or_else(|| api_error("A query is required"))?;
    let delimiter = body
        .get("columnDelimiter")
        .and_then(Json::as_str)
        .unwrap_or("COMMA")
        .to_string();
    let line_ending = body
        .get("lineEnding")
        .and_then(Json::as_str)
        .unwrap_or("LF")
        .to_string();
    let dialect = CsvDialect::from_names(&delimiter, &line_ending)
        .ok_or_else(|| api_error("Invalid columnDelimiter or lineEnding"))?;
    if body
        .get("contentType")
        .and_then(Json::as_str)
        .is_some_and(|c| c != "CSV")
    {
        return Err(api_error("Only CSV content is supported"));
    }
    let (rs, object) = {
        let store = state.store.read();
        let plan = soql::compile(&store, &soql::parse(soql)?)?;
        if plan.has_compound {
            return Err(api_error(
                "Selecting compound data not supported in Bulk Query",
            ));
        }
        if let Some(reason) = plan.bulk_unsupported {
            return Err(api_error(reason));
        }
        let mut plan = plan;
        let major: u32 = version
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        if major < 50 {
            // Before v50.0 result columns came in alphabetical order (§5.3).
            plan.columns.sort_by_key(|c| c.written.to_lowercase());
        }
        let object = plan.object.clone();
        (soql::execute(&store, plan, operation == "queryAll"), object)
    };
    state.usage.lock().bulk_query_jobs += 1;
    let mut jobs = state.query_jobs.lock();
    let job = QueryJob {
        header: JobHeader::new(
            jobs.next_id("Dn0"),
            if operation == "queryAll" {
                "queryAll"
            } else {
                "query"
            },
            object,
            caller,
            version,
            (delimiter, line_ending),
        ),
        started: Instant::now(),
        aborted: false,
        rs: Arc::new(rs),
        dialect,
    };
    let info = job.info(JobState::UploadComplete);
    jobs.insert(job);
    Ok(Resp::json(200, &info))
}

/// A job's info as it is now.
fn current_info(state: &OrgState) -> impl Fn(&QueryJob) -> Json + '_ {
    |j| j.info(j.state(state.config.job_latency))
}

fn abort(state: &OrgState, req: &Req, id: &str) -> Answer {
    let wanted = serde_json::from_slice::<Json>(&req.body)
        .ok()
        .and_then(|b| b.get("state").and_then(Json::as_str).map(String::from));
    if wanted.as_deref() != Some("Aborted") {
        return Err(api_error(
            "Only the Aborted state can be set on a query job",
        ));
    }
    let mut jobs = state.query_jobs.lock();
    let j = jobs.get_mut(id)?;
    if j.state(state.config.job_latency).terminal() && !j.aborted {
        return Err(api_error("Cannot abort a job that is already complete"));
    }
    j.aborted = true;
    Ok(Resp::json(200, &j.info(JobState::Aborted)))
}

fn decode_locator(locator: &str) -> Option<usize> {
    let bytes = LOCATOR.decode(locator.trim_end_matches('=')).ok()?;
    std::str::from_utf8(&bytes).ok()?.parse().ok()
}

fn encode_locator(offset: usize) -> String {
    LOCATOR.encode(offset.to_string())
}

/// Looks up a finished job that may serve results to a request of this API version.
fn ready_job(
    state: &OrgState,
    version: &str,
    id: &str,
) -> Result<(Arc<ResultSet>, CsvDialect), ApiError> {
    let jobs = state.query_jobs.lock();
    let j = jobs.get(id)?;
    if j.header.version != version {
        return Err(ApiError::new(
            409,
            "API_ERROR",
            format!("The API version of the request (v{version}) does not match the version the job was created with (v{})", j.header.version),
        ));
    }
    match j.state(state.config.job_latency) {
        JobState::JobComplete => Ok((j.rs.clone(), j.dialect)),
        s => Err(api_error(format!(
            "The job is in state {}: results are only available for JobComplete jobs",
            s.name()
        ))),
    }
}

fn page_size(state: &OrgState, req: &Req) -> Result<usize, ApiError> {
    match req.param("maxRecords") {
        None => Ok(state.config.bulk_page_size),
        Some(m) => m
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| api_error("maxRecords must be a positive whole number")),
    }
}

fn results(state: &OrgState, req: &Req, version: &str, id: &str) -> Answer {
    let (rs, dialect) = ready_job(state, version, id)?;
    let size = page_size(state, req)?;
    let offset = match req
        .param("locator")
        .filter(|l| !l.is_empty() && l != "null")
    {
        None => 0,
        Some(l) => decode_locator(&l)
            .filter(|o| *o <= rs.len())
            .ok_or_else(|| ApiError::bad_request("INVALID_LOCATOR", "Invalid locator"))?,
    };
    let end = (offset + size).min(rs.len());
    let body = {
        let store = state.store.read();
        csv_page(&store, &rs, offset..end, dialect)
    };
    let next = if end < rs.len() {
        encode_locator(end)
    } else {
        "null".into()
    };
    Ok(Resp::csv(200, body)
        .with_header("sforce-numberofrecords", (end - offset).to_string())
        .with_header("sforce-locator", next))
}

const PAGES_PER_CALL: usize = 5;

fn result_pages(state: &OrgState, req: &Req, version: &str, id: &str) -> Answer {
    let major: u32 = version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if major < 58 {
        return Err(ApiError::not_found());
    }
    let (rs, _) = ready_job(state, version, id)?;
    let size = page_size(state, req)?;
    let start = req
        .param("locator")
        .and_then(|l| decode_locator(&l))
        .unwrap_or(0);
    let base = format!("/services/data/v{version}/jobs/query/{id}");
    let mut pages = Vec::new();
    let mut offset = start;
    while pages.len() < PAGES_PER_CALL && (offset < rs.len() || (offset == 0 && rs.is_empty())) {
        pages.push(json!({"resultUrl": format!("{base}/results?locator={}&maxRecords={size}", encode_locator(offset))}));
        offset += size;
        if rs.is_empty() {
            break;
        }
    }
    let done = offset >= rs.len();
    let mut body = json!({"resultPages": pages, "done": done});
    if !done {
        body["nextRecordsUrl"] = json!(format!(
            "{base}/resultpages?locator={}&maxRecords={size}",
            encode_locator(offset)
        ));
    } else {
        body["nextRecordsUrl"] = Json::Null;
    }
    Ok(Resp::json(200, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locators_look_like_salesforce() {
        assert_eq!(encode_locator(10000), "MTAwMDA");
        assert_eq!(decode_locator("MTAwMDA"), Some(10000));
        assert_eq!(decode_locator("MTAwMDA="), Some(10000));
        assert_eq!(decode_locator("!!"), None);
    }
}
