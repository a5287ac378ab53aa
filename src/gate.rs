//! The gate every runtime thread passes to touch Python.
//!
//! Once the interpreter has begun to exit, CPython ends any other thread that asks for the GIL
//! with `pthread_exit`, and Rust frames cannot be unwound that way: the process crashes. A
//! runtime thread still handing over a result when the main thread returns would hit that. So
//! runtime threads take the GIL only through [`attach`], and an `atexit` hook, which runs while
//! threads may still take the GIL, closes the gate and waits for those inside to leave.

use pyo3::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

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
