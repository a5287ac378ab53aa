//! The part of Avro that Pub/Sub API events use: the schema JSON as a small tree, a reader of
//! the binary encoding and the matching writers. Payloads come off the network, so the reader
//! checks every length against what is left and returns an error, never panics, whatever the
//! bytes are.

use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq)]
pub enum Schema {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Record(Arc<Record>),
    Enum(Arc<Enum>),
    Array(Box<Schema>),
    Map(Box<Schema>),
    Union(Vec<Schema>),
    Fixed(Arc<Fixed>),
}

#[derive(Debug, PartialEq)]
pub struct Record {
    pub name: String,
    pub namespace: Option<String>,
    pub fields: Vec<RecordField>,
}

#[derive(Debug, PartialEq)]
pub struct RecordField {
    pub name: String,
    pub schema: Schema,
}

#[derive(Debug, PartialEq)]
pub struct Enum {
    pub name: String,
    pub namespace: Option<String>,
    pub symbols: Vec<String>,
}

#[derive(Debug, PartialEq)]
pub struct Fixed {
    pub name: String,
    pub namespace: Option<String>,
    pub size: usize,
}

impl Record {
    /// The field named `name` (exact, as Avro names are case-sensitive) and its index.
    pub fn field(&self, name: &str) -> Option<(usize, &RecordField)> {
        self.fields.iter().enumerate().find(|(_, f)| f.name == name)
    }
}

impl Schema {
    pub fn parse(json: &str) -> Result<Schema, String> {
        let v: Json =
            serde_json::from_str(json).map_err(|e| format!("the schema is not JSON: {e}"))?;
        Schema::from_json(&v)
    }

    pub fn from_json(v: &Json) -> Result<Schema, String> {
        Parser::default().parse(v, None)
    }

    pub fn as_record(&self) -> Option<&Arc<Record>> {
        match self {
            Schema::Record(r) => Some(r),
            _ => None,
        }
    }

    /// The one non-null type of `T` or `["null", T]`: what a Salesforce field holds when set.
    pub fn non_null(&self) -> Option<&Schema> {
        match self {
            Schema::Union(branches) => {
                let mut set = branches.iter().filter(|b| **b != Schema::Null);
                match (set.next(), set.next()) {
                    (Some(one), None) => Some(one),
                    _ => None,
                }
            }
            Schema::Null => None,
            other => Some(other),
        }
    }

    /// The fewest bytes a value of this type takes: bounds array block counts before looping.
    pub fn min_size(&self) -> usize {
        match self {
            Schema::Null => 0,
            Schema::Float => 4,
            Schema::Double => 8,
            Schema::Fixed(f) => f.size,
            Schema::Record(r) => r
                .fields
                .iter()
                .fold(0, |n, f| n.saturating_add(f.schema.min_size())),
            _ => 1,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Schema::Null => "null",
            Schema::Boolean => "boolean",
            Schema::Int => "int",
            Schema::Long => "long",
            Schema::Float => "float",
            Schema::Double => "double",
            Schema::Bytes => "bytes",
            Schema::String => "string",
            Schema::Record(_) => "record",
            Schema::Enum(_) => "enum",
            Schema::Array(_) => "array",
            Schema::Map(_) => "map",
            Schema::Union(_) => "union",
            Schema::Fixed(_) => "fixed",
        }
    }
}

/// Named types defined so far, by full name: later fields may refer to them by name.
#[derive(Default)]
struct Parser {
    named: HashMap<String, Schema>,
    /// Records whose fields are being parsed: a reference to one is a recursive type.
    open: Vec<String>,
}

const PRIMITIVES: &[(&str, Schema)] = &[
    ("null", Schema::Null),
    ("boolean", Schema::Boolean),
    ("int", Schema::Int),
    ("long", Schema::Long),
    ("float", Schema::Float),
    ("double", Schema::Double),
    ("bytes", Schema::Bytes),
    ("string", Schema::String),
];

impl Parser {
    fn parse(&mut self, v: &Json, ns: Option<&str>) -> Result<Schema, String> {
        match v {
            Json::String(name) => self.by_name(name, ns),
            Json::Array(branches) => {
                if branches.is_empty() {
                    return Err("a union without branches".into());
                }
                let mut out = Vec::with_capacity(branches.len());
                for b in branches {
                    match self.parse(b, ns)? {
                        Schema::Union(_) => return Err("a union directly inside a union".into()),
                        s => out.push(s),
                    }
                }
                Ok(Schema::Union(out))
            }
            Json::Object(m) => match m.get("type") {
                Some(Json::String(t)) => match t.as_str() {
                    "record" | "error" => self.record(m, ns),
                    "enum" => self.enumeration(m, ns),
                    "fixed" => self.fixed(m, ns),
                    "array" => Ok(Schema::Array(Box::new(self.child(m, "items", ns)?))),
                    "map" => Ok(Schema::Map(Box::new(self.child(m, "values", ns)?))),
                    // A primitive with attributes (`logicalType`, ...) or a reference.
                    _ => self.by_name(t, ns),
                },
                Some(t @ (Json::Object(_) | Json::Array(_))) => self.parse(t, ns),
                _ => Err(format!("a type without a \"type\": {}", short(v))),
            },
            _ => Err(format!("{} is not an Avro type", short(v))),
        }
    }

    fn child(
        &mut self,
        m: &Map<String, Json>,
        key: &str,
        ns: Option<&str>,
    ) -> Result<Schema, String> {
        let v = m
            .get(key)
            .ok_or_else(|| format!("a container without \"{key}\""))?;
        self.parse(v, ns)
    }

    fn by_name(&self, name: &str, ns: Option<&str>) -> Result<Schema, String> {
        if let Some((_, s)) = PRIMITIVES.iter().find(|(n, _)| *n == name) {
            return Ok(s.clone());
        }
        let qualified = match ns {
            Some(ns) if !name.contains('.') => format!("{ns}.{name}"),
            _ => name.to_string(),
        };
        if self.open.iter().any(|o| *o == qualified || *o == name) {
            return Err(format!(
                "{name} refers to itself; recursive types are not supported"
            ));
        }
        if let Some(s) = self.named.get(&qualified).or_else(|| self.named.get(name)) {
            return Ok(s.clone());
        }
        // Leniency: a short name that only one defined type has, whatever its namespace.
        let mut short_matches = self
            .named
            .iter()
            .filter(|(full, _)| full.rsplit('.').next() == Some(name));
        match (short_matches.next(), short_matches.next()) {
            (Some((_, s)), None) => Ok(s.clone()),
            _ => Err(format!(
                "unknown type {name:?} (a named type is used before it is defined?)"
            )),
        }
    }

    /// (name, namespace, full name) of a named type, per the spec's namespace rules.
    fn names(
        m: &Map<String, Json>,
        ns: Option<&str>,
    ) -> Result<(String, Option<String>, String), String> {
        let name = m
            .get("name")
            .and_then(Json::as_str)
            .filter(|n| !n.is_empty())
            .ok_or("a named type without a name")?;
        if let Some((space, short)) = name.rsplit_once('.') {
            return Ok((short.to_string(), Some(space.to_string()), name.to_string()));
        }
        let space = match m.get("namespace") {
            Some(Json::String(s)) if s.is_empty() => None,
            Some(Json::String(s)) => Some(s.clone()),
            _ => ns.map(String::from),
        };
        let full = match &space {
            Some(s) => format!("{s}.{name}"),
            None => name.to_string(),
        };
        Ok((name.to_string(), space, full))
    }

    fn define(&mut self, full: String, s: Schema) -> Result<Schema, String> {
        if self.named.contains_key(&full) {
            return Err(format!("{full} is defined twice"));
        }
        self.named.insert(full, s.clone());
        Ok(s)
    }

    fn record(&mut self, m: &Map<String, Json>, ns: Option<&str>) -> Result<Schema, String> {
        let (name, namespace, full) = Self::names(m, ns)?;
        let list = m
            .get("fields")
            .and_then(Json::as_array)
            .ok_or_else(|| format!("record {full} has no \"fields\" array"))?;
        self.open.push(full.clone());
        let mut fields = Vec::with_capacity(list.len());
        for f in list {
            let fname = f
                .get("name")
                .and_then(Json::as_str)
                .ok_or_else(|| format!("a field of {full} has no name"))?;
            let t = f
                .get("type")
                .ok_or_else(|| format!("field {full}.{fname} has no type"))?;
            let schema = self
                .parse(t, namespace.as_deref())
                .map_err(|e| format!("{full}.{fname}: {e}"))?;
            if fields.iter().any(|x: &RecordField| x.name == fname) {
                return Err(format!("record {full} has two fields named {fname}"));
            }
            fields.push(RecordField {
                name: fname.to_string(),
                schema,
            });
        }
        self.open.pop();
        let r = Record {
            name,
            namespace,
            fields,
        };
        self.define(full, Schema::Record(Arc::new(r)))
    }

    fn enumeration(&mut self, m: &Map<String, Json>, ns: Option<&str>) -> Result<Schema, String> {
        let (name, namespace, full) = Self::names(m, ns)?;
        let symbols = m
            .get("symbols")
            .and_then(Json::as_array)
            .and_then(|a| {
                a.iter()
                    .map(|s| s.as_str().map(String::from))
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| format!("enum {full} has no \"symbols\" array of strings"))?;
        let e = Enum {
            name,
            namespace,
            symbols,
        };
        self.define(full, Schema::Enum(Arc::new(e)))
    }

    fn fixed(&mut self, m: &Map<String, Json>, ns: Option<&str>) -> Result<Schema, String> {
        let (name, namespace, full) = Self::names(m, ns)?;
        let size = m
            .get("size")
            .and_then(Json::as_u64)
            .and_then(|s| usize::try_from(s).ok())
            .ok_or_else(|| format!("fixed {full} has no \"size\""))?;
        let f = Fixed {
            name,
            namespace,
            size,
        };
        self.define(full, Schema::Fixed(Arc::new(f)))
    }
}

fn short(v: &Json) -> String {
    let mut s = v.to_string();
    if s.len() > 80 {
        let cut = (0..=80).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// A payload that does not decode: what was wrong and the byte offset where it was noticed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    pub what: &'static str,
    pub at: usize,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.what, self.at)
    }
}

pub type ReadResult<T> = Result<T, ReadError>;

pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Array and map items still allowed. Items of zero-size types (null, empty records) take
    /// no bytes, so without this a few bytes of block counts could ask for 2^63 iterations.
    items: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            items: buf.len().saturating_add(16),
        }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn fail<T>(&self, what: &'static str) -> ReadResult<T> {
        Err(ReadError { what, at: self.pos })
    }

    fn take(&mut self, n: usize) -> ReadResult<&'a [u8]> {
        match self
            .pos
            .checked_add(n)
            .and_then(|end| self.buf.get(self.pos..end))
        {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => self.fail("the payload ends early"),
        }
    }

    /// A base-128 varint of at most `max` bytes whose last byte is at most `last_max`.
    #[inline]
    fn varint(&mut self, max: usize, last_max: u8) -> ReadResult<u64> {
        let mut v = 0u64;
        for i in 0..max {
            let Some(&b) = self.buf.get(self.pos + i) else {
                return self.fail("the payload ends inside a number");
            };
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if i + 1 == max && b > last_max {
                    return self.fail("a number too large for its type");
                }
                self.pos += i + 1;
                return Ok(v);
            }
        }
        self.fail("a number encoded in too many bytes")
    }

    #[inline]
    pub fn long(&mut self) -> ReadResult<i64> {
        let v = self.varint(10, 1)?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    #[inline]
    pub fn int(&mut self) -> ReadResult<i32> {
        let v = self.varint(5, 0x0f)? as u32;
        Ok(((v >> 1) as i32) ^ -((v & 1) as i32))
    }

    pub fn boolean(&mut self) -> ReadResult<bool> {
        match self.take(1)? {
            [0] => Ok(false),
            [1] => Ok(true),
            _ => {
                self.pos -= 1;
                self.fail("a boolean that is neither 0 nor 1")
            }
        }
    }

    pub fn float(&mut self) -> ReadResult<f32> {
        let b = self.take(4)?;
        Ok(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn double(&mut self) -> ReadResult<f64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_le_bytes(a))
    }

    fn length(&mut self) -> ReadResult<usize> {
        let n = self.long()?;
        match usize::try_from(n) {
            Ok(n) if n <= self.remaining() => Ok(n),
            Ok(_) => self.fail("a length beyond the end of the payload"),
            Err(_) => self.fail("a negative length"),
        }
    }

    #[inline]
    pub fn bytes(&mut self) -> ReadResult<&'a [u8]> {
        let n = self.length()?;
        self.take(n)
    }

    #[inline]
    pub fn str(&mut self) -> ReadResult<&'a str> {
        let at = self.pos;
        let b = self.bytes()?;
        simdutf8::basic::from_utf8(b).map_err(|_| ReadError {
            what: "a string that is not UTF-8",
            at,
        })
    }

    pub fn fixed(&mut self, size: usize) -> ReadResult<&'a [u8]> {
        self.take(size)
    }

    /// A union's branch index, checked against the number of branches.
    #[inline]
    pub fn branch(&mut self, branches: usize) -> ReadResult<usize> {
        let i = self.long()?;
        match usize::try_from(i) {
            Ok(i) if i < branches => Ok(i),
            _ => self.fail("a union branch index out of range"),
        }
    }

    pub fn enum_index(&mut self, symbols: usize) -> ReadResult<usize> {
        let i = self.int()?;
        match usize::try_from(i) {
            Ok(i) if i < symbols => Ok(i),
            _ => self.fail("an enum index out of range"),
        }
    }

    /// The item count of the next array or map block, 0 at the end. A negative count is
    /// followed by the block's byte size, which must lie within the payload.
    pub fn block(&mut self, min_item: usize) -> ReadResult<usize> {
        let n = self.long()?;
        if n < 0 {
            self.length()?;
        }
        self.admit(n.unsigned_abs(), min_item)
    }

    fn admit(&mut self, count: u64, min_item: usize) -> ReadResult<usize> {
        let fits = count <= self.items as u64
            && (count as usize).saturating_mul(min_item) <= self.remaining();
        if !fits {
            return self.fail("a block count larger than the payload can hold");
        }
        self.items -= count as usize;
        Ok(count as usize)
    }

    /// Reads past a value of `schema`, checking it as it goes.
    pub fn skip(&mut self, schema: &Schema) -> ReadResult<()> {
        match schema {
            Schema::Null => Ok(()),
            Schema::Boolean => self.boolean().map(drop),
            Schema::Int => self.int().map(drop),
            Schema::Long => self.long().map(drop),
            Schema::Float => self.take(4).map(drop),
            Schema::Double => self.take(8).map(drop),
            Schema::Bytes | Schema::String => self.bytes().map(drop),
            Schema::Fixed(f) => self.take(f.size).map(drop),
            Schema::Enum(e) => self.enum_index(e.symbols.len()).map(drop),
            Schema::Record(r) => r.fields.iter().try_for_each(|f| self.skip(&f.schema)),
            Schema::Union(branches) => {
                let i = self.branch(branches.len())?;
                branches.get(i).map_or(Ok(()), |b| self.skip(b))
            }
            Schema::Array(items) => self.skip_blocks(items, false),
            Schema::Map(values) => self.skip_blocks(values, true),
        }
    }

    fn skip_blocks(&mut self, item: &Schema, keyed: bool) -> ReadResult<()> {
        let min = item.min_size() + usize::from(keyed);
        loop {
            let n = self.long()?;
            if n == 0 {
                return Ok(());
            }
            if n < 0 {
                // The byte size lets a skipper jump over the block without reading its items.
                let size = self.length()?;
                self.take(size)?;
                continue;
            }
            let count = self.admit(n.unsigned_abs(), min)?;
            for _ in 0..count {
                if keyed {
                    self.bytes()?;
                }
                self.skip(item)?;
            }
        }
    }
}

// The writers: the binary encoding of each primitive, for publishing and for tests.

pub fn write_long(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

pub fn write_int(out: &mut Vec<u8>, v: i32) {
    write_long(out, i64::from(v));
}

pub fn write_bool(out: &mut Vec<u8>, v: bool) {
    out.push(u8::from(v));
}

pub fn write_float(out: &mut Vec<u8>, v: f32) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub fn write_double(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub fn write_bytes(out: &mut Vec<u8>, v: &[u8]) {
    write_long(out, v.len() as i64);
    out.extend_from_slice(v);
}

pub fn write_str(out: &mut Vec<u8>, v: &str) {
    write_bytes(out, v.as_bytes());
}

/// An array of strings in one block, as Salesforce writes the header's lists.
pub fn write_strings<S: AsRef<str>>(out: &mut Vec<u8>, items: &[S]) {
    if !items.is_empty() {
        write_long(out, items.len() as i64);
        for s in items {
            write_str(out, s.as_ref());
        }
    }
    out.push(0);
}

#[cfg(test)]
mod tests {
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
}
