//! Making a connection: one variant of [`Login`] per OAuth grant, holding exactly what that
//! grant needs, turned into a [`Client`] whose session renews itself (all but an existing
//! session). The interactive grants (authorization code, device) keep their refresh token in
//! a token cache when asked, and use it next time instead of a browser.

use super::cache::{self, CachedToken};
use super::environment::check_url;
use super::flows::{self, AuthCode, DevicePrompt};
use super::session::{TokenCallback, TokenEvent};
use super::{Client, Environment, Grant, Options, Secret, Token};
use crate::{Error, Result};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How to sign in.
pub enum Login {
    /// A session id the caller already has: it cannot be renewed.
    Session {
        instance_url: String,
        access_token: Secret,
    },
    /// JWT bearer, server to server: an RS256 assertion signed with the connected app's key.
    Jwt {
        environment: Environment,
        client_id: String,
        username: String,
        private_key_pem: Secret,
        /// `None`: login or test.salesforce.com, as the environment implies.
        audience: Option<String>,
        /// Seconds from now to the assertion's `exp` (Salesforce takes at most 180).
        assertion_lifetime: i64,
    },
    RefreshToken {
        environment: Environment,
        client_id: String,
        client_secret: Option<Secret>,
        refresh_token: Secret,
    },
    /// Client credentials: the environment must be the org's My Domain.
    ClientCredentials {
        environment: Environment,
        client_id: String,
        client_secret: Secret,
    },
    /// Authorization code with PKCE, through a browser and a loopback redirect.
    AuthorizationCode {
        environment: Environment,
        client_id: String,
        client_secret: Option<Secret>,
        port: u16,
        scope: String,
        timeout: Duration,
        token_cache: Option<PathBuf>,
    },
    /// The device flow, for machines without a browser.
    Device {
        environment: Environment,
        client_id: String,
        scope: String,
        timeout: Duration,
        token_cache: Option<PathBuf>,
    },
}

/// What the caller is told along the way; each is called on a blocking thread.
#[derive(Default)]
pub struct Hooks {
    /// The URL the user must open (authorization code).
    pub open_url: Option<Box<dyn FnOnce(String) + Send>>,
    /// The code and where to enter it (device flow).
    pub device_prompt: Option<Box<dyn FnOnce(DevicePrompt) + Send>>,
    /// Every new token: with rotation, the refresh token changes too.
    pub on_token: Option<TokenCallback>,
}

fn required(value: &str, name: &str, grant: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::config(format!(
            "{name} is required for the {grant} grant"
        )));
    }
    Ok(())
}

/// The user's callback, and the token cache's writer when there is a cache.
fn with_cache(
    user: Option<TokenCallback>,
    cache: Option<(PathBuf, String, String)>,
) -> Option<TokenCallback> {
    let Some((path, login_url, client_id)) = cache else {
        return user;
    };
    Some(Arc::new(move |t: &TokenEvent| {
        if let Some(refresh) = &t.refresh_token {
            let entry = CachedToken {
                login_url: login_url.clone(),
                client_id: client_id.clone(),
                instance_url: t.instance_url.clone(),
                refresh_token: refresh.expose().to_string(),
            };
            // The session works without the cache: a failed write must not end it.
            let _ = cache::write(&path, &entry);
        }
        if let Some(cb) = &user {
            cb(t);
        }
    }))
}

pub async fn connect(login: Login, options: Options, hooks: Hooks) -> Result<Client> {
    match login {
        Login::Session {
            instance_url,
            access_token,
        } => {
            required(&instance_url, "instance_url", "session")?;
            required(access_token.expose(), "access_token", "session")?;
            check_url(&instance_url)?;
            let token = Token {
                access_token,
                instance_url: instance_url.trim_end_matches('/').to_string(),
                id: None,
                refresh_token: None,
                issued_at: None,
            };
            Client::connect(Grant::Session, None, Some(token), options, None).await
        }
        Login::Jwt {
            environment,
            client_id,
            username,
            private_key_pem,
            audience,
            assertion_lifetime,
        } => {
            required(&client_id, "client_id", "jwt")?;
            required(&username, "username", "jwt")?;
            let audience = audience.unwrap_or_else(|| environment.jwt_audience());
            let grant = Grant::jwt(
                &client_id,
                &username,
                private_key_pem.expose(),
                audience,
                assertion_lifetime,
            )?;
            Client::connect(grant, Some(environment), None, options, hooks.on_token).await
        }
        Login::RefreshToken {
            environment,
            client_id,
            client_secret,
            refresh_token,
        } => {
            required(&client_id, "client_id", "refresh_token")?;
            required(refresh_token.expose(), "refresh_token", "refresh_token")?;
            let grant = Grant::RefreshToken {
                client_id,
                client_secret,
                refresh_token: parking_lot::Mutex::new(refresh_token),
            };
            Client::connect(grant, Some(environment), None, options, hooks.on_token).await
        }
        Login::ClientCredentials {
            environment,
            client_id,
            client_secret,
        } => {
            required(&client_id, "client_id", "client_credentials")?;
            required(
                client_secret.expose(),
                "client_secret",
                "client_credentials",
            )?;
            let grant = Grant::ClientCredentials {
                client_id,
                client_secret,
            };
            Client::connect(grant, Some(environment), None, options, hooks.on_token).await
        }
        Login::AuthorizationCode { .. } | Login::Device { .. } => {
            interactive(login, options, hooks).await
        }
    }
}

/// The grants a person takes part in. A refresh token in the cache saves the interactive step;
/// one that was revoked falls through to it.
async fn interactive(login: Login, options: Options, hooks: Hooks) -> Result<Client> {
    let (environment, client_id, client_secret, token_cache) = match &login {
        Login::AuthorizationCode {
            environment,
            client_id,
            client_secret,
            token_cache,
            ..
        } => (environment, client_id, client_secret.clone(), token_cache),
        Login::Device {
            environment,
            client_id,
            token_cache,
            ..
        } => (environment, client_id, None, token_cache),
        _ => return Err(Error::config("not an interactive grant")),
    };
    let environment = environment.clone();
    let client_id = client_id.clone();
    required(&client_id, "client_id", "interactive")?;
    let cache_key = token_cache
        .clone()
        .map(|p| (p, environment.login_url.clone(), client_id.clone()));
    let callback = with_cache(hooks.on_token, cache_key.clone());
    let refresh_grant = |refresh: Secret| Grant::RefreshToken {
        client_id: client_id.clone(),
        client_secret: client_secret.clone(),
        refresh_token: parking_lot::Mutex::new(refresh),
    };
    if let Some((path, login_url, cid)) = &cache_key {
        if let Some(cached) = cache::read(path, login_url, cid) {
            let grant = refresh_grant(Secret::new(cached.refresh_token));
            let env = Some(environment.clone());
            match Client::connect(grant, env, None, options.clone(), callback.clone()).await {
                Ok(c) => return Ok(c),
                Err(Error::Authentication { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    let http = super::api::http_client(options.ca_pem.as_deref(), options.timeout)?;
    let token = match login {
        Login::AuthorizationCode {
            port,
            scope,
            timeout,
            ..
        } => {
            let flow = AuthCode {
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
                env: environment.clone(),
                port,
                scope,
                timeout,
                retry: options.retry,
            };
            let open = hooks.open_url;
            flows::authorization_code(&http, &flow, move |url| {
                if let Some(open) = open {
                    open(url);
                }
            })
            .await?
        }
        Login::Device { scope, timeout, .. } => {
            let prompt = hooks.device_prompt;
            let retry = options.retry;
            flows::device(
                &http,
                &client_id,
                &environment,
                &scope,
                timeout,
                &retry,
                move |p| {
                    if let Some(prompt) = prompt {
                        prompt(p);
                    }
                },
            )
            .await?
        }
        _ => return Err(Error::config("not an interactive grant")),
    };
    let refresh = token.refresh_token.clone().ok_or_else(|| {
        Error::protocol(
            "the token response has no refresh_token: add the refresh_token scope to the connected app",
        )
    })?;
    if let Some(cb) = &callback {
        cb(&TokenEvent {
            access_token: token.access_token.clone(),
            refresh_token: Some(refresh.clone()),
            instance_url: token.instance_url.clone(),
        });
    }
    let grant = refresh_grant(refresh);
    Client::connect(grant, Some(environment), Some(token), options, callback).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn each_grant_checks_its_own_fields_before_any_call() {
        let env = || Environment::parse("http://127.0.0.1:9").unwrap();
        let cases = [
            (
                Login::Session {
                    instance_url: String::new(),
                    access_token: Secret::new("x"),
                },
                "instance_url",
            ),
            (
                Login::Jwt {
                    environment: env(),
                    client_id: "id".into(),
                    username: " ".into(),
                    private_key_pem: Secret::new("pem"),
                    audience: None,
                    assertion_lifetime: 180,
                },
                "username",
            ),
            (
                Login::RefreshToken {
                    environment: env(),
                    client_id: "id".into(),
                    client_secret: None,
                    refresh_token: Secret::new(""),
                },
                "refresh_token",
            ),
            (
                Login::ClientCredentials {
                    environment: env(),
                    client_id: String::new(),
                    client_secret: Secret::new("s"),
                },
                "client_id",
            ),
        ];
        for (login, field) in cases {
            let e = block(connect(login, Options::default(), Hooks::default())).err();
            let e = e.map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains(field) && e.contains("required"), "{e}");
        }
    }

    #[test]
    fn a_jwt_key_that_is_not_rsa_pem_is_a_configuration_error() {
        let login = Login::Jwt {
            environment: Environment::parse("http://127.0.0.1:9").unwrap(),
            client_id: "id".into(),
            username: "u@x".into(),
            private_key_pem: Secret::new("-----BEGIN PRIVATE KEY-----\nnope\n"),
            audience: None,
            assertion_lifetime: 180,
        };
        let e = block(connect(login, Options::default(), Hooks::default())).err();
        assert!(matches!(e, Some(Error::Configuration { .. })), "{e:?}");
    }
}
