//! The Salesforce client: grants and sessions that renew themselves (`client`), SOQL read into
//! Arrow through REST or Bulk API 2.0 (`read`), and Arrow written back (`write`). No Python in
//! here, so `cargo test` runs without an interpreter; `sfarrow._sfarrow` is a thin face over it.

pub mod client;
pub mod defaults;
mod error;
pub mod events;
#[cfg(any(test, feature = "internals"))]
#[doc(hidden)]
pub mod internals;
pub mod read;
pub mod schema;
pub mod write;

pub use error::{Error, Result};
