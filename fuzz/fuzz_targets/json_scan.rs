#![no_main]
//! See `sfarrow_core::fuzzing::json_scan`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sfarrow_core::fuzzing::json_scan(data));
