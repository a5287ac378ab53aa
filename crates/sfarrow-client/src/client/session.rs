//! The current session and its renewal: on an expired session, exactly one renewal runs however
//! many requests noticed at once; the others wait for it and replay with the new token.

use super::environment::Environment;
use super::grant::{Grant, Token};
use super::retry::RetryPolicy;
use super::secret::Secret;
use crate::error::{Error, Result};
use parking_lot::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Told about every new token (with rotation, the refresh token changes too).
pub struct TokenEvent {
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    pub instance_url: String,
}

pub type TokenCallback = Arc<dyn Fn(&TokenEvent) + Send + Sync>;

struct Current {
    token: Secret,
    instance_url: String,
    id_url: Option<String>,
    generation: u64,
}

pub struct Session {
    grant: Grant,
    env: Option<Environment>,
    current: RwLock<Current>,
    renewing: tokio::sync::Mutex<()>,
    on_token: Option<TokenCallback>,
    renewals: AtomicU64,
    retry: RetryPolicy,
}

impl Session {
    pub fn new(
        grant: Grant,
        env: Option<Environment>,
        first: Token,
        on_token: Option<TokenCallback>,
        retry: RetryPolicy,
    ) -> Session {
        Session {
            grant,
            env,
            current: RwLock::new(Current {
                token: first.access_token,
                instance_url: first.instance_url,
                id_url: first.id,
                generation: 0,
            }),
            renewing: tokio::sync::Mutex::new(()),
            on_token,
            renewals: AtomicU64::new(0),
            retry,
        }
    }

    /// (token, instance URL, generation) to send a request with.
    pub fn current(&self) -> (Secret, String, u64) {
        let c = self.current.read();
        (c.token.clone(), c.instance_url.clone(), c.generation)
    }

    pub fn instance_url(&self) -> String {
        self.current.read().instance_url.clone()
    }

    pub fn id_url(&self) -> Option<String> {
        self.current.read().id_url.clone()
    }

    pub fn grant_kind(&self) -> &'static str {
        self.grant.kind()
    }

    pub fn renewals(&self) -> u64 {
        self.renewals.load(Ordering::Relaxed)
    }

    /// Renews the session that had `seen` as its generation; a no-op if another request already
    /// renewed it.
    pub async fn renew(&self, http: &reqwest::Client, seen: u64) -> Result<()> {
        let _one_at_a_time = self.renewing.lock().await;
        if self.current.read().generation != seen {
            return Ok(());
        }
        let Some(env) = &self.env else {
            return Err(cannot_renew());
        };
        let token = self
            .grant
            .fetch(http, env, &self.retry)
            .await?
            .ok_or_else(cannot_renew)?;
        {
            let mut c = self.current.write();
            c.token = token.access_token.clone();
            c.instance_url = token.instance_url.clone();
            if token.id.is_some() {
                c.id_url = token.id.clone();
            }
            c.generation += 1;
        }
        self.renewals.fetch_add(1, Ordering::Relaxed);
        if let Some(cb) = &self.on_token {
            cb(&TokenEvent {
                access_token: token.access_token,
                refresh_token: token.refresh_token,
                instance_url: token.instance_url,
            });
        }
        Ok(())
    }
}

fn cannot_renew() -> Error {
    Error::Authentication {
        status: 401,
        code: "INVALID_SESSION_ID".into(),
        message: "the session expired or was revoked, and this connection cannot renew it because it was made from an access token; connect with jwt, refresh_token or client_credentials to renew automatically".into(),
    }
}
