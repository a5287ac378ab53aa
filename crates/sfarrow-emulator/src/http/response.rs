//! A response as the handlers make it, and Salesforce's error bodies: handlers return
//! `Result<Resp, ApiError>`, so every early exit is a `?` and the body is written in one place.

use std::io::Write as _;

pub struct Resp {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn new(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Resp {
            status,
            headers: vec![("content-type", content_type.to_string())],
            body,
        }
    }

    pub fn json(status: u16, v: &serde_json::Value) -> Self {
        Self::json_text(status, v.to_string())
    }

    pub fn json_text(status: u16, s: String) -> Self {
        Self::new(status, "application/json;charset=UTF-8", s.into_bytes())
    }

    pub fn csv(status: u16, s: String) -> Self {
        Self::new(status, "text/csv", s.into_bytes())
    }

    pub fn empty(status: u16) -> Self {
        Resp {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// An error as the REST and Bulk APIs answer it: an HTTP status and Salesforce's error array
/// `[{"message": ..., "errorCode": ..., "fields": [...]}]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    /// `None`: the body has no `fields` key, as in Salesforce's request-level errors
    /// (`NOT_FOUND`, `MALFORMED_QUERY`, ...). `Some`: a DML error, which always names the fields,
    /// even when there are none (`"fields": []`).
    pub fields: Option<Vec<String>>,
}

impl ApiError {
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
            fields: None,
        }
    }

    /// A 400, the status of nearly every error the handlers raise.
    pub fn bad_request(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    pub fn with_fields(mut self, fields: Vec<String>) -> Self {
        self.fields = Some(fields);
        self
    }

    pub fn not_found() -> Self {
        Self::new(404, "NOT_FOUND", "The requested resource does not exist")
    }

    pub fn method_not_allowed(method: &str) -> Self {
        Self::new(
            405,
            "METHOD_NOT_ALLOWED",
            format!("HTTP Method '{method}' not allowed. Allowed are GET,HEAD,PATCH,POST,DELETE"),
        )
    }
}

impl From<ApiError> for Resp {
    fn from(e: ApiError) -> Resp {
        let body = match e.fields {
            Some(fields) => {
                serde_json::json!([{"message": e.message, "errorCode": e.code, "fields": fields}])
            }
            None => serde_json::json!([{"message": e.message, "errorCode": e.code}]),
        };
        Resp::json(e.status, &body)
    }
}

pub fn gzip(body: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(body);
    enc.finish().unwrap_or_default()
}
