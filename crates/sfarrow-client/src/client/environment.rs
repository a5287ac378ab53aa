//! Where to log in (production, sandbox, or a URL: My Domain, the emulator) and what a URL may
//! be. URLs are parsed by the URL standard, as the HTTP stack parses them, never compared as
//! text: a session goes only to the scheme, host and port it was issued for, and plain HTTP only
//! to loopback.

use crate::error::{Error, Result};
use std::net::IpAddr;
use url::{Host, Url};

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
        let host = Url::parse(&self.login_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
            .unwrap_or_default();
        let salesforce = host == "salesforce.com" || host.ends_with(".salesforce.com");
        if host == "test.salesforce.com"
            || host.ends_with(".sandbox.my.salesforce.com")
            || host.contains("--") && host.ends_with(".my.salesforce.com")
        {
            SANDBOX.into()
        } else if salesforce {
            PRODUCTION.into()
        } else {
            self.login_url.clone()
        }
    }
}

/// The scheme, host and port a URL reaches (the port filled in from the scheme when absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    scheme: String,
    host: Host<String>,
    port: u16,
}

impl Origin {
    pub fn of(url: &str) -> Option<Origin> {
        let u = Url::parse(url).ok()?;
        Some(Origin {
            scheme: u.scheme().to_string(),
            host: u.host()?.to_owned(),
            port: u.port_or_known_default()?,
        })
    }
}

/// Loopback is an IP literal in 127.0.0.0/8 or ::1 (also as an IPv4-mapped address), or the name
/// `localhost` exactly: `127.example.com` is a name like any other, resolved by whoever runs DNS.
fn host_is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => IpAddr::V6(*ip).to_canonical().is_loopback(),
        Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
    }
}

pub fn is_loopback(url: &str) -> bool {
    Url::parse(url)
        .ok()
        .and_then(|u| u.host().map(|h| host_is_loopback(&h)))
        .unwrap_or(false)
}

/// `scheme://host[:port]` of a URL, for messages: never its user, password, path or query.
pub fn redact(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{}://{h}:{p}", u.scheme()),
            (Some(h), None) => format!("{}://{h}", u.scheme()),
            _ => format!("{}:...", u.scheme()),
        },
        Err(_) => "a URL that does not parse".into(),
    }
}

/// An API or login URL must be https, or http to a loopback host: tokens never cross a network
/// in the clear. Credentials in the URL itself are refused (they would end up in logs).
pub fn check_url(url: &str) -> Result<()> {
    let Ok(u) = Url::parse(url) else {
        return Err(not_a_url(url));
    };
    let Some(host) = u.host() else {
        return Err(not_a_url(url));
    };
    if !u.username().is_empty() || u.password().is_some() {
        return Err(Error::config(format!(
            "refusing a URL with a user name or password in it ({}): pass credentials through the grant, not the URL",
            redact(url)
        )));
    }
    match u.scheme() {
        "https" => Ok(()),
        "http" if host_is_loopback(&host) => Ok(()),
        "http" => Err(Error::config(format!(
            "refusing plain http to {}: only loopback hosts (127.0.0.0/8, ::1, localhost: the emulator) may be reached without TLS; use https://",
            redact(url)
        ))),
        _ => Err(not_a_url(url)),
    }
}

fn not_a_url(url: &str) -> Error {
    // Only a short prefix: whatever was pasted here may hold a secret further on.
    let shown: String = url.chars().take(40).collect();
    let more = if url.chars().count() > 40 { "..." } else { "" };
    Error::config(format!(
        "not a URL: {shown:?}{more}; expected \"production\", \"sandbox\" or an https:// URL such as https://mydomain.my.salesforce.com"
    ))
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
        let lookalike = Environment::parse("https://evilsalesforce.com").unwrap();
        assert_eq!(lookalike.jwt_audience(), "https://evilsalesforce.com");
    }

    #[test]
    fn plain_http_only_to_loopback() {
        for ok in [
            "http://localhost:1717",
            "http://LOCALHOST",
            "http://[::1]:80",
            "http://127.0.0.5",
            "http://127.255.0.1:9/x",
            "https://acme.my.salesforce.com",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://acme.my.salesforce.com",
            "http://127.attacker.example",
            "http://127.0.0.1.example.com",
            "http://localhost.example.com",
            "http://[::2]",
            "http://10.0.0.1",
            "ftp://x",
            "https://",
            "nonsense",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert!(Environment::parse("nonsense").is_err());
    }

    #[test]
    fn credentials_in_urls_are_refused_and_never_echoed() {
        let e = check_url("http://user:hunter2@127.0.0.1:9").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = check_url("http://admin:hunter2@example.com").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert_eq!(
            redact("https://u:p@h.example:444/a?b=c"),
            "https://h.example:444"
        );
    }

    #[test]
    fn origins_compare_parsed_parts() {
        let instance = Origin::of("https://acme.my.salesforce.com").unwrap();
        let same = [
            "https://acme.my.salesforce.com/services/data",
            "https://ACME.my.salesforce.com:443/x",
        ];
        for u in same {
            assert_eq!(Origin::of(u).as_ref(), Some(&instance), "{u}");
        }
        let other = [
            "https://acme.my.salesforce.com.evil.com/x",
            "https://acme.my.salesforce.com@127.0.0.2:8/x",
            "https://acme.my.salesforce.com1/x",
            "http://acme.my.salesforce.com/x",
            "https://acme.my.salesforce.com:8443/x",
        ];
        for u in other {
            assert_ne!(Origin::of(u).as_ref(), Some(&instance), "{u}");
        }
    }
}
