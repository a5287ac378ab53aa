//! A local Salesforce org: OAuth, REST (metadata, SOQL, records, sObject Collections) and Bulk API
//! 2.0 (query and ingest) on loopback, over plain HTTP and HTTPS, following the wire protocol
//! notes in `docs/wire-notes.md`. Used by sfarrow's tests and benchmarks, and by users
//! to test their own pipelines offline.

#![recursion_limit = "256"]

mod api;
mod controls;
mod data;
mod fixtures;
mod http;
mod server;
mod soql;

use crate::api::bulk::jobs::{IngestJobs, QueryJobs};
pub use crate::api::state::Config;
use crate::api::state::OrgState;
use crate::api::{oauth, rest::cursors::Cursors};
pub use crate::controls::FaultSpec;
use crate::data::objects::USERNAME;
use crate::data::{objects, store};
use crate::fixtures::seed;
pub use crate::server::control::LogEntry;
use crate::server::{casing, control, tls, Server};
use parking_lot::{Mutex, RwLock};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Public identity of a running org: what a client needs to log in.
#[derive(Debug, Clone)]
pub struct Identity {
    pub url: String,
    pub https_url: Option<String>,
    pub ca_pem: Option<String>,
    /// The Pub/Sub endpoint over TLS, `host:port` like `api.pubsub.salesforce.com:7443`.
    pub pubsub_url: Option<String>,
    /// The Pub/Sub endpoint in plaintext: `http://host:port`.
    pub pubsub_plain_url: Option<String>,
    pub org_id: String,
    pub user_id: String,
    pub username: String,
    pub client_id: String,
    pub client_secret: String,
    pub private_key_pem: String,
    pub public_key_pem: String,
    pub certificate_pem: String,
    pub access_token: String,
}

/// A running emulated org. Dropping it stops the server.
pub struct Org {
    state: Arc<OrgState>,
    server: Arc<Server>,
    pub identity: Identity,
    runtime: Option<tokio::runtime::Runtime>,
    shutdown: tokio::sync::watch::Sender<bool>,
}

impl Org {
    pub fn start(config: Config) -> Result<Org, String> {
        let org_id = sfarrow_soql::ids::make("00D", "Dn0", 1);
        let mut data = store::Store::new(objects::standard_objects(), "Dn0");
        let user_id = seed::admin_user(&mut data)?;
        let (private_key_pem, public_key_pem, certificate_pem) = tls::make_jwt_key()?;
        let client_id = format!("3MVG9{}", oauth::random_token(80));
        let client_secret = oauth::random_token(64).to_uppercase();
        let app = oauth::App {
            client_id: client_id.clone(),
            client_secret: client_secret.clone(),
            redirect_uris: config.redirect_uris.clone(),
            jwt_keys: vec![public_key_pem.clone(), certificate_pem.clone()],
        };
        let mut auth = oauth::Auth::new(org_id.clone(), user_id.clone(), USERNAME.into(), app);
        let (access_token, _) =
            auth.issue_session(&user_id, &client_id, "api web refresh_token", None, false);

        let bind = |port: u16| -> Result<std::net::TcpListener, String> {
            let l = std::net::TcpListener::bind((config.host.as_str(), port))
                .map_err(|e| format!("cannot listen on {}:{port}: {e}", config.host))?;
            l.set_nonblocking(true).map_err(|e| e.to_string())?;
            Ok(l)
        };
        let plain = bind(config.port)?;
        let secure = config.https_port.map(bind).transpose()?;
        let grpc_tls = config.pubsub_port.map(bind).transpose()?;
        let grpc_plain = config.pubsub_plain_port.map(bind).transpose()?;
        let addr = |l: &std::net::TcpListener| l.local_addr().map_err(|e| e.to_string());
        let host_part = |a: SocketAddr| match a {
            SocketAddr::V6(v6) => format!("[{}]:{}", v6.ip(), v6.port()),
            SocketAddr::V4(v4) => v4.to_string(),
        };
        let url = format!("http://{}", host_part(addr(&plain)?));
        let https_url = secure
            .as_ref()
            .map(|l| addr(l).map(|a| format!("https://{}", host_part(a))))
            .transpose()?;
        let pubsub_url = grpc_tls
            .as_ref()
            .map(|l| addr(l).map(host_part))
            .transpose()?;
        let pubsub_plain_url = grpc_plain
            .as_ref()
            .map(|l| addr(l).map(|a| format!("http://{}", host_part(a))))
            .transpose()?;
        let tls = if secure.is_some() || grpc_tls.is_some() {
            Some(tls::make_tls(&config.host)?)
        } else {
            None
        };
        let ca_pem = tls.as_ref().map(|t| t.ca_pem.clone());

        let state = Arc::new_cyclic(|this| OrgState {
            store: RwLock::new(data),
            auth: Mutex::new(auth),
            cursors: Mutex::new(Cursors::default()),
            query_jobs: Mutex::new(QueryJobs::default()),
            ingest_jobs: Mutex::new(IngestJobs::default()),
            usage: Mutex::new(Default::default()),
            ingest_failures: Mutex::new(Default::default()),
            events: crate::api::pubsub::events::Events::new(
                config.event_retention,
                config.pubsub_keepalive,
                config.pubsub_idle,
                config.cdc_overflow_threshold,
            ),
            config,
            urls: Mutex::new(
                std::iter::once(url.clone())
                    .chain(https_url.clone())
                    .collect(),
            ),
            this: this.clone(),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sfarrow-emulator")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the emulator runtime: {e}"))?;
        runtime.block_on(casing::learn());
        let server = Arc::new(Server {
            org: state.clone(),
            control: Mutex::new(control::Control::default()),
        });
        let (shutdown, stop) = tokio::sync::watch::channel(false);
        {
            let _guard = runtime.enter();
            let plain = tokio::net::TcpListener::from_std(plain).map_err(|e| e.to_string())?;
            runtime.spawn(server::accept_loop(
                server.clone(),
                url.clone().into(),
                plain,
                None,
                stop.clone(),
            ));
            if let (Some(l), Some(t), Some(u)) = (secure, &tls, https_url.clone()) {
                let l = tokio::net::TcpListener::from_std(l).map_err(|e| e.to_string())?;
                let acceptor = tokio_rustls::TlsAcceptor::from(t.server.clone());
                runtime.spawn(server::accept_loop(
                    server.clone(),
                    u.into(),
                    l,
                    Some(acceptor),
                    stop.clone(),
                ));
            }
            if let (Some(l), Some(t)) = (grpc_tls, &tls) {
                let l = tokio::net::TcpListener::from_std(l).map_err(|e| e.to_string())?;
                let acceptor = tokio_rustls::TlsAcceptor::from(t.grpc.clone());
                runtime.spawn(server::grpc::accept_loop(
                    server.clone(),
                    l,
                    Some(acceptor),
                    stop.clone(),
                ));
            }
            if let Some(l) = grpc_plain {
                let l = tokio::net::TcpListener::from_std(l).map_err(|e| e.to_string())?;
                runtime.spawn(server::grpc::accept_loop(server.clone(), l, None, stop));
            }
        }
        Ok(Org {
            state,
            server,
            identity: Identity {
                url,
                https_url,
                ca_pem,
                pubsub_url,
                pubsub_plain_url,
                org_id,
                user_id,
                username: USERNAME.into(),
                client_id,
                client_secret,
                private_key_pem,
                public_key_pem,
                certificate_pem,
                access_token,
            },
            runtime: Some(runtime),
            shutdown,
        })
    }

    pub fn stop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

impl Drop for Org {
    fn drop(&mut self) {
        self.stop();
    }
}
