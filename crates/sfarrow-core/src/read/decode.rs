//! One page of results to one RecordBatch: a Bulk CSV page here, a REST JSON page in
//! `rest_json`, both through the same column builders, so the two APIs give equal tables.

use super::column::{BadValue, Builder};
use super::csv_cells::Cells;
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
/// server chose (alphabetical before v50.0) does not matter. Built a column at a time, each
/// builder sized once from the page.
pub fn bulk_page(plan: &ReadPlan, csv_bytes: &[u8], delimiter: u8) -> Result<RecordBatch> {
    // Salesforce text may hold NUL bytes; they are not valid in Arrow-consuming tools either.
    let cleaned;
    let data = if memchr::memchr(0, csv_bytes).is_some() {
        cleaned = csv_bytes
            .iter()
            .copied()
            .filter(|b| *b != 0)
            .collect::<Vec<u8>>();
        &cleaned[..]
    } else {
        csv_bytes
    };
    let cells = Cells::parse(data, delimiter)?;
    let header: Vec<String> = cells.header().map(str::to_ascii_lowercase).collect();
    let find = |name: &str| -> Result<usize> {
        let lower = name.to_ascii_lowercase();
        header
            .iter()
            .position(|h| *h == lower)
            .ok_or_else(|| Error::protocol(format!("the Bulk result has no column {name}")))
    };
    let rows = cells.rows();
    let mut builders = Vec::with_capacity(plan.columns.len());
    for (c, field) in plan.columns.iter().zip(plan.schema.fields()) {
        let builder = match c {
            Column::Scalar { key } => {
                let i = find(key)?;
                let mut b =
                    Builder::with_text_bytes(field.data_type(), rows, cells.column_bytes(i));
                for text in cells.column(i) {
                    b.append_text(text).map_err(|e| bad(key, e))?;
                }
                b
            }
            Column::Compound { key, parts } => {
                let idx = parts
                    .iter()
                    .map(|(_, p)| find(p))
                    .collect::<Result<Vec<_>>>()?;
                compound(field.data_type(), &cells, &idx, rows).map_err(|e| bad(key, e))?
            }
            Column::Children { key } => {
                return Err(Error::config(format!(
                    "Bulk API 2.0 cannot read the child relationship {key}"
                )))
            }
        };
        builders.push(builder);
    }
    batch(plan, &mut builders, rows)
}

/// A struct column rebuilt from its component columns: null when every component is.
fn compound(
    dt: &arrow_schema::DataType,
    cells: &Cells,
    idx: &[usize],
    rows: usize,
) -> std::result::Result<Builder, BadValue> {
    let mut builder = Builder::new(dt, rows);
    let Builder::Struct(s) = &mut builder else {
        return Err(BadValue(String::new(), dt.clone()));
    };
    let mut parts: Vec<_> = idx.iter().map(|i| cells.column(*i)).collect();
    let mut row: Vec<&str> = Vec::with_capacity(idx.len());
    for _ in 0..rows {
        row.clear();
        row.extend(parts.iter_mut().map(|p| p.next().unwrap_or("")));
        if row.iter().all(|t| t.is_empty()) {
            s.append_null();
        } else {
            for (text, child) in row.iter().zip(&mut s.children) {
                child.append_text(text)?;
            }
            s.append_valid();
        }
    }
    Ok(builder)
}
