//! What Bulk API 2.0 query and ingest jobs share (§5, §6): the job header and its JSON, the table
//! of jobs with its ids, and the list, info and delete endpoints. Each kind adds its own fields
//! and state machine in `query` and `ingest`.

use crate::api::answer::Answer;
use crate::http::{ApiError, Resp};
use serde_json::{json, Value as Json};
use sfarrow_soql::formats::{format_datetime, Zone};
use std::collections::HashMap;
use std::time::Duration;

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
