//! The pure-Rust heart of sfarrow: SOQL, Salesforce field types, value formats and record ids.
//! Nothing in here knows about Python, so `cargo test` runs without an interpreter, and both the
//! client and the emulator use the same code for every idea.

pub mod client;
pub mod files;
pub mod formats;
#[cfg(any(test, fuzzing))]
#[doc(hidden)]
pub mod fuzzing;
pub mod ids;
pub mod json_text;
pub mod read;
pub mod soql;
pub mod types;
pub mod urlenc;
pub mod write;
