//! One page of results to one RecordBatch: a Bulk CSV page here, a REST JSON page in
//! `rest_json`, both through the same column builders, so the two APIs give equal tables.

use super::column::{BadValue, Builder, StructBuilder};
use super::csv_cells::{CellRoom, Cells};
use super::plan::{Column, ReadPlan};
use crate::client::recycle::Recycler;
use crate::client::{Error, Result};
use arrow_array::{RecordBatch, RecordBatchOptions};

pub(super) fn bad(column: &str, e: BadValue) -> Error {
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
/// server chose (alphabetical before v50.0) does not matter. Built a column at a time within
/// blocks of rows, each builder sized once from the page.
pub(crate) fn bulk_page(
    plan: &ReadPlan,
    csv_bytes: &[u8],
    delimiter: u8,
    cell_room: &Recycler<CellRoom>,
) -> Result<RecordBatch> {
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
    let cells = Cells::parse(data, delimiter, cell_room.take())?;
    let header: Vec<String> = cells.header().map(str::to_ascii_lowercase).collect();
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
    let rows = cells.rows();
    let mut sources = Vec::with_capacity(plan.columns.len());
    let mut builders = Vec::with_capacity(plan.columns.len());
    for (c, field) in plan.columns.iter().zip(plan.schema.fields()) {
        let (source, builder) = match c {
            Column::Scalar { key } => {
                let i = find(key)?;
                let bytes = cells.column_bytes(i);
                (
                    Source::One(i),
                    Builder::with_text_bytes(field.data_type(), rows, bytes),
                )
            }
            Column::Compound { parts, .. } => {
                let idx = parts.iter().map(|(_, p)| find(p)).collect::<Result<_>>()?;
                (Source::Parts(idx), Builder::new(field.data_type(), rows))
            }
            Column::Children { key } => {
                return Err(Error::config(format!(
                    "Bulk API 2.0 cannot read the child relationship {key}"
                )))
            }
        };
        sources.push(source);
        builders.push(builder);
    }
    // A block of rows (about half a MiB of page) stays in the cache while each of its columns
    // is built.
    const BLOCK: usize = 1024;
    for first in (0..rows).step_by(BLOCK) {
        let block = first..(first + BLOCK).min(rows);
        cells.warm(block.clone());
        for ((source, b), field) in sources.iter().zip(&mut builders).zip(plan.schema.fields()) {
            let name = field.name();
            match (source, b) {
                (Source::One(i), b) => {
                    for r in block.clone() {
                        b.append_text(cells.get(r, *i)).map_err(|e| bad(name, e))?;
                    }
                }
                (Source::Parts(idx), Builder::Struct(s)) => {
                    for r in block.clone() {
                        compound_row(s, idx.iter().map(|i| cells.get(r, *i)))
                            .map_err(|e| bad(name, e))?;
                    }
                }
                (Source::Parts(_), _) => {
                    return Err(Error::protocol("compound column without a struct builder"))
                }
            }
        }
    }
    cell_room.give(cells.into_room());
    batch(plan, &mut builders, rows)
}

/// One row of a struct column rebuilt from its components: null when every component is.
fn compound_row<'a>(
    s: &mut StructBuilder,
    parts: impl Iterator<Item = &'a str> + Clone,
) -> std::result::Result<(), BadValue> {
    if parts.clone().all(str::is_empty) {
        s.append_null();
        return Ok(());
    }
    for (text, child) in parts.zip(&mut s.children) {
        child.append_text(text)?;
    }
    s.append_valid();
    Ok(())
}
