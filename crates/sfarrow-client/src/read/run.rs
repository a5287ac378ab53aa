//! Running a read: the API choice, REST paging with the next page fetched while this one
//! decodes, Bulk API 2.0 jobs with result pages downloaded in parallel, all streamed as
//! RecordBatches through a small channel so memory stays bounded by a few pages.

use super::decode;
use super::options::{Api, ReadOptions};
use super::out::{self, Batches, Out};
use super::plan::{plan, ReadPlan};
use super::split;
use crate::client::recycle::Recycler;
use crate::client::{Client, Error, Request, Result};
use crate::schema::DescribeCache;
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use futures_util::StreamExt;
use std::sync::Arc;
use tokio::sync::{mpsc, OwnedSemaphorePermit};

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
        sfarrow_soql::urlenc::encode(soql)
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
            super::bulk::run(&client, &plan, &opts, &tx).await
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
