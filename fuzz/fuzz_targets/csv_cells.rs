#![no_main]
//! See `sfarrow_client::internals::csv_cells`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sfarrow_client::internals::csv_cells(data));
