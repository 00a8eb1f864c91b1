//! The raw-byte log reader as `knip replay recording.raw` uses it: every record read to the
//! end, then the log replayed (as fast as possible) through the decoder and link named in its
//! header, every block read.
#![no_main]

use knip::source::rawlog::RawLogReader;
use knip::source::replay::open_raw_replay;
use knip_fuzz::{drain, input_file};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = input_file("recording.raw", data);
    if let Ok(mut reader) = RawLogReader::open(&path) {
        std::hint::black_box(reader.header());
        while let Ok(Some(event)) = reader.next_event() {
            std::hint::black_box(event);
        }
    }
    if let Ok(mut source) = open_raw_replay(&path, None) {
        drain(&mut source);
    }
});
