//! The arguments of a connection, as the Python wrapper passes them (one dict, every key), made
//! into the client crate's `Login`, `Options` and `Hooks`: conversion only; which grant needs
//! what, and what is valid, is decided there.

use crate::errors::to_py;
use pyo3::prelude::*;
use sfarrow_client::client::connect::{Hooks, Login};
use sfarrow_client::client::flows::DevicePrompt;
use sfarrow_client::client::session::{TokenCallback, TokenEvent};
use sfarrow_client::client::{Environment, Options, Secret};
use sfarrow_client::Error;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct LoginArgs {
    grant: String,
    environment: Option<String>,
    instance_url: Option<String>,
    access_token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    username: Option<String>,
    private_key: Option<String>,
    audience: Option<String>,
    assertion_lifetime: f64,
    refresh_token: Option<String>,
    port: u16,
    scope: String,
    timeout: f64,
    open_url: Option<Py<PyAny>>,
    on_token: Option<Py<PyAny>>,
    token_cache: Option<PathBuf>,
    api_version: String,
    ca_pem: Option<String>,
    request_timeout: f64,
    retries: u32,
    gzip: bool,
    api_budget: Option<f64>,
    pubsub_url: String,
}

/// Calls a Python callable with one argument; a failing callback is reported, not raised, so a
/// user's logging hook cannot break a running session.
fn call_back(cb: &Py<PyAny>, arg: impl for<'py> IntoPyObject<'py>) {
    crate::gate::attach(|py| {
        if let Err(e) = cb.call1(py, (arg,)) {
            e.write_unraisable(py, Some(cb.bind(py)));
        }
    });
}

fn seconds(value: f64, name: &str) -> Result<Duration, Error> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| Error::config(format!("{name} must be a positive number of seconds")))
}

impl LoginArgs {
    pub fn into_parts(self) -> PyResult<(Login, Options, Hooks)> {
        self.parts().map_err(to_py)
    }

    fn parts(self) -> Result<(Login, Options, Hooks), Error> {
        let mut options = Options::new(
            &self.api_version,
            self.ca_pem,
            self.request_timeout,
            self.retries,
            self.gzip,
            self.api_budget,
        )?;
        // Checked now, so a mistyped endpoint fails the connection, not the first subscribe.
        sfarrow_client::events::channel::parse_url(&self.pubsub_url)?;
        options.pubsub_url = self.pubsub_url;
        let text = |v: Option<String>| v.unwrap_or_default();
        let secret = |v: Option<String>| Secret::new(v.unwrap_or_default());
        let environment = || match &self.environment {
            Some(e) => Environment::parse(e),
            None => Environment::parse("production"),
        };
        let on_token = self.on_token.map(|cb| -> TokenCallback {
            Arc::new(move |t: &TokenEvent| {
                let info = (
                    t.access_token.expose().to_string(),
                    t.refresh_token.as_ref().map(|r| r.expose().to_string()),
                    t.instance_url.clone(),
                );
                call_back(&cb, info);
            })
        });
        let mut hooks = Hooks {
            on_token,
            ..Hooks::default()
        };
        let login = match self.grant.as_str() {
            "session" => Login::Session {
                instance_url: text(self.instance_url),
                access_token: secret(self.access_token),
            },
            "jwt" => Login::Jwt {
                environment: environment()?,
                client_id: text(self.client_id),
                username: text(self.username),
                private_key_pem: secret(self.private_key),
                audience: self.audience,
                assertion_lifetime: self.assertion_lifetime as i64,
            },
            "refresh_token" => Login::RefreshToken {
                environment: environment()?,
                client_id: text(self.client_id),
                client_secret: self.client_secret.map(Secret::new),
                refresh_token: secret(self.refresh_token),
            },
            "client_credentials" => Login::ClientCredentials {
                environment: match &self.environment {
                    Some(e) => Environment::parse(e)?,
                    None => return Err(Error::config("client_credentials needs environment= your My Domain URL (https://<domain>.my.salesforce.com); Salesforce refuses it on login/test")),
                },
                client_id: text(self.client_id),
                client_secret: secret(self.client_secret),
            },
            "authorization_code" => {
                if let Some(cb) = self.open_url {
                    hooks.open_url = Some(Box::new(move |url: String| call_back(&cb, url)));
                }
                Login::AuthorizationCode {
                    environment: environment()?,
                    client_id: text(self.client_id),
                    client_secret: self.client_secret.map(Secret::new),
                    port: self.port,
                    scope: self.scope,
                    timeout: seconds(self.timeout, "timeout")?,
                    token_cache: self.token_cache,
                }
            }
            "device" => {
                if let Some(cb) = self.open_url {
                    hooks.device_prompt = Some(Box::new(move |p: DevicePrompt| {
                        call_back(&cb, (p.user_code, p.verification_uri))
                    }));
                }
                Login::Device {
                    environment: environment()?,
                    client_id: text(self.client_id),
                    scope: self.scope,
                    timeout: seconds(self.timeout, "timeout")?,
                    token_cache: self.token_cache,
                }
            }
            other => {
                return Err(Error::config(format!(
                    "unknown grant {other:?}; one of session, jwt, refresh_token, client_credentials, authorization_code, device"
                )))
            }
        };
        Ok((login, options, hooks))
    }
}
