//! Salesforce Pub/Sub API events without a general Avro library: `avro` parses the event schema
//! and reads the binary encoding with every read bounds checked, `bitmap` turns the
//! changedFields/nulledFields/diffFields bitmaps into field names, `decode` compiles a schema
//! once and decodes payloads straight into Arrow columns typed like `conn.query`'s, and
//! `encode` writes Arrow rows back as payloads for publishing platform events. `channel` holds the
//! gRPC connection and schema cache, `subscribe` and `publish` are the two things a user does.

pub mod avro;
pub mod bitmap;
pub mod channel;
pub mod decode;
pub mod encode;
pub mod publish;
mod status;
pub mod subscribe;

pub use channel::PubSub;
pub use subscribe::{EventStream, OnInvalidReplay, Progress, Replay, SubscribeOptions};
