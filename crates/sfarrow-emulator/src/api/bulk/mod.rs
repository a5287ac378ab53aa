//! Bulk API 2.0: query jobs and ingest jobs, and what they share (`jobs`).
pub mod ingest;
pub mod ingest_rows;
pub mod jobs;
pub mod query;
