//! `ObjectStore`: the S3 side of flow file destinations (upload, list, copy, delete), a thin
//! face over `sfarrow_files`. Each call has a sync form that releases the GIL.

use crate::runtime::blocking;
use pyo3::prelude::*;
use sfarrow_files::Bucket;
use std::collections::HashMap;
use std::path::PathBuf;

#[pyclass(module = "sfarrow._sfarrow", frozen)]
pub struct ObjectStore {
    bucket: Bucket,
}

#[pymethods]
impl ObjectStore {
    /// `url` is `s3://bucket`; `options` are object_store's S3 settings. They may hold
    /// credentials, so they are never shown.
    #[new]
    fn new(url: &str, options: Option<HashMap<String, String>>) -> PyResult<Self> {
        let options: Vec<(String, String)> = options.unwrap_or_default().into_iter().collect();
        let bucket = Bucket::open(url, &options).map_err(crate::errors::to_py)?;
        Ok(ObjectStore { bucket })
    }

    fn __repr__(&self) -> String {
        format!("ObjectStore({:?})", self.bucket.url())
    }

    /// Uploads a local file to `key` (in parts); returns its size.
    fn put_file(&self, py: Python<'_>, local: PathBuf, key: &str) -> PyResult<u64> {
        blocking(py, self.bucket.put_file(&local, key))
    }

    /// `(key, size)` of every object under `prefix`.
    fn list(&self, py: Python<'_>, prefix: &str) -> PyResult<Vec<(String, u64)>> {
        blocking(py, self.bucket.list(prefix))
    }

    fn copy(&self, py: Python<'_>, source: &str, target: &str) -> PyResult<()> {
        blocking(py, self.bucket.copy(source, target))
    }

    /// Deletes `key`; a missing key is not an error.
    fn delete(&self, py: Python<'_>, key: &str) -> PyResult<()> {
        blocking(py, self.bucket.delete(key))
    }

    fn get(&self, py: Python<'_>, key: &str) -> PyResult<Vec<u8>> {
        blocking(py, self.bucket.get(key)).map(|b| b.to_vec())
    }
}
