//! The org's daily API allowance (`Sforce-Limit-Info`, 403 `REQUEST_LIMIT_EXCEEDED`) and the
//! Bulk counters `/limits` reports.

pub struct Usage {
    pub api_max: u64,
    pub api_used: u64,
    /// Bulk API 2.0 query jobs created, for `DailyBulkV2QueryJobs`.
    pub bulk_query_jobs: u64,
    /// Ingest batches (10,000 records each, at least one a job), for `DailyBulkApiBatches`.
    pub bulk_batches: u64,
}

impl Default for Usage {
    fn default() -> Self {
        Usage {
            api_max: 100_000,
            api_used: 0,
            bulk_query_jobs: 0,
            bulk_batches: 0,
        }
    }
}

impl Usage {
    /// Counts one API call; false when the daily allowance is spent.
    pub fn charge_api_call(&mut self) -> bool {
        if self.api_used >= self.api_max {
            return false;
        }
        self.api_used += 1;
        true
    }

    pub fn limit_info(&self) -> String {
        format!("api-usage={}/{}", self.api_used, self.api_max)
    }
}
