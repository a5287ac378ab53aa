//! Requests and responses as the API handlers see them: no sockets, no hyper.

mod request;
mod response;

pub use request::{percent_decode, percent_encode, Req};
pub use response::{gzip, ApiError, Resp};
