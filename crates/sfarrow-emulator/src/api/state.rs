//! What every handler shares: the org's configuration, data, sessions, cursors, jobs and API
//! allowance.

use crate::api::bulk::jobs::{IngestJobs, QueryJobs};
use crate::api::usage::Usage;
use crate::api::{oauth, rest::cursors::Cursors};
use crate::data::store;
use parking_lot::{Mutex, RwLock};
use std::time::Duration;

/// API versions the org serves, oldest first (Winter '11 to Summer '26).
pub const MIN_VERSION: u32 = 20;
pub const MAX_VERSION: u32 = 66;
pub const DEFAULT_REDIRECT_URIS: &[&str] = &[
    "http://localhost:1717/OauthRedirect",
    "http://127.0.0.1:1717/OauthRedirect",
];

#[derive(Debug, Clone)]
pub struct Config {
    pub host: String,
    /// 0 picks a free port.
    pub port: u16,
    /// None: no HTTPS listener. Some(0): a free port.
    pub https_port: Option<u16>,
    pub redirect_uris: Vec<String>,
    /// REST query cursors expire after this much idle time.
    pub cursor_idle: Duration,
    /// Bulk jobs report `InProgress` for this long before completing.
    pub job_latency: Duration,
    /// Default Bulk query result page size when `maxRecords` is not given.
    pub bulk_page_size: usize,
    /// The Pub/Sub listeners: over TLS (as Salesforce serves it) and in plaintext. None: off.
    pub pubsub_port: Option<u16>,
    pub pubsub_plain_port: Option<u16>,
    /// An idle subscription gets an empty response this often (270 s at Salesforce).
    pub pubsub_keepalive: Duration,
    /// A subscription with no credit left ends after this long without a request (60 s).
    pub pubsub_idle: Duration,
    /// How long events stay on the bus (72 hours).
    pub event_retention: Duration,
    /// Changes in one transaction past this many become one GAP_OVERFLOW event per object.
    pub cdc_overflow_threshold: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: "127.0.0.1".into(),
            port: 0,
            https_port: Some(0),
            redirect_uris: DEFAULT_REDIRECT_URIS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            cursor_idle: Duration::from_secs(15 * 60),
            job_latency: Duration::ZERO,
            bulk_page_size: 100_000,
            pubsub_port: Some(0),
            pubsub_plain_port: Some(0),
            pubsub_keepalive: Duration::from_secs(270),
            pubsub_idle: Duration::from_secs(60),
            event_retention: Duration::from_secs(72 * 3600),
            cdc_overflow_threshold: 100_000,
        }
    }
}

/// Everything the request handlers share.
pub struct OrgState {
    pub store: RwLock<store::Store>,
    pub auth: Mutex<oauth::Auth>,
    pub cursors: Mutex<Cursors>,
    pub query_jobs: Mutex<QueryJobs>,
    pub ingest_jobs: Mutex<IngestJobs>,
    pub usage: Mutex<Usage>,
    /// Messages the next ingest jobs to close fail with (`Org::fail_ingest_jobs`).
    pub ingest_failures: Mutex<std::collections::VecDeque<String>>,
    pub events: crate::api::pubsub::events::Events,
    pub config: Config,
    pub(crate) urls: Mutex<Vec<String>>,
    /// For work a handler starts and leaves running (a cursor rendering its next page).
    pub this: std::sync::Weak<OrgState>,
}

impl OrgState {
    /// The base URLs the org answers on (http, then https).
    pub fn urls(&self) -> Vec<String> {
        self.urls.lock().clone()
    }
}
