//! Events from the Pub/Sub API: `EventStream` hands Python one `pyarrow.RecordBatch` of events
//! at a time, as an iterator (each wait releases the GIL and looks for Ctrl-C every 100 ms) or
//! an async iterator (and `async with`), and keeps the replay id to resume from; `open` starts
//! one now or as an awaitable; `publish` sends platform events and returns their per-row
//! results.

use crate::errors::to_py;
use crate::stream::{Batch, Batches};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use sfarrow_client::client::Error;
use sfarrow_client::events::{self, Progress, PubSub, SubscribeOptions};
use std::sync::Arc;

#[pyclass(module = "sfarrow._sfarrow", name = "EventStream", frozen)]
pub struct EventStream {
    topic: String,
    stream: Batches<events::EventStream>,
    progress: Arc<Progress>,
}

/// `subscribe`: the arguments checked now, then the stream once the subscription is live (a
/// write made after that is delivered), waited for now or by the returned awaitable.
#[allow(clippy::too_many_arguments)]
pub fn open<'py>(
    py: Python<'py>,
    pubsub: Arc<PubSub>,
    topic: &str,
    replay: &str,
    replay_id: Option<Vec<u8>>,
    batch_size: i64,
    on_invalid_replay: &str,
    max_events: Option<i64>,
    idle_timeout: Option<f64>,
    asynchronous: bool,
) -> PyResult<Bound<'py, PyAny>> {
    // Every argument is checked by the client crate, once.
    let options = SubscribeOptions::parse(
        topic,
        replay,
        replay_id,
        batch_size,
        on_invalid_replay,
        max_events,
        idle_timeout,
    )
    .map_err(to_py)?;
    let topic = topic.to_string();
    crate::runtime::run(py, asynchronous, async move {
        // Run on the module's runtime, which the subscription's task is spawned on.
        let mut stream = events::subscribe::subscribe(pubsub, options).map_err(to_py)?;
        stream.ready().await;
        Ok(EventStream {
            topic,
            progress: stream.progress(),
            stream: Batches::new(stream),
        })
    })
}

#[pymethods]
impl EventStream {
    #[getter]
    fn topic(&self) -> &str {
        &self.topic
    }

    /// The replay id to resume from (bytes): the last event handed out, or the position an
    /// idle stream's keepalive reported. Empty before anything arrived.
    #[getter]
    fn replay_id<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.progress.replay_id())
    }

    /// Whether an invalid replay id made the subscription start from the earliest event.
    #[getter]
    fn fell_back(&self) -> bool {
        self.progress.fell_back()
    }

    /// How many times the stream was opened again after it dropped.
    #[getter]
    fn reconnects(&self) -> u64 {
        self.progress.reconnects()
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// The next batch of events; Ctrl-C ends the subscription (the replay id still says
    /// where it stood).
    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.stream.next_blocking(py)
    }

    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.stream.next_awaitable(py)
    }

    /// Ends the subscription now.
    fn close(&self, py: Python<'_>) {
        self.stream.close(py)
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _kind: Option<Bound<'_, PyAny>>,
        _value: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) {
        self.close(py);
    }

    /// `async with`: an awaitable of the stream itself.
    fn __aenter__<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        crate::runtime::done(py, slf.into_any())
    }

    /// Closes the stream (at once, without waiting for a reader); an awaitable of `None`.
    fn __aexit__<'py>(
        &self,
        py: Python<'py>,
        _kind: Option<Bound<'py, PyAny>>,
        _value: Option<Bound<'py, PyAny>>,
        _tb: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.close(py);
        crate::runtime::done(py, py.None().into_bound(py))
    }

    fn __repr__(&self) -> String {
        format!("EventStream(topic={:?})", self.topic)
    }
}

/// Publishes the rows of `data` to a platform event topic; the result table has a row each.
pub fn publish<'py>(
    py: Python<'py>,
    pubsub: Arc<PubSub>,
    topic: String,
    data: pyo3_arrow::input::AnyRecordBatch,
    asynchronous: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let reader = data.into_reader()?;
    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(|e| {
        to_py(Error::config(format!(
            "could not read the data to publish: {e}"
        )))
    })?;
    crate::runtime::run(py, asynchronous, async move {
        let result = events::publish::publish(&pubsub, &topic, &batches)
            .await
            .map_err(to_py)?;
        Ok(Batch(result))
    })
}
