#![no_main]
//! See `sfarrow_client::internals::json_scan`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sfarrow_client::internals::json_scan(data));
