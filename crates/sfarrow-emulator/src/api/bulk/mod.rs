//! Bulk API 2.0: query jobs and ingest jobs.
pub mod ingest;
pub mod query;
