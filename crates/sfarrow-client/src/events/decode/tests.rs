//! The decoder against payloads written by hand: every Avro type into every column type.

use super::columns::MS_PER_DAY;
use super::*;
use crate::events::avro::{
    write_bool, write_double, write_int, write_long, write_str, write_strings,
};
use crate::schema::types::{compound_fields, scalar_type};
use crate::schema::ObjectInfo;
use crate::Error;
use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Decimal128Type, Float64Type, Int32Type, Int64Type};
use arrow_array::types::{Time32MillisecondType, TimestampMillisecondType};
use arrow_array::Array;
use arrow_schema::{DataType, Field, TimeUnit};
use std::sync::Arc;

const ADDRESS: &[&str] = &[
    "Street",
    "City",
    "State",
    "PostalCode",
    "Country",
    "StateCode",
    "CountryCode",
    "Latitude",
    "Longitude",
    "GeocodeAccuracy",
];

fn account_json() -> String {
    let strings = r#"{"type":"array","items":"string"}"#;
    let header = format!(
        r#"{{"type":"record","name":"ChangeEventHeader","fields":[
        {{"name":"entityName","type":"string"}},{{"name":"recordIds","type":{strings}}},
        {{"name":"changeType","type":{{"type":"enum","name":"ChangeType","symbols":["CREATE","UPDATE","DELETE"]}}}},
        {{"name":"changeOrigin","type":"string"}},{{"name":"transactionKey","type":"string"}},
        {{"name":"sequenceNumber","type":"int"}},{{"name":"commitTimestamp","type":"long"}},
        {{"name":"commitNumber","type":"long"}},{{"name":"commitUser","type":"string"}},
        {{"name":"nulledFields","type":{strings}}},{{"name":"diffFields","type":{strings}}},
        {{"name":"changedFields","type":{strings}}}]}}"#
    );
    let address: Vec<String> = ADDRESS
        .iter()
        .map(|n| {
            let t = match *n {
                "Latitude" | "Longitude" => r#""double""#,
                "GeocodeAccuracy" => {
                    r#"{"type":"enum","name":"GeocodeAccuracyEnum","symbols":["Address","Zip"]}"#
                }
                _ => r#""string""#,
            };
            format!(r#"{{"name":"{n}","type":["null",{t}],"default":null}}"#)
        })
        .collect();
    let body = [
        ("Name", r#""string""#.to_string()),
        ("Type", r#""string""#.into()),
        ("ParentId", r#""string""#.into()),
        (
            "BillingAddress",
            format!(
                r#"{{"type":"record","name":"Address","fields":[{}]}}"#,
                address.join(",")
            ),
        ),
        ("ShippingAddress", r#""com.sforce.eventbus.Address""#.into()),
        ("Phone", r#""string""#.into()),
        ("AnnualRevenue", r#""double""#.into()),
        ("NumberOfEmployees", r#""int""#.into()),
        ("CreatedDate", r#""long""#.into()),
        ("SLAExpirationDate__c", r#""int""#.into()),
        ("Renewal__c", r#""long""#.into()),
        ("Active__c", r#""boolean""#.into()),
        ("OpenTime__c", r#""long""#.into()),
        ("Notes__c", r#""string""#.into()),
        ("Extra__c", r#"{"type":"map","values":"string"}"#.into()),
    ];
    let body: Vec<String> = body
        .iter()
        .map(|(n, t)| format!(r#"{{"name":"{n}","type":["null",{t}],"default":null}}"#))
        .collect();
    format!(
        r#"{{"type":"record","name":"AccountChangeEvent","namespace":"com.sforce.eventbus","fields":[
        {{"name":"ChangeEventHeader","type":{header}}},{}]}}"#,
        body.join(",")
    )
}

fn account_describe() -> ObjectInfo {
    let mut fields = vec![
        serde_json::json!({"name": "Id", "type": "id"}),
        serde_json::json!({"name": "Name", "type": "string"}),
        serde_json::json!({"name": "Type", "type": "picklist"}),
        serde_json::json!({"name": "ParentId", "type": "reference", "referenceTo": ["Account"]}),
    ];
    for (prefix, extra) in [("Billing", true), ("Shipping", false)] {
        for part in ADDRESS {
            let t = match *part {
                "Latitude" | "Longitude" => "double",
                "Street" => "textarea",
                "StateCode" | "CountryCode" | "GeocodeAccuracy" => "picklist",
                _ => "string",
            };
            // Shipping lacks the code components (their Avro fields are skipped); Billing has
            // a component the Avro record lacks (its struct child stays null).
            if !extra && part.ends_with("Code") {
                continue;
            }
            fields.push(
                serde_json::json!({"name": format!("{prefix}{part}"), "type": t,
                "precision": 18, "scale": 15, "compoundFieldName": format!("{prefix}Address")}),
            );
        }
        if extra {
            fields.push(serde_json::json!({"name": "BillingCounty", "type": "string", "compoundFieldName": "BillingAddress"}));
        }
        fields.push(serde_json::json!({"name": format!("{prefix}Address"), "type": "address"}));
    }
    for (n, t) in [
        ("Phone", "phone"),
        ("NumberOfEmployees", "int"),
        ("CreatedDate", "datetime"),
        ("SLAExpirationDate__c", "date"),
        ("Renewal__c", "date"),
        ("Active__c", "boolean"),
        ("OpenTime__c", "time"),
    ] {
        fields.push(serde_json::json!({"name": n, "type": t}));
    }
    fields.push(serde_json::json!({"name": "AnnualRevenue", "type": "currency", "precision": 18, "scale": 2}));
    ObjectInfo::from_json(&serde_json::json!({"name": "Account", "fields": fields})).unwrap()
}

fn account() -> Arc<EventSchema> {
    Arc::new(EventSchema::compile("acct-1", &account_json(), Some(&account_describe())).unwrap())
}

fn some(out: &mut Vec<u8>) {
    out.push(2);
}

/// An UPDATE that sets most fields.
fn update_payload(revenue: f64) -> Vec<u8> {
    let mut o = Vec::new();
    write_str(&mut o, "Account");
    write_strings(&mut o, &["001xx000003DGb2AAG"]);
    write_int(&mut o, 1);
    write_str(&mut o, "com/salesforce/api/rest/64.0");
    write_str(&mut o, "tk-1");
    write_int(&mut o, 1);
    write_long(&mut o, 1_746_458_032_813);
    write_long(&mut o, 123_456_789_012);
    write_str(&mut o, "005xx000001X8Uz");
    write_strings(&mut o, &["0x80"]);
    write_strings::<&str>(&mut o, &[]);
    write_strings(&mut o, &["0x40", "4-0x0A"]);
    some(&mut o);
    write_str(&mut o, "Acme");
    o.extend([0, 0]); // Type, ParentId
    some(&mut o); // BillingAddress
    for part in ADDRESS {
        match *part {
            "City" | "PostalCode" | "Country" | "CountryCode" => {
                some(&mut o);
                write_str(&mut o, if *part == "City" { "Paris" } else { "75001" });
            }
            "Latitude" => {
                some(&mut o);
                write_double(&mut o, 48.86);
            }
            "GeocodeAccuracy" => o.extend([2, 2]),
            _ => o.push(0),
        }
    }
    o.push(0); // ShippingAddress
    some(&mut o);
    write_str(&mut o, "+33 1 23");
    some(&mut o);
    write_double(&mut o, revenue);
    some(&mut o);
    write_int(&mut o, 42);
    some(&mut o);
    write_long(&mut o, 1_746_458_032_813);
    some(&mut o);
    write_int(&mut o, 20_000);
    some(&mut o);
    write_long(&mut o, 20_000 * MS_PER_DAY + 5 * 3_600_000);
    some(&mut o);
    write_bool(&mut o, true);
    some(&mut o);
    write_long(&mut o, 3_601_500);
    some(&mut o);
    write_str(&mut o, "hi");
    some(&mut o);
    o.extend([2, 2, b'k', 2, b'v', 0]);
    o
}

#[test]
fn account_types_match_the_reader() {
    let s = account();
    assert!(s.is_change_event());
    assert_eq!(s.entity(), "Account");
    let a = s.arrow_schema();
    assert_eq!(a.metadata()["sfarrow.schema_id"], "acct-1");
    assert_eq!(a.metadata()["sfarrow.entity"], "Account");
    let names: Vec<&str> = a.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names[..14],
        [
            "replay_id",
            "event_id",
            "change_type",
            "entity",
            "record_ids",
            "changed_fields",
            "nulled_fields",
            "diff_fields",
            "change_origin",
            "transaction_key",
            "sequence_number",
            "commit_timestamp",
            "commit_number",
            "commit_user"
        ]
    );
    assert!(!a.field(0).is_nullable());
    assert_eq!(a.field(0).data_type(), &DataType::Binary);
    assert_eq!(
        a.field(4).data_type(),
        &DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
    );
    assert_eq!(a.field(10).data_type(), &DataType::Int32);
    let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("+00:00".into()));
    assert_eq!(a.field(11).data_type(), &ts);
    assert_eq!(a.field(12).data_type(), &DataType::Int64);
    assert!(
        a.field_with_name("Extra__c").is_err(),
        "maps have no column"
    );
    let d = account_describe();
    for f in &d.fields {
        let Ok(col) = a.field_with_name(&f.name) else {
            continue;
        };
        let want = if f.ftype.is_compound() {
            DataType::Struct(
                compound_fields(&d, f)
                    .into_iter()
                    .map(|(f, _, _)| f)
                    .collect(),
            )
        } else {
            scalar_type(f)
        };
        assert_eq!(col.data_type(), &want, "{}", f.name);
    }
    let ty = |n: &str| a.field_with_name(n).unwrap().data_type().clone();
    assert_eq!(ty("AnnualRevenue"), DataType::Decimal128(18, 2));
    assert_eq!(ty("NumberOfEmployees"), DataType::Int32);
    assert_eq!(ty("CreatedDate"), ts);
    assert_eq!(ty("SLAExpirationDate__c"), DataType::Date32);
    assert_eq!(ty("Active__c"), DataType::Boolean);
    assert_eq!(ty("OpenTime__c"), DataType::Time32(TimeUnit::Millisecond));
    assert_eq!(
        ty("Notes__c"),
        DataType::Utf8,
        "not in describe: the Avro type"
    );
    let DataType::Struct(billing) = ty("BillingAddress") else {
        panic!()
    };
    let keys: Vec<&str> = billing.iter().map(|f| f.name().as_str()).collect();
    assert_eq!(keys[..4], ["street", "city", "state", "postalCode"]);
    assert_eq!(keys.last(), Some(&"county"));
    assert_eq!(billing[7].data_type(), &DataType::Float64);
}

#[test]
fn decodes_a_change_event() {
    let mut b = EventBatchBuilder::new(account(), 4);
    b.append(&[0, 0, 0, 7], "e-1", &update_payload(1_234_567.891))
        .unwrap();
    assert_eq!(b.len(), 1);
    let batch = b.finish().unwrap();
    assert!(b.is_empty());
    let col = |n: &str| batch.column_by_name(n).unwrap().clone();
    assert_eq!(col("replay_id").as_binary::<i32>().value(0), [0, 0, 0, 7]);
    assert_eq!(col("event_id").as_string::<i32>().value(0), "e-1");
    assert_eq!(col("change_type").as_string::<i32>().value(0), "UPDATE");
    assert_eq!(col("entity").as_string::<i32>().value(0), "Account");
    let list = |n: &str| {
        let l = col(n);
        let v = l.as_list::<i32>().value(0);
        let s = v.as_string::<i32>();
        (0..s.len())
            .map(|i| s.value(i).to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(list("record_ids"), ["001xx000003DGb2AAG"]);
    assert_eq!(
        list("changed_fields"),
        ["Phone", "BillingAddress.City", "BillingAddress.PostalCode"]
    );
    assert_eq!(list("nulled_fields"), ["AnnualRevenue"]);
    assert!(list("diff_fields").is_empty());
    assert_eq!(
        col("sequence_number").as_primitive::<Int32Type>().value(0),
        1
    );
    assert_eq!(
        col("commit_timestamp")
            .as_primitive::<TimestampMillisecondType>()
            .value(0),
        1_746_458_032_813
    );
    assert_eq!(
        col("commit_number").as_primitive::<Int64Type>().value(0),
        123_456_789_012
    );
    assert_eq!(col("Name").as_string::<i32>().value(0), "Acme");
    assert!(col("Type").is_null(0));
    let billing = col("BillingAddress");
    let billing = billing.as_struct();
    assert_eq!(
        billing
            .column_by_name("city")
            .unwrap()
            .as_string::<i32>()
            .value(0),
        "Paris"
    );
    assert_eq!(
        billing
            .column_by_name("countryCode")
            .unwrap()
            .as_string::<i32>()
            .value(0),
        "75001"
    );
    assert_eq!(
        billing
            .column_by_name("latitude")
            .unwrap()
            .as_primitive::<Float64Type>()
            .value(0),
        48.86
    );
    assert_eq!(
        billing
            .column_by_name("geocodeAccuracy")
            .unwrap()
            .as_string::<i32>()
            .value(0),
        "Zip"
    );
    assert!(billing.column_by_name("street").unwrap().is_null(0));
    assert!(billing.column_by_name("county").unwrap().is_null(0));
    assert!(col("ShippingAddress").is_null(0));
    assert_eq!(
        col("AnnualRevenue")
            .as_primitive::<Decimal128Type>()
            .value(0),
        123_456_789
    );
    assert_eq!(
        col("NumberOfEmployees")
            .as_primitive::<Int32Type>()
            .value(0),
        42
    );
    assert_eq!(
        col("SLAExpirationDate__c")
            .as_primitive::<Date32Type>()
            .value(0),
        20_000
    );
    assert_eq!(
        col("Renewal__c").as_primitive::<Date32Type>().value(0),
        20_000
    );
    assert!(col("Active__c").as_boolean().value(0));
    assert_eq!(
        col("OpenTime__c")
            .as_primitive::<Time32MillisecondType>()
            .value(0),
        3_601_500
    );
    assert_eq!(col("Notes__c").as_string::<i32>().value(0), "hi");
    // The builder starts over after finish.
    b.append(&[1], "", &update_payload(0.1)).unwrap();
    b.append(&[2], "e-3", &update_payload(-2.5)).unwrap();
    let batch = b.finish().unwrap();
    assert_eq!(batch.num_rows(), 2);
    assert!(batch.column(1).is_null(0), "an empty event id is null");
    let rev = batch
        .column_by_name("AnnualRevenue")
        .unwrap()
        .as_primitive::<Decimal128Type>()
        .clone();
    assert_eq!((rev.value(0), rev.value(1)), (10, -250));
    assert_eq!(b.finish().unwrap().num_rows(), 0);
}

#[test]
fn bad_payloads_are_errors() {
    let s = account();
    let good = update_payload(1.0);
    for cut in 0..good.len() {
        let e = EventBatchBuilder::new(s.clone(), 1)
            .append(&[], "", &good[..cut])
            .unwrap_err();
        assert!(
            matches!(&e, Error::Protocol { message } if message.contains("acct-1")),
            "{e}"
        );
    }
    let mut long = good.clone();
    long.push(0);
    let e = EventBatchBuilder::new(s.clone(), 1)
        .append(&[], "", &long)
        .unwrap_err();
    assert!(e.to_string().contains("1 bytes left over"), "{e}");
    let e = EventBatchBuilder::new(s.clone(), 1)
        .append(&[], "", &update_payload(1e17))
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("field AnnualRevenue: an Avro double value is not a finite number"),
        "{e}"
    );
    let e = EventBatchBuilder::new(s.clone(), 1)
        .append(&[], "", &update_payload(f64::NAN))
        .unwrap_err();
    assert!(e.to_string().contains("AnnualRevenue"), "{e}");
    // Every single-byte change, and random bytes, decode or fail but never panic.
    let mut b = EventBatchBuilder::new(s.clone(), 1);
    for i in 0..good.len() {
        for x in [0x01, 0x80, 0xff, 0x7f] {
            let mut bad = good.clone();
            bad[i] ^= x;
            if b.append(&[], "", &bad).is_err() {
                b = EventBatchBuilder::new(s.clone(), 1);
            }
        }
    }
    let mut seed = 0x853c_49e6_748f_ea9bu64;
    for n in 0..20_000 {
        let bytes: Vec<u8> = (0..n % 200)
            .map(|_| {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                (seed >> 33) as u8
            })
            .collect();
        let _ = EventBatchBuilder::new(s.clone(), 1).append(&[], "", &bytes);
    }
}

#[test]
fn header_variants_and_mismatches() {
    let json = r#"{"type":"record","name":"Employee__ChangeEvent","fields":[
        {"name":"ChangeEventHeader","type":{"type":"record","name":"ChangeEventHeader","fields":[
            {"name":"changeType","type":"string"},{"name":"futureThing","type":["null","long"]},
            {"name":"changedFields","type":{"type":"array","items":"string"}}]}},
        {"name":"Active__c","type":["null","string"]}]}"#;
    let d = ObjectInfo::from_json(&serde_json::json!({"name": "Employee__c",
        "fields": [{"name": "Active__c", "type": "boolean"}]}))
    .unwrap();
    let s = Arc::new(EventSchema::compile("emp", json, Some(&d)).unwrap());
    assert_eq!(s.entity(), "Employee__c");
    let mut o = Vec::new();
    write_str(&mut o, "UPDATE");
    o.extend([2, 6]); // futureThing: 3, skipped
    write_strings(&mut o, &["0x02"]);
    o.push(0);
    let mut b = EventBatchBuilder::new(s.clone(), 1);
    b.append(b"r", "", &o).unwrap();
    let batch = b.finish().unwrap();
    assert_eq!(batch.column(2).as_string::<i32>().value(0), "UPDATE");
    assert!(batch.column(3).is_null(0), "no entityName in this header");
    let changed = batch.column(5).as_list::<i32>().value(0);
    assert_eq!(changed.as_string::<i32>().value(0), "Active__c");
    assert_eq!(batch.column(14).data_type(), &DataType::Boolean);
    let last = o.len() - 1;
    o[last] = 2;
    write_str(&mut o, "yes");
    let e = b.append(b"r", "", &o).unwrap_err().to_string();
    assert!(
        e.contains("field Active__c: an Avro string value has no conversion for a Boolean column"),
        "{e}"
    );
    let mut o = Vec::new();
    write_str(&mut o, "UPDATE");
    o.push(0);
    write_strings(&mut o, &["0x04"]);
    o.push(0);
    let e = EventBatchBuilder::new(s, 1)
        .append(b"r", "", &o)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("ChangeEventHeader.changedFields") && e.contains("bit 2"),
        "{e}"
    );
}

/// Salesforce's documented sample payload of a platform event.
#[test]
fn documented_platform_event() {
    let json = r#"{"type":"record","name":"Order__e","namespace":"com.sforce.eventbus","fields":[
        {"name":"CreatedDate","type":"long"},{"name":"CreatedById","type":"string"},
        {"name":"X__c","type":["null","boolean"],"default":null}]}"#;
    let s = Arc::new(EventSchema::compile("s1", json, None).unwrap());
    assert!(!s.is_change_event());
    assert_eq!(s.entity(), "Order__e");
    let payload = base64("2uqVkNRlJDAwNWdMMDAwMDAwZHN3YlFBQQIA");
    let mut b = EventBatchBuilder::new(s, 1);
    b.append(&[9], "uuid", &payload).unwrap();
    let batch = b.finish().unwrap();
    let names: Vec<&str> = batch
        .schema_ref()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(
        names,
        [
            "replay_id",
            "event_id",
            "CreatedDate",
            "CreatedById",
            "X__c"
        ]
    );
    assert_eq!(
        batch.column(2).as_primitive::<Int64Type>().value(0),
        1_746_458_032_813
    );
    assert_eq!(
        batch.column(3).as_string::<i32>().value(0),
        "005gL000000dswbQAA"
    );
    assert!(!batch.column(4).as_boolean().value(0));
    assert!(batch.column(4).is_valid(0));
}

fn base64(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let (mut acc, mut bits, mut out) = (0u32, 0, Vec::new());
    for c in text.bytes().filter(|c| *c != b'=') {
        acc = acc << 6 | ALPHABET.iter().position(|a| *a == c).unwrap() as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// `cargo test --release -p sfarrow-client --lib events::decode::tests::speed -- --ignored --nocapture`
#[test]
#[ignore]
fn speed() {
    let s = account();
    let payload = update_payload(1_234_567.891);
    let mut b = EventBatchBuilder::new(s, 10_000);
    let start = std::time::Instant::now();
    for _ in 0..20 {
        for _ in 0..10_000 {
            b.append(
                &[0, 0, 0, 0, 0, 1],
                "3f2c5e1a-0000-4000-8000-000000000000",
                &payload,
            )
            .unwrap();
        }
        b.finish().unwrap();
    }
    println!("{:?} per event", start.elapsed() / 200_000);
}
