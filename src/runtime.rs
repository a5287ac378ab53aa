//! The one tokio runtime the module runs on, and how a synchronous call waits for it: with the
//! GIL released, looking for Ctrl-C.

use crate::errors::to_py;
use pyo3::prelude::*;
use sfarrow_client::client::Error;

pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    pyo3_async_runtimes::tokio::get_runtime()
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
        return pyo3_async_runtimes::tokio::future_into_py(py, call);
    }
    let value = blocking_raw(py, call)??;
    pyo3::IntoPyObjectExt::into_bound_py_any(value, py)
}
