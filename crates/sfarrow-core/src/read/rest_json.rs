//! A REST query page decoded in one pass: serde drives visitors that write each value straight
//! into its column builder, with no `serde_json::Value` tree in between. Salesforce writes a
//! record's keys in SELECT order, so each key is first compared with the one expected next and
//! only searched for when that guess misses. Addresses, locations and child subqueries (small
//! and rare) still go through `Value`, to share their conversion with the rest of the reader.

use super::column::{BadValue, Builder};
use super::plan::{Column, ReadPlan};
use crate::client::Error;
use arrow_array::RecordBatch;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;

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
    /// The conversion that stopped the parse, reported instead of serde's message.
    failure: Option<Error>,
}

impl Decoder<'_> {
    fn fail<E: de::Error>(&mut self, column: usize, e: BadValue) -> E {
        let name = self.plan.schema.field(column).name();
        self.failure = Some(Error::protocol(format!(
            "column {name}: {:?} is not a valid {}",
            e.0, e.1
        )));
        E::custom("bad value")
    }
}

/// Records in a full REST page (Salesforce's largest batch size).
const PAGE_ROWS: usize = 2000;

/// Decodes a page: its batch, its `nextRecordsUrl` and its `totalSize`.
pub fn decode_page(
    plan: &ReadPlan,
    body: &[u8],
) -> crate::client::Result<(RecordBatch, Option<String>, Option<i64>)> {
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
        failure: None,
    };
    // One SIMD pass validates the page; parsing from `str` then skips checking every string.
    let body = simdutf8::basic::from_utf8(body)
        .map_err(|_| Error::protocol("query page is not valid UTF-8"))?;
    let mut json = serde_json::Deserializer::from_str(body);
    let parsed = PageSeed {
        d: &mut d,
        shape: &shape,
    }
    .deserialize(&mut json)
    .and_then(|()| json.end());
    if let Err(e) = parsed {
        return Err(d
            .failure
            .take()
            .unwrap_or_else(|| Error::protocol(format!("query page is not valid JSON: {e}"))));
    }
    plan.text_hints.record(&d.builders);
    let batch = super::decode::batch(plan, &mut d.builders, d.rows)?;
    Ok((batch, d.next, d.total))
}

struct PageSeed<'a, 'p> {
    d: &'a mut Decoder<'p>,
    shape: &'a Shape,
}

impl<'de> DeserializeSeed<'de> for PageSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PageSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a query result object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "records" => map.next_value_seed(RecordsSeed {
                    d: &mut *self.d,
                    shape: self.shape,
                })?,
                "nextRecordsUrl" => self.d.next = map.next_value()?,
                "totalSize" => self.d.total = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct RecordsSeed<'a, 'p> {
    d: &'a mut Decoder<'p>,
    shape: &'a Shape,
}

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(ObjectSeed {
                d: &mut *self.d,
                shape: self.shape,
            })?
            .is_some()
        {
            self.d.rows += 1;
            // Columns the record did not mention (a null parent) are null.
            for (i, b) in self.d.builders.iter_mut().enumerate() {
                match b.rows().cmp(&self.d.rows) {
                    std::cmp::Ordering::Less => b.append_null(),
                    std::cmp::Ordering::Equal => {}
                    std::cmp::Ordering::Greater => {
                        let name = self.d.plan.schema.field(i).name();
                        return Err(de::Error::custom(format!("record has {name} twice")));
                    }
                }
            }
        }
        Ok(())
    }
}

/// A record or a parent object inside one; `null` leaves its columns to be filled as null.
struct ObjectSeed<'a, 'p> {
    d: &'a mut Decoder<'p>,
    shape: &'a Shape,
}

impl<'de> DeserializeSeed<'de> for ObjectSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ObjectSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a record object or null")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut guess = 0;
        while let Some(found) = map.next_key_seed(KeySeed {
            shape: self.shape,
            guess,
        })? {
            let Some(at) = found else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            guess = at + 1;
            match &self.shape.keys[at].1 {
                Slot::Parent(shape) => map.next_value_seed(ObjectSeed {
                    d: &mut *self.d,
                    shape,
                })?,
                Slot::Column(i) => {
                    let i = *i;
                    if matches!(self.d.builders[i], Builder::Struct(_) | Builder::List(_)) {
                        let v: serde_json::Value = map.next_value()?;
                        if let Err(e) = self.d.builders[i].append_json(&v) {
                            return Err(self.d.fail(i, e));
                        }
                    } else {
                        map.next_value_seed(ScalarSeed {
                            d: &mut *self.d,
                            column: i,
                        })?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// A key, matched to its slot in the shape (`None` for `attributes` and anything unknown).
struct KeySeed<'a> {
    shape: &'a Shape,
    guess: usize,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<usize>;
    fn deserialize<D: de::Deserializer<'de>>(self, de: D) -> Result<Option<usize>, D::Error> {
        de.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Option<usize>, E> {
        Ok(self.shape.find(key, self.guess))
    }
}

/// One scalar value into its column.
struct ScalarSeed<'a, 'p> {
    d: &'a mut Decoder<'p>,
    column: usize,
}

impl<'de> DeserializeSeed<'de> for ScalarSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

impl ScalarSeed<'_, '_> {
    fn done<E: de::Error>(self, outcome: Result<(), BadValue>) -> Result<(), E> {
        outcome.map_err(|e| self.d.fail(self.column, e))
    }
}

impl<'de> Visitor<'de> for ScalarSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.d.builders[self.column].append_null();
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        let r = self.d.builders[self.column].append_text(v);
        self.done(r)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        let r = self.d.builders[self.column].append_json(&serde_json::Value::Bool(v));
        self.done(r)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        let r = self.d.builders[self.column].append_json(&v.into());
        self.done(r)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        let r = self.d.builders[self.column].append_json(&v.into());
        self.done(r)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        let r = self.d.builders[self.column].append_json(&v.into());
        self.done(r)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let v = serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
        let r = self.d.builders[self.column].append_json(&v);
        self.done(r)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        let v = serde_json::Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        let r = self.d.builders[self.column].append_json(&v);
        self.done(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int32Type;
    use arrow_array::Array;
    use arrow_schema::{DataType, Field, Schema};
    use std::sync::Arc;

    fn plan(cols: &[(&str, DataType)]) -> ReadPlan {
        ReadPlan {
            object: "Account".into(),
            columns: cols
                .iter()
                .map(|(k, _)| Column::Scalar { key: k.to_string() })
                .collect(),
            schema: Arc::new(Schema::new(
                cols.iter()
                    .map(|(k, t)| Field::new(*k, t.clone(), true))
                    .collect::<Vec<_>>(),
            )),
            rest_soql: String::new(),
            bulk_soql: None,
            bulk_unsupported: None,
            count_soql: String::new(),
            limit: None,
            count_only: false,
            aggregate: false,
            text_hints: Default::default(),
        }
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
