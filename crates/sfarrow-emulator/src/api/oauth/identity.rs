//! What a client asks about a token: revoke (§1.10), introspect (§1.11), userinfo and the
//! identity URL `/id/{org}/{user}` (§1.12).

use crate::api::oauth::sessions::{bearer, client_credentials, oauth_error};
use crate::api::state::OrgState;
use crate::http::{Req, Resp};
use serde_json::json;
use std::time::Instant;

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
