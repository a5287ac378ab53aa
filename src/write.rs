//! Writes from Python: the input is pulled a batch at a time, and every way a write can end
//! hands back the result table, one row per input row. A write that stops early raises (the
//! typed error, `WriteError` when the input itself failed, or `KeyboardInterrupt`) with that
//! table on the exception's `result`.

use crate::errors::to_py;
use crate::runtime::blocking_raw;
use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;
use sfarrow_client::client::{Client, Error};
use sfarrow_client::read::DescribeCache;
use sfarrow_client::write::{self, Finished, Op, WriteOptions, Writer};
use std::sync::Arc;
use tokio::sync::Mutex;

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

/// The one write, behind both faces. The writer sits in `slot` so that a caller that stops
/// waiting (Ctrl-C) can still ask it what happened to every row.
async fn drive(
    client: Arc<Client>,
    cache: Arc<DescribeCache>,
    args: WriteArgs,
    mut reader: Box<dyn arrow_array::RecordBatchReader + Send>,
    slot: Arc<Mutex<Option<Writer>>>,
) -> PyResult<pyo3_arrow::PyTable> {
    let (op, opts) = options(&args)?;
    let input_schema = reader.schema();
    let plan = plan(&client, &cache, &args, op, &input_schema)
        .await
        .map_err(to_py)?;
    let mut guard = slot.lock().await;
    let writer = guard.insert(Writer::new(client, plan, opts));
    loop {
        // Pulled on the blocking pool: a Python-backed input takes the GIL there, and neither
        // the event loop nor a tokio worker waits on Python.
        let pulled = tokio::task::spawn_blocking(move || {
            let next = crate::gate::attach(|_| reader.next()).unwrap_or_else(|| {
                Some(Err(arrow_schema::ArrowError::ExternalError(
                    "the interpreter is exiting".into(),
                )))
            });
            (reader, next)
        })
        .await
        .map_err(|e| to_py(Error::protocol(format!("reading the input failed: {e}"))))?;
        reader = pulled.0;
        match pulled.1 {
            None => break,
            Some(Ok(batch)) => {
                // An error here stops the write: `finish` sends nothing more and reports it.
                if writer.push(batch).await.is_err() {
                    break;
                }
            }
            Some(Err(e)) => {
                let rows = writer.rows();
                let why = format!("reading the input failed after {rows} rows ({e})");
                let finished = writer.stop(&why).await;
                return crate::gate::attach(|py| {
                    let n = finished.result.num_rows();
                    Err(input_failed(
                        py,
                        format!("{why}; the result table on .result says which of those {n} rows were written"),
                        table(finished.result)?,
                    ))
                })
                .unwrap_or_else(|| Err(exiting()));
            }
        }
    }
    let finished = writer.finish().await;
    crate::gate::attach(|py| ended(py, finished)).unwrap_or_else(|| Err(exiting()))
}

fn exiting() -> PyErr {
    pyo3::exceptions::PyRuntimeError::new_err("the interpreter exited before the write ended")
}

/// Writes `data`, now or as an awaitable. Batches are pulled one at a time, so a large input
/// is never all in memory, whichever face is used.
pub fn write<'py>(
    py: Python<'py>,
    client: Arc<Client>,
    cache: Arc<DescribeCache>,
    args: WriteArgs,
    data: pyo3_arrow::input::AnyRecordBatch,
    asynchronous: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let reader = data.into_reader()?;
    let slot = Arc::new(Mutex::new(None));
    let call = drive(client, cache, args, reader, slot.clone());
    if asynchronous {
        return crate::runtime::awaitable(py, call);
    }
    match blocking_raw(py, call) {
        Ok(done) => done?.into_bound_py_any(py),
        Err(interrupt) => {
            // The write's future is gone, and with it the lock: the writer says what it did.
            let interrupted = slot.try_lock().ok().and_then(|mut w| w.take());
            match interrupted {
                Some(mut writer) => Err(with_result(py, interrupt, table(writer.interrupt())?)),
                None => Err(interrupt),
            }
        }
    }
}
