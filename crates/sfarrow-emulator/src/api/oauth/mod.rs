//! OAuth 2.0 as Salesforce serves it (§1): the token endpoint with every grant, authorize with
//! PKCE, revoke, introspect, userinfo and identity URLs, and session lookup for API calls.

use crate::api::state::OrgState;
use crate::data::store::now_millis;
use crate::http::{percent_encode, ApiError, Req, Resp};
use base64::Engine;
use serde_json::json;
use std::collections::HashMap;
use std::time::{Duration, Instant};

const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

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

struct CodeGrant {
    client_id: String,
    redirect_uri: String,
    challenge: Option<String>,
    scope: String,
    created: Instant,
}

struct DeviceGrant {
    client_id: String,
    user_code: String,
    scope: String,
    approved: bool,
}

pub struct Auth {
    pub apps: Vec<App>,
    pub sessions: HashMap<String, Session>,
    pub refresh_tokens: HashMap<String, RefreshGrant>,
    codes: HashMap<String, CodeGrant>,
    devices: HashMap<String, DeviceGrant>,
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

fn oauth_error(status: u16, error: &str, description: &str) -> Resp {
    Resp::json(
        status,
        &json!({"error": error, "error_description": description}),
    )
}

fn invalid_grant(description: &str) -> Resp {
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

    fn app(&self, client_id: &str) -> Option<&App> {
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

    /// The session behind a bearer token, if it is known and not expired.
    pub fn session(&self, token: &str) -> Option<&Session> {
        let s = self.sessions.get(token)?;
        match s.expires {
            Some(t) if Instant::now() >= t => None,
            _ => Some(s),
        }
    }

    fn token_response(
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
fn client_credentials(
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

fn username_to_user(state: &OrgState, username: &str) -> Option<String> {
    let store = state.store.read();
    let t = store.table("User")?;
    let fi = t.def.field_index("Username")?;
    let row = t.row_by_unique(fi, username)?;
    Some(t.rows[row as usize].id().to_string())
}

pub fn token(state: &OrgState, req: &Req) -> Resp {
    if req.method != "POST" {
        return ApiError::method_not_allowed(&req.method).into();
    }
    let form = req.form();
    if form.get("grant_type").map(String::as_str)
        == Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        // No client id in the body: the assertion's `iss` names the app.
        let assertion = form.get("assertion").cloned().unwrap_or_default();
        return jwt_bearer(state, &req.base, &assertion);
    }
    let (client_id, client_secret) = client_credentials(req, &form);
    let mut auth = state.auth.lock();
    let Some(client_id) = client_id else {
        return oauth_error(400, "invalid_client_id", "client identifier invalid");
    };
    let Some(app) = auth.app(&client_id) else {
        return oauth_error(400, "invalid_client_id", "client identifier invalid");
    };
    let secret_ok =
        |given: &Option<String>| given.as_deref().is_none_or(|s| s == app.client_secret);
    if form.get("response_type").map(String::as_str) == Some("device_code") {
        let device_code = random_token(40);
        let user_code = random_token(8).to_uppercase();
        let interval = auth.device_interval;
        auth.devices.insert(
            device_code.clone(),
            DeviceGrant {
                client_id: client_id.clone(),
                user_code: user_code.clone(),
                scope: form
                    .get("scope")
                    .cloned()
                    .unwrap_or_else(|| "api refresh_token".into()),
                approved: false,
            },
        );
        return Resp::json(
            200,
            &json!({
                "device_code": device_code,
                "user_code": user_code,
                "verification_uri": format!("{}/setup/connect", req.base),
                "interval": interval,
            }),
        );
    }
    let grant = form.get("grant_type").cloned().unwrap_or_default();
    let base = req.base.to_string();
    match grant.as_str() {
        "authorization_code" => {
            if !secret_ok(&client_secret) {
                return oauth_error(400, "invalid_client", "invalid client credentials");
            }
            let code = form.get("code").cloned().unwrap_or_default();
            let Some(g) = auth.codes.remove(&code) else {
                return invalid_grant("expired authorization code");
            };
            if g.client_id != client_id || g.created.elapsed() > Duration::from_secs(900) {
                return invalid_grant("expired authorization code");
            }
            if form.get("redirect_uri") != Some(&g.redirect_uri) {
                return oauth_error(
                    400,
                    "redirect_uri_mismatch",
                    "redirect_uri must match configuration",
                );
            }
            if let Some(challenge) = &g.challenge {
                match form.get("code_verifier") {
                    Some(v) if pkce_challenge(v) == *challenge => {}
                    _ => return invalid_grant("invalid code verifier"),
                }
            }
            let user = auth.user_id.clone();
            auth.token_response(&base, &user, &client_id, &g.scope, true)
        }
        "refresh_token" => {
            if !secret_ok(&client_secret) {
                return oauth_error(400, "invalid_client", "invalid client credentials");
            }
            let token = form.get("refresh_token").cloned().unwrap_or_default();
            let Some(g) = auth.refresh_tokens.get(&token) else {
                return invalid_grant("expired access/refresh token");
            };
            if g.client_id != client_id {
                return invalid_grant("expired access/refresh token");
            }
            let (user, scope) = (g.user_id.clone(), g.scope.clone());
            if auth.rotate_refresh_tokens {
                auth.refresh_tokens.remove(&token);
                auth.sessions
                    .retain(|_, s| s.refresh_token.as_deref() != Some(&token));
                return auth.token_response(&base, &user, &client_id, &scope, true);
            }
            let mut resp = auth.token_response(&base, &user, &client_id, &scope, false);
            // Tie the new session to the refresh token, so revoking the token ends it too.
            if let Ok(body) = serde_json::from_slice::<serde_json::Value>(&resp.body) {
                if let Some(s) = body["access_token"]
                    .as_str()
                    .and_then(|a| auth.sessions.get_mut(a))
                {
                    s.refresh_token = Some(token);
                }
            }
            resp.status = 200;
            resp
        }
        "client_credentials" => {
            if client_secret.is_none() || !secret_ok(&client_secret) {
                return oauth_error(400, "invalid_client", "invalid client credentials");
            }
            let user = auth.user_id.clone();
            auth.token_response(&base, &user, &client_id, "api", false)
        }
        "device" => {
            let code = form.get("code").cloned().unwrap_or_default();
            let Some(g) = auth.devices.get_mut(&code) else {
                return invalid_grant("invalid device code");
            };
            if g.client_id != client_id {
                return invalid_grant("invalid device code");
            }
            if !g.approved {
                // The emulated user approves right after the first poll (or on /setup/connect).
                g.approved = true;
                return oauth_error(400, "authorization_pending", "authorization pending");
            }
            let scope = g.scope.clone();
            auth.devices.remove(&code);
            let user = auth.user_id.clone();
            auth.token_response(&base, &user, &client_id, &scope, true)
        }
        "password" => {
            if client_secret.is_none() || !secret_ok(&client_secret) {
                return oauth_error(400, "invalid_client", "invalid client credentials");
            }
            let username = form.get("username").cloned().unwrap_or_default();
            let known = username.eq_ignore_ascii_case(&auth.username);
            if !known || form.get("password").is_none_or(String::is_empty) {
                return invalid_grant("authentication failure");
            }
            let user = auth.user_id.clone();
            auth.token_response(&base, &user, &client_id, "api", false)
        }
        _ => oauth_error(400, "unsupported_grant_type", "grant type not supported"),
    }
}

#[derive(serde::Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    prn: Option<String>,
    aud: Option<serde_json::Value>,
    exp: Option<f64>,
}

fn jwt_bearer(state: &OrgState, base: &str, assertion: &str) -> Resp {
    use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
    // Read claims before verifying, to answer unknown-client and audience errors as Salesforce does.
    let Some(payload) = assertion.split('.').nth(1) else {
        return invalid_grant("invalid assertion");
    };
    let Some(claims) = B64URL
        .decode(payload.trim_end_matches('='))
        .ok()
        .and_then(|b| serde_json::from_slice::<Claims>(&b).ok())
    else {
        return invalid_grant("invalid assertion");
    };
    let mut auth = state.auth.lock();
    let Some(app) = claims.iss.as_deref().and_then(|iss| auth.app(iss)) else {
        return oauth_error(400, "invalid_client_id", "client identifier invalid");
    };
    let client_id = app.client_id.clone();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let verified = app.jwt_keys.iter().any(|pem| {
        DecodingKey::from_rsa_pem(pem.as_bytes())
            .ok()
            .is_some_and(|key| decode::<serde_json::Value>(assertion, &key, &validation).is_ok())
    });
    if !verified {
        return invalid_grant("invalid assertion");
    }
    let audiences: Vec<String> = match &claims.aud {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    };
    let accepted = |aud: &str| {
        let aud = aud.trim_end_matches('/');
        aud == "https://login.salesforce.com"
            || aud == "https://test.salesforce.com"
            || state.urls().iter().any(|u| u == aud)
    };
    if !audiences.iter().any(|a| accepted(a)) {
        return invalid_grant("audience is invalid");
    }
    let now = now_millis() as f64 / 1000.0;
    if claims.exp.is_none_or(|exp| exp <= now) {
        return invalid_grant("expired authorization code");
    }
    let username = claims.prn.or(claims.sub).unwrap_or_default();
    drop(auth);
    let Some(user) = username_to_user(state, &username) else {
        return invalid_grant("user hasn't approved this consumer");
    };
    auth = state.auth.lock();
    auth.token_response(base, &user, &client_id, "api", false)
}

fn html_error(status: u16, error: &str, description: &str) -> Resp {
    let body = format!(
        "<html><head><title>Error</title></head><body><h1>error={error}</h1><p>error_description={description}</p></body></html>"
    );
    Resp::new(status, "text/html;charset=UTF-8", body.into_bytes())
}

fn redirect(location: String) -> Resp {
    let mut r = Resp::empty(302);
    r.headers.push(("location", location));
    r
}

pub fn authorize(state: &OrgState, req: &Req) -> Resp {
    let p = req.params();
    let get = |k: &str| p.get(k).cloned().unwrap_or_default();
    let mut auth = state.auth.lock();
    let client_id = get("client_id");
    let Some(app) = auth.app(&client_id) else {
        return html_error(400, "invalid_client_id", "client identifier invalid");
    };
    let redirect_uri = get("redirect_uri");
    if !app.redirect_uris.contains(&redirect_uri) {
        return html_error(
            400,
            "redirect_uri_mismatch",
            "redirect_uri must match configuration",
        );
    }
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    let state_param = p
        .get("state")
        .map(|s| format!("&state={}", percent_encode(s)))
        .unwrap_or_default();
    let fail = |error: &str, description: &str| {
        redirect(format!(
            "{redirect_uri}{sep}error={error}&error_description={}{state_param}",
            percent_encode(description)
        ))
    };
    let method = p.get("code_challenge_method").map(String::as_str);
    if !matches!(method, None | Some("S256")) {
        return fail("invalid_request", "code_challenge_method must be S256");
    }
    let scope = p
        .get("scope")
        .cloned()
        .unwrap_or_else(|| "api refresh_token".into());
    match get("response_type").as_str() {
        "code" => {
            let code = format!("aPrx{}", random_token(60));
            auth.codes.insert(
                code.clone(),
                CodeGrant {
                    client_id,
                    redirect_uri: redirect_uri.clone(),
                    challenge: p.get("code_challenge").cloned(),
                    scope,
                    created: Instant::now(),
                },
            );
            redirect(format!(
                "{redirect_uri}{sep}code={}{state_param}",
                percent_encode(&code)
            ))
        }
        "token" => {
            let user = auth.user_id.clone();
            let (access, issued_at) = auth.issue_session(&user, &client_id, &scope, None, true);
            let id_url = format!("{}/id/{}/{user}", req.base, auth.org_id);
            redirect(format!(
                "{redirect_uri}#access_token={}&instance_url={}&id={}&issued_at={issued_at}&token_type=Bearer&scope={}{state_param}",
                percent_encode(&access),
                percent_encode(&req.base),
                percent_encode(&id_url),
                percent_encode(&scope)
            ))
        }
        _ => fail("unsupported_response_type", "response type not supported"),
    }
}

/// `/setup/connect?user_code=...`: the page a device-flow user visits; visiting approves.
pub fn device_approve(state: &OrgState, req: &Req) -> Resp {
    let code = req.param("user_code").unwrap_or_default();
    let mut auth = state.auth.lock();
    let found = auth
        .devices
        .values_mut()
        .find(|d| d.user_code.eq_ignore_ascii_case(&code));
    match found {
        Some(d) => {
            d.approved = true;
            Resp::new(
                200,
                "text/html;charset=UTF-8",
                b"<html><body>Approved. You can close this window.</body></html>".to_vec(),
            )
        }
        None => Resp::new(
            200,
            "text/html;charset=UTF-8",
            b"<html><body>Enter the code shown on your device.</body></html>".to_vec(),
        ),
    }
}

pub fn revoke(state: &OrgState, req: &Req) -> Resp {
    let mut form = req.form();
    form.extend(req.params());
    let token = form.get("token").cloned().unwrap_or_default();
    let mut auth = state.auth.lock();
    if auth.refresh_tokens.remove(&token).is_some() {
        auth.sessions
            .retain(|_, s| s.refresh_token.as_deref() != Some(token.as_str()));
        return Resp::empty(200);
    }
    if auth.sessions.remove(&token).is_some() {
        return Resp::empty(200);
    }
    oauth_error(400, "invalid_token", "invalid token")
}

pub fn introspect(state: &OrgState, req: &Req) -> Resp {
    let form = req.form();
    let (client_id, client_secret) = client_credentials(req, &form);
    let auth = state.auth.lock();
    let app_ok = client_id
        .as_deref()
        .and_then(|c| auth.app(c))
        .is_some_and(|a| client_secret.as_deref() == Some(a.client_secret.as_str()));
    if !app_ok {
        return oauth_error(401, "invalid_client", "invalid client credentials");
    }
    let token = form.get("token").cloned().unwrap_or_default();
    let sub = |user: &str| format!("{}/id/{}/{user}", req.base, auth.org_id);
    if let Some(s) = auth.session(&token) {
        let iat = s.issued_at / 1000;
        let exp = s
            .expires
            .map(|e| iat + e.saturating_duration_since(Instant::now()).as_secs() as i64)
            .unwrap_or(iat + 7200);
        return Resp::json(
            200,
            &json!({"active": true, "scope": s.scope, "client_id": s.client_id, "username": auth.username, "sub": sub(&s.user_id), "token_type": "access_token", "exp": exp, "iat": iat, "nbf": iat}),
        );
    }
    if let Some(g) = auth.refresh_tokens.get(&token) {
        return Resp::json(
            200,
            &json!({"active": true, "scope": g.scope, "client_id": g.client_id, "username": auth.username, "sub": sub(&g.user_id), "token_type": "refresh_token"}),
        );
    }
    Resp::json(200, &json!({"active": false}))
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

/// `version=latest|XX.X` fills the `{version}` placeholder in the returned URLs.
fn user_json(
    state: &OrgState,
    base: &str,
    user_id: &str,
    version: Option<String>,
) -> serde_json::Value {
    let version = version.map(|v| {
        if v == "latest" {
            format!("{}.0", crate::api::state::MAX_VERSION)
        } else {
            v
        }
    });
    let fill = |p: &str| match &version {
        Some(v) => p.replace("{version}", v),
        None => p.to_string(),
    };
    let auth = state.auth.lock();
    let id_url = format!("{base}/id/{}/{user_id}", auth.org_id);
    let urls: serde_json::Map<String, serde_json::Value> = [
        ("enterprise", "/services/Soap/c/{version}/"),
        ("metadata", "/services/Soap/m/{version}/"),
        ("partner", "/services/Soap/u/{version}/"),
        ("rest", "/services/data/v{version}/"),
        ("sobjects", "/services/data/v{version}/sobjects/"),
        ("search", "/services/data/v{version}/search/"),
        ("query", "/services/data/v{version}/query/"),
        ("recent", "/services/data/v{version}/recent/"),
        ("profile", "/"),
    ]
    .into_iter()
    .map(|(k, p)| (k.to_string(), json!(format!("{base}{}", fill(p)))))
    .collect();
    json!({
        "id": id_url,
        "sub": id_url,
        "asserted_user": true,
        "user_id": user_id,
        "organization_id": auth.org_id,
        "username": auth.username,
        "preferred_username": auth.username,
        "nick_name": "admin",
        "nickname": "admin",
        "display_name": "Emulator Admin",
        "name": "Emulator Admin",
        "email": auth.username,
        "email_verified": true,
        "first_name": "Emulator",
        "given_name": "Emulator",
        "last_name": "Admin",
        "family_name": "Admin",
        "timezone": "GMT",
        "zoneinfo": "GMT",
        "urls": urls,
        "active": true,
        "user_type": "STANDARD",
        "language": "en_US",
        "locale": "en_US",
        "utcOffset": 0,
        "is_app_installed": true,
        "updated_at": "2024-01-01T00:00:00Z",
    })
}

pub fn userinfo(state: &OrgState, req: &Req) -> Resp {
    let user = {
        let auth = state.auth.lock();
        bearer(req).and_then(|t| auth.session(&t).map(|s| s.user_id.clone()))
    };
    match user {
        Some(u) => Resp::json(200, &user_json(state, &req.base, &u, req.param("version"))),
        None => oauth_error(403, "Bad_OAuth_Token", "Bad OAuth Token"),
    }
}

pub fn identity(state: &OrgState, req: &Req, org: &str, user: &str) -> Resp {
    let ok = {
        let auth = state.auth.lock();
        bearer(req)
            .and_then(|t| auth.session(&t).map(|s| s.user_id.clone()))
            .is_some()
            && org == auth.org_id
    };
    if !ok {
        return oauth_error(403, "Bad_OAuth_Token", "Bad OAuth Token");
    }
    Resp::json(
        200,
        &user_json(state, &req.base, user, req.param("version")),
    )
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
