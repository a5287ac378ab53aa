//! The Pub/Sub API (`eventbus.v1.PubSub`, docs/wire-notes.md §10): topics, schemas, Subscribe
//! with credit-based flow control and replay, Publish and PublishStream. The change events
//! themselves are made in `cdc` when a request commits.
//!
//! - `events`: the org's event side (bus, schemas, faults, timings), held by `OrgState`
//! - `bus`: the event log, replay ids and retention
//! - `schema`: Avro schemas and ids, and the Avro writer
//! - `cdc`, `bitmap`: committed changes to change events
//! - `topics`: channel names
//! - `subscribe`, `publish`: the streaming calls
//! - `status`: errors as the service reports them
//! - `faults`: test controls for the gRPC side

pub mod bitmap;
pub mod bus;
pub mod cdc;
pub mod events;
pub mod faults;
pub mod publish;
pub mod schema;
pub mod status;
pub mod subscribe;
pub mod topics;

use crate::api::state::OrgState;
use sfarrow_pubsub_proto::pub_sub_server::PubSub;
use sfarrow_pubsub_proto::*;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use tonic::{Request, Response, Status, Streaming};

/// The authenticated caller of one RPC.
pub struct Caller {
    pub token: String,
}

fn header<'a>(md: &'a tonic::metadata::MetadataMap, key: &str) -> Option<&'a str> {
    md.get(key)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Checks the `accesstoken`, `instanceurl` and `tenantid` metadata (docs/wire-notes.md §10.1).
pub fn authenticate(
    state: &OrgState,
    md: &tonic::metadata::MetadataMap,
    rpc: &str,
) -> Result<Caller, Status> {
    let token =
        header(md, "accesstoken").ok_or_else(|| status::headers_invalid("accesstoken", rpc))?;
    header(md, "instanceurl").ok_or_else(|| status::headers_invalid("instanceurl", rpc))?;
    let tenant = header(md, "tenantid").ok_or_else(|| status::headers_invalid("tenantid", rpc))?;
    let auth = state.auth.lock();
    // The bare org id (15 or 18 characters) or the full `core/<name>/<org id>` form.
    let org = tenant.rsplit('/').next().unwrap_or(tenant);
    let same_org = org.len() >= 15 && auth.org_id.starts_with(&org[..15]) && org.len() <= 18;
    let session = auth.session(token).filter(|_| same_org);
    match session {
        Some(_) => Ok(Caller {
            token: token.to_string(),
        }),
        None => Err(status::unauthenticated(rpc)),
    }
}

type Stream<T> = Pin<Box<dyn tokio_stream::Stream<Item = Result<T, Status>> + Send + 'static>>;

pub struct Service {
    pub state: Weak<OrgState>,
}

impl Service {
    fn org(&self) -> Result<Arc<OrgState>, Status> {
        self.state
            .upgrade()
            .ok_or_else(|| Status::unavailable("the org has stopped"))
    }

    /// Every call starts here: the injected `unavailable` and `unauthenticated` faults, then
    /// authentication.
    fn begin(
        &self,
        md: &tonic::metadata::MetadataMap,
    ) -> Result<(Arc<OrgState>, Caller, String), Status> {
        let org = self.org()?;
        let rpc = status::rpc_id();
        match org.events.faults.take_at_call() {
            Some(faults::Kind::Unavailable) => return Err(status::unavailable(&rpc)),
            Some(faults::Kind::Unauthenticated) => return Err(status::unauthenticated(&rpc)),
            _ => {}
        }
        let caller = authenticate(&org, md, &rpc)?;
        Ok((org, caller, rpc))
    }
}

#[tonic::async_trait]
impl PubSub for Service {
    type SubscribeStream = Stream<FetchResponse>;
    type PublishStreamStream = Stream<PublishResponse>;
    type ManagedSubscribeStream = Stream<ManagedFetchResponse>;

    async fn subscribe(
        &self,
        request: Request<Streaming<FetchRequest>>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let (org, caller, rpc) = self.begin(request.metadata())?;
        let kill = request.extensions().get::<faults::Connection>().cloned();
        let rx = subscribe::start(org, caller, rpc, request.into_inner(), kill).await?;
        Ok(Response::new(Box::pin(rx)))
    }

    async fn get_schema(
        &self,
        request: Request<SchemaRequest>,
    ) -> Result<Response<SchemaInfo>, Status> {
        let (org, _, rpc) = self.begin(request.metadata())?;
        let id = request.into_inner().schema_id;
        if id.trim().is_empty() {
            return Err(status::status(
                tonic::Code::InvalidArgument,
                "schema.validation.failed",
                "The schema ID is blank. Provide a schema ID.",
                &rpc,
            ));
        }
        let s = org.events.schemas.get(&id).ok_or_else(|| {
            status::status(
                tonic::Code::NotFound,
                "schema.meta.permission",
                &format!("The schema {id:?} does not exist or you lack access to it."),
                &rpc,
            )
        })?;
        Ok(Response::new(SchemaInfo {
            schema_json: s.json.clone(),
            schema_id: s.id.clone(),
            rpc_id: rpc,
        }))
    }

    async fn get_topic(
        &self,
        request: Request<TopicRequest>,
    ) -> Result<Response<TopicInfo>, Status> {
        let (org, _, rpc) = self.begin(request.metadata())?;
        let name = request.into_inner().topic_name;
        if name.trim().is_empty() {
            return Err(status::invalid(
                "topic.validation.empty",
                "The topic name is blank. Provide a topic name.",
                &rpc,
            ));
        }
        let store = org.store.read();
        let t =
            topics::resolve(&store, &name).ok_or_else(|| status::topic_not_found(&name, &rpc))?;
        let schema_id = match t.table {
            Some(table) => org
                .events
                .schemas
                .current(&store.tables[table].def, store.schema_modified)
                .map_err(Status::internal)?
                .id
                .clone(),
            None => String::new(),
        };
        drop(store);
        let tenant_guid = org.auth.lock().org_id.clone();
        Ok(Response::new(TopicInfo {
            topic_name: name,
            tenant_guid,
            can_publish: t.platform_event,
            can_subscribe: true,
            schema_id,
            rpc_id: rpc,
        }))
    }

    async fn publish(
        &self,
        request: Request<PublishRequest>,
    ) -> Result<Response<PublishResponse>, Status> {
        // Publishing needs an authenticated caller, not who it is.
        let (org, _, rpc) = self.begin(request.metadata())?;
        let cut = request.extensions().get::<faults::Connection>().cloned();
        let r = publish::publish(&org, request.into_inner(), &rpc)?;
        if org.events.faults.take_drop_after() {
            // Applied, and the answer is lost with the connection.
            if let Some(c) = cut {
                c.0.notify_one();
            }
            return Err(Status::unavailable("connection reset by peer"));
        }
        Ok(Response::new(r))
    }

    async fn publish_stream(
        &self,
        request: Request<Streaming<PublishRequest>>,
    ) -> Result<Response<Self::PublishStreamStream>, Status> {
        let (org, _, rpc) = self.begin(request.metadata())?;
        let rx = publish::stream(org, rpc, request.into_inner());
        Ok(Response::new(Box::pin(rx)))
    }

    async fn managed_subscribe(
        &self,
        request: Request<Streaming<ManagedFetchRequest>>,
    ) -> Result<Response<Self::ManagedSubscribeStream>, Status> {
        let (_, _, rpc) = self.begin(request.metadata())?;
        Err(status::status(
            tonic::Code::Unimplemented,
            "managed.subscription.config.stopped",
            "Managed subscriptions are not served by this org.",
            &rpc,
        ))
    }
}
