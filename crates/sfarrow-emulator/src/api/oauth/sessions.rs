//! The org's OAuth state: the connected app, sessions (access tokens), refresh tokens, pending
//! authorization codes and device grants, how a token response is made, and how a request's
//! bearer token is read. The endpoints in the other files act on it.

use crate::data::store::now_millis;
use crate::http::{Req, Resp};
use base64::Engine;
use serde_json::json;
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub(super) const B64URL: base64::engine::GeneralPurpose =
    base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub(super) const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

pub struct App {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uris: Vec<String>,
    /// PEM public keys or certificates trusted for JWT bearer assertions.
    pub jwt_keys: Vec<String>,
}

pub struct Session {
    pub user_id: String,
    pub client_id: String,
    pub expires: Option<Instant>,
    pub refresh_token: Option<String>,
    pub scope: String,
    pub issued_at: i64,
}

pub struct RefreshGrant {
    pub user_id: String,
    pub client_id: String,
    pub scope: String,
}

pub(super) struct CodeGrant {
    pub(super) client_id: String,
    pub(super) redirect_uri: String,
    pub(super) challenge: Option<String>,
    pub(super) scope: String,
    pub(super) created: Instant,
}

pub(super) struct DeviceGrant {
    pub(super) client_id: String,
    pub(super) user_code: String,
    pub(super) scope: String,
    pub(super) approved: bool,
}

pub struct Auth {
    pub apps: Vec<App>,
    pub sessions: HashMap<String, Session>,
    pub refresh_tokens: HashMap<String, RefreshGrant>,
    pub(super) codes: HashMap<String, CodeGrant>,
    pub(super) devices: HashMap<String, DeviceGrant>,
    pub token_lifetime: Option<Duration>,
    pub rotate_refresh_tokens: bool,
    pub device_interval: u64,
    pub org_id: String,
    pub user_id: String,
    pub username: String,
}

pub fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut bytes = vec![0u8; len];
    // The system RNG does not fail on supported platforms; a zeroed buffer still yields a token.
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

pub(super) fn oauth_error(status: u16, error: &str, description: &str) -> Resp {
    Resp::json(
        status,
        &json!({"error": error, "error_description": description}),
    )
}

pub(super) fn invalid_grant(description: &str) -> Resp {
    oauth_error(400, "invalid_grant", description)
}

impl Auth {
    pub fn new(org_id: String, user_id: String, username: String, app: App) -> Self {
        Auth {
            apps: vec![app],
            sessions: HashMap::new(),
            refresh_tokens: HashMap::new(),
            codes: HashMap::new(),
            devices: HashMap::new(),
            token_lifetime: None,
            rotate_refresh_tokens: false,
            device_interval: 1,
            org_id,
            user_id,
            username,
        }
    }

    pub(super) fn app(&self, client_id: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.client_id == client_id)
    }

    /// A new session id in Salesforce's shape: `00D<org15>!<opaque>`.
    pub fn issue_session(
        &mut self,
        user_id: &str,
        client_id: &str,
        scope: &str,
        refresh: Option<String>,
        expires: bool,
    ) -> (String, i64) {
        let token = format!("{}!{}", &self.org_id[..15], random_token(96));
        let issued_at = now_millis();
        let expires = if expires {
            self.token_lifetime.map(|d| Instant::now() + d)
        } else {
            None
        };
        self.sessions.insert(
            token.clone(),
            Session {
                user_id: user_id.into(),
                client_id: client_id.into(),
                expires,
                refresh_token: refresh,
                scope: scope.into(),
                issued_at,
            },
        );
        (token, issued_at)
    }

    /// Ends a session (a test control: the token stops working at once).
    pub fn end_session(&mut self, token: &str) -> bool {
        self.sessions.remove(token).is_some()
    }

    /// Every session issued so far expires now (a test control: as if their lifetime had run
    /// out); refresh tokens stay good, so a client that can renew does.
    pub fn expire_sessions(&mut self) {
        let now = Instant::now();
        for s in self.sessions.values_mut() {
            s.expires = Some(now);
        }
    }

    /// The session behind a bearer token, if it is known and not expired.
    pub fn session(&self, token: &str) -> Option<&Session> {
        let s = self.sessions.get(token)?;
        match s.expires {
            Some(t) if Instant::now() >= t => None,
            _ => Some(s),
        }
    }

    pub(super) fn token_response(
        &mut self,
        base: &str,
        user_id: &str,
        client_id: &str,
        scope: &str,
        with_refresh: bool,
    ) -> Resp {
        let refresh = with_refresh.then(|| {
            let r = format!("5Aep861{}", random_token(80));
            self.refresh_tokens.insert(
                r.clone(),
                RefreshGrant {
                    user_id: user_id.into(),
                    client_id: client_id.into(),
                    scope: scope.into(),
                },
            );
            r
        });
        let (access, issued_at) =
            self.issue_session(user_id, client_id, scope, refresh.clone(), true);
        let id_url = format!("{base}/id/{}/{user_id}", self.org_id);
        let secret = self
            .app(client_id)
            .map(|a| a.client_secret.clone())
            .unwrap_or_default();
        let mut body = json!({
            "access_token": access,
            "signature": sign(&secret, &format!("{id_url}{issued_at}")),
            "scope": scope,
            "instance_url": base,
            "id": id_url,
            "token_type": "Bearer",
            "issued_at": issued_at.to_string(),
        });
        if let Some(r) = refresh {
            body["refresh_token"] = json!(r);
        }
        Resp::json(200, &body)
    }
}

/// Base64 HMAC-SHA256 of `data` keyed with the client secret: the token response `signature`.
pub fn sign(secret: &str, data: &str) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    B64.encode(aws_lc_rs::hmac::sign(&key, data.as_bytes()).as_ref())
}

pub fn pkce_challenge(verifier: &str) -> String {
    B64URL
        .encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref())
}

/// Client id and secret from the form body or an `Authorization: Basic` header.
pub(super) fn client_credentials(
    req: &Req,
    form: &HashMap<String, String>,
) -> (Option<String>, Option<String>) {
    if let Some(basic) = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Basic "))
    {
        if let Some(decoded) = B64
            .decode(basic.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
        {
            if let Some((id, secret)) = decoded.split_once(':') {
                return (
                    Some(crate::http::percent_decode(id.as_bytes())),
                    Some(crate::http::percent_decode(secret.as_bytes())),
                );
            }
        }
    }
    (
        form.get("client_id").cloned(),
        form.get("client_secret").cloned(),
    )
}

/// The bearer token of a request: `Authorization: Bearer`/`OAuth`, or `?oauth_token=`.
pub fn bearer(req: &Req) -> Option<String> {
    if let Some(h) = req.header("authorization") {
        let (scheme, token) = h.split_once(' ')?;
        if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth") {
            return Some(token.trim().to_string());
        }
        return None;
    }
    req.param("oauth_token")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_rfc7636_vector() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
