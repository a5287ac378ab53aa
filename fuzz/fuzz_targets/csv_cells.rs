#![no_main]
//! See `sfarrow_core::fuzzing::csv_cells`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sfarrow_core::fuzzing::csv_cells(data));
