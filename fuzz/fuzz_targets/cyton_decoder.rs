//! The OpenBCI Cyton decoder, with or without the Daisy module (packets paired into 16-channel
//! samples), on any bytes, cut into reads of any size: first alone (the rows it gives must be
//! consistent after every read), then behind a device link as `knip record` and `knip session`
//! use it, with the cable pulled out in the middle, every block read.
#![no_main]

use knip::source::cyton::{CytonConfig, CytonDecoder};
use knip::source::link::{LinkConfig, LinkSource, WireFormat};
use knip_fuzz::{decode_in_reads, drain, knob, BytesTransport};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let k = knob(data, 0);
    let read_len = 1 + usize::from(k & 0x3F);
    let config = CytonConfig::default();
    let daisy = k & 0x80 == 0x80;

    let mut decoder = if daisy {
        CytonDecoder::new_daisy(&config)
    } else {
        CytonDecoder::new(&config)
    };
    let width = if daisy { 16 } else { 8 };
    let stats = decode_in_reads(data, read_len, |read, rows, stats| {
        decoder.push(read, rows, stats);
        assert!(rows.is_empty() || rows.width == width);
    });
    assert!(stats.skipped_bytes + 33 * stats.packets <= data.len() as u64);

    let unplug_s = (k & 0x40 == 0x40).then_some(f64::from(knob(data, 1)) / 8.0);
    let transport = BytesTransport::new(data, read_len, 0.004, unplug_s);
    let link = LinkConfig::new(if daisy {
        WireFormat::CytonDaisy(config)
    } else {
        WireFormat::Cyton(config)
    });
    if let Ok(mut source) = LinkSource::start(transport, link, "cyton".into(), 115_200) {
        drain(&mut source);
    }
});
