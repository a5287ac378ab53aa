//! An Avro schema (JSON) parsed into a small tree, names resolved.

use serde_json::{Map, Value as Json};
use std::collections::HashMap;
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
