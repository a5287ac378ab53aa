//! The browser side of OAuth: `/services/oauth2/authorize` (code and token responses, PKCE:
//! §1.4) and `/setup/connect`, where a device-flow user approves (§1.8). Errors here are HTML pages or
//! redirects, not JSON.

use crate::api::oauth::sessions::{random_token, CodeGrant};
use crate::api::state::OrgState;
use crate::http::{percent_encode, Req, Resp};
use std::time::Instant;

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
