//! Every default of the client, in one place. The `Default` impls of the options read these,
//! and the Python package reads them through the binding (`_sfarrow.defaults()`) into its
//! public signatures: no layer keeps a default of its own that could drift from another's.

/// The REST API version a connection asks for (checked against the org at connect time).
pub const API_VERSION: &str = "58.0";
/// Seconds a request may take, answer included.
pub const REQUEST_TIMEOUT_SECS: u64 = 300;
/// Attempts after the first for a transient failure.
pub const RETRIES: u32 = 4;
/// Ask for gzip-compressed answers.
pub const GZIP: bool = true;
/// Salesforce's Pub/Sub API endpoint, the same for every org.
pub const PUBSUB_URL: &str = "api.pubsub.salesforce.com:7443";

/// Reads: which API (`auto` chooses by the record count).
pub const READ_API: &str = "auto";
/// Reads: Bulk API 2.0 at or above this many records.
pub const BULK_THRESHOLD: u64 = 1_000_000;
/// Reads: rows per Bulk result page (`maxRecords`).
pub const BULK_PAGE_SIZE: usize = 25_000;
/// Reads: Bulk result pages downloaded at once.
pub const PARALLEL: usize = 4;

/// Writes: which API (`auto` chooses by the row count).
pub const WRITE_API: &str = "auto";
/// Writes: Bulk API 2.0 ingest at or above this many rows.
pub const WRITE_BULK_THRESHOLD: usize = 1000;
/// Writes: sObject Collections calls in flight.
pub const WRITE_PARALLEL: usize = 4;
/// Writes: CSV bytes per Bulk ingest job (Salesforce takes about 100 MB).
pub const MAX_JOB_BYTES: usize = 50 * 1024 * 1024;
