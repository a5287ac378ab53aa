//! `sfarrow._sfarrow`: the compiled module. A thin face over the Rust crates; the public Python
//! API lives in `python/sfarrow`.

use pyo3::prelude::*;

mod connection;
mod emulator;
mod errors;
mod files;

#[pymodule]
fn _sfarrow(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<emulator::Emulator>()?;
    m.add_class::<connection::Connection>()?;
    m.add_class::<files::ObjectStore>()?;
    Ok(())
}
