//! The Arrow column builders events decode into, and the one conversion table from an Avro
//! value to each Arrow type the decoder produces. Kept apart from the plan in `decode` so each
//! file reads on its own; nothing here knows about schemas.

use crate::schema::types::parse_decimal;
use arrow_array::builder::{
    ArrayBuilder, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder,
    Int32Builder, Int64Builder, StringBuilder, Time32MillisecondBuilder,
    TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, ListArray, StructArray};
use arrow_buffer::{NullBufferBuilder, OffsetBuffer};
use arrow_schema::{DataType, FieldRef, Fields};
use std::fmt::Write;
use std::sync::Arc;

pub(super) use crate::schema::cells::MS_PER_DAY;

/// A decoded primitive, borrowed from the payload.
#[derive(Clone, Copy)]
pub(super) enum Val<'a> {
    Null,
    Bool(bool),
    Int(i32),
    Long(i64),
    Float(f32),
    Double(f64),
    Bytes(&'a [u8]),
    Str(&'a str),
}

impl Val<'_> {
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Val::Null => "null",
            Val::Bool(_) => "boolean",
            Val::Int(_) => "int",
            Val::Long(_) => "long",
            Val::Float(_) => "float",
            Val::Double(_) => "double",
            Val::Bytes(_) => "bytes",
            Val::Str(_) => "string",
        }
    }
}

pub(super) enum Col {
    Utf8(StringBuilder),
    Binary(BinaryBuilder),
    Bool(BooleanBuilder),
    I32(Int32Builder),
    I64(Int64Builder),
    F64(Float64Builder),
    Dec(Box<DecCol>),
    Date(Date32Builder),
    Ts(TimestampMillisecondBuilder),
    Time(Time32MillisecondBuilder),
    Struct(Box<StructCol>),
    List(Box<ListCol>),
}

pub(super) struct StructCol {
    fields: Fields,
    pub(super) children: Vec<Col>,
    pub(super) nulls: NullBufferBuilder,
}

pub(super) struct DecCol {
    b: Decimal128Builder,
    precision: u8,
    scale: i8,
    /// Reused for each value's text, so converting a double allocates nothing.
    text: String,
}

pub(super) struct ListCol {
    field: FieldRef,
    pub(super) child: Col,
    offsets: Vec<i32>,
    pub(super) nulls: NullBufferBuilder,
}

impl Col {
    pub(super) fn new(dt: &DataType, n: usize) -> Col {
        match dt {
            DataType::Binary => Col::Binary(BinaryBuilder::with_capacity(n, n * 8)),
            DataType::Boolean => Col::Bool(BooleanBuilder::with_capacity(n)),
            DataType::Int32 => Col::I32(Int32Builder::with_capacity(n)),
            DataType::Int64 => Col::I64(Int64Builder::with_capacity(n)),
            DataType::Float64 => Col::F64(Float64Builder::with_capacity(n)),
            DataType::Decimal128(p, s) => {
                let b = Decimal128Builder::with_capacity(n).with_precision_and_scale(*p, *s);
                let b = b.unwrap_or_else(|_| Decimal128Builder::with_capacity(n));
                Col::Dec(Box::new(DecCol {
                    b,
                    precision: *p,
                    scale: *s,
                    text: String::new(),
                }))
            }
            DataType::Date32 => Col::Date(Date32Builder::with_capacity(n)),
            DataType::Timestamp(_, tz) => {
                Col::Ts(TimestampMillisecondBuilder::with_capacity(n).with_timezone_opt(tz.clone()))
            }
            DataType::Time32(_) => Col::Time(Time32MillisecondBuilder::with_capacity(n)),
            DataType::Struct(fields) => Col::Struct(Box::new(StructCol {
                fields: fields.clone(),
                children: fields.iter().map(|f| Col::new(f.data_type(), n)).collect(),
                nulls: NullBufferBuilder::new(n),
            })),
            DataType::List(field) => Col::List(Box::new(ListCol {
                field: field.clone(),
                child: Col::new(field.data_type(), n),
                offsets: vec![0],
                nulls: NullBufferBuilder::new(n),
            })),
            _ => Col::Utf8(StringBuilder::with_capacity(n, n * 16)),
        }
    }

    pub(super) fn len(&self) -> usize {
        match self {
            Col::Utf8(b) => b.len(),
            Col::Binary(b) => b.len(),
            Col::Bool(b) => b.len(),
            Col::I32(b) => b.len(),
            Col::I64(b) => b.len(),
            Col::F64(b) => b.len(),
            Col::Dec(d) => d.b.len(),
            Col::Date(b) => b.len(),
            Col::Ts(b) => b.len(),
            Col::Time(b) => b.len(),
            Col::Struct(s) => s.nulls.len(),
            Col::List(l) => l.nulls.len(),
        }
    }

    pub(super) fn type_name(&self) -> String {
        match self {
            Col::Dec(d) => format!("Decimal128({}, {})", d.precision, d.scale),
            Col::Struct(_) => "Struct".into(),
            Col::List(_) => "List".into(),
            Col::Utf8(_) => "Utf8".into(),
            Col::Binary(_) => "Binary".into(),
            Col::Bool(_) => "Boolean".into(),
            Col::I32(_) => "Int32".into(),
            Col::I64(_) => "Int64".into(),
            Col::F64(_) => "Float64".into(),
            Col::Date(_) => "Date32".into(),
            Col::Ts(_) => "Timestamp(ms)".into(),
            Col::Time(_) => "Time32(ms)".into(),
        }
    }

    pub(super) fn append_null(&mut self) {
        match self {
            Col::Utf8(b) => b.append_null(),
            Col::Binary(b) => b.append_null(),
            Col::Bool(b) => b.append_null(),
            Col::I32(b) => b.append_null(),
            Col::I64(b) => b.append_null(),
            Col::F64(b) => b.append_null(),
            Col::Dec(d) => d.b.append_null(),
            Col::Date(b) => b.append_null(),
            Col::Ts(b) => b.append_null(),
            Col::Time(b) => b.append_null(),
            Col::Struct(s) => {
                s.children.iter_mut().for_each(Col::append_null);
                s.nulls.append_null();
            }
            Col::List(l) => {
                l.close();
                l.nulls.append_null();
            }
        }
    }

    /// Converts one value to the column's type; `Err` says why it could not.
    #[inline]
    pub(super) fn put(&mut self, v: Val) -> std::result::Result<(), &'static str> {
        match (self, v) {
            (c, Val::Null) => c.append_null(),
            (Col::Utf8(b), Val::Str(s)) => b.append_value(s),
            (Col::Utf8(b), Val::Bytes(x)) => {
                b.append_value(simdutf8::basic::from_utf8(x).map_err(|_| "is not UTF-8")?)
            }
            (Col::Binary(b), Val::Bytes(x)) => b.append_value(x),
            (Col::Binary(b), Val::Str(s)) => b.append_value(s),
            (Col::Bool(b), Val::Bool(x)) => b.append_value(x),
            (Col::I32(b), Val::Int(i)) => b.append_value(i),
            (Col::I32(b), Val::Long(l)) => {
                b.append_value(i32::try_from(l).map_err(|_| "is out of range")?)
            }
            (Col::I64(b), Val::Int(i)) => b.append_value(i.into()),
            (Col::I64(b), Val::Long(l)) => b.append_value(l),
            (Col::F64(b), Val::Int(i)) => b.append_value(i.into()),
            (Col::F64(b), Val::Long(l)) => b.append_value(l as f64),
            (Col::F64(b), Val::Float(f)) => b.append_value(f.into()),
            (Col::F64(b), Val::Double(f)) => b.append_value(f),
            (Col::Dec(d), Val::Int(i)) => decimal_from_int(d, i.into())?,
            (Col::Dec(d), Val::Long(l)) => decimal_from_int(d, l)?,
            (Col::Dec(d), Val::Float(f)) => decimal_from_f64(d, f.into())?,
            (Col::Dec(d), Val::Double(f)) => decimal_from_f64(d, f)?,
            (Col::Ts(b), Val::Long(ms)) => b.append_value(ms),
            (Col::Date(b), Val::Int(days)) => b.append_value(days),
            (Col::Date(b), Val::Long(ms)) => {
                let days =
                    i32::try_from(ms.div_euclid(MS_PER_DAY)).map_err(|_| "is out of range")?;
                b.append_value(days)
            }
            (Col::Time(b), Val::Int(ms)) => b.append_value(time_of_day(ms.into())?),
            (Col::Time(b), Val::Long(ms)) => b.append_value(time_of_day(ms)?),
            (Col::Time(b), Val::Str(s)) => b.append_value(
                sfarrow_soql::formats::parse_time(s).ok_or("is not a time HH:MM:SS.sss")?,
            ),
            _ => return Err("has no conversion"),
        }
        Ok(())
    }

    pub(super) fn finish(&mut self) -> std::result::Result<ArrayRef, String> {
        Ok(match self {
            Col::Utf8(b) => Arc::new(b.finish()),
            Col::Binary(b) => Arc::new(b.finish()),
            Col::Bool(b) => Arc::new(b.finish()),
            Col::I32(b) => Arc::new(b.finish()),
            Col::I64(b) => Arc::new(b.finish()),
            Col::F64(b) => Arc::new(b.finish()),
            Col::Dec(d) => Arc::new(d.b.finish()),
            Col::Date(b) => Arc::new(b.finish()),
            Col::Ts(b) => Arc::new(b.finish()),
            Col::Time(b) => Arc::new(b.finish()),
            Col::Struct(s) => {
                let arrays = s
                    .children
                    .iter_mut()
                    .map(Col::finish)
                    .collect::<std::result::Result<_, _>>()?;
                Arc::new(
                    StructArray::try_new(s.fields.clone(), arrays, s.nulls.finish())
                        .map_err(|e| e.to_string())?,
                )
            }
            Col::List(l) => {
                let offsets = std::mem::replace(&mut l.offsets, vec![0]);
                let child = l.child.finish()?;
                let list = ListArray::try_new(
                    l.field.clone(),
                    OffsetBuffer::new(offsets.into()),
                    child,
                    l.nulls.finish(),
                );
                Arc::new(list.map_err(|e| e.to_string())?)
            }
        })
    }
}

impl ListCol {
    /// Ends the current list at the child's length.
    pub(super) fn close(&mut self) {
        self.offsets
            .push(i32::try_from(self.child.len()).unwrap_or(i32::MAX));
    }
}

fn time_of_day(ms: i64) -> std::result::Result<i32, &'static str> {
    match i32::try_from(ms) {
        Ok(t) if (0..MS_PER_DAY).contains(&ms) => Ok(t),
        _ => Err("is not a time of day in milliseconds"),
    }
}

fn decimal_from_int(d: &mut DecCol, v: i64) -> std::result::Result<(), &'static str> {
    let scaled = if d.scale >= 0 {
        10i128
            .checked_pow(d.scale as u32)
            .and_then(|p| i128::from(v).checked_mul(p))
    } else {
        10i128
            .checked_pow(u32::from(d.scale.unsigned_abs()))
            .map(|p| i128::from(v) / p)
    };
    append_decimal(d, scaled)
}

/// Through the double's shortest text, as the REST path reads the same value from JSON.
fn decimal_from_f64(d: &mut DecCol, v: f64) -> std::result::Result<(), &'static str> {
    d.text.clear();
    let _ = write!(d.text, "{v}");
    let parsed = parse_decimal(&d.text, d.scale);
    append_decimal(d, parsed)
}

fn append_decimal(d: &mut DecCol, v: Option<i128>) -> std::result::Result<(), &'static str> {
    let limit = 10i128
        .checked_pow(u32::from(d.precision))
        .unwrap_or(i128::MAX);
    match v {
        Some(v) if v.unsigned_abs() < limit.unsigned_abs() => {
            d.b.append_value(v);
            Ok(())
        }
        _ => Err("is not a finite number within the decimal's precision"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Date32Type, Decimal128Type, Int32Type, Time32MillisecondType};
    use arrow_array::Array;
    use arrow_schema::{Field, TimeUnit};

    fn one(dt: DataType, v: Val) -> Result<ArrayRef, &'static str> {
        let mut c = Col::new(&dt, 1);
        c.put(v)?;
        Ok(c.finish().unwrap())
    }

    #[test]
    fn decimals_take_the_doubles_shortest_digits() {
        let dec = |v| {
            one(DataType::Decimal128(18, 2), v).map(|a| a.as_primitive::<Decimal128Type>().value(0))
        };
        assert_eq!(dec(Val::Double(0.1 + 0.2)), Ok(30));
        assert_eq!(dec(Val::Double(1_234_567.891)), Ok(123_456_789));
        assert_eq!(
            dec(Val::Double(1.005)),
            Ok(101),
            "as parse_decimal rounds the REST text"
        );
        assert_eq!(dec(Val::Double(-0.5e-2)), Ok(-1));
        assert_eq!(dec(Val::Float(2.5)), Ok(250));
        assert_eq!(dec(Val::Int(7)), Ok(700));
        assert_eq!(
            dec(Val::Double(9_999_999_999_999_999.0)),
            Err("is not a finite number within the decimal's precision")
        );
        for bad in [
            Val::Long(i64::MAX),
            Val::Double(f64::NAN),
            Val::Double(f64::INFINITY),
            Val::Double(1e300),
        ] {
            assert!(dec(bad).is_err());
        }
    }

    #[test]
    fn dates_times_and_ranges() {
        let date = |v| one(DataType::Date32, v).map(|a| a.as_primitive::<Date32Type>().value(0));
        assert_eq!(
            date(Val::Long(-1)),
            Ok(-1),
            "epoch ms round down to the day"
        );
        assert_eq!(date(Val::Long(MS_PER_DAY)), Ok(1));
        assert_eq!(date(Val::Int(20_000)), Ok(20_000));
        assert!(date(Val::Long(i64::MAX)).is_err());
        let time = |v| {
            one(DataType::Time32(TimeUnit::Millisecond), v)
                .map(|a| a.as_primitive::<Time32MillisecondType>().value(0))
        };
        assert_eq!(time(Val::Str("01:00:01.500Z")), Ok(3_601_500));
        assert_eq!(time(Val::Long(3_601_500)), Ok(3_601_500));
        assert!(time(Val::Long(MS_PER_DAY)).is_err());
        assert!(time(Val::Int(-1)).is_err());
        assert!(time(Val::Str("25:00")).is_err());
        let int = |v| one(DataType::Int32, v).map(|a| a.as_primitive::<Int32Type>().value(0));
        assert_eq!(int(Val::Long(-5)), Ok(-5));
        assert_eq!(int(Val::Long(1 << 31)), Err("is out of range"));
        assert_eq!(int(Val::Double(1.0)), Err("has no conversion"));
        assert_eq!(
            one(DataType::Boolean, Val::Int(1)).unwrap_err(),
            "has no conversion"
        );
        assert_eq!(
            one(DataType::Utf8, Val::Bytes(&[0xff])).unwrap_err(),
            "is not UTF-8"
        );
        assert_eq!(
            one(DataType::Utf8, Val::Bytes(b"ok"))
                .unwrap()
                .as_string::<i32>()
                .value(0),
            "ok"
        );
    }

    #[test]
    fn nested_nulls() {
        let item = Arc::new(Field::new_list_field(DataType::Utf8, true));
        let dt = DataType::Struct(vec![Field::new("tags", DataType::List(item), true)].into());
        let mut c = Col::new(&dt, 2);
        c.append_null();
        let Col::Struct(s) = &mut c else { panic!() };
        let Col::List(l) = &mut s.children[0] else {
            panic!()
        };
        l.child.put(Val::Str("a")).unwrap();
        l.close();
        l.nulls.append_non_null();
        s.nulls.append_non_null();
        assert_eq!(c.len(), 2);
        let a = c.finish().unwrap();
        let s = a.as_struct();
        assert!(s.is_null(0) && s.is_valid(1));
        let tags = s.column(0).as_list::<i32>();
        assert!(tags.is_null(0));
        assert_eq!(tags.value(1).as_string::<i32>().value(0), "a");
        assert_eq!(c.len(), 0, "finish starts over");
    }
}
