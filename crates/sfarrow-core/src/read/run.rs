//! Running a read: the API choice, REST paging with the next page fetched while this one
//! decodes, Bulk API 2.0 jobs with result pages downloaded in parallel, all streamed as
//! RecordBatches through a small channel so memory stays bounded by a few pages.

use super::decode;
use super::describe::DescribeCache;
use super::out::{self, Batches, Out};
use super::plan::{plan, ReadPlan};
use super::split;
use crate::client::recycle::Recycler;
use crate::client::{Client, Error, Request, Result};
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, OwnedSemaphorePermit};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Auto,
    Rest,
    Bulk,
}

impl Api {
    pub fn parse(s: &str) -> Result<Api> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Api::Auto),
            "rest" => Ok(Api::Rest),
            "bulk" => Ok(Api::Bulk),
            _ => Err(Error::config(format!(
                "api must be \"auto\", \"rest\" or \"bulk\", got {s:?}"
            ))),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ReadOptions {
    pub api: Api,
    pub include_deleted: bool,
    /// Automatic choice: Bulk at or above this many records.
    pub bulk_threshold: u64,
    /// Rows per Bulk result page (`maxRecords`).
    pub bulk_page_size: usize,
    /// Bulk result pages downloaded at once.
    pub parallel: usize,
    /// Batches buffered between the downloader and the consumer.
    pub buffer: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            api: Api::Auto,
            include_deleted: false,
            bulk_threshold: 1_000_000,
            bulk_page_size: 25_000,
            parallel: 4,
            buffer: 2,
        }
    }
}

/// Which API ran and why: also written into the schema metadata (`sfarrow.api`).
#[derive(Debug, Clone)]
pub struct ReadInfo {
    pub api: &'static str,
    pub reason: String,
}

pub struct ReadStream {
    pub schema: SchemaRef,
    pub info: ReadInfo,
    pub batches: Batches,
    /// Dropping the stream stops the read at once, even while a Bulk job is still running on
    /// the server (the job is then aborted there).
    _task: AbortOnDropTask,
}

fn with_info(schema: &SchemaRef, info: &ReadInfo) -> SchemaRef {
    let mut md = schema.metadata().clone();
    md.insert("sfarrow.api".into(), info.api.into());
    md.insert("sfarrow.reason".into(), info.reason.clone());
    Arc::new(schema.as_ref().clone().with_metadata(md))
}

async fn choose(client: &Client, plan: &ReadPlan, opts: &ReadOptions) -> Result<ReadInfo> {
    let rest = |reason: String| {
        Ok(ReadInfo {
            api: "rest",
            reason,
        })
    };
    match (opts.api, plan.bulk_unsupported) {
        (Api::Bulk, Some(why)) => Err(Error::config(format!(
            "api=\"bulk\" cannot run this query: {why}; use api=\"rest\" or \"auto\""
        ))),
        (Api::Bulk, None) => Ok(ReadInfo {
            api: "bulk",
            reason: "api=\"bulk\" was asked for".into(),
        }),
        (Api::Rest, _) => rest("api=\"rest\" was asked for".into()),
        (Api::Auto, Some(why)) => rest(format!("{why}, so REST ran")),
        (Api::Auto, None) => {
            let counted = client
                .json(
                    reqwest::Method::GET,
                    &query_path(opts.include_deleted, &plan.count_soql),
                    None,
                )
                .await?;
            let mut n = counted
                .get("totalSize")
                .and_then(|v| v.as_u64())
                .unwrap_or(0);
            if let Some(l) = plan.limit {
                n = n.min(l);
            }
            if n >= opts.bulk_threshold {
                Ok(ReadInfo {
                    api: "bulk",
                    reason: format!("{n} records >= bulk threshold {}", opts.bulk_threshold),
                })
            } else {
                rest(format!(
                    "{n} records < bulk threshold {}",
                    opts.bulk_threshold
                ))
            }
        }
    }
}

fn query_path(all: bool, soql: &str) -> String {
    format!(
        "{}?q={}",
        if all { "queryAll" } else { "query" },
        crate::urlenc::encode(soql)
    )
}

/// Starts a read; batches arrive on the returned stream.
pub async fn start(
    client: Arc<Client>,
    cache: Arc<DescribeCache>,
    soql: &str,
    opts: ReadOptions,
) -> Result<ReadStream> {
    let plan = Arc::new(plan(&client, &cache, soql).await?);
    let info = choose(&client, &plan, &opts).await?;
    let schema = with_info(&plan.schema, &info);
    let plan = Arc::new(ReadPlan {
        schema: schema.clone(),
        ..clone_plan(&plan)
    });
    let (tx, rx) = out::channel(opts.buffer, true);
    let api = info.api;
    let version = client.api_version().to_string();
    let parts = if api == "rest" && !split::fits(&version, opts.include_deleted, &plan.rest_soql) {
        let mut parts = Vec::new();
        for soql in split::split_soql(&version, opts.include_deleted, &plan.rest_soql)? {
            parts.push(Arc::new(super::plan::plan(&client, &cache, &soql).await?));
        }
        Some(parts)
    } else {
        None
    };
    let task = tokio::spawn(async move {
        let result = if api == "bulk" {
            run_bulk(&client, &plan, &opts, &tx).await
        } else if let Some(parts) = parts {
            run_split(&client, &plan, parts, &opts, &tx).await
        } else {
            run_rest(&client, &plan, &opts, &tx, None).await
        };
        if let Err(e) = result {
            tx.fail(e).await;
        }
    });
    Ok(ReadStream {
        schema,
        info,
        batches: rx,
        _task: AbortOnDropTask(task),
    })
}

fn clone_plan(p: &ReadPlan) -> ReadPlan {
    ReadPlan {
        object: p.object.clone(),
        columns: p.columns.clone(),
        schema: p.schema.clone(),
        rest_soql: p.rest_soql.clone(),
        bulk_soql: p.bulk_soql.clone(),
        bulk_unsupported: p.bulk_unsupported,
        count_soql: p.count_soql.clone(),
        limit: p.limit,
        count_only: p.count_only,
        aggregate: p.aggregate,
        text_hints: Default::default(),
    }
}

type Sender = Out;

/// The `nextRecordsUrl` of a REST page, read from before `"records"` without parsing the page,
/// so the next download can start while this page decodes.
fn peek_next(body: &[u8]) -> Option<String> {
    let head = &body[..body.len().min(4096)];
    let marker = b"\"records\"";
    let records = head
        .windows(marker.len())
        .position(|w| w == marker)
        .unwrap_or(head.len());
    let head = &head[..records];
    let key = b"\"nextRecordsUrl\":\"";
    let start = head.windows(key.len()).position(|w| w == key)? + key.len();
    let end = head[start..].iter().position(|&c| c == b'"')? + start;
    String::from_utf8(head[start..end].to_vec()).ok()
}

async fn fetch_rest(
    client: Arc<Client>,
    path: String,
    recycle: &Arc<Recycler<Vec<u8>>>,
) -> Result<bytes::Bytes> {
    let req = Request {
        recycle: Some(recycle.clone()),
        ..Request::get(path)
    };
    Ok(client.send(req).await?.body)
}

/// A page's batch, and the `totalSize` it reports.
fn decode_rest_page(plan: &ReadPlan, body: &[u8]) -> Result<(RecordBatch, Option<u64>)> {
    let (batch, _, total) = super::rest_json::decode_page(plan, body)?;
    let total_rows = total.and_then(|t| u64::try_from(t).ok());
    if plan.count_only {
        return Ok((decode::count_batch(plan, total.unwrap_or(0))?, total_rows));
    }
    Ok((batch, total_rows))
}

/// Pages are fetched one after another (each names the next) as fast as they come, and
/// decoded in parallel, in order, as they arrive. The read holds one of the connection's cursor
/// slots until its last page is in (`slot`: one given by the caller, else one is waited for).
///
/// A cursor the org dropped (`INVALID_QUERY_LOCATOR`: another client opened an eleventh) before
/// the caller took any row is not the caller's problem: the query starts again, once, and
/// what the first pass queued is skipped (see `out`).
async fn run_rest(
    client: &Arc<Client>,
    plan: &Arc<ReadPlan>,
    opts: &ReadOptions,
    tx: &Sender,
    mut slot: Option<OwnedSemaphorePermit>,
) -> Result<()> {
    let mut restarted = false;
    loop {
        let permit = match slot.take() {
            Some(p) => p,
            None => client.cursor_slots(1).await?,
        };
        match rest_pages(client, plan, opts, tx, permit).await {
            Err(e) if !restarted && e.code() == Some("INVALID_QUERY_LOCATOR") && tx.restart() => {
                restarted = true;
            }
            other => return other,
        }
    }
}

/// One pass over a REST query's pages.
async fn rest_pages(
    client: &Arc<Client>,
    plan: &Arc<ReadPlan>,
    opts: &ReadOptions,
    tx: &Sender,
    permit: OwnedSemaphorePermit,
) -> Result<()> {
    let (body_tx, body_rx) = mpsc::channel::<Result<bytes::Bytes>>(opts.parallel.max(1) * 2);
    // Pages queued, pages decoding, and the one arriving.
    let bodies = Recycler::new(opts.parallel.max(1) * 3 + 2);
    let fetcher = {
        let client = client.clone();
        let plan = plan.clone();
        let first = query_path(opts.include_deleted, &plan.rest_soql);
        AbortOnDropTask(tokio::spawn(async move {
            let _slot = permit;
            let mut next = Some(first);
            while let Some(path) = next.take() {
                let body = fetch_rest(client.clone(), path, &bodies).await;
                if let Ok(b) = &body {
                    next = peek_next(b);
                    if next.is_none() && !plan.count_only {
                        // The URL may come after the records: parse the page to find it.
                        next = serde_json::from_slice::<serde_json::Value>(b)
                            .ok()
                            .and_then(|v| {
                                v.get("nextRecordsUrl")
                                    .and_then(|u| u.as_str())
                                    .map(String::from)
                            });
                    }
                }
                let failed = body.is_err();
                if body_tx.send(body).await.is_err() || failed {
                    return;
                }
            }
        }))
    };
    let pages = tokio_stream_from(body_rx).map(|body| {
        let plan = plan.clone();
        tokio::task::spawn_blocking(move || decode_rest_page(&plan, &body?))
    });
    let mut decoded = pages.buffered(opts.parallel.max(1));
    let mut rows = 0u64;
    let mut expected = None;
    while let Some(joined) = decoded.next().await {
        let (batch, total) = joined.map_err(|e| Error::protocol(e.to_string()))??;
        expected = expected.or(total);
        rows += batch.num_rows() as u64;
        if !tx.emit(batch).await {
            return Ok(());
        }
    }
    drop(fetcher);
    // `totalSize` counts the whole result: fewer rows means pages went missing on the way.
    match expected {
        Some(total) if !plan.count_only && !plan.aggregate && rows != total => {
            Err(Error::transport(format!(
                "the query said {total} records but its pages held {rows}"
            )))
        }
        _ => Ok(()),
    }
}

/// A wide query run as several narrower ones (see `split`), joined back by Id.
async fn run_split(
    client: &Arc<Client>,
    plan: &Arc<ReadPlan>,
    parts: Vec<Arc<ReadPlan>>,
    opts: &ReadOptions,
    tx: &Sender,
) -> Result<()> {
    let sources = split::column_sources(
        &plan.schema,
        &parts.iter().map(|p| p.as_ref()).collect::<Vec<_>>(),
    )?;
    let mut receivers = Vec::new();
    let mut tasks = Vec::new();
    // The parts advance together (joined by Id), so their cursor slots are taken at once: parts
    // of two reads that each held some slots while waiting for the rest would wait forever.
    let mut slots = client.cursor_slots(parts.len()).await?;
    for part in parts {
        let (part_tx, part_rx) = out::channel(opts.buffer, false);
        let (client, opts) = (client.clone(), opts.clone());
        let slot = slots.split(1);
        tasks.push(AbortOnDropTask(tokio::spawn(async move {
            if let Err(e) = run_rest(&client, &part, &opts, &part_tx, slot).await {
                part_tx.fail(e).await;
            }
        })));
        receivers.push(part_rx);
    }
    split::join(receivers, plan.schema.clone(), sources, tx).await
}

/// Stops a spawned task when its owner stops.
struct AbortOnDropTask(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDropTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Cleans up after a Bulk query job however the read ends: a job still running is aborted, and
/// every job is deleted (its results are kept seven days otherwise). Deleting a finished job is
/// what the org accepts; aborting one is refused.
struct JobGuard {
    client: Arc<Client>,
    job: String,
    finished: bool,
}

impl Drop for JobGuard {
    fn drop(&mut self) {
        let (client, job, finished) = (self.client.clone(), self.job.clone(), self.finished);
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move {
            if !finished {
                let body = serde_json::json!({"state": "Aborted"});
                let _ = client
                    .json(
                        reqwest::Method::PATCH,
                        &format!("jobs/query/{job}"),
                        Some(&body),
                    )
                    .await;
            }
            let _ = client
                .send(Request {
                    method: reqwest::Method::DELETE,
                    ..Request::get(format!("jobs/query/{job}"))
                })
                .await;
        });
    }
}

/// Fetches and decodes one result page, and checks it holds the rows its
/// `Sforce-NumberOfRecords` promises: a page cut at a line boundary is still valid CSV, so
/// only the count shows it. A short page is fetched again per the retry policy.
async fn bulk_page(
    client: &Arc<Client>,
    plan: &Arc<ReadPlan>,
    url: &str,
    bodies: &Arc<Recycler<Vec<u8>>>,
    cell_room: &Arc<Recycler<super::csv_cells::CellRoom>>,
) -> Result<RecordBatch> {
    let policy = *client.retry_policy();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let resp = client
            .send(Request {
                accept: "text/csv",
                recycle: Some(bodies.clone()),
                ..Request::get(url)
            })
            .await?;
        let promised = resp
            .headers
            .get("sforce-numberofrecords")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<usize>().ok());
        let (plan, cell_room) = (plan.clone(), cell_room.clone());
        let batch = tokio::task::spawn_blocking(move || {
            decode::bulk_page(&plan, &resp.body, b',', &cell_room)
        })
        .await
        .map_err(|e| Error::protocol(e.to_string()))??;
        match promised {
            Some(n) if n != batch.num_rows() => {
                if attempt < policy.attempts {
                    tokio::time::sleep(policy.delay(attempt)).await;
                    continue;
                }
                return Err(Error::transport(format!(
                    "a result page held {} rows where its Sforce-NumberOfRecords said {n} (cut short on the way?)",
                    batch.num_rows()
                )));
            }
            _ => return Ok(batch),
        }
    }
}

async fn run_bulk(
    client: &Arc<Client>,
    plan: &Arc<ReadPlan>,
    opts: &ReadOptions,
    tx: &Sender,
) -> Result<()> {
    let soql = plan
        .bulk_soql
        .clone()
        .ok_or_else(|| Error::config("this query cannot run on Bulk API 2.0"))?;
    let body = serde_json::json!({
        "operation": if opts.include_deleted { "queryAll" } else { "query" },
        "query": soql,
    });
    // Creating a query job twice only makes a job nobody reads: safe to send again when the
    // answer was lost.
    let created = Request {
        idempotent: true,
        ..Request::json(reqwest::Method::POST, "jobs/query", &body)
    };
    let job = client.send(created).await?.json()?;
    let id = job
        .get("id")
        .and_then(|v| v.as_str())
        .filter(|id| crate::ids::normalize(id).is_some())
        .ok_or_else(|| Error::protocol("the query job came back without a valid id"))?
        .to_string();
    let mut guard = JobGuard {
        client: client.clone(),
        job: id.clone(),
        finished: false,
    };
    let mut delay = Duration::from_millis(50);
    let processed = loop {
        let info = client
            .json(reqwest::Method::GET, &format!("jobs/query/{id}"), None)
            .await?;
        match info.get("state").and_then(|v| v.as_str()).unwrap_or("") {
            "JobComplete" => {
                guard.finished = true;
                break info.get("numberRecordsProcessed").and_then(|n| n.as_u64());
            }
            "Failed" | "Aborted" => {
                guard.finished = true;
                let message = info
                    .get("errorMessage")
                    .and_then(|v| v.as_str())
                    .unwrap_or("the job failed without a message");
                return Err(Error::Api {
                    status: 200,
                    code: "BULK_JOB_FAILED".into(),
                    message: format!("Bulk query job {id}: {message}"),
                    fields: Vec::new(),
                });
            }
            _ => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    };
    let pages = page_urls(client, &id, opts.bulk_page_size).await?;
    // Each page in flight holds a body and its inflated form, and cells.
    let in_flight = opts.parallel.max(1);
    let bodies = Recycler::new(in_flight * 2 + 1);
    let cell_room = Recycler::new(in_flight);
    let mut stream = futures_util::stream::iter(pages.into_iter().map(|url| {
        let (client, plan) = (client.clone(), plan.clone());
        let (bodies, cell_room) = (bodies.clone(), cell_room.clone());
        // Each page downloads, inflates and decodes in its own task, so pages use every core.
        tokio::spawn(async move { bulk_page(&client, &plan, &url, &bodies, &cell_room).await })
    }))
    .buffered(opts.parallel.max(1));
    let mut rows = 0u64;
    while let Some(joined) = stream.next().await {
        let batch = joined.map_err(|e| Error::transport(e.to_string()))??;
        rows += batch.num_rows() as u64;
        if !tx.emit(batch).await {
            return Ok(());
        }
    }
    // The job's own count: a page that went missing altogether shows here.
    if let Some(n) = processed.filter(|n| *n != rows) {
        return Err(Error::transport(format!(
            "Bulk query job {id} processed {n} records but its result pages held {rows}"
        )));
    }
    drop(guard);
    Ok(())
}

/// Every result page URL: `resultPages` on v58.0+, else following `Sforce-Locator`s.
async fn page_urls(client: &Client, id: &str, size: usize) -> Result<Vec<String>> {
    let major: u32 = client
        .api_version()
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let mut urls = Vec::new();
    if major >= 58 {
        let mut next = Some(format!("jobs/query/{id}/resultPages?maxRecords={size}"));
        while let Some(path) = next.take() {
            let v = client.json(reqwest::Method::GET, &path, None).await?;
            for p in v
                .get("resultPages")
                .and_then(|r| r.as_array())
                .map(Vec::as_slice)
                .unwrap_or(&[])
            {
                if let Some(u) = p.get("resultUrl").and_then(|u| u.as_str()) {
                    urls.push(u.to_string());
                }
            }
            let done = v.get("done").and_then(|d| d.as_bool()).unwrap_or(true);
            // The docs spell the continuation both ways.
            let cont = v
                .get("nextRecordsUrl")
                .or_else(|| v.get("nextRecordUrl"))
                .and_then(|u| u.as_str());
            if !done {
                next = cont.map(String::from);
            }
        }
        return Ok(urls);
    }
    // Before v58.0 pages are only reachable one after another: learn each locator by fetching.
    let mut locator: Option<String> = None;
    loop {
        let mut path = format!("jobs/query/{id}/results?maxRecords={size}");
        if let Some(l) = &locator {
            path.push_str(&format!("&locator={}", crate::urlenc::encode(l)));
        }
        let resp = client
            .send(Request {
                accept: "text/csv",
                ..Request::get(path.clone())
            })
            .await?;
        urls.push(path);
        match resp
            .headers
            .get("sforce-locator")
            .and_then(|v| v.to_str().ok())
        {
            Some(l) if l != "null" && !l.is_empty() => locator = Some(l.to_string()),
            _ => return Ok(urls),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::peek_next;

    #[test]
    fn next_url_before_records_only() {
        assert_eq!(
            peek_next(br#"{"totalSize":3,"done":false,"nextRecordsUrl":"/services/data/v58.0/query/01g-2000","records":[]}"#).as_deref(),
            Some("/services/data/v58.0/query/01g-2000")
        );
        assert_eq!(
            peek_next(br#"{"totalSize":3,"done":true,"records":[{"C":{"nextRecordsUrl":"/x"}}]}"#),
            None
        );
    }
}
