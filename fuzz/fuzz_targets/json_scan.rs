#![no_main]
//! See `sfarrow_client::fuzzing::json_scan`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sfarrow_client::fuzzing::json_scan(data));
