//! Rust errors as the exceptions of `sfarrow.exceptions`, which carry Salesforce's error code,
//! HTTP status and fields as attributes.

use pyo3::prelude::*;
use sfarrow_client::client::Error;

pub fn to_py(err: Error) -> PyErr {
    crate::gate::attach(|py| build(py, &err).unwrap_or_else(|e| e))
        // The interpreter is exiting: no one will see the exception's attributes.
        .unwrap_or_else(|| pyo3::exceptions::PyRuntimeError::new_err(err.to_string()))
}

fn build(py: Python<'_>, err: &Error) -> PyResult<PyErr> {
    let module = py.import("sfarrow.exceptions")?;
    let class = match err {
        Error::Authentication { .. } => "AuthenticationError",
        Error::ApiLimit { .. } => "ApiLimitError",
        Error::Api { .. } => "ApiError",
        Error::Transport { .. } => "TransportError",
        Error::Configuration { .. } => "ConfigurationError",
        Error::Protocol { .. } => "ProtocolError",
        Error::ReplayId { .. } => "ReplayIdError",
    };
    let kwargs = pyo3::types::PyDict::new(py);
    kwargs.set_item("error_code", err.code())?;
    kwargs.set_item("status", err.status())?;
    let fields: Vec<String> = match err {
        Error::Api { fields, .. } => fields.clone(),
        _ => Vec::new(),
    };
    kwargs.set_item("fields", fields)?;
    let exc = module
        .getattr(class)?
        .call((err.to_string(),), Some(&kwargs))?;
    Ok(PyErr::from_value(exc))
}
