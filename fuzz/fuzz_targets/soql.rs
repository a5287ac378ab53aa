#![no_main]
//! See `sfarrow_client::fuzzing::soql`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sfarrow_client::fuzzing::soql(data));
