//! A Pub/Sub event schema compiled into a plan: the Arrow schema of its batches, and for each
//! Avro field the column it lands in and how its value is read.

use super::super::avro::{self, Record, Schema};
use super::super::bitmap::FieldNames;
use crate::schema::types::{component_key, compound_fields, scalar_type};
use crate::schema::ObjectInfo;
use crate::{Error, Result};
use arrow_schema::{DataType, Field, Fields, SchemaRef, TimeUnit};
use sfarrow_soql::types::UTC;
use std::collections::HashMap;
use std::sync::Arc;

/// The header's columns after `replay_id` and `event_id`: (Avro field, column name).
const HEADER: &[(&str, &str)] = &[
    ("changeType", "change_type"),
    ("entityName", "entity"),
    ("recordIds", "record_ids"),
    ("changedFields", "changed_fields"),
    ("nulledFields", "nulled_fields"),
    ("diffFields", "diff_fields"),
    ("changeOrigin", "change_origin"),
    ("transactionKey", "transaction_key"),
    ("sequenceNumber", "sequence_number"),
    ("commitTimestamp", "commit_timestamp"),
    ("commitNumber", "commit_number"),
    ("commitUser", "commit_user"),
];

fn header_type(column: &str) -> DataType {
    let strings = DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)));
    match column {
        "record_ids" | "changed_fields" | "nulled_fields" | "diff_fields" => strings,
        "sequence_number" => DataType::Int32,
        "commit_timestamp" => DataType::Timestamp(TimeUnit::Millisecond, Some(UTC.into())),
        "commit_number" => DataType::Int64,
        _ => DataType::Utf8,
    }
}

pub struct EventSchema {
    pub(super) id: String,
    avro: Schema,
    pub(super) record: Arc<Record>,
    pub(super) arrow: SchemaRef,
    entity: String,
    pub(super) names: FieldNames,
    /// The header's fields, into top-level columns; `None` for platform events.
    pub(super) header: Option<Plan>,
    /// The record's fields after the header.
    pub(super) body: Plan,
}

/// One record's fields in Avro order, and the columns no field fills (null every row).
pub(super) struct Plan {
    pub(super) steps: Vec<Step>,
    pub(super) absent: Vec<usize>,
}

pub(super) struct Step {
    pub(super) name: String,
    pub(super) action: Action,
}

pub(super) enum Action {
    Skip(Schema),
    Into(usize, Node),
}

/// How to read one Avro value into its column.
pub(super) enum Node {
    Prim(Prim),
    Enum(Arc<avro::Enum>),
    Union(Vec<Node>),
    /// A nested record into a struct column.
    Record(Box<Plan>),
    /// An array into a list column: the item node and the item's minimum size.
    Array(Box<Node>, usize),
    /// A header bitmap list into a list of field names.
    Bitmap,
    /// A type the column cannot take: an error when a value of it turns up.
    Mismatch(&'static str),
}

#[derive(Clone, Copy)]
pub(super) enum Prim {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Fixed(usize),
}

impl EventSchema {
    /// `describe`: the entity's describe, if the caller could fetch it; without it (or for
    /// fields it lacks) columns take the Avro type.
    pub fn compile(
        schema_id: &str,
        schema_json: &str,
        describe: Option<&ObjectInfo>,
    ) -> Result<EventSchema> {
        let bad = |m: String| Error::protocol(format!("event schema {schema_id}: {m}"));
        let avro = Schema::parse(schema_json).map_err(bad)?;
        let record = avro
            .as_record()
            .ok_or_else(|| {
                bad(format!(
                    "the schema is an Avro {}, not a record",
                    avro.type_name()
                ))
            })?
            .clone();
        let header_record = match record.fields.first().map(|f| &f.schema) {
            Some(Schema::Record(h)) if h.name == "ChangeEventHeader" => Some(h.clone()),
            _ => None,
        };
        let mut fields = vec![
            Field::new("replay_id", DataType::Binary, false),
            Field::new("event_id", DataType::Utf8, true),
        ];
        let header = header_record.as_ref().map(|h| {
            let first = fields.len();
            for (_, column) in HEADER {
                fields.push(Field::new(*column, header_type(column), true));
            }
            let mut used = vec![false; HEADER.len()];
            let steps = h
                .fields
                .iter()
                .map(|f| {
                    let k = HEADER.iter().position(|(name, _)| *name == f.name);
                    let action = match k {
                        Some(k) if !used[k] => {
                            used[k] = true;
                            let bitmap = matches!(
                                HEADER[k].1,
                                "changed_fields" | "nulled_fields" | "diff_fields"
                            );
                            Action::Into(
                                first + k,
                                node(&f.schema, &header_type(HEADER[k].1), &f.name, bitmap),
                            )
                        }
                        _ => Action::Skip(f.schema.clone()),
                    };
                    Step {
                        name: f.name.clone(),
                        action,
                    }
                })
                .collect();
            let absent = (0..HEADER.len())
                .filter(|&k| !used[k])
                .map(|k| first + k)
                .collect();
            Plan { steps, absent }
        });
        let skip = usize::from(header.is_some());
        let mut steps = Vec::new();
        for f in record.fields.iter().skip(skip) {
            let action = match column_type(&f.name, &f.schema, describe) {
                Some((dt, parent)) => {
                    let n = node(&f.schema, &dt, &parent, false);
                    fields.push(Field::new(&f.name, dt, true));
                    Action::Into(fields.len() - 1, n)
                }
                None => Action::Skip(f.schema.clone()),
            };
            steps.push(Step {
                name: f.name.clone(),
                action,
            });
        }
        let entity = match (&header_record, record.name.strip_suffix("ChangeEvent")) {
            (Some(_), Some(stem)) if stem.ends_with("__") => format!("{stem}c"),
            (Some(_), Some(stem)) if !stem.is_empty() => stem.to_string(),
            _ => record.name.clone(),
        };
        let metadata = HashMap::from([
            ("sfarrow.schema_id".to_string(), schema_id.to_string()),
            ("sfarrow.entity".to_string(), entity.clone()),
        ]);
        Ok(EventSchema {
            id: schema_id.to_string(),
            names: FieldNames::new(&record),
            avro,
            record,
            arrow: Arc::new(arrow_schema::Schema::new_with_metadata(fields, metadata)),
            entity,
            header,
            body: Plan {
                steps,
                absent: Vec::new(),
            },
        })
    }

    pub fn arrow_schema(&self) -> SchemaRef {
        self.arrow.clone()
    }

    pub fn is_change_event(&self) -> bool {
        self.header.is_some()
    }

    /// The object a change event is about (`Account`, `Employee__c`), or the platform event.
    pub fn entity(&self) -> &str {
        &self.entity
    }

    pub fn schema_id(&self) -> &str {
        &self.id
    }

    pub fn avro(&self) -> &Schema {
        &self.avro
    }

    pub fn record(&self) -> &Record {
        &self.record
    }

    /// The names the header's bitmaps decode to, for the publisher and tests.
    pub fn field_names(&self) -> &FieldNames {
        &self.names
    }
}

/// The column type of a record field and the name struct keys derive from, or `None` for a
/// field no column can hold (a map, a bare null).
fn column_type(
    name: &str,
    schema: &Schema,
    describe: Option<&ObjectInfo>,
) -> Option<(DataType, String)> {
    let value = value_schema(schema);
    let nested = matches!(value, Schema::Record(_));
    if let Some((obj, info)) = describe.and_then(|d| Some((d, d.field(name)?))) {
        let parts = compound_fields(obj, info);
        // Compounds, and names whose components Avro nests (Contact's Name), are structs.
        if nested && !parts.is_empty() {
            let fields: Fields = parts.into_iter().map(|(f, _, _)| f).collect();
            return Some((DataType::Struct(fields), info.name.clone()));
        }
        if !nested && !info.ftype.is_compound() {
            return Some((scalar_type(info), info.name.clone()));
        }
    }
    Some((fallback(value)?, name.to_string()))
}

/// The type a value has when set: the first non-null branch of a union.
fn value_schema(s: &Schema) -> &Schema {
    match s {
        Schema::Union(b) => b
            .iter()
            .find(|b| **b != Schema::Null)
            .unwrap_or(&Schema::Null),
        other => other,
    }
}

fn fallback(s: &Schema) -> Option<DataType> {
    Some(match s {
        Schema::String | Schema::Enum(_) => DataType::Utf8,
        Schema::Boolean => DataType::Boolean,
        Schema::Int => DataType::Int32,
        Schema::Long => DataType::Int64,
        Schema::Float | Schema::Double => DataType::Float64,
        Schema::Bytes | Schema::Fixed(_) => DataType::Binary,
        Schema::Array(items) => DataType::List(Arc::new(Field::new_list_field(
            fallback(value_schema(items))?,
            true,
        ))),
        Schema::Record(r) => {
            let fields: Fields = r
                .fields
                .iter()
                .filter_map(|f| {
                    Some(Field::new(
                        &f.name,
                        fallback(value_schema(&f.schema))?,
                        true,
                    ))
                })
                .collect();
            if fields.is_empty() {
                return None;
            }
            DataType::Struct(fields)
        }
        Schema::Null | Schema::Map(_) | Schema::Union(_) => return None,
    })
}

fn node(s: &Schema, dt: &DataType, parent: &str, bitmap: bool) -> Node {
    match (s, dt) {
        (Schema::Null, _) => Node::Prim(Prim::Null),
        (Schema::Union(b), _) => {
            Node::Union(b.iter().map(|s| node(s, dt, parent, bitmap)).collect())
        }
        (Schema::Array(items), DataType::List(_)) if bitmap => match **items {
            Schema::String => Node::Bitmap,
            _ => Node::Mismatch("a bitmap list that is not an array of strings"),
        },
        (Schema::Array(items), DataType::List(f)) => Node::Array(
            Box::new(node(items, f.data_type(), parent, false)),
            items.min_size(),
        ),
        (Schema::Record(r), DataType::Struct(fields)) => {
            Node::Record(Box::new(struct_plan(r, fields, parent)))
        }
        (Schema::Array(_), _) => Node::Mismatch("an array"),
        (Schema::Record(_), _) => Node::Mismatch("a record"),
        (Schema::Map(_), _) => Node::Mismatch("a map"),
        (Schema::Enum(e), _) => Node::Enum(e.clone()),
        (Schema::Fixed(f), _) => Node::Prim(Prim::Fixed(f.size)),
        (Schema::Boolean, _) => Node::Prim(Prim::Boolean),
        (Schema::Int, _) => Node::Prim(Prim::Int),
        (Schema::Long, _) => Node::Prim(Prim::Long),
        (Schema::Float, _) => Node::Prim(Prim::Float),
        (Schema::Double, _) => Node::Prim(Prim::Double),
        (Schema::Bytes, _) => Node::Prim(Prim::Bytes),
        (Schema::String, _) => Node::Prim(Prim::String),
    }
}

/// A nested record into a struct: each Avro field finds its child by the key the read
/// planner gives that component (`PostalCode` in `BillingAddress` -> `postalCode`).
fn struct_plan(r: &Record, fields: &Fields, parent: &str) -> Plan {
    let mut used = vec![false; fields.len()];
    let steps = r
        .fields
        .iter()
        .map(|f| {
            let key = component_key(parent, &f.name);
            let child = fields.iter().enumerate().position(|(i, c)| {
                !used[i]
                    && (c.name().eq_ignore_ascii_case(&key)
                        || c.name().eq_ignore_ascii_case(&f.name))
            });
            let action = match child {
                Some(i) => {
                    used[i] = true;
                    Action::Into(i, node(&f.schema, fields[i].data_type(), &f.name, false))
                }
                None => Action::Skip(f.schema.clone()),
            };
            Step {
                name: f.name.clone(),
                action,
            }
        })
        .collect();
    let absent = (0..fields.len()).filter(|&i| !used[i]).collect();
    Plan { steps, absent }
}
