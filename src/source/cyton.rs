//! Decoder for the OpenBCI Cyton board (8-channel ADS1299) streaming over its USB dongle, with
//! or without the Daisy module (16 channels). Public spec: OpenBCI "Cyton Data Format"; summary
//! in `DEVICES.md` §2 and `docs/devices.md`.
//!
//! With a Daisy the board still sends 250 packets a second, alternating: odd sample numbers
//! carry the board's channels 1–8, even ones the Daisy's channels 9–16. An odd packet and the
//! even packet right after it (its number + 1) make one 16-channel sample, so every channel runs
//! at 125 Hz; this is how BrainFlow (the OpenBCI GUI's reader) pairs them. A missing odd or even
//! packet costs exactly its pair: one 16-channel sample, counted lost.
//!
//! A packet is 33 bytes: `0xA0`, a 1-byte sample counter, 8 × 24-bit big-endian two's
//! complement samples, 6 aux bytes, and a footer `0xC0`–`0xC6`. `0xA0` also occurs inside data,
//! so a packet is accepted only when its footer is valid and the next packet's header follows
//! it (while searching the decoder waits for that header; in sync it checks it when already
//! received). After a bad packet it searches byte by byte. A packet followed by garbage is
//! therefore dropped (and counted lost by the counter) rather than risk accepting a torn one:
//! a lost sample is a clean gap, a torn one a spike.
//!
//! The counter wraps every 256 packets, so loss is counted modulo 256: a run of 255 or more lost
//! packets looks shorter than it was (or like none). Sample times come from the counter and the
//! nominal rate, never from arrival time (the dongle's FTDI latency timer delivers packets in
//! 16 ms clumps).

use super::wire::{Column, Layout, LinkStats, Rows};

pub const PACKET_BYTES: usize = 33;
pub const HEADER: u8 = 0xA0;
pub const CHANNELS: usize = 8;
/// Nominal rate over the dongle, Hz.
pub const RATE_HZ: f64 = 250.0;
/// Channels and rate per channel with the Daisy module.
pub const DAISY_CHANNELS: usize = 16;
pub const DAISY_RATE_HZ: f64 = 125.0;
/// Default ADS1299 gain of the Cyton firmware.
pub const DEFAULT_GAIN: f64 = 24.0;
/// Soft reset: the board answers with its version, ending with `$$$`.
pub const CMD_SOFT_RESET: u8 = b'v';
pub const CMD_START: u8 = b'b';
pub const CMD_STOP: u8 = b's';
pub const RESET_REPLY_END: &[u8] = b"$$$";

/// Microvolts per count for a channel gain: 4.5 V reference / gain / (2²³ − 1).
pub fn uv_per_count(gain: f64) -> f64 {
    4.5 / gain / ((1u32 << 23) - 1) as f64 * 1.0e6
}

/// A 24-bit big-endian two's complement number.
pub fn i24_be(b: [u8; 3]) -> i32 {
    let v = ((b[0] as i32) << 16) | ((b[1] as i32) << 8) | b[2] as i32;
    if v & 0x80_0000 != 0 {
        v - 0x100_0000
    } else {
        v
    }
}

pub fn is_footer(b: u8) -> bool {
    (0xC0..=0xC6).contains(&b)
}

/// Settings of the Cyton stream.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CytonConfig {
    /// ADS1299 gain of every channel (the firmware default is 24).
    pub gain: f64,
}

impl Default for CytonConfig {
    fn default() -> Self {
        CytonConfig { gain: DEFAULT_GAIN }
    }
}

/// Streaming packet decoder: feed bytes, get rows of 8 channels in µV.
#[derive(Debug, Clone)]
pub struct CytonDecoder {
    scale_uv: f64,
    buf: Vec<u8>,
    /// Start of unread bytes in `buf`.
    pos: usize,
    /// The last packet ended exactly where the next one should start.
    in_sync: bool,
    last: Option<(u8, u64)>,
    layout: Layout,
    /// Daisy mode: packets are paired into 16-channel samples.
    daisy: Option<DaisyPairing>,
}

/// Pairing state of the Daisy mode.
#[derive(Debug, Clone, Default)]
struct DaisyPairing {
    /// The last odd (board) packet: its packet index and channels 1–8.
    pending: Option<(u64, [f64; CHANNELS])>,
    /// Packet index of the first odd packet of the link epoch.
    base: Option<u64>,
    /// Relative index of the last 16-channel sample delivered.
    last_pair: Option<u64>,
}

impl CytonDecoder {
    pub fn new(config: &CytonConfig) -> Self {
        let gain = if config.gain.is_finite() && config.gain > 0.0 {
            config.gain
        } else {
            DEFAULT_GAIN
        };
        CytonDecoder {
            scale_uv: uv_per_count(gain),
            buf: Vec::with_capacity(4 * PACKET_BYTES),
            pos: 0,
            in_sync: false,
            last: None,
            layout: Layout {
                columns: (1..=CHANNELS)
                    .map(|i| Column {
                        name: format!("ch{i}"),
                        unit: Some("uV".to_string()),
                    })
                    .collect(),
                rate_hz: Some(RATE_HZ),
            },
            daisy: None,
        }
    }

    /// A Cyton with the Daisy module: 16 channels at 125 Hz.
    pub fn new_daisy(config: &CytonConfig) -> Self {
        let mut d = CytonDecoder::new(config);
        d.layout = Layout {
            columns: (1..=DAISY_CHANNELS)
                .map(|i| Column {
                    name: format!("ch{i}"),
                    unit: Some("uV".to_string()),
                })
                .collect(),
            rate_hz: Some(DAISY_RATE_HZ),
        };
        d.daisy = Some(DaisyPairing::default());
        d
    }

    /// Always known: 8 channels at 250 Hz (16 at 125 Hz with the Daisy).
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The link was reopened: drop partial bytes, forget the counter, relative indices from 0.
    pub fn reset_link(&mut self) {
        self.buf.clear();
        self.pos = 0;
        self.in_sync = false;
        self.last = None;
        if let Some(p) = self.daisy.as_mut() {
            *p = DaisyPairing::default();
        }
    }

    pub fn push(&mut self, bytes: &[u8], out: &mut Rows, stats: &mut LinkStats) {
        self.buf.extend_from_slice(bytes);
        let mut values = [0.0f64; CHANNELS];
        loop {
            let avail = &self.buf[self.pos..];
            if avail.is_empty() {
                break;
            }
            if avail[0] != HEADER {
                self.skip(stats);
                continue;
            }
            if avail.len() < PACKET_BYTES {
                break;
            }
            if !is_footer(avail[PACKET_BYTES - 1]) {
                self.skip(stats);
                continue;
            }
            // The next packet's header must follow. Searching, wait for it; in sync, check it
            // when it is already here (a torn packet can end in a byte that looks like a
            // footer: then the real header lies inside its 33 bytes, not right behind it).
            match avail.get(PACKET_BYTES) {
                None if !self.in_sync => break,
                None | Some(&HEADER) => {}
                Some(_) => {
                    self.skip(stats);
                    continue;
                }
            }
            let counter = avail[1];
            for (c, v) in values.iter_mut().enumerate() {
                let at = 2 + 3 * c;
                *v = i24_be([avail[at], avail[at + 1], avail[at + 2]]) as f64 * self.scale_uv;
            }
            self.pos += PACKET_BYTES;
            self.in_sync = true;
            stats.packets += 1;
            let index = match self.last {
                None => 0,
                Some((last, last_index)) => {
                    let delta = counter.wrapping_sub(last) as u64;
                    if delta == 0 {
                        stats.duplicate_samples += 1;
                        continue;
                    }
                    if self.daisy.is_none() {
                        stats.lost_samples += delta - 1;
                    }
                    last_index + delta
                }
            };
            self.last = Some((counter, index));
            match self.daisy.as_mut() {
                None => {
                    out.push(index, &values);
                    stats.samples += 1;
                }
                Some(p) if counter % 2 == 1 => p.pending = Some((index, values)),
                Some(p) => {
                    // An even (Daisy) packet completes the odd one right before it.
                    if let Some((odd_index, board)) = p.pending.take() {
                        if odd_index + 1 == index {
                            let base = *p.base.get_or_insert(odd_index);
                            let pair = (odd_index - base) / 2;
                            if let Some(last) = p.last_pair {
                                stats.lost_samples += pair - last - 1;
                            }
                            p.last_pair = Some(pair);
                            let mut row = [0.0f64; DAISY_CHANNELS];
                            row[..CHANNELS].copy_from_slice(&board);
                            row[CHANNELS..].copy_from_slice(&values);
                            out.push(pair, &row);
                            stats.samples += 1;
                        }
                    }
                }
            }
        }
        // Keep the unread tail only.
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
    }

    fn skip(&mut self, stats: &mut LinkStats) {
        stats.skip_byte(&mut self.in_sync);
        self.pos += 1;
    }
}

/// Encode one packet (for emulated boards in tests and benchmarks).
pub fn encode_packet(counter: u8, counts: &[i32; CHANNELS], footer: u8) -> [u8; PACKET_BYTES] {
    let mut p = [0u8; PACKET_BYTES];
    p[0] = HEADER;
    p[1] = counter;
    for (c, &v) in counts.iter().enumerate() {
        let v = v.clamp(-0x80_0000, 0x7F_FFFF) as u32 & 0xFF_FFFF;
        p[2 + 3 * c] = (v >> 16) as u8;
        p[3 + 3 * c] = (v >> 8) as u8;
        p[4 + 3 * c] = v as u8;
    }
    p[PACKET_BYTES - 1] = footer;
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(k: i32) -> [i32; CHANNELS] {
        std::array::from_fn(|c| (c as i32 + 1) * 1000 - k)
    }

    fn stream(counters: impl IntoIterator<Item = u8>) -> Vec<u8> {
        counters
            .into_iter()
            .flat_map(|c| encode_packet(c, &counts(c as i32), 0xC0))
            .collect()
    }

    #[test]
    fn scale_matches_the_spec() {
        assert!((uv_per_count(24.0) - 0.02235).abs() < 1e-5);
        assert_eq!(i24_be([0xFF, 0xFF, 0xFF]), -1);
        assert_eq!(i24_be([0x80, 0x00, 0x00]), -8_388_608);
        assert_eq!(i24_be([0x7F, 0xFF, 0xFF]), 8_388_607);
    }

    #[test]
    fn decodes_packets_in_any_chunking() {
        let bytes = stream(0..10);
        for chunk in [1, 5, 33, 100] {
            let mut d = CytonDecoder::new(&CytonConfig::default());
            let mut rows = Rows::default();
            let mut stats = LinkStats::default();
            for c in bytes.chunks(chunk) {
                d.push(c, &mut rows, &mut stats);
            }
            // The last packet waits for a following header while searching only at the start.
            assert_eq!(rows.indices, (0..10).collect::<Vec<u64>>(), "chunk {chunk}");
            let s = uv_per_count(24.0);
            assert!((rows.row(3)[1] - (2000.0 - 3.0) * s).abs() < 1e-9);
            assert_eq!(stats.skipped_bytes, 0);
        }
    }

    #[test]
    fn counter_gaps_and_wrap_are_counted_modulo_256() {
        let mut counters: Vec<u8> = (250..=255).collect();
        counters.extend([0, 5, 6]); // 1–4 lost across the wrap
        let mut d = CytonDecoder::new(&CytonConfig::default());
        let mut rows = Rows::default();
        let mut stats = LinkStats::default();
        d.push(&stream(counters), &mut rows, &mut stats);
        assert_eq!(rows.indices, vec![0, 1, 2, 3, 4, 5, 6, 11, 12]);
        assert_eq!(stats.lost_samples, 4);
    }

    #[test]
    fn resyncs_after_garbage_within_one_packet() {
        let mut bytes = stream(0..3);
        // Garbage full of fake headers and footers, then a torn packet.
        bytes.extend([0xA0, 1, 2, 0xC0, 0xA0, 0xA0, 0x55]);
        bytes.extend(&encode_packet(99, &counts(0), 0xC0)[..20]);
        bytes.extend(stream(3..6));
        let mut d = CytonDecoder::new(&CytonConfig::default());
        let mut rows = Rows::default();
        let mut stats = LinkStats::default();
        d.push(&bytes, &mut rows, &mut stats);
        assert_eq!(rows.indices, vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(stats.lost_samples, 0);
        assert_eq!(stats.resyncs, 1);
        assert_eq!(stats.skipped_bytes, 27);
    }

    #[test]
    fn daisy_pairs_odd_and_even_packets_and_counts_lost_pairs() {
        // Counters 1..=40 (odd = board, even = Daisy), then across the wrap. Missing: 10 (a
        // Daisy packet), 21 (a board packet), 30 and 31 (an even, then an odd).
        let mut counters: Vec<u8> = (0..=40).filter(|c| ![10, 21, 30, 31].contains(c)).collect();
        counters.extend((251..=255).chain(0..=4));
        let bytes = stream(counters.clone());
        for chunk in [1, 33, 500] {
            let mut d = CytonDecoder::new_daisy(&CytonConfig::default());
            assert_eq!(d.layout().columns.len(), 16);
            assert_eq!(d.layout().rate_hz, Some(125.0));
            let mut rows = Rows::default();
            let mut stats = LinkStats::default();
            for c in bytes.chunks(chunk) {
                d.push(c, &mut rows, &mut stats);
            }
            // Pairs (1,2)=0, (3,4)=1, …, (39,40)=19; (9,10), (21,22), (29,30), (31,32) lost.
            // Packets 41..=250 are missing from the stream: a gap of 210 counters, read as is.
            let mut expect: Vec<u64> = (0..20).filter(|p| ![4, 10, 14, 15].contains(p)).collect();
            // Counter 251 is 211 packets after 40: pair (251,252) is index (251 - 1) / 2 = 125.
            expect.extend([125, 126, 127, 128, 129]);
            assert_eq!(rows.indices, expect, "chunk {chunk}");
            assert_eq!(stats.lost_samples, 4 + (125 - 19 - 1), "chunk {chunk}");
            let s = uv_per_count(24.0);
            let k = rows.indices.iter().position(|&i| i == 1).expect("pair 1");
            assert!((rows.row(k)[0] - counts(3)[0] as f64 * s).abs() < 1e-9);
            assert!((rows.row(k)[8] - counts(4)[0] as f64 * s).abs() < 1e-9);
            assert!((rows.row(k)[15] - counts(4)[7] as f64 * s).abs() < 1e-9);
        }
    }

    #[test]
    fn a_bad_footer_costs_exactly_that_packet() {
        let mut bytes = stream(0..3);
        bytes.extend(encode_packet(3, &counts(3), 0x00));
        bytes.extend(stream(4..7));
        let mut d = CytonDecoder::new(&CytonConfig::default());
        let mut rows = Rows::default();
        let mut stats = LinkStats::default();
        d.push(&bytes, &mut rows, &mut stats);
        assert_eq!(rows.indices, vec![0, 1, 2, 4, 5, 6]);
        assert_eq!(stats.lost_samples, 1);
    }
}
