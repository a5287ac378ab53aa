//! A REST query page decoded in one pass, each value written straight into its column builder
//! with no `serde_json::Value` tree in between. Salesforce writes a record's keys in SELECT
//! order, so the page's bytes are first compared with the key expected next, and a key is only
//! parsed and searched for when that guess misses. Addresses, locations and child subqueries
//! (small and rare) still go through `Value`, to share their conversion with the rest of the
//! reader.

use super::column::Builder;
use super::decode::bad;
use super::json_scan::Scan;
use super::plan::{Column, ReadPlan};
use crate::client::{Error, Result};
use arrow_array::RecordBatch;

/// One level of record nesting: the record itself, or a parent object (`Owner`).
#[derive(Default)]
struct Shape {
    keys: Vec<(String, Slot)>,
}

enum Slot {
    Column(usize),
    Parent(Shape),
}

impl Shape {
    fn of(plan: &ReadPlan) -> Shape {
        let mut root = Shape::default();
        'columns: for (i, c) in plan.columns.iter().enumerate() {
            let key = match c {
                Column::Scalar { key }
                | Column::Compound { key, .. }
                | Column::Children { key } => key,
            };
            let mut segs: Vec<&str> = key.split('.').collect();
            let last = segs.pop().unwrap_or_default();
            let mut shape = &mut root;
            for seg in segs {
                let at = match shape.keys.iter().position(|(k, _)| k == seg) {
                    Some(at) => at,
                    None => {
                        shape
                            .keys
                            .push((seg.to_string(), Slot::Parent(Shape::default())));
                        shape.keys.len() - 1
                    }
                };
                shape = match &mut shape.keys[at].1 {
                    Slot::Parent(s) => s,
                    // A field and a relationship never share a name in Salesforce.
                    Slot::Column(_) => continue 'columns,
                };
            }
            shape.keys.push((last.to_string(), Slot::Column(i)));
        }
        root
    }

    fn find(&self, key: &str, guess: usize) -> Option<usize> {
        if self.keys.get(guess).is_some_and(|(k, _)| k == key) {
            return Some(guess);
        }
        self.keys.iter().position(|(k, _)| k == key).or_else(|| {
            self.keys
                .iter()
                .position(|(k, _)| k.eq_ignore_ascii_case(key))
        })
    }
}

struct Decoder<'p> {
    plan: &'p ReadPlan,
    builders: Vec<Builder>,
    rows: usize,
    next: Option<String>,
    total: Option<i64>,
}

/// Records in a full REST page (Salesforce's largest batch size).
const PAGE_ROWS: usize = 2000;

/// Decodes a page: its batch, its `nextRecordsUrl` and its `totalSize`.
pub fn decode_page(
    plan: &ReadPlan,
    body: &[u8],
) -> Result<(RecordBatch, Option<String>, Option<i64>)> {
    let builders = plan
        .schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| match plan.text_hints.get(i) {
            Some(bytes) => Builder::with_text_bytes(f.data_type(), PAGE_ROWS, bytes),
            None => Builder::new(f.data_type(), PAGE_ROWS),
        })
        .collect();
    let shape = Shape::of(plan);
    let mut d = Decoder {
        plan,
        builders,
        rows: 0,
        next: None,
        total: None,
    };
    // One SIMD pass validates the page, so strings are borrowed from it without another check.
    let body = simdutf8::basic::from_utf8(body)
        .map_err(|_| Error::protocol("query page is not valid UTF-8"))?;
    let mut scan = Scan::new(body);
    page(&mut scan, &mut d, &shape)?;
    scan.end()?;
    plan.text_hints.record(&d.builders);
    let batch = super::decode::batch(plan, &mut d.builders, d.rows)?;
    Ok((batch, d.next, d.total))
}

/// The page object: `totalSize`, `nextRecordsUrl` and `records`, in any order.
fn page(scan: &mut Scan, d: &mut Decoder, shape: &Shape) -> Result<()> {
    scan.eat(b'{')?;
    if scan.eat_if(b'}') {
        return Ok(());
    }
    loop {
        match scan.key()?.as_ref() {
            "records" => records(scan, d, shape)?,
            "nextRecordsUrl" if scan.peek() == Some(b'"') => {
                d.next = Some(scan.string()?.into_owned())
            }
            "totalSize" if scan.peek() != Some(b'n') => {
                let n = scan.number()?;
                d.total = Some(n.parse().map_err(|_| scan.syntax("bad totalSize"))?);
            }
            _ => {
                scan.skip_value()?;
            }
        }
        if !scan.more(b'}')? {
            return Ok(());
        }
    }
}

fn records(scan: &mut Scan, d: &mut Decoder, shape: &Shape) -> Result<()> {
    scan.eat(b'[')?;
    if scan.eat_if(b']') {
        return Ok(());
    }
    loop {
        object(scan, d, shape)?;
        d.rows += 1;
        // Columns the record did not mention (a null parent) are null.
        for (i, b) in d.builders.iter_mut().enumerate() {
            match b.rows().cmp(&d.rows) {
                std::cmp::Ordering::Less => b.append_null(),
                std::cmp::Ordering::Equal => {}
                std::cmp::Ordering::Greater => {
                    let name = d.plan.schema.field(i).name();
                    return Err(Error::protocol(format!(
                        "query page is not valid: a record has {name} twice"
                    )));
                }
            }
        }
        if !scan.more(b']')? {
            return Ok(());
        }
    }
}

/// A record or a parent object inside one; `null` leaves its columns to be filled as null.
fn object(scan: &mut Scan, d: &mut Decoder, shape: &Shape) -> Result<()> {
    if scan.peek() == Some(b'n') {
        return scan.literal("null");
    }
    scan.eat(b'{')?;
    if scan.eat_if(b'}') {
        return Ok(());
    }
    let mut guess = 0;
    loop {
        let slot = match shape.keys.get(guess) {
            Some((key, _)) if scan.key_is(key)? => Some(guess),
            _ if scan.key_is("attributes")? => None,
            _ => shape.find(&scan.key()?, guess),
        };
        match slot {
            None => {
                scan.skip_value()?;
            }
            Some(at) => {
                guess = at + 1;
                match &shape.keys[at].1 {
                    Slot::Parent(parent) => object(scan, d, parent)?,
                    Slot::Column(i) => value(scan, d, *i)?,
                }
            }
        }
        if !scan.more(b'}')? {
            return Ok(());
        }
    }
}

/// One value into its column. JSON numbers go in as written, the way Bulk's CSV gives them.
fn value(scan: &mut Scan, d: &mut Decoder, column: usize) -> Result<()> {
    let builder = &mut d.builders[column];
    let outcome = match scan.peek() {
        Some(b'"') => builder.append_text(&scan.string()?),
        Some(b'n') => {
            scan.literal("null")?;
            builder.append_null();
            Ok(())
        }
        Some(c @ (b't' | b'f')) => {
            let word = if c == b't' { "true" } else { "false" };
            scan.literal(word)?;
            builder.append_text(word)
        }
        Some(b'-' | b'0'..=b'9') => builder.append_text(scan.number()?),
        Some(b'{' | b'[') => {
            let text = scan.skip_value()?;
            let v: serde_json::Value = serde_json::from_str(text)
                .map_err(|e| scan.syntax(&format!("bad nested value ({e})")))?;
            builder.append_json(&v)
        }
        _ => return Err(scan.syntax("expected a value")),
    };
    outcome.map_err(|e| bad(d.plan.schema.field(column).name(), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int32Type;
    use arrow_array::Array;
    use arrow_schema::{DataType, Field, Schema};

    fn plan(cols: &[(&str, DataType)]) -> ReadPlan {
        ReadPlan::fixed(
            cols.iter()
                .map(|(k, _)| Column::Scalar { key: k.to_string() })
                .collect(),
            Schema::new(
                cols.iter()
                    .map(|(k, t)| Field::new(*k, t.clone(), true))
                    .collect::<Vec<_>>(),
            ),
        )
    }

    #[test]
    fn keys_in_any_order_null_parents_and_unknown_keys() {
        let p = plan(&[
            ("Name", DataType::Utf8),
            ("Owner.Name", DataType::Utf8),
            ("NumberOfEmployees", DataType::Int32),
        ]);
        let body = br#"{"totalSize":3,"done":false,"nextRecordsUrl":"/next","records":[
            {"attributes":{"type":"Account"},"Name":"a \"q\"","Owner":{"attributes":{},"Name":"o"},"NumberOfEmployees":10.0},
            {"NumberOfEmployees":null,"Extra":[1,{"x":2}],"Owner":null,"Name":""},
            {"attributes":{"type":"Account"},"Owner":{"Name":"\u00e9"}}]}"#;
        let (b, next, total) = decode_page(&p, body).unwrap();
        assert_eq!(
            (b.num_rows(), next.as_deref(), total),
            (3, Some("/next"), Some(3))
        );
        let names = b.column(0).as_string::<i32>();
        assert_eq!(names.value(0), "a \"q\"");
        assert!(
            names.is_null(1) && names.is_null(2),
            "empty text and a missing key are null"
        );
        let owners = b.column(1).as_string::<i32>();
        assert_eq!(
            (owners.value(0), owners.is_null(1), owners.value(2)),
            ("o", true, "é")
        );
        let n = b.column(2).as_primitive::<Int32Type>();
        assert_eq!((n.value(0), n.is_null(1), n.is_null(2)), (10, true, true));
    }

    #[test]
    fn a_bad_value_names_its_column() {
        let p = plan(&[("NumberOfEmployees", DataType::Int32)]);
        let e = decode_page(&p, br#"{"records":[{"NumberOfEmployees":"many"}]}"#).unwrap_err();
        assert!(e.to_string().contains("column NumberOfEmployees"), "{e}");
        let e = decode_page(&p, br#"{"records":[{"NumberOfEmployees":1}"#).unwrap_err();
        assert!(e.to_string().contains("not valid JSON"), "{e}");
    }
}
