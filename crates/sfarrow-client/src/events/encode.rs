//! Arrow rows into event payloads, for publishing platform events: each column goes to the
//! Avro field of the same name (case-insensitively), fields no column gives are filled the way
//! Salesforce fills them (CreatedDate now, CreatedById the publishing user) or left null, and a
//! row whose value does not fit its field fails alone.

use super::avro::{self, Schema};
use super::decode::EventSchema;
use crate::{Error, Result};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type,
    Int64Type, Int8Type, Time32MillisecondType, Time32SecondType, Time64MicrosecondType,
    Time64NanosecondType, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type, UInt8Type,
};
use arrow_array::{Array, RecordBatch, StructArray};
use arrow_schema::{DataType, TimeUnit};

const MS_PER_DAY: i64 = 86_400_000;

/// One Arrow value, in the terms the Avro writers need.
#[derive(Clone, Copy)]
enum V<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
    Bytes(&'a [u8]),
    Decimal(i128, i8),
    Date {
        days: i64,
        ms: i64,
    },
    /// Epoch milliseconds.
    Millis(i64),
    /// Milliseconds since midnight.
    TimeMs(i64),
    Struct(&'a StructArray, usize),
    /// A value with no millisecond equivalent (seconds beyond ±292 million years).
    OutOfRange,
}

impl V<'_> {
    fn kind(&self) -> &'static str {
        match self {
            V::Null => "null",
            V::Bool(_) => "a boolean",
            V::Int(_) => "an integer",
            V::Float(_) => "a floating-point number",
            V::Str(_) => "text",
            V::Bytes(_) => "binary data",
            V::Decimal(..) => "a decimal",
            V::Date { .. } => "a date",
            V::Millis(_) => "a timestamp",
            V::TimeMs(_) => "a time",
            V::Struct(..) => "a struct",
            V::OutOfRange => "a timestamp out of range",
        }
    }
}

enum Source<'a> {
    Column(&'a dyn Array),
    Now,
    CreatedBy,
    Null,
}

fn supported(dt: &DataType) -> bool {
    use DataType::*;
    match dt {
        Utf8 | LargeUtf8 | Utf8View | Binary | LargeBinary | Boolean | Int8 | Int16 | Int32
        | Int64 | UInt8 | UInt16 | UInt32 | Float32 | Float64 | Decimal128(..) | Date32
        | Date64 | Timestamp(..) | Null => true,
        Time32(u) => matches!(u, TimeUnit::Second | TimeUnit::Millisecond),
        Time64(u) => matches!(u, TimeUnit::Microsecond | TimeUnit::Nanosecond),
        Struct(fields) => fields.iter().all(|f| supported(f.data_type())),
        _ => false,
    }
}

/// One Avro payload per row of `batch`, or that row's error.
pub fn encode_batch(
    schema: &EventSchema,
    batch: &RecordBatch,
    created_by: &str,
    now_ms: i64,
) -> Result<Vec<std::result::Result<Vec<u8>, String>>> {
    let record = schema.record();
    let mut sources: Vec<Source> = record
        .fields
        .iter()
        .map(|f| match f.name.to_ascii_lowercase().as_str() {
            "createddate" => Source::Now,
            "createdbyid" => Source::CreatedBy,
            _ => Source::Null,
        })
        .collect();
    let mut taken: Vec<Option<&str>> = vec![None; record.fields.len()];
    let input = batch.schema();
    for (i, column) in input.fields().iter().enumerate() {
        let name = column.name().as_str();
        if name.eq_ignore_ascii_case("replay_id") || name.eq_ignore_ascii_case("event_id") {
            continue;
        }
        let Some(j) = record
            .fields
            .iter()
            .position(|f| f.name.eq_ignore_ascii_case(name))
        else {
            let known: Vec<&str> = record.fields.iter().map(|f| f.name.as_str()).collect();
            return Err(Error::config(format!(
                "column {name:?} is not a field of {}; its fields are {}",
                record.name,
                known.join(", ")
            )));
        };
        if let Some(other) = taken[j] {
            return Err(Error::config(format!(
                "columns {other:?} and {name:?} both name the field {} of {}",
                record.fields[j].name, record.name
            )));
        }
        if !supported(column.data_type()) {
            return Err(Error::config(format!(
                "column {name:?} is {}, which cannot be published (use text, numbers, booleans, dates, times or timestamps)",
                column.data_type()
            )));
        }
        taken[j] = Some(name);
        sources[j] = Source::Column(batch.column(i).as_ref());
    }
    let mut rows = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let mut out = Vec::with_capacity(64);
        let mut encoded = Ok(());
        for (f, src) in record.fields.iter().zip(&sources) {
            let v = match src {
                Source::Column(a) => value(*a, row),
                Source::Now => V::Millis(now_ms),
                Source::CreatedBy => V::Str(created_by),
                Source::Null => V::Null,
            };
            if let Err(e) = write(&mut out, &f.schema, v) {
                encoded = Err(format!("field {}: {e}", f.name));
                break;
            }
        }
        rows.push(encoded.map(|_| out));
    }
    Ok(rows)
}

/// Timestamps, dates and times in any unit, as milliseconds rounded down.
fn value(a: &dyn Array, row: usize) -> V<'_> {
    if a.is_null(row) {
        return V::Null;
    }
    let ms = |v: i64, per_ms: i64| v.div_euclid(per_ms);
    let secs = |v: i64| v.checked_mul(1000);
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
            let millis = match unit {
                TimeUnit::Second => secs(a.as_primitive::<TimestampSecondType>().value(row)),
                TimeUnit::Millisecond => {
                    Some(a.as_primitive::<TimestampMillisecondType>().value(row))
                }
                TimeUnit::Microsecond => Some(ms(
                    a.as_primitive::<TimestampMicrosecondType>().value(row),
                    1_000,
                )),
                TimeUnit::Nanosecond => Some(ms(
                    a.as_primitive::<TimestampNanosecondType>().value(row),
                    1_000_000,
                )),
            };
            millis.map_or(V::OutOfRange, V::Millis)
        }
        DataType::Time32(TimeUnit::Second) => {
            V::TimeMs(i64::from(a.as_primitive::<Time32SecondType>().value(row)) * 1000)
        }
        DataType::Time32(_) => {
            V::TimeMs(a.as_primitive::<Time32MillisecondType>().value(row).into())
        }
        DataType::Time64(TimeUnit::Microsecond) => V::TimeMs(ms(
            a.as_primitive::<Time64MicrosecondType>().value(row),
            1_000,
        )),
        DataType::Time64(_) => V::TimeMs(ms(
            a.as_primitive::<Time64NanosecondType>().value(row),
            1_000_000,
        )),
        DataType::Struct(_) => V::Struct(a.as_struct(), row),
        _ => V::Null,
    }
}

/// A decimal that is a whole number, as an integer.
fn whole(v: i128, scale: i8) -> Option<i64> {
    let p = 10i128.checked_pow(u32::from(scale.unsigned_abs()))?;
    let n = if scale >= 0 {
        (v % p == 0).then(|| v / p)?
    } else {
        v.checked_mul(p)?
    };
    i64::try_from(n).ok()
}

fn integer(v: V) -> std::result::Result<Option<i64>, String> {
    Ok(match v {
        V::Int(i) | V::Millis(i) | V::TimeMs(i) => Some(i),
        V::Decimal(d, s) => Some(
            whole(d, s)
                .ok_or_else(|| format!("{} is not a whole number that fits", decimal_text(d, s)))?,
        ),
        _ => None,
    })
}

fn decimal_text(v: i128, scale: i8) -> String {
    format!("{v}e{}", -i32::from(scale))
}

fn write(out: &mut Vec<u8>, schema: &Schema, v: V) -> std::result::Result<(), String> {
    let cannot = || {
        format!(
            "{} cannot be written as Avro {}",
            v.kind(),
            schema.type_name()
        )
    };
    match (schema, v) {
        (Schema::Union(branches), V::Null) => {
            let i = branches
                .iter()
                .position(|b| *b == Schema::Null)
                .ok_or("null, but the field cannot be null")?;
            avro::write_long(out, i as i64);
        }
        (Schema::Union(branches), v) => {
            let mut first = None;
            for (i, b) in branches
                .iter()
                .enumerate()
                .filter(|(_, b)| **b != Schema::Null)
            {
                let mark = out.len();
                avro::write_long(out, i as i64);
                match write(out, b, v) {
                    Ok(()) => return Ok(()),
                    Err(e) => {
                        out.truncate(mark);
                        first.get_or_insert(e);
                    }
                }
            }
            return Err(first.unwrap_or_else(cannot));
        }
        (Schema::Null, V::Null) => {}
        (_, V::Null) => return Err("null, but the field cannot be null".into()),
        (Schema::Boolean, V::Bool(b)) => avro::write_bool(out, b),
        (Schema::Int, V::Date { days, .. }) => avro::write_int(
            out,
            i32::try_from(days).map_err(|_| format!("day {days} does not fit an Avro int"))?,
        ),
        (Schema::Long, V::Date { ms, .. }) => avro::write_long(out, ms),
        (Schema::Int | Schema::Long, v) => {
            let n = integer(v)?.ok_or_else(cannot)?;
            if *schema == Schema::Int {
                avro::write_int(
                    out,
                    i32::try_from(n).map_err(|_| format!("{n} does not fit an Avro int"))?,
                );
            } else {
                avro::write_long(out, n);
            }
        }
        (Schema::Float | Schema::Double, v) => {
            let f = match v {
                V::Float(f) => f,
                V::Int(i) => i as f64,
                V::Decimal(d, s) => decimal_text(d, s).parse().map_err(|_| cannot())?,
                _ => return Err(cannot()),
            };
            if *schema == Schema::Float {
                avro::write_float(out, f as f32);
            } else {
                avro::write_double(out, f);
            }
        }
        (Schema::String, V::Str(s)) => avro::write_str(out, s),
        (Schema::Bytes, V::Bytes(b)) => avro::write_bytes(out, b),
        (Schema::Bytes, V::Str(s)) => avro::write_str(out, s),
        (Schema::Fixed(f), V::Bytes(b)) if b.len() == f.size => out.extend_from_slice(b),
        (Schema::Enum(e), V::Str(s)) => {
            let i = e
                .symbols
                .iter()
                .position(|x| x == s)
                .ok_or_else(|| format!("{s:?} is not one of {}", e.symbols.join(", ")))?;
            avro::write_int(out, i as i32);
        }
        (Schema::Record(r), V::Struct(a, row)) => {
            for f in &r.fields {
                let child = a
                    .fields()
                    .iter()
                    .position(|c| c.name().eq_ignore_ascii_case(&f.name))
                    .map_or(V::Null, |i| value(a.column(i).as_ref(), row));
                write(out, &f.schema, child).map_err(|e| format!("{}: {e}", f.name))?;
            }
        }
        _ => return Err(cannot()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::decode::EventBatchBuilder;
    use crate::read::describe::ObjectInfo;
    use arrow_array::types::Time32MillisecondType;
    use arrow_array::{
        ArrayRef, BinaryArray, BooleanArray, Date32Array, Date64Array, Decimal128Array,
        Float32Array, Int64Array, Int8Array, LargeStringArray, ListArray, StringArray,
        StringViewArray, Time64NanosecondArray, TimestampMicrosecondArray, TimestampSecondArray,
        UInt32Array,
    };
    use arrow_schema::{Field, Schema as ArrowSchema};
    use std::sync::Arc;

    const ORDER: &str = r#"{"type":"record","name":"Order__e","namespace":"com.sforce.eventbus","fields":[
        {"name":"CreatedDate","type":"long"},{"name":"CreatedById","type":"string"},
        {"name":"Amount__c","type":["null","double"],"default":null},
        {"name":"Count__c","type":["null","int"],"default":null},
        {"name":"Big__c","type":["null","long"],"default":null},
        {"name":"Note__c","type":["null","string"],"default":null},
        {"name":"Flag__c","type":["null","boolean"],"default":null},
        {"name":"When__c","type":["null","long"],"default":null},
        {"name":"Day__c","type":["null","int"],"default":null},
        {"name":"DayMs__c","type":["null","long"],"default":null},
        {"name":"At__c","type":["null","long"],"default":null},
        {"name":"Status__c","type":["null",{"type":"enum","name":"Status","symbols":["New","Done"]}],"default":null},
        {"name":"Ratio__c","type":["null","float"],"default":null}]}"#;

    fn order() -> Arc<EventSchema> {
        let types = [
            ("CreatedDate", "datetime"),
            ("CreatedById", "reference"),
            ("Amount__c", "currency"),
            ("Count__c", "int"),
            ("Note__c", "string"),
            ("Flag__c", "boolean"),
            ("When__c", "datetime"),
            ("Day__c", "date"),
            ("DayMs__c", "date"),
            ("At__c", "time"),
            ("Status__c", "picklist"),
            ("Ratio__c", "percent"),
        ];
        let fields: Vec<_> = types
            .iter()
            .map(|(n, t)| serde_json::json!({"name": n, "type": t, "precision": 18, "scale": 2}))
            .collect();
        let d = ObjectInfo::from_json(&serde_json::json!({"name": "Order__e", "fields": fields}));
        Arc::new(EventSchema::compile("order-1", ORDER, Some(&d.unwrap())).unwrap())
    }

    fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(columns).unwrap()
    }

    fn decode(s: &Arc<EventSchema>, payloads: &[Vec<u8>]) -> RecordBatch {
        let mut b = EventBatchBuilder::new(s.clone(), payloads.len());
        for p in payloads {
            b.append(b"", "", p).unwrap();
        }
        b.finish().unwrap()
    }

    #[test]
    fn round_trip() {
        let s = order();
        let input = batch(vec![
            (
                "replay_id",
                Arc::new(BinaryArray::from(vec![&b"x"[..], b"y"])),
            ),
            (
                "amount__c",
                Arc::new(
                    Decimal128Array::from(vec![Some(12_345), Some(-5)])
                        .with_precision_and_scale(18, 2)
                        .unwrap(),
                ),
            ),
            ("Count__c", Arc::new(Int8Array::from(vec![Some(7), None]))),
            (
                "Big__c",
                Arc::new(UInt32Array::from(vec![Some(4_000_000_000), None])),
            ),
            (
                "NOTE__C",
                Arc::new(LargeStringArray::from(vec![Some("héllo"), None])),
            ),
            (
                "Flag__c",
                Arc::new(BooleanArray::from(vec![Some(false), None])),
            ),
            (
                "When__c",
                Arc::new(
                    TimestampMicrosecondArray::from(vec![Some(1_746_458_032_813_999), None])
                        .with_timezone("+02:00"),
                ),
            ),
            (
                "Day__c",
                Arc::new(Date32Array::from(vec![Some(20_000), Some(-1)])),
            ),
            (
                "DayMs__c",
                Arc::new(Date64Array::from(vec![Some(20_000 * MS_PER_DAY), None])),
            ),
            (
                "At__c",
                Arc::new(Time64NanosecondArray::from(vec![
                    Some(3_601_500_999_999),
                    None,
                ])),
            ),
            (
                "Status__c",
                Arc::new(StringViewArray::from(vec![Some("Done"), None])),
            ),
            (
                "Ratio__c",
                Arc::new(Float32Array::from(vec![Some(0.5), None])),
            ),
        ]);
        let rows = encode_batch(&s, &input, "005xx0000012345", 1_700_000_000_000).unwrap();
        let payloads: Vec<Vec<u8>> = rows.into_iter().map(|r| r.unwrap()).collect();
        let out = decode(&s, &payloads);
        let col = |n: &str| out.column_by_name(n).unwrap().clone();
        let created = col("CreatedDate");
        assert_eq!(
            created.as_primitive::<TimestampMillisecondType>().values(),
            &[1_700_000_000_000; 2]
        );
        assert_eq!(
            col("CreatedById").as_string::<i32>().value(1),
            "005xx0000012345"
        );
        let amount = col("Amount__c");
        assert_eq!(
            amount.as_primitive::<Decimal128Type>().values(),
            &[12_345, -5]
        );
        assert_eq!(col("Count__c").as_primitive::<Int32Type>().value(0), 7);
        assert_eq!(
            col("Big__c").as_primitive::<Int64Type>().value(0),
            4_000_000_000
        );
        assert_eq!(col("Note__c").as_string::<i32>().value(0), "héllo");
        assert!(!col("Flag__c").as_boolean().value(0));
        assert_eq!(
            col("When__c")
                .as_primitive::<TimestampMillisecondType>()
                .value(0),
            1_746_458_032_813
        );
        assert_eq!(
            col("Day__c").as_primitive::<Date32Type>().values(),
            &[20_000, -1]
        );
        assert_eq!(
            col("DayMs__c").as_primitive::<Date32Type>().value(0),
            20_000
        );
        assert_eq!(
            col("At__c")
                .as_primitive::<Time32MillisecondType>()
                .value(0),
            3_601_500
        );
        assert_eq!(col("Status__c").as_string::<i32>().value(0), "Done");
        assert_eq!(col("Ratio__c").as_primitive::<Float64Type>().value(0), 0.5);
        for n in [
            "Count__c",
            "Big__c",
            "Note__c",
            "Flag__c",
            "When__c",
            "DayMs__c",
            "At__c",
            "Status__c",
            "Ratio__c",
        ] {
            assert!(col(n).is_null(1), "{n}");
        }
    }

    #[test]
    fn documented_sample_bytes() {
        let json = r#"{"type":"record","name":"Order__e","fields":[{"name":"CreatedDate","type":"long"},
            {"name":"CreatedById","type":"string"},{"name":"X__c","type":["null","boolean"]}]}"#;
        let s = EventSchema::compile("s", json, None).unwrap();
        let input = batch(vec![
            (
                "CreatedDate",
                Arc::new(Int64Array::from(vec![1_746_458_032_813])),
            ),
            ("X__c", Arc::new(BooleanArray::from(vec![false]))),
        ]);
        let rows = encode_batch(&s, &input, "005gL000000dswbQAA", 0).unwrap();
        let want = [
            218, 234, 149, 144, 212, 101, 36, 48, 48, 53, 103, 76, 48, 48, 48, 48, 48, 48, 100,
            115, 119, 98, 81, 65, 65, 2, 0,
        ];
        assert_eq!(rows[0].as_deref(), Ok(&want[..]));
        // The timestamp column may also be a timestamp, in seconds.
        let input = batch(vec![(
            "CreatedDate",
            Arc::new(TimestampSecondArray::from(vec![1_746_458_032])),
        )]);
        let rows = encode_batch(&s, &input, "u", 0).unwrap();
        let mut r = avro::Reader::new(rows[0].as_ref().unwrap());
        assert_eq!(r.long(), Ok(1_746_458_032_000));
    }

    #[test]
    fn column_errors_are_configuration() {
        let s = order();
        let cases: Vec<(Vec<(&str, ArrayRef)>, &str)> = vec![
            (vec![("Bogus", Arc::new(Int64Array::from(vec![1])))], "\"Bogus\" is not a field of Order__e; its fields are CreatedDate, CreatedById, Amount__c"),
            (
                vec![("Note__c", Arc::new(StringArray::from(vec!["a"]))), ("note__C", Arc::new(StringArray::from(vec!["b"])))],
                "both name the field Note__c",
            ),
            (
                vec![("Note__c", Arc::new(ListArray::new_null(Arc::new(Field::new_list_field(DataType::Int32, true)), 1)))],
                "cannot be published",
            ),
        ];
        for (columns, want) in cases {
            let e = encode_batch(&s, &batch(columns), "u", 0).unwrap_err();
            assert!(
                matches!(&e, Error::Configuration { message } if message.contains(want)),
                "{e}"
            );
        }
        let empty = RecordBatch::new_empty(Arc::new(ArrowSchema::empty()));
        assert!(encode_batch(&s, &empty, "u", 0).unwrap().is_empty());
    }

    #[test]
    fn value_errors_fail_their_row() {
        let s = order();
        let rows =
            |columns: Vec<(&str, ArrayRef)>| encode_batch(&s, &batch(columns), "u", 0).unwrap();
        let got = rows(vec![(
            "CreatedById",
            Arc::new(StringArray::from(vec![Some("005"), None])),
        )]);
        assert!(got[0].is_ok());
        assert_eq!(
            got[1].as_ref().unwrap_err(),
            "field CreatedById: null, but the field cannot be null"
        );
        let got = rows(vec![(
            "Count__c",
            Arc::new(Int64Array::from(vec![1, 3_000_000_000])),
        )]);
        assert!(got[0].is_ok());
        assert!(
            got[1]
                .as_ref()
                .unwrap_err()
                .contains("Count__c: 3000000000 does not fit an Avro int"),
            "{got:?}"
        );
        let bad: Vec<(&str, ArrayRef, &str)> = vec![
            (
                "Status__c",
                Arc::new(StringArray::from(vec!["Maybe"])),
                "\"Maybe\" is not one of New, Done",
            ),
            (
                "Count__c",
                Arc::new(Float32Array::from(vec![1.0])),
                "a floating-point number cannot be written as Avro int",
            ),
            (
                "Count__c",
                Arc::new(
                    Decimal128Array::from(vec![15])
                        .with_precision_and_scale(5, 1)
                        .unwrap(),
                ),
                "is not a whole number",
            ),
            (
                "Note__c",
                Arc::new(Int64Array::from(vec![1])),
                "an integer cannot be written as Avro string",
            ),
            (
                "Day__c",
                Arc::new(Date64Array::from(vec![i64::MAX])),
                "does not fit an Avro int",
            ),
        ];
        for (name, array, want) in bad {
            let got = rows(vec![(name, array)]);
            assert!(
                got[0].as_ref().unwrap_err().contains(want),
                "{name}: {got:?}"
            );
        }
        // A decimal that is whole goes into an int; NaN goes into a double.
        let got = rows(vec![
            (
                "Count__c",
                Arc::new(
                    Decimal128Array::from(vec![150])
                        .with_precision_and_scale(5, 1)
                        .unwrap(),
                ) as ArrayRef,
            ),
            (
                "Amount__c",
                Arc::new(arrow_array::Float64Array::from(vec![f64::NAN])),
            ),
        ]);
        assert!(got[0].is_ok(), "{got:?}");
    }
}
