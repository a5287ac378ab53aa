//! A response as the handlers make it, and Salesforce's error bodies.

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

    /// Salesforce's error array: `[{"message": ..., "errorCode": ...}]`.
    pub fn error(status: u16, code: &str, message: &str) -> Self {
        Self::json(
            status,
            &serde_json::json!([{"message": message, "errorCode": code}]),
        )
    }

    pub fn error_fields(status: u16, code: &str, message: &str, fields: &[String]) -> Self {
        Self::json(
            status,
            &serde_json::json!([{"message": message, "errorCode": code, "fields": fields}]),
        )
    }

    pub fn not_found() -> Self {
        Self::error(404, "NOT_FOUND", "The requested resource does not exist")
    }

    pub fn method_not_allowed(method: &str) -> Self {
        Self::error(
            405,
            "METHOD_NOT_ALLOWED",
            &format!("HTTP Method '{method}' not allowed. Allowed are GET,HEAD,PATCH,POST,DELETE"),
        )
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
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
