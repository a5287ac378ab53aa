//! Column builders that take Salesforce values as REST gives them (JSON) or Bulk gives them
//! (CSV text) and produce the same Arrow array either way: one conversion per type, shared.

use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder, Int32Builder, Int64Builder,
    StringBuilder, Time32MillisecondBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, ListArray, StructArray};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::{DataType, FieldRef, Fields, TimeUnit};
use serde_json::Value;
use sfarrow_soql::formats;
use std::sync::Arc;

use crate::schema::types::parse_decimal;

pub enum Builder {
    Utf8(StringBuilder),
    Bool(BooleanBuilder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float64(Float64Builder),
    Decimal(Decimal128Builder, i8),
    Date(Date32Builder),
    Timestamp(TimestampMillisecondBuilder),
    Time(Time32MillisecondBuilder),
    Struct(StructBuilder),
    List(Box<ListBuilder>),
}

pub struct StructBuilder {
    pub fields: Fields,
    pub children: Vec<Builder>,
    valid: Vec<bool>,
}

pub struct ListBuilder {
    field: FieldRef,
    offsets: Vec<i32>,
    valid: Vec<bool>,
    pub child: StructBuilder,
}

/// Text bytes per column on the last page decoded. A REST page does not say how much text it
/// holds until it is parsed: the next page's builders start this big instead of growing (and
/// copying) by doubling through every page.
#[derive(Debug, Default)]
pub struct TextHints(parking_lot::Mutex<Vec<usize>>);

impl TextHints {
    pub fn get(&self, column: usize) -> Option<usize> {
        self.0.lock().get(column).copied()
    }

    /// Notes what `builders` hold, with an eighth more room for a longer page.
    pub fn record(&self, builders: &[Builder]) {
        let sizes = builders.iter().map(|b| match b {
            Builder::Utf8(b) => {
                let used = b.values_slice().len();
                used + used / 8
            }
            _ => 0,
        });
        *self.0.lock() = sizes.collect();
    }
}

/// A conversion that failed: the value and the Arrow type it should have had.
#[derive(Debug)]
pub struct BadValue(pub String, pub DataType);

type Outcome = Result<(), BadValue>;

impl Builder {
    pub fn new(dt: &DataType, capacity: usize) -> Builder {
        match dt {
            DataType::Boolean => Builder::Bool(BooleanBuilder::with_capacity(capacity)),
            DataType::Int32 => Builder::Int32(Int32Builder::with_capacity(capacity)),
            DataType::Int64 => Builder::Int64(Int64Builder::with_capacity(capacity)),
            DataType::Float64 => Builder::Float64(Float64Builder::with_capacity(capacity)),
            DataType::Decimal128(p, s) => Builder::Decimal(
                Decimal128Builder::with_capacity(capacity)
                    .with_precision_and_scale(*p, *s)
                    .unwrap_or_else(|_| Decimal128Builder::with_capacity(capacity)),
                *s,
            ),
            DataType::Date32 => Builder::Date(Date32Builder::with_capacity(capacity)),
            DataType::Timestamp(TimeUnit::Millisecond, tz) => Builder::Timestamp(
                TimestampMillisecondBuilder::with_capacity(capacity).with_timezone_opt(tz.clone()),
            ),
            DataType::Time32(TimeUnit::Millisecond) => {
                Builder::Time(Time32MillisecondBuilder::with_capacity(capacity))
            }
            DataType::Struct(fields) => {
                Builder::Struct(StructBuilder::new(fields.clone(), capacity))
            }
            DataType::List(field) => match field.data_type() {
                DataType::Struct(fields) => Builder::List(Box::new(ListBuilder {
                    field: field.clone(),
                    offsets: vec![0],
                    valid: Vec::with_capacity(capacity),
                    child: StructBuilder::new(fields.clone(), capacity),
                })),
                _ => Builder::Utf8(StringBuilder::with_capacity(capacity, capacity * 16)),
            },
            _ => Builder::Utf8(StringBuilder::with_capacity(capacity, capacity * 16)),
        }
    }

    /// Like `new`, with `bytes` of room for text when `dt` is a text type.
    pub fn with_text_bytes(dt: &DataType, capacity: usize, bytes: usize) -> Builder {
        match Builder::new(dt, 0) {
            Builder::Utf8(_) => Builder::Utf8(StringBuilder::with_capacity(capacity, bytes)),
            _ => Builder::new(dt, capacity),
        }
    }

    /// Rows appended so far.
    pub fn rows(&self) -> usize {
        use arrow_array::builder::ArrayBuilder;
        match self {
            Builder::Utf8(b) => b.len(),
            Builder::Bool(b) => b.len(),
            Builder::Int32(b) => b.len(),
            Builder::Int64(b) => b.len(),
            Builder::Float64(b) => b.len(),
            Builder::Decimal(b, _) => b.len(),
            Builder::Date(b) => b.len(),
            Builder::Timestamp(b) => b.len(),
            Builder::Time(b) => b.len(),
            Builder::Struct(s) => s.valid.len(),
            Builder::List(l) => l.valid.len(),
        }
    }

    pub fn append_null(&mut self) {
        match self {
            Builder::Utf8(b) => b.append_null(),
            Builder::Bool(b) => b.append_null(),
            Builder::Int32(b) => b.append_null(),
            Builder::Int64(b) => b.append_null(),
            Builder::Float64(b) => b.append_null(),
            Builder::Decimal(b, _) => b.append_null(),
            Builder::Date(b) => b.append_null(),
            Builder::Timestamp(b) => b.append_null(),
            Builder::Time(b) => b.append_null(),
            Builder::Struct(s) => s.append_null(),
            Builder::List(l) => {
                l.offsets.push(*l.offsets.last().unwrap_or(&0));
                l.valid.push(false);
            }
        }
    }

    fn data_type(&self) -> DataType {
        match self {
            Builder::Utf8(_) => DataType::Utf8,
            Builder::Bool(_) => DataType::Boolean,
            Builder::Int32(_) => DataType::Int32,
            Builder::Int64(_) => DataType::Int64,
            Builder::Float64(_) => DataType::Float64,
            Builder::Decimal(_, s) => DataType::Decimal128(38, *s),
            Builder::Date(_) => DataType::Date32,
            Builder::Timestamp(_) => DataType::Timestamp(TimeUnit::Millisecond, None),
            Builder::Time(_) => DataType::Time32(TimeUnit::Millisecond),
            Builder::Struct(s) => DataType::Struct(s.fields.clone()),
            Builder::List(l) => DataType::List(l.field.clone()),
        }
    }

    /// A Bulk CSV cell (or a JSON string): the empty string is null.
    pub fn append_text(&mut self, text: &str) -> Outcome {
        if text.is_empty() {
            self.append_null();
            return Ok(());
        }
        let bad = |b: &Builder| BadValue(text.to_string(), b.data_type());
        match self {
            Builder::Utf8(b) => b.append_value(text),
            Builder::Bool(b) => match text {
                "true" | "TRUE" | "True" => b.append_value(true),
                "false" | "FALSE" | "False" => b.append_value(false),
                _ => return Err(bad(self)),
            },
            Builder::Int32(b) => match text
                .parse::<i32>()
                .ok()
                .or_else(|| whole(text).and_then(|v| i32::try_from(v).ok()))
            {
                Some(v) => b.append_value(v),
                None => return Err(bad(self)),
            },
            Builder::Int64(b) => match text.parse::<i64>().ok().or_else(|| whole(text)) {
                Some(v) => b.append_value(v),
                None => return Err(bad(self)),
            },
            Builder::Float64(b) => match text.parse::<f64>() {
                Ok(v) => b.append_value(v),
                Err(_) => return Err(bad(self)),
            },
            Builder::Decimal(b, scale) => match parse_decimal(text, *scale) {
                Some(v) => b.append_value(v),
                None => return Err(bad(self)),
            },
            Builder::Date(b) => match formats::parse_date(text) {
                Some(v) => b.append_value(v),
                None => return Err(bad(self)),
            },
            Builder::Timestamp(b) => match formats::parse_datetime(text) {
                Some(v) => b.append_value(v),
                None => return Err(bad(self)),
            },
            Builder::Time(b) => match formats::parse_time(text) {
                Some(v) => b.append_value(v),
                None => return Err(bad(self)),
            },
            Builder::Struct(_) | Builder::List(_) => return Err(bad(self)),
        }
        Ok(())
    }

    /// A REST JSON value.
    pub fn append_json(&mut self, v: &Value) -> Outcome {
        let nested = matches!(self, Builder::Struct(_) | Builder::List(_));
        match v {
            Value::Null => {
                self.append_null();
                return Ok(());
            }
            Value::String(s) if !nested => return self.append_text(s),
            Value::Number(n)
                if !matches!(
                    self,
                    Builder::Int32(_) | Builder::Int64(_) | Builder::Float64(_)
                ) && !nested =>
            {
                return self.append_text(&n.to_string())
            }
            _ => {}
        }
        match (v, &mut *self) {
            (Value::Bool(x), Builder::Bool(b)) => b.append_value(*x),
            (Value::Number(n), Builder::Int32(b)) => match n
                .as_i64()
                .and_then(|i| i32::try_from(i).ok())
                .or_else(|| whole(&n.to_string()).and_then(|i| i32::try_from(i).ok()))
            {
                Some(i) => b.append_value(i),
                None => return Err(BadValue(n.to_string(), DataType::Int32)),
            },
            (Value::Number(n), Builder::Int64(b)) => {
                match n.as_i64().or_else(|| whole(&n.to_string())) {
                    Some(i) => b.append_value(i),
                    None => return Err(BadValue(n.to_string(), DataType::Int64)),
                }
            }
            (Value::Number(n), Builder::Float64(b)) => match n.as_f64() {
                Some(f) => b.append_value(f),
                None => return Err(BadValue(n.to_string(), DataType::Float64)),
            },
            (Value::Bool(x), Builder::Utf8(b)) => b.append_value(if *x { "true" } else { "false" }),
            (Value::Object(m), Builder::Struct(s)) => s.append_object(m)?,
            (Value::Object(m), Builder::List(l)) => l.append_records(m)?,
            (other, Builder::Utf8(b)) => b.append_value(other.to_string()),
            (other, b) => return Err(BadValue(other.to_string(), b.data_type())),
        }
        Ok(())
    }

    pub fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Utf8(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Int32(b) => Arc::new(b.finish()),
            Builder::Int64(b) => Arc::new(b.finish()),
            Builder::Float64(b) => Arc::new(b.finish()),
            Builder::Decimal(b, _) => Arc::new(b.finish()),
            Builder::Date(b) => Arc::new(b.finish()),
            Builder::Timestamp(b) => Arc::new(b.finish()),
            Builder::Time(b) => Arc::new(b.finish()),
            Builder::Struct(s) => Arc::new(s.finish()),
            Builder::List(l) => {
                let offsets = OffsetBuffer::new(std::mem::replace(&mut l.offsets, vec![0]).into());
                let nulls = NullBuffer::from(std::mem::take(&mut l.valid));
                let child = Arc::new(l.child.finish());
                Arc::new(ListArray::new(l.field.clone(), offsets, child, Some(nulls)))
            }
        }
    }
}

/// Whole numbers written as doubles (`10.0`, `1E3`) still fit integer columns.
fn whole(text: &str) -> Option<i64> {
    let f: f64 = text.parse().ok()?;
    (f.fract() == 0.0 && f.abs() < 9.2e18).then_some(f as i64)
}

impl StructBuilder {
    pub fn new(fields: Fields, capacity: usize) -> Self {
        let children = fields
            .iter()
            .map(|f| Builder::new(f.data_type(), capacity))
            .collect();
        StructBuilder {
            fields,
            children,
            valid: Vec::with_capacity(capacity),
        }
    }

    pub fn append_null(&mut self) {
        for c in &mut self.children {
            c.append_null();
        }
        self.valid.push(false);
    }

    /// Marks the row valid after the caller appended one value to every child.
    pub fn append_valid(&mut self) {
        self.valid.push(true);
    }

    fn append_object(&mut self, m: &serde_json::Map<String, Value>) -> Outcome {
        for (f, c) in self.fields.iter().zip(&mut self.children) {
            match m.get(f.name()) {
                Some(v) => c.append_json(v)?,
                None => c.append_null(),
            }
        }
        self.valid.push(true);
        Ok(())
    }

    pub fn finish(&mut self) -> StructArray {
        let arrays: Vec<ArrayRef> = self.children.iter_mut().map(Builder::finish).collect();
        let nulls = NullBuffer::from(std::mem::take(&mut self.valid));
        StructArray::new(self.fields.clone(), arrays, Some(nulls))
    }
}

impl ListBuilder {
    /// A child query result `{"totalSize", "done", "records": [...]}`.
    fn append_records(&mut self, m: &serde_json::Map<String, Value>) -> Outcome {
        let records = m
            .get("records")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for r in records {
            match r {
                Value::Object(obj) => self.child.append_flat(obj)?,
                _ => self.child.append_null(),
            }
        }
        let last = *self.offsets.last().unwrap_or(&0);
        self.offsets.push(last + records.len() as i32);
        self.valid.push(true);
        Ok(())
    }
}

impl StructBuilder {
    /// A child record: fields named by path (`Owner.Name`) are looked up through the nesting.
    fn append_flat(&mut self, obj: &serde_json::Map<String, Value>) -> Outcome {
        for (f, c) in self.fields.iter().zip(&mut self.children) {
            match lookup(obj, f.name()) {
                Some(v) => c.append_json(v)?,
                None => c.append_null(),
            }
        }
        self.valid.push(true);
        Ok(())
    }
}

/// Walks a dotted path through nested JSON objects; a null parent gives `None`.
pub fn lookup<'a>(obj: &'a serde_json::Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut cur = obj;
    let mut segs = path.split('.').peekable();
    while let Some(seg) = segs.next() {
        let v = cur.get(seg)?;
        if segs.peek().is_none() {
            return Some(v);
        }
        cur = v.as_object()?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_text_agree() {
        let cases: Vec<(DataType, Value, &str)> = vec![
            (DataType::Int32, serde_json::json!(7), "7"),
            (DataType::Float64, serde_json::json!(139000000.0), "1.39E8"),
            (
                DataType::Decimal128(18, 2),
                serde_json::json!(12.5),
                "12.50",
            ),
            (DataType::Boolean, serde_json::json!(true), "true"),
            (
                DataType::Timestamp(TimeUnit::Millisecond, Some("+00:00".into())),
                serde_json::json!("2021-07-21T04:13:15.000+0000"),
                "2021-07-21T04:13:15.000Z",
            ),
            (DataType::Utf8, serde_json::json!(""), ""),
        ];
        for (dt, json, text) in cases {
            let mut a = Builder::new(&dt, 1);
            let mut b = Builder::new(&dt, 1);
            a.append_json(&json).unwrap();
            b.append_text(text).unwrap();
            assert_eq!(a.finish().as_ref(), b.finish().as_ref(), "{dt}");
        }
    }
}
