//! OAuth grants that produce a session, and the token endpoint call they share (§1).

use super::environment::{redact, Environment};
use super::retry::{Attempts, RetryPolicy};
use super::secret::Secret;
use crate::error::{Error, Result};
use parking_lot::Mutex;
use serde::Deserialize;

/// What the token endpoint answers on success.
#[derive(Debug, Clone)]
pub struct Token {
    pub access_token: Secret,
    pub instance_url: String,
    pub id: Option<String>,
    pub refresh_token: Option<Secret>,
    pub issued_at: Option<i64>,
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: String,
    instance_url: String,
    id: Option<String>,
    refresh_token: Option<String>,
    issued_at: Option<String>,
}

#[derive(Deserialize)]
struct OAuthError {
    error: Option<String>,
    error_description: Option<String>,
}

/// How a session is (re)made.
pub enum Grant {
    /// A session id the caller already has: it cannot be renewed.
    Session,
    Jwt {
        client_id: String,
        username: String,
        key: jsonwebtoken::EncodingKey,
        audience: String,
        /// Seconds until the assertion expires; Salesforce asks for at most 3 minutes.
        lifetime: i64,
    },
    /// Holds the refresh token in a mutex: with rotation, each renewal brings a new one.
    RefreshToken {
        client_id: String,
        client_secret: Option<Secret>,
        refresh_token: Mutex<Secret>,
    },
    ClientCredentials {
        client_id: String,
        client_secret: Secret,
    },
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

impl Grant {
    pub fn kind(&self) -> &'static str {
        match self {
            Grant::Session => "session",
            Grant::Jwt { .. } => "jwt",
            Grant::RefreshToken { .. } => "refresh_token",
            Grant::ClientCredentials { .. } => "client_credentials",
        }
    }

    pub fn jwt(
        client_id: &str,
        username: &str,
        private_key_pem: &str,
        audience: String,
        lifetime: i64,
    ) -> Result<Grant> {
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(private_key_pem.as_bytes()).map_err(|_| {
            Error::config("private_key is not an RSA private key in PEM form (BEGIN PRIVATE KEY or BEGIN RSA PRIVATE KEY)")
        })?;
        Ok(Grant::Jwt {
            client_id: client_id.into(),
            username: username.into(),
            key,
            audience,
            lifetime,
        })
    }

    /// Asks the token endpoint for a new session. `None` for a grant that cannot renew.
    pub async fn fetch(
        &self,
        http: &reqwest::Client,
        env: &Environment,
        retry: &RetryPolicy,
    ) -> Result<Option<Token>> {
        let mut form: Vec<(&str, String)> = Vec::new();
        let mut basic = None;
        match self {
            Grant::Session => return Ok(None),
            Grant::Jwt {
                client_id,
                username,
                key,
                audience,
                lifetime,
            } => {
                #[derive(serde::Serialize)]
                struct Claims<'a> {
                    iss: &'a str,
                    sub: &'a str,
                    aud: &'a str,
                    exp: i64,
                }
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0);
                let claims = Claims {
                    iss: client_id,
                    sub: username,
                    aud: audience,
                    exp: now + lifetime,
                };
                let assertion = jsonwebtoken::encode(
                    &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
                    &claims,
                    key,
                )
                .map_err(|e| Error::config(format!("could not sign the JWT assertion: {e}")))?;
                form.push((
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:jwt-bearer".into(),
                ));
                form.push(("assertion", assertion));
            }
            Grant::RefreshToken {
                client_id,
                client_secret,
                refresh_token,
            } => {
                form.push(("grant_type", "refresh_token".into()));
                form.push(("client_id", client_id.clone()));
                form.push(("refresh_token", refresh_token.lock().expose().to_string()));
                if let Some(s) = client_secret {
                    form.push(("client_secret", s.expose().to_string()));
                }
            }
            Grant::ClientCredentials {
                client_id,
                client_secret,
            } => {
                form.push(("grant_type", "client_credentials".into()));
                basic = Some((client_id.clone(), client_secret.expose().to_string()));
            }
        }
        let token = request_token(http, env, &form, basic, retry).await?;
        if let (Grant::RefreshToken { refresh_token, .. }, Some(new)) = (self, &token.refresh_token)
        {
            *refresh_token.lock() = new.clone();
        }
        Ok(Some(token))
    }
}

/// POSTs a form to the token endpoint; the body of a success, or Salesforce's
/// `{error, error_description}` as an authentication error.
///
/// The token endpoint fails like any other: a refused (5xx, 429) or lost answer is asked again
/// per the retry policy. Asking twice is harmless: at worst the first token goes unused (and a
/// one-time code, spent by a lost first answer, is then refused as `invalid_grant`).
pub async fn post_token_form(
    http: &reqwest::Client,
    env: &Environment,
    form: &[(&str, String)],
    basic: Option<(String, String)>,
    retry: &RetryPolicy,
) -> Result<bytes::Bytes> {
    let mut attempts = Attempts::new(*retry);
    loop {
        let mut req = http
            .post(env.token_url())
            .form(form)
            .header("accept", "application/json");
        if let Some((id, secret)) = &basic {
            req = req.basic_auth(id, Some(secret));
        }
        let answer = match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                resp.bytes().await.map(|body| (status, body))
            }
            Err(e) => Err(e),
        };
        let (status, body) = match answer {
            Ok(a) => a,
            Err(e) => {
                if attempts.again().await {
                    continue;
                }
                return Err(transport(&e, &env.login_url));
            }
        };
        let unavailable = status >= 500 || matches!(status, 420 | 429);
        if unavailable && attempts.again().await {
            continue;
        }
        if status < 400 {
            return Ok(body);
        }
        let (code, message) = match serde_json::from_slice::<OAuthError>(&body) {
            Ok(e) => (
                e.error.unwrap_or_else(|| format!("ERROR_HTTP_{status}")),
                e.error_description.unwrap_or_default(),
            ),
            Err(_) => (
                format!("ERROR_HTTP_{status}"),
                "the token endpoint did not answer with JSON".into(),
            ),
        };
        if unavailable {
            // Still down after every retry: the server's fault, not the credentials'.
            return Err(Error::Api {
                status,
                code,
                message: format!(
                    "the token endpoint of {} is unavailable ({message}); try again later",
                    redact(&env.login_url)
                ),
                fields: Vec::new(),
            });
        }
        return Err(Error::Authentication {
            status,
            code,
            message,
        });
    }
}

/// POSTs a grant to the token endpoint and parses the session it returns.
pub async fn request_token(
    http: &reqwest::Client,
    env: &Environment,
    form: &[(&str, String)],
    basic: Option<(String, String)>,
    retry: &RetryPolicy,
) -> Result<Token> {
    let body = post_token_form(http, env, form, basic, retry).await?;
    let t: TokenBody = serde_json::from_slice(&body).map_err(|e| {
        Error::protocol(format!(
            "token response without access_token/instance_url: {e}"
        ))
    })?;
    super::environment::check_url(&t.instance_url)?;
    Ok(Token {
        access_token: Secret::new(t.access_token),
        instance_url: t.instance_url.trim_end_matches('/').to_string(),
        id: t.id,
        refresh_token: t.refresh_token.map(Secret::new),
        issued_at: t.issued_at.and_then(|s| s.parse().ok()),
    })
}

/// A network error, described without anything from the request but the host.
pub fn transport(e: &reqwest::Error, host: &str) -> Error {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the response body was cut short"
    } else {
        "the request failed"
    };
    let mut cause = String::new();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        cause = s.to_string();
        src = s.source();
    }
    // Only scheme, host and port: a user, password, path or query could carry anything.
    let base = redact(host);
    if cause.is_empty() {
        Error::transport(format!("{what} ({base})"))
    } else {
        Error::transport(format!("{what} ({base}): {cause}"))
    }
}
