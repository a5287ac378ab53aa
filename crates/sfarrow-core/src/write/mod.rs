//! Writing: insert, update, upsert and delete from Arrow data, one result row per input row.

pub mod encode;
pub mod outcome;
pub mod writer;

pub use encode::{plan, Op, WritePlan};
pub use writer::{WriteOptions, Writer};
