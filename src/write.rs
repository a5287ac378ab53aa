//! Writes from Python: the input is pulled a batch at a time, and every way a write can end
//! hands back the result table, one row per input row. A write that stops early raises (the
//! typed error, `WriteError` when the input itself failed, or `KeyboardInterrupt`) with that
//! table on the exception's `result`.

use crate::errors::to_py;
use crate::runtime::{blocking, blocking_raw, runtime};
use pyo3::prelude::*;
use sfarrow_client::client::{Client, Error};
use sfarrow_client::read::DescribeCache;
use sfarrow_client::write::{self, Finished, Op, WriteOptions, Writer};
use std::sync::Arc;

pub struct WriteArgs {
    pub operation: String,
    pub object: String,
    pub external_id: Option<String>,
    pub api: String,
    pub all_or_none: bool,
    pub bulk_threshold: usize,
    pub parallel: usize,
}

impl WriteArgs {
    pub fn new(
        operation: &str,
        object: &str,
        external_id: Option<String>,
        api: &str,
        all_or_none: bool,
        bulk_threshold: usize,
        parallel: usize,
    ) -> WriteArgs {
        WriteArgs {
            operation: operation.into(),
            object: object.into(),
            external_id,
            api: api.into(),
            all_or_none,
            bulk_threshold,
            parallel,
        }
    }
}

fn options(a: &WriteArgs) -> PyResult<(Op, WriteOptions)> {
    WriteOptions::for_operation(
        &a.operation,
        &a.api,
        a.all_or_none,
        a.bulk_threshold,
        a.parallel,
    )
    .map_err(to_py)
}

async fn plan(
    client: &Client,
    cache: &DescribeCache,
    a: &WriteArgs,
    op: Op,
    schema: &arrow_schema::Schema,
) -> Result<write::WritePlan, Error> {
    let info = cache.get(client, &a.object).await?;
    write::plan(&info, op, schema, a.external_id.as_deref())
}

fn table(batch: arrow_array::RecordBatch) -> PyResult<pyo3_arrow::PyTable> {
    let schema = batch.schema();
    pyo3_arrow::PyTable::try_new(vec![batch], schema)
}

/// The table, or the error that stopped the write with the table on its `result`.
fn ended(py: Python<'_>, finished: Finished) -> PyResult<pyo3_arrow::PyTable> {
    let result = table(finished.result)?;
    match finished.error {
        None => Ok(result),
        Some(e) => Err(with_result(py, to_py(e), result)),
    }
}

fn with_result(py: Python<'_>, err: PyErr, result: pyo3_arrow::PyTable) -> PyErr {
    if let Ok(obj) = result.into_pyobject(py) {
        // An exception that takes no attributes keeps its own message.
        let _ = err.value(py).setattr("result", obj);
    }
    err
}

fn input_failed(py: Python<'_>, message: String, result: pyo3_arrow::PyTable) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let class = py.import("sfarrow.exceptions")?.getattr("WriteError")?;
        let kwargs = pyo3::types::PyDict::new(py);
        kwargs.set_item("result", result.into_pyobject(py)?)?;
        kwargs.set_item("error_code", "INPUT_FAILED")?;
        Ok(PyErr::from_value(class.call((message,), Some(&kwargs))?))
    };
    build().unwrap_or_else(|e| e)
}

/// Runs a future to its end with the GIL released and no Ctrl-C check: used to settle a write
/// that must report what it did.
fn settle<T: Send>(py: Python<'_>, f: impl std::future::Future<Output = T> + Send) -> T {
    py.detach(|| runtime().block_on(f))
}

pub fn write(
    py: Python<'_>,
    client: Arc<Client>,
    cache: Arc<DescribeCache>,
    args: WriteArgs,
    data: pyo3_arrow::input::AnyRecordBatch,
) -> PyResult<pyo3_arrow::PyTable> {
    let (op, opts) = options(&args)?;
    let reader = data.into_reader()?;
    let input_schema = reader.schema();
    let plan = blocking(py, plan(&client, &cache, &args, op, &input_schema))?;
    let mut writer = Writer::new(client, plan, opts);
    // Batches are pulled one at a time, so a large input is never all in memory.
    for batch in reader {
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                let rows = writer.rows();
                let why = format!("reading the input failed after {rows} rows ({e})");
                let finished = settle(py, writer.stop(&why));
                let sent = finished.result.num_rows();
                return Err(input_failed(
                    py,
                    format!("{why}; the result table on .result says which of those {sent} rows were written"),
                    table(finished.result)?,
                ));
            }
        };
        match blocking_raw(py, writer.push(batch)) {
            Ok(Ok(())) => {}
            // The write cannot go on: `finish` sends nothing more and reports the error.
            Ok(Err(_)) => break,
            Err(interrupt) => return Err(with_result(py, interrupt, table(writer.interrupt())?)),
        }
    }
    match blocking_raw(py, writer.finish()) {
        Ok(finished) => ended(py, finished),
        Err(interrupt) => Err(with_result(py, interrupt, table(writer.interrupt())?)),
    }
}

/// The awaitable twin. The input is read before the first await (a Python stream cannot be
/// pulled from the event loop's worker threads); a failure there sends nothing.
pub fn write_async<'py>(
    py: Python<'py>,
    client: Arc<Client>,
    cache: Arc<DescribeCache>,
    args: WriteArgs,
    data: pyo3_arrow::input::AnyRecordBatch,
) -> PyResult<Bound<'py, PyAny>> {
    let (op, opts) = options(&args)?;
    let reader = data.into_reader()?;
    let input_schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(|e| {
        to_py(Error::config(format!(
            "could not read the input data (nothing was sent): {e}"
        )))
    })?;
    pyo3_async_runtimes::tokio::future_into_py(py, async move {
        let plan = plan(&client, &cache, &args, op, &input_schema)
            .await
            .map_err(to_py)?;
        let mut writer = Writer::new(client, plan, opts);
        for b in batches {
            if writer.push(b).await.is_err() {
                break;
            }
        }
        let finished = writer.finish().await;
        Python::attach(|py| ended(py, finished))
    })
}
