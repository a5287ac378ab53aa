//! The one Arrow cell reader: the value at a row of any column the client sends (a record to
//! Salesforce, an event to publish) as a typed scalar, times as milliseconds. Writes turn it
//! into Salesforce's text forms (`write::encode::cell`), events into Avro (`events::encode`);
//! neither reads Arrow arrays itself.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type,
    Int64Type, Int8Type, Time32MillisecondType, Time32SecondType, Time64MicrosecondType,
    Time64NanosecondType, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, StructArray};
use arrow_schema::{DataType, TimeUnit};

pub const MS_PER_DAY: i64 = 86_400_000;

/// One Arrow value.
#[derive(Clone, Copy, Debug)]
pub enum ArrowValue<'a> {
    Null,
    Bool(bool),
    Int(i64),
    /// An unsigned 64-bit value past `i64::MAX`, kept whole for the caller to refuse.
    BigUnsigned(u64),
    Float(f64),
    Str(&'a str),
    Bytes(&'a [u8]),
    /// The unscaled value and the scale.
    Decimal(i128, i8),
    Date {
        days: i64,
        ms: i64,
    },
    /// Epoch milliseconds, rounded down.
    Millis(i64),
    /// Milliseconds since midnight, rounded down (out of a day for a value that is not a time).
    TimeMs(i64),
    Struct(&'a StructArray, usize),
    /// A timestamp with no millisecond equivalent (seconds past ±292 million years): the value
    /// and its unit.
    OutOfRange(i64, TimeUnit),
    /// A type with no scalar form here (dictionaries are decoded first; lists, maps, unions).
    Unsupported,
}

impl ArrowValue<'_> {
    /// What the value is, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            ArrowValue::Null => "null",
            ArrowValue::Bool(_) => "a boolean",
            ArrowValue::Int(_) | ArrowValue::BigUnsigned(_) => "an integer",
            ArrowValue::Float(_) => "a floating-point number",
            ArrowValue::Str(_) => "text",
            ArrowValue::Bytes(_) => "binary data",
            ArrowValue::Decimal(..) => "a decimal",
            ArrowValue::Date { .. } => "a date",
            ArrowValue::Millis(_) => "a timestamp",
            ArrowValue::TimeMs(_) => "a time",
            ArrowValue::Struct(..) => "a struct",
            ArrowValue::OutOfRange(..) => "a timestamp out of range",
            ArrowValue::Unsupported => "a value of an unsupported type",
        }
    }
}

/// The value at `row` of `a`.
pub fn value(a: &dyn Array, row: usize) -> ArrowValue<'_> {
    use ArrowValue as V;
    // A column of pyarrow's `null` type has no validity buffer: every value is null.
    if a.data_type() == &DataType::Null || a.is_null(row) {
        return V::Null;
    }
    let floor = |v: i64, per_ms: i64| v.div_euclid(per_ms);
    match a.data_type() {
        DataType::Utf8 => V::Str(a.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => V::Str(a.as_string::<i64>().value(row)),
        DataType::Utf8View => V::Str(a.as_string_view().value(row)),
        DataType::Binary => V::Bytes(a.as_binary::<i32>().value(row)),
        DataType::LargeBinary => V::Bytes(a.as_binary::<i64>().value(row)),
        DataType::Boolean => V::Bool(a.as_boolean().value(row)),
        DataType::Int8 => V::Int(a.as_primitive::<Int8Type>().value(row).into()),
        DataType::Int16 => V::Int(a.as_primitive::<Int16Type>().value(row).into()),
        DataType::Int32 => V::Int(a.as_primitive::<Int32Type>().value(row).into()),
        DataType::Int64 => V::Int(a.as_primitive::<Int64Type>().value(row)),
        DataType::UInt8 => V::Int(a.as_primitive::<UInt8Type>().value(row).into()),
        DataType::UInt16 => V::Int(a.as_primitive::<UInt16Type>().value(row).into()),
        DataType::UInt32 => V::Int(a.as_primitive::<UInt32Type>().value(row).into()),
        DataType::UInt64 => {
            let v = a.as_primitive::<UInt64Type>().value(row);
            i64::try_from(v).map_or(V::BigUnsigned(v), V::Int)
        }
        DataType::Float32 => V::Float(a.as_primitive::<Float32Type>().value(row).into()),
        DataType::Float64 => V::Float(a.as_primitive::<Float64Type>().value(row)),
        DataType::Decimal128(_, s) => V::Decimal(a.as_primitive::<Decimal128Type>().value(row), *s),
        DataType::Date32 => {
            let days = i64::from(a.as_primitive::<Date32Type>().value(row));
            V::Date {
                days,
                ms: days * MS_PER_DAY,
            }
        }
        DataType::Date64 => {
            let ms = a.as_primitive::<Date64Type>().value(row);
            V::Date {
                days: ms.div_euclid(MS_PER_DAY),
                ms,
            }
        }
        DataType::Timestamp(unit, _) => {
            let v = match unit {
                TimeUnit::Second => a.as_primitive::<TimestampSecondType>().value(row),
                TimeUnit::Millisecond => a.as_primitive::<TimestampMillisecondType>().value(row),
                TimeUnit::Microsecond => a.as_primitive::<TimestampMicrosecondType>().value(row),
                TimeUnit::Nanosecond => a.as_primitive::<TimestampNanosecondType>().value(row),
            };
            let ms = match unit {
                TimeUnit::Second => v.checked_mul(1000),
                TimeUnit::Millisecond => Some(v),
                TimeUnit::Microsecond => Some(floor(v, 1_000)),
                TimeUnit::Nanosecond => Some(floor(v, 1_000_000)),
            };
            ms.map_or(V::OutOfRange(v, *unit), V::Millis)
        }
        DataType::Time32(TimeUnit::Second) => {
            V::TimeMs(i64::from(a.as_primitive::<Time32SecondType>().value(row)) * 1000)
        }
        DataType::Time32(_) => {
            V::TimeMs(a.as_primitive::<Time32MillisecondType>().value(row).into())
        }
        DataType::Time64(TimeUnit::Microsecond) => V::TimeMs(floor(
            a.as_primitive::<Time64MicrosecondType>().value(row),
            1_000,
        )),
        DataType::Time64(_) => V::TimeMs(floor(
            a.as_primitive::<Time64NanosecondType>().value(row),
            1_000_000,
        )),
        DataType::Struct(_) => V::Struct(a.as_struct(), row),
        _ => V::Unsupported,
    }
}
