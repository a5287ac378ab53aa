//! What reads, writes and events share about an object: its describe (fetched once per
//! connection, `describe`), how its fields are typed in Arrow (`types`), and the one reader of
//! an Arrow cell the client sends (`cells`). The three are siblings over this module; none
//! reaches into another for it.

pub mod cells;
pub mod describe;
pub mod types;

pub use describe::{DescribeCache, ObjectInfo};
