//! `Connection`: a session with a Salesforce org (see `sfarrow.Connection` for the typed face).
//! Every network call exists as a sync method that releases the GIL and an `_async` twin.

use crate::errors::to_py;
use crate::login::LoginArgs;
use crate::runtime::blocking;
use crate::write::WriteArgs;
use pyo3::prelude::*;
use sfarrow_client::client::connect::connect;
use sfarrow_client::client::{Client, Error, Request};
use sfarrow_client::read::{self, Api, DescribeCache, ReadOptions};
use std::sync::Arc;

#[pyclass(module = "sfarrow._sfarrow", name = "Connection", frozen)]
pub struct Connection {
    client: Arc<Client>,
    describes: Arc<DescribeCache>,
}

impl Connection {
    fn new(client: Client) -> Self {
        Connection {
            client: Arc::new(client),
            describes: Arc::new(DescribeCache::default()),
        }
    }
}

/// A JSON answer handed to Python through `json.loads`, so types follow the standard library.
pub struct JsonValue(serde_json::Value);

impl<'py> IntoPyObject<'py> for JsonValue {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        if self.0.is_null() {
            return Ok(py.None().into_bound(py));
        }
        py.import("json")?
            .call_method1("loads", (self.0.to_string(),))
    }
}

#[pymethods]
impl Connection {
    /// Connects (blocking, without the GIL). `args`: see `sfarrow.Connection`.
    #[staticmethod]
    fn connect(py: Python<'_>, args: LoginArgs) -> PyResult<Connection> {
        let (login, options, hooks) = args.into_parts()?;
        let client = blocking(py, connect(login, options, hooks))?;
        Ok(Connection::new(client))
    }

    /// Connects; returns an awaitable.
    #[staticmethod]
    fn connect_async(py: Python<'_>, args: LoginArgs) -> PyResult<Bound<'_, PyAny>> {
        let (login, options, hooks) = args.into_parts()?;
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let client = connect(login, options, hooks).await.map_err(to_py)?;
            Ok(Connection::new(client))
        })
    }

    #[getter]
    fn instance_url(&self) -> String {
        self.client.instance_url()
    }

    #[getter]
    fn api_version(&self) -> String {
        self.client.api_version().to_string()
    }

    /// How the session is renewed: session, jwt, refresh_token or client_credentials.
    #[getter]
    fn grant(&self) -> &'static str {
        self.client.grant_kind()
    }

    /// The identity URL (`.../id/<org id>/<user id>`), when the grant returned one.
    #[getter]
    fn identity_url(&self) -> Option<String> {
        self.client.id_url()
    }

    /// (used, max) of the org's daily API allowance, from the last response.
    #[getter]
    fn api_usage(&self) -> Option<(u64, u64)> {
        self.client.api_usage()
    }

    /// How many times the session was renewed.
    #[getter]
    fn renewals(&self) -> u64 {
        self.client.renewals()
    }

    /// The org's clock (milliseconds since the epoch, whole seconds), from an answer's `Date`.
    fn server_time(&self, py: Python<'_>) -> PyResult<i64> {
        let client = self.client.clone();
        blocking(py, async move { client.server_time().await })
    }

    fn server_time_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            client.server_time().await.map_err(to_py)
        })
    }

    /// Sends a REST call; `path` is relative to the versioned API base (`limits`) or the
    /// instance (`/services/data/`). Returns the parsed JSON (None for an empty answer).
    #[pyo3(signature = (method, path, body=None))]
    fn request(
        &self,
        py: Python<'_>,
        method: &str,
        path: &str,
        body: Option<String>,
    ) -> PyResult<JsonValue> {
        let req = build_request(method, path, body)?;
        let client = self.client.clone();
        let value = blocking(py, async move { client.send(req).await?.json() })?;
        Ok(JsonValue(value))
    }

    #[pyo3(signature = (method, path, body=None))]
    fn request_async<'py>(
        &self,
        py: Python<'py>,
        method: &str,
        path: &str,
        body: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let req = build_request(method, path, body)?;
        let client = self.client.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let v = client
                .send(req)
                .await
                .and_then(|r| r.json())
                .map_err(to_py)?;
            Ok(JsonValue(v))
        })
    }

    /// Runs SOQL and returns every row as an Arrow table (a `__arrow_c_stream__` object).
    #[pyo3(signature = (soql, api="auto", include_deleted=false, bulk_threshold=1_000_000, bulk_page_size=25_000, parallel=4))]
    #[allow(clippy::too_many_arguments)]
    fn query(
        &self,
        py: Python<'_>,
        soql: &str,
        api: &str,
        include_deleted: bool,
        bulk_threshold: u64,
        bulk_page_size: usize,
        parallel: usize,
    ) -> PyResult<pyo3_arrow::PyTable> {
        let opts = read_options(
            api,
            include_deleted,
            bulk_threshold,
            bulk_page_size,
            parallel,
        )?;
        let (client, cache, soql) = (
            self.client.clone(),
            self.describes.clone(),
            soql.to_string(),
        );
        let (schema, batches) = blocking(py, collect(client, cache, soql, opts))?;
        pyo3_arrow::PyTable::try_new(batches, schema)
    }

    #[pyo3(signature = (soql, api="auto", include_deleted=false, bulk_threshold=1_000_000, bulk_page_size=25_000, parallel=4))]
    #[allow(clippy::too_many_arguments)]
    fn query_async<'py>(
        &self,
        py: Python<'py>,
        soql: &str,
        api: &str,
        include_deleted: bool,
        bulk_threshold: u64,
        bulk_page_size: usize,
        parallel: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let opts = read_options(
            api,
            include_deleted,
            bulk_threshold,
            bulk_page_size,
            parallel,
        )?;
        let (client, cache, soql) = (
            self.client.clone(),
            self.describes.clone(),
            soql.to_string(),
        );
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let (schema, batches) = collect(client, cache, soql, opts).await.map_err(to_py)?;
            pyo3_arrow::PyTable::try_new(batches, schema)
        })
    }

    /// Runs SOQL and streams the rows: batches arrive as pages are downloaded and decoded.
    #[pyo3(signature = (soql, api="auto", include_deleted=false, bulk_threshold=1_000_000, bulk_page_size=25_000, parallel=4))]
    #[allow(clippy::too_many_arguments)]
    fn query_batches(
        &self,
        py: Python<'_>,
        soql: &str,
        api: &str,
        include_deleted: bool,
        bulk_threshold: u64,
        bulk_page_size: usize,
        parallel: usize,
    ) -> PyResult<crate::stream::BatchStream> {
        let opts = read_options(
            api,
            include_deleted,
            bulk_threshold,
            bulk_page_size,
            parallel,
        )?;
        let (client, cache, soql) = (
            self.client.clone(),
            self.describes.clone(),
            soql.to_string(),
        );
        let stream = blocking(py, read::start(client, cache, &soql, opts))?;
        Ok(crate::stream::BatchStream::new(stream))
    }

    /// Writes a stream of Arrow data; returns the per-row result table (see `crate::write`).
    #[pyo3(signature = (operation, object, data, external_id=None, api="auto", all_or_none=false, bulk_threshold=1000, parallel=4))]
    #[allow(clippy::too_many_arguments)]
    fn write(
        &self,
        py: Python<'_>,
        operation: &str,
        object: &str,
        data: pyo3_arrow::input::AnyRecordBatch,
        external_id: Option<String>,
        api: &str,
        all_or_none: bool,
        bulk_threshold: usize,
        parallel: usize,
    ) -> PyResult<pyo3_arrow::PyTable> {
        let args = WriteArgs::new(
            operation,
            object,
            external_id,
            api,
            all_or_none,
            bulk_threshold,
            parallel,
        );
        crate::write::write(py, self.client.clone(), self.describes.clone(), args, data)
    }

    #[pyo3(signature = (operation, object, data, external_id=None, api="auto", all_or_none=false, bulk_threshold=1000, parallel=4))]
    #[allow(clippy::too_many_arguments)]
    fn write_async<'py>(
        &self,
        py: Python<'py>,
        operation: &str,
        object: &str,
        data: pyo3_arrow::input::AnyRecordBatch,
        external_id: Option<String>,
        api: &str,
        all_or_none: bool,
        bulk_threshold: usize,
        parallel: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = WriteArgs::new(
            operation,
            object,
            external_id,
            api,
            all_or_none,
            bulk_threshold,
            parallel,
        );
        crate::write::write_async(py, self.client.clone(), self.describes.clone(), args, data)
    }

    /// The Arrow schema of an object's fields (all, or those named), from describe.
    #[pyo3(signature = (object, fields=None))]
    fn schema(
        &self,
        py: Python<'_>,
        object: &str,
        fields: Option<Vec<String>>,
    ) -> PyResult<pyo3_arrow::PySchema> {
        let (client, cache, object) = (
            self.client.clone(),
            self.describes.clone(),
            object.to_string(),
        );
        let schema = blocking(py, async move {
            read::plan::object_schema(&client, &cache, &object, fields.as_deref()).await
        })?;
        Ok(pyo3_arrow::PySchema::new(schema))
    }

    #[pyo3(signature = (object, fields=None))]
    fn schema_async<'py>(
        &self,
        py: Python<'py>,
        object: &str,
        fields: Option<Vec<String>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (client, cache, object) = (
            self.client.clone(),
            self.describes.clone(),
            object.to_string(),
        );
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let schema = read::plan::object_schema(&client, &cache, &object, fields.as_deref())
                .await
                .map_err(to_py)?;
            Ok(pyo3_arrow::PySchema::new(schema))
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "Connection(instance_url={:?}, api_version={:?}, grant={:?})",
            self.client.instance_url(),
            self.client.api_version(),
            self.client.grant_kind()
        )
    }
}

fn build_request(method: &str, path: &str, body: Option<String>) -> PyResult<Request> {
    let m = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .map_err(|_| to_py(Error::config(format!("not an HTTP method: {method:?}"))))?;
    let idempotent = m != reqwest::Method::POST;
    let mut req = Request {
        method: m,
        idempotent,
        ..Request::get(path)
    };
    if let Some(b) = body {
        req.body = Some((bytes::Bytes::from(b), "application/json"));
    }
    Ok(req)
}

fn read_options(
    api: &str,
    include_deleted: bool,
    bulk_threshold: u64,
    bulk_page_size: usize,
    parallel: usize,
) -> PyResult<ReadOptions> {
    if bulk_page_size == 0 || parallel == 0 {
        return Err(to_py(Error::config(
            "bulk_page_size and parallel must be at least 1",
        )));
    }
    Ok(ReadOptions {
        api: Api::parse(api).map_err(to_py)?,
        include_deleted,
        bulk_threshold,
        bulk_page_size,
        parallel,
        ..ReadOptions::default()
    })
}

async fn collect(
    client: Arc<Client>,
    cache: Arc<DescribeCache>,
    soql: String,
    opts: ReadOptions,
) -> Result<(arrow_schema::SchemaRef, Vec<arrow_array::RecordBatch>), Error> {
    let mut stream = read::start(client, cache, &soql, opts).await?;
    let mut batches = Vec::new();
    while let Some(b) = stream.batches.recv().await {
        batches.push(b?);
    }
    Ok((stream.schema, batches))
}
