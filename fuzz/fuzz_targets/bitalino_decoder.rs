//! The PLUX BITalino decoder on any bytes, cut into reads of any size, for every set of
//! analog inputs (so every frame length, 1–6 channels): first alone (the rows it gives must be
//! consistent after every read), then behind a device link as `knip record` and `knip session`
//! use it, with the cable pulled out in the middle, every block read.
#![no_main]

use knip::source::bitalino::{frame_bytes, BitalinoConfig, BitalinoDecoder};
use knip::source::link::{LinkConfig, LinkSource, WireFormat};
use knip_fuzz::{decode_in_reads, drain, knob, BytesTransport};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let k = knob(data, 0);
    let read_len = 1 + usize::from(k & 0x3F);
    let mask = knob(data, 1) & 0x3F;
    let analog: Vec<u8> = (1..=6u8).filter(|a| mask & (1 << (a - 1)) != 0).collect();
    let analog = if analog.is_empty() { vec![1] } else { analog };
    let n = analog.len();
    let config = BitalinoConfig {
        rate_hz: [1, 10, 100, 1000][usize::from(knob(data, 1) >> 6)],
        analog,
    };

    let mut decoder = BitalinoDecoder::new(&config);
    let stats = decode_in_reads(data, read_len, |read, rows, stats| {
        decoder.push(read, rows, stats);
        assert!(rows.is_empty() || rows.width == n);
        assert!(rows.values.iter().all(|v| v.is_finite()));
    });
    assert!(stats.skipped_bytes + frame_bytes(n) as u64 * stats.packets <= data.len() as u64);

    let unplug_s = (k & 0x40 == 0x40).then_some(f64::from(knob(data, 2)) / 8.0);
    let transport = BytesTransport::new(data, read_len, 0.004, unplug_s);
    let link = LinkConfig::new(WireFormat::Bitalino(config));
    if let Ok(mut source) = LinkSource::start(transport, link, "bitalino".into(), 115_200) {
        drain(&mut source);
    }
});
