//! Input columns to Salesforce fields, checked against describe before anything is sent, and
//! Arrow values to what REST (JSON) and Bulk (CSV text, `#N/A` for null) accept.

use crate::client::{Error, Result};
use crate::formats::{self, Zone};
use crate::read::describe::ObjectInfo;
use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType, Schema, TimeUnit};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Insert,
    Update,
    Upsert,
    Delete,
    HardDelete,
}

impl Op {
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

/// One value as Salesforce takes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Text, and numbers or dates already in Salesforce's text form.
    Text(String),
}

impl Cell {
    pub fn json(&self) -> serde_json::Value {
        match self {
            Cell::Null => serde_json::Value::Null,
            Cell::Bool(b) => serde_json::Value::Bool(*b),
            Cell::Int(i) => serde_json::Value::from(*i),
            Cell::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Cell::Text(s) => serde_json::Value::String(s.clone()),
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
            Cell::Text(s) => s.clone(),
        }
    }
}

fn decimal_text(v: i128, scale: i8) -> String {
    if scale <= 0 {
        return (v * 10i128.pow((-scale) as u32)).to_string();
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
    format!("{}{int}.{frac}", if neg { "-" } else { "" })
}

fn ms_from(unit: &TimeUnit, v: i64) -> i64 {
    match unit {
        TimeUnit::Second => v * 1000,
        TimeUnit::Millisecond => v,
        TimeUnit::Microsecond => v.div_euclid(1000),
        TimeUnit::Nanosecond => v.div_euclid(1_000_000),
    }
}

/// The value at `row` of an Arrow column.
pub fn cell(array: &ArrayRef, row: usize) -> Result<Cell> {
    // A column of pyarrow's `null` type has no validity buffer: every value is null.
    if array.is_null(row) || array.data_type() == &DataType::Null {
        return Ok(Cell::Null);
    }
    Ok(match array.data_type() {
        DataType::Utf8 => Cell::Text(array.as_string::<i32>().value(row).to_string()),
        DataType::LargeUtf8 => Cell::Text(array.as_string::<i64>().value(row).to_string()),
        DataType::Utf8View => Cell::Text(array.as_string_view().value(row).to_string()),
        DataType::Boolean => Cell::Bool(array.as_boolean().value(row)),
        DataType::Int8 => Cell::Int(array.as_primitive::<Int8Type>().value(row) as i64),
        DataType::Int16 => Cell::Int(array.as_primitive::<Int16Type>().value(row) as i64),
        DataType::Int32 => Cell::Int(array.as_primitive::<Int32Type>().value(row) as i64),
        DataType::Int64 => Cell::Int(array.as_primitive::<Int64Type>().value(row)),
        DataType::UInt8 => Cell::Int(array.as_primitive::<UInt8Type>().value(row) as i64),
        DataType::UInt16 => Cell::Int(array.as_primitive::<UInt16Type>().value(row) as i64),
        DataType::UInt32 => Cell::Int(array.as_primitive::<UInt32Type>().value(row) as i64),
        DataType::UInt64 => Cell::Int(i64::try_from(array.as_primitive::<UInt64Type>().value(row)).map_err(|_| Error::config("a UInt64 value does not fit Salesforce's long"))?),
        DataType::Float32 | DataType::Float64 => {
            let f = if matches!(array.data_type(), DataType::Float32) {
                array.as_primitive::<Float32Type>().value(row) as f64
            } else {
                array.as_primitive::<Float64Type>().value(row)
            };
            if !f.is_finite() {
                return Err(Error::config(format!("{f} is not a number Salesforce can store (row {row})")));
            }
            Cell::Float(f)
        }
        DataType::Decimal128(_, s) => Cell::Text(decimal_text(array.as_primitive::<Decimal128Type>().value(row), *s)),
        DataType::Date32 => Cell::Text(formats::format_date(array.as_primitive::<Date32Type>().value(row))),
        DataType::Date64 => Cell::Text(formats::format_date(array.as_primitive::<Date64Type>().value(row).div_euclid(86_400_000) as i32)),
        DataType::Timestamp(unit, _) => {
            let v = match unit {
                TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(row),
                TimeUnit::Millisecond => array.as_primitive::<TimestampMillisecondType>().value(row),
                TimeUnit::Microsecond => array.as_primitive::<TimestampMicrosecondType>().value(row),
                TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().value(row),
            };
            // Arrow timestamps count from the epoch in UTC whatever their zone: write UTC.
            Cell::Text(formats::format_datetime(ms_from(unit, v), Zone::Bulk))
        }
        DataType::Time32(unit) => {
            let v = match unit {
                TimeUnit::Second => array.as_primitive::<Time32SecondType>().value(row) as i64 * 1000,
                _ => array.as_primitive::<Time32MillisecondType>().value(row) as i64,
            };
            Cell::Text(formats::format_time(v as i32))
        }
        DataType::Time64(unit) => {
            let v = match unit {
                TimeUnit::Microsecond => array.as_primitive::<Time64MicrosecondType>().value(row) / 1000,
                _ => array.as_primitive::<Time64NanosecondType>().value(row) / 1_000_000,
            };
            Cell::Text(formats::format_time(v as i32))
        }
        DataType::Dictionary(_, _) => {
            let casted = arrow_cast::cast(array.as_ref(), &DataType::Utf8).map_err(|e| Error::config(format!("cannot read a dictionary column: {e}")))?;
            Cell::Text(casted.as_string::<i32>().value(row).to_string())
        }
        other => return Err(Error::config(format!("columns of Arrow type {other} cannot be written to Salesforce; cast them to text, numbers, booleans, dates or timestamps"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_as_text() {
        assert_eq!(decimal_text(1250, 2), "12.50");
        assert_eq!(decimal_text(-5, 2), "-0.05");
        assert_eq!(decimal_text(7, 0), "7");
        assert_eq!(decimal_text(7, -2), "700");
    }

    #[test]
    fn csv_nulls_are_na() {
        assert_eq!(Cell::Null.csv(), "#N/A");
        assert_eq!(Cell::Text(String::new()).csv(), "#N/A");
        assert_eq!(Cell::Bool(true).csv(), "true");
    }
}
