//! Test controls for events: platform event definitions, which objects emit change events, the
//! retention window, gap events and faults on the gRPC side.

use crate::api::pubsub::{cdc, faults};
use crate::controls::field_from_json;
use crate::data::schema::{FieldDef, ObjectDef};
use crate::Org;
use serde_json::Value as Json;
use sfarrow_soql::types::FieldType;
use std::time::Duration;

impl Org {
    /// Defines a platform event `Name__e` with custom fields given as for `define_field`.
    pub fn define_event(&self, name: &str, fields: &[Json]) -> Result<(), String> {
        let stem = name.strip_suffix("__e").unwrap_or("");
        if stem.is_empty()
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            || stem.contains("__")
        {
            return Err(format!(
                "platform event names end with __e and use letters, digits and _: {name:?}"
            ));
        }
        let mut store = self.state.store.write();
        if store.table_index(name).is_some() {
            return Err(format!("the org already has an object named {name}"));
        }
        let mut defs = vec![
            FieldDef::new("Id", FieldType::Id),
            FieldDef {
                defaulted_on_create: true,
                ..FieldDef::new("IsDeleted", FieldType::Boolean).read_only()
            },
            FieldDef {
                nillable: false,
                ..FieldDef::new("ReplayId", FieldType::String).read_only()
            },
        ];
        let mut created = FieldDef::new("CreatedDate", FieldType::DateTime).read_only();
        created.nillable = false;
        created.defaulted_on_create = true;
        let mut by = FieldDef::new("CreatedById", FieldType::Reference).read_only();
        by.reference_to = vec!["User".into()];
        by.relationship_name = Some("CreatedBy".into());
        by.nillable = false;
        by.defaulted_on_create = true;
        defs.push(created);
        defs.push(by);
        defs.push(FieldDef::new("EventUuid", FieldType::String).read_only());
        for spec in fields {
            let f = field_from_json(spec)?;
            if defs.iter().any(|d| d.name.eq_ignore_ascii_case(&f.name)) {
                return Err(format!("field {} is defined twice", f.name));
            }
            defs.push(f);
        }
        let n = store.tables.iter().filter(|t| t.def.is_event()).count();
        let label = stem.replace('_', " ");
        let table = store.add_object(ObjectDef {
            name: name.into(),
            label: label.clone(),
            label_plural: label,
            key_prefix: format!("e0{}", (b'0' + (n % 10) as u8) as char),
            custom: true,
            fields: defs,
        });
        store.changes.select(table, true);
        Ok(())
    }

    /// Selects objects for change notifications (all of them with `["all"]`), as Setup's
    /// Change Data Capture page does; the others stop emitting.
    pub fn select_change_events(&self, objects: &[String]) -> Result<(), String> {
        let mut store = self.state.store.write();
        let all = objects.iter().any(|o| o == "all");
        let mut wanted = Vec::new();
        for o in objects.iter().filter(|o| *o != "all") {
            let t = store
                .table_index(o)
                .filter(|t| !store.tables[*t].def.is_event())
                .ok_or_else(|| {
                    format!("the org has no object named {o:?} that can emit change events")
                })?;
            wanted.push(t);
        }
        for t in 0..store.tables.len() {
            if !store.tables[t].def.is_event() {
                let on = all || wanted.contains(&t);
                store.changes.select(t, on);
            }
        }
        Ok(())
    }

    /// The objects selected for change notifications.
    pub fn change_events_selected(&self) -> Vec<String> {
        let store = self.state.store.read();
        store
            .changes
            .selected()
            .filter(|t| !store.tables[*t].def.is_event())
            .map(|t| store.tables[t].def.name.clone())
            .collect()
    }

    /// Drops events older than `age` from the bus now, as retention would.
    pub fn expire_events(&self, age: Duration) {
        self.state.events.bus.expire(age);
    }

    /// Publishes a header-only gap event (`GAP_UPDATE`, ...) for records of `object`.
    pub fn publish_gap(
        &self,
        object: &str,
        change_type: &str,
        ids: &[String],
    ) -> Result<(), String> {
        cdc::gap(&self.state, object, change_type, ids)
    }

    /// Changes past this many in one transaction become a GAP_OVERFLOW event per object.
    pub fn set_overflow_threshold(&self, n: u64) {
        self.state.events.set_overflow_threshold(n);
    }

    /// The next `n` change events are lost: committed, never published.
    pub fn lose_change_events(&self, n: u64) {
        self.state.events.lose_change_events(n);
    }

    pub fn set_pubsub_keepalive(&self, every: Duration) {
        self.state.events.set_keepalive(every);
    }

    /// A fault on the gRPC side: `drop` (the connection is cut), `end` (the stream ends
    /// UNAVAILABLE), `unavailable` (the next call fails), `unauthenticated` (the next call is
    /// refused UNAUTHENTICATED, its session valid or not), `drop_after` (the next Publish is
    /// applied, then its connection is cut) or `expire_token` (the stream's session ends); stream
    /// faults fire once a stream has delivered `after_events` events, the others on the next
    /// `times` calls.
    pub fn inject_pubsub_fault(
        &self,
        kind: &str,
        after_events: u64,
        times: u64,
    ) -> Result<(), String> {
        let k = faults::Kind::from_name(kind).ok_or_else(|| {
            format!("unknown Pub/Sub fault {kind:?}; one of \"drop\", \"end\", \"unavailable\", \"unauthenticated\", \"drop_after\", \"expire_token\"")
        })?;
        self.state.events.faults.add(k, after_events, times);
        Ok(())
    }

    pub fn clear_pubsub_faults(&self) {
        self.state.events.faults.clear();
    }

    /// How many events the bus holds.
    pub fn event_count(&self) -> usize {
        self.state.events.bus.len()
    }
}
