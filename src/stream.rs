//! Streamed reads: `BatchStream` hands Python one `pyarrow.RecordBatch` at a time. Each wait
//! releases the GIL and looks for Ctrl-C every 100 ms, and a failure midway raises the same
//! typed exception as a whole read does (`ApiLimitError`, `AuthenticationError`, ...), because
//! it is raised here rather than carried across the Arrow C stream as text.

use crate::runtime::blocking;
use pyo3::prelude::*;
use sfarrow_client::read::ReadStream;

#[pyclass(module = "sfarrow._sfarrow", name = "BatchStream")]
pub struct BatchStream {
    schema: arrow_schema::SchemaRef,
    /// Taken out while a batch is awaited; `None` once the read ended or was closed.
    stream: Option<ReadStream>,
}

impl BatchStream {
    pub fn new(stream: ReadStream) -> Self {
        BatchStream {
            schema: stream.schema.clone(),
            stream: Some(stream),
        }
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

    fn __next__<'py>(slf: Bound<'py, Self>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let py = slf.py();
        let Some(mut stream) = slf.borrow_mut().stream.take() else {
            return Ok(None);
        };
        let next = blocking(py, async {
            match stream.batches.recv().await {
                Some(Ok(b)) => Ok(Some(b)),
                Some(Err(e)) => Err(e),
                None => Ok(None),
            }
        });
        match next {
            Ok(Some(batch)) => {
                slf.borrow_mut().stream = Some(stream);
                Ok(Some(
                    pyo3_arrow::PyRecordBatch::new(batch).into_pyarrow(py)?,
                ))
            }
            // The read is over, failed or was interrupted (Ctrl-C): the stream is dropped here,
            // which stops its task (and aborts and deletes an unfinished Bulk job).
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stops the read now (an unfinished Bulk job is aborted and deleted).
    fn close(&mut self) {
        self.stream = None;
    }
}
