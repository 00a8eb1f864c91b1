//! Property tests ("fuzzing") of the serial decoders: any bytes, cut into any reads, never make
//! them panic or emit anything inconsistent; valid streams with losses and garbage decode to
//! exactly the samples sent, at exactly their indices.
//!
//! A normal `cargo test` runs a few hundred cases per property. For a long run:
//! `KNIP_FUZZ_SECONDS=300 cargo test --release --test serial decoder_fuzz -- --nocapture`
//! keeps generating new random cases for that many seconds per property.

use crate::limited_run;

use knip::source::bitalino::{
    emg_uv, encode_frame, frame_bytes, resolution_bits, BitalinoConfig, BitalinoDecoder,
};
use knip::source::cyton::{encode_packet, is_footer, CytonConfig, CytonDecoder, CHANNELS, HEADER};
use knip::source::line::{LineConfig, LineDecoder, MAX_LINE_BYTES};
use knip::source::link::{LinkConfig, TransportEvent, TransportEventKind, WireFormat};
use knip::source::rawlog::{RawHeader, RawLogReader, RawLogWriter};
use knip::source::wire::{LinkStats, Rows};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::time::{Duration, Instant};

/// Run `test` on `strategy` for `KNIP_FUZZ_SECONDS` (or one normal proptest run).
fn fuzz<S: Strategy>(name: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let seconds: u64 = std::env::var("KNIP_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut cases = 0u64;
    loop {
        let batch = if seconds == 0 { 300 } else { 5000 };
        let mut runner = TestRunner::new(Config {
            cases: batch,
            failure_persistence: None,
            ..Config::default()
        });
        if let Err(e) = runner.run(&strategy, &test) {
            panic!("{name}: {e}");
        }
        cases += batch as u64;
        if Instant::now() >= deadline {
            break;
        }
    }
    println!("{name}: {cases} cases passed in {seconds} s budget");
}

fn chunked(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 0;
    for &c in cuts {
        if at >= bytes.len() {
            break;
        }
        let end = (at + c.max(1)).min(bytes.len());
        out.push(bytes[at..end].to_vec());
        at = end;
    }
    if at < bytes.len() {
        out.push(bytes[at..].to_vec());
    }
    out
}

fn check_rows(rows: &Rows) -> Result<(), TestCaseError> {
    prop_assert_eq!(rows.values.len(), rows.width * rows.indices.len());
    prop_assert!(rows.indices.windows(2).all(|w| w[0] < w[1]));
    Ok(())
}

/// The wire decoders, as these tests drive them.
trait Decoder {
    fn push(&mut self, bytes: &[u8], out: &mut Rows, stats: &mut LinkStats);
    fn reset_link(&mut self);
}

impl Decoder for LineDecoder {
    fn push(&mut self, bytes: &[u8], out: &mut Rows, stats: &mut LinkStats) {
        LineDecoder::push(self, bytes, out, stats)
    }
    fn reset_link(&mut self) {
        LineDecoder::reset_link(self)
    }
}

impl Decoder for BitalinoDecoder {
    fn push(&mut self, bytes: &[u8], out: &mut Rows, stats: &mut LinkStats) {
        BitalinoDecoder::push(self, bytes, out, stats)
    }
    fn reset_link(&mut self) {
        BitalinoDecoder::reset_link(self)
    }
}

/// `bytes` through `d` in the pieces `cuts` makes, the link reset before the third piece when
/// `reset`; the rows are checked after every piece.
fn feed_in_pieces(
    d: &mut impl Decoder,
    bytes: &[u8],
    cuts: &[usize],
    reset: bool,
) -> Result<(Rows, LinkStats), TestCaseError> {
    let mut rows = Rows::default();
    let mut stats = LinkStats::default();
    for (i, c) in chunked(bytes, cuts).iter().enumerate() {
        if reset && i == 2 {
            d.reset_link();
            rows.clear();
        }
        d.push(c, &mut rows, &mut stats);
        check_rows(&rows)?;
    }
    Ok((rows, stats))
}

/// Bytes that look a bit like what devices send, mixed with anything.
fn noisy_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        "[0-9 ,;:\t.#=a-z\r\n-]{0,80}".prop_map(|s| s.into_bytes()),
        Just(b"# seq=8\n".to_vec()),
        Just(b"# rate_hz=2000\n# channels=pfm_emg:uV,abd_emg:uV\n".to_vec()),
        Just(b"nan,inf\n".to_vec()),
        Just(vec![HEADER]),
        Just(vec![0xC0]),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

#[test]
fn line_decoder_never_panics_on_any_bytes() {
    let strategy = (
        noisy_bytes(),
        prop::collection::vec(1usize..200, 0..20),
        prop::option::of(prop::sample::select(vec![8u32, 16, 32])),
        prop::option::of((-1000.0f64..0.0, 0.0f64..1000.0)),
        any::<bool>(),
    );
    fuzz(
        "line_any_bytes",
        strategy,
        |(bytes, cuts, seq_bits, range, reset)| {
            let mut d = LineDecoder::new(LineConfig {
                rate_hz: None,
                seq_bits,
                value_range: range,
            });
            let (rows, stats) = feed_in_pieces(&mut d, &bytes, &cuts, reset)?;
            prop_assert!(rows.values.iter().all(|v| v.is_finite()));
            if let Some(l) = d.layout() {
                prop_assert!(rows.is_empty() || rows.width == l.columns.len());
            }
            prop_assert!(stats.overlong_lines <= bytes.len() as u64 / MAX_LINE_BYTES as u64 + 1);
            Ok(())
        },
    );
}

/// The Cyton decoder, with or without the Daisy module (packets paired into 16-channel
/// samples), on any bytes.
#[test]
fn cyton_decoder_never_panics_on_any_bytes() {
    let strategy = (
        noisy_bytes(),
        prop::collection::vec(1usize..100, 0..20),
        any::<bool>(),
    );
    fuzz("cyton_any_bytes", strategy, |(bytes, cuts, daisy)| {
        let mut d = if daisy {
            CytonDecoder::new_daisy(&CytonConfig::default())
        } else {
            CytonDecoder::new(&CytonConfig::default())
        };
        let mut rows = Rows::default();
        let mut stats = LinkStats::default();
        for c in chunked(&bytes, &cuts) {
            d.push(&c, &mut rows, &mut stats);
            check_rows(&rows)?;
        }
        let width = if daisy { 16 } else { CHANNELS };
        prop_assert!(rows.is_empty() || rows.width == width);
        prop_assert!(rows.values.iter().all(|v| v.is_finite()));
        prop_assert!(stats.skipped_bytes + 33 * stats.packets <= bytes.len() as u64);
        Ok(())
    });
}

/// The analog inputs a BITalino acquires, from a bit mask (never empty).
fn bitalino_inputs(mask: u8) -> Vec<u8> {
    let inputs: Vec<u8> = (1..=6u8).filter(|a| mask & (1 << (a - 1)) != 0).collect();
    if inputs.is_empty() {
        vec![1]
    } else {
        inputs
    }
}

/// A BITalino (1–6 inputs, so every frame length) on any bytes, with the link reset midway.
#[test]
fn bitalino_decoder_never_panics_on_any_bytes() {
    let strategy = (
        noisy_bytes(),
        prop::collection::vec(1usize..100, 0..20),
        any::<u8>(),
        any::<bool>(),
    );
    fuzz(
        "bitalino_any_bytes",
        strategy,
        |(bytes, cuts, mask, reset)| {
            let analog = bitalino_inputs(mask);
            let n = analog.len();
            let mut d = BitalinoDecoder::new(&BitalinoConfig {
                rate_hz: 1000,
                analog,
            });
            let (rows, stats) = feed_in_pieces(&mut d, &bytes, &cuts, reset)?;
            prop_assert!(rows.is_empty() || rows.width == n);
            prop_assert!(rows.values.iter().all(|v| v.is_finite()));
            if !reset {
                prop_assert!(
                    stats.skipped_bytes + frame_bytes(n) as u64 * stats.packets
                        <= bytes.len() as u64
                );
            }
            Ok(())
        },
    );
}

/// BITalino frames in runs of two or more, with 1–14 frames lost between runs (the 4-bit
/// sequence tells up to 15), read in random pieces: every frame is decoded, at its
/// sequence-derived index, to the µV of its ADC values; the frames lost are counted exactly.
#[test]
fn bitalino_sequence_gaps_keep_exact_indices() {
    let strategy = (
        any::<u8>(),
        0u8..16,
        prop::collection::vec((2usize..6, 2u64..16), 1..20),
        prop::collection::vec(1usize..40, 0..30),
        any::<u64>(),
    );
    fuzz(
        "bitalino_gaps",
        strategy,
        |(mask, first, runs, cuts, seed)| {
            let analog = bitalino_inputs(mask);
            let n = analog.len();
            let mut rng = seed | 1;
            let mut next_adc = |k: usize| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                (rng as u32) & ((1 << resolution_bits(k)) - 1)
            };
            let mut bytes = Vec::new();
            let mut expected = Vec::new();
            let (mut index, mut seq, mut lost) = (0u64, first, 0u64);
            for (r, &(len, gap)) in runs.iter().enumerate() {
                if r > 0 {
                    index += gap;
                    seq = (seq + gap as u8) & 0x0F;
                    lost += gap - 1;
                }
                for f in 0..len {
                    if f > 0 {
                        index += 1;
                        seq = (seq + 1) & 0x0F;
                    }
                    let adc: Vec<u32> = (0..n).map(&mut next_adc).collect();
                    bytes.extend(encode_frame(seq, 0, &adc));
                    let uv: Vec<f64> = (0..n).map(|k| emg_uv(adc[k], resolution_bits(k))).collect();
                    expected.push((index, uv));
                }
            }
            let mut d = BitalinoDecoder::new(&BitalinoConfig {
                rate_hz: 1000,
                analog,
            });
            let mut rows = Rows::default();
            let mut stats = LinkStats::default();
            for c in chunked(&bytes, &cuts) {
                d.push(&c, &mut rows, &mut stats);
            }
            prop_assert_eq!(rows.len(), expected.len());
            for (k, (index, uv)) in expected.iter().enumerate() {
                prop_assert_eq!(rows.indices[k], *index);
                prop_assert_eq!(rows.row(k), &uv[..]);
            }
            prop_assert_eq!(stats.lost_samples, lost);
            prop_assert_eq!(stats.crc_errors, 0);
            prop_assert_eq!(stats.skipped_bytes, 0);
            Ok(())
        },
    );
}

/// A Cyton stream with counter gaps under 256 and garbage (without header bytes) between
/// packets decodes to exactly the packets that are followed by another packet, each at its
/// counter-derived index; losses are counted exactly.
#[test]
fn cyton_gaps_and_garbage_keep_exact_indices() {
    // Data bytes that are never a header, garbage that holds no header or footer byte: a header
    // byte in the data (or a counter of 0xA0) with a footer-like byte 32 later and a header 33
    // later passes for a packet while searching; no decoder can tell, the protocol has no
    // checksum. Real noise does that about once in 10⁷ positions searched.
    // `cyton_decoder_never_panics_on_any_bytes` feeds such bytes too, for safety.
    let not_header = || any::<u8>().prop_map(|b| if b == HEADER { b ^ 0x10 } else { b });
    let garbage_byte = any::<u8>().prop_map(|b| {
        if b == HEADER || is_footer(b) {
            b ^ 0x10
        } else {
            b
        }
    });
    let packet = (
        1u64..40,
        prop::collection::vec(garbage_byte, 0..40),
        (not_header(), not_header(), not_header())
            .prop_map(|(a, b, c)| knip::source::cyton::i24_be([a, b, c])),
    );
    let strategy = (
        any::<u8>(),
        prop::collection::vec(packet, 2..60),
        prop::collection::vec(1usize..120, 0..30),
    );
    fuzz("cyton_gaps_garbage", strategy, |(first, packets, cuts)| {
        // Two clean packets close the stream, so the last ones are confirmed.
        let mut packets = packets.clone();
        packets.push((1, Vec::new(), 0));
        packets.push((1, Vec::new(), 0));
        let mut bytes = Vec::new();
        let mut all = std::collections::BTreeMap::new();
        let mut sure = Vec::new();
        let mut index = 0u64;
        let mut counter = first;
        for (k, (step, garbage, value)) in packets.iter().enumerate() {
            if k > 0 {
                // Packets dropped for the garbage behind them widen the counter gaps: keep the
                // whole span under 256 packets, the most a 1-byte counter can tell.
                let step = if index + step > 190 { 1 } else { *step };
                index += step;
                counter = counter.wrapping_add(step as u8);
            }
            let counts: [i32; CHANNELS] = [*value; CHANNELS];
            bytes.extend(encode_packet(counter, &counts, 0xC0 + (k % 7) as u8));
            bytes.extend(garbage);
            all.insert(index, counts[0]);
            // Followed by the next packet's header: always accepted. Followed by garbage:
            // accepted only if the read ended right behind it while in sync.
            if garbage.is_empty() {
                sure.push(index);
            }
        }
        let mut d = CytonDecoder::new(&CytonConfig::default());
        let mut rows = Rows::default();
        let mut stats = LinkStats::default();
        for c in chunked(&bytes, &cuts) {
            d.push(&c, &mut rows, &mut stats);
        }
        let scale = knip::source::cyton::uv_per_count(24.0);
        // Relative indices count from the first packet decoded: the first clean one.
        let base = sure[0];
        let mut got = Vec::new();
        for k in 0..rows.len() {
            let abs = rows.indices[k] + base;
            let v = (rows.row(k)[0] / scale).round() as i32;
            prop_assert_eq!(all.get(&abs), Some(&v), "row {} is not packet {}", k, abs);
            got.push(abs);
        }
        for s in &sure {
            prop_assert!(
                got.contains(s),
                "packet {} followed by a header was dropped",
                s
            );
        }
        let lost = got.last().map_or(0, |l| l - base + 1) - got.len() as u64;
        prop_assert_eq!(stats.lost_samples, lost);
        Ok(())
    });
}

/// Text lines with a counter, random drops, random separators, random reads: every sample
/// that arrives lands on its counter's index, losses are counted exactly.
#[test]
fn line_counter_gaps_keep_exact_indices() {
    let strategy = (
        prop::sample::select(vec![8u32, 16, 32]),
        any::<u32>(),
        prop::collection::vec((1u64..20, -5000i32..5000, 0usize..4), 1..80),
        prop::collection::vec(1usize..60, 0..30),
    );
    fuzz(
        "line_counter_gaps",
        strategy,
        |(bits, first, samples, cuts)| {
            let modulus = 1u64 << bits;
            let limit = modulus / 2;
            let mut text = format!("garbage-partial\n# seq={bits}\n");
            let mut seq = first as u64 % modulus;
            let mut index = 0u64;
            let mut expected = Vec::new();
            for (k, (step, v, sep)) in samples.iter().enumerate() {
                if k > 0 {
                    let step = step.min(&limit);
                    index += step;
                    seq = (seq + step) % modulus;
                }
                let sep = [",", " ", "\t", ";"][*sep];
                text.push_str(&format!("{seq}{sep}{v}{sep}{}\r\n", -v));
                expected.push((index, *v as f64));
            }
            let mut d = LineDecoder::new(LineConfig::default());
            let mut rows = Rows::default();
            let mut stats = LinkStats::default();
            for c in chunked(text.as_bytes(), &cuts) {
                d.push(&c, &mut rows, &mut stats);
            }
            let got: Vec<(u64, f64)> = (0..rows.len())
                .map(|k| (rows.indices[k], rows.row(k)[0]))
                .collect();
            prop_assert_eq!(got, expected);
            let lost: u64 = samples.iter().skip(1).map(|s| s.0.min(limit) - 1).sum();
            prop_assert_eq!(stats.lost_samples, lost);
            Ok(())
        },
    );
}

/// A raw-byte log whose header carries `wire` (and `baud`), followed by one data record.
fn raw_log_with(path: &std::path::Path, wire: WireFormat, baud: u32, data: &[u8]) {
    let header = RawHeader {
        software: "knip test".into(),
        port: "/dev/ttyUSB0".into(),
        baud,
        link: LinkConfig::new(wire),
        device: String::new(),
    };
    let mut w = RawLogWriter::create(path, &header).expect("create raw log");
    w.append(&TransportEvent {
        host_s: 0.01,
        kind: TransportEventKind::Data(data.to_vec()),
    })
    .expect("append");
    w.flush().expect("flush");
}

/// Found by `fuzz/run.sh rawlog_reader`: a raw log whose header says the text device has a
/// 77-bit sample counter panicked (`1u64 << 77`) as soon as a counter line was decoded. The
/// decoder and the link are sized from the header, so every number in it is checked when the
/// log is opened, like the same option on the command line: the replay exits 2 naming the file
/// and the field.
#[test]
fn raw_log_headers_with_impossible_settings_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let line = |f: fn(&mut LineConfig)| {
        let mut c = LineConfig::default();
        f(&mut c);
        WireFormat::Line(c)
    };
    let lines = b"# rate_hz=250\n0,1.5\n1,2.5\n2,3.5\n3,4.5\n".as_slice();
    let cases: Vec<(&str, WireFormat, u32, &str)> = vec![
        (
            "seq_bits_77.raw",
            line(|c| c.seq_bits = Some(77)),
            115_200,
            "\"seq_bits\": 77",
        ),
        (
            "seq_bits_0.raw",
            line(|c| c.seq_bits = Some(0)),
            115_200,
            "\"seq_bits\": 0",
        ),
        (
            "rate_1e12.raw",
            line(|c| c.rate_hz = Some(1e12)),
            115_200,
            "rate_hz",
        ),
        (
            "range_inverted.raw",
            line(|c| c.value_range = Some((5.0, -5.0))),
            115_200,
            "value_range",
        ),
        (
            "gain_0.raw",
            WireFormat::Cyton(CytonConfig { gain: 0.0 }),
            115_200,
            "gain",
        ),
        ("baud_0.raw", line(|_| {}), 0, "baud"),
    ];
    for (name, wire, baud, needle) in cases {
        let path = dir.path().join(name);
        raw_log_with(&path, wire, baud, lines);
        let msg = match RawLogReader::open(&path) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{name}: accepted"),
        };
        assert!(msg.contains(name) && msg.contains(needle), "{name}: {msg}");
    }
    // The one that panicked, through the binary: exit 2 and the message, no panic.
    let path = dir.path().join("seq_bits_77.raw");
    let out = dir.path().join("report");
    let run = limited_run::knip(
        &[
            "replay",
            path.to_str().expect("utf-8 path"),
            "--fast",
            "--plain",
            "--out",
            out.to_str().expect("utf-8 path"),
        ],
        None,
        60,
    );
    let text = run.stdout + &run.stderr;
    assert_eq!(run.code, Some(2), "{text}");
    assert!(
        text.contains("seq_bits_77.raw")
            && text.contains("\"seq_bits\": 77")
            && !text.contains("panicked"),
        "{text}"
    );
    // A sound header with the same lines replays.
    let good = dir.path().join("good.raw");
    raw_log_with(&good, line(|c| c.seq_bits = Some(16)), 115_200, lines);
    assert!(RawLogReader::open(&good).is_ok());
}
