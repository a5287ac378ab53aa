//! Publishing platform events (docs/wire-notes.md §10.8): rows encoded with the topic's current
//! schema, sent in requests of at most 200 events and about 3 MB, each event's outcome in a
//! result row aligned with the input. A row that cannot be encoded, or that no request can
//! carry, fails alone; a request that may have reached the service but got no answer (a cut connection, none within
//! `request_timeout`) leaves its rows `UNKNOWN_OUTCOME`, never resent, so no event is published
//! twice.

use crate::client::retry::{may_resend, Attempts};
use crate::client::{Error, Result};
use crate::events::channel::PubSub;
use crate::events::encode::encode_batch;
use crate::events::status::{classify, renew_or_fail, to_error, Kind};
use arrow_array::builder::{BinaryBuilder, BooleanBuilder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use sfarrow_pubsub_proto::{ProducerEvent, PublishRequest};
use std::sync::Arc;

const MAX_EVENTS: usize = 200;
/// A request's size, kept under the 4 MiB gRPC message limit (docs/wire-notes.md §10.3).
const MAX_BYTES: usize = 3 << 20;
/// What an event adds to a request besides its payload (its id, schema id, framing).
const EVENT_OVERHEAD: usize = 64;

#[derive(Debug, Clone, Default)]
struct Outcome {
    replay_id: Option<Vec<u8>>,
    error: Option<String>,
    key: Option<String>,
}

/// The result table's schema: one row per input row.
pub fn result_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("replay_id", DataType::Binary, true),
        Field::new("success", DataType::Boolean, false),
        Field::new("error", DataType::Utf8, true),
        Field::new("correlation_key", DataType::Utf8, true),
    ]))
}

/// A random correlation key (22 characters: the service takes up to 36), which subscribers see
/// as the event's id.
fn new_key() -> String {
    oauth2::CsrfToken::new_random_len(16).secret().clone()
}

pub async fn publish(pubsub: &PubSub, topic: &str, batches: &[RecordBatch]) -> Result<RecordBatch> {
    let info = pubsub.topic(topic).await?;
    if !info.can_publish {
        return Err(Error::config(format!(
            "{topic} cannot be published to: only platform events (/event/Name__e) can"
        )));
    }
    let schema = pubsub.schema(&info.schema_id).await?;
    let (_, user) = pubsub.who().await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let mut payloads: Vec<std::result::Result<Vec<u8>, String>> = Vec::new();
    for b in batches {
        payloads.extend(encode_batch(&schema, b, &user, now)?);
    }
    let mut outcomes = vec![Outcome::default(); payloads.len()];
    let mut pending: Vec<(usize, ProducerEvent)> = Vec::new();
    let mut size = 0;
    let mut stopped: Option<Error> = None;
    let mut attempts = Attempts::new(*pubsub.client.retry_policy());
    for (row, p) in payloads.into_iter().enumerate() {
        let payload = match p {
            Ok(p) => p,
            Err(e) => {
                outcomes[row].error = Some(format!("INVALID_INPUT: {e}"));
                continue;
            }
        };
        let bytes = payload.len() + EVENT_OVERHEAD;
        if bytes > MAX_BYTES {
            // No request can carry it, and one that tried would fail the rows after it.
            outcomes[row].error = Some(format!(
                "INVALID_INPUT: the event is {:.1} MB encoded, more than a publish request carries ({} MB); Salesforce takes events of at most 1 MB",
                bytes as f64 / f64::from(1 << 20),
                MAX_BYTES >> 20
            ));
            continue;
        }
        let key = new_key();
        outcomes[row].key = Some(key.clone());
        if !pending.is_empty() && (pending.len() == MAX_EVENTS || size + bytes > MAX_BYTES) {
            send(
                pubsub,
                topic,
                std::mem::take(&mut pending),
                &mut outcomes,
                &mut stopped,
                &mut attempts,
            )
            .await;
            size = 0;
        }
        size += bytes;
        pending.push((
            row,
            ProducerEvent {
                id: key,
                schema_id: info.schema_id.clone(),
                payload,
                headers: Vec::new(),
            },
        ));
    }
    if !pending.is_empty() {
        send(
            pubsub,
            topic,
            pending,
            &mut outcomes,
            &mut stopped,
            &mut attempts,
        )
        .await;
    }
    let batch = result_batch(&outcomes)?;
    match stopped {
        // An error that stops everything is raised only when nothing at all went through.
        Some(e) if outcomes.iter().all(|o| o.replay_id.is_none()) => Err(e),
        _ => Ok(batch),
    }
}

async fn send(
    pubsub: &PubSub,
    topic: &str,
    events: Vec<(usize, ProducerEvent)>,
    outcomes: &mut [Outcome],
    stopped: &mut Option<Error>,
    attempts: &mut Attempts,
) {
    if let Some(e) = stopped {
        for (row, _) in &events {
            outcomes[*row].error = Some(format!("NOT_SENT: {e}"));
        }
        return;
    }
    let rows: Vec<usize> = events.iter().map(|(r, _)| *r).collect();
    let req = PublishRequest {
        topic_name: topic.to_string(),
        events: events.into_iter().map(|(_, e)| e).collect(),
        auth_refresh: String::new(),
    };
    let answer = loop {
        let (r, generation) = match pubsub.request(req.clone()).await {
            Ok(x) => x,
            Err(e) => break Err(e),
        };
        let mut stub = match pubsub.stub().await {
            Ok(s) => s,
            Err(e) => break Err(e),
        };
        match pubsub.timed(stub.publish(r)).await {
            Ok(resp) => {
                attempts.succeeded();
                break Ok(resp.into_inner());
            }
            Err(status) => match classify(&status) {
                // Refused at the start of the call: nothing was published.
                Kind::Unauthenticated => {
                    if let Err(e) =
                        renew_or_fail(attempts, &pubsub.client, generation, &status).await
                    {
                        break Err(e);
                    }
                }
                // Refused with an error code: the service took none of it, so it may go again.
                Kind::Retry
                    if may_resend(false, crate::events::status::error_code(&status).is_some())
                        && attempts.again().await => {}
                Kind::Retry => {
                    // No answer from the service (a cut connection, none within the request
                    // timeout): the events may or may not be on the bus.
                    for row in &rows {
                        outcomes[*row].error =
                            Some(format!("UNKNOWN_OUTCOME: {}", status.message()));
                    }
                    return;
                }
                _ => break Err(to_error(&status)),
            },
        }
    };
    match answer {
        Ok(resp) => {
            for (i, row) in rows.iter().enumerate() {
                match resp.results.get(i) {
                    Some(r) => match &r.error {
                        Some(e) => outcomes[*row].error = Some(format!("PUBLISH: {}", e.msg)),
                        None => outcomes[*row].replay_id = Some(r.replay_id.clone()),
                    },
                    None => {
                        outcomes[*row].error = Some(
                            "UNKNOWN_OUTCOME: the service answered without this event's result"
                                .into(),
                        )
                    }
                }
            }
        }
        Err(e) => {
            for row in &rows {
                outcomes[*row].error = Some(format!("NOT_SENT: {e}"));
            }
            *stopped = Some(e);
        }
    }
}

fn result_batch(outcomes: &[Outcome]) -> Result<RecordBatch> {
    let mut replay = BinaryBuilder::new();
    let mut ok = BooleanBuilder::new();
    let mut err = StringBuilder::new();
    let mut key = StringBuilder::new();
    for o in outcomes {
        replay.append_option(o.replay_id.as_deref());
        ok.append_value(o.replay_id.is_some() && o.error.is_none());
        err.append_option(o.error.as_deref());
        key.append_option(o.key.as_deref());
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(replay.finish()),
        Arc::new(ok.finish()),
        Arc::new(err.finish()),
        Arc::new(key.finish()),
    ];
    RecordBatch::try_new(result_schema(), cols).map_err(|e| Error::protocol(e.to_string()))
}
