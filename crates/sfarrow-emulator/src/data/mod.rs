//! The org's data: object definitions, the record store, values and their rules.
pub mod changes;
pub mod dml;
pub mod locks;
pub mod objects;
pub mod rng;
pub mod schema;
pub mod store;
pub mod table;
mod validate;
pub mod value;
