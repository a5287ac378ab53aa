use pyo3::prelude::*;
#[pymodule]
fn _sfarrow(_m: &Bound<'_, PyModule>) -> PyResult<()> {
    Ok(())
}
