//! Payloads read into the column builders by a compiled plan, and the builder that gathers
//! decoded events into record batches.

use super::super::avro::{ReadError, Reader};
use super::super::bitmap::FieldNames;
use super::columns::{Col, Val};
use super::plan::{Action, EventSchema, Node, Plan, Prim};
use crate::{Error, Result};
use arrow_array::RecordBatch;
use std::sync::Arc;

/// Why a payload did not decode: the dotted field path and what was wrong there.
struct Fail {
    path: String,
    what: String,
}

impl Fail {
    fn new(what: impl Into<String>) -> Self {
        Fail {
            path: String::new(),
            what: what.into(),
        }
    }

    fn within(mut self, name: &str) -> Self {
        self.path = if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{name}.{}", self.path)
        };
        self
    }
}

impl From<ReadError> for Fail {
    fn from(e: ReadError) -> Self {
        Fail::new(e.to_string())
    }
}

fn decode_plan(
    r: &mut Reader,
    plan: &Plan,
    cols: &mut [Col],
    names: &FieldNames,
) -> std::result::Result<(), Fail> {
    for step in &plan.steps {
        let done = match &step.action {
            Action::Skip(s) => r.skip(s).map_err(Fail::from),
            Action::Into(i, n) => decode_node(r, n, &mut cols[*i], names),
        };
        done.map_err(|e| e.within(&step.name))?;
    }
    for &i in &plan.absent {
        cols[i].append_null();
    }
    Ok(())
}

fn decode_node(
    r: &mut Reader,
    n: &Node,
    col: &mut Col,
    names: &FieldNames,
) -> std::result::Result<(), Fail> {
    let v = match n {
        Node::Prim(p) => match p {
            Prim::Null => Val::Null,
            Prim::Boolean => Val::Bool(r.boolean()?),
            Prim::Int => Val::Int(r.int()?),
            Prim::Long => Val::Long(r.long()?),
            Prim::Float => Val::Float(r.float()?),
            Prim::Double => Val::Double(r.double()?),
            Prim::Bytes => Val::Bytes(r.bytes()?),
            Prim::String => Val::Str(r.str()?),
            Prim::Fixed(n) => Val::Bytes(r.fixed(*n)?),
        },
        Node::Enum(e) => {
            let i = r.enum_index(e.symbols.len())?;
            Val::Str(e.symbols.get(i).map_or("", String::as_str))
        }
        Node::Union(branches) => {
            let i = r.branch(branches.len())?;
            return match branches.get(i) {
                Some(b) => decode_node(r, b, col, names),
                None => Err(Fail::new("no such union branch")),
            };
        }
        Node::Record(plan) => {
            let Col::Struct(s) = col else {
                return Err(Fail::new("a record for a column that is not a struct"));
            };
            decode_plan(r, plan, &mut s.children, names)?;
            s.nulls.append_non_null();
            return Ok(());
        }
        Node::Array(item, min) => {
            let Col::List(l) = col else {
                return Err(Fail::new("an array for a column that is not a list"));
            };
            loop {
                let count = r.block(*min)?;
                if count == 0 {
                    break;
                }
                for _ in 0..count {
                    decode_node(r, item, &mut l.child, names)?;
                }
            }
            l.close();
            l.nulls.append_non_null();
            return Ok(());
        }
        Node::Bitmap => {
            let Col::List(l) = col else {
                return Err(Fail::new("a bitmap for a column that is not a list"));
            };
            let Col::Utf8(out) = &mut l.child else {
                return Err(Fail::new("a bitmap for a list that is not of strings"));
            };
            loop {
                let count = r.block(1)?;
                if count == 0 {
                    break;
                }
                for _ in 0..count {
                    names
                        .decode(r.str()?, &mut |name| out.append_value(name))
                        .map_err(Fail::new)?;
                }
            }
            l.close();
            l.nulls.append_non_null();
            return Ok(());
        }
        Node::Mismatch(what) => {
            return Err(Fail::new(format!(
                "{what} cannot go into a {} column",
                col.type_name()
            )));
        }
    };
    col.put(v).map_err(|why| {
        Fail::new(format!(
            "an Avro {} value {why} for a {} column",
            v.kind(),
            col.type_name()
        ))
    })
}

/// Decoded events, appended one payload at a time and taken as a `RecordBatch`. A payload that
/// does not decode leaves the columns of different lengths: discard the builder after an error.
pub struct EventBatchBuilder {
    schema: Arc<EventSchema>,
    cols: Vec<Col>,
    rows: usize,
    capacity: usize,
}

impl EventBatchBuilder {
    pub fn new(schema: Arc<EventSchema>, capacity: usize) -> Self {
        let cols = schema
            .arrow
            .fields()
            .iter()
            .map(|f| Col::new(f.data_type(), capacity))
            .collect();
        EventBatchBuilder {
            schema,
            cols,
            rows: 0,
            capacity,
        }
    }

    pub fn append(&mut self, replay_id: &[u8], event_id: &str, payload: &[u8]) -> Result<()> {
        let s = &*self.schema;
        let mut r = Reader::new(payload);
        let decoded = (|| {
            if let Some(h) = &s.header {
                decode_plan(&mut r, h, &mut self.cols, &s.names)
                    .map_err(|e| e.within("ChangeEventHeader"))?;
            }
            decode_plan(&mut r, &s.body, &mut self.cols, &s.names)?;
            match r.remaining() {
                0 => Ok(()),
                n => Err(Fail::new(format!(
                    "{n} bytes left over after the last field"
                ))),
            }
        })();
        if let Err(f) = decoded {
            let at = if f.path.is_empty() {
                String::new()
            } else {
                format!("field {}: ", f.path)
            };
            return Err(Error::protocol(format!(
                "an event payload does not decode with schema {} ({}): {at}{}",
                s.id, s.record.name, f.what
            )));
        }
        if let Col::Binary(b) = &mut self.cols[0] {
            b.append_value(replay_id);
        }
        if let Col::Utf8(b) = &mut self.cols[1] {
            match event_id {
                "" => b.append_null(),
                id => b.append_value(id),
            }
        }
        self.rows += 1;
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The events appended since the last `finish`; the builder starts empty again.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let arrays = self
            .cols
            .iter_mut()
            .map(Col::finish)
            .collect::<std::result::Result<Vec<_>, _>>();
        let fresh = self
            .schema
            .arrow
            .fields()
            .iter()
            .map(|f| Col::new(f.data_type(), self.capacity));
        self.cols = fresh.collect();
        self.rows = 0;
        let bad = |e: String| {
            Error::protocol(format!(
                "events of schema {} did not assemble: {e}",
                self.schema.id
            ))
        };
        RecordBatch::try_new(self.schema.arrow.clone(), arrays.map_err(bad)?)
            .map_err(|e| bad(e.to_string()))
    }
}
