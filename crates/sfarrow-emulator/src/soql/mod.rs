//! SOQL execution: a parsed query is compiled against the org's schema into a `Plan` (every
//! path resolved, every literal typed) and run over the tables into a `ResultSet` of row numbers.
//! Values are rendered later, page by page (see `render`).
//!
//! - `plan`: what a compiled query is, and following a path from a row
//! - `compile`: parse and compile (names, layout, typed literals)
//! - `dates`: date literals as day ranges
//! - `filter`: matching rows and comparing values
//! - `exec`: select, sort, page
//! - `aggregate`: GROUP BY and aggregate functions
//! - `render`: REST JSON and Bulk CSV

mod aggregate;
mod compile;
mod dates;
mod exec;
mod filter;
mod plan;
pub mod render;

pub use compile::{compile, parse};
pub use exec::execute;
pub use plan::{QueryError, ResultSet};

use crate::data::store::Store;

/// Parses, compiles and runs a SOQL string: the path every query route takes.
pub fn run(store: &Store, soql_text: &str, include_deleted: bool) -> Result<ResultSet, QueryError> {
    let q = parse(soql_text)?;
    let plan = compile(store, &q)?;
    Ok(execute(store, plan, include_deleted))
}
