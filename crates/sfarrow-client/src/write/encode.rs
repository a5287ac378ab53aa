//! Input columns to Salesforce fields, checked against describe before anything is sent, and
//! Arrow values to what REST (JSON) and Bulk (CSV text, `#N/A` for null) accept.

use crate::client::{Error, Result};
use crate::schema::cells::MS_PER_DAY;
use crate::schema::ObjectInfo;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Schema};
use sfarrow_soql::formats::{self, Zone};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Insert,
    Update,
    Upsert,
    Delete,
    HardDelete,
}

impl Op {
    pub fn parse(name: &str) -> Result<Op> {
        Ok(match name {
            "insert" => Op::Insert,
            "update" => Op::Update,
            "upsert" => Op::Upsert,
            "delete" => Op::Delete,
            "hardDelete" => Op::HardDelete,
            other => {
                return Err(Error::config(format!(
                    "unknown operation {other:?}; one of insert, update, upsert, delete, hardDelete"
                )))
            }
        })
    }

    pub fn bulk_name(self) -> &'static str {
        match self {
            Op::Insert => "insert",
            Op::Update => "update",
            Op::Upsert => "upsert",
            Op::Delete => "delete",
            Op::HardDelete => "hardDelete",
        }
    }
}

/// Where an input column goes in a REST record.
#[derive(Debug, Clone)]
pub enum Target {
    Id,
    Field(String),
    /// `Account.Ext_Id__c`: the parent relationship and the parent's external id field.
    Parent {
        relationship: String,
        key: String,
    },
}

#[derive(Debug)]
pub struct WritePlan {
    pub object: String,
    pub op: Op,
    /// Per input column: its name as given and where it goes.
    pub columns: Vec<(String, Target)>,
    /// The upsert key's canonical name (`Ext_Id__c` or `Id`).
    pub external_id: Option<String>,
}

pub fn plan(
    info: &ObjectInfo,
    op: Op,
    schema: &Schema,
    external_id: Option<&str>,
) -> Result<WritePlan> {
    let mut columns = Vec::new();
    let mut unknown = Vec::new();
    let mut read_only = Vec::new();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let has = |n: &str| names.iter().any(|c| c.eq_ignore_ascii_case(n));
    check_columns(schema)?;
    let key = match (op, external_id) {
        (Op::Upsert, None) => {
            return Err(Error::config(
                "upsert needs external_id= the name of an external id field (or \"Id\")",
            ))
        }
        (Op::Upsert, Some(k)) => {
            let f = info
                .field(k)
                .ok_or_else(|| Error::config(format!("{} has no field {k}", info.name)))?;
            if !(f.external_id || f.name == "Id") {
                return Err(Error::config(format!(
                    "{}.{} is not an external id field; upsert needs one (or \"Id\")",
                    info.name, f.name
                )));
            }
            if !has(&f.name) {
                return Err(Error::config(format!(
                    "upsert by {} needs a {} column",
                    f.name, f.name
                )));
            }
            Some(f.name.clone())
        }
        (_, Some(_)) => return Err(Error::config("external_id is only for upsert")),
        _ => None,
    };
    if matches!(op, Op::Update | Op::Delete | Op::HardDelete) && !has("Id") {
        return Err(Error::config(format!(
            "{} needs an Id column",
            op.bulk_name()
        )));
    }
    for name in names {
        if name.eq_ignore_ascii_case("Id") {
            if op == Op::Insert {
                return Err(Error::config("insert cannot take an Id column: Salesforce assigns ids (use update or upsert)"));
            }
            columns.push((name.to_string(), Target::Id));
            continue;
        }
        if matches!(op, Op::Delete | Op::HardDelete) {
            return Err(Error::config(format!(
                "{} takes only an Id column; found {name}",
                op.bulk_name()
            )));
        }
        if let Some((rel, k)) = name.split_once('.') {
            let Some(r) = info.relationship(rel) else {
                unknown.push(name.to_string());
                continue;
            };
            columns.push((
                name.to_string(),
                Target::Parent {
                    relationship: r
                        .relationship_name
                        .clone()
                        .unwrap_or_else(|| rel.to_string()),
                    key: k.to_string(),
                },
            ));
            continue;
        }
        match info.field(name) {
            None => unknown.push(name.to_string()),
            Some(f) => {
                let writable = match op {
                    Op::Insert => f.createable,
                    Op::Update => f.updateable,
                    _ => f.createable || f.updateable,
                };
                if !writable && Some(&f.name) != key.as_ref() {
                    read_only.push(f.name.clone());
                }
                columns.push((name.to_string(), Target::Field(f.name.clone())));
            }
        }
    }
    check_targets(info, &columns)?;
    if !unknown.is_empty() {
        return Err(Error::config(format!(
            "these columns are not fields of {}: {}; rename or drop them (parent references are written Relationship.ExternalIdField, e.g. Account.Ext_Id__c)",
            info.name,
            unknown.join(", ")
        )));
    }
    if !read_only.is_empty() {
        return Err(Error::config(format!(
            "these fields of {} cannot be written by {}: {}",
            info.name,
            op.bulk_name(),
            read_only.join(", ")
        )));
    }
    Ok(WritePlan {
        object: info.name.clone(),
        op,
        columns,
        external_id: key,
    })
}

/// Every column once (Salesforce names ignore case) and of a type that can be written: checked
/// before anything is sent, so a bad column never leaves half a write behind.
fn check_columns(schema: &Schema) -> Result<()> {
    let mut seen: Vec<&str> = Vec::new();
    let mut twice = Vec::new();
    for f in schema.fields() {
        if let Some(first) = seen.iter().find(|s| s.eq_ignore_ascii_case(f.name())) {
            twice.push(format!("{first} and {}", f.name()));
        }
        seen.push(f.name());
    }
    if !twice.is_empty() {
        return Err(Error::config(format!(
            "the input names a field more than once ({}); Salesforce names ignore case, so keep one column per field",
            twice.join("; ")
        )));
    }
    let bad: Vec<String> = schema
        .fields()
        .iter()
        .filter(|f| !writable(f.data_type()))
        .map(|f| format!("{} ({})", f.name(), f.data_type()))
        .collect();
    if !bad.is_empty() {
        return Err(Error::config(format!(
            "these columns have Arrow types that cannot be written to Salesforce: {}; cast them to text, numbers, booleans, dates, times or timestamps",
            bad.join(", ")
        )));
    }
    Ok(())
}

/// A lookup set twice, by its id field and through the relationship (`AccountId` and
/// `Account.Ext_Id__c`), would leave Salesforce to pick one: refused.
fn check_targets(info: &ObjectInfo, columns: &[(String, Target)]) -> Result<()> {
    let sets = |t: &Target, rel: &str| match t {
        Target::Parent { relationship, .. } => relationship.eq_ignore_ascii_case(rel),
        Target::Field(f) => info
            .field(f)
            .and_then(|f| f.relationship_name.as_deref())
            .is_some_and(|r| r.eq_ignore_ascii_case(rel)),
        Target::Id => false,
    };
    for (name, target) in columns {
        let Target::Parent { relationship, .. } = target else {
            continue;
        };
        let clash = columns
            .iter()
            .find(|(other, t)| other != name && sets(t, relationship));
        if let Some((other, _)) = clash {
            return Err(Error::config(format!(
                "{name} and {other} both set the {relationship} lookup; keep one"
            )));
        }
    }
    Ok(())
}

/// The Arrow types `cell` turns into Salesforce values.
fn writable(t: &DataType) -> bool {
    match t {
        DataType::Dictionary(_, values) => writable(values),
        DataType::Null
        | DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View
        | DataType::Boolean
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Float32
        | DataType::Float64
        | DataType::Decimal128(_, _)
        | DataType::Date32
        | DataType::Date64
        | DataType::Timestamp(_, _)
        | DataType::Time32(_)
        | DataType::Time64(_) => true,
        _ => false,
    }
}

/// A batch as `cell` reads it: dictionary columns decoded to their values once per batch (per
/// row, each lookup would decode the whole dictionary).
pub fn normalize(batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
    batch
        .columns()
        .iter()
        .map(|c| match c.data_type() {
            DataType::Dictionary(_, values) => arrow_cast::cast(c.as_ref(), values)
                .map_err(|e| Error::config(format!("cannot read a dictionary column: {e}"))),
            _ => Ok(c.clone()),
        })
        .collect()
}

/// One value as Salesforce takes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A decimal's exact digits (`-12.50`): written as a JSON number, digit for digit.
    Number(String),
    /// Text, and dates and times in Salesforce's text form.
    Text(String),
}

impl Cell {
    /// Appends the value as JSON. Written as text, not through `serde_json::Value`, so that a
    /// decimal's digits go out exactly as they are (a JSON number, never rounded to a double).
    pub fn write_json(&self, out: &mut String) {
        use std::fmt::Write;
        match self {
            Cell::Null => out.push_str("null"),
            Cell::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Cell::Int(i) => {
                let _ = write!(out, "{i}");
            }
            // Finite (checked by `cell`); Rust prints the shortest digits that read back exactly.
            Cell::Float(f) => {
                let _ = write!(out, "{f}");
            }
            Cell::Number(s) => out.push_str(s),
            Cell::Text(s) => sfarrow_soql::json_text::write_json_str(out, s),
        }
    }

    /// Bulk CSV text: `#N/A` sets a field to null (an empty cell would leave it unchanged).
    pub fn csv(&self) -> String {
        match self {
            Cell::Null => "#N/A".into(),
            Cell::Text(s) if s.is_empty() => "#N/A".into(),
            Cell::Bool(b) => b.to_string(),
            Cell::Int(i) => i.to_string(),
            Cell::Float(f) => format!("{f}"),
            Cell::Number(s) | Cell::Text(s) => s.clone(),
        }
    }
}

/// Salesforce keeps dates and datetimes from 1700-01-01 to 4000-12-31.
const FIRST_DAY: i64 = -98_627; // 1700-01-01
const LAST_DAY: i64 = 744_414; // 4000-12-31

fn decimal_text(v: i128, scale: i8) -> Option<String> {
    if scale <= 0 {
        return v
            .checked_mul(10i128.checked_pow(u32::from(scale.unsigned_abs()))?)
            .map(|n| n.to_string());
    }
    let neg = v < 0;
    let digits = v.unsigned_abs().to_string();
    let s = scale as usize;
    let padded = if digits.len() <= s {
        format!("{}{digits}", "0".repeat(s + 1 - digits.len()))
    } else {
        digits
    };
    let (int, frac) = padded.split_at(padded.len() - s);
    Some(format!("{}{int}.{frac}", if neg { "-" } else { "" }))
}

fn day_in_range(days: i64) -> std::result::Result<i64, String> {
    if (FIRST_DAY..=LAST_DAY).contains(&days) {
        Ok(days)
    } else {
        Err("is outside the dates Salesforce keeps (1700-01-01 to 4000-12-31)".into())
    }
}

fn ms_of_day(ms: i64) -> std::result::Result<i32, String> {
    if (0..MS_PER_DAY).contains(&ms) {
        Ok(ms as i32)
    } else {
        Err("is not a time of day".into())
    }
}

/// The value at `row` of a column (after [`normalize`]), or why it cannot be written: the
/// caller fails that row alone, before it is sent. The column is read by the one cell reader.
pub fn cell(array: &ArrayRef, row: usize) -> std::result::Result<Cell, String> {
    use crate::schema::cells::{value, ArrowValue as V};
    Ok(match value(array.as_ref(), row) {
        V::Null => Cell::Null,
        V::Str(s) => Cell::Text(s.to_string()),
        V::Bool(b) => Cell::Bool(b),
        V::Int(i) => Cell::Int(i),
        V::BigUnsigned(v) => return Err(format!("{v} does not fit Salesforce's long")),
        V::Float(f) if !f.is_finite() => {
            return Err(format!("{f} is not a number Salesforce can store"))
        }
        V::Float(f) => Cell::Float(f),
        V::Decimal(v, s) => Cell::Number(
            decimal_text(v, s).ok_or_else(|| format!("the decimal {v}e{} is too large", -s))?,
        ),
        V::Date { days, .. } => Cell::Text(formats::format_date(day_in_range(days)? as i32)),
        V::Millis(ms) => {
            if day_in_range(ms.div_euclid(MS_PER_DAY)).is_err() {
                return Err(format!("the timestamp {ms} ms since 1970 is outside the datetimes Salesforce keeps (1700 to 4000)"));
            }
            // Arrow timestamps count from the epoch in UTC whatever their zone: write UTC.
            Cell::Text(formats::format_datetime(ms, Zone::Bulk))
        }
        V::OutOfRange(v, unit) => {
            return Err(format!("the timestamp {v} ({unit:?}s since 1970) is outside the datetimes Salesforce keeps (1700 to 4000)"))
        }
        V::TimeMs(ms) => Cell::Text(formats::format_time(
            ms_of_day(ms).map_err(|why| format!("{ms} ms {why}"))?,
        )),
        // `plan` lets no other type through, and `normalize` decodes dictionaries.
        V::Bytes(_) | V::Struct(..) | V::Unsupported => {
            return Err(format!("values of Arrow type {} cannot be written", array.data_type()))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dictionary (categorical) columns are decoded once per batch by `normalize`; `cell` never
    /// looks into one (a lookup per row would decode the whole column each time: a write of n
    /// categorical rows took time in n squared).
    #[test]
    fn dictionaries_are_decoded_once_per_batch_never_per_cell() {
        use arrow_array::{DictionaryArray, StringArray};
        use arrow_schema::{Field, Schema};
        use std::sync::Arc;
        let keys = arrow_array::Int32Array::from(vec![0, 1, 0, 2]);
        let values = Arc::new(StringArray::from(vec!["Energy", "Media", "Retail"]));
        let dict: ArrayRef = Arc::new(DictionaryArray::try_new(keys, values).unwrap());
        assert!(
            cell(&dict, 0).is_err(),
            "cell must not decode a dictionary per row"
        );
        let schema = Arc::new(Schema::new(vec![Field::new(
            "Industry",
            dict.data_type().clone(),
            false,
        )]));
        let batch = RecordBatch::try_new(schema, vec![dict]).unwrap();
        let plain = normalize(&batch).unwrap();
        assert_eq!(plain[0].data_type(), &DataType::Utf8);
        let cells: Vec<_> = (0..4).map(|r| cell(&plain[0], r).unwrap()).collect();
        assert_eq!(cells[3], Cell::Text("Retail".into()));
        assert_eq!(cells[2], Cell::Text("Energy".into()));
    }

    #[test]
    fn decimals_as_text() {
        assert_eq!(decimal_text(1250, 2).as_deref(), Some("12.50"));
        assert_eq!(decimal_text(-5, 2).as_deref(), Some("-0.05"));
        assert_eq!(decimal_text(7, 0).as_deref(), Some("7"));
        assert_eq!(decimal_text(7, -2).as_deref(), Some("700"));
        assert_eq!(decimal_text(i128::MAX, -5), None);
    }

    #[test]
    fn out_of_range_values_fail_their_row() {
        use arrow_array::{
            Date32Array, Float64Array, Time64MicrosecondArray, TimestampSecondArray,
        };
        use std::sync::Arc;
        let ts: ArrayRef = Arc::new(TimestampSecondArray::from(vec![1 << 62, 0, -9_000_000_000]));
        assert!(cell(&ts, 0).unwrap_err().contains("outside"));
        assert_eq!(
            cell(&ts, 1),
            Ok(Cell::Text("1970-01-01T00:00:00.000Z".into()))
        );
        assert!(
            cell(&ts, 2).is_err(),
            "1684 is before Salesforce's first date"
        );
        let d: ArrayRef = Arc::new(Date32Array::from(vec![i32::MAX, 0]));
        assert!(cell(&d, 0).is_err());
        assert_eq!(cell(&d, 1), Ok(Cell::Text("1970-01-01".into())));
        let f: ArrayRef = Arc::new(Float64Array::from(vec![f64::NAN, f64::INFINITY, 1.5]));
        assert!(cell(&f, 0).is_err() && cell(&f, 1).is_err());
        assert_eq!(cell(&f, 2), Ok(Cell::Float(1.5)));
        let t: ArrayRef = Arc::new(Time64MicrosecondArray::from(vec![86_400_000_001]));
        assert!(cell(&t, 0).is_err());
    }

    #[test]
    fn decimals_are_json_numbers_digit_for_digit() {
        let c = Cell::Number("1234567890123456789.01".into());
        let mut out = String::new();
        c.write_json(&mut out);
        assert_eq!(out, "1234567890123456789.01");
        assert_eq!(c.csv(), "1234567890123456789.01");
    }

    #[test]
    fn csv_nulls_are_na() {
        assert_eq!(Cell::Null.csv(), "#N/A");
        assert_eq!(Cell::Text(String::new()).csv(), "#N/A");
        assert_eq!(Cell::Bool(true).csv(), "true");
    }
}
