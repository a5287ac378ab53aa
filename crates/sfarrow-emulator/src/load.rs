//! Loading rows from Arrow data into an object: each cell goes through the same conversion and
//! DML rules as a Bulk CSV cell, so loaded data is exactly what a real upload would store.

use crate::records::{apply_target, resolve_column};
use crate::store::Store;
use crate::value::Raw;
use arrow_array::RecordBatch;
use arrow_cast::display::{ArrayFormatter, FormatOptions};

/// Inserts every row of the batches; returns the new ids in order. Stops at the first bad row.
pub fn load(
    store: &mut Store,
    object: &str,
    batches: &[RecordBatch],
) -> Result<Vec<String>, String> {
    let table = store
        .table_index(object)
        .ok_or_else(|| format!("the org has no object named {object:?}"))?;
    let mut ids = Vec::new();
    let options = FormatOptions::default().with_null("");
    for batch in batches {
        let schema = batch.schema();
        let mut targets = Vec::with_capacity(batch.num_columns());
        for f in schema.fields() {
            let t = resolve_column(store, table, f.name())
                .map_err(|e| format!("column {:?}: {}", f.name(), e.message))?;
            targets.push(t);
        }
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("cannot read the data: {e}"))?;
        let mut cell = String::new();
        for row in 0..batch.num_rows() {
            let mut values = Vec::with_capacity(targets.len());
            for (col, (target, fmt)) in targets.iter().zip(&formatters).enumerate() {
                if batch.column(col).is_null(row) {
                    continue;
                }
                cell.clear();
                use std::fmt::Write;
                let _ = write!(cell, "{}", fmt.value(row));
                let v = apply_target(store, table, *target, Raw::Csv(&cell))
                    .map_err(|e| format!("row {}: {}: {}", ids.len(), e.code, e.message))?;
                values.extend(v);
            }
            let (id, _) = store
                .insert(table, values)
                .map_err(|e| format!("row {}: {}: {}", ids.len(), e.code, e.message))?;
            ids.push(id);
        }
    }
    Ok(ids)
}
