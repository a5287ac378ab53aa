//! The only code that speaks HTTP on a socket: listeners (plain and TLS), header spellings,
//! faults, the request log.
pub mod casing;
pub mod control;
pub mod tls;
