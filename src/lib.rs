//! `sfarrow._sfarrow`: the compiled module. A thin face over the Rust crates; the public Python
//! API lives in `python/sfarrow`.

use pyo3::prelude::*;

mod connection;
mod emulator;
mod errors;
mod files;

#[pymodule]
fn _sfarrow(m: &Bound<'_, PyModule>) -> PyResult<()> {
    tune_allocator();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<emulator::Emulator>()?;
    m.add_class::<connection::Connection>()?;
    m.add_class::<files::ObjectStore>()?;
    Ok(())
}

/// Reads allocate and free pages of 10-30 MB many times a second. glibc hands such blocks back
/// to the kernel on free, so every page of them faults in again, zeroed (a sixth of a Bulk
/// read's CPU); mimalloc keeps freed memory a few milliseconds for the next page, on huge
/// pages. Only this module's allocations use it: Python's own are untouched.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc 3.3's `mimalloc.h` (the crate does not name it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Milliseconds freed memory waits for reuse before it goes back to the kernel. mimalloc's
/// default (10, times 10 for arenas) let a streamed 2M-row read peak at 400 MB instead of 320.
const PURGE_DELAY_MS: std::os::raw::c_long = 4;

fn tune_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a plain integer option; mimalloc reads it at each purge.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    }
}
