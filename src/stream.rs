//! Streams of record batches handed to Python one `pyarrow.RecordBatch` at a time: as an
//! iterator (each wait releases the GIL and looks for Ctrl-C every 100 ms) or as an async
//! iterator. `Batches` is that machinery once, over anything with an `async next` (a read,
//! a subscription); `BatchStream` is the read's face. A failure midway raises the same typed
//! exception as a whole read does (`ApiLimitError`, `AuthenticationError`, ...): it is raised
//! here, not carried across the Arrow C stream as text.

use crate::errors::to_py;
use crate::runtime::blocking_raw;
use arrow_array::RecordBatch;
use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;
use sfarrow_client::client::Error;
use sfarrow_client::read::ReadStream;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::{watch, Mutex};

/// Something that yields record batches until it ends (`None`) or fails.
pub(crate) trait Source: Send + 'static {
    fn next_batch(&mut self) -> impl Future<Output = Option<Result<RecordBatch, Error>>> + Send;
}

impl Source for ReadStream {
    async fn next_batch(&mut self) -> Option<Result<RecordBatch, Error>> {
        self.batches.recv().await
    }
}

impl Source for sfarrow_client::events::EventStream {
    async fn next_batch(&mut self) -> Option<Result<RecordBatch, Error>> {
        self.next().await
    }
}

/// A source shared by the Python object's faces. `None` once it ended, failed or was closed:
/// dropping it stops the work behind it (a read's task and Bulk job, a subscription's call).
/// `close` never waits for the lock a reader holds: it raises `closed`, which a reader waiting
/// for the source (or for the lock) sees at once.
pub(crate) struct Batches<S: Source> {
    slot: Arc<Mutex<Option<S>>>,
    closed: watch::Sender<bool>,
}

impl<S: Source> Batches<S> {
    pub(crate) fn new(source: S) -> Self {
        Batches {
            slot: Arc::new(Mutex::new(Some(source))),
            closed: watch::Sender::new(false),
        }
    }

    /// The next batch, or `None` at the end or once closed; any error ends the stream.
    async fn next(
        slot: Arc<Mutex<Option<S>>>,
        mut closed: watch::Receiver<bool>,
    ) -> PyResult<Option<RecordBatch>> {
        let mut slot = tokio::select! {
            biased;
            _ = raised(&mut closed) => return Ok(None),
            slot = slot.lock() => slot,
        };
        let Some(source) = slot.as_mut() else {
            return Ok(None);
        };
        let next = tokio::select! {
            biased;
            _ = raised(&mut closed) => None,
            next = source.next_batch() => Some(next),
        };
        match next {
            Some(Some(Ok(batch))) => Ok(Some(batch)),
            Some(Some(Err(e))) => {
                *slot = None;
                Err(to_py(e))
            }
            // The end, or closed while waiting.
            Some(None) | None => {
                *slot = None;
                Ok(None)
            }
        }
    }

    /// `__next__`: waits with the GIL released; Ctrl-C closes the stream, as a failure does.
    pub(crate) fn next_blocking<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        match blocking_raw(py, Self::next(self.slot.clone(), self.closed.subscribe())) {
            Ok(Ok(Some(batch))) => Ok(Some(Batch(batch).into_pyobject(py)?)),
            Ok(Ok(None)) => Ok(None),
            Ok(Err(e)) => Err(e),
            Err(interrupt) => {
                self.close(py);
                Err(interrupt)
            }
        }
    }

    /// `__anext__`: an awaitable of the next batch; `StopAsyncIteration` at the end.
    pub(crate) fn next_awaitable<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (slot, closed) = (self.slot.clone(), self.closed.subscribe());
        crate::runtime::awaitable(py, async move {
            match Self::next(slot, closed).await? {
                Some(batch) => Ok(Batch(batch)),
                None => Err(PyStopAsyncIteration::new_err(())),
            }
        })
    }

    /// Ends the stream now, from any thread or coroutine: a `next` in flight returns at once
    /// (the end of the stream), and so does every later one. Never waits for a reader.
    pub(crate) fn close(&self, py: Python<'_>) {
        self.closed.send_replace(true);
        let slot = self.slot.clone();
        py.detach(|| {
            // Dropping the source may start its clean-up (a Bulk job's abort) on the runtime.
            let _runtime = crate::runtime::runtime().enter();
            let held = match slot.try_lock() {
                Ok(mut source) => {
                    *source = None;
                    false
                }
                Err(_) => true,
            };
            // A reader holds it and is giving it up: drop it once it has.
            if held {
                tokio::spawn(async move { *slot.lock().await = None });
            }
        });
    }
}

/// Resolves once `close` raised the flag; never if the stream object went away without closing.
async fn raised(closed: &mut watch::Receiver<bool>) {
    if closed.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await
    }
}

#[pyclass(module = "sfarrow._sfarrow", name = "BatchStream", frozen)]
pub struct BatchStream {
    schema: arrow_schema::SchemaRef,
    batches: Batches<ReadStream>,
}

impl BatchStream {
    pub fn new(stream: ReadStream) -> Self {
        BatchStream {
            schema: stream.schema.clone(),
            batches: Batches::new(stream),
        }
    }
}

/// A batch on its way to Python: becomes a `pyarrow.RecordBatch` (no copy) once the GIL is
/// held, whichever face (or stream: reads and events) hands it over.
pub(crate) struct Batch(pub(crate) RecordBatch);

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
        self.batches.next_blocking(py)
    }

    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// An awaitable of the next `pyarrow.RecordBatch`; `StopAsyncIteration` at the end.
    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.batches.next_awaitable(py)
    }

    /// Stops the read now (an unfinished Bulk job is aborted and deleted).
    fn close(&self, py: Python<'_>) {
        self.batches.close(py)
    }
}
