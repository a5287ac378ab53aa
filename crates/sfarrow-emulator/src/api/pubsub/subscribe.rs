//! Subscribe (docs/wire-notes.md §10.3, §10.4): events go out only against credit, which
//! requests add to and which is capped at 100; the replay preset of the first request says
//! where to start; an empty response with the latest replay id keeps an idle stream alive;
//! with no credit left, a stream that gets no new request within the idle time ends.

use crate::api::pubsub::bus::{replay_bytes, Topic};
use crate::api::pubsub::faults::{Connection, Kind};
use crate::api::pubsub::{status, topics, Caller};
use crate::api::state::OrgState;
use sfarrow_pubsub_proto::*;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

const MAX_CREDIT: i64 = 100;
/// Keeps every response under the 4 MiB message limit clients read with.
const MAX_RESPONSE_BYTES: usize = 3 << 20;

type Tx = mpsc::Sender<Result<FetchResponse, Status>>;

/// Reads the first request, checks where to start, and runs the stream on its own task.
pub async fn start(
    org: Arc<OrgState>,
    caller: Caller,
    rpc: String,
    mut inbound: Streaming<FetchRequest>,
    conn: Option<Connection>,
) -> Result<ReceiverStream<Result<FetchResponse, Status>>, Status> {
    let first = match inbound.message().await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return Err(status::invalid(
                "topic.validation.empty",
                "The stream closed before its first request.",
                &rpc,
            ))
        }
        Err(e) => return Err(e),
    };
    if first.topic_name.trim().is_empty() {
        return Err(status::invalid(
            "topic.validation.empty",
            "The topic name is blank. Provide a topic name.",
            &rpc,
        ));
    }
    if first.num_requested <= 0 {
        return Err(requested_invalid(&rpc));
    }
    let topic = {
        let store = org.store.read();
        topics::resolve(&store, &first.topic_name)
            .ok_or_else(|| status::topic_not_found(&first.topic_name, &rpc))?
            .topic
    };
    let after = match ReplayPreset::try_from(first.replay_preset) {
        Ok(ReplayPreset::Latest) => org.events.bus.latest(),
        Ok(ReplayPreset::Earliest) => org.events.bus.earliest(),
        Ok(ReplayPreset::Custom) => {
            if first.replay_id.is_empty() {
                return Err(status::invalid(
                    "subscription.fetch.replayid.validation.failed",
                    "The Replay ID validation failed. A CUSTOM replay preset needs a Replay ID.",
                    &rpc,
                ));
            }
            match org.events.bus.check_custom(&first.replay_id) {
                Some(r) => r,
                None => return Err(status::replay_corrupted(&rpc)),
            }
        }
        Err(_) => {
            return Err(status::invalid(
                "subscription.fetch.request.invalid",
                "The replay preset is not one of LATEST, EARLIEST or CUSTOM.",
                &rpc,
            ))
        }
    };
    let (tx, rx) = mpsc::channel(4);
    let stream = Stream {
        org,
        caller,
        rpc,
        topic,
        topic_name: first.topic_name,
        after,
        horizon: after,
        credit: i64::from(first.num_requested).min(MAX_CREDIT),
        delivered: 0,
        conn,
    };
    tokio::spawn(stream.run(inbound, tx));
    Ok(ReceiverStream::new(rx))
}

fn requested_invalid(rpc: &str) -> Status {
    status::invalid(
        "subscription.fetch.requested.events.invalid",
        "The number of requested events must be greater than zero.",
        rpc,
    )
}

struct Stream {
    org: Arc<OrgState>,
    caller: Caller,
    rpc: String,
    topic: Topic,
    topic_name: String,
    /// Events after this replay id are still to be sent.
    after: u64,
    /// Every event of the topic up to this replay id has been sent: what a keepalive reports,
    /// so a client resuming from it misses nothing.
    horizon: u64,
    credit: i64,
    delivered: u64,
    conn: Option<Connection>,
}

enum Next {
    Go,
    Stop,
}

impl Stream {
    async fn run(mut self, mut inbound: Streaming<FetchRequest>, tx: Tx) {
        let mut wake = self.org.events.bus.subscribe_changes();
        let mut last_sent = Instant::now();
        loop {
            if let Next::Stop = self.fault(&tx).await {
                return;
            }
            if self.credit > 0 {
                let budget = self.org.events.faults.budget(self.delivered);
                let max = match budget {
                    Some(b) => (self.credit as u64).min(b) as usize,
                    None => self.credit as usize,
                };
                let (events, horizon) = if max > 0 {
                    self.org
                        .events
                        .bus
                        .read(&self.topic, self.after, max, MAX_RESPONSE_BYTES)
                } else {
                    (Vec::new(), None)
                };
                if let Some(horizon) = horizon {
                    self.horizon = horizon;
                }
                if !events.is_empty() {
                    let n = events.len();
                    if let Some(last) = events.last() {
                        self.after = last.replay;
                    }
                    self.credit -= n as i64;
                    self.delivered += n as u64;
                    let events = events
                        .iter()
                        .map(|e| ConsumerEvent {
                            event: Some(ProducerEvent {
                                id: e.event_id.clone(),
                                schema_id: e.schema_id.to_string(),
                                payload: e.payload.to_vec(),
                                headers: Vec::new(),
                            }),
                            replay_id: replay_bytes(e.replay),
                        })
                        .collect();
                    if tx.send(Ok(self.response(events))).await.is_err() {
                        return;
                    }
                    last_sent = Instant::now();
                    continue;
                }
            }
            let keepalive = self.org.events.keepalive();
            let idle = self.org.events.idle();
            tokio::select! {
                req = inbound.message() => match req {
                    Ok(Some(r)) => {
                        if !r.topic_name.is_empty() && r.topic_name != self.topic_name {
                            let e = status::invalid(
                                "subscription.fetch.topic.mismatch",
                                "The topic name differs from the one this stream subscribed to.",
                                &self.rpc,
                            );
                            let _ = tx.send(Err(e)).await;
                            return;
                        }
                        if r.num_requested <= 0 {
                            let _ = tx.send(Err(requested_invalid(&self.rpc))).await;
                            return;
                        }
                        self.credit = (self.credit + i64::from(r.num_requested)).min(MAX_CREDIT);
                    }
                    // The client closed its side, or the call is gone.
                    Ok(None) | Err(_) => return,
                },
                _ = wake.changed() => {}
                _ = self.org.events.faults.changed.notified() => {}
                _ = tokio::time::sleep_until(last_sent + keepalive), if self.credit > 0 => {
                    if tx.send(Ok(self.response(Vec::new()))).await.is_err() {
                        return;
                    }
                    last_sent = Instant::now();
                }
                // With no credit and no new request for the idle time, the stream ends.
                _ = tokio::time::sleep_until(last_sent + idle), if self.credit <= 0 => return,
                _ = tx.closed() => return,
            }
        }
    }

    fn response(&self, events: Vec<ConsumerEvent>) -> FetchResponse {
        FetchResponse {
            events,
            latest_replay_id: replay_bytes(self.horizon.max(self.after)),
            rpc_id: self.rpc.clone(),
            pending_num_requested: self.credit.max(0) as i32,
        }
    }

    async fn fault(&self, tx: &Tx) -> Next {
        let Some(kind) = self.org.events.faults.due(self.delivered) else {
            return Next::Go;
        };
        match kind {
            Kind::Drop => {
                if let Some(c) = &self.conn {
                    c.0.notify_one();
                }
                let _ = tx
                    .send(Err(Status::unavailable("connection reset by peer")))
                    .await;
            }
            Kind::End => {
                let _ = tx
                    .send(Err(Status::unavailable(
                        "Received Rst Stream: stream reset by the server",
                    )))
                    .await;
            }
            Kind::ExpireToken => {
                self.org.auth.lock().end_session(&self.caller.token);
                let _ = tx.send(Err(status::unauthenticated(&self.rpc))).await;
            }
            Kind::Unavailable | Kind::Unauthenticated | Kind::DropAfter => return Next::Go,
        }
        Next::Stop
    }
}
