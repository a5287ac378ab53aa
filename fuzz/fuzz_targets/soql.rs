#![no_main]
//! See `sfarrow_core::fuzzing::soql`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sfarrow_core::fuzzing::soql(data));
