//! The one tokio runtime the module runs on; how a synchronous call waits for it (the GIL
//! released, looking for Ctrl-C) and how an asynchronous one becomes an asyncio awaitable; and
//! the gate every runtime thread passes to touch Python.
//!
//! Why the gate: once the interpreter has begun to exit, CPython ends any other thread that asks
//! for the GIL with `pthread_exit`, and Rust frames cannot be unwound that way (the process
//! crashes). A thread still delivering a result when the main thread returns would hit that. So
//! runtime threads take the GIL only through [`attach`], and an `atexit` hook, which runs while
//! threads may still take the GIL, closes the gate and waits for those inside to leave.

use crate::errors::to_py;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;
use sfarrow_client::client::Error;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

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

static CLOSING: AtomicBool = AtomicBool::new(false);
static INSIDE: AtomicUsize = AtomicUsize::new(0);

/// Leaves the gate however the closure ends.
struct Inside;

impl Drop for Inside {
    fn drop(&mut self) {
        INSIDE.fetch_sub(1, SeqCst);
    }
}

/// Runs `f` with the GIL from any thread, unless the interpreter is exiting: then `None`, and
/// nothing of Python is touched (no one is left to receive what `f` would hand over).
pub(crate) fn attach<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> Option<R> {
    if CLOSING.load(SeqCst) {
        return None;
    }
    INSIDE.fetch_add(1, SeqCst);
    let _inside = Inside;
    // Checked again once counted: `at_exit` either saw us inside, or we see it closing.
    if CLOSING.load(SeqCst) {
        return None;
    }
    Some(Python::attach(f))
}

/// Registered with `atexit`: closes the gate and waits (GIL released) for the threads inside it
/// to finish handing over results, at most a few seconds.
#[pyfunction]
pub(crate) fn at_exit(py: Python<'_>) {
    CLOSING.store(true, SeqCst);
    py.detach(|| {
        let deadline = Instant::now() + Duration::from_secs(5);
        while INSIDE.load(SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
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
