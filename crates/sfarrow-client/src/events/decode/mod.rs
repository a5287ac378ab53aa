//! Event payloads into Arrow. A schema is compiled once into a plan (`plan`: which column each
//! Avro field lands in and how its value converts), then every payload is read straight from
//! its bytes into the column builders (`read`, with the builders and conversions in `columns`),
//! without building a value tree. Record fields get the types `conn.query` gives the same
//! fields (from describe, through the read planner's own functions), so events and queries of
//! one object concatenate.

mod columns;
mod plan;
mod read;
#[cfg(test)]
mod tests;

pub use plan::EventSchema;
pub use read::EventBatchBuilder;
