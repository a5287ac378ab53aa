//! Query results on the wire: REST JSON records (§2.5 formats, nested parents and children)
//! and Bulk API 2.0 CSV pages (§5.6). Written straight into a String: these run per cell.

use crate::data::store::Store;
use crate::data::value::Value;
use crate::soql::plan::{follow, resolve, Node, Path, ResultSet};
use sfarrow_soql::formats::{self, Zone};
pub use sfarrow_soql::json_text::write_json_str;
use std::fmt::Write;

/// A double as Java's `Double.toString` writes it, as Salesforce does: `10.0`, `0.5`, `1.39E8`.
pub fn write_double(out: &mut String, f: f64) {
    let a = f.abs();
    if a == 0.0 || (1e-3..1e7).contains(&a) {
        // Shortest digits, like Java's, and `10.0` for whole numbers: ryu writes these without
        // an exponent, several times faster than `Display`.
        out.push_str(ryu::Buffer::new().format(f));
    } else {
        let s = format!("{f:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        out.push_str(mantissa);
        if !mantissa.contains('.') {
            out.push_str(".0");
        }
        out.push('E');
        out.push_str(exp);
    }
}

/// `"key":` for a field or relationship key. Those are names from describe, which the org
/// only accepts as identifiers, so they never need escapes: the check is skipped because keys
/// are over half of every record's bytes.
fn write_key(out: &mut String, key: &str) {
    debug_assert!(key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.'));
    out.push('"');
    out.push_str(key);
    out.push_str("\":");
}

pub fn write_json_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => write_double(out, *f),
        Value::Text(s) => write_json_str(out, s),
        Value::Date(d) => {
            out.push('"');
            formats::write_date(out, *d);
            out.push('"');
        }
        Value::DateTime(ms) => {
            out.push('"');
            formats::write_datetime(out, *ms, Zone::Rest);
            out.push('"');
        }
        Value::Time(t) => write_json_str(out, &formats::format_time(*t)),
    }
}

pub fn json_value(v: &Value) -> serde_json::Value {
    let mut s = String::new();
    write_json_value(&mut s, v);
    serde_json::from_str(&s).unwrap_or(serde_json::Value::Null)
}

fn write_attributes(out: &mut String, store: &Store, table: usize, row: u32, version: &str) {
    let t = &store.tables[table];
    let name = t.def.name.as_str();
    for piece in [
        "\"attributes\":{\"type\":\"",
        name,
        "\",\"url\":\"/services/data/v",
        version,
        "/sobjects/",
        name,
        "/",
        t.rows[row as usize].id(),
        "\"}",
    ] {
        out.push_str(piece);
    }
}

/// Everything needed to render one record of a result set.
pub struct RecordCtx<'a> {
    pub store: &'a Store,
    pub rs: &'a ResultSet,
    pub version: &'a str,
}

impl RecordCtx<'_> {
    /// Writes the `pos`-th record of the result set as a REST JSON object.
    pub fn write_record(&self, out: &mut String, pos: usize) {
        if !self.rs.plan.aggregates.is_empty() {
            out.push_str("{\"attributes\":{\"type\":\"AggregateResult\"}");
            for (k, v) in &self.rs.aggregate_rows[pos] {
                out.push(',');
                write_json_str(out, k);
                out.push(':');
                write_json_value(out, v);
            }
            out.push('}');
            return;
        }
        let row = self.rs.rows[pos];
        self.write_object(out, self.rs.plan.table, row, &self.rs.plan.nodes, Some(pos));
    }

    fn write_object(
        &self,
        out: &mut String,
        table: usize,
        row: u32,
        nodes: &[Node],
        pos: Option<usize>,
    ) {
        out.push('{');
        write_attributes(out, self.store, table, row, self.version);
        for n in nodes {
            out.push(',');
            match n {
                Node::Field { key, path } => {
                    write_key(out, key);
                    let v = self.store.tables[table].rows[row as usize].get(path.field);
                    write_json_value(out, v);
                }
                Node::Compound { key, parts } => {
                    write_key(out, key);
                    self.write_compound(out, table, row, parts);
                }
                Node::Parent {
                    key, hop, children, ..
                } => {
                    write_key(out, key);
                    match follow(self.store, table, row, hop.1) {
                        Some((pt, pr)) => self.write_object(out, pt, pr, children, None),
                        None => out.push_str("null"),
                    }
                }
                Node::Children { key, sub } => {
                    write_key(out, key);
                    let kids = pos.and_then(|p| self.rs.children.get(*sub)?.get(p));
                    match kids {
                        Some(kids) if !kids.is_empty() => {
                            let sp = &self.rs.plan.subqueries[*sub].plan;
                            let _ = write!(
                                out,
                                "{{\"totalSize\":{},\"done\":true,\"records\":[",
                                kids.len()
                            );
                            for (i, &k) in kids.iter().enumerate() {
                                if i > 0 {
                                    out.push(',');
                                }
                                self.write_object(out, sp.table, k, &sp.nodes, None);
                            }
                            out.push_str("]}");
                        }
                        _ => out.push_str("null"),
                    }
                }
            }
        }
        out.push('}');
    }

    fn write_compound(&self, out: &mut String, table: usize, row: u32, parts: &[(String, Path)]) {
        let r = &self.store.tables[table].rows[row as usize];
        if parts.iter().all(|(_, p)| r.get(p.field).is_null()) {
            out.push_str("null");
            return;
        }
        out.push('{');
        for (i, (k, p)) in parts.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_json_str(out, k);
            out.push(':');
            write_json_value(out, r.get(p.field));
        }
        out.push('}');
    }
}

/// Bulk CSV dialect chosen at job creation.
#[derive(Debug, Clone, Copy)]
pub struct CsvDialect {
    pub delimiter: u8,
    pub crlf: bool,
}

impl CsvDialect {
    pub fn from_names(delimiter: &str, line_ending: &str) -> Option<Self> {
        let delimiter = match delimiter {
            "COMMA" => b',',
            "TAB" => b'\t',
            "PIPE" => b'|',
            "SEMICOLON" => b';',
            "CARET" => b'^',
            "BACKQUOTE" => b'`',
            _ => return None,
        };
        let crlf = match line_ending {
            "LF" => false,
            "CRLF" => true,
            _ => return None,
        };
        Some(CsvDialect { delimiter, crlf })
    }

    fn newline(&self, out: &mut String) {
        out.push_str(if self.crlf { "\r\n" } else { "\n" });
    }
}

pub fn write_csv_quoted(out: &mut String, s: &str) {
    out.push('"');
    if s.contains('"') {
        out.push_str(&s.replace('"', "\"\""));
    } else {
        out.push_str(s);
    }
    out.push('"');
}

fn write_csv_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => {}
        Value::Text(s) => write_csv_quoted(out, s),
        other => {
            out.push('"');
            match other {
                Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                Value::Int(i) => {
                    let _ = write!(out, "{i}");
                }
                Value::Float(f) => write_double(out, *f),
                Value::Date(d) => formats::write_date(out, *d),
                Value::DateTime(ms) => formats::write_datetime(out, *ms, Zone::Bulk),
                Value::Time(t) => out.push_str(&formats::format_time(*t)),
                Value::Null | Value::Text(_) => {}
            }
            out.push('"');
        }
    }
}

/// A Bulk result page: the header row (on every page), then rows `range` of the result set.
pub fn csv_page(
    store: &Store,
    rs: &ResultSet,
    range: std::ops::Range<usize>,
    dialect: CsvDialect,
) -> String {
    let cols = &rs.plan.columns;
    let mut out = String::with_capacity(64 + range.len() * cols.len() * 16);
    for (i, c) in cols.iter().enumerate() {
        if i > 0 {
            out.push(dialect.delimiter as char);
        }
        write_csv_quoted(&mut out, &c.written);
    }
    dialect.newline(&mut out);
    for &row in &rs.rows[range] {
        for (i, c) in cols.iter().enumerate() {
            if i > 0 {
                out.push(dialect.delimiter as char);
            }
            if let Some(v) = resolve(store, rs.plan.table, row, c) {
                write_csv_value(&mut out, v);
            }
        }
        dialect.newline(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(f: f64) -> String {
        let mut s = String::new();
        write_double(&mut s, f);
        s
    }

    #[test]
    fn doubles_like_java() {
        assert_eq!(d(10.0), "10.0");
        assert_eq!(d(0.5), "0.5");
        assert_eq!(d(139_000_000.0), "1.39E8");
        assert_eq!(d(-2.5e-5), "-2.5E-5");
        assert_eq!(d(0.0), "0.0");
        assert_eq!(d(1234567.25), "1234567.25");
        assert_eq!(d(-0.0), "-0.0");
        assert_eq!(d(0.001), "0.001");
        assert_eq!(d(9999999.5), "9999999.5");
        assert_eq!(d(0.1 + 0.2), "0.30000000000000004");
    }
}
