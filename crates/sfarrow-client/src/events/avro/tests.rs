//! The schema parser, reader and writers, against each other and against hostile bytes.

use super::*;

fn varint_len(v: i64) -> usize {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    let mut n = 1;
    while z >= 0x80 {
        z >>= 7;
        n += 1;
    }
    n
}

const EVENT: &str = r#"{"type":"record","name":"AccountChangeEvent","namespace":"com.sforce.eventbus","fields":[
    {"name":"BillingAddress","type":["null",{"type":"record","name":"Address","fields":[
        {"name":"City","type":["null","string"],"default":null},
        {"name":"Accuracy","type":["null",{"type":"enum","name":"GeocodeAccuracy","symbols":["Address","Block"]}]}]}]},
    {"name":"ShippingAddress","type":["null","Address"]},
    {"name":"OtherAddress","type":["null","com.sforce.eventbus.Address"]},
    {"name":"Tags","type":{"type":"array","items":"string"}},
    {"name":"Counts","type":{"type":"map","values":"long"}},
    {"name":"Hash","type":{"type":"fixed","name":"Md5","size":16}},
    {"name":"When","type":{"type":"long","logicalType":"timestamp-millis"}}]}"#;

#[test]
fn named_references() {
    let s = Schema::parse(EVENT).unwrap();
    let r = s.as_record().unwrap();
    assert_eq!(r.name, "AccountChangeEvent");
    assert_eq!(r.namespace.as_deref(), Some("com.sforce.eventbus"));
    let billing = r.fields[0].schema.non_null().unwrap();
    assert_eq!(r.fields[1].schema.non_null(), Some(billing));
    assert_eq!(r.fields[2].schema.non_null(), Some(billing));
    let addr = billing.as_record().unwrap();
    assert_eq!(addr.namespace.as_deref(), Some("com.sforce.eventbus"));
    assert_eq!(addr.field("City").map(|(i, _)| i), Some(0));
    assert!(matches!(&r.fields[5].schema, Schema::Fixed(f) if f.size == 16));
    assert_eq!(r.fields[6].schema, Schema::Long);
}

#[test]
fn bad_schemas() {
    let bad = [
        (r#""nope""#, "unknown type"),
        (r#"[]"#, "without branches"),
        (r#"["null",["int"]]"#, "inside a union"),
        (
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"R"}]}"#,
            "itself",
        ),
        (
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"a","type":"int"}]}"#,
            "two fields",
        ),
        (
            r#"["null",{"type":"enum","name":"E","symbols":["A"]},{"type":"enum","name":"E","symbols":["B"]}]"#,
            "twice",
        ),
        (r#"{"type":"fixed","name":"F"}"#, "size"),
        (r#"{"type":"enum","name":"E","symbols":[1]}"#, "symbols"),
        (r#"{"type":"array"}"#, "items"),
        (r#"{"name":"x"}"#, "without a \"type\""),
        (r#"3"#, "not an Avro type"),
        (
            r#"{"type":"record","name":"R","fields":[{"name":"a"}]}"#,
            "no type",
        ),
        ("{", "not JSON"),
    ];
    for (json, want) in bad {
        let e = Schema::parse(json).unwrap_err();
        assert!(e.contains(want), "{json}: {e}");
    }
}

#[test]
fn varints() {
    for v in [
        0i64,
        1,
        -1,
        63,
        -64,
        64,
        300,
        i32::MAX as i64,
        i32::MIN as i64,
        i64::MAX,
        i64::MIN,
    ] {
        let mut out = Vec::new();
        write_long(&mut out, v);
        assert_eq!(out.len(), varint_len(v));
        assert_eq!(Reader::new(&out).long(), Ok(v));
        if let Ok(small) = i32::try_from(v) {
            assert_eq!(Reader::new(&out).int(), Ok(small));
        } else {
            assert!(Reader::new(&out).int().is_err(), "{v}");
        }
    }
    assert_eq!(Reader::new(&[0x80, 0x00]).long(), Ok(0));
    let overlong = [0xff; 10].iter().copied().chain([0x01]).collect::<Vec<_>>();
    assert!(Reader::new(&overlong).long().is_err());
    let too_big = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
    assert!(Reader::new(&too_big).long().is_err());
    assert!(Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x1f]).int().is_err());
    assert!(Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x80, 0x00])
        .int()
        .is_err());
    assert!(Reader::new(&[0x80]).long().is_err());
    assert!(Reader::new(&[]).int().is_err());
}

#[test]
fn primitives() {
    let mut out = Vec::new();
    write_bool(&mut out, true);
    write_float(&mut out, 1.5);
    write_double(&mut out, -2.25);
    write_str(&mut out, "héllo");
    write_bytes(&mut out, &[0, 255]);
    let mut r = Reader::new(&out);
    assert_eq!(r.boolean(), Ok(true));
    assert_eq!(r.float(), Ok(1.5));
    assert_eq!(r.double(), Ok(-2.25));
    assert_eq!(r.str(), Ok("héllo"));
    assert_eq!(r.bytes(), Ok(&[0u8, 255][..]));
    assert_eq!(r.remaining(), 0);
    assert!(r.boolean().is_err());
    assert!(Reader::new(&[2]).boolean().is_err());
    assert!(Reader::new(&[1, 0xff]).str().is_err(), "not UTF-8");
    assert!(Reader::new(&[4, b'a']).bytes().is_err(), "past the end");
    assert!(Reader::new(&[1]).bytes().is_err(), "negative length");
    assert!(Reader::new(&[0, 0, 0]).double().is_err());
    assert_eq!(Reader::new(&[2]).branch(2), Ok(1));
    assert!(Reader::new(&[4]).branch(2).is_err());
    assert!(Reader::new(&[1]).branch(2).is_err());
    assert_eq!(Reader::new(&[2]).enum_index(2), Ok(1));
    assert!(Reader::new(&[4]).enum_index(2).is_err());
}

#[test]
fn blocks() {
    // Two blocks: 2 items, then -1 items with their byte size, then the end.
    let mut out = Vec::new();
    write_long(&mut out, 2);
    write_str(&mut out, "a");
    write_str(&mut out, "b");
    write_long(&mut out, -1);
    write_long(&mut out, 2);
    write_str(&mut out, "c");
    write_long(&mut out, 0);
    let mut r = Reader::new(&out);
    let mut got = Vec::new();
    loop {
        let n = r.block(1).unwrap();
        if n == 0 {
            break;
        }
        for _ in 0..n {
            got.push(r.str().unwrap());
        }
    }
    assert_eq!(got, ["a", "b", "c"]);
    let strings = Schema::Array(Box::new(Schema::String));
    let mut r = Reader::new(&out);
    r.skip(&strings).unwrap();
    assert_eq!(r.remaining(), 0);
    // Counts the payload cannot hold fail at once instead of looping.
    let mut huge = Vec::new();
    write_long(&mut huge, i64::MAX);
    assert!(Reader::new(&huge).block(0).is_err());
    assert!(Reader::new(&huge)
        .skip(&Schema::Array(Box::new(Schema::Null)))
        .is_err());
    let mut huge = Vec::new();
    write_long(&mut huge, i64::MIN);
    assert!(Reader::new(&huge).block(1).is_err());
    let mut sized = Vec::new();
    write_long(&mut sized, -1);
    write_long(&mut sized, 9);
    assert!(
        Reader::new(&sized).block(1).is_err(),
        "byte size past the end"
    );
}

#[test]
fn skip_everything() {
    let s = Schema::parse(EVENT).unwrap();
    let mut out = Vec::new();
    out.extend([2, 2, 2, b'X', 2, 2]); // BillingAddress: City "X", Accuracy Block
    out.push(0); // ShippingAddress null
    out.extend([2, 0, 0]); // OtherAddress: both null
    write_strings(&mut out, &["t"]);
    out.extend([2, 2, b'k', 6, 0]); // Counts {k: 3}
    out.extend([7; 16]);
    write_long(&mut out, 1_746_458_032_813);
    let mut r = Reader::new(&out);
    r.skip(&s).unwrap();
    assert_eq!(r.remaining(), 0);
    for cut in 0..out.len() {
        assert!(Reader::new(&out[..cut]).skip(&s).is_err(), "cut at {cut}");
    }
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..20_000 {
        let len = (seed % 64) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        let _ = Reader::new(&bytes).skip(&s);
    }
}
