#![no_main]
//! See `sfarrow_core::fuzzing::rest_page`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sfarrow_core::fuzzing::rest_page(data));
