//! Reading: SOQL to Arrow through REST or Bulk API 2.0, one schema whichever ran.

mod bulk;
pub mod column;
pub(crate) mod csv_cells;
pub mod decode;
pub(crate) mod json_scan;
pub mod options;
mod out;
pub mod plan;
pub mod rest_json;
pub mod run;
pub mod split;

pub use crate::schema::DescribeCache;
pub use options::{Api, ReadOptions};
pub use out::Batches;
pub use run::{start, ReadInfo, ReadStream};
