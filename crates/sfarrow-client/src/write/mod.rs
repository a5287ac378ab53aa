//! Writing: insert, update, upsert and delete from Arrow data, one result row per input row.

mod bulk;
pub mod encode;
pub mod outcome;
mod rest;
pub mod writer;

pub use encode::{plan, Op, WritePlan};
pub use writer::{Finished, WriteOptions, Writer};
