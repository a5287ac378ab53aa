//! One page of results to one RecordBatch: a Bulk CSV page here, a REST JSON page in
//! `rest_json`, both through the same column builders, so the two APIs give equal tables.

use super::column::{BadValue, Builder};
use super::plan::{Column, ReadPlan};
use crate::client::{Error, Result};
use arrow_array::{RecordBatch, RecordBatchOptions};

fn bad(column: &str, e: BadValue) -> Error {
    Error::protocol(format!("column {column}: {:?} is not a valid {}", e.0, e.1))
}

pub(crate) fn batch(plan: &ReadPlan, builders: &mut [Builder], rows: usize) -> Result<RecordBatch> {
    let arrays = builders.iter_mut().map(Builder::finish).collect();
    RecordBatch::try_new_with_options(
        plan.schema.clone(),
        arrays,
        &RecordBatchOptions::new().with_row_count(Some(rows)),
    )
    .map_err(|e| Error::protocol(format!("could not assemble the batch: {e}")))
}

/// `SELECT COUNT()`: one row holding the total.
pub fn count_batch(plan: &ReadPlan, total: i64) -> Result<RecordBatch> {
    let mut b = vec![Builder::new(&arrow_schema::DataType::Int64, 1)];
    b[0].append_text(&total.to_string())
        .map_err(|e| bad("count", e))?;
    batch(plan, &mut b, 1)
}

/// A Bulk CSV page (header row included). Columns are found by header name, so the order the
/// server chose (alphabetical before v50.0) does not matter.
pub fn bulk_page(plan: &ReadPlan, csv_bytes: &[u8], delimiter: u8) -> Result<RecordBatch> {
    // Salesforce text may hold NUL bytes; they are not valid in Arrow-consuming tools either.
    let cleaned;
    let data = if csv_bytes.contains(&0) {
        cleaned = csv_bytes
            .iter()
            .copied()
            .filter(|b| *b != 0)
            .collect::<Vec<u8>>();
        &cleaned[..]
    } else {
        csv_bytes
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .from_reader(data);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| Error::protocol(format!("bad CSV header: {e}")))?
        .iter()
        .map(str::to_ascii_lowercase)
        .collect();
    let find = |name: &str| -> Result<usize> {
        let lower = name.to_ascii_lowercase();
        header
            .iter()
            .position(|h| *h == lower)
            .ok_or_else(|| Error::protocol(format!("the Bulk result has no column {name}")))
    };
    enum Source {
        One(usize),
        Parts(Vec<usize>),
    }
    let mut sources = Vec::with_capacity(plan.columns.len());
    for c in &plan.columns {
        sources.push(match c {
            Column::Scalar { key } => Source::One(find(key)?),
            Column::Compound { parts, .. } => {
                Source::Parts(parts.iter().map(|(_, p)| find(p)).collect::<Result<_>>()?)
            }
            Column::Children { key } => {
                return Err(Error::config(format!(
                    "Bulk API 2.0 cannot read the child relationship {key}"
                )))
            }
        });
    }
    let mut builders: Vec<Builder> = plan
        .schema
        .fields()
        .iter()
        .map(|f| Builder::new(f.data_type(), 1024))
        .collect();
    let mut rec = csv::StringRecord::new();
    let mut rows = 0;
    while reader.read_record(&mut rec).map_err(|e| {
        Error::transport(format!(
            "the Bulk result page is malformed or cut short: {e}"
        ))
    })? {
        for ((src, b), col) in sources.iter().zip(&mut builders).zip(&plan.columns) {
            match (src, b) {
                (Source::One(i), b) => b
                    .append_text(rec.get(*i).unwrap_or(""))
                    .map_err(|e| bad(col_name(col), e))?,
                (Source::Parts(idx), Builder::Struct(s)) => {
                    if idx.iter().all(|i| rec.get(*i).unwrap_or("").is_empty()) {
                        s.append_null();
                    } else {
                        for (i, child) in idx.iter().zip(&mut s.children) {
                            child
                                .append_text(rec.get(*i).unwrap_or(""))
                                .map_err(|e| bad(col_name(col), e))?;
                        }
                        s.append_valid();
                    }
                }
                (Source::Parts(_), _) => {
                    return Err(Error::protocol("compound column without a struct builder"))
                }
            }
        }
        rows += 1;
    }
    batch(plan, &mut builders, rows)
}

fn col_name(c: &Column) -> &str {
    match c {
        Column::Scalar { key } | Column::Compound { key, .. } | Column::Children { key } => key,
    }
}
