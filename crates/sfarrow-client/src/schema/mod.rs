//! What reads, writes and events share about an object: its describe (fetched once per
//! connection, `describe`) and how its fields are typed in Arrow (`types`). The three are
//! siblings over this module; none reaches into another for it.

pub mod describe;
pub mod types;

pub use describe::{DescribeCache, ObjectInfo};
