//! What a caller may ask of a read: which API, deleted records, and the sizes that bound its
//! memory.

pub use crate::client::Api;
use crate::client::{Error, Result};

#[derive(Debug, Clone)]
pub struct ReadOptions {
    pub api: Api,
    pub include_deleted: bool,
    /// Automatic choice: Bulk at or above this many records.
    pub bulk_threshold: u64,
    /// Rows per Bulk result page (`maxRecords`).
    pub bulk_page_size: usize,
    /// Bulk result pages downloaded at once.
    pub parallel: usize,
    /// Batches buffered between the downloader and the consumer.
    pub buffer: usize,
}

impl ReadOptions {
    /// Options from a caller's values, checked.
    pub fn new(
        api: &str,
        include_deleted: bool,
        bulk_threshold: u64,
        bulk_page_size: usize,
        parallel: usize,
    ) -> Result<ReadOptions> {
        if bulk_page_size == 0 || parallel == 0 {
            return Err(Error::config(
                "bulk_page_size and parallel must be at least 1",
            ));
        }
        Ok(ReadOptions {
            api: Api::parse(api)?,
            include_deleted,
            bulk_threshold,
            bulk_page_size,
            parallel,
            ..ReadOptions::default()
        })
    }
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            api: Api::Auto,
            include_deleted: false,
            bulk_threshold: crate::defaults::BULK_THRESHOLD,
            bulk_page_size: crate::defaults::BULK_PAGE_SIZE,
            parallel: crate::defaults::PARALLEL,
            buffer: 2,
        }
    }
}
