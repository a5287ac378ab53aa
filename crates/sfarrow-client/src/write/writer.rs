//! Writing a stream of Arrow batches: sObject Collections below the Bulk threshold (200 records
//! a call, several calls in flight), Bulk API 2.0 ingest jobs at or above it, and every outcome
//! joined back to its input row.
//!
//! Every input row gets exactly one outcome, whatever happens: a value that cannot be written
//! fails its row before anything is sent (`INVALID_INPUT`, `MALFORMED_ID`); an error that stops
//! the whole write (the session, the API allowance) leaves the rows not yet sent `NOT_SENT`;
//! an interrupted write marks the rows in flight `UNKNOWN_OUTCOME`.

use super::bulk::{self, csv_line, row_hash};
use super::encode::{cell, normalize, Cell, Op, Target, WritePlan};
use super::outcome::{self, Outcome, Sent, INVALID_INPUT};
use super::rest::{self, CHUNK};
use crate::client::Api;
use crate::client::{Client, Error, Result};
use arrow_array::{ArrayRef, RecordBatch};
use std::collections::VecDeque;
use std::sync::Arc;
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

impl WriteOptions {
    /// The operation and options a caller names, checked: a hard delete runs on Bulk API 2.0
    /// (the only API that has one), so `api="rest"` with it is refused.
    pub fn for_operation(
        operation: &str,
        api: &str,
        all_or_none: bool,
        bulk_threshold: usize,
        parallel: usize,
    ) -> Result<(Op, WriteOptions)> {
        let op = Op::parse(operation)?;
        let api = Api::parse(api)?;
        if op == Op::HardDelete && api == Api::Rest {
            return Err(Error::config(
                "hard delete exists only in Bulk API 2.0; use api=\"bulk\" or \"auto\"",
            ));
        }
        let opts = WriteOptions {
            api: if op == Op::HardDelete { Api::Bulk } else { api },
            all_or_none,
            bulk_threshold,
            parallel: parallel.max(1),
            ..WriteOptions::default()
        };
        Ok((op, opts))
    }
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            api: Api::Auto,
            bulk_threshold: crate::defaults::WRITE_BULK_THRESHOLD,
            all_or_none: false,
            parallel: crate::defaults::WRITE_PARALLEL,
            max_job_bytes: crate::defaults::MAX_JOB_BYTES,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Rest,
    Bulk,
}

/// A call or job under way, and the input rows it carries.
struct Task {
    rows: Vec<usize>,
    bulk: bool,
    handle: JoinHandle<Sent>,
}

/// The result table, and the error that stopped the write early (if one did).
pub struct Finished {
    pub result: RecordBatch,
    pub error: Option<Error>,
}

pub struct Writer {
    client: Arc<Client>,
    plan: Arc<WritePlan>,
    opts: WriteOptions,
    mode: Option<Mode>,
    /// Read before the API was chosen.
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    outcomes: Vec<Option<Outcome>>,
    /// REST rows waiting for a full call.
    chunk: Vec<(usize, Vec<Cell>)>,
    inflight: VecDeque<Task>,
    csv: String,
    /// Input row and the hash of its cells, to find it again in the job's result files.
    csv_rows: Vec<(usize, u64)>,
    fatal: Option<Error>,
    /// Rows handed to `push`, counted before they are looked at: an interrupted push leaves a
    /// batch part way through, and its tail still needs outcomes.
    taken: usize,
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
            fatal: None,
            taken: 0,
        }
    }

    /// Which API the write used (or will use).
    pub fn api(&self) -> &'static str {
        match self.mode {
            Some(Mode::Bulk) => "bulk",
            _ => "rest",
        }
    }

    /// Rows taken so far.
    pub fn rows(&self) -> usize {
        self.outcomes.len() + self.pending_rows
    }

    /// Takes a batch. An error means the write cannot go on (the caller stops reading input and
    /// calls [`Writer::finish`] for the result table).
    pub async fn push(&mut self, batch: RecordBatch) -> Result<()> {
        self.taken += batch.num_rows();
        self.pending_rows += batch.num_rows();
        self.pending.push(batch);
        if self.mode.is_none() && self.pending_rows >= self.opts.bulk_threshold {
            self.mode = Some(Mode::Bulk);
        }
        if self.mode.is_some() {
            self.drain().await?;
        }
        match &self.fatal {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Checks every value of the row; the first that cannot be written fails the row.
    fn row_cells(&self, cols: &[ArrayRef], row: usize) -> std::result::Result<Vec<Cell>, Outcome> {
        let mut cells = Vec::with_capacity(cols.len());
        for ((name, target), col) in self.plan.columns.iter().zip(cols) {
            let c = cell(col, row)
                .map_err(|why| Outcome::failed(INVALID_INPUT, format!("{name}: {why}")))?;
            let deleting = matches!(self.plan.op, Op::Delete | Op::HardDelete);
            if matches!(target, Target::Id) && (deleting || self.plan.op == Op::Update) {
                // Ids go into URLs (a delete's `?ids=`): only a real id gets that far.
                let id = match &c {
                    Cell::Text(s) => sfarrow_soql::ids::normalize(s),
                    _ => None,
                };
                let Some(id) = id else {
                    let shown = match &c {
                        Cell::Text(s) => format!("{:?}", s.chars().take(40).collect::<String>()),
                        Cell::Null => "null".into(),
                        _ => "a value that is not text".into(),
                    };
                    return Err(Outcome::failed(
                        "MALFORMED_ID",
                        format!(
                            "{name}: {shown} is not a Salesforce id (15 or 18 letters and digits)"
                        ),
                    ));
                };
                cells.push(Cell::Text(id));
                continue;
            }
            cells.push(c);
        }
        Ok(cells)
    }

    async fn drain(&mut self) -> Result<()> {
        let mode = self.mode.unwrap_or(Mode::Rest);
        if mode == Mode::Rest && self.opts.all_or_none && self.rows() > CHUNK {
            let e = Error::config("all_or_none can make at most 200 rows atomic (one sObject Collections call); write fewer rows or drop all_or_none");
            self.fatal.get_or_insert(e.clone());
        }
        for batch in std::mem::take(&mut self.pending) {
            self.pending_rows -= batch.num_rows();
            let cols = match normalize(&batch) {
                Ok(c) => c,
                Err(e) => {
                    self.fatal.get_or_insert(e);
                    Vec::new()
                }
            };
            for r in 0..batch.num_rows() {
                let idx = self.outcomes.len();
                self.outcomes.push(None);
                if let Some(e) = &self.fatal {
                    self.outcomes[idx] = Some(Outcome::not_sent(e));
                    continue;
                }
                let cells = match self.row_cells(&cols, r) {
                    Ok(c) => c,
                    Err(failed) => {
                        self.outcomes[idx] = Some(failed);
                        continue;
                    }
                };
                // `#N/A` is Bulk's null and its CSV has no escape for it: a row holding that
                // text goes through sObject Collections, where text is text.
                let na_text = cells
                    .iter()
                    .any(|c| matches!(c, Cell::Text(s) if s == "#N/A"));
                if mode == Mode::Rest || na_text && self.plan.op != Op::HardDelete {
                    self.chunk.push((idx, cells));
                    if self.chunk.len() == CHUNK && !self.opts.all_or_none {
                        self.send_chunk().await;
                    }
                    continue;
                }
                let texts: Vec<String> = cells.iter().map(Cell::csv).collect();
                if self.csv.is_empty() {
                    self.csv = csv_line(self.plan.columns.iter().map(|(n, _)| n.as_str()));
                }
                self.csv
                    .push_str(&csv_line(texts.iter().map(String::as_str)));
                self.csv_rows
                    .push((idx, row_hash(texts.iter().map(String::as_str))));
                if self.csv.len() >= self.opts.max_job_bytes {
                    self.run_job().await;
                }
            }
        }
        Ok(())
    }

    /// Waits for the oldest call or job and records its outcomes. The task stays queued while
    /// it is awaited, so a caller that gives up half way loses nothing.
    async fn collect_front(&mut self) {
        let Some(task) = self.inflight.front_mut() else {
            return;
        };
        let joined = (&mut task.handle).await;
        let Some(task) = self.inflight.pop_front() else {
            return;
        };
        match joined {
            Ok((outcomes, fatal)) => {
                for (i, o) in outcomes {
                    self.outcomes[i] = Some(o);
                }
                if let Some(e) = fatal {
                    self.fatal.get_or_insert(e);
                }
            }
            Err(e) => {
                for i in task.rows {
                    self.outcomes[i] =
                        Some(Outcome::unknown(format!("the write task failed: {e}")));
                }
            }
        }
    }

    async fn send_chunk(&mut self) {
        let rows = std::mem::take(&mut self.chunk);
        if rows.is_empty() {
            return;
        }
        while self.inflight.len() >= self.opts.parallel.max(1) {
            self.collect_front().await;
        }
        if let Some(e) = &self.fatal {
            for (i, _) in rows {
                self.outcomes[i] = Some(Outcome::not_sent(e));
            }
            return;
        }
        let (client, plan, all_or_none) = (
            self.client.clone(),
            self.plan.clone(),
            self.opts.all_or_none,
        );
        let ids = rows.iter().map(|(i, _)| *i).collect();
        let handle =
            tokio::spawn(async move { rest::chunk(&client, &plan, rows, all_or_none).await });
        self.inflight.push_back(Task {
            rows: ids,
            bulk: false,
            handle,
        });
    }

    /// Starts a job for the CSV gathered so far; one job runs at a time (each holds up to
    /// `max_job_bytes` of CSV).
    async fn run_job(&mut self) {
        let csv = std::mem::take(&mut self.csv);
        let rows = std::mem::take(&mut self.csv_rows);
        if rows.is_empty() {
            return;
        }
        while self.inflight.iter().any(|t| t.bulk) {
            self.collect_front().await;
        }
        if let Some(e) = &self.fatal {
            for (i, _) in rows {
                self.outcomes[i] = Some(Outcome::not_sent(e));
            }
            return;
        }
        let (client, plan) = (self.client.clone(), self.plan.clone());
        let ids = rows.iter().map(|(i, _)| *i).collect();
        let handle = tokio::spawn(async move { bulk::job(&client, &plan, csv, rows).await });
        self.inflight.push_back(Task {
            rows: ids,
            bulk: true,
            handle,
        });
    }

    /// Sends what is left, waits for everything in flight, and returns the result table. The
    /// writer is spent afterwards.
    pub async fn finish(&mut self) -> Finished {
        if self.mode.is_none() {
            self.mode = Some(Mode::Rest);
        }
        let _ = self.drain().await;
        if self.opts.all_or_none && self.outcomes.iter().any(Option::is_some) {
            // One row already failed: nothing of an atomic write may be sent.
            for (i, _) in std::mem::take(&mut self.chunk) {
                self.outcomes[i] = Some(Outcome::not_sent(
                    "all_or_none is set and another row cannot be written",
                ));
            }
        }
        self.run_job().await;
        self.send_chunk().await;
        self.settle().await
    }

    /// Stops taking rows (the input failed): what was read but not sent stays unsent, what is
    /// in flight is waited for.
    pub async fn stop(&mut self, why: &str) -> Finished {
        self.mark_unsent(why);
        self.settle().await
    }

    /// Stops at once (Ctrl-C): calls and jobs in flight are dropped, their rows left
    /// `UNKNOWN_OUTCOME`; nothing else is sent.
    pub fn interrupt(&mut self) -> RecordBatch {
        for task in std::mem::take(&mut self.inflight) {
            task.handle.abort();
            for i in task.rows {
                self.outcomes[i] = Some(Outcome::unknown(
                    "the write was interrupted while this row was being sent",
                ));
            }
        }
        self.mark_unsent("the write was interrupted");
        while self.outcomes.len() < self.taken {
            self.outcomes
                .push(Some(Outcome::not_sent("the write was interrupted")));
        }
        let filled = std::mem::take(&mut self.outcomes)
            .into_iter()
            .map(|o| Some(o.unwrap_or_else(|| Outcome::unknown("the write was interrupted"))))
            .collect();
        outcome::table(filled).unwrap_or_else(|_| RecordBatch::new_empty(outcome::schema()))
    }

    fn mark_unsent(&mut self, why: &str) {
        for (i, _) in std::mem::take(&mut self.chunk) {
            self.outcomes[i] = Some(Outcome::not_sent(why));
        }
        for (i, _) in std::mem::take(&mut self.csv_rows) {
            self.outcomes[i] = Some(Outcome::not_sent(why));
        }
        self.csv.clear();
        for b in std::mem::take(&mut self.pending) {
            for _ in 0..b.num_rows() {
                self.outcomes.push(Some(Outcome::not_sent(why)));
            }
        }
        self.pending_rows = 0;
    }

    async fn settle(&mut self) -> Finished {
        while !self.inflight.is_empty() {
            self.collect_front().await;
        }
        for o in self.outcomes.iter_mut().filter(|o| o.is_none()) {
            *o = Some(Outcome::failed(
                "NO_RESULT",
                "Salesforce returned no result for this row; it may or may not have been written",
            ));
        }
        let result = outcome::table(std::mem::take(&mut self.outcomes))
            .unwrap_or_else(|_| RecordBatch::new_empty(outcome::schema()));
        Finished {
            result,
            error: self.fatal.take(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_and_apis_are_checked_together() {
        let (op, o) = WriteOptions::for_operation("hardDelete", "auto", false, 1000, 0).unwrap();
        assert_eq!((op, o.api, o.parallel), (Op::HardDelete, Api::Bulk, 1));
        assert!(WriteOptions::for_operation("hardDelete", "rest", false, 1000, 4).is_err());
        assert!(WriteOptions::for_operation("merge", "auto", false, 1000, 4).is_err());
        assert!(WriteOptions::for_operation("insert", "soap", false, 1000, 4).is_err());
        let (op, o) = WriteOptions::for_operation("upsert", "rest", true, 10, 2).unwrap();
        assert_eq!((op, o.api, o.all_or_none), (Op::Upsert, Api::Rest, true));
    }
}
