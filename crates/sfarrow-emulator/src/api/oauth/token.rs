//! `/services/oauth2/token`: every grant Salesforce serves (authorization code with PKCE, refresh
//! token, JWT bearer, client credentials, device, password: §1.4 to §1.9) and the device-flow
//! start, answering with the token response (§1.2) or OAuth's error body (§1.3).

use crate::api::oauth::sessions::{
    client_credentials, invalid_grant, oauth_error, pkce_challenge, random_token, DeviceGrant,
    B64URL,
};
use crate::api::state::OrgState;
use crate::data::store::now_millis;
use crate::http::{ApiError, Req, Resp};
use base64::Engine;
use serde_json::json;
use std::time::Duration;

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
