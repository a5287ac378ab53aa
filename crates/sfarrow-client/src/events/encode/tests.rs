//! Rows of every Arrow type encoded against event schemas, and the rows that must fail alone.

use super::*;
use crate::events::decode::EventBatchBuilder;
use crate::schema::cells::MS_PER_DAY;
use crate::schema::ObjectInfo;
use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Date64Array, Decimal128Array, Float32Array,
    Int64Array, Int8Array, LargeStringArray, ListArray, StringArray, StringViewArray,
    Time64NanosecondArray, TimestampMicrosecondArray, TimestampSecondArray, UInt32Array,
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
        218, 234, 149, 144, 212, 101, 36, 48, 48, 53, 103, 76, 48, 48, 48, 48, 48, 48, 100, 115,
        119, 98, 81, 65, 65, 2, 0,
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
    let rows = |columns: Vec<(&str, ArrayRef)>| encode_batch(&s, &batch(columns), "u", 0).unwrap();
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
