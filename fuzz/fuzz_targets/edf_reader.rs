//! The EDF/BDF reader as `knip analyze FILE.edf|FILE.bdf` opens it, read to the end with its
//! annotations and markers. A file starting with byte 0xFF (BioSemi's mark) is named `.bdf`,
//! any other `.edf`, so both formats are reached.
#![no_main]

use knip::source::csv_file::CsvOptions;
use knip::source::edf::EdfSource;
use knip_fuzz::{drain, input_file};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let name = if data.first() == Some(&0xFF) {
        "input.bdf"
    } else {
        "input.edf"
    };
    let path = input_file(name, data);
    if let Ok(mut source) = EdfSource::open(&path, &CsvOptions::default()) {
        std::hint::black_box((source.markers(), source.status_markers(), source.warnings()));
        std::hint::black_box(source.start_offset_s());
        drain(&mut source);
    }
});
