//! Authenticated calls to the REST and Bulk APIs: the bearer header, one session renewal and
//! replay on 401 `INVALID_SESSION_ID`, retries of transient failures, `Sforce-Limit-Info`.

use super::body::{inflate, read_body};
use super::environment::{check_url, redact, Environment, Origin};
use super::grant::{transport, Grant, Token};
use super::recycle::Recycler;
use super::retry::{may_resend, Attempts, RetryPolicy};
use super::session::{Session, TokenCallback};
use crate::error::{from_response, Error, Result};
use bytes::Bytes;
use parking_lot::Mutex;
use reqwest::Method;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Options {
    pub api_version: String,
    /// Extra trusted CA certificates (PEM), added to the system's roots.
    pub ca_pem: Option<String>,
    pub retry: RetryPolicy,
    pub timeout: Duration,
    /// Ask for gzip bodies: cheaper on real networks, costs CPU on loopback.
    pub gzip: bool,
    /// The share (0-1] of the org's daily API allowance this connection may spend, judged by
    /// `Sforce-Limit-Info`: past it, calls fail with `ApiLimit` before they are sent.
    pub api_budget: Option<f64>,
    /// The Pub/Sub API endpoint (see `events::channel::parse_url`).
    pub pubsub_url: String,
}

impl Options {
    /// Options from a caller's values, checked: `timeout` in seconds, `retries` after the first
    /// attempt, `api_budget` a share of the daily allowance in (0, 1].
    pub fn new(
        api_version: &str,
        ca_pem: Option<String>,
        timeout: f64,
        retries: u32,
        gzip: bool,
        api_budget: Option<f64>,
    ) -> Result<Options> {
        let timeout = Duration::try_from_secs_f64(timeout)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| Error::config("request_timeout must be a positive number of seconds"))?;
        if let Some(b) = api_budget.filter(|b| !(*b > 0.0 && *b <= 1.0)) {
            return Err(Error::config(format!(
                "api_budget is a share of the daily allowance, above 0 and at most 1 (0.8 = 80%); got {b}"
            )));
        }
        let mut options = Options {
            api_version: api_version.to_string(),
            ca_pem,
            timeout,
            gzip,
            api_budget,
            ..Options::default()
        };
        options.retry.attempts = retries.saturating_add(1);
        Ok(options)
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            api_version: crate::defaults::API_VERSION.into(),
            ca_pem: None,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(crate::defaults::REQUEST_TIMEOUT_SECS),
            gzip: crate::defaults::GZIP,
            api_budget: None,
            pubsub_url: crate::defaults::PUBSUB_URL.to_string(),
        }
    }
}

pub struct Request {
    pub method: Method,
    /// `/services/...` (instance-relative), a full URL on the instance, or a path under the
    /// versioned API base (`limits`, `jobs/query`).
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Option<(Bytes, &'static str)>,
    pub accept: &'static str,
    /// Safe to send twice. POSTs are retried only when the connection was never made.
    pub idempotent: bool,
    /// Extra headers (`If-Modified-Since`).
    pub headers: Vec<(&'static str, String)>,
    /// Where the body (and its inflated form) is read into and returns once dropped: set by
    /// reads that fetch page after page.
    pub recycle: Option<Arc<Recycler<Vec<u8>>>>,
}

impl Request {
    pub fn get(path: impl Into<String>) -> Self {
        Request {
            method: Method::GET,
            path: path.into(),
            query: Vec::new(),
            body: None,
            accept: "application/json",
            idempotent: true,
            headers: Vec::new(),
            recycle: None,
        }
    }

    pub fn json(method: Method, path: impl Into<String>, body: &serde_json::Value) -> Self {
        let idempotent = method != Method::POST;
        Request {
            method,
            path: path.into(),
            query: Vec::new(),
            body: Some((Bytes::from(body.to_string()), "application/json")),
            accept: "application/json",
            idempotent,
            headers: Vec::new(),
            recycle: None,
        }
    }
}

pub struct Response {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Bytes,
    /// The request went more than once after an attempt that may have been applied (its answer
    /// was lost): the answer describes the last attempt, not the first.
    pub resent: bool,
}

impl Response {
    pub fn json(&self) -> Result<serde_json::Value> {
        if self.body.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::protocol(format!("invalid JSON: {e}")))
    }
}

pub struct Client {
    http: reqwest::Client,
    session: Session,
    version: String,
    retry: RetryPolicy,
    /// `request_timeout`: bounds each call of another API too (Pub/Sub).
    timeout: Duration,
    usage: Mutex<Option<(u64, u64)>>,
    gzip: bool,
    api_budget: Option<f64>,
    /// REST query cursors this connection keeps open at once (see `cursor_slots`).
    cursors: Arc<tokio::sync::Semaphore>,
}

/// An org keeps 10 open query cursors per user and drops the oldest when an eleventh opens
/// (§3.4): one connection stays under that, leaving room for the user's other clients.
pub const MAX_CURSORS: usize = 8;

pub fn http_client(ca_pem: Option<&str>, timeout: Duration) -> Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(30))
        .user_agent(concat!("sfarrow/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none());
    if let Some(pem) = ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
            .map_err(|e| Error::config(format!("ca_file does not hold PEM certificates: {e}")))?;
        if certs.is_empty() {
            return Err(Error::config("ca_file holds no PEM certificate"));
        }
        b = b.tls_certs_merge(certs);
    }
    b.build()
        .map_err(|e| Error::config(format!("could not set up HTTPS: {e}")))
}

fn version_number(v: &str) -> Result<String> {
    let t = v.trim().trim_start_matches('v');
    let ok = t
        .split_once('.')
        .is_some_and(|(a, b)| !a.is_empty() && a.bytes().all(|c| c.is_ascii_digit()) && b == "0");
    if ok {
        Ok(t.to_string())
    } else {
        Err(Error::config(format!(
            "api_version must look like \"58.0\", got {v:?}"
        )))
    }
}

impl Client {
    /// Signs in with `grant` (or takes `first`, an existing session), then checks that the org
    /// serves the pinned API version.
    pub async fn connect(
        grant: Grant,
        env: Option<Environment>,
        first: Option<Token>,
        options: Options,
        on_token: Option<TokenCallback>,
    ) -> Result<Client> {
        let version = version_number(&options.api_version)?;
        let http = http_client(options.ca_pem.as_deref(), options.timeout)?;
        let token = match first {
            Some(t) => {
                check_url(&t.instance_url)?;
                t
            }
            None => {
                let env = env
                    .as_ref()
                    .ok_or_else(|| Error::config("a login environment is needed"))?;
                grant
                    .fetch(&http, env, &options.retry)
                    .await?
                    .ok_or_else(|| Error::config("this grant needs a token"))?
            }
        };
        let client = Client {
            http,
            session: Session::new(grant, env, token, on_token, options.retry),
            version,
            retry: options.retry,
            timeout: options.timeout,
            usage: Mutex::new(None),
            gzip: options.gzip,
            api_budget: options.api_budget,
            cursors: Arc::new(tokio::sync::Semaphore::new(MAX_CURSORS)),
        };
        client.check_version().await?;
        Ok(client)
    }

    /// Checks the session and the pinned version with one call to the versioned resource list.
    async fn check_version(&self) -> Result<()> {
        match self.send(Request::get("")).await {
            Ok(_) => return Ok(()),
            Err(Error::Api { status: 404, .. }) => {}
            Err(e) => return Err(e),
        }
        let resp = self.send(Request::get("/services/data/")).await?;
        let list: Vec<serde_json::Value> = serde_json::from_slice(&resp.body)
            .map_err(|_| Error::protocol("/services/data/ did not list API versions"))?;
        let served: Vec<&str> = list
            .iter()
            .filter_map(|v| v.get("version")?.as_str())
            .collect();
        Err(Error::config(format!(
            "API version {} is not served by {}; it serves {} to {}",
            self.version,
            self.session.instance_url(),
            served.first().unwrap_or(&"?"),
            served.last().unwrap_or(&"?")
        )))
    }

    pub fn instance_url(&self) -> String {
        self.session.instance_url()
    }

    pub fn api_version(&self) -> &str {
        &self.version
    }

    pub fn grant_kind(&self) -> &'static str {
        self.session.grant_kind()
    }

    pub fn id_url(&self) -> Option<String> {
        self.session.id_url()
    }

    /// (used, max) from the last `Sforce-Limit-Info` header seen.
    pub fn api_usage(&self) -> Option<(u64, u64)> {
        *self.usage.lock()
    }

    pub fn renewals(&self) -> u64 {
        self.session.renewals()
    }

    /// The token, instance URL and session generation, for calling another API (Pub/Sub).
    pub fn credentials(&self) -> (super::Secret, String, u64) {
        self.session.current()
    }

    /// Renews the session after another API refused the token of generation `seen`: the same
    /// one renewal the REST calls share.
    pub async fn renew(&self, seen: u64) -> Result<()> {
        self.session.renew(&self.http, seen).await
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// The connection's `request_timeout`.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Waits for `n` cursor slots (at most [`MAX_CURSORS`]), held until the permit drops: a read
    /// that would open a cursor waits here instead of making the org drop another read's.
    pub async fn cursor_slots(&self, n: usize) -> Result<tokio::sync::OwnedSemaphorePermit> {
        let n = u32::try_from(n.clamp(1, MAX_CURSORS)).unwrap_or(1);
        self.cursors
            .clone()
            .acquire_many_owned(n)
            .await
            .map_err(|_| Error::protocol("the connection's cursor slots were closed"))
    }

    fn url(&self, instance: &str, path: &str) -> String {
        if path.starts_with("https://") || path.starts_with("http://") {
            path.to_string()
        } else if path.starts_with('/') {
            format!("{instance}{path}")
        } else {
            format!("{instance}/services/data/v{}/{path}", self.version)
        }
    }

    fn note_usage(&self, headers: &reqwest::header::HeaderMap) {
        let Some(info) = headers
            .get("sforce-limit-info")
            .and_then(|v| v.to_str().ok())
        else {
            return;
        };
        let Some(rest) = info.split("api-usage=").nth(1) else {
            return;
        };
        let pair = rest.split([';', ' ', ',']).next().unwrap_or("");
        if let Some((used, max)) = pair.split_once('/') {
            if let (Ok(u), Ok(m)) = (used.parse(), max.parse()) {
                *self.usage.lock() = Some((u, m));
            }
        }
    }

    /// The org's clock now, from the `Date` of an answer to a cheap call: whole seconds, rounded
    /// down, so it is never ahead of the org.
    pub async fn server_time(&self) -> Result<i64> {
        let resp = self.send(Request::get("")).await?;
        resp.headers
            .get("date")
            .and_then(|d| d.to_str().ok())
            .and_then(sfarrow_soql::formats::parse_http_date)
            .ok_or_else(|| Error::protocol("the org's answer had no valid Date header"))
    }

    /// Refuses a call that would spend more than `api_budget` of the org's daily allowance, as
    /// last reported by `Sforce-Limit-Info`.
    fn check_budget(&self) -> Result<()> {
        let (Some(share), Some((used, max))) = (self.api_budget, *self.usage.lock()) else {
            return Ok(());
        };
        if max > 0 && (used + 1) as f64 > share * max as f64 {
            return Err(Error::ApiLimit {
                message: format!(
                    "this connection's api_budget of {:.0}% of the daily allowance is spent ({used} of {max} calls used); raise api_budget or wait for the allowance to recover",
                    share * 100.0
                ),
            });
        }
        Ok(())
    }

    /// Sends a request; renews the session once on `INVALID_SESSION_ID` and replays; retries
    /// transient failures per the retry policy.
    ///
    /// What may be sent again: a request the server never received (no connection) or refused
    /// (503, 429), and an idempotent request whatever happened. A request that was sent and
    /// whose answer was lost or cut (reset, timeout, a body cut short) may have been applied:
    /// a non-idempotent one is never sent again, and fails with a transport error.
    pub async fn send(&self, req: Request) -> Result<Response> {
        let mut attempts = Attempts::new(self.retry).renewals_at_most(1);
        // Set once an attempt that may have been applied was followed by another.
        let mut resent = false;
        loop {
            self.check_budget()?;
            let (token, instance, generation) = self.session.current();
            let url = self.url(&instance, &req.path);
            if Origin::of(&url).is_none() || Origin::of(&url) != Origin::of(&instance) {
                return Err(Error::config(format!(
                    "refusing to send the session to {}: it belongs to {} only",
                    redact(&url),
                    redact(&instance)
                )));
            }
            let mut rb = self
                .http
                .request(req.method.clone(), &url)
                .bearer_auth(token.expose())
                .header("accept", req.accept)
                .header(
                    "accept-encoding",
                    if self.gzip { "gzip" } else { "identity" },
                );
            if !req.query.is_empty() {
                rb = rb.query(&req.query);
            }
            for (name, value) in &req.headers {
                rb = rb.header(*name, value);
            }
            if let Some((body, ct)) = &req.body {
                rb = rb.header("content-type", *ct).body(body.clone());
            }
            let outcome = match rb.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let headers = resp.headers().clone();
                    match read_body(resp, req.recycle.as_ref()).await {
                        Ok(body) => Ok(Response {
                            status,
                            headers,
                            body,
                            resent,
                        }),
                        // The server answered, so it had the request: only a request that is
                        // safe to apply twice may go again.
                        Err(e) => Err((transport(&e, &instance), false)),
                    }
                }
                // A connection that was never made sent nothing: safe to retry even a POST.
                Err(e) => Err((transport(&e, &instance), e.is_connect())),
            };
            let resp = match outcome {
                Ok(r) => r,
                Err((e, never_sent)) => {
                    if may_resend(req.idempotent, never_sent) && attempts.again().await {
                        resent |= !never_sent;
                        continue;
                    }
                    return Err(e);
                }
            };
            self.note_usage(&resp.headers);
            let body = match inflate(&resp.headers, resp.body, req.recycle.clone()).await {
                Ok(b) => b,
                // The server answered, so it had the request.
                Err(e) => {
                    if may_resend(req.idempotent, false) && attempts.again().await {
                        resent = true;
                        continue;
                    }
                    return Err(e);
                }
            };
            // 304 answers a conditional GET: the caller's copy is current.
            if resp.status < 300 || resp.status == 304 {
                return Ok(Response {
                    status: resp.status,
                    headers: resp.headers,
                    body,
                    resent,
                });
            }
            let err = from_response(resp.status, &body);
            let expired = resp.status == 401 && err.code() == Some("INVALID_SESSION_ID");
            if expired
                && attempts
                    .renew(self.session.renew(&self.http, generation))
                    .await?
            {
                continue;
            }
            // A 503 or 429 says the server did not take the request: safe to send again, even a POST.
            let refused = matches!(resp.status, 503 | 429 | 420);
            if err.is_transient() && may_resend(req.idempotent, refused) && attempts.again().await {
                resent |= !refused;
                continue;
            }
            return Err(err);
        }
    }

    /// A JSON call; `None` body for GET/DELETE.
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value> {
        let req = match body {
            Some(b) => Request::json(method, path, b),
            None => Request {
                method: method.clone(),
                idempotent: method != Method::POST,
                ..Request::get(path)
            },
        };
        self.send(req).await?.json()
    }
}
