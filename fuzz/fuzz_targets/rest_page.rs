#![no_main]
//! See `sfarrow_client::fuzzing::rest_page`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sfarrow_client::fuzzing::rest_page(data));
