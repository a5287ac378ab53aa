//! The one retry policy: exponential backoff with jitter for transient failures.

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    pub base: Duration,
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: crate::defaults::RETRIES + 1,
            base: Duration::from_millis(250),
            max: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    /// The pause before attempt `n` (1 = the first retry): base·2^(n-1), capped, with ±25% jitter
    /// so that parallel requests that failed together do not retry together.
    pub fn delay(&self, n: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << n.saturating_sub(1).min(16));
        let capped = exp.min(self.max);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let jitter = 0.75 + (nanos % 1000) as f64 / 2000.0;
        capped.mul_f64(jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let p = RetryPolicy::default();
        assert!(p.delay(1) <= Duration::from_millis(313));
        assert!(p.delay(3) >= Duration::from_millis(750));
        assert!(p.delay(30) <= Duration::from_secs(10));
    }
}
