//! `Connection`: a session with a Salesforce org (see `sfarrow.Connection` for the typed face).
//!
//! Each operation is one method here: it checks its arguments, prepares one future, and hands it
//! to `runtime::run`, which either waits for it (GIL released, Ctrl-C looked for) or returns an
//! awaitable, as the Python wrapper's `asynchronous` flag asks. The sync and async methods of
//! `sfarrow.Connection` are the two faces of that one implementation. Defaults live in the
//! Python signatures only: every argument here is required.

use crate::errors::to_py;
use crate::login::LoginArgs;
use crate::runtime::run;
use crate::stream::BatchStream;
use crate::write::WriteArgs;
use pyo3::prelude::*;
use sfarrow_client::client::connect::connect;
use sfarrow_client::client::{Client, Error, Request};
use sfarrow_client::read::{self, DescribeCache, ReadOptions};
use std::sync::Arc;

#[pyclass(module = "sfarrow._sfarrow", name = "Connection", frozen)]
pub struct Connection {
    client: Arc<Client>,
    describes: Arc<DescribeCache>,
    pubsub: Arc<sfarrow_client::events::PubSub>,
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
    /// Connects. `args`: every key `sfarrow.connection._args` makes.
    #[staticmethod]
    fn connect(py: Python<'_>, args: LoginArgs, asynchronous: bool) -> PyResult<Bound<'_, PyAny>> {
        let (login, options, hooks) = args.into_parts()?;
        let (pubsub_url, ca_pem) = (options.pubsub_url.clone(), options.ca_pem.clone());
        run(py, asynchronous, async move {
            let client = Arc::new(connect(login, options, hooks).await.map_err(to_py)?);
            let describes = Arc::new(DescribeCache::default());
            let pubsub = sfarrow_client::events::PubSub::new(
                client.clone(),
                describes.clone(),
                &pubsub_url,
                ca_pem,
            )
            .map_err(to_py)?;
            Ok(Connection {
                client,
                describes,
                pubsub: Arc::new(pubsub),
            })
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
    fn server_time<'py>(&self, py: Python<'py>, asynchronous: bool) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.clone();
        run(py, asynchronous, async move {
            client.server_time().await.map_err(to_py)
        })
    }

    /// Sends a REST call; `path` is relative to the versioned API base (`limits`) or the
    /// instance (`/services/data/`). Returns the parsed JSON (None for an empty answer).
    fn request<'py>(
        &self,
        py: Python<'py>,
        method: &str,
        path: &str,
        body: Option<String>,
        asynchronous: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let req = build_request(method, path, body)?;
        let client = self.client.clone();
        run(py, asynchronous, async move {
            let v = client
                .send(req)
                .await
                .and_then(|r| r.json())
                .map_err(to_py)?;
            Ok(JsonValue(v))
        })
    }

    /// Runs SOQL and returns every row as an Arrow table (a `__arrow_c_stream__` object).
    #[allow(clippy::too_many_arguments)]
    fn query<'py>(
        &self,
        py: Python<'py>,
        soql: &str,
        api: &str,
        include_deleted: bool,
        bulk_threshold: u64,
        bulk_page_size: usize,
        parallel: usize,
        asynchronous: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let start = self.start_read(
            soql,
            api,
            include_deleted,
            bulk_threshold,
            bulk_page_size,
            parallel,
        )?;
        run(py, asynchronous, async move {
            let mut stream = start.await?;
            let mut batches = Vec::new();
            while let Some(b) = stream.batches.recv().await {
                batches.push(b.map_err(to_py)?);
            }
            pyo3_arrow::PyTable::try_new(batches, stream.schema)
        })
    }

    /// Starts a read whose batches arrive as pages are downloaded and decoded: a `BatchStream`.
    #[allow(clippy::too_many_arguments)]
    fn query_batches<'py>(
        &self,
        py: Python<'py>,
        soql: &str,
        api: &str,
        include_deleted: bool,
        bulk_threshold: u64,
        bulk_page_size: usize,
        parallel: usize,
        asynchronous: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let start = self.start_read(
            soql,
            api,
            include_deleted,
            bulk_threshold,
            bulk_page_size,
            parallel,
        )?;
        run(py, asynchronous, async move {
            Ok(BatchStream::new(start.await?))
        })
    }

    /// Subscribes to a Pub/Sub topic: an `EventStream` of event batches once the subscription
    /// is live, now or as an awaitable (see `crate::events`).
    #[allow(clippy::too_many_arguments)]
    fn subscribe<'py>(
        &self,
        py: Python<'py>,
        topic: &str,
        replay: &str,
        replay_id: Option<Vec<u8>>,
        batch_size: i64,
        on_invalid_replay: &str,
        max_events: Option<i64>,
        idle_timeout: Option<f64>,
        asynchronous: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        crate::events::open(
            py,
            self.pubsub.clone(),
            topic,
            replay,
            replay_id,
            batch_size,
            on_invalid_replay,
            max_events,
            idle_timeout,
            asynchronous,
        )
    }

    /// Publishes platform events from Arrow data; returns one result row per input row.
    fn publish<'py>(
        &self,
        py: Python<'py>,
        topic: String,
        data: pyo3_arrow::input::AnyRecordBatch,
        asynchronous: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        crate::events::publish(py, self.pubsub.clone(), topic, data, asynchronous)
    }

    /// The Pub/Sub endpoint this connection subscribes and publishes through.
    #[getter]
    fn pubsub_url(&self) -> String {
        self.pubsub.target().uri.clone()
    }

    /// Writes a stream of Arrow data; returns the per-row result table (see `crate::write`).
    #[allow(clippy::too_many_arguments)]
    fn write<'py>(
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
        asynchronous: bool,
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
        let (client, cache) = (self.client.clone(), self.describes.clone());
        crate::write::write(py, client, cache, args, data, asynchronous)
    }

    /// The Arrow schema of an object's fields (all, or those named), from describe.
    fn schema<'py>(
        &self,
        py: Python<'py>,
        object: &str,
        fields: Option<Vec<String>>,
        asynchronous: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (client, cache, object) = (
            self.client.clone(),
            self.describes.clone(),
            object.to_string(),
        );
        run(py, asynchronous, async move {
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

impl Connection {
    /// The read both `query` and `query_batches` begin with: options checked now, the request
    /// made when the future runs.
    fn start_read(
        &self,
        soql: &str,
        api: &str,
        include_deleted: bool,
        bulk_threshold: u64,
        bulk_page_size: usize,
        parallel: usize,
    ) -> PyResult<impl std::future::Future<Output = PyResult<read::ReadStream>> + Send + 'static>
    {
        let opts = ReadOptions::new(
            api,
            include_deleted,
            bulk_threshold,
            bulk_page_size,
            parallel,
        )
        .map_err(to_py)?;
        let (client, cache, soql) = (
            self.client.clone(),
            self.describes.clone(),
            soql.to_string(),
        );
        Ok(async move { read::start(client, cache, &soql, opts).await.map_err(to_py) })
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
