//! The CSV reader as `knip analyze FILE.csv` opens it, read to the end: alone or with a
//! parsing thread ahead of it (in small chunks, so that many lines cross a chunk boundary),
//! with and without `--rate`.
#![no_main]

use knip::source::csv_file::{CsvOptions, CsvSource};
use knip_fuzz::{drain, input_file, knob};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let k = knob(data, 0);
    let opts = CsvOptions {
        rate_hz: (k & 1 == 1).then_some(1000.0),
        read_threads: if k & 2 == 2 { 2 } else { 1 },
        read_chunk_bytes: [0, 7, 64, 4096][usize::from(k >> 2) & 3],
        block_rows: [0, 1, 3, 512][usize::from(k >> 4) & 3],
        ..CsvOptions::default()
    };
    let path = input_file("input.csv", data);
    if let Ok(mut source) = CsvSource::open(&path, &opts) {
        std::hint::black_box(source.warnings());
        drain(&mut source);
    }
});
