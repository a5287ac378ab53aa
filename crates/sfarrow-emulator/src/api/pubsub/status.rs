//! Failures as the Pub/Sub service reports them (docs/wire-notes.md §10.2): a gRPC status whose
//! message ends in ` rpcId: <id>`, with the `error-code` and `rpc-id` trailers clients branch on.

use tonic::{Code, Status};

const PREFIX: &str = "sfdc.platform.eventbus.grpc.";

/// A fresh random id shaped like a UUID (RPC ids, transaction keys, correlation keys).
pub fn rpc_id() -> String {
    let mut b = [0u8; 16];
    // The system RNG does not fail on supported platforms; a zeroed id is still well formed.
    let _ = aws_lc_rs::rand::fill(&mut b);
    uuid_text(&b)
}

/// Sixteen bytes as UUID text: `8-4-4-4-12` lowercase hex digits.
pub fn uuid_text(b: &[u8; 16]) -> String {
    let t: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &t[..8],
        &t[8..12],
        &t[12..16],
        &t[16..20],
        &t[20..32]
    )
}

pub fn status(code: Code, error_code: &str, message: &str, rpc: &str) -> Status {
    let mut s = Status::new(code, format!("{message} rpcId: {rpc}"));
    let md = s.metadata_mut();
    if let Ok(v) = format!("{PREFIX}{error_code}").parse() {
        md.insert("error-code", v);
    }
    if let Ok(v) = rpc.parse() {
        md.insert("rpc-id", v);
    }
    s
}

pub fn unauthenticated(rpc: &str) -> Status {
    status(
        Code::Unauthenticated,
        "service.auth.error",
        "An authentication exception occurred. Provide valid authentication via metadata headers.",
        rpc,
    )
}

pub fn headers_invalid(which: &str, rpc: &str) -> Status {
    status(
        Code::Unauthenticated,
        "service.auth.headers.invalid",
        &format!("The {which} header is blank or invalid. Provide valid authentication via metadata headers."),
        rpc,
    )
}

pub fn topic_not_found(topic: &str, rpc: &str) -> Status {
    status(
        Code::NotFound,
        "topic.not.found",
        &format!("The topic {topic:?} does not exist, or the subscriber lacks access to it."),
        rpc,
    )
}

pub fn replay_corrupted(rpc: &str) -> Status {
    status(
        Code::InvalidArgument,
        "subscription.fetch.replayid.corrupted",
        "The Replay ID validation failed. Ensure that the Replay ID is valid.",
        rpc,
    )
}

pub fn invalid(error_code: &str, message: &str, rpc: &str) -> Status {
    status(Code::InvalidArgument, error_code, message, rpc)
}

pub fn unavailable(rpc: &str) -> Status {
    status(
        Code::Unavailable,
        "service.unavailable",
        "The service is unavailable. Try again later.",
        rpc,
    )
}
