//! Files in and out: CSV input (hand-made cases, real recordings, the parallel reader), vendor files, EDF/BDF, recordings and their replay.
//!
//! One test binary for the group (each file in `tests/` is linked on its own), one module per
//! theme; `cargo test --test files <module>` runs one theme.

#[path = "../cli_support/mod.rs"]
mod cli_support;
#[path = "../limited_run/mod.rs"]
mod limited_run;

mod csv_input_cases;
mod csv_input_real;
mod csv_parallel_reader;
mod edf_roundtrip;
mod record_roundtrip;
mod vendor_files;
