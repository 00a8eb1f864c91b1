//! Decoder for the PLUX BITalino (r)evolution board streaming in live mode over a serial port
//! (USB, or Bluetooth SPP such as `/dev/rfcomm0`). Facts and sources in `docs/devices.md`; the
//! byte layout, CRC and commands follow the official `revolution-python-api` (`bitalino.py`).
//!
//! Commands (one byte each): set the rate `(code << 6) | 0x03` with codes 0–3 for 1, 10, 100
//! and 1000 Hz; start live mode `A6 A5 A4 A3 A2 A1 0 1` (a channel mask); stop `0x00`; version
//! `0x07` (the answer is a text line containing `BITalino`, e.g. `BITalino_v5.2\n`).
//!
//! A frame carries one sample of the `n` acquired channels: ⌈(12 + 10n)/8⌉ bytes for n ≤ 4,
//! else ⌈(52 + 6(n − 4))/8⌉. Read from its end: the last byte holds the 4-bit sequence number
//! (high nibble) and a CRC-4 (low nibble); the byte before it the four digital lines I1 I2 O1 O2
//! and the start of the first channel. The first four channels of the frame are 10-bit, the
//! fifth and sixth 6-bit (so with all six acquired, A1–A4 are 10-bit and A5–A6 6-bit).
//!
//! Frames have no header: the decoder finds them by their CRC. A frame is accepted when its CRC
//! is right and either its sequence number is the expected one, or the next frame's CRC is also
//! right with the following sequence number (one wrong byte in 16 passes a CRC-4; two frames in
//! a row with consecutive numbers, one in 4096). After a bad frame it searches byte by byte.
//!
//! Loss is counted from the sequence number, modulo 16: a gap of `d` (1–16, 0 read as 16) means
//! `d − 1` samples lost, so a run of 16 or more lost frames looks shorter than it was.

use super::wire::{Column, Layout, LinkStats, Rows};

/// The rates the board offers, Hz.
pub const RATES_HZ: [u32; 4] = [1, 10, 100, 1000];
pub const DEFAULT_RATE_HZ: u32 = 1000;
/// Analog inputs A1–A6.
pub const MAX_CHANNELS: usize = 6;
pub const CMD_STOP: u8 = 0x00;
pub const CMD_VERSION: u8 = 0x07;
/// Supply voltage of the (r)evolution board, V.
pub const VCC_V: f64 = 3.3;
/// Gain of the (r)evolution EMG sensor.
pub const EMG_GAIN: f64 = 1009.0;

/// The set-rate command for `rate_hz` (1, 10, 100 or 1000).
pub fn cmd_rate(rate_hz: u32) -> Option<u8> {
    let code = RATES_HZ.iter().position(|&r| r == rate_hz)? as u8;
    Some((code << 6) | 0x03)
}

/// The start-live-mode command for analog inputs `analog` (1-based: 1 = A1).
pub fn cmd_start(analog: &[u8]) -> u8 {
    analog
        .iter()
        .filter(|a| (1..=6).contains(*a))
        .fold(0x01, |m, a| m | 1 << (a + 1))
}

/// The version line in a reply to [`CMD_VERSION`] (`BITalino_v5.2`), once its line end has
/// arrived; what comes before it (a stale byte, the end of a frame) is skipped.
pub fn version_line(reply: &[u8]) -> Option<String> {
    let at = reply.windows(8).position(|w| w == b"BITalino")?;
    let end = reply[at..].iter().position(|&b| b == b'\n')?;
    Some(
        String::from_utf8_lossy(&reply[at..at + end])
            .trim()
            .to_string(),
    )
}

/// Bytes in a frame with `n` channels.
pub fn frame_bytes(n: usize) -> usize {
    if n <= 4 {
        (12 + 10 * n).div_ceil(8)
    } else {
        (52 + 6 * (n - 4)).div_ceil(8)
    }
}

/// Resolution of the channel at `position` (0-based) in the frame, bits.
pub fn resolution_bits(position: usize) -> u32 {
    if position < 4 {
        10
    } else {
        6
    }
}

/// The (r)evolution EMG sensor's transfer function, in µV: EMG(mV) = (ADC/2ⁿ − ½) · VCC / G,
/// VCC = 3.3 V, G = 1009, n the channel's resolution in bits (range ±1.64 mV). Source: PLUX,
/// "BITalino (r)evolution EMG Sensor Data Sheet" (transfer function section).
pub fn emg_uv(adc: u32, bits: u32) -> f64 {
    let (gain, offset) = emg_uv_linear(bits);
    adc as f64 * gain + offset
}

/// [`emg_uv`] as `µV = ADC · gain + offset`: `(gain, offset)` for a resolution of `bits`
/// (for readers that scale whole columns, such as OpenSignals files).
pub fn emg_uv_linear(bits: u32) -> (f64, f64) {
    let range_uv = VCC_V / EMG_GAIN * 1e6;
    (range_uv / (1u64 << bits.min(63)) as f64, -0.5 * range_uv)
}

/// CRC-4 (x⁴ + x + 1) of a frame, computed as `bitalino.py` does: over every bit of the frame
/// with the CRC nibble itself taken as zero.
pub fn crc4(frame: &[u8]) -> u8 {
    let mut x: u8 = 0;
    let last = frame.len().saturating_sub(1);
    for (i, &byte) in frame.iter().enumerate() {
        let b = if i == last { byte & 0xF0 } else { byte };
        for bit in (0..8).rev() {
            x <<= 1;
            if x & 0x10 != 0 {
                x ^= 0x03;
            }
            x ^= (b >> bit) & 1;
        }
    }
    x & 0x0F
}

pub fn crc_ok(frame: &[u8]) -> bool {
    frame.last().is_some_and(|&l| crc4(frame) == l & 0x0F)
}

/// The sequence number, digital lines (I1 I2 O1 O2 as bits 3..0) and raw ADC values of a frame
/// with `n` channels (`frame.len() == frame_bytes(n)`).
pub fn decode_frame(frame: &[u8], n: usize) -> (u8, u8, [u32; MAX_CHANNELS]) {
    let l = frame.len();
    let b = |back: usize| -> u32 { frame.get(l.wrapping_sub(back)).copied().unwrap_or(0) as u32 };
    let mut a = [0u32; MAX_CHANNELS];
    let fields = [
        ((b(2) & 0x0F) << 6) | (b(3) >> 2),
        ((b(3) & 0x03) << 8) | b(4),
        (b(5) << 2) | (b(6) >> 6),
        ((b(6) & 0x3F) << 4) | (b(7) >> 4),
        ((b(7) & 0x0F) << 2) | (b(8) >> 6),
        b(8) & 0x3F,
    ];
    a[..n.min(MAX_CHANNELS)].copy_from_slice(&fields[..n.min(MAX_CHANNELS)]);
    ((b(1) >> 4) as u8, (b(2) >> 4) as u8, a)
}

/// Encode one frame (for emulated boards in tests): `values` are the raw ADC values of the
/// acquired channels in frame order, masked to their resolution.
pub fn encode_frame(seq: u8, digital: u8, values: &[u32]) -> Vec<u8> {
    let n = values.len().min(MAX_CHANNELS);
    let l = frame_bytes(n);
    let mut f = vec![0u8; l];
    let v = |k: usize| -> u32 {
        let mask = (1u32 << resolution_bits(k)) - 1;
        values.get(k).copied().unwrap_or(0) & mask
    };
    let mut put = |back: usize, value: u32| {
        if back <= l {
            f[l - back] |= value as u8;
        }
    };
    put(1, ((seq & 0x0F) as u32) << 4);
    put(2, ((digital & 0x0F) as u32) << 4 | (v(0) >> 6));
    put(3, ((v(0) & 0x3F) << 2) | (v(1) >> 8));
    if n > 1 {
        put(4, v(1) & 0xFF);
    }
    if n > 2 {
        put(5, v(2) >> 2);
        put(6, ((v(2) & 0x03) << 6) | (v(3) >> 4));
    }
    if n > 3 {
        put(7, ((v(3) & 0x0F) << 4) | (v(4) >> 2));
    }
    if n > 4 {
        put(8, ((v(4) & 0x03) << 6) | v(5));
    }
    let crc = crc4(&f);
    f[l - 1] |= crc;
    f
}

/// Settings of a BITalino stream.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BitalinoConfig {
    /// 1, 10, 100 or 1000 Hz.
    pub rate_hz: u32,
    /// Analog inputs acquired, 1-based (1 = A1), increasing.
    pub analog: Vec<u8>,
}

impl Default for BitalinoConfig {
    fn default() -> Self {
        BitalinoConfig {
            rate_hz: DEFAULT_RATE_HZ,
            analog: vec![1, 2],
        }
    }
}

impl BitalinoConfig {
    /// A usable configuration, or what is wrong with it.
    pub fn check(&self) -> Result<(), String> {
        if !RATES_HZ.contains(&self.rate_hz) {
            return Err(format!(
                "a BITalino samples at 1, 10, 100 or 1000 Hz, not {}",
                self.rate_hz
            ));
        }
        if self.analog.is_empty()
            || self.analog.len() > MAX_CHANNELS
            || self.analog.iter().any(|a| !(1..=6).contains(a))
            || self.analog.windows(2).any(|w| w[0] >= w[1])
        {
            return Err(format!(
                "BITalino inputs must be some of A1–A6, each once, in order; not {:?}",
                self.analog
            ));
        }
        Ok(())
    }
}

/// Which analog inputs to acquire for `--channels` requests whose columns name inputs
/// (`pfm_emg:1` = A1; without columns, A1, A2, … in order), and the requests rewritten to the
/// decoded columns (the acquired inputs in increasing order).
pub fn plan_channels(
    requests: &[super::link_config::ChannelRequest],
) -> Result<(Vec<u8>, Vec<super::link_config::ChannelRequest>), String> {
    if requests.is_empty() {
        return Ok((vec![1, 2], Vec::new()));
    }
    let inputs: Vec<usize> = requests
        .iter()
        .enumerate()
        .map(|(k, r)| r.column.unwrap_or(k + 1))
        .collect();
    if let Some(bad) = inputs.iter().find(|a| !(1..=MAX_CHANNELS).contains(*a)) {
        return Err(format!(
            "a BITalino has the analog inputs A1–A6; there is no A{bad}"
        ));
    }
    let mut analog: Vec<u8> = inputs.iter().map(|&a| a as u8).collect();
    analog.sort_unstable();
    analog.dedup();
    let rewritten = requests
        .iter()
        .zip(&inputs)
        .map(|(r, &a)| super::link_config::ChannelRequest {
            role: r.role,
            column: analog.iter().position(|&x| x as usize == a).map(|p| p + 1),
        })
        .collect();
    Ok((analog, rewritten))
}

/// Streaming frame decoder: feed bytes, get rows of the acquired channels in µV.
#[derive(Debug, Clone)]
pub struct BitalinoDecoder {
    n: usize,
    len: usize,
    buf: Vec<u8>,
    pos: usize,
    in_sync: bool,
    last: Option<(u8, u64)>,
    layout: Layout,
    values: Vec<f64>,
}

impl BitalinoDecoder {
    pub fn new(config: &BitalinoConfig) -> Self {
        let analog: Vec<u8> = if config.check().is_ok() {
            config.analog.clone()
        } else {
            BitalinoConfig::default().analog
        };
        let n = analog.len();
        BitalinoDecoder {
            n,
            len: frame_bytes(n),
            buf: Vec::with_capacity(64),
            pos: 0,
            in_sync: false,
            last: None,
            layout: Layout {
                columns: analog
                    .iter()
                    .map(|a| Column {
                        name: format!("A{a}"),
                        unit: Some("uV".to_string()),
                    })
                    .collect(),
                rate_hz: Some(if RATES_HZ.contains(&config.rate_hz) {
                    config.rate_hz as f64
                } else {
                    DEFAULT_RATE_HZ as f64
                }),
            },
            values: vec![0.0; n],
        }
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The link was reopened: drop partial bytes, forget the sequence, relative indices from 0.
    pub fn reset_link(&mut self) {
        self.buf.clear();
        self.pos = 0;
        self.in_sync = false;
        self.last = None;
    }

    pub fn push(&mut self, bytes: &[u8], out: &mut Rows, stats: &mut LinkStats) {
        self.buf.extend_from_slice(bytes);
        let len = self.len;
        loop {
            let avail = &self.buf[self.pos..];
            if avail.len() < len {
                break;
            }
            let frame = &avail[..len];
            if !crc_ok(frame) {
                if self.in_sync {
                    stats.crc_errors += 1;
                }
                self.skip(stats);
                continue;
            }
            let seq = frame[len - 1] >> 4;
            let expected = self.last.map(|(s, _)| (s + 1) & 0x0F);
            let confirmed = if self.in_sync && expected == Some(seq) {
                true
            } else {
                match avail.get(len..2 * len) {
                    None => break,
                    Some(next) => crc_ok(next) && next[len - 1] >> 4 == (seq + 1) & 0x0F,
                }
            };
            if !confirmed {
                self.skip(stats);
                continue;
            }
            let (_, _, adc) = decode_frame(frame, self.n);
            for (k, v) in self.values.iter_mut().enumerate() {
                *v = emg_uv(adc[k], resolution_bits(k));
            }
            self.pos += len;
            self.in_sync = true;
            stats.packets += 1;
            let index = match self.last {
                None => 0,
                Some((last, last_index)) => {
                    let d = seq.wrapping_sub(last) & 0x0F;
                    let d = if d == 0 { 16 } else { d as u64 };
                    stats.lost_samples += d - 1;
                    last_index + d
                }
            };
            self.last = Some((seq, index));
            out.push(index, &self.values);
            stats.samples += 1;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_line_is_found_after_stray_bytes_once_it_ends() {
        assert_eq!(
            version_line(b"\0junk\nBITalino_v5.2\n").as_deref(),
            Some("BITalino_v5.2")
        );
        assert_eq!(version_line(b"BITalino_v5"), None, "the line has not ended");
        assert_eq!(version_line(b"Arduino ready\n"), None);
        assert_eq!(version_line(b""), None);
    }

    /// The table-driven CRC of the ScientISST/BITalino firmware ports, written independently.
    fn crc4_table(frame: &[u8]) -> u8 {
        const T: [u8; 16] = [0, 3, 6, 5, 12, 15, 10, 9, 11, 8, 13, 14, 7, 4, 1, 2];
        let mut crc = 0u8;
        let (last, body) = frame.split_last().expect("frame");
        for &b in body {
            crc = T[crc as usize] ^ (b >> 4);
            crc = T[crc as usize] ^ (b & 0x0F);
        }
        crc = T[crc as usize] ^ (last >> 4);
        T[crc as usize]
    }

    fn values(k: u32, n: usize) -> Vec<u32> {
        (0..n)
            .map(|c| (k * 37 + c as u32 * 101) % (1 << resolution_bits(c)))
            .collect()
    }

    #[test]
    fn frame_sizes_commands_and_transfer_function() {
        let sizes: Vec<usize> = (1..=6).map(frame_bytes).collect();
        assert_eq!(sizes, vec![3, 4, 6, 7, 8, 8]);
        assert_eq!(cmd_rate(1000), Some(0xC3));
        assert_eq!(cmd_rate(1), Some(0x03));
        assert_eq!(cmd_rate(500), None);
        assert_eq!(cmd_start(&[1]), 0b0000_0101);
        assert_eq!(cmd_start(&[1, 2, 3, 4, 5, 6]), 0xFD);
        assert!(
            (emg_uv(1023, 10) - 1633.0).abs() < 1.0,
            "{}",
            emg_uv(1023, 10)
        );
        assert!((emg_uv(512, 10)).abs() < 1e-9);
        assert!((emg_uv(0, 6) + 1635.3).abs() < 0.1, "{}", emg_uv(0, 6));
    }

    #[test]
    fn frames_round_trip_and_the_crc_matches_the_table_form() {
        for n in 1..=6 {
            for k in 0..50u32 {
                let v = values(k, n);
                let f = encode_frame(k as u8 & 0x0F, (k % 16) as u8, &v);
                assert_eq!(f.len(), frame_bytes(n));
                assert!(crc_ok(&f));
                assert_eq!(crc4(&f), crc4_table(&f), "n {n} k {k}");
                let (seq, dig, adc) = decode_frame(&f, n);
                assert_eq!(seq, k as u8 & 0x0F);
                assert_eq!(dig, (k % 16) as u8);
                assert_eq!(&adc[..n], &v[..], "n {n} k {k}");
                let mut bad = f.clone();
                bad[0] ^= 0x10;
                assert!(!crc_ok(&bad));
            }
        }
    }

    fn decode(bytes: &[u8], chunk: usize, n: usize) -> (Rows, LinkStats) {
        let cfg = BitalinoConfig {
            rate_hz: 1000,
            analog: (1..=n as u8).collect(),
        };
        let mut d = BitalinoDecoder::new(&cfg);
        let mut rows = Rows::default();
        let mut stats = LinkStats::default();
        for c in bytes.chunks(chunk) {
            d.push(c, &mut rows, &mut stats);
        }
        (rows, stats)
    }

    #[test]
    fn gaps_garbage_and_a_bad_crc_are_counted_exactly() {
        let n = 2;
        let mut bytes = Vec::new();
        for k in 0..60u32 {
            if (20..23).contains(&k) {
                continue; // 3 lost
            }
            let mut f = encode_frame(k as u8 & 0x0F, 0, &values(k, n));
            if k == 40 {
                f[1] ^= 0x04; // corrupted on the way: a CRC error, 1 lost
            }
            if k == 30 {
                // Garbage before frame 30; the frame read across it fails its CRC.
                let g = [0x55, 0x13, 0xC7];
                let mut probe = g.to_vec();
                probe.extend(&f);
                assert!(!crc_ok(&probe[..frame_bytes(n)]));
                bytes.extend(g);
            }
            bytes.extend(f);
        }
        for chunk in [1, 3, 7, 1000] {
            let (rows, stats) = decode(&bytes, chunk, n);
            let expect: Vec<u64> = (0..60)
                .filter(|k| !(20..23).contains(k) && *k != 40)
                .collect();
            // The last frame waits for a following one only while searching: in sync it goes.
            assert_eq!(rows.indices, expect, "chunk {chunk}");
            assert_eq!(stats.lost_samples, 4, "chunk {chunk}");
            assert_eq!(stats.crc_errors, 2, "chunk {chunk}");
            assert_eq!(stats.resyncs, 2, "chunk {chunk}");
            assert_eq!(
                stats.skipped_bytes,
                3 + frame_bytes(n) as u64,
                "chunk {chunk}"
            );
            let v = values(41, n);
            let k41 = rows.indices.iter().position(|&i| i == 41).expect("41");
            assert!((rows.row(k41)[1] - emg_uv(v[1], 10)).abs() < 1e-9);
        }
    }

    #[test]
    fn sequence_gaps_are_counted_modulo_16() {
        let mut bytes = Vec::new();
        // 0..5, then 16 + 3 = 19 lost, read as 3 (modulo 16).
        for k in (0..5u32).chain(24..30) {
            bytes.extend(encode_frame(k as u8 & 0x0F, 0, &values(k, 1)));
        }
        let (rows, stats) = decode(&bytes, 5, 1);
        assert_eq!(rows.indices, vec![0, 1, 2, 3, 4, 8, 9, 10, 11, 12, 13]);
        assert_eq!(stats.lost_samples, 3);
    }

    #[test]
    fn channel_plans_follow_the_inputs() {
        use super::super::link_config::parse_channel_requests;
        let r = parse_channel_requests("pfm_emg:3,abd_emg:1").expect("parse");
        let (analog, rw) = plan_channels(&r).expect("plan");
        assert_eq!(analog, vec![1, 3]);
        assert_eq!(rw[0].column, Some(2));
        assert_eq!(rw[1].column, Some(1));
        assert!(plan_channels(&parse_channel_requests("pfm_emg:7").expect("p")).is_err());
        assert_eq!(plan_channels(&[]).expect("default").0, vec![1, 2]);
    }
}
