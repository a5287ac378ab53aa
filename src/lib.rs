//! `sfarrow._sfarrow`: the compiled module. A thin face over the Rust crates; the public Python
//! API lives in `python/sfarrow`.

use pyo3::prelude::*;

mod connection;
mod emulator;
mod errors;
mod events;
mod files;
mod gate;
mod login;
mod runtime;
mod stream;
mod write;

#[pymodule]
fn _sfarrow(m: &Bound<'_, PyModule>) -> PyResult<()> {
    tune_allocator();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<emulator::Emulator>()?;
    m.add_class::<connection::Connection>()?;
    m.add_class::<files::ObjectStore>()?;
    m.add_class::<stream::BatchStream>()?;
    m.add_class::<events::EventStream>()?;
    m.add_function(wrap_pyfunction!(source_query, m)?)?;
    m.add_function(wrap_pyfunction!(defaults, m)?)?;
    m.add_function(wrap_pyfunction!(check_api, m)?)?;
    // Before the interpreter's threads are torn down, runtime threads stop touching Python.
    let at_exit = wrap_pyfunction!(gate::at_exit, m)?;
    m.py()
        .import("atexit")?
        .call_method1("register", (at_exit,))?;
    Ok(())
}

/// The client's defaults (`sfarrow_client::defaults`), which `sfarrow._defaults` hands to the
/// public signatures: one home for every default the Rust core also applies.
#[pyfunction]
fn defaults(py: Python<'_>) -> PyResult<Bound<'_, pyo3::types::PyDict>> {
    use sfarrow_client::defaults as d;
    let out = pyo3::types::PyDict::new(py);
    out.set_item("api_version", d::API_VERSION)?;
    out.set_item("request_timeout", d::REQUEST_TIMEOUT_SECS as f64)?;
    out.set_item("retries", d::RETRIES)?;
    out.set_item("gzip", d::GZIP)?;
    out.set_item("pubsub_url", d::PUBSUB_URL)?;
    out.set_item("read_api", d::READ_API)?;
    out.set_item("bulk_threshold", d::BULK_THRESHOLD)?;
    out.set_item("bulk_page_size", d::BULK_PAGE_SIZE)?;
    out.set_item("parallel", d::PARALLEL)?;
    out.set_item("write_api", d::WRITE_API)?;
    out.set_item("write_bulk_threshold", d::WRITE_BULK_THRESHOLD)?;
    out.set_item("write_parallel", d::WRITE_PARALLEL)?;
    Ok(out)
}

/// An `api` word checked by the client crate's own parser, for a caller that checks its
/// arguments before any call (a flow's sources and destinations, when they are made).
#[pyfunction]
fn check_api(api: &str) -> PyResult<()> {
    sfarrow_client::client::Api::parse(api)
        .map(|_| ())
        .map_err(errors::to_py)
}

/// The SOQL of a flow's Salesforce source, built as a syntax tree: `filter` must parse as one
/// condition and the window's bounds as datetimes (see `sfarrow_soql::soql::source_query`).
#[pyfunction]
fn source_query(
    object: &str,
    fields: Vec<String>,
    filter: Option<&str>,
    window: Option<(String, Option<String>, String)>,
) -> PyResult<String> {
    let window = window.map(|(field, after, until)| sfarrow_soql::soql::Window {
        field,
        after,
        until,
    });
    sfarrow_soql::soql::source_query(object, &fields, filter, window.as_ref()).map_err(|e| {
        errors::to_py(sfarrow_client::client::Error::config(format!(
            "{} (row {}, column {})",
            e.message, e.row, e.column
        )))
    })
}

/// Reads allocate and free pages of 10-30 MB many times a second. glibc hands such blocks back
/// to the kernel on free, so every page of them faults in again, zeroed (a sixth of a Bulk
/// read's CPU); mimalloc keeps freed memory a few milliseconds for the next page. Only this
/// module's allocations use it: Python's own are untouched.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Option numbers in mimalloc 3.3's `mimalloc.h` (the crate does not name them).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
const MI_OPTION_ALLOW_THP: libmimalloc_sys::mi_option_t = 43;

/// Milliseconds freed memory waits for reuse before it goes back to the kernel. A streamed
/// 2M-row read (without huge pages) peaked at 240-265 MB with 4, about 360 MB with 20 or 100,
/// and 394 MB with no purging, for 5-10 % less CPU at most.
const PURGE_DELAY_MS: std::os::raw::c_long = 4;

/// Each option is left alone when the user set it (`MIMALLOC_PURGE_DELAY`, `MIMALLOC_ALLOW_THP`).
fn tune_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a plain integer option; mimalloc reads it at each purge.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    }
    // No transparent huge pages for mimalloc's memory: with them, touching one byte of a fresh
    // 2 MiB region zeroes all of it, and a purged region is zeroed again when reused. A 1M-row
    // Bulk read peaked at 650-670 MB with them and 520 MB without, with a sixth less CPU.
    // (Set after start-up, this stops mimalloc asking for them on the memory it maps; it does
    // not turn them off for the rest of the process, as the environment variable would.)
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: as above; read each time mimalloc maps memory.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_ALLOW_THP, 0) };
    }
}
