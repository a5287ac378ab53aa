//! The HTTP face: listeners (plain and TLS), per-request fault injection, gzip, the request log.
//! Handlers are plain synchronous functions over `Req` -> `Resp`, run on tokio's blocking pool
//! so a million-row page render never stalls the accept loop.

use crate::server::control::Fault;
use crate::OrgState;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Write as _;
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
    sfarrow_core::urlenc::pairs(body).into_iter().collect()
}

pub use sfarrow_core::urlenc::encode as percent_encode;

/// Decodes `%XX` and `+` in a URL part.
pub fn percent_decode(s: &[u8]) -> String {
    sfarrow_core::urlenc::decode(s)
}

pub struct Resp {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn wants_gzip(&self) -> bool {
        self.header("accept-encoding")
            .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")))
    }
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

type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

fn full(b: Vec<u8>) -> Body {
    Full::new(Bytes::from(b))
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// A body that sends its first half and then fails, so the peer sees a short read. The pause
/// between the two lets hyper flush the headers and the first half: an error that came at once
/// would close the connection before anything left, which is a drop, not a cut.
fn truncated(b: Vec<u8>) -> Body {
    use futures_util::StreamExt;
    let whole = Bytes::from(b);
    let first = whole.slice(..whole.len() / 2);
    let sent = futures_util::stream::iter([Ok(Frame::data(first))]);
    let cut = futures_util::stream::once(async {
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "injected truncation",
        ))
    });
    BodyExt::boxed(StreamBody::new(sent.chain(cut)))
}

/// The body cut after the last line that ends before its middle (inflated first when the
/// handler gzipped it, and gzipped again after).
fn short_page(mut resp: Resp) -> Resp {
    let gzipped = resp.headers.iter().any(|(k, _)| *k == "content-encoding");
    let mut body = if gzipped {
        let mut out = Vec::new();
        let mut d = flate2::read::GzDecoder::new(&resp.body[..]);
        if std::io::Read::read_to_end(&mut d, &mut out).is_err() {
            return resp;
        }
        out
    } else {
        std::mem::take(&mut resp.body)
    };
    let half = body.len() / 2;
    let cut = body[..half]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    body.truncate(cut);
    resp.body = if gzipped { gzip(&body) } else { body };
    resp
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

/// Gzips the body when the client asked for it; a body the handler already gzipped (a page
/// rendered ahead) is left as it is. Marks its work with `vary`, so calling it twice is safe.
fn compressed(mut resp: Resp, wants_gzip: bool) -> Resp {
    if resp.headers.iter().any(|(k, _)| *k == "vary") {
        return resp;
    }
    let encoded = resp.headers.iter().any(|(k, _)| *k == "content-encoding");
    let compress = wants_gzip && !encoded && !resp.body.is_empty() && resp.status != 204;
    if compress {
        resp.body = gzip(&resp.body);
        resp.headers.push(("content-encoding", "gzip".into()));
    }
    if encoded || compress {
        resp.headers.push(("vary", "Accept-Encoding".into()));
    }
    resp
}

pub async fn handle(
    state: Arc<OrgState>,
    base: Arc<str>,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Body>, std::io::Error> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    let headers: HashMap<String, String> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let req = Req {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers,
        body,
        base,
    };
    let fault = state.control.lock().next_fault(&req.path);
    // URI and headers are capped at 16,384 bytes (§2.1).
    if req.path.len() + req.query.len() + 1 > 16_384 {
        state.control.lock().log(&req, 414);
        let body = b"<html><body>414 Request-URI Too Long</body></html>".to_vec();
        return hyper::Response::builder()
            .status(414)
            .header("content-type", "text/html")
            .header("content-length", body.len().to_string())
            .body(full(body))
            .map_err(std::io::Error::other);
    }
    if let Some(Fault::Delay(d)) = &fault {
        tokio::time::sleep(*d).await;
    }
    let wants_gzip = req.wants_gzip();
    let (req, resp) = match fault {
        Some(Fault::Unavailable) => {
            let r = Resp::error(
                503,
                "SERVER_UNAVAILABLE",
                "Service temporarily unavailable, please retry",
            );
            (req, r)
        }
        Some(Fault::Drop) => {
            state.control.lock().log(&req, 0);
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "injected drop",
            ));
        }
        _ => {
            let st = state.clone();
            // Compressing here too keeps the async workers free for other connections.
            tokio::task::spawn_blocking(move || {
                let resp = compressed(crate::api::route(&st, &req), wants_gzip);
                (req, resp)
            })
            .await
            .map_err(std::io::Error::other)?
        }
    };
    let resp = if matches!(fault, Some(Fault::ShortPage)) {
        short_page(resp)
    } else {
        resp
    };
    let resp = compressed(resp, wants_gzip);
    // An answer without a body cannot be cut within it: the nearest thing is losing it whole.
    let lost = matches!(fault, Some(Fault::DropAfter))
        || matches!(fault, Some(Fault::Truncate)) && resp.body.is_empty();
    if lost {
        state.control.lock().log(&req, 0);
        return Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected drop after the request was applied",
        ));
    }
    state.control.lock().log(&req, resp.status);
    let mut builder = hyper::Response::builder().status(resp.status);
    for (k, v) in &resp.headers {
        builder = builder.header(*k, v);
    }
    builder = builder.header("content-length", resp.body.len().to_string());
    let body = if matches!(fault, Some(Fault::Truncate)) {
        truncated(resp.body)
    } else {
        full(resp.body)
    };
    let mut response = builder.body(body).map_err(std::io::Error::other)?;
    crate::server::casing::apply(&mut response);
    Ok(response)
}

/// Serves one accepted connection until the peer closes it.
pub async fn serve_connection<S>(state: Arc<OrgState>, base: Arc<str>, stream: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| handle(state.clone(), base.clone(), req));
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .title_case_headers(true)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}
