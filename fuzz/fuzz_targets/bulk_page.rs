#![no_main]
//! See `sfarrow_client::internals::bulk_page`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sfarrow_client::internals::bulk_page(data));
