//! Response header names as Salesforce spells them (`Content-Type`, `Sforce-Locator`,
//! `Sforce-NumberOfRecords`, `Sforce-Limit-Info`): some clients look headers up by exact name.
//!
//! hyper keeps header names in lower case and writes them so, or title-cased (which gives
//! `Sforce-Numberofrecords`). Its only way to other spellings is the case map it records when
//! `preserve_header_case` parses a message, honoured on any response that carries one: so one
//! request naming the headers as Salesforce does is parsed once, in memory, and its map is put
//! on every response (names it lacks are title-cased).

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::OnceLock;
use tokio::io::AsyncWriteExt;

/// The spellings, as they would arrive in a request.
const NAMES: &str = "GET / HTTP/1.1\r\nHost: x\r\nContent-Type: x\r\nContent-Length: 0\r\n\
Content-Encoding: x\r\nSforce-Locator: x\r\nSforce-NumberOfRecords: x\r\nSforce-Limit-Info: x\r\n\
Connection: close\r\n\r\n";

static CASE_MAP: OnceLock<hyper::http::Extensions> = OnceLock::new();

/// Learns the spellings once per process; until then (or if it fails) names are title-cased.
pub async fn learn() {
    if CASE_MAP.get().is_some() {
        return;
    }
    let (mut client, server) = tokio::io::duplex(4096);
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = parking_lot::Mutex::new(Some(tx));
    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        if let Some(tx) = tx.lock().take() {
            let _ = tx.send(req.extensions().clone());
        }
        async { Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::new()))) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .preserve_header_case(true)
        .serve_connection(TokioIo::new(server), service);
    let served = tokio::spawn(conn);
    if client.write_all(NAMES.as_bytes()).await.is_ok() {
        if let Ok(Ok(map)) = tokio::time::timeout(std::time::Duration::from_secs(2), rx).await {
            let _ = CASE_MAP.set(map);
        }
    }
    served.abort();
}

/// Puts the spellings on a response.
pub fn apply<B>(resp: &mut hyper::Response<B>) {
    if let Some(map) = CASE_MAP.get() {
        *resp.extensions_mut() = map.clone();
    }
}
