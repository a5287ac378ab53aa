#![no_main]
//! See `sfarrow_client::fuzzing::csv_cells`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sfarrow_client::fuzzing::csv_cells(data));
