//! What Bulk API 2.0 query and ingest jobs share (§5, §6): the job header and its JSON, the table
//! of jobs with its ids, and the list, info and delete endpoints; and the two kinds of job, with
//! their fields and states, so that the org's state (`api::state`) names them without importing
//! the handlers in `query` and `ingest`, which import it.

use crate::api::answer::{Answer, Caller};
use crate::api::bulk::ingest_rows::{Operation, Outcomes};
use crate::data::store::now_millis;
use crate::http::{ApiError, Resp};
use crate::soql::render::CsvDialect;
use crate::soql::ResultSet;
use serde_json::{json, Value as Json};
use sfarrow_soql::formats::{format_datetime, Zone};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where a job is in its life (§5.2, §6.4); an open ingest job reports `Open` besides these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    UploadComplete,
    InProgress,
    JobComplete,
    Failed,
    Aborted,
}

impl JobState {
    pub fn name(self) -> &'static str {
        match self {
            JobState::UploadComplete => "UploadComplete",
            JobState::InProgress => "InProgress",
            JobState::JobComplete => "JobComplete",
            JobState::Failed => "Failed",
            JobState::Aborted => "Aborted",
        }
    }

    pub fn terminal(self) -> bool {
        matches!(
            self,
            JobState::JobComplete | JobState::Failed | JobState::Aborted
        )
    }
}

/// The fields every job has, set when it is created.
pub struct JobHeader {
    pub id: String,
    pub operation: &'static str,
    pub object: String,
    /// The user of the session that created it.
    pub created_by: String,
    pub created: i64,
    /// The API version it was created with: results are served to that version only.
    pub version: String,
    pub delimiter: String,
    pub line_ending: String,
}

impl JobHeader {
    /// A job created now by `caller`, with the CSV dialect its request asked for.
    pub fn new(
        id: String,
        operation: &'static str,
        object: String,
        caller: &Caller,
        version: &str,
        (delimiter, line_ending): (String, String),
    ) -> Self {
        JobHeader {
            id,
            operation,
            object,
            created_by: caller.user_id.clone(),
            created: now_millis(),
            version: version.into(),
            delimiter,
            line_ending,
        }
    }

    /// The job info fields every job reports, with this job's state and type and the number of
    /// records processed; `extra` holds the fields of its kind.
    pub fn info(&self, job_type: &str, state: &str, processed: usize, extra: Json) -> Json {
        let mut info = json!({
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": self.created_by,
            "createdDate": format_datetime(self.created, Zone::Rest),
            "systemModstamp": format_datetime(self.created, Zone::Rest),
            "state": state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": self.version.parse::<f64>().unwrap_or(0.0),
            "jobType": job_type,
            "lineEnding": self.line_ending,
            "columnDelimiter": self.delimiter,
            "numberRecordsProcessed": processed,
            "retries": 0,
            "totalProcessingTime": 0,
        });
        if let (Json::Object(m), Json::Object(e)) = (&mut info, extra) {
            m.extend(e);
        }
        info
    }
}

/// A kind of job the table holds.
pub trait Job {
    fn header(&self) -> &JobHeader;
    /// Whether the job has stopped running, so that it may be deleted.
    fn terminated(&self, latency: Duration) -> bool;
}

/// The jobs of one kind, by id.
pub struct JobTable<J> {
    jobs: HashMap<String, J>,
    sequence: u64,
}

impl<J> Default for JobTable<J> {
    fn default() -> Self {
        JobTable {
            jobs: HashMap::new(),
            sequence: 0,
        }
    }
}

impl<J: Job> JobTable<J> {
    /// A new job id: `750`, the key prefix of jobs, then the given pod and a sequence number.
    pub fn next_id(&mut self, pod: &str) -> String {
        self.sequence += 1;
        sfarrow_soql::ids::make("750", pod, self.sequence)
    }

    pub fn insert(&mut self, job: J) {
        self.jobs.insert(job.header().id.clone(), job);
    }

    pub fn get(&self, id: &str) -> Result<&J, ApiError> {
        self.jobs.get(id).ok_or_else(ApiError::not_found)
    }

    pub fn get_mut(&mut self, id: &str) -> Result<&mut J, ApiError> {
        self.jobs.get_mut(id).ok_or_else(ApiError::not_found)
    }

    /// `GET /jobs/{kind}`: every job, oldest first, in one page.
    pub fn list(&self, info: impl Fn(&J) -> Json) -> Answer {
        let mut all: Vec<&J> = self.jobs.values().collect();
        all.sort_by_key(|j| j.header().created);
        let records: Vec<Json> = all.into_iter().map(info).collect();
        Ok(Resp::json(
            200,
            &json!({"done": true, "records": records, "nextRecordsUrl": null}),
        ))
    }

    /// `GET /jobs/{kind}/{id}`.
    pub fn info(&self, id: &str, info: impl Fn(&J) -> Json) -> Answer {
        Ok(Resp::json(200, &info(self.get(id)?)))
    }

    /// `DELETE /jobs/{kind}/{id}`: only a job that has stopped running (§5.5).
    pub fn delete(&mut self, id: &str, latency: Duration) -> Answer {
        if !self.get(id)?.terminated(latency) {
            return Err(ApiError::bad_request(
                "API_ERROR",
                "Error encountered when deleting the job because the job is not terminated",
            ));
        }
        self.jobs.remove(id);
        Ok(Resp::empty(204))
    }
}

/// A query job: its result set, rendered into CSV pages on request.
pub(crate) struct QueryJob {
    pub(crate) header: JobHeader,
    pub(crate) started: Instant,
    pub(crate) aborted: bool,
    pub(crate) rs: Arc<ResultSet>,
    pub(crate) dialect: CsvDialect,
}

pub type QueryJobs = JobTable<QueryJob>;

impl Job for QueryJob {
    fn header(&self) -> &JobHeader {
        &self.header
    }

    fn terminated(&self, latency: Duration) -> bool {
        self.state(latency).terminal()
    }
}

impl QueryJob {
    pub(crate) fn state(&self, latency: Duration) -> JobState {
        if self.aborted {
            JobState::Aborted
        } else if self.started.elapsed() < latency {
            JobState::InProgress
        } else {
            JobState::JobComplete
        }
    }

    pub(crate) fn info(&self, state: JobState) -> Json {
        let processed = if state == JobState::JobComplete {
            self.rs.len()
        } else {
            0
        };
        self.header.info(
            "V2Query",
            state.name(),
            processed,
            json!({"isPkChunkingSupported": true}),
        )
    }
}

/// An ingest job: its upload until it is closed, then the outcome of every row.
pub(crate) struct IngestJob {
    pub(crate) header: JobHeader,
    /// The header's operation, for processing.
    pub(crate) operation: Operation,
    pub(crate) external_id: Option<String>,
    pub(crate) state: JobState,
    pub(crate) open: bool,
    pub(crate) closed_at: Option<Instant>,
    pub(crate) upload: Vec<u8>,
    pub(crate) dialect: CsvDialect,
    pub(crate) outcomes: Option<Outcomes>,
    pub(crate) error_message: Option<String>,
    /// Created with its data in one multipart request: it closes itself.
    pub(crate) multipart: bool,
}

pub type IngestJobs = JobTable<IngestJob>;

impl Job for IngestJob {
    fn header(&self) -> &JobHeader {
        &self.header
    }

    /// An ingest job may be deleted once it is closed, whether or not it has finished.
    fn terminated(&self, _latency: Duration) -> bool {
        !self.open
    }
}

impl IngestJob {
    pub(crate) fn current_state(&self, latency: Duration) -> &'static str {
        if self.open {
            return "Open";
        }
        match (self.state, self.closed_at) {
            (JobState::JobComplete, Some(t)) if t.elapsed() < latency => "InProgress",
            (s, _) => s.name(),
        }
    }

    /// `version` is the request's: `contentUrl` names it.
    pub(crate) fn info(&self, latency: Duration, version: &str) -> Json {
        let state = self.current_state(latency);
        let done = state == "JobComplete" || state == "Failed";
        let (processed, failed) = match (&self.outcomes, done) {
            (Some(o), true) => (o.successful.len() + o.failed.len(), o.failed.len()),
            _ => (0, 0),
        };
        let mut info = self.header.info(
            "V2Ingest",
            state,
            processed,
            json!({
                "externalIdFieldName": self.external_id,
                "contentUrl": format!("services/data/v{version}/jobs/ingest/{}/batches", self.header.id),
                "numberRecordsFailed": failed,
                "apiActiveProcessingTime": 0,
                "apexProcessingTime": 0,
            }),
        );
        if let Some(e) = &self.error_message {
            info["errorMessage"] = json!(e);
        }
        info
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_info_has_the_shared_fields_and_the_kinds_own() {
        let header = JobHeader {
            id: "750Dn0000000001AAA".into(),
            operation: "query",
            object: "Account".into(),
            created_by: "005Dn0000000001AAA".into(),
            created: 0,
            version: "58.0".into(),
            delimiter: "COMMA".into(),
            line_ending: "LF".into(),
        };
        let info = header.info(
            "V2Query",
            "JobComplete",
            3,
            json!({"isPkChunkingSupported": true}),
        );
        assert_eq!(info["createdDate"], "1970-01-01T00:00:00.000+0000");
        assert_eq!(info["systemModstamp"], info["createdDate"]);
        assert_eq!(info["apiVersion"], 58.0);
        assert_eq!(info["numberRecordsProcessed"], 3);
        assert_eq!(info["isPkChunkingSupported"], true);
        assert_eq!(info.as_object().map(|m| m.len()), Some(17));
    }
}
