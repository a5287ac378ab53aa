//! The Pub/Sub listeners: gRPC over HTTP/2, in plaintext or over TLS with ALPN `h2`
//! (docs/wire-notes.md §10.1). Each connection is served on its own task, which a `drop` fault
//! ends to cut the connection as a network failure would.

use crate::api::pubsub::faults::Connection;
use crate::api::pubsub::Service;
use crate::server::Server;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sfarrow_pubsub_proto::pub_sub_server::PubSubServer;
use std::sync::Arc;
use tonic::codegen::Service as _;

/// The gRPC message size limit clients and Salesforce use (docs/wire-notes.md §10.9).
const MAX_MESSAGE: usize = 4 << 20;

pub async fn accept_loop(
    server: Arc<Server>,
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let service = PubSubServer::new(Service {
        state: Arc::downgrade(&server.org),
    })
    .max_decoding_message_size(MAX_MESSAGE)
    .max_encoding_message_size(MAX_MESSAGE);
    let on_stop = stop.clone();
    crate::server::accept(listener, tls, stop, move |io| {
        serve(service.clone(), io, on_stop.clone())
    })
    .await;
}

async fn serve<S>(
    service: PubSubServer<Service>,
    io: S,
    mut stop: tokio::sync::watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let cut = Connection(Arc::new(tokio::sync::Notify::new()));
    let on_request = cut.clone();
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(on_request.clone());
        let mut s = service.clone();
        async move { s.call(req).await }
    });
    let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(io), svc);
    tokio::select! {
        _ = conn => {}
        // Dropping the connection closes the socket under any open call.
        _ = cut.0.notified() => {}
        _ = stop.changed() => {}
    }
}
