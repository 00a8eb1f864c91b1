//! The text-line decoder on any bytes, cut into reads of any size, with and without a sample
//! counter and a value range: first alone (the rows it gives must be consistent after every
//! read), then behind a device link as `knip record` and `knip session` use it, with the cable
//! pulled out in the middle, every block read.
#![no_main]

use knip::source::line::{LineConfig, LineDecoder};
use knip::source::link::{LinkConfig, LinkSource, WireFormat};
use knip_fuzz::{decode_in_reads, drain, knob, BytesTransport};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let k = knob(data, 0);
    let read_len = 1 + usize::from(k & 0x3F);
    let config = LineConfig {
        rate_hz: None,
        seq_bits: [None, Some(8), Some(16), Some(32)][usize::from(knob(data, 1) & 3)],
        value_range: (knob(data, 1) & 4 == 4).then_some((-1000.0, 1000.0)),
    };

    let mut decoder = LineDecoder::new(config.clone());
    decode_in_reads(data, read_len, |read, rows, stats| {
        decoder.push(read, rows, stats);
        if let Some(layout) = decoder.layout() {
            assert!(rows.is_empty() || rows.width == layout.columns.len());
        }
    });
    std::hint::black_box(decoder.take_warnings());

    let unplug_s = (k & 0x40 == 0x40).then_some(f64::from(knob(data, 2)) / 8.0);
    let transport = BytesTransport::new(data, read_len, 0.004, unplug_s);
    let link = LinkConfig::new(WireFormat::Line(config));
    if let Ok(mut source) = LinkSource::start(transport, link, "line".into(), 115_200) {
        drain(&mut source);
    }
});
