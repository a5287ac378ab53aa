//! SOQL: parsing to the tree in [`ast`], rendering back with `Display`, and the questions the
//! client asks about a query (count-only? runnable by Bulk API 2.0?).
//!
//! String literals keep `\%` and `\_` as backslash + char (for LIKE); every other escape is
//! resolved. Function calls that stand in for a field in WHERE/HAVING/GROUP BY/ORDER BY are stored
//! as a one-segment [`FieldPath`] `NAME(arg)`; see [`FieldPath::function_call`].

pub mod ast;
mod build;
mod date_literal;
mod display;
mod error;
mod inspect;
mod lexer;
mod parser;

pub use ast::*;
pub use build::{source_query, Window};
pub use date_literal::{DateLiteral, N_KEYWORDS, PLAIN_KEYWORDS};
pub use display::quote_string;
pub use error::{SoqlError, SoqlErrorKind};

/// Parses one SOQL query.
pub fn parse(soql: &str) -> Result<Query, SoqlError> {
    parser::parse_query(soql)
}

/// Parses one condition (what follows WHERE).
pub fn parse_condition(text: &str) -> Result<Condition, SoqlError> {
    parser::parse_condition(text)
}

#[cfg(test)]
mod tests;
