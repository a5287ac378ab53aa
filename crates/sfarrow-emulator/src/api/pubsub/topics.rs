//! Topic names (docs/wire-notes.md §10.7, §10.8), case-sensitive as in an org:
//! `/event/<Name>__e`, `/data/ChangeEvents`, `/data/<Object>ChangeEvent` and
//! `/data/<Stem>__ChangeEvent` for custom objects.

use crate::api::pubsub::bus::Topic;
use crate::api::pubsub::schema::event_name;
use crate::data::store::Store;

pub struct Resolved {
    pub topic: Topic,
    /// The object or event whose events the topic carries; `None` for `/data/ChangeEvents`.
    pub table: Option<usize>,
    pub platform_event: bool,
}

/// The channel name of an object's change events, or of a platform event.
pub fn channel_of(store: &Store, table: usize) -> String {
    let def = &store.tables[table].def;
    if def.name.ends_with("__e") {
        format!("/event/{}", def.name)
    } else {
        format!("/data/{}", event_name(def))
    }
}

pub fn resolve(store: &Store, name: &str) -> Option<Resolved> {
    if name == "/data/ChangeEvents" {
        return Some(Resolved {
            topic: Topic::AllChangeEvents,
            table: None,
            platform_event: false,
        });
    }
    let (platform, rest) = if let Some(r) = name.strip_prefix("/event/") {
        (true, r)
    } else if let Some(r) = name.strip_prefix("/data/") {
        (false, r)
    } else {
        return None;
    };
    let table = store.tables.iter().position(|t| {
        let is_event = t.def.name.ends_with("__e");
        is_event == platform && event_name(&t.def) == rest
    })?;
    Some(Resolved {
        topic: Topic::Channel(channel_of(store, table).into()),
        table: Some(table),
        platform_event: platform,
    })
}
