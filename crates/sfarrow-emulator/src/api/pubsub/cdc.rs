//! Committed changes become events (docs/wire-notes.md §10.7): one transaction's changes get a
//! transaction key and sequence numbers; an update carries only its changed fields and names
//! them in bitmaps; identical changes to several records of one object merge into one event;
//! past the overflow threshold a transaction's further changes become one GAP_OVERFLOW event
//! per object. Platform events written through REST are published here too, after commit.

use crate::api::pubsub::bitmap;
use crate::api::pubsub::bus::NewEvent;
use crate::api::pubsub::schema::{write, write_slot, EventSchema, CHANGE_TYPES};
use crate::api::pubsub::topics::channel_of;
use crate::api::state::OrgState;
use crate::data::changes::{Change, Kind};
use crate::data::store::{now_millis, Store};
use crate::data::value::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// Who committed, and through which API: `com/salesforce/api/rest/62.0;client=etl`.
pub struct Origin<'a> {
    pub change_origin: &'a str,
    pub user: &'a str,
}

/// Publishes this thread's committed changes.
pub fn commit(state: &OrgState, origin: &Origin) {
    let changes = state.store.write().changes.take();
    if changes.is_empty() {
        return;
    }
    let mut out = Vec::new();
    {
        let store = state.store.read();
        let mut start = 0;
        while start < changes.len() {
            let tx = changes[start].tx;
            let end = changes[start..]
                .iter()
                .position(|c| c.tx != tx)
                .map_or(changes.len(), |n| start + n);
            transaction(state, &store, &changes[start..end], origin, &mut out);
            start = end;
        }
    }
    out.retain(|e| !(e.change_event && state.events.loses_one()));
    state.events.bus.append(out);
}

/// A change event being assembled.
struct Draft {
    table: usize,
    change_type: &'static str,
    ids: Vec<String>,
    schema: Arc<EventSchema>,
    body: Vec<u8>,
    changed: Vec<String>,
    nulled: Vec<String>,
}

/// A deterministic UUID-shaped event id for a platform event written through REST, so the
/// `OPERATION_ENQUEUED` answer and the delivered event agree (docs/wire-notes.md §10.8).
pub fn event_uuid(record_id: &str) -> String {
    use md5::Digest;
    let mut d: [u8; 16] = md5::Md5::digest(record_id.as_bytes()).into();
    // Version 4 and the RFC 4122 variant, so it reads as the UUIDs Salesforce hands out.
    d[6] = (d[6] & 0x0f) | 0x40;
    d[8] = (d[8] & 0x3f) | 0x80;
    crate::api::pubsub::status::uuid_text(&d)
}

/// The `errors` of a successful save: empty, except for a platform event, which reports
/// `OPERATION_ENQUEUED` with the event's UUID (docs/wire-notes.md §10.8).
pub fn save_errors(id: &str) -> serde_json::Value {
    let is_event = id.len() >= 3 && id.starts_with("e0") && id.as_bytes()[2].is_ascii_digit();
    if is_event {
        serde_json::json!([{"statusCode": "OPERATION_ENQUEUED", "message": event_uuid(id), "fields": []}])
    } else {
        serde_json::json!([])
    }
}

fn schema_of(state: &OrgState, store: &Store, table: usize) -> Option<Arc<EventSchema>> {
    let def = &store.tables[table].def;
    state
        .events
        .schemas
        .current(def, store.schema_modified)
        .ok()
}

fn transaction(
    state: &OrgState,
    store: &Store,
    changes: &[Change],
    origin: &Origin,
    out: &mut Vec<NewEvent>,
) {
    let threshold = state.events.overflow_threshold();
    let mut counted = 0u64;
    let mut drafts: Vec<Draft> = Vec::new();
    let mut merge: HashMap<(usize, Kind, Vec<u8>), usize> = HashMap::new();
    let mut overflowed: Vec<usize> = Vec::new();
    for c in changes {
        let Some(schema) = schema_of(state, store, c.table) else {
            continue;
        };
        if !schema.change_event {
            let mut body = Vec::new();
            platform_body(&schema, &store.tables[c.table].def, &c.new, &mut body);
            out.push(NewEvent {
                channel: channel_of(store, c.table).into(),
                change_event: false,
                schema_id: schema.id.as_str().into(),
                event_id: event_uuid(&c.id),
                payload: body.into(),
            });
            continue;
        }
        let def = &store.tables[c.table].def;
        let changed: Vec<usize> = match (&c.kind, &c.old) {
            (Kind::Update, Some(old)) => {
                let modified = def.field_index("LastModifiedDate");
                (0..def.fields.len())
                    .filter(|i| {
                        Some(*i) == modified
                            || (!matches!(
                                def.fields[*i].name.as_str(),
                                "SystemModstamp" | "IsDeleted"
                            ) && old.get(*i).unwrap_or(&Value::Null)
                                != c.new.get(*i).unwrap_or(&Value::Null))
                    })
                    .collect()
            }
            _ => Vec::new(),
        };
        counted += if c.kind == Kind::Update {
            changed.len() as u64
        } else {
            1
        };
        if counted > threshold {
            if !overflowed.contains(&c.table) {
                overflowed.push(c.table);
            }
            continue;
        }
        let take: Box<dyn Fn(usize) -> bool> = match c.kind {
            Kind::Create | Kind::Undelete => Box::new(|_| true),
            Kind::Delete => Box::new(|_| false),
            Kind::Update => Box::new(|i| changed.contains(&i)),
        };
        let mut body = Vec::new();
        for slot in &schema.slots {
            write_slot(&mut body, slot, &c.new, &*take);
        }
        let (changed_bits, nulled_bits) = if c.kind == Kind::Update {
            let is_null = |i: usize| c.new.get(i).is_none_or(Value::is_null);
            let nulled: Vec<usize> = changed.iter().copied().filter(|i| is_null(*i)).collect();
            (
                bitmap::of_fields(&schema.slots, &changed),
                bitmap::of_fields(&schema.slots, &nulled),
            )
        } else {
            (Vec::new(), Vec::new())
        };
        // Creates and undeletes carry the record's own values: they never merge.
        let key = match c.kind {
            Kind::Create | Kind::Undelete => None,
            Kind::Delete => Some(Vec::new()),
            Kind::Update => {
                let modified = def.field_index("LastModifiedDate");
                let mut k = changed_bits.join(",").into_bytes();
                k.push(b'|');
                k.extend(nulled_bits.join(",").bytes());
                k.push(b'|');
                let same = |i: usize| changed.contains(&i) && Some(i) != modified;
                for slot in &schema.slots {
                    write_slot(&mut k, slot, &c.new, &same);
                }
                Some(k)
            }
        };
        if let Some(k) = key {
            let k = (c.table, c.kind, k);
            if let Some(&d) = merge.get(&k) {
                drafts[d].ids.push(c.id.to_string());
                continue;
            }
            merge.insert(k, drafts.len());
        }
        drafts.push(Draft {
            table: c.table,
            change_type: match c.kind {
                Kind::Create => "CREATE",
                Kind::Update => "UPDATE",
                Kind::Delete => "DELETE",
                Kind::Undelete => "UNDELETE",
            },
            ids: vec![c.id.to_string()],
            schema,
            body,
            changed: changed_bits,
            nulled: nulled_bits,
        });
    }
    for table in overflowed {
        if let Some(schema) = schema_of(state, store, table) {
            let mut body = Vec::new();
            for slot in &schema.slots {
                write_slot(&mut body, slot, &[], &|_| false);
            }
            drafts.push(Draft {
                table,
                change_type: "GAP_OVERFLOW",
                ids: vec!["000000000000000AAA".into()],
                schema,
                body,
                changed: Vec::new(),
                nulled: Vec::new(),
            });
        }
    }
    let header = Header {
        origin: origin.change_origin,
        user: origin.user,
        transaction_key: transaction_key(),
        commit_timestamp: now_millis(),
        commit_number: state.events.bus.next_commit_number() as i64,
    };
    for (n, d) in drafts.into_iter().enumerate() {
        let mut payload = Vec::with_capacity(d.body.len() + 128);
        header.write(
            &mut payload,
            &d,
            (n + 1) as i64,
            &store.tables[d.table].def.name,
        );
        payload.extend_from_slice(&d.body);
        out.push(NewEvent {
            channel: channel_of(store, d.table).into(),
            change_event: true,
            schema_id: d.schema.id.as_str().into(),
            event_id: String::new(),
            payload: payload.into(),
        });
    }
}

/// Header-only change events for changes the org could not capture (`Org::publish_gap`).
pub fn gap(
    state: &OrgState,
    object: &str,
    change_type: &str,
    ids: &[String],
) -> Result<(), String> {
    let store = state.store.read();
    let table = store
        .table_index(object)
        .ok_or_else(|| format!("the org has no object named {object:?}"))?;
    if !change_type.starts_with("GAP_") || !CHANGE_TYPES.contains(&change_type) {
        return Err(format!(
            "a gap event's change type is one of GAP_CREATE, GAP_UPDATE, GAP_DELETE, GAP_UNDELETE, GAP_OVERFLOW, not {change_type:?}"
        ));
    }
    let schema = schema_of(state, &store, table).ok_or("the object has no event schema")?;
    let change_type: &'static str = CHANGE_TYPES
        .iter()
        .find(|t| **t == change_type)
        .copied()
        .unwrap_or("GAP_UPDATE");
    let mut body = Vec::new();
    for slot in &schema.slots {
        write_slot(&mut body, slot, &[], &|_| false);
    }
    let header = Header {
        origin: "",
        user: &store.user_id,
        transaction_key: transaction_key(),
        commit_timestamp: now_millis(),
        commit_number: state.events.bus.next_commit_number() as i64,
    };
    let d = Draft {
        table,
        change_type,
        ids: ids.to_vec(),
        schema,
        body,
        changed: Vec::new(),
        nulled: Vec::new(),
    };
    let mut payload = Vec::new();
    header.write(&mut payload, &d, 1, &store.tables[table].def.name);
    payload.extend_from_slice(&d.body);
    let channel: Arc<str> = channel_of(&store, table).into();
    drop(store);
    state.events.bus.append(vec![NewEvent {
        channel,
        change_event: true,
        schema_id: d.schema.id.as_str().into(),
        event_id: String::new(),
        payload: payload.into(),
    }]);
    Ok(())
}

fn transaction_key() -> String {
    crate::api::pubsub::status::rpc_id()
}

struct Header<'a> {
    origin: &'a str,
    user: &'a str,
    transaction_key: String,
    commit_timestamp: i64,
    commit_number: i64,
}

impl Header<'_> {
    fn write(&self, out: &mut Vec<u8>, d: &Draft, sequence: i64, entity: &str) {
        write::string(out, entity);
        write::strings(out, &d.ids);
        let symbol = CHANGE_TYPES
            .iter()
            .position(|t| *t == d.change_type)
            .unwrap_or(0);
        write::long(out, symbol as i64);
        write::string(out, self.origin);
        write::string(out, &self.transaction_key);
        write::long(out, sequence);
        write::long(out, self.commit_timestamp);
        write::long(out, self.commit_number);
        write::string(out, self.user);
        write::strings(out, &d.nulled);
        write::strings(out, &[]);
        write::strings(out, &d.changed);
    }
}

/// A platform event's payload from a row written through REST: CreatedDate and CreatedById,
/// then the custom fields.
fn platform_body(
    schema: &EventSchema,
    def: &crate::data::schema::ObjectDef,
    row: &[Value],
    out: &mut Vec<u8>,
) {
    let get = |name: &str| def.field_index(name).and_then(|i| row.get(i));
    let created = match get("CreatedDate") {
        Some(Value::DateTime(ms)) => *ms,
        _ => now_millis(),
    };
    write::long(out, created);
    write::string(
        out,
        get("CreatedById").and_then(Value::as_str).unwrap_or(""),
    );
    for slot in &schema.slots {
        write_slot(out, slot, row, &|_| true);
    }
}
