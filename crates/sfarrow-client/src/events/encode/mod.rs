//! Arrow rows into event payloads, for publishing platform events: each column goes to the
//! Avro field of the same name (case-insensitively), fields no column gives are filled the way
//! Salesforce fills them (CreatedDate now, CreatedById the publishing user) or left null, and a
//! row whose value does not fit its field fails alone.

use super::avro::{self, Schema};
use super::decode::EventSchema;
use crate::schema::cells::{value, ArrowValue};
use crate::{Error, Result};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};

/// One Arrow value, in the terms the Avro writers need (the one cell reader's).
type V<'a> = ArrowValue<'a>;

enum Source<'a> {
    Column(&'a dyn Array),
    Now,
    CreatedBy,
    Null,
}

fn supported(dt: &DataType) -> bool {
    use DataType::*;
    match dt {
        Utf8 | LargeUtf8 | Utf8View | Binary | LargeBinary | Boolean | Int8 | Int16 | Int32
        | Int64 | UInt8 | UInt16 | UInt32 | Float32 | Float64 | Decimal128(..) | Date32
        | Date64 | Timestamp(..) | Null => true,
        Time32(u) => matches!(u, TimeUnit::Second | TimeUnit::Millisecond),
        Time64(u) => matches!(u, TimeUnit::Microsecond | TimeUnit::Nanosecond),
        Struct(fields) => fields.iter().all(|f| supported(f.data_type())),
        _ => false,
    }
}

/// One Avro payload per row of `batch`, or that row's error.
pub fn encode_batch(
    schema: &EventSchema,
    batch: &RecordBatch,
    created_by: &str,
    now_ms: i64,
) -> Result<Vec<std::result::Result<Vec<u8>, String>>> {
    let record = schema.record();
    let mut sources: Vec<Source> = record
        .fields
        .iter()
        .map(|f| match f.name.to_ascii_lowercase().as_str() {
            "createddate" => Source::Now,
            "createdbyid" => Source::CreatedBy,
            _ => Source::Null,
        })
        .collect();
    let mut taken: Vec<Option<&str>> = vec![None; record.fields.len()];
    let input = batch.schema();
    for (i, column) in input.fields().iter().enumerate() {
        let name = column.name().as_str();
        if name.eq_ignore_ascii_case("replay_id") || name.eq_ignore_ascii_case("event_id") {
            continue;
        }
        let Some(j) = record
            .fields
            .iter()
            .position(|f| f.name.eq_ignore_ascii_case(name))
        else {
            let known: Vec<&str> = record.fields.iter().map(|f| f.name.as_str()).collect();
            return Err(Error::config(format!(
                "column {name:?} is not a field of {}; its fields are {}",
                record.name,
                known.join(", ")
            )));
        };
        if let Some(other) = taken[j] {
            return Err(Error::config(format!(
                "columns {other:?} and {name:?} both name the field {} of {}",
                record.fields[j].name, record.name
            )));
        }
        if !supported(column.data_type()) {
            return Err(Error::config(format!(
                "column {name:?} is {}, which cannot be published (use text, numbers, booleans, dates, times or timestamps)",
                column.data_type()
            )));
        }
        taken[j] = Some(name);
        sources[j] = Source::Column(batch.column(i).as_ref());
    }
    let mut rows = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let mut out = Vec::with_capacity(64);
        let mut encoded = Ok(());
        for (f, src) in record.fields.iter().zip(&sources) {
            let v = match src {
                Source::Column(a) => value(*a, row),
                Source::Now => V::Millis(now_ms),
                Source::CreatedBy => V::Str(created_by),
                Source::Null => V::Null,
            };
            if let Err(e) = write(&mut out, &f.schema, v) {
                encoded = Err(format!("field {}: {e}", f.name));
                break;
            }
        }
        rows.push(encoded.map(|_| out));
    }
    Ok(rows)
}

/// A decimal that is a whole number, as an integer.
fn whole(v: i128, scale: i8) -> Option<i64> {
    let p = 10i128.checked_pow(u32::from(scale.unsigned_abs()))?;
    let n = if scale >= 0 {
        (v % p == 0).then(|| v / p)?
    } else {
        v.checked_mul(p)?
    };
    i64::try_from(n).ok()
}

fn integer(v: V) -> std::result::Result<Option<i64>, String> {
    Ok(match v {
        V::Int(i) | V::Millis(i) | V::TimeMs(i) => Some(i),
        V::Decimal(d, s) => Some(
            whole(d, s)
                .ok_or_else(|| format!("{} is not a whole number that fits", decimal_text(d, s)))?,
        ),
        _ => None,
    })
}

fn decimal_text(v: i128, scale: i8) -> String {
    format!("{v}e{}", -i32::from(scale))
}

fn write(out: &mut Vec<u8>, schema: &Schema, v: V) -> std::result::Result<(), String> {
    let cannot = || {
        format!(
            "{} cannot be written as Avro {}",
            v.kind(),
            schema.type_name()
        )
    };
    match (schema, v) {
        (Schema::Union(branches), V::Null) => {
            let i = branches
                .iter()
                .position(|b| *b == Schema::Null)
                .ok_or("null, but the field cannot be null")?;
            avro::write_long(out, i as i64);
        }
        (Schema::Union(branches), v) => {
            let mut first = None;
            for (i, b) in branches
                .iter()
                .enumerate()
                .filter(|(_, b)| **b != Schema::Null)
            {
                let mark = out.len();
                avro::write_long(out, i as i64);
                match write(out, b, v) {
                    Ok(()) => return Ok(()),
                    Err(e) => {
                        out.truncate(mark);
                        first.get_or_insert(e);
                    }
                }
            }
            return Err(first.unwrap_or_else(cannot));
        }
        (Schema::Null, V::Null) => {}
        (_, V::Null) => return Err("null, but the field cannot be null".into()),
        (Schema::Boolean, V::Bool(b)) => avro::write_bool(out, b),
        (Schema::Int, V::Date { days, .. }) => avro::write_int(
            out,
            i32::try_from(days).map_err(|_| format!("day {days} does not fit an Avro int"))?,
        ),
        (Schema::Long, V::Date { ms, .. }) => avro::write_long(out, ms),
        (Schema::Int | Schema::Long, v) => {
            let n = integer(v)?.ok_or_else(cannot)?;
            if *schema == Schema::Int {
                avro::write_int(
                    out,
                    i32::try_from(n).map_err(|_| format!("{n} does not fit an Avro int"))?,
                );
            } else {
                avro::write_long(out, n);
            }
        }
        (Schema::Float | Schema::Double, v) => {
            let f = match v {
                V::Float(f) => f,
                V::Int(i) => i as f64,
                V::Decimal(d, s) => decimal_text(d, s).parse().map_err(|_| cannot())?,
                _ => return Err(cannot()),
            };
            if *schema == Schema::Float {
                avro::write_float(out, f as f32);
            } else {
                avro::write_double(out, f);
            }
        }
        (Schema::String, V::Str(s)) => avro::write_str(out, s),
        (Schema::Bytes, V::Bytes(b)) => avro::write_bytes(out, b),
        (Schema::Bytes, V::Str(s)) => avro::write_str(out, s),
        (Schema::Fixed(f), V::Bytes(b)) if b.len() == f.size => out.extend_from_slice(b),
        (Schema::Enum(e), V::Str(s)) => {
            let i = e
                .symbols
                .iter()
                .position(|x| x == s)
                .ok_or_else(|| format!("{s:?} is not one of {}", e.symbols.join(", ")))?;
            avro::write_int(out, i as i32);
        }
        (Schema::Record(r), V::Struct(a, row)) => {
            for f in &r.fields {
                let child = a
                    .fields()
                    .iter()
                    .position(|c| c.name().eq_ignore_ascii_case(&f.name))
                    .map_or(V::Null, |i| value(a.column(i).as_ref(), row));
                write(out, &f.schema, child).map_err(|e| format!("{}: {e}", f.name))?;
            }
        }
        _ => return Err(cannot()),
    }
    Ok(())
}

#[cfg(test)]
mod tests;
