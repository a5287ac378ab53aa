//! A request as the handlers see it: fully read, header names in lower case, with the query
//! string and form bodies (url-encoded or multipart) decoded.

use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;

/// A request, fully read.
pub struct Req {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HashMap<String, String>,
    pub body: Bytes,
    /// `http://127.0.0.1:PORT` or `https://...`: the listener the request came in on.
    pub base: Arc<str>,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// Query-string parameters, decoded (`+` is a space).
    pub fn params(&self) -> HashMap<String, String> {
        form_decode(self.query.as_bytes())
    }

    pub fn param(&self, name: &str) -> Option<String> {
        self.params().remove(name)
    }
}

impl Req {
    /// A form body: `application/x-www-form-urlencoded`, or `multipart/form-data` (sfdx-core
    /// posts device-flow requests that way).
    pub fn form(&self) -> HashMap<String, String> {
        let ct = self.header("content-type").unwrap_or("");
        match ct
            .split(';')
            .find_map(|p| p.trim().strip_prefix("boundary="))
        {
            Some(boundary) if ct.starts_with("multipart/form-data") => {
                multipart_fields(&self.body, boundary.trim_matches('"'))
            }
            _ => form_decode(&self.body),
        }
    }
}

/// The text fields of a multipart/form-data body.
fn multipart_fields(body: &[u8], boundary: &str) -> HashMap<String, String> {
    let text = String::from_utf8_lossy(body);
    let delimiter = format!("--{boundary}");
    text.split(delimiter.as_str())
        .filter_map(|part| {
            let (head, value) = part
                .split_once("\r\n\r\n")
                .or_else(|| part.split_once("\n\n"))?;
            let name = head
                .split(';')
                .find_map(|p| p.trim().strip_prefix("name="))?
                .split(['\r', '\n'])
                .next()?
                .trim_matches('"');
            let value = value
                .strip_suffix("\r\n")
                .or_else(|| value.strip_suffix('\n'))
                .unwrap_or(value);
            Some((name.to_string(), value.to_string()))
        })
        .collect()
}

pub fn form_decode(body: &[u8]) -> HashMap<String, String> {
    sfarrow_soql::urlenc::pairs(body).into_iter().collect()
}

pub use sfarrow_soql::urlenc::encode as percent_encode;

/// Decodes `%XX` and `+` in a URL part.
pub fn percent_decode(s: &[u8]) -> String {
    sfarrow_soql::urlenc::decode(s)
}

impl Req {
    pub fn wants_gzip(&self) -> bool {
        self.header("accept-encoding")
            .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")))
    }
}
