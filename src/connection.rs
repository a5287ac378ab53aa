//! `Connection`: a session with a Salesforce org (see `sfarrow.Connection` for the typed face).
//! Every network call exists as a sync method that releases the GIL and an `_async` twin.

use crate::errors::to_py;
use crate::runtime::blocking;
use crate::write::WriteArgs;
use pyo3::prelude::*;
use sfarrow_client::client::cache::{self, CachedToken};
use sfarrow_client::client::environment::check_url;
use sfarrow_client::client::flows::{self, AuthCode, DevicePrompt};
use sfarrow_client::client::session::{TokenCallback, TokenEvent};
use sfarrow_client::client::{Client, Environment, Error, Grant, Options, Request, Secret, Token};
use sfarrow_client::read::{self, Api, DescribeCache, ReadOptions};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Everything a connection can be made from; which fields matter depends on `grant`.
#[derive(Default)]
struct Spec {
    grant: String,
    environment: Option<String>,
    instance_url: Option<String>,
    access_token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    username: Option<String>,
    private_key: Option<String>,
    audience: Option<String>,
    assertion_lifetime: f64,
    refresh_token: Option<String>,
    port: u16,
    scope: String,
    timeout: f64,
    open_url: Option<Py<PyAny>>,
    on_token: Option<Py<PyAny>>,
    token_cache: Option<PathBuf>,
    options: Options,
}

fn need(v: &Option<String>, name: &str, grant: &str) -> Result<String, Error> {
    v.clone()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::config(format!("{name} is required for the {grant} grant")))
}

/// Calls a Python callable with one argument; a failing callback is reported, not raised, so a
/// user's logging hook cannot break a running session.
fn call_back(cb: &Py<PyAny>, arg: impl for<'py> IntoPyObject<'py>) {
    Python::attach(|py| {
        if let Err(e) = cb.call1(py, (arg,)) {
            e.write_unraisable(py, Some(cb.bind(py)));
        }
    });
}

fn token_callback(
    user: Option<Py<PyAny>>,
    cache: Option<(PathBuf, String, String)>,
) -> Option<TokenCallback> {
    if user.is_none() && cache.is_none() {
        return None;
    }
    Some(Arc::new(move |t: &TokenEvent| {
        if let (Some((path, login_url, client_id)), Some(refresh)) = (&cache, &t.refresh_token) {
            let entry = CachedToken {
                login_url: login_url.clone(),
                client_id: client_id.clone(),
                instance_url: t.instance_url.clone(),
                refresh_token: refresh.expose().to_string(),
            };
            // The session works without the cache; a failed write must not end it.
            let _ = cache::write(path, &entry);
        }
        if let Some(cb) = &user {
            let info = (
                t.access_token.expose().to_string(),
                t.refresh_token.as_ref().map(|r| r.expose().to_string()),
                t.instance_url.clone(),
            );
            call_back(cb, info);
        }
    }))
}

async fn connect(spec: Spec) -> Result<Client, Error> {
    let kind = spec.grant.as_str();
    let options = spec.options.clone();
    let env = spec
        .environment
        .as_deref()
        .map(Environment::parse)
        .transpose()?;
    let env_or_prod = || {
        env.clone()
            .map_or_else(|| Environment::parse("production"), Ok)
    };
    let on_token_user = spec.on_token;
    match kind {
        "session" => {
            let instance_url = need(&spec.instance_url, "instance_url", kind)?;
            check_url(&instance_url)?;
            let token = Token {
                access_token: Secret::new(need(&spec.access_token, "access_token", kind)?),
                instance_url: instance_url.trim_end_matches('/').to_string(),
                id: None,
                refresh_token: None,
                issued_at: None,
            };
            Client::connect(Grant::Session, None, Some(token), options, None).await
        }
        "jwt" => {
            let env = env_or_prod()?;
            let audience = spec.audience.clone().unwrap_or_else(|| env.jwt_audience());
            let grant = Grant::jwt(
                &need(&spec.client_id, "client_id", kind)?,
                &need(&spec.username, "username", kind)?,
                &need(&spec.private_key, "private_key", kind)?,
                audience,
                spec.assertion_lifetime as i64,
            )?;
            Client::connect(grant, Some(env), None, options, token_callback(on_token_user, None)).await
        }
        "client_credentials" => {
            let env = env.ok_or_else(|| {
                Error::config("client_credentials needs environment= your My Domain URL (https://<domain>.my.salesforce.com); Salesforce refuses it on login/test")
            })?;
            let grant = Grant::ClientCredentials {
                client_id: need(&spec.client_id, "client_id", kind)?,
                client_secret: Secret::new(need(&spec.client_secret, "client_secret", kind)?),
            };
            Client::connect(grant, Some(env), None, options, token_callback(on_token_user, None)).await
        }
        "refresh_token" => {
            let env = env_or_prod()?;
            let grant = Grant::RefreshToken {
                client_id: need(&spec.client_id, "client_id", kind)?,
                client_secret: spec.client_secret.clone().map(Secret::new),
                refresh_token: parking_lot::Mutex::new(Secret::new(need(&spec.refresh_token, "refresh_token", kind)?)),
            };
            Client::connect(grant, Some(env), None, options, token_callback(on_token_user, None)).await
        }
        "authorization_code" | "device" => {
            let env = env_or_prod()?;
            let client_id = need(&spec.client_id, "client_id", kind)?;
            let cache_key = spec.token_cache.clone().map(|p| (p, env.login_url.clone(), client_id.clone()));
            let callback = token_callback(on_token_user, cache_key.clone());
            let refresh_grant = |refresh: String| Grant::RefreshToken {
                client_id: client_id.clone(),
                client_secret: spec.client_secret.clone().map(Secret::new),
                refresh_token: parking_lot::Mutex::new(Secret::new(refresh)),
            };
            // A cached refresh token saves the interactive step; if it was revoked, fall through.
            if let Some((path, login_url, cid)) = &cache_key {
                if let Some(cached) = cache::read(path, login_url, cid) {
                    match Client::connect(refresh_grant(cached.refresh_token), Some(env.clone()), None, options.clone(), callback.clone()).await {
                        Ok(c) => return Ok(c),
                        Err(Error::Authentication { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            let http = sfarrow_client::client::api::http_client(options.ca_pem.as_deref(), options.timeout)?;
            let timeout = Duration::try_from_secs_f64(spec.timeout).map_err(|_| Error::config("timeout must be a positive number of seconds"))?;
            let open = spec.open_url;
            let token = if kind == "authorization_code" {
                let flow = AuthCode {
                    client_id: client_id.clone(),
                    client_secret: spec.client_secret.clone().map(Secret::new),
                    env: env.clone(),
                    port: spec.port,
                    scope: spec.scope.clone(),
                    timeout,
                    retry: options.retry,
                };
                flows::authorization_code(&http, &flow, move |url| {
                    if let Some(cb) = &open {
                        call_back(cb, url);
                    }
                })
                .await?
            } else {
                flows::device(&http, &client_id, &env, &spec.scope, timeout, &options.retry, move |p: DevicePrompt| {
                    if let Some(cb) = &open {
                        call_back(cb, (p.user_code, p.verification_uri));
                    }
                })
                .await?
            };
            let refresh = token
                .refresh_token
                .clone()
                .ok_or_else(|| Error::protocol("the token response has no refresh_token: add the refresh_token scope to the connected app"))?;
            if let Some(cb) = &callback {
                cb(&TokenEvent {
                    access_token: token.access_token.clone(),
                    refresh_token: Some(refresh.clone()),
                    instance_url: token.instance_url.clone(),
                });
            }
            Client::connect(refresh_grant(refresh.expose().to_string()), Some(env), Some(token), options, callback).await
        }
        other => Err(Error::config(format!(
            "unknown grant {other:?}; one of session, jwt, refresh_token, client_credentials, authorization_code, device"
        ))),
    }
}

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

/// The arguments of a connection, as the Python wrapper passes them: one dict with every key.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct SpecArgs {
    grant: String,
    environment: Option<String>,
    instance_url: Option<String>,
    access_token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    username: Option<String>,
    private_key: Option<String>,
    audience: Option<String>,
    assertion_lifetime: f64,
    refresh_token: Option<String>,
    port: u16,
    scope: String,
    timeout: f64,
    open_url: Option<Py<PyAny>>,
    on_token: Option<Py<PyAny>>,
    token_cache: Option<PathBuf>,
    api_version: String,
    ca_pem: Option<String>,
    request_timeout: f64,
    retries: u32,
    gzip: bool,
    api_budget: Option<f64>,
}

impl SpecArgs {
    fn into_spec(self) -> PyResult<Spec> {
        let timeout = Duration::try_from_secs_f64(self.request_timeout)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                to_py(Error::config(
                    "request_timeout must be a positive number of seconds",
                ))
            })?;
        if let Some(b) = self.api_budget.filter(|b| !(*b > 0.0 && *b <= 1.0)) {
            return Err(to_py(Error::config(format!(
                "api_budget is a share of the daily allowance, above 0 and at most 1 (0.8 = 80%); got {b}"
            ))));
        }
        let mut options = Options {
            api_version: self.api_version,
            ca_pem: self.ca_pem,
            timeout,
            gzip: self.gzip,
            api_budget: self.api_budget,
            ..Options::default()
        };
        options.retry.attempts = self.retries.saturating_add(1);
        Ok(Spec {
            grant: self.grant,
            environment: self.environment,
            instance_url: self.instance_url,
            access_token: self.access_token,
            client_id: self.client_id,
            client_secret: self.client_secret,
            username: self.username,
            private_key: self.private_key,
            audience: self.audience,
            assertion_lifetime: self.assertion_lifetime,
            refresh_token: self.refresh_token,
            port: self.port,
            scope: self.scope,
            timeout: self.timeout,
            open_url: self.open_url,
            on_token: self.on_token,
            token_cache: self.token_cache,
            options,
        })
    }
}

#[pymethods]
impl Connection {
    /// Connects (blocking, without the GIL). `args`: see `sfarrow.Connection`.
    #[staticmethod]
    fn connect(py: Python<'_>, args: SpecArgs) -> PyResult<Connection> {
        let spec = args.into_spec()?;
        let client = blocking(py, connect(spec))?;
        Ok(Connection::new(client))
    }

    /// Connects; returns an awaitable.
    #[staticmethod]
    fn connect_async(py: Python<'_>, args: SpecArgs) -> PyResult<Bound<'_, PyAny>> {
        let spec = args.into_spec()?;
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let client = connect(spec).await.map_err(to_py)?;
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
