//! What a failed Pub/Sub call means for the caller (docs/wire-notes.md §10.2): the service
//! names the failure in the `error-code` trailer, so that decides, and the gRPC code only where
//! there is none (a cut connection, an RST_STREAM). `Renewals` bounds the renewals a refused
//! session gets.

use crate::client::retry::Attempts;
use crate::client::{Client, Error};
use tonic::{Code, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The session was refused: renew it and call again.
    Unauthenticated,
    /// The replay id is malformed, unknown or past retention.
    BadReplay,
    /// An outage or a broken connection: call again after a pause.
    Retry,
    /// Anything else: the caller's request is wrong.
    Fatal,
}

pub fn error_code(status: &Status) -> Option<&str> {
    status.metadata().get("error-code")?.to_str().ok()
}

pub fn classify(status: &Status) -> Kind {
    let code = error_code(status).unwrap_or("");
    if code.ends_with("replayid.corrupted") || code.ends_with("replayid.validation.failed") {
        return Kind::BadReplay;
    }
    if code.ends_with("service.auth.error") || code.ends_with("auth.refresh.invalid") {
        return Kind::Unauthenticated;
    }
    if code.ends_with("service.unavailable") || code.ends_with("api.unavailable") {
        return Kind::Retry;
    }
    match status.code() {
        Code::Unauthenticated if code.is_empty() => Kind::Unauthenticated,
        // No error code: the network or a proxy, not the service, ended the call.
        Code::Unavailable
        | Code::Unknown
        | Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
            if code.is_empty() =>
        {
            Kind::Retry
        }
        Code::Internal if code.is_empty() => Kind::Retry,
        _ => Kind::Fatal,
    }
}

/// The client error for a failed call, with the service's error code and message.
pub fn to_error(status: &Status) -> Error {
    let code = error_code(status).unwrap_or("").to_string();
    let message = format!("Pub/Sub API {:?}: {}", status.code(), status.message());
    match classify(status) {
        Kind::Unauthenticated => Error::Authentication {
            status: 401,
            code: if code.is_empty() {
                "UNAUTHENTICATED".into()
            } else {
                code
            },
            message,
        },
        Kind::Retry => Error::transport(message),
        Kind::BadReplay => Error::ReplayId { message },
        Kind::Fatal => Error::Api {
            status: grpc_http_status(status.code()),
            code: if code.is_empty() {
                format!("{:?}", status.code()).to_uppercase()
            } else {
                code
            },
            message,
            fields: Vec::new(),
        },
    }
}

/// Renews the session of generation `seen` after `refused`, within `attempts`' renewal budget
/// (the one retry-and-renew helper); once it is spent, the refusal is the error.
pub async fn renew_or_fail(
    attempts: &mut Attempts,
    client: &Client,
    seen: u64,
    refused: &Status,
) -> Result<(), Error> {
    if attempts.renew(client.renew(seen)).await? {
        return Ok(());
    }
    Err(match to_error(refused) {
        Error::Authentication {
            status,
            code,
            message,
        } => Error::Authentication {
            status,
            code,
            message: format!(
                "{message} (refused again after {} renewals of the session)",
                attempts.renewals()
            ),
        },
        other => other,
    })
}

/// The HTTP status a gRPC code corresponds to, so errors compare with the REST ones.
fn grpc_http_status(code: Code) -> u16 {
    match code {
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => 400,
        Code::Unauthenticated => 401,
        Code::PermissionDenied => 403,
        Code::NotFound => 404,
        Code::AlreadyExists | Code::Aborted => 409,
        Code::ResourceExhausted => 429,
        Code::Unimplemented => 501,
        Code::Unavailable => 503,
        Code::DeadlineExceeded => 504,
        _ => 500,
    }
}
