//! A subscription (docs/wire-notes.md §10.3, §10.4): credit kept topped up, each response's
//! events decoded into one Arrow batch per schema, and the stream opened again from the last
//! replay id when it drops, with the one backoff policy, whose attempts are whole again once a
//! call is live (a response, a keepalive included, came); a refused token is renewed through the
//! session's one renewal path, a few times at most in a row and with backoff (`Renewals`). The
//! position handed to the caller only moves past events the caller has taken, so resuming from
//! it never skips or repeats one.

use crate::client::retry::Attempts;
use crate::client::{Error, Result};
use crate::events::channel::PubSub;
use crate::events::decode::EventBatchBuilder;
use crate::events::status::{classify, renew_or_fail, to_error, Kind};
use arrow_array::RecordBatch;
use parking_lot::Mutex;
use sfarrow_pubsub_proto::{FetchRequest, FetchResponse, ReplayPreset};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The most events a subscription may have requested and not received (docs/wire-notes.md
/// §10.9).
pub const MAX_CREDIT: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    Latest,
    Earliest,
    /// Resume after this event.
    After(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnInvalidReplay {
    Raise,
    /// Start again from the earliest retained event, and say so (`fell_back`).
    Earliest,
}

#[derive(Debug, Clone)]
pub struct SubscribeOptions {
    pub topic: String,
    pub replay: Replay,
    /// Events requested at a time, at most 100; a batch holds at most this many.
    pub batch_size: usize,
    pub on_invalid_replay: OnInvalidReplay,
    /// End after this many events.
    pub max_events: Option<u64>,
    /// End when no event arrives for this long.
    pub idle_timeout: Option<Duration>,
}

impl SubscribeOptions {
    /// The options from their plain spellings (what the Python binding hands over), every
    /// argument checked here, once: `replay` is `latest`, `earliest` or `custom` (with the id
    /// to resume after), `on_invalid_replay` is `raise` or `earliest`, `idle_timeout` seconds.
    #[allow(clippy::too_many_arguments)]
    pub fn parse(
        topic: &str,
        replay: &str,
        replay_id: Option<Vec<u8>>,
        batch_size: i64,
        on_invalid_replay: &str,
        max_events: Option<i64>,
        idle_timeout: Option<f64>,
    ) -> Result<SubscribeOptions> {
        let replay = match (replay, replay_id) {
            ("latest", None) => Replay::Latest,
            ("earliest", None) => Replay::Earliest,
            ("custom", Some(id)) => Replay::After(id),
            _ => return Err(Error::config(
                "replay is \"latest\", \"earliest\" or the bytes of a replay id to resume after",
            )),
        };
        let on_invalid_replay = match on_invalid_replay {
            "raise" => OnInvalidReplay::Raise,
            "earliest" => OnInvalidReplay::Earliest,
            other => {
                return Err(Error::config(format!(
                    "on_invalid_replay is \"raise\" or \"earliest\", got {other:?}"
                )))
            }
        };
        let idle_timeout = idle_timeout
            .map(|s| {
                Duration::try_from_secs_f64(s)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| {
                        Error::config("idle_timeout must be a positive number of seconds")
                    })
            })
            .transpose()?;
        let max_events = match max_events {
            Some(n) if n < 1 => {
                return Err(Error::config(format!(
                    "max_events must be at least 1, got {n}"
                )))
            }
            n => n.map(|n| n as u64),
        };
        let options = SubscribeOptions {
            topic: topic.to_string(),
            replay,
            batch_size: usize::try_from(batch_size).unwrap_or(0),
            on_invalid_replay,
            max_events,
            idle_timeout,
        };
        options.check(batch_size)?;
        Ok(options)
    }

    /// The checks every subscription passes, however its options were made.
    fn check(&self, asked: i64) -> Result<()> {
        if self.topic.trim().is_empty() {
            return Err(Error::config(
                "subscribe needs a topic, like \"/data/AccountChangeEvent\" or \"/event/Order__e\"",
            ));
        }
        if self.batch_size == 0 || self.batch_size > MAX_CREDIT {
            return Err(Error::config(format!(
                "batch_size is between 1 and {MAX_CREDIT} (the Pub/Sub API's credit limit), got {asked}"
            )));
        }
        if let Replay::After(id) = &self.replay {
            if id.is_empty() {
                return Err(Error::config(
                    "the replay id to resume from is empty: pass \"latest\", \"earliest\" or the bytes saved from stream.replay_id",
                ));
            }
        }
        if self.max_events == Some(0) {
            return Err(Error::config("max_events must be at least 1, got 0"));
        }
        Ok(())
    }
}

enum Item {
    Batch(RecordBatch, Vec<u8>),
    /// The service's position on an idle stream: every earlier event was sent before it.
    Position(Vec<u8>),
}

/// What a subscription shares with its reader.
#[derive(Default)]
pub struct Progress {
    checkpoint: Mutex<Vec<u8>>,
    fell_back: AtomicBool,
    reconnects: AtomicU64,
}

impl Progress {
    /// The replay id to resume from: the last event handed out, or a keepalive's position.
    pub fn replay_id(&self) -> Vec<u8> {
        self.checkpoint.lock().clone()
    }

    pub fn fell_back(&self) -> bool {
        self.fell_back.load(Ordering::Relaxed)
    }

    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }
}

pub struct EventStream {
    rx: mpsc::Receiver<Result<Item>>,
    /// Fires once a call is open, or the subscription has ended (failed).
    ready: Option<tokio::sync::oneshot::Receiver<()>>,
    progress: Arc<Progress>,
    task: tokio::task::JoinHandle<()>,
    idle_timeout: Option<Duration>,
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl EventStream {
    pub fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }

    /// Waits until the service has started the subscription (a first call that failed is
    /// retried first), so that with `Replay::Latest` a write made after this returns is
    /// delivered. A subscription that could not start shows its error at `next`.
    pub async fn ready(&mut self) {
        if let Some(rx) = self.ready.take() {
            let _ = rx.await;
        }
    }

    /// The next batch of events; `None` when the subscription has ended.
    pub async fn next(&mut self) -> Option<Result<RecordBatch>> {
        // Idle means no event: keepalives do not count.
        let deadline = self.idle_timeout.map(|t| tokio::time::Instant::now() + t);
        loop {
            let item = match deadline {
                Some(d) => match tokio::time::timeout_at(d, self.rx.recv()).await {
                    Ok(i) => i,
                    Err(_) => return None,
                },
                None => self.rx.recv().await,
            };
            match item? {
                Ok(Item::Batch(b, last)) => {
                    *self.progress.checkpoint.lock() = last;
                    return Some(Ok(b));
                }
                Ok(Item::Position(p)) => *self.progress.checkpoint.lock() = p,
                Err(e) => return Some(Err(e)),
            }
        }
    }

    pub fn close(&mut self) {
        self.task.abort();
        self.rx.close();
    }
}

/// Starts a subscription; the first call is made by the returned stream's task.
pub fn subscribe(pubsub: Arc<PubSub>, options: SubscribeOptions) -> Result<EventStream> {
    options.check(options.batch_size as i64)?;
    let progress = Arc::new(Progress::default());
    if let Replay::After(id) = &options.replay {
        *progress.checkpoint.lock() = id.clone();
    }
    let (tx, rx) = mpsc::channel(2);
    let (ready_tx, ready) = tokio::sync::oneshot::channel();
    let idle_timeout = options.idle_timeout;
    let run = Run {
        pubsub,
        options,
        progress: progress.clone(),
        tx,
        ready: Mutex::new(Some(ready_tx)),
    };
    let task = tokio::spawn(async move {
        if let Err(e) = run.run().await {
            let _ = run.tx.send(Err(e)).await;
        }
    });
    Ok(EventStream {
        rx,
        ready: Some(ready),
        progress,
        task,
        idle_timeout,
    })
}

struct Run {
    pubsub: Arc<PubSub>,
    options: SubscribeOptions,
    progress: Arc<Progress>,
    tx: mpsc::Sender<Result<Item>>,
    ready: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

/// How one call ended.
enum Ended {
    /// The reader went away or the event count is reached.
    Done,
    /// The call failed or ended: open another from the position.
    Again(tonic::Status, u64),
    Clean,
}

impl Run {
    async fn run(&self) -> Result<()> {
        let mut replay = self.options.replay.clone();
        let mut delivered = 0u64;
        let mut attempts = Attempts::new(*self.pubsub.client.retry_policy());
        loop {
            let (ended, live) = self.call(&mut replay, &mut delivered).await?;
            if live {
                attempts.succeeded();
            }
            match ended {
                Ended::Done => return Ok(()),
                Ended::Clean => {}
                Ended::Again(status, generation) => match classify(&status) {
                    Kind::Unauthenticated => {
                        renew_or_fail(&mut attempts, &self.pubsub.client, generation, &status)
                            .await?;
                        continue;
                    }
                    Kind::BadReplay
                        if self.options.on_invalid_replay == OnInvalidReplay::Earliest
                            && !self.progress.fell_back() =>
                    {
                        self.progress.fell_back.store(true, Ordering::Relaxed);
                        replay = Replay::Earliest;
                        continue;
                    }
                    Kind::Retry => {}
                    _ => return Err(to_error(&status)),
                },
            }
            let Some(pause) = attempts.failed() else {
                return Err(Error::transport(format!(
                    "the subscription to {} kept failing ({} attempts in a row without an answer)",
                    self.options.topic,
                    attempts.failures()
                )));
            };
            self.progress.reconnects.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(pause).await;
        }
    }

    fn fetch(&self, replay: &Replay, n: usize) -> FetchRequest {
        let (preset, id) = match replay {
            Replay::Latest => (ReplayPreset::Latest, Vec::new()),
            Replay::Earliest => (ReplayPreset::Earliest, Vec::new()),
            Replay::After(id) => (ReplayPreset::Custom, id.clone()),
        };
        FetchRequest {
            topic_name: self.options.topic.clone(),
            replay_preset: preset as i32,
            replay_id: id,
            num_requested: n as i32,
            auth_refresh: String::new(),
        }
    }

    /// One Subscribe call, until it ends; `replay` follows the events so a new call resumes.
    /// True with the end when the call was live: a response (events or a keepalive) came.
    async fn call(&self, replay: &mut Replay, delivered: &mut u64) -> Result<(Ended, bool)> {
        let batch = self.options.batch_size;
        let (requests, inbound) = mpsc::channel::<FetchRequest>(4);
        let _ = requests.send(self.fetch(replay, batch)).await;
        let (req, generation) = self
            .pubsub
            .request(tokio_stream::wrappers::ReceiverStream::new(inbound))
            .await?;
        let mut stub = self.pubsub.stub().await?;
        // The answer's headers, within the request timeout: the call is open.
        let mut stream = match self.pubsub.timed(stub.subscribe(req)).await {
            Ok(r) => r.into_inner(),
            Err(s) => return Ok((Ended::Again(s, generation), false)),
        };
        // Live: a write made from now on is delivered.
        if let Some(ready) = self.ready.lock().take() {
            let _ = ready.send(());
        }
        let mut live = false;
        loop {
            let response = match stream.message().await {
                Ok(Some(r)) => r,
                Ok(None) => return Ok((Ended::Clean, live)),
                Err(s) => return Ok((Ended::Again(s, generation), live)),
            };
            live = true;
            let outstanding = usize::try_from(response.pending_num_requested).unwrap_or(0);
            if response.events.is_empty() {
                if response.latest_replay_id.len() == 8 {
                    *replay = Replay::After(response.latest_replay_id.clone());
                    if self
                        .tx
                        .send(Ok(Item::Position(response.latest_replay_id)))
                        .await
                        .is_err()
                    {
                        return Ok((Ended::Done, live));
                    }
                }
            } else if !self.deliver(response, replay, delivered).await? {
                return Ok((Ended::Done, live));
            }
            // Top up once half the credit is used, so events keep flowing while the reader works.
            if outstanding <= batch / 2 {
                let _ = requests.send(self.fetch(replay, batch - outstanding)).await;
            }
        }
    }

    /// Decodes one response's events into batches (one per run of the same schema) and hands
    /// them on; false when the subscription is over.
    async fn deliver(
        &self,
        r: FetchResponse,
        replay: &mut Replay,
        delivered: &mut u64,
    ) -> Result<bool> {
        let mut events = r.events;
        if let Some(max) = self.options.max_events {
            let left = max.saturating_sub(*delivered) as usize;
            events.truncate(left);
        }
        let mut i = 0;
        while i < events.len() {
            let schema_id = events[i]
                .event
                .as_ref()
                .map(|e| e.schema_id.clone())
                .unwrap_or_default();
            let schema = self.pubsub.schema(&schema_id).await?;
            let mut b = EventBatchBuilder::new(schema, events.len() - i);
            let mut last = Vec::new();
            while i < events.len() {
                let Some(e) = events[i].event.as_ref() else {
                    return Err(Error::protocol("a delivered event has no payload"));
                };
                if e.schema_id != schema_id {
                    break;
                }
                b.append(&events[i].replay_id, &e.id, &e.payload)?;
                last = events[i].replay_id.clone();
                i += 1;
            }
            *delivered += b.len() as u64;
            let batch = b.finish()?;
            *replay = Replay::After(last.clone());
            if self.tx.send(Ok(Item::Batch(batch, last))).await.is_err() {
                return Ok(false);
            }
        }
        Ok(self.options.max_events.is_none_or(|m| *delivered < m))
    }
}
