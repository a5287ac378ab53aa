#![no_main]
//! See `sfarrow_client::internals::soql`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sfarrow_client::internals::soql(data));
