//! Interactive grants: authorization code with PKCE through a loopback redirect listener, and
//! the device flow for machines without a browser (§1.4, §1.8).

use super::environment::Environment;
use super::grant::{post_token_form, request_token, Token};
use super::retry::RetryPolicy;
use super::secret::Secret;
use crate::error::{Error, Result};
use sfarrow_soql::urlenc::{encode, pairs};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct AuthCode {
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub env: Environment,
    /// Loopback port of the redirect listener; the connected app must list
    /// `http://localhost:{port}/OauthRedirect` as a callback URL.
    pub port: u16,
    pub scope: String,
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

/// Waits for the browser's redirect on the listener and returns its query parameters.
async fn receive_redirect(listener: tokio::net::TcpListener) -> Result<Vec<(String, String)>> {
    loop {
        let (mut stream, _) = listener
            .accept()
            .await
            .map_err(|e| Error::transport(format!("redirect listener failed: {e}")))?;
        let mut buf = vec![0u8; 16 * 1024];
        let mut len = 0;
        while len < buf.len() {
            let n = stream.read(&mut buf[len..]).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            len += n;
            if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        let head = String::from_utf8_lossy(&buf[..len]);
        let target = head.split_whitespace().nth(1).unwrap_or("");
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let is_redirect = path.ends_with("/OauthRedirect");
        let page = if is_redirect {
            "<html><body><h3>sfarrow is connected.</h3>You can close this window.</body></html>"
        } else {
            "<html><body>Waiting for Salesforce's redirect.</body></html>"
        };
        let reply = format!(
            "HTTP/1.1 {}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
            if is_redirect { "200 OK" } else { "404 Not Found" },
            page.len()
        );
        let _ = stream.write_all(reply.as_bytes()).await;
        let _ = stream.shutdown().await;
        if is_redirect {
            return Ok(pairs(query.as_bytes()));
        }
    }
}

/// Runs the authorization code flow: `open` is called with the URL the user must visit (on a
/// blocking thread, so it may call back into Python); the redirect brings the code back.
pub async fn authorization_code(
    http: &reqwest::Client,
    flow: &AuthCode,
    open: impl FnOnce(String) + Send + 'static,
) -> Result<Token> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", flow.port))
        .await
        .map_err(|e| {
            Error::config(format!(
                "cannot listen on localhost:{} for the OAuth redirect: {e}; pass another port",
                flow.port
            ))
        })?;
    let port = listener
        .local_addr()
        .map_err(|e| Error::transport(e.to_string()))?
        .port();
    let redirect_uri = format!("http://localhost:{port}/OauthRedirect");
    let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
    let state = oauth2::CsrfToken::new_random();
    let url = format!(
        "{}?response_type=code&client_id={}&redirect_uri={}&scope={}&state={}&code_challenge={}&code_challenge_method=S256",
        flow.env.authorize_url(),
        encode(&flow.client_id),
        encode(&redirect_uri),
        encode(&flow.scope),
        encode(state.secret()),
        encode(challenge.as_str()),
    );
    let waiting = tokio::spawn(receive_redirect(listener));
    tokio::task::spawn_blocking(move || open(url));
    let params = tokio::time::timeout(flow.timeout, waiting)
        .await
        .map_err(|_| Error::Authentication {
            status: 0,
            code: "timeout".into(),
            message: format!(
                "no authorization arrived within {} s",
                flow.timeout.as_secs()
            ),
        })?
        .map_err(|e| Error::transport(e.to_string()))??;
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if get("state").as_deref() != Some(state.secret().as_str()) {
        return Err(Error::Authentication {
            status: 0,
            code: "state_mismatch".into(),
            message: "the redirect's state does not match the request's: the response was not for this login (possible CSRF); try again".into(),
        });
    }
    if let Some(error) = get("error") {
        return Err(Error::Authentication {
            status: 0,
            code: error,
            message: get("error_description").unwrap_or_default(),
        });
    }
    let code = get("code")
        .ok_or_else(|| Error::protocol("the redirect carried neither code nor error"))?;
    let mut form = vec![
        ("grant_type", "authorization_code".to_string()),
        ("code", code),
        ("client_id", flow.client_id.clone()),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier.secret().clone()),
    ];
    if let Some(s) = &flow.client_secret {
        form.push(("client_secret", s.expose().to_string()));
    }
    request_token(http, &flow.env, &form, None, &flow.retry).await
}

/// What the user must do to approve a device.
pub struct DevicePrompt {
    pub user_code: String,
    pub verification_uri: String,
}

pub async fn device(
    http: &reqwest::Client,
    client_id: &str,
    env: &Environment,
    scope: &str,
    timeout: Duration,
    retry: &RetryPolicy,
    prompt: impl FnOnce(DevicePrompt) + Send + 'static,
) -> Result<Token> {
    #[derive(serde::Deserialize)]
    struct Start {
        device_code: String,
        user_code: String,
        verification_uri: String,
        interval: Option<u64>,
    }
    let form = [
        ("response_type", "device_code".to_string()),
        ("client_id", client_id.to_string()),
        ("scope", scope.to_string()),
    ];
    let body = post_token_form(http, env, &form, None, retry).await?;
    let start: Start = serde_json::from_slice(&body)
        .map_err(|e| Error::protocol(format!("device flow start: {e}")))?;
    let mut interval = Duration::from_secs(start.interval.unwrap_or(5).max(1));
    let p = DevicePrompt {
        user_code: start.user_code,
        verification_uri: start.verification_uri,
    };
    tokio::task::spawn_blocking(move || prompt(p));
    let deadline = Instant::now() + timeout;
    let form = vec![
        ("grant_type", "device".to_string()),
        ("client_id", client_id.to_string()),
        ("code", start.device_code),
    ];
    loop {
        tokio::time::sleep(interval).await;
        match request_token(http, env, &form, None, retry).await {
            Ok(t) => return Ok(t),
            Err(Error::Authentication { code, .. }) if code == "authorization_pending" => {}
            Err(Error::Authentication { code, .. }) if code == "slow_down" => {
                interval += Duration::from_secs(5)
            }
            Err(e) => return Err(e),
        }
        if Instant::now() >= deadline {
            return Err(Error::Authentication {
                status: 0,
                code: "timeout".into(),
                message: format!("the device was not approved within {} s", timeout.as_secs()),
            });
        }
    }
}
