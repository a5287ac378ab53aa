//! The part of Avro that Pub/Sub API events use: the schema JSON as a small tree (`schema`), a
//! reader of the binary encoding (`reader`) and the matching writers (`writer`). Payloads come
//! off the network, so the reader checks every length against what is left and returns an
//! error, never panics, whatever the bytes are.

mod reader;
mod schema;
#[cfg(test)]
mod tests;
mod writer;

pub use reader::{ReadError, ReadResult, Reader};
pub use schema::{Enum, Fixed, Record, RecordField, Schema};
pub use writer::*;
