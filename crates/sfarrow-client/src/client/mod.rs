//! The Salesforce client: grants, sessions that renew themselves, authenticated API calls.

pub mod api;
mod body;
pub mod cache;
mod choice;
pub mod connect;
pub mod environment;
pub mod flows;
pub mod grant;
pub mod recycle;
pub mod retry;
pub mod secret;
pub mod session;

pub use crate::error::{Error, Result};
pub use api::{Client, Options, Request, Response};
pub use choice::Api;
pub use environment::Environment;
pub use grant::{Grant, Token};
pub use secret::Secret;
