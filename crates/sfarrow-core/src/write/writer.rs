//! Writing a stream of Arrow batches: sObject Collections below the Bulk threshold (200 records
//! a call, several calls in flight), Bulk API 2.0 ingest jobs at or above it, and every
//! outcome joined back to its input row.

use super::encode::{cell, Cell, Op, Target, WritePlan};
use super::outcome::{self, Outcome};
use crate::client::{Client, Error, Request, Result};
use crate::read::Api;
use arrow_array::RecordBatch;
use bytes::Bytes;
use reqwest::Method;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct WriteOptions {
    pub api: Api,
    /// Automatic choice: Bulk API 2.0 at or above this many rows.
    pub bulk_threshold: usize,
    /// REST: the whole write succeeds or nothing is written (at most 200 rows).
    pub all_or_none: bool,
    /// REST calls in flight.
    pub parallel: usize,
    /// Bulk: CSV bytes per job; Salesforce takes about 100 MB.
    pub max_job_bytes: usize,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            api: Api::Auto,
            bulk_threshold: 1000,
            all_or_none: false,
            parallel: 4,
            max_job_bytes: 50 * 1024 * 1024,
        }
    }
}

const CHUNK: usize = 200;
const LOCK_RETRIES: u32 = 3;

type RowOutcomes = Vec<(usize, Outcome)>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Rest,
    Bulk,
}

pub struct Writer {
    client: Arc<Client>,
    plan: Arc<WritePlan>,
    opts: WriteOptions,
    mode: Option<Mode>,
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    outcomes: Vec<Option<Outcome>>,
    chunk: Vec<(usize, Vec<Cell>)>,
    inflight: VecDeque<JoinHandle<RowOutcomes>>,
    csv: String,
    /// Input row and the hash of its cells, to find it again in the job's result files.
    csv_rows: Vec<(usize, u64)>,
}

impl Writer {
    pub fn new(client: Arc<Client>, plan: WritePlan, opts: WriteOptions) -> Writer {
        let mode = match opts.api {
            Api::Rest => Some(Mode::Rest),
            Api::Bulk => Some(Mode::Bulk),
            Api::Auto => None,
        };
        Writer {
            client,
            plan: Arc::new(plan),
            opts,
            mode,
            pending: Vec::new(),
            pending_rows: 0,
            outcomes: Vec::new(),
            chunk: Vec::new(),
            inflight: VecDeque::new(),
            csv: String::new(),
            csv_rows: Vec::new(),
        }
    }

    /// Which API the write used (or will use).
    pub fn api(&self) -> &'static str {
        match self.mode {
            Some(Mode::Bulk) => "bulk",
            _ => "rest",
        }
    }

    pub async fn push(&mut self, batch: RecordBatch) -> Result<()> {
        self.pending_rows += batch.num_rows();
        self.pending.push(batch);
        if self.mode.is_none() && self.pending_rows >= self.opts.bulk_threshold {
            self.mode = Some(Mode::Bulk);
        }
        if self.mode.is_some() {
            self.drain().await?;
        }
        Ok(())
    }

    async fn drain(&mut self) -> Result<()> {
        let mode = self.mode.unwrap_or(Mode::Rest);
        if mode == Mode::Rest
            && self.opts.all_or_none
            && self.outcomes.len() + self.pending_rows > CHUNK
        {
            return Err(Error::config("all_or_none can make at most 200 rows atomic (one sObject Collections call); write fewer rows or drop all_or_none"));
        }
        for batch in std::mem::take(&mut self.pending) {
            let cols = batch.columns();
            for r in 0..batch.num_rows() {
                let cells = cols
                    .iter()
                    .map(|c| cell(c, r))
                    .collect::<Result<Vec<_>>>()?;
                let idx = self.outcomes.len();
                self.outcomes.push(None);
                match mode {
                    Mode::Rest => {
                        self.chunk.push((idx, cells));
                        if self.chunk.len() == CHUNK && !self.opts.all_or_none {
                            self.send_chunk().await;
                        }
                    }
                    Mode::Bulk => {
                        let texts: Vec<String> = cells.iter().map(Cell::csv).collect();
                        if self.csv.is_empty() {
                            self.csv = csv_line(self.plan.columns.iter().map(|(n, _)| n.as_str()));
                        }
                        self.csv
                            .push_str(&csv_line(texts.iter().map(String::as_str)));
                        self.csv_rows
                            .push((idx, row_hash(texts.iter().map(String::as_str))));
                        if self.csv.len() >= self.opts.max_job_bytes {
                            self.run_job().await?;
                        }
                    }
                }
            }
        }
        self.pending_rows = 0;
        Ok(())
    }

    async fn send_chunk(&mut self) {
        let rows = std::mem::take(&mut self.chunk);
        if rows.is_empty() {
            return;
        }
        while self.inflight.len() >= self.opts.parallel.max(1) {
            if let Some(h) = self.inflight.pop_front() {
                self.collect(h).await;
            }
        }
        let (client, plan, all_or_none) = (
            self.client.clone(),
            self.plan.clone(),
            self.opts.all_or_none,
        );
        self.inflight.push_back(tokio::spawn(async move {
            rest_chunk(&client, &plan, rows, all_or_none).await
        }));
    }

    async fn collect(&mut self, h: JoinHandle<RowOutcomes>) {
        if let Ok(results) = h.await {
            for (i, o) in results {
                self.outcomes[i] = Some(o);
            }
        }
    }

    async fn run_job(&mut self) -> Result<()> {
        let csv = std::mem::take(&mut self.csv);
        let rows = std::mem::take(&mut self.csv_rows);
        if rows.is_empty() {
            return Ok(());
        }
        for (i, o) in bulk_job(&self.client, &self.plan, csv, rows).await? {
            self.outcomes[i] = Some(o);
        }
        Ok(())
    }

    /// Sends what is left and returns the result table.
    pub async fn finish(mut self) -> Result<RecordBatch> {
        if self.mode.is_none() {
            self.mode = Some(Mode::Rest);
        }
        self.drain().await?;
        match self.mode {
            Some(Mode::Bulk) => self.run_job().await?,
            _ => {
                self.send_chunk().await;
                while let Some(h) = self.inflight.pop_front() {
                    self.collect(h).await;
                }
            }
        }
        let missing: Vec<usize> = self
            .outcomes
            .iter()
            .enumerate()
            .filter(|(_, o)| o.is_none())
            .map(|(i, _)| i)
            .collect();
        for i in missing {
            self.outcomes[i] = Some(Outcome::failed(
                "NO_RESULT",
                "Salesforce returned no result for this row; it may or may not have been written",
            ));
        }
        outcome::table(self.outcomes)
    }
}

/// Ingest results echo each row's cells but not its position: rows are matched by a hash of
/// their cells (identical rows are interchangeable, and take their outcomes in turn).
fn row_hash<'a>(cells: impl Iterator<Item = &'a str>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for c in cells {
        c.hash(&mut h);
    }
    h.finish()
}

fn csv_line<'a>(cells: impl Iterator<Item = &'a str>) -> String {
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

fn record_json(plan: &WritePlan, cells: &[Cell]) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    m.insert(
        "attributes".into(),
        serde_json::json!({"type": plan.object}),
    );
    for ((_, target), c) in plan.columns.iter().zip(cells) {
        match target {
            Target::Id => {
                m.insert("id".into(), c.json());
            }
            Target::Field(f) => {
                m.insert(f.clone(), c.json());
            }
            Target::Parent { relationship, key } => {
                m.insert(
                    relationship.clone(),
                    serde_json::json!({ key.clone(): c.json() }),
                );
            }
        }
    }
    serde_json::Value::Object(m)
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

/// One sObject Collections call for up to 200 rows; rows that hit `UNABLE_TO_LOCK_ROW` are sent
/// again on their own.
async fn rest_chunk(
    client: &Client,
    plan: &WritePlan,
    rows: Vec<(usize, Vec<Cell>)>,
    all_or_none: bool,
) -> RowOutcomes {
    let mut done = Vec::with_capacity(rows.len());
    let mut todo = rows;
    for attempt in 0..=LOCK_RETRIES {
        let results = match rest_call(client, plan, &todo, all_or_none).await {
            Ok(r) => r,
            Err(e) => {
                let unknown = plan.op == Op::Insert && matches!(e, Error::Transport { .. });
                let (code, message) = if unknown {
                    ("UNKNOWN_OUTCOME".to_string(), format!("{e}; the insert may or may not have been applied, so it was not sent again"))
                } else {
                    (
                        e.code().unwrap_or("REQUEST_FAILED").to_string(),
                        e.to_string(),
                    )
                };
                done.extend(
                    todo.iter()
                        .map(|(i, _)| (*i, Outcome::failed(&code, message.clone()))),
                );
                return done;
            }
        };
        let mut retry = Vec::new();
        for ((idx, cells), r) in todo.into_iter().zip(results) {
            let locked = r.error_code.as_deref() == Some("UNABLE_TO_LOCK_ROW");
            if locked && attempt < LOCK_RETRIES && !all_or_none {
                retry.push((idx, cells));
            } else {
                done.push((idx, r));
            }
        }
        if retry.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
        todo = retry;
    }
    done
}

async fn rest_call(
    client: &Client,
    plan: &WritePlan,
    rows: &[(usize, Vec<Cell>)],
    all_or_none: bool,
) -> Result<Vec<Outcome>> {
    let body = |rows: &[(usize, Vec<Cell>)]| serde_json::json!({"allOrNone": all_or_none, "records": rows.iter().map(|(_, c)| record_json(plan, c)).collect::<Vec<_>>()});
    let (method, path, body) = match plan.op {
        Op::Insert => (
            Method::POST,
            "composite/sobjects".to_string(),
            Some(body(rows)),
        ),
        Op::Update => (
            Method::PATCH,
            "composite/sobjects".to_string(),
            Some(body(rows)),
        ),
        Op::Upsert => (
            Method::PATCH,
            format!(
                "composite/sobjects/{}/{}",
                plan.object,
                plan.external_id.as_deref().unwrap_or("Id")
            ),
            Some(body(rows)),
        ),
        Op::Delete | Op::HardDelete => {
            let ids: Vec<String> = rows
                .iter()
                .map(|(_, c)| match c.first() {
                    Some(Cell::Text(s)) => s.clone(),
                    _ => String::new(),
                })
                .collect();
            (
                Method::DELETE,
                format!(
                    "composite/sobjects?ids={}&allOrNone={all_or_none}",
                    ids.join(",")
                ),
                None,
            )
        }
    };
    let req = match body {
        Some(b) => Request {
            idempotent: method != Method::POST,
            ..Request::json(method, path, &b)
        },
        None => Request {
            method,
            ..Request::get(path)
        },
    };
    let resp = client.send(req).await?.json()?;
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
        .map(|r| {
            if r.get("success").and_then(|v| v.as_bool()) == Some(true) {
                Outcome {
                    id: r.get("id").and_then(|v| v.as_str()).map(String::from),
                    success: true,
                    created: r
                        .get("created")
                        .and_then(|v| v.as_bool())
                        .unwrap_or(plan.op == Op::Insert),
                    ..Outcome::default()
                }
            } else {
                let first = r
                    .get("errors")
                    .and_then(|e| e.as_array())
                    .and_then(|a| a.first())
                    .cloned()
                    .unwrap_or_default();
                Outcome {
                    id: r.get("id").and_then(|v| v.as_str()).map(String::from),
                    ..from_error_json(&first)
                }
            }
        })
        .collect())
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

/// One ingest job: create, upload, close, wait, fetch the three result files, join them back.
/// An upload whose fate is unknown is never repeated on the same job: the job is abandoned
/// (never closed, so never processed) and the data goes to a new job.
async fn bulk_job(
    client: &Client,
    plan: &WritePlan,
    csv: String,
    rows: Vec<(usize, u64)>,
) -> Result<RowOutcomes> {
    let data = Bytes::from(csv);
    let mut attempt = 0;
    let id = loop {
        attempt += 1;
        let mut spec = serde_json::json!({"object": plan.object, "operation": plan.op.bulk_name(), "contentType": "CSV", "lineEnding": "LF", "columnDelimiter": "COMMA"});
        if let Some(k) = &plan.external_id {
            spec["externalIdFieldName"] = serde_json::json!(k);
        }
        let job = match job_call(client, Method::POST, "jobs/ingest".into(), Some(spec)).await {
            Ok(j) => j,
            Err(e) if e.is_transient() && attempt < 4 => continue,
            Err(e) => return Err(e),
        };
        let id = job
            .get("id")
            .and_then(|v| v.as_str())
            .ok_or_else(|| Error::protocol("ingest job without id"))?
            .to_string();
        let put = Request {
            method: Method::PUT,
            body: Some((data.clone(), "text/csv")),
            idempotent: false,
            ..Request::get(format!("jobs/ingest/{id}/batches"))
        };
        match client.send(put).await {
            Ok(_) => break id,
            Err(e) if e.is_transient() && attempt < 4 => {
                let _ = job_call(
                    client,
                    Method::PATCH,
                    format!("jobs/ingest/{id}"),
                    Some(serde_json::json!({"state": "Aborted"})),
                )
                .await;
                continue;
            }
            Err(e) => return Err(e),
        }
    };
    // Closing twice is harmless: if the answer was lost, the job's state tells.
    for _ in 0..4 {
        match job_call(
            client,
            Method::PATCH,
            format!("jobs/ingest/{id}"),
            Some(serde_json::json!({"state": "UploadComplete"})),
        )
        .await
        {
            Ok(_) => break,
            Err(e) if e.is_transient() || e.status() == Some(409) => {
                let info = job_call(client, Method::GET, format!("jobs/ingest/{id}"), None).await?;
                if info.get("state").and_then(|s| s.as_str()) != Some("Open") {
                    break;
                }
            }
            Err(e) => return Err(e),
        }
    }
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
    let job_error = info
        .get("errorMessage")
        .and_then(|v| v.as_str())
        .map(String::from);
    let mut by_content: HashMap<u64, VecDeque<usize>> = HashMap::new();
    for (idx, hash) in &rows {
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
