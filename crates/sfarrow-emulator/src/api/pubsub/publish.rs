//! Publish and PublishStream (docs/wire-notes.md §10.8): each event is checked against the
//! schema it names and gets its own result, in order; the batch is not all-or-nothing.

use crate::api::pubsub::bus::NewEvent;
use crate::api::pubsub::{status, topics};
use crate::api::state::OrgState;
use sfarrow_pubsub_proto::*;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Status, Streaming};

const MAX_EVENT_BYTES: usize = 1 << 20;

fn failed(key: String, msg: String) -> PublishResult {
    PublishResult {
        replay_id: Vec::new(),
        error: Some(Error {
            code: ErrorCode::Publish as i32,
            msg,
        }),
        correlation_key: key,
    }
}

/// Whether `payload` is exactly one record of `schema`, with nothing after it.
fn decodes(schema: &apache_avro::Schema, payload: &[u8]) -> Result<(), String> {
    let reader = apache_avro::reader::datum::GenericDatumReader::builder(schema)
        .build()
        .map_err(|e| e.to_string())?;
    let mut rest = payload;
    reader
        .read_value(&mut rest)
        .map_err(|e| format!("the payload does not match the schema: {e}"))?;
    if !rest.is_empty() {
        return Err(format!(
            "the payload has {} bytes after the record",
            rest.len()
        ));
    }
    Ok(())
}

pub fn publish(org: &OrgState, req: PublishRequest, rpc: &str) -> Result<PublishResponse, Status> {
    if req.topic_name.trim().is_empty() {
        return Err(status::invalid(
            "publish.topic.validation.empty",
            "The topic name is blank. Provide a topic name.",
            rpc,
        ));
    }
    if req.events.is_empty() {
        return Err(status::invalid(
            "publish.event.count.invalid",
            "A publish request needs at least one event.",
            rpc,
        ));
    }
    let (channel, entity) = {
        let store = org.store.read();
        let t = topics::resolve(&store, &req.topic_name)
            .ok_or_else(|| status::topic_not_found(&req.topic_name, rpc))?;
        let table = match t.table {
            Some(table) if t.platform_event => table,
            _ => {
                return Err(status::status(
                    Code::PermissionDenied,
                    "topic.meta.permission",
                    &format!("Events cannot be published to {}.", req.topic_name),
                    rpc,
                ))
            }
        };
        (
            topics::channel_of(&store, table),
            store.tables[table].def.name.clone(),
        )
    };
    let mut results: Vec<PublishResult> = Vec::with_capacity(req.events.len());
    let mut accepted = Vec::new();
    let mut schema_id = String::new();
    for e in req.events {
        let given = !e.id.is_empty();
        if e.id.len() > 36 {
            results.push(failed(
                e.id,
                "The event ID is longer than 36 characters.".into(),
            ));
            continue;
        }
        let key = if given {
            e.id.clone()
        } else {
            status::rpc_id()
        };
        let fail_key = if given { e.id.clone() } else { String::new() };
        if e.payload.len() > MAX_EVENT_BYTES {
            results.push(failed(fail_key, "The event is larger than 1 MB.".into()));
            continue;
        }
        let Some(schema) = org
            .events
            .schemas
            .get(&e.schema_id)
            .filter(|s| s.entity == entity)
        else {
            results.push(failed(
                fail_key,
                format!(
                    "The schema ID {:?} is not a schema of {entity}.",
                    e.schema_id
                ),
            ));
            continue;
        };
        if let Err(msg) = decodes(&schema.parsed, &e.payload) {
            results.push(failed(fail_key, msg));
            continue;
        }
        schema_id = schema.id.clone();
        accepted.push((results.len(), schema.id.clone(), key.clone(), e.payload));
        results.push(PublishResult {
            replay_id: Vec::new(),
            error: None,
            correlation_key: key,
        });
    }
    let channel: Arc<str> = channel.into();
    let positions: Vec<usize> = accepted.iter().map(|a| a.0).collect();
    let replays = org.events.bus.append(
        accepted
            .into_iter()
            .map(|(_, sid, key, payload)| NewEvent {
                channel: channel.clone(),
                change_event: false,
                schema_id: sid.into(),
                event_id: key,
                payload: payload.into(),
            })
            .collect(),
    );
    for (pos, replay) in positions.into_iter().zip(replays) {
        results[pos].replay_id = crate::api::pubsub::bus::replay_bytes(replay);
    }
    Ok(PublishResponse {
        results,
        schema_id,
        rpc_id: rpc.to_string(),
    })
}

/// PublishStream: one response per request, the topic fixed by the first.
pub fn stream(
    org: Arc<OrgState>,
    rpc: String,
    mut inbound: Streaming<PublishRequest>,
) -> ReceiverStream<Result<PublishResponse, Status>> {
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        let mut topic: Option<String> = None;
        let idle = org.events.idle();
        loop {
            let next = tokio::select! {
                m = inbound.message() => m,
                _ = tokio::time::sleep(idle) => return,
            };
            let req = match next {
                Ok(Some(r)) => r,
                Ok(None) | Err(_) => return,
            };
            match &topic {
                None => topic = Some(req.topic_name.clone()),
                Some(t) if !req.topic_name.is_empty() && *t != req.topic_name => {
                    let e = status::invalid(
                        "publish.topic.mismatch",
                        "The topic name differs from the first request's.",
                        &rpc,
                    );
                    let _ = tx.send(Err(e)).await;
                    return;
                }
                Some(_) => {}
            }
            let mut req = req;
            if req.topic_name.is_empty() {
                req.topic_name = topic.clone().unwrap_or_default();
            }
            let r = publish(&org, req, &rpc);
            let stop = r.is_err();
            if tx.send(r).await.is_err() || stop {
                return;
            }
        }
    });
    ReceiverStream::new(rx)
}
