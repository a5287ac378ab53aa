//! The connection to the Pub/Sub API (docs/wire-notes.md §10.1): one lazily opened HTTP/2
//! channel per connection, every call sent with the session's token, instance URL and org id
//! as metadata, and the schemas of the events seen, fetched once per schema id.

use crate::client::retry::Attempts;
use crate::client::{Client, Error, Request, Result};
use crate::events::decode::EventSchema;
use crate::events::status::{classify, renew_or_fail, to_error, Kind};
use crate::schema::DescribeCache;
use parking_lot::Mutex;
use sfarrow_pubsub_proto::pub_sub_client::PubSubClient;
use sfarrow_pubsub_proto::{SchemaRequest, TopicInfo, TopicRequest};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

/// Salesforce's endpoint, for every org (docs/wire-notes.md §10.1).
pub const DEFAULT_URL: &str = crate::defaults::PUBSUB_URL;

/// Where to reach the service: `host:port` or `https://host:port` over TLS, or `http://` to a
/// loopback address (an emulator) in plaintext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub uri: String,
    pub host: String,
    pub tls: bool,
}

pub fn parse_url(text: &str) -> Result<Target> {
    let bad = |why: &str| {
        Error::config(format!(
            "pubsub_url must be host:port, https://host:port or (to a local emulator) http://127.0.0.1:port; {why}: {:?}",
            without_credentials(text)
        ))
    };
    let t = text.trim();
    let with_scheme = if t.contains("://") {
        t.to_string()
    } else {
        format!("https://{t}")
    };
    let u = url::Url::parse(&with_scheme).map_err(|_| bad("it does not parse"))?;
    let tls = match u.scheme() {
        "https" => true,
        "http" => false,
        _ => return Err(bad("the scheme is not https or http")),
    };
    if !u.username().is_empty() || u.password().is_some() {
        return Err(bad(
            "it carries a user name or password (the session's token is what authenticates)",
        ));
    }
    if !matches!(u.path(), "" | "/") || u.query().is_some() || u.fragment().is_some() {
        return Err(bad("it has a path, query or fragment"));
    }
    let host = u
        .host_str()
        .ok_or_else(|| bad("it has no host"))?
        .to_string();
    let port = u
        .port()
        .unwrap_or(if t.contains("://") { 443 } else { 7443 });
    if !tls && !crate::client::environment::is_loopback(&with_scheme) {
        return Err(bad("plaintext is only for a loopback address"));
    }
    let scheme = if tls { "https" } else { "http" };
    let uri_host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.clone()
    };
    Ok(Target {
        uri: format!("{scheme}://{uri_host}:{port}"),
        host: host.trim_matches(|c| c == '[' || c == ']').to_string(),
        tls,
    })
}

/// `text` with whatever stands between its scheme and its last `@` (a user name, a password)
/// left out, to quote in an error.
fn without_credentials(text: &str) -> String {
    let (scheme, rest) = match text.find("://") {
        Some(i) => text.split_at(i + 3),
        None => ("", text),
    };
    match rest.rfind('@') {
        Some(at) => format!("{scheme}(credentials left out)@{}", &rest[at + 1..]),
        None => text.to_string(),
    }
}

pub struct PubSub {
    pub(crate) client: Arc<Client>,
    pub(crate) describes: Arc<DescribeCache>,
    target: Target,
    ca_pem: Option<String>,
    channel: tokio::sync::OnceCell<Channel>,
    /// (org id, user id) of the session's user.
    who: tokio::sync::OnceCell<(String, String)>,
    schemas: Mutex<HashMap<String, Arc<EventSchema>>>,
}

/// The metadata's generation: which session token a call was sent with, to renew it once.
pub type Generation = u64;

impl PubSub {
    pub fn new(
        client: Arc<Client>,
        describes: Arc<DescribeCache>,
        url: &str,
        ca_pem: Option<String>,
    ) -> Result<PubSub> {
        Ok(PubSub {
            client,
            describes,
            target: parse_url(url)?,
            ca_pem,
            channel: tokio::sync::OnceCell::new(),
            who: tokio::sync::OnceCell::new(),
            schemas: Mutex::new(HashMap::new()),
        })
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    async fn channel(&self) -> Result<Channel> {
        self.channel
            .get_or_try_init(|| async {
                let mut e = Endpoint::from_shared(self.target.uri.clone())
                    .map_err(|e| Error::config(format!("pubsub_url: {e}")))?
                    .tcp_nodelay(true)
                    .connect_timeout(self.client.timeout().min(Duration::from_secs(30)))
                    .http2_keep_alive_interval(Duration::from_secs(30))
                    .keep_alive_while_idle(true);
                if self.target.tls {
                    let mut tls = ClientTlsConfig::new()
                        .with_native_roots()
                        .domain_name(self.target.host.clone());
                    if let Some(pem) = &self.ca_pem {
                        tls = tls.ca_certificate(Certificate::from_pem(pem.as_bytes()));
                    }
                    e = e
                        .tls_config(tls)
                        .map_err(|e| Error::config(format!("pubsub_url TLS: {e}")))?;
                }
                Ok::<_, Error>(e.connect_lazy())
            })
            .await
            .cloned()
    }

    /// `call` (a unary call, or the opening of a stream: its answer's headers), or
    /// DEADLINE_EXCEEDED without an error code, an outage to retry, when the service has not
    /// answered within the connection's `request_timeout`.
    pub async fn timed<R>(
        &self,
        call: impl std::future::Future<Output = std::result::Result<R, tonic::Status>>,
    ) -> std::result::Result<R, tonic::Status> {
        let limit = self.client.timeout();
        match tokio::time::timeout(limit, call).await {
            Ok(answer) => answer,
            Err(_) => Err(tonic::Status::deadline_exceeded(format!(
                "no answer within request_timeout ({} s)",
                limit.as_secs_f64()
            ))),
        }
    }

    pub async fn stub(&self) -> Result<PubSubClient<Channel>> {
        Ok(PubSubClient::new(self.channel().await?)
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(8 << 20))
    }

    /// The org id (for `tenantid`) and user id: from the identity URL (`.../id/<org>/<user>`),
    /// else from userinfo.
    pub async fn who(&self) -> Result<(String, String)> {
        self.who
            .get_or_try_init(|| async {
                if let Some(id) = self.client.id_url() {
                    let parts: Vec<&str> = id.trim_end_matches('/').rsplit('/').collect();
                    if parts.len() >= 3 && parts[2] == "id" && parts[1].starts_with("00D") {
                        return Ok((parts[1].to_string(), parts[0].to_string()));
                    }
                }
                let info = self
                    .client
                    .send(Request::get("/services/oauth2/userinfo"))
                    .await?
                    .json()?;
                let get = |k: &str| info.get(k).and_then(|v| v.as_str()).map(String::from);
                match (get("organization_id"), get("user_id")) {
                    (Some(org), Some(user)) => Ok((org, user)),
                    _ => Err(Error::protocol(
                        "userinfo did not give organization_id and user_id",
                    )),
                }
            })
            .await
            .cloned()
    }

    /// `msg` as a request carrying the current session, and that session's generation.
    pub async fn request<T>(&self, msg: T) -> Result<(tonic::Request<T>, Generation)> {
        let (tenant, _) = self.who().await?;
        let (token, instance, generation) = self.client.credentials();
        let mut r = tonic::Request::new(msg);
        let md = r.metadata_mut();
        let value = |s: &str| {
            s.parse::<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>()
                .map_err(|_| Error::config("the session token or instance URL is not plain ASCII"))
        };
        md.insert("accesstoken", value(token.expose())?);
        md.insert("instanceurl", value(&instance)?);
        md.insert("tenantid", value(&tenant)?);
        Ok((r, generation))
    }

    pub async fn topic(&self, name: &str) -> Result<TopicInfo> {
        let req = TopicRequest {
            topic_name: name.to_string(),
        };
        self.unary(req, |mut stub, r| async move { stub.get_topic(r).await })
            .await
    }

    /// The compiled schema of `schema_id`, fetched once.
    pub async fn schema(&self, schema_id: &str) -> Result<Arc<EventSchema>> {
        if let Some(s) = self.schemas.lock().get(schema_id) {
            return Ok(s.clone());
        }
        let req = SchemaRequest {
            schema_id: schema_id.to_string(),
        };
        let info = self
            .unary(req, |mut stub, r| async move { stub.get_schema(r).await })
            .await?;
        let entity = entity_of_schema(&info.schema_json)?;
        // Typed like `conn.query` when the object's describe is readable; Avro types otherwise.
        let describe = self.describes.get(&self.client, &entity).await.ok();
        let compiled = Arc::new(EventSchema::compile(
            schema_id,
            &info.schema_json,
            describe.as_deref(),
        )?);
        self.schemas
            .lock()
            .insert(schema_id.to_string(), compiled.clone());
        Ok(compiled)
    }

    /// A unary call with the session's metadata, within the request timeout; the session is
    /// renewed on UNAUTHENTICATED and the call retried (`Attempts`, the one retry-and-renew helper) and the call retried on an outage or a timeout
    /// (it starts over: GetTopic and GetSchema apply nothing).
    pub async fn unary<T, R, F, Fut>(&self, msg: T, call: F) -> Result<R>
    where
        T: Clone,
        F: Fn(PubSubClient<Channel>, tonic::Request<T>) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<tonic::Response<R>, tonic::Status>>,
    {
        let mut attempts = Attempts::new(*self.client.retry_policy());
        loop {
            let (req, generation) = self.request(msg.clone()).await?;
            match self.timed(call(self.stub().await?, req)).await {
                Ok(r) => return Ok(r.into_inner()),
                Err(status) => match classify(&status) {
                    Kind::Unauthenticated => {
                        renew_or_fail(&mut attempts, &self.client, generation, &status).await?
                    }
                    Kind::Retry if attempts.again().await => {}
                    _ => return Err(to_error(&status)),
                },
            }
        }
    }
}

/// The object or event a schema's events are about: `AccountChangeEvent` -> `Account`,
/// `Employee__ChangeEvent` -> `Employee__c`, `Order__e` stays.
fn entity_of_schema(json: &str) -> Result<String> {
    let v: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| Error::protocol(format!("the event schema is not JSON: {e}")))?;
    let name = v
        .get("name")
        .and_then(|n| n.as_str())
        .ok_or_else(|| Error::protocol("the event schema has no record name"))?;
    let name = name.rsplit('.').next().unwrap_or(name);
    Ok(if let Some(stem) = name.strip_suffix("__ChangeEvent") {
        format!("{stem}__c")
    } else if let Some(stem) = name.strip_suffix("ChangeEvent") {
        stem.to_string()
    } else {
        name.to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities() {
        let e = |n: &str| entity_of_schema(&format!("{{\"name\":\"{n}\"}}")).expect("ok");
        assert_eq!(e("AccountChangeEvent"), "Account");
        assert_eq!(
            e("com.sforce.eventbus.Employee__ChangeEvent"),
            "Employee__c"
        );
        assert_eq!(e("Order__e"), "Order__e");
    }

    #[test]
    fn urls() {
        let t = parse_url("api.pubsub.salesforce.com:7443").expect("ok");
        assert_eq!(
            (t.uri.as_str(), t.tls),
            ("https://api.pubsub.salesforce.com:7443", true)
        );
        assert_eq!(
            parse_url("api.pubsub.salesforce.com").expect("ok").uri,
            "https://api.pubsub.salesforce.com:7443"
        );
        assert!(!parse_url("http://127.0.0.1:7011").expect("ok").tls);
        assert_eq!(parse_url("127.0.0.1:9").expect("ok").host, "127.0.0.1");
        for bad in [
            "http://evil.example.com:80",
            "https://user:pw@api.pubsub.salesforce.com:7443",
            "user:pw@api.pubsub.salesforce.com:7443",
            "https://api.pubsub.salesforce.com:7443/path",
            "https://api.pubsub.salesforce.com:7443?x=1",
            "ftp://api.pubsub.salesforce.com",
            "",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
        for with_secret in [
            "https://user:s3cret@api.pubsub.salesforce.com:7443",
            "user:s3cret@api.pubsub.salesforce.com",
            "https://s3cret@api.pubsub.salesforce.com:7443",
            "https://user:s3cret@api.pubsub.salesforce.com:port",
            "https://user:s3/cr@et@api.pubsub.salesforce.com:7443/path",
        ] {
            let e = parse_url(with_secret).expect_err(with_secret).to_string();
            assert!(!e.contains("s3cret") && !e.contains("s3/cr"), "{e}");
            assert!(e.contains("api.pubsub.salesforce.com"), "{e}");
        }
    }
}
