//! Streamed reads: `BatchStream` hands Python one `pyarrow.RecordBatch` at a time, as an
//! iterator (each wait releases the GIL and looks for Ctrl-C every 100 ms) or as an async
//! iterator. A failure midway raises the same typed exception as a whole read does
//! (`ApiLimitError`, `AuthenticationError`, ...): it is raised here, not carried across the
//! Arrow C stream as text.

use crate::errors::to_py;
use crate::runtime::blocking_raw;
use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;
use sfarrow_client::read::ReadStream;
use std::sync::Arc;
use tokio::sync::Mutex;

#[pyclass(module = "sfarrow._sfarrow", name = "BatchStream", frozen)]
pub struct BatchStream {
    schema: arrow_schema::SchemaRef,
    /// `None` once the read ended, failed or was closed: dropping the read stops its task (and
    /// aborts and deletes an unfinished Bulk job).
    stream: Arc<Mutex<Option<ReadStream>>>,
}

impl BatchStream {
    pub fn new(stream: ReadStream) -> Self {
        BatchStream {
            schema: stream.schema.clone(),
            stream: Arc::new(Mutex::new(Some(stream))),
        }
    }
}

/// The next batch, or `None` at the end; any error ends the read.
async fn next(
    stream: Arc<Mutex<Option<ReadStream>>>,
) -> PyResult<Option<arrow_array::RecordBatch>> {
    let mut slot = stream.lock().await;
    let Some(read) = slot.as_mut() else {
        return Ok(None);
    };
    match read.batches.recv().await {
        Some(Ok(batch)) => Ok(Some(batch)),
        Some(Err(e)) => {
            *slot = None;
            Err(to_py(e))
        }
        None => {
            *slot = None;
            Ok(None)
        }
    }
}

/// A batch on its way to Python: becomes a `pyarrow.RecordBatch` (no copy) once the GIL is
/// held, whichever face (or stream: reads and events) hands it over.
pub(crate) struct Batch(pub(crate) arrow_array::RecordBatch);

impl<'py> IntoPyObject<'py> for Batch {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        pyo3_arrow::PyRecordBatch::new(self.0).into_pyarrow(py)
    }
}

#[pymethods]
impl BatchStream {
    /// The schema every batch has (a `pyarrow.Schema`).
    #[getter]
    fn schema<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        pyo3_arrow::PySchema::new(self.schema.clone()).into_pyarrow(py)
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        match blocking_raw(py, next(self.stream.clone())) {
            Ok(Ok(Some(batch))) => Ok(Some(Batch(batch).into_pyobject(py)?)),
            Ok(Ok(None)) => Ok(None),
            Ok(Err(e)) => Err(e),
            // Ctrl-C: the read is over, as a failed one is.
            Err(interrupt) => {
                self.close(py);
                Err(interrupt)
            }
        }
    }

    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// An awaitable of the next `pyarrow.RecordBatch`; `StopAsyncIteration` at the end.
    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let stream = self.stream.clone();
        crate::runtime::awaitable(py, async move {
            match next(stream).await? {
                Some(batch) => Ok(Batch(batch)),
                None => Err(PyStopAsyncIteration::new_err(())),
            }
        })
    }

    /// Stops the read now (an unfinished Bulk job is aborted and deleted).
    fn close(&self, py: Python<'_>) {
        let stream = self.stream.clone();
        py.detach(|| crate::runtime::runtime().block_on(async { *stream.lock().await = None }));
    }
}
