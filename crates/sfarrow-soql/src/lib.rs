//! SOQL and Salesforce's data model, with no I/O: the SOQL lexer, parser, syntax tree and its
//! rendering; the table from Salesforce field types to Arrow types; the text forms of dates,
//! datetimes and times; record ids; percent-encoding and JSON text. The client and the emulator
//! both build on it, so each idea has one implementation.

pub mod formats;
pub mod ids;
pub mod json_text;
pub mod soql;
pub mod types;
pub mod urlenc;
