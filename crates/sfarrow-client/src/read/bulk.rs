//! Bulk API 2.0 query jobs: create one, wait for it, list its result pages, and download,
//! inflate and decode several pages at once, each checked against the row count it promises.
//! The job is deleted when the read ends, however it ends.

use super::decode;
use super::options::ReadOptions;
use super::out::Out;
use super::plan::ReadPlan;
use crate::client::recycle::Recycler;
use crate::client::retry::Attempts;
use crate::client::{Client, Error, Request, Result};
use arrow_array::RecordBatch;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;

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
/// only the count shows it. A short page is fetched again per the retry policy. Returns the
/// page's `Sforce-Locator` too, which names the next page (none after the last).
async fn bulk_page(
    client: &Arc<Client>,
    plan: &Arc<ReadPlan>,
    url: &str,
    bodies: &Arc<Recycler<Vec<u8>>>,
    cell_room: &Arc<Recycler<super::csv_cells::CellRoom>>,
) -> Result<(RecordBatch, Option<String>)> {
    let mut attempts = Attempts::new(*client.retry_policy());
    loop {
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
        let next = resp
            .headers
            .get("sforce-locator")
            .and_then(|v| v.to_str().ok())
            .filter(|l| *l != "null" && !l.is_empty())
            .map(String::from);
        let (plan, cell_room) = (plan.clone(), cell_room.clone());
        let batch = tokio::task::spawn_blocking(move || {
            decode::bulk_page(&plan, &resp.body, b',', &cell_room)
        })
        .await
        .map_err(|e| Error::protocol(e.to_string()))??;
        match promised {
            Some(n) if n != batch.num_rows() => {
                if attempts.again().await {
                    continue;
                }
                return Err(Error::transport(format!(
                    "a result page held {} rows where its Sforce-NumberOfRecords said {n} (cut short on the way?)",
                    batch.num_rows()
                )));
            }
            _ => return Ok((batch, next)),
        }
    }
}

pub(super) async fn run(
    client: &Arc<Client>,
    plan: &Arc<ReadPlan>,
    opts: &ReadOptions,
    tx: &Out,
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
        .filter(|id| sfarrow_soql::ids::normalize(id).is_some())
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
    // Each page in flight holds a body and its inflated form, and cells.
    let in_flight = opts.parallel.max(1);
    let bodies = Recycler::new(in_flight * 2 + 1);
    let cell_room = Recycler::new(in_flight);
    let size = opts.bulk_page_size;
    let mut stream = if client_major(client) >= 58 {
        let pages = result_pages(client, &id, size).await?;
        futures_util::stream::iter(pages.into_iter().map(move |url| {
            let (client, plan) = (client.clone(), plan.clone());
            let (bodies, cell_room) = (bodies.clone(), cell_room.clone());
            // Each page downloads, inflates and decodes in its own task, so pages use every core.
            async move {
                tokio::spawn(
                    async move { bulk_page(&client, &plan, &url, &bodies, &cell_room).await },
                )
                .await
                .map_err(|e| Error::transport(e.to_string()))?
                .map(|(batch, _)| batch)
            }
        }))
        .buffered(in_flight)
        .boxed()
    } else {
        // Before v58.0 only a page's locator names the next: pages come one after another,
        // each downloaded once.
        let (client, plan, id) = (client.clone(), plan.clone(), id.clone());
        futures_util::stream::unfold(Some(None::<String>), move |locator| {
            let (client, plan, id) = (client.clone(), plan.clone(), id.clone());
            let (bodies, cell_room) = (bodies.clone(), cell_room.clone());
            async move {
                let locator = locator?;
                let mut url = format!("jobs/query/{id}/results?maxRecords={size}");
                if let Some(l) = &locator {
                    url.push_str(&format!("&locator={}", sfarrow_soql::urlenc::encode(l)));
                }
                Some(
                    match bulk_page(&client, &plan, &url, &bodies, &cell_room).await {
                        Ok((batch, next)) => (Ok(batch), next.map(Some)),
                        Err(e) => (Err(e), None),
                    },
                )
            }
        })
        .boxed()
    };
    let mut rows = 0u64;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
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

fn client_major(client: &Client) -> u32 {
    client
        .api_version()
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

/// Every result page URL, from `resultPages` (v58.0+), so that pages download side by side.
async fn result_pages(client: &Client, id: &str, size: usize) -> Result<Vec<String>> {
    let mut urls = Vec::new();
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
    Ok(urls)
}
