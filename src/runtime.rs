//! The one tokio runtime the module runs on; how a synchronous call waits for it (the GIL
//! released, looking for Ctrl-C) and how an asynchronous one becomes an asyncio awaitable,
//! resolved from a runtime thread through the gate (`crate::gate`).

use crate::errors::to_py;
use crate::gate::attach;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;
use sfarrow_client::client::Error;
use std::sync::OnceLock;

pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("sfarrow")
            .build()
            // Only fails when the OS refuses threads or an epoll descriptor: nothing runs then.
            .expect("sfarrow cannot start its I/O threads")
    })
}

/// Runs a call to completion with the GIL released, looking for Ctrl-C every 100 ms: on an
/// interrupt the call is dropped (a running Bulk job is aborted on the server) and the
/// `KeyboardInterrupt` propagates.
pub(crate) fn blocking<T: Send>(
    py: Python<'_>,
    call: impl std::future::Future<Output = Result<T, Error>> + Send,
) -> PyResult<T> {
    blocking_raw(py, call)?.map_err(to_py)
}

/// As [`blocking`], keeping the call's own outcome apart from a signal's exception (`Err`).
pub(crate) fn blocking_raw<T: Send>(
    py: Python<'_>,
    call: impl std::future::Future<Output = T> + Send,
) -> PyResult<T> {
    py.detach(|| {
        runtime().block_on(async {
            tokio::pin!(call);
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
            loop {
                tokio::select! {
                    out = &mut call => return Ok(out),
                    _ = tick.tick() => Python::attach(|py| py.check_signals())?,
                }
            }
        })
    })
}

/// Runs `call` to its end now (`asynchronous` false: the GIL released, Ctrl-C looked for) or
/// returns an awaitable that runs it on the runtime. One future serves both faces of a call.
pub(crate) fn run<'py, T>(
    py: Python<'py>,
    asynchronous: bool,
    call: impl std::future::Future<Output = PyResult<T>> + Send + 'static,
) -> PyResult<Bound<'py, PyAny>>
where
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    if asynchronous {
        return awaitable(py, call);
    }
    blocking_raw(py, call)??.into_bound_py_any(py)
}

/// An asyncio future of the running loop that `call`, run on the runtime, resolves. Cancelling
/// the future (a timeout, a cancelled task) drops `call`: a read stops, a Bulk job is aborted.
pub(crate) fn awaitable<'py, T>(
    py: Python<'py>,
    call: impl std::future::Future<Output = PyResult<T>> + Send + 'static,
) -> PyResult<Bound<'py, PyAny>>
where
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?;
    let future = event_loop.call_method0("create_future")?;
    let work = runtime().spawn(call);
    future.call_method1("add_done_callback", (CancelOnDone(work.abort_handle()),))?;
    let (event_loop, target) = (event_loop.unbind(), future.clone().unbind());
    runtime().spawn(async move {
        let outcome = work.await;
        // Handed over from the blocking pool, so no runtime worker waits for the GIL.
        tokio::task::spawn_blocking(move || {
            attach(|py| deliver(py, &event_loop, &target, outcome));
        });
    });
    Ok(future)
}

/// An asyncio future of the running loop, already resolved to `value` (`__aenter__`, ...).
pub(crate) fn done<'py>(py: Python<'py>, value: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let future = py
        .import("asyncio")?
        .call_method0("get_running_loop")?
        .call_method0("create_future")?;
    future.call_method1("set_result", (value,))?;
    Ok(future)
}

fn deliver<T>(
    py: Python<'_>,
    event_loop: &Py<PyAny>,
    target: &Py<PyAny>,
    outcome: Result<PyResult<T>, tokio::task::JoinError>,
) where
    T: for<'a> IntoPyObject<'a>,
{
    let (ok, value) = match outcome.map(|r| r.and_then(|v| v.into_py_any(py))) {
        Ok(Ok(value)) => (true, value),
        Ok(Err(e)) => (false, e.into_value(py).into_any()),
        // Cancelled: the future is already done. A panic must not cross into Python as one.
        Err(e) if e.is_cancelled() => return,
        Err(_) => (
            false,
            PyRuntimeError::new_err("sfarrow failed internally (a bug: please report it)")
                .into_value(py)
                .into_any(),
        ),
    };
    let resolve = match wrap_pyfunction!(resolve, py) {
        Ok(f) => f,
        Err(e) => return e.write_unraisable(py, None),
    };
    // Fails only when the loop is closed: then nobody awaits the future.
    let _ = event_loop.call_method1(py, "call_soon_threadsafe", (resolve, target, ok, value));
}

/// Runs on the event loop's thread: sets the outcome unless the future was cancelled meanwhile.
#[pyfunction]
fn resolve(future: &Bound<'_, PyAny>, ok: bool, value: Bound<'_, PyAny>) -> PyResult<()> {
    if future.call_method0("cancelled")?.is_truthy()? {
        return Ok(());
    }
    let method = if ok { "set_result" } else { "set_exception" };
    future.call_method1(method, (value,))?;
    Ok(())
}

/// The future's done callback: a cancelled future stops the work behind it.
#[pyclass(frozen)]
struct CancelOnDone(tokio::task::AbortHandle);

#[pymethods]
impl CancelOnDone {
    fn __call__(&self, future: &Bound<'_, PyAny>) -> PyResult<()> {
        if future.call_method0("cancelled")?.is_truthy()? {
            self.0.abort();
        }
        Ok(())
    }
}
