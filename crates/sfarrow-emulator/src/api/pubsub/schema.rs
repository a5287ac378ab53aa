//! Avro schemas of change events and platform events, made from the object's definition
//! (docs/wire-notes.md §10.5): the record is named after the event, every data field is a
//! `["null", T]` union, compounds are nested records, and the schema id is the base64url MD5 of
//! the schema's canonical form. Every id ever handed out stays resolvable, because events
//! written before a field was added still name the old schema.

use crate::data::schema::{FieldDef, ObjectDef};
use crate::data::value::Value;
use base64::Engine;
use parking_lot::Mutex;
use serde_json::{json, Value as Json};
use sfarrow_soql::types::FieldType;
use std::collections::HashMap;
use std::sync::Arc;

/// `changeType` symbols, in the documented order (docs/wire-notes.md §10.7).
pub const CHANGE_TYPES: &[&str] = &[
    "CREATE",
    "UPDATE",
    "DELETE",
    "UNDELETE",
    "GAP_CREATE",
    "GAP_UPDATE",
    "GAP_DELETE",
    "GAP_UNDELETE",
    "GAP_OVERFLOW",
    "SNAPSHOT",
];

/// Fields a change event never carries: derived or bookkeeping values.
const NOT_IN_CHANGE_EVENTS: &[&str] = &[
    "Id",
    "IsDeleted",
    "SystemModstamp",
    "LastActivityDate",
    "LastViewedDate",
    "LastReferencedDate",
];

/// Where a top-level field of the event's record gets its value. (Names are kept for tests and
/// debugging: the writer goes by position.)
#[derive(Debug, Clone)]
#[cfg_attr(not(test), allow(dead_code))]
pub enum Slot {
    /// A field of the row: its index and Avro type.
    Scalar {
        name: String,
        index: usize,
        avro: &'static str,
    },
    /// An address or location: a nested record of the component fields.
    Compound {
        name: String,
        parts: Vec<(String, usize, &'static str)>,
    },
}

#[cfg_attr(not(test), allow(dead_code))]
impl Slot {
    pub fn name(&self) -> &str {
        match self {
            Slot::Scalar { name, .. } | Slot::Compound { name, .. } => name,
        }
    }
}

pub struct EventSchema {
    pub id: String,
    pub json: String,
    pub parsed: apache_avro::Schema,
    /// The object or event name: `Account`, `Order__e`.
    pub entity: String,
    pub change_event: bool,
    /// The record's fields after the header (change events) or all of them (platform events).
    pub slots: Vec<Slot>,
}

/// The event's record name: `AccountChangeEvent`, `Employee__ChangeEvent`, `Order__e`.
pub fn event_name(def: &ObjectDef) -> String {
    if def.name.ends_with("__e") {
        def.name.clone()
    } else if let Some(stem) = def.name.strip_suffix("__c") {
        format!("{stem}__ChangeEvent")
    } else {
        format!("{}ChangeEvent", def.name)
    }
}

fn nullable(t: Json) -> Json {
    json!(["null", t])
}

fn doc_hint(f: &FieldDef) -> String {
    format!("Data:{}", f.ftype.name())
}

fn header_schema() -> Json {
    let strings = || json!({"type": "array", "items": "string"});
    json!({
        "type": "record",
        "name": "ChangeEventHeader",
        "fields": [
            {"name": "entityName", "type": "string"},
            {"name": "recordIds", "type": strings()},
            {"name": "changeType", "type": {"type": "enum", "name": "ChangeType", "symbols": CHANGE_TYPES}},
            {"name": "changeOrigin", "type": "string"},
            {"name": "transactionKey", "type": "string"},
            {"name": "sequenceNumber", "type": "int"},
            {"name": "commitTimestamp", "type": "long"},
            {"name": "commitNumber", "type": "long"},
            {"name": "commitUser", "type": "string"},
            {"name": "nulledFields", "type": strings()},
            {"name": "diffFields", "type": strings()},
            {"name": "changedFields", "type": strings()},
        ]
    })
}

/// `postalCode` -> `PostalCode`: the nested record's field name for a compound's component.
fn part_name(key: &str) -> String {
    let mut c = key.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The schema an object's events are written with now.
pub fn build(def: &ObjectDef) -> Result<EventSchema, String> {
    let name = event_name(def);
    let platform = def.name.ends_with("__e");
    let mut fields: Vec<Json> = Vec::new();
    let mut slots = Vec::new();
    if platform {
        fields.push(json!({"name": "CreatedDate", "type": "long", "doc": "CreatedDate:DateTime"}));
        fields.push(json!({"name": "CreatedById", "type": "string", "doc": "CreatedBy:EntityId"}));
    } else {
        fields.push(json!({"name": "ChangeEventHeader", "type": header_schema()}));
    }
    let mut defined: Vec<&str> = Vec::new();
    for (i, f) in def.fields.iter().enumerate() {
        let skip = f.compound_field_name.is_some()
            || f.calculated
            || (platform
                && matches!(
                    f.name.as_str(),
                    "Id" | "IsDeleted" | "CreatedDate" | "CreatedById" | "ReplayId" | "EventUuid"
                ))
            || (!platform && NOT_IN_CHANGE_EVENTS.contains(&f.name.as_str()));
        if skip {
            continue;
        }
        if f.ftype.is_compound() {
            let record = if f.ftype == FieldType::Address {
                "Address"
            } else {
                "Geolocation"
            };
            let mut parts = Vec::new();
            let mut nested = Vec::new();
            for (component, key) in &f.components {
                let Some(ci) = def.field_index(component) else {
                    continue;
                };
                let avro = def.fields[ci].ftype.avro_type().unwrap_or("string");
                let pn = part_name(key);
                nested.push(json!({"name": pn, "type": nullable(json!(avro)), "default": null}));
                parts.push((pn, ci, avro));
            }
            // A named type is defined once per schema; later fields refer to it by name.
            let t = if defined.contains(&record) {
                json!(record)
            } else {
                defined.push(record);
                json!({"type": "record", "name": record, "fields": nested})
            };
            fields.push(json!({"name": f.name, "type": nullable(t), "default": null}));
            slots.push(Slot::Compound {
                name: f.name.clone(),
                parts,
            });
        } else {
            let avro = f.ftype.avro_type().unwrap_or("string");
            fields.push(json!({"name": f.name, "type": nullable(json!(avro)), "doc": doc_hint(f), "default": null}));
            slots.push(Slot::Scalar {
                name: f.name.clone(),
                index: i,
                avro,
            });
        }
    }
    let mut schema = json!({
        "type": "record",
        "name": name,
        "namespace": "com.sforce.eventbus",
        "fields": fields,
    });
    let parsed = apache_avro::Schema::parse(&schema)
        .map_err(|e| format!("the event schema of {} does not parse: {e}", def.name))?;
    let id = fingerprint(&parsed);
    schema["uuid"] = json!(id);
    Ok(EventSchema {
        id,
        json: schema.to_string(),
        parsed,
        entity: def.name.clone(),
        change_event: !platform,
        slots,
    })
}

/// base64url(MD5(canonical form)), 22 characters (docs/wire-notes.md §10.5).
pub fn fingerprint(schema: &apache_avro::Schema) -> String {
    let fp = schema.fingerprint::<md5::Md5>();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(fp.bytes)
}

/// The schema generation and field count a current schema was built at, and the schema.
type Current = (i64, usize, Arc<EventSchema>);

/// Every schema handed out, by id, and the current one of each object.
#[derive(Default)]
pub struct Registry {
    by_id: Mutex<HashMap<String, Arc<EventSchema>>>,
    /// object name (lower case) -> (schema generation it was built at, schema)
    current: Mutex<HashMap<String, Current>>,
}

impl Registry {
    /// The object's current schema; rebuilt when the org's definitions changed since.
    pub fn current(&self, def: &ObjectDef, generation: i64) -> Result<Arc<EventSchema>, String> {
        let key = def.name.to_lowercase();
        if let Some((g, n, s)) = self.current.lock().get(&key) {
            if *g == generation && *n == def.fields.len() {
                return Ok(s.clone());
            }
        }
        let s = Arc::new(build(def)?);
        let s = self.by_id.lock().entry(s.id.clone()).or_insert(s).clone();
        self.current
            .lock()
            .insert(key, (generation, def.fields.len(), s.clone()));
        Ok(s)
    }

    pub fn get(&self, id: &str) -> Option<Arc<EventSchema>> {
        self.by_id.lock().get(id).cloned()
    }
}

/// Avro binary writing (docs/wire-notes.md §10.5): zig-zag varints, length-prefixed strings,
/// a union's branch index before its value.
pub mod write {
    pub fn long(out: &mut Vec<u8>, v: i64) {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        while z >= 0x80 {
            out.push((z as u8) | 0x80);
            z >>= 7;
        }
        out.push(z as u8);
    }

    pub fn string(out: &mut Vec<u8>, s: &str) {
        long(out, s.len() as i64);
        out.extend_from_slice(s.as_bytes());
    }

    pub fn strings(out: &mut Vec<u8>, items: &[String]) {
        if !items.is_empty() {
            long(out, items.len() as i64);
            for s in items {
                string(out, s);
            }
        }
        out.push(0);
    }
}

/// Writes a non-null value as the union's second branch (the zig-zag varint 1 is the byte 2);
/// false, writing nothing, when the value is null or does not fit the type.
fn scalar(out: &mut Vec<u8>, avro: &str, v: &Value) -> bool {
    let n = match (avro, v) {
        (_, Value::Null) => return false,
        ("boolean", Value::Bool(b)) => {
            out.push(2);
            out.push(u8::from(*b));
            return true;
        }
        ("double", Value::Float(f)) => {
            out.push(2);
            out.extend_from_slice(&f.to_le_bytes());
            return true;
        }
        ("double", Value::Int(i)) => {
            out.push(2);
            out.extend_from_slice(&(*i as f64).to_le_bytes());
            return true;
        }
        ("string", Value::Text(s)) => {
            out.push(2);
            write::string(out, s);
            return true;
        }
        ("int" | "long", Value::Int(i)) => *i,
        ("int" | "long", Value::Float(f)) if f.fract() == 0.0 => *f as i64,
        ("long", Value::DateTime(ms)) => *ms,
        ("long", Value::Date(days)) => i64::from(*days) * 86_400_000,
        ("long", Value::Time(ms)) => i64::from(*ms),
        _ => return false,
    };
    out.push(2);
    write::long(out, n);
    true
}

/// Writes one field of a record; `take(index)` says whether the field carries its value (an
/// update carries only the changed ones).
pub fn write_slot(out: &mut Vec<u8>, slot: &Slot, row: &[Value], take: &dyn Fn(usize) -> bool) {
    let get = |i: usize| row.get(i).unwrap_or(&Value::Null);
    match slot {
        Slot::Scalar { index, avro, .. } => {
            if !(take(*index) && scalar(out, avro, get(*index))) {
                out.push(0);
            }
        }
        Slot::Compound { parts, .. } => {
            let any = parts.iter().any(|(_, i, _)| take(*i) && !get(*i).is_null());
            if !any {
                out.push(0);
                return;
            }
            out.push(2);
            for (_, i, avro) in parts {
                if !(take(*i) && scalar(out, avro, get(*i))) {
                    out.push(0);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_fingerprints() {
        // The two schemas of docs/wire-notes.md §10.5, with their published ids.
        let low_ink = json!({"type": "record", "name": "Low_Ink__e", "namespace": "com.sforce.eventbus", "fields": [
            {"name": "CreatedDate", "type": "long"}, {"name": "CreatedById", "type": "string"},
            {"name": "Printer_Model__c", "type": ["null", "string"], "default": null},
            {"name": "Serial_Number__c", "type": ["null", "string"], "default": null},
            {"name": "Ink_Percentage__c", "type": ["null", "double"], "default": null}]});
        let s = apache_avro::Schema::parse(&low_ink).expect("parses");
        assert_eq!(fingerprint(&s), "5E5OtZj5_Gm6Vax9XMXH9A");
        let two = json!({"type": "record", "name": "CM_Test_Event_Two__e", "namespace": "com.sforce.eventbus", "fields": [
            {"name": "CreatedDate", "type": "long"}, {"name": "CreatedById", "type": "string"},
            {"name": "Message__c", "type": ["null", "string"], "default": null}]});
        let s = apache_avro::Schema::parse(&two).expect("parses");
        assert_eq!(fingerprint(&s), "K98aAtiNFBjA-PJlcvaQ2g");
    }

    #[test]
    fn account_change_event_order() {
        let s = build(&crate::data::objects::account()).expect("builds");
        assert!(s.change_event);
        let names: Vec<&str> = s.slots.iter().map(Slot::name).collect();
        assert!(!names.contains(&"Id") && !names.contains(&"SystemModstamp"));
        assert!(!names.contains(&"BillingCity"));
        assert!(names.contains(&"BillingAddress") && names.contains(&"ShippingAddress"));
        // The second address refers to the first one's record type by name.
        let j: Json = serde_json::from_str(&s.json).expect("json");
        let ship = j["fields"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["name"] == "ShippingAddress"))
            .expect("ShippingAddress");
        assert_eq!(ship["type"], json!(["null", "Address"]));
        assert_eq!(j["uuid"], json!(s.id));
    }

    #[test]
    fn long_is_zigzag() {
        let enc = |v| {
            let mut o = Vec::new();
            write::long(&mut o, v);
            o
        };
        assert_eq!(enc(0), [0]);
        assert_eq!(enc(-1), [1]);
        assert_eq!(enc(1), [2]);
        assert_eq!(enc(64), [0x80, 1]);
        assert_eq!(enc(1_746_458_032_813)[..2], [0xda, 0xea]);
    }
}
