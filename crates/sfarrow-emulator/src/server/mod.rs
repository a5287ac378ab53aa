//! The HTTP face: listeners (plain and TLS), per-request fault injection, gzip, the request log.
//! Handlers are plain synchronous functions over `Req` -> `Resp`, run on tokio's blocking pool
//! so a million-row page render never stalls the accept loop.

pub mod casing;
pub mod control;
pub mod grpc;
pub mod tls;

use crate::api::state::OrgState;
use crate::http::{gzip, ApiError, Req, Resp};
use crate::server::control::{Control, Fault};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

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

/// The body inflated, when the handler gzipped it.
fn plain_body(resp: &mut Resp) -> Option<(Vec<u8>, bool)> {
    let gzipped = resp.headers.iter().any(|(k, _)| *k == "content-encoding");
    if !gzipped {
        return Some((std::mem::take(&mut resp.body), false));
    }
    let mut out = Vec::new();
    let mut d = flate2::read::GzDecoder::new(&resp.body[..]);
    std::io::Read::read_to_end(&mut d, &mut out).ok()?;
    Some((out, true))
}

/// Half the rows of a page gone, its own count of them agreeing (see `FaultKind::LostRows`).
fn lost_rows(mut resp: Resp) -> Resp {
    let Some((body, gzipped)) = plain_body(&mut resp) else {
        return resp;
    };
    let is_json = resp
        .headers
        .iter()
        .any(|(k, v)| *k == "content-type" && v.contains("json"));
    let body = if is_json {
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(mut page) => {
                if let Some(records) = page.get_mut("records").and_then(|r| r.as_array_mut()) {
                    let keep = records.len() / 2;
                    records.truncate(keep);
                }
                serde_json::to_vec(&page).unwrap_or(body)
            }
            Err(_) => body,
        }
    } else {
        // A CSV page: the header line and the first half of its rows (a row ends at a line
        // break outside quotes: values hold line breaks).
        let mut ends = Vec::new();
        let mut quoted = false;
        for (i, b) in body.iter().enumerate() {
            match b {
                b'"' => quoted = !quoted,
                b'\n' if !quoted => ends.push(i + 1),
                _ => {}
            }
        }
        let keep = ends.len().saturating_sub(1) / 2;
        let cut = ends.get(keep).copied().unwrap_or(body.len());
        let kept = body[..cut].to_vec();
        for (k, v) in resp.headers.iter_mut() {
            if k.eq_ignore_ascii_case("sforce-numberofrecords") {
                *v = keep.to_string();
            }
        }
        kept
    };
    resp.body = if gzipped { gzip(&body) } else { body };
    resp
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
    server: Arc<Server>,
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
    let fault = server.control.lock().next_fault(&req.path);
    // URI and headers are capped at 16,384 bytes (§2.1).
    if req.path.len() + req.query.len() + 1 > 16_384 {
        server.control.lock().log(&req, 414, None);
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
        Some(Fault::TooMany) => {
            let r = ApiError::new(
                429,
                "REQUEST_LIMIT_EXCEEDED",
                "Too many requests at once; retry later",
            )
            .into();
            (req, r)
        }
        Some(Fault::Unavailable) => {
            let r = ApiError::new(
                503,
                "SERVER_UNAVAILABLE",
                "Service temporarily unavailable, please retry",
            )
            .into();
            (req, r)
        }
        Some(Fault::Drop) => {
            server.control.lock().log(&req, 0, fault.as_ref());
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "injected drop",
            ));
        }
        _ => {
            let st = server.org.clone();
            // Compressing here too keeps the async workers free for other connections.
            tokio::task::spawn_blocking(move || {
                let resp = compressed(crate::api::route(&st, &req), wants_gzip);
                (req, resp)
            })
            .await
            .map_err(std::io::Error::other)?
        }
    };
    let resp = match fault {
        Some(Fault::ShortPage) => short_page(resp),
        Some(Fault::LostRows) => lost_rows(resp),
        _ => resp,
    };
    let resp = compressed(resp, wants_gzip);
    // An answer without a body cannot be cut within it: the nearest thing is losing it whole.
    let lost = matches!(fault, Some(Fault::DropAfter))
        || matches!(fault, Some(Fault::Truncate)) && resp.body.is_empty();
    if lost {
        server.control.lock().log(&req, 0, fault.as_ref());
        return Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected drop after the request was applied",
        ));
    }
    server.control.lock().log(&req, resp.status, fault.as_ref());
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
pub async fn serve_connection<S>(server: Arc<Server>, base: Arc<str>, stream: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| handle(server.clone(), base.clone(), req));
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .title_case_headers(true)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// What the server keeps beside the org: the faults to inject and the request log.
pub struct Server {
    pub org: Arc<OrgState>,
    pub control: Mutex<Control>,
}

/// An accepted connection, plain or after its TLS handshake.
pub trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static> Io for T {}

/// Accepts connections until told to stop, each served by `serve` on its own task once its
/// TLS handshake (if any) is done: the one accept loop of the HTTP and gRPC listeners.
pub async fn accept<F, Fut>(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    serve: F,
) where
    F: Fn(Box<dyn Io>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let serve = Arc::new(serve);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        let (serve, tls) = (serve.clone(), tls.clone());
        tokio::spawn(async move {
            match tls {
                Some(acceptor) => {
                    if let Ok(s) = acceptor.accept(stream).await {
                        serve(Box::new(s)).await;
                    }
                }
                None => serve(Box::new(stream)).await,
            }
        });
    }
}

/// The REST, Bulk and OAuth listener.
pub async fn accept_loop(
    server: Arc<Server>,
    base: Arc<str>,
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    accept(listener, tls, stop, move |io| {
        serve_connection(server.clone(), base.clone(), io)
    })
    .await;
}
