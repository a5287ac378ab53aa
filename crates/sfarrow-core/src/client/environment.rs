//! Where to log in: production, sandbox, or a URL (My Domain, the emulator), and which hosts may
//! be reached over plain HTTP (loopback only).

use super::error::{Error, Result};

pub const PRODUCTION: &str = "https://login.salesforce.com";
pub const SANDBOX: &str = "https://test.salesforce.com";

/// A login host: its base URL and the JWT audience it expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub login_url: String,
}

impl Environment {
    /// `"production"`, `"sandbox"`, or an `https://` URL (`http://` only for loopback hosts).
    pub fn parse(text: &str) -> Result<Self> {
        let login_url = match text.trim().to_ascii_lowercase().as_str() {
            "production" | "prod" | "login" => PRODUCTION.to_string(),
            "sandbox" | "test" => SANDBOX.to_string(),
            _ => {
                let url = text.trim().trim_end_matches('/');
                check_url(url)?;
                url.to_string()
            }
        };
        Ok(Environment { login_url })
    }

    pub fn token_url(&self) -> String {
        format!("{}/services/oauth2/token", self.login_url)
    }

    pub fn authorize_url(&self) -> String {
        format!("{}/services/oauth2/authorize", self.login_url)
    }

    /// The `aud` of a JWT bearer assertion: login or test for Salesforce hosts (sandbox My Domains
    /// included), the URL itself for anything else (an Experience Cloud site, the emulator).
    pub fn jwt_audience(&self) -> String {
        let host = host_of(&self.login_url)
            .unwrap_or_default()
            .to_ascii_lowercase();
        if host == "test.salesforce.com"
            || host.ends_with(".sandbox.my.salesforce.com")
            || host.contains("--") && host.ends_with(".my.salesforce.com")
        {
            SANDBOX.into()
        } else if host.ends_with("salesforce.com") {
            PRODUCTION.into()
        } else {
            self.login_url.clone()
        }
    }
}

fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = host.strip_prefix('[') {
        return v6.split(']').next();
    }
    Some(host.rsplit_once(':').map_or(host, |(h, _)| h))
}

pub fn is_loopback(url: &str) -> bool {
    match host_of(url) {
        Some(h) => h.eq_ignore_ascii_case("localhost") || h.starts_with("127.") || h == "::1",
        None => false,
    }
}

/// An API or login URL must be https, or http to a loopback host: tokens never cross a network
/// in the clear.
pub fn check_url(url: &str) -> Result<()> {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("https://") && host_of(url).is_some_and(|h| !h.is_empty()) {
        return Ok(());
    }
    if lower.starts_with("http://") {
        if is_loopback(url) {
            return Ok(());
        }
        return Err(Error::config(format!(
            "refusing plain http to {url}: only loopback hosts (the emulator) may be reached without TLS; use https://"
        )));
    }
    Err(Error::config(format!(
        "not a URL: {url:?}; expected \"production\", \"sandbox\" or an https:// URL such as https://mydomain.my.salesforce.com"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environments() {
        assert_eq!(
            Environment::parse("production").unwrap().login_url,
            PRODUCTION
        );
        assert_eq!(
            Environment::parse("Sandbox").unwrap().token_url(),
            format!("{SANDBOX}/services/oauth2/token")
        );
        let md = Environment::parse("https://acme.my.salesforce.com/").unwrap();
        assert_eq!(md.login_url, "https://acme.my.salesforce.com");
        assert_eq!(md.jwt_audience(), PRODUCTION);
        let sb = Environment::parse("https://acme--dev.sandbox.my.salesforce.com").unwrap();
        assert_eq!(sb.jwt_audience(), SANDBOX);
        let emu = Environment::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(emu.jwt_audience(), "http://127.0.0.1:8080");
    }

    #[test]
    fn plain_http_only_to_loopback() {
        assert!(check_url("http://localhost:1717").is_ok());
        assert!(check_url("http://[::1]:80").is_ok());
        assert!(check_url("http://127.0.0.5").is_ok());
        assert!(check_url("http://acme.my.salesforce.com").is_err());
        assert!(check_url("ftp://x").is_err());
        assert!(check_url("https://").is_err());
        assert!(Environment::parse("nonsense").is_err());
    }
}
