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

/// Whether a request that failed may be sent again: one the server never received (no
/// connection was made) or refused without applying it (503, 429, 420), or one that is safe to
/// apply twice. The one place this is decided; a request sent whose answer was lost is
/// otherwise never repeated.
pub fn may_resend(idempotent: bool, never_sent: bool) -> bool {
    idempotent || never_sent
}

/// One operation's attempts under the retry policy, for every loop in the client that tries
/// again (HTTP calls, a Bulk page fetched again, token requests, uploads, rows locked by
/// another transaction, Pub/Sub calls and subscriptions): failures in a row, each followed by
/// the policy's pause, at most the policy's attempts; and the session's renewals after a
/// refusal, the first at once and later ones after the same pauses, bounded the same way. A
/// success gives both budgets back.
#[derive(Debug, Clone)]
pub struct Attempts {
    policy: RetryPolicy,
    failures: u32,
    renewals: u32,
    max_renewals: u32,
}

impl Attempts {
    pub fn new(policy: RetryPolicy) -> Self {
        Attempts {
            policy,
            failures: 0,
            renewals: 0,
            max_renewals: policy.attempts.max(1),
        }
    }

    /// At most `n` renewals in a row (an HTTP call renews once, then reports the refusal).
    pub fn renewals_at_most(mut self, n: u32) -> Self {
        self.max_renewals = n;
        self
    }

    /// Failures so far in a row.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Renewals so far in a row.
    pub fn renewals(&self) -> u32 {
        self.renewals
    }

    /// Counts a failure: the pause before the next attempt, or `None` when the attempts are
    /// spent.
    pub fn failed(&mut self) -> Option<std::time::Duration> {
        self.failures += 1;
        (self.failures < self.policy.attempts).then(|| self.policy.delay(self.failures))
    }

    /// Counts a failure and waits out its pause: `false` when the attempts are spent.
    pub async fn again(&mut self) -> bool {
        match self.failed() {
            Some(pause) => {
                tokio::time::sleep(pause).await;
                true
            }
            None => false,
        }
    }

    /// The operation got through: the next failure or refusal starts a new count.
    pub fn succeeded(&mut self) {
        self.failures = 0;
        self.renewals = 0;
    }

    /// Renews the session (`renew`) after a refusal: `Ok(false)` when the renewals are spent,
    /// without renewing (the caller reports the refusal).
    pub async fn renew<F>(&mut self, renew: F) -> crate::client::Result<bool>
    where
        F: std::future::Future<Output = crate::client::Result<()>>,
    {
        if self.renewals >= self.max_renewals {
            return Ok(false);
        }
        if self.renewals > 0 {
            tokio::time::sleep(self.policy.delay(self.renewals)).await;
        }
        self.renewals += 1;
        renew.await.map(|()| true)
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

    #[test]
    fn attempts_are_bounded_and_given_back_by_a_success() {
        let policy = RetryPolicy {
            attempts: 3,
            base: Duration::from_millis(1),
            max: Duration::from_millis(1),
        };
        let mut a = Attempts::new(policy);
        assert!(a.failed().is_some() && a.failed().is_some());
        assert!(
            a.failed().is_none(),
            "the third failure of three attempts is the last"
        );
        a.succeeded();
        assert_eq!(a.failures(), 0);
        assert!(a.failed().is_some());
    }

    #[test]
    fn renewals_are_bounded() {
        let policy = RetryPolicy {
            attempts: 2,
            base: Duration::from_millis(1),
            max: Duration::from_millis(1),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let mut a = Attempts::new(policy);
        let renewed = rt.block_on(async {
            let mut n = 0;
            while a.renew(async { Ok(()) }).await.unwrap() {
                n += 1;
            }
            n
        });
        assert_eq!(renewed, 2);
        let mut once = Attempts::new(policy).renewals_at_most(1);
        assert!(rt.block_on(once.renew(async { Ok(()) })).unwrap());
        assert!(!rt.block_on(once.renew(async { Ok(()) })).unwrap());
    }
}
