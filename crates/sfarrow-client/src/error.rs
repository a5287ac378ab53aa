//! One error type for every client operation; each variant becomes one Python exception class.
//! Messages never carry credentials: they are built from Salesforce's answers and our own text.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The token endpoint refused a grant, or a session expired and could not be renewed.
    Authentication {
        status: u16,
        code: String,
        message: String,
    },
    /// The org's API allowance is spent (403 `REQUEST_LIMIT_EXCEEDED`).
    ApiLimit { message: String },
    /// Salesforce answered with an error array: `errorCode`, `message`, `fields`.
    Api {
        status: u16,
        code: String,
        message: String,
        fields: Vec<String>,
    },
    /// The network failed: unreachable host, TLS, reset, timeout, truncated body.
    Transport { message: String },
    /// The caller asked for something that cannot work: bad URL, bad key, unknown option.
    Configuration { message: String },
    /// The server answered in a shape Salesforce does not use.
    Protocol { message: String },
    /// A subscription's replay id is malformed, unknown or older than the event bus keeps.
    ReplayId { message: String },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn config(message: impl Into<String>) -> Self {
        Error::Configuration {
            message: message.into(),
        }
    }

    pub fn protocol(message: impl Into<String>) -> Self {
        Error::Protocol {
            message: message.into(),
        }
    }

    pub fn transport(message: impl Into<String>) -> Self {
        Error::Transport {
            message: message.into(),
        }
    }

    /// Salesforce's error code, where there is one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Authentication { code, .. } | Error::Api { code, .. } => Some(code),
            Error::ApiLimit { .. } => Some("REQUEST_LIMIT_EXCEEDED"),
            Error::ReplayId { .. } => {
                Some("sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted")
            }
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Authentication { status, .. } | Error::Api { status, .. } => Some(*status),
            Error::ApiLimit { .. } => Some(403),
            _ => None,
        }
    }

    /// Worth trying again: the network or the server failed, not the request.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Transport { .. } => true,
            Error::Api { status, code, .. } => {
                matches!(*status, 500 | 502 | 503 | 504 | 420 | 429)
                    || code == "SERVER_UNAVAILABLE"
                    || code == "UNABLE_TO_LOCK_ROW"
            }
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Authentication { code, message, .. } => write!(f, "authentication failed: {code}: {message}"),
            Error::ApiLimit { message } => write!(
                f,
                "REQUEST_LIMIT_EXCEEDED: {message} (the org's daily API allowance is spent; it recovers over a rolling 24 hours)"
            ),
            Error::Api { status, code, message, fields } if fields.is_empty() => {
                write!(f, "{code} (HTTP {status}): {message}")
            }
            Error::Api { status, code, message, fields } => {
                write!(f, "{code} (HTTP {status}): {message} [fields: {}]", fields.join(", "))
            }
            Error::Transport { message } => write!(f, "network error: {message}"),
            Error::Configuration { message } => f.write_str(message),
            Error::Protocol { message } => write!(f, "unexpected response from Salesforce: {message}"),
            Error::ReplayId { message } => write!(
                f,
                "{message} (the replay id is not one this topic can resume from: it is malformed, from another org, or older than the 72-hour retention; subscribe from \"earliest\" or pass on_invalid_replay=\"earliest\")"
            ),
        }
    }
}

impl std::error::Error for Error {}

/// Parses a non-2xx REST/Bulk body (`[{"message", "errorCode", "fields"}]`) into an error.
pub fn from_response(status: u16, body: &[u8]) -> Error {
    #[derive(serde::Deserialize)]
    struct Item {
        message: Option<String>,
        #[serde(rename = "errorCode")]
        error_code: Option<String>,
        #[serde(default)]
        fields: Vec<String>,
    }
    let parsed: Option<Vec<Item>> = serde_json::from_slice::<Vec<Item>>(body)
        .ok()
        .or_else(|| serde_json::from_slice::<Item>(body).ok().map(|i| vec![i]));
    let (code, message, fields) = match parsed.as_deref() {
        Some([one]) => (
            one.error_code
                .clone()
                .unwrap_or_else(|| format!("ERROR_HTTP_{status}")),
            one.message.clone().unwrap_or_default(),
            one.fields.clone(),
        ),
        Some(many) if !many.is_empty() => (
            "MULTIPLE_API_ERRORS".to_string(),
            many.iter()
                .map(|i| {
                    format!(
                        "{}: {}",
                        i.error_code.as_deref().unwrap_or("?"),
                        i.message.as_deref().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
            Vec::new(),
        ),
        _ => {
            let text = String::from_utf8_lossy(&body[..body.len().min(300)])
                .trim()
                .to_string();
            let message = if text.starts_with('<') {
                "the server answered with an HTML page instead of an API response (is the URL an API host?)".to_string()
            } else {
                text
            };
            (format!("ERROR_HTTP_{status}"), message, Vec::new())
        }
    };
    match (status, code.as_str()) {
        (401, _) => Error::Authentication {
            status,
            code,
            message,
        },
        (403, "REQUEST_LIMIT_EXCEEDED") if !message.contains("ConcurrentPerOrgLongTxn") => {
            Error::ApiLimit { message }
        }
        _ => Error::Api {
            status,
            code,
            message,
            fields,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_arrays() {
        let e = from_response(400, br#"[{"message":"Required fields are missing: [Name]","errorCode":"REQUIRED_FIELD_MISSING","fields":["Name"]}]"#);
        assert_eq!(e.code(), Some("REQUIRED_FIELD_MISSING"));
        assert!(e.to_string().contains("[fields: Name]"));
        let e = from_response(403, br#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#);
        assert!(matches!(e, Error::ApiLimit { .. }));
        let e = from_response(403, br#"[{"message":"ConcurrentPerOrgLongTxn Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#);
        assert!(matches!(e, Error::Api { .. }));
        let e = from_response(503, b"<html>down</html>");
        assert!(e.is_transient());
        assert!(e.to_string().contains("HTML"));
        let e = from_response(
            401,
            br#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#,
        );
        assert!(matches!(e, Error::Authentication { .. }));
    }
}
