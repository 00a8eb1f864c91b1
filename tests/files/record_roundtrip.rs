//! RecordingWriter → CsvSource: multi-rate recordings come back with the same samples, rates,
//! roles and units; lost samples stay lost at the right index; write errors name the path.

use knip::config::AnalysisConfig;
use knip::error::OutputError;
use knip::frame::{Block, ChannelChunk, ChannelSpec, Role, SignalKind, StreamSpec};
use knip::sidecar::Sidecar;
use knip::sink::record::RecordingWriter;
use knip::source::csv_file::{CsvOptions, CsvSource};
use knip::source::Source;
use std::path::Path;

use crate::limited_run;

fn spec(start: f64) -> StreamSpec {
    let mut p = ChannelSpec::new(Role::Pressure, 100.0);
    p.unit = "mmHg".into();
    StreamSpec {
        channels: vec![
            ChannelSpec::new(Role::PfmEmg, 2000.0),
            ChannelSpec::new(Role::AbdEmg, 2000.0),
            p,
        ],
        start_time_s: start,
    }
}

/// Same indices on every channel, values equal to the 7 significant digits the writer keeps.
fn assert_close(got: &[Vec<(u64, f64)>], want: &[Vec<(u64, f64)>]) {
    assert_eq!(got.len(), want.len(), "channel count");
    for (c, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.len(), w.len(), "channel {c}: sample count");
        for ((gi, gv), (wi, wv)) in g.iter().zip(w) {
            assert_eq!(gi, wi, "channel {c}: index");
            let tol = 5e-7 * wv.abs().max(1e-300);
            assert!(
                (gv - wv).abs() <= tol,
                "channel {c}, index {wi}: {gv} vs {wv}"
            );
        }
    }
}

fn value(ch: usize, i: u64) -> f64 {
    // Values with many digits, negative and positive: written to 7 significant digits.
    ((i as f64 * 0.37 + ch as f64).sin() * 123.456789) / (1.0 + ch as f64 * 7.0)
}

/// Blocks of ~`span_s` seconds; `skip` = sample ranges (per channel) left out as "lost".
fn blocks(spec: &StreamSpec, total_s: f64, span_s: f64, skip: &[(usize, u64, u64)]) -> Vec<Block> {
    let mut out = Vec::new();
    let mut t = 0.0;
    while t < total_s - 1e-9 {
        let t1 = (t + span_s).min(total_s);
        let mut b = Block::with_channels(spec.channels.len());
        let mut cut = false;
        for (k, c) in spec.channels.iter().enumerate() {
            let i0 = (t * c.rate_hz).round() as u64;
            let i1 = (t1 * c.rate_hz).round() as u64;
            let kept: Vec<u64> = (i0..i1)
                .filter(|i| !skip.iter().any(|&(ch, a, z)| ch == k && *i >= a && *i < z))
                .collect();
            // A lost range splits the chunk: emit the part after it in its own block.
            let first = kept.first().copied().unwrap_or(i0);
            let contiguous: Vec<u64> = kept
                .iter()
                .copied()
                .enumerate()
                .take_while(|(n, i)| *i == first + *n as u64)
                .map(|(_, i)| i)
                .collect();
            if contiguous.len() != kept.len() {
                cut = true;
            }
            b.chunks[k] = ChannelChunk {
                start_index: first,
                samples: contiguous.iter().map(|&i| value(k, i)).collect(),
            };
            if cut {
                let rest: Vec<u64> = kept[contiguous.len()..].to_vec();
                let mut b2 = Block::with_channels(spec.channels.len());
                for (kk, cc) in b2.chunks.iter_mut().enumerate() {
                    cc.start_index = if kk == k { rest[0] } else { 0 };
                }
                b2.chunks[k].samples = rest.iter().map(|&i| value(k, i)).collect();
                out.push(b);
                out.push(b2);
                b = Block::with_channels(spec.channels.len());
                cut = false;
            }
        }
        out.push(b);
        t = t1;
    }
    out
}

/// Per channel: (index, value) of every sample.
fn read_indexed(src: &mut CsvSource) -> Vec<Vec<(u64, f64)>> {
    let n = src.spec().channels.len();
    let mut out = vec![Vec::new(); n];
    while let Some(b) = src.next_block().unwrap() {
        for (k, c) in b.chunks.iter().enumerate() {
            for (j, v) in c.samples.iter().enumerate() {
                out[k].push((c.start_index + j as u64, *v));
            }
        }
    }
    out
}

fn expected(spec: &StreamSpec, total_s: f64, skip: &[(usize, u64, u64)]) -> Vec<Vec<(u64, f64)>> {
    spec.channels
        .iter()
        .enumerate()
        .map(|(k, c)| {
            (0..(total_s * c.rate_hz).round() as u64)
                .filter(|i| !skip.iter().any(|&(ch, a, z)| ch == k && *i >= a && *i < z))
                .map(|i| (i, value(k, i)))
                .collect()
        })
        .collect()
}

fn write_recording(path: &Path, spec: &StreamSpec, blocks: &[Block]) -> Sidecar {
    let mut sc = Sidecar::new("test", spec, &AnalysisConfig::default());
    sc.channels[0].kind = SignalKind::Raw;
    let mut w = RecordingWriter::create(path, &sc).unwrap();
    for b in blocks {
        w.write_block(b).unwrap();
    }
    w.finish().unwrap();
    sc
}

#[test]
fn round_trip_2khz_and_100hz() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("session.csv");
    let spec = spec(12.5);
    // Blocks of uneven spans, 3.3 s in all.
    let bl = blocks(&spec, 3.3, 0.0137, &[]);
    write_recording(&path, &spec, &bl);

    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("time_s,pfm_emg,abd_emg,pressure"));
    let row0: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(row0[0], "12.500000");
    assert!(
        row0.iter().all(|f| !f.is_empty()),
        "all channels have sample 0"
    );
    let row1: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(row1[0], "12.500500");
    assert_eq!(row1[3], "", "pressure has no sample on row 1");
    assert_eq!(text.lines().count(), 1 + 6600);
    let sidecar_text = std::fs::read_to_string(dir.path().join("session.json")).unwrap();
    assert!(sidecar_text.contains("knip-recording"));

    let mut src = CsvSource::open(&path, &CsvOptions::default()).unwrap();
    assert_eq!(src.spec(), &spec, "rates, roles, units, names, start time");
    let got = read_indexed(&mut src);
    assert_close(&got, &expected(&spec, 3.3, &[]));
    assert_eq!(got[2].len(), 330);
    assert!(src.warnings().is_empty(), "{:?}", src.warnings());
}

#[test]
fn lost_samples_stay_lost_at_their_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lossy.csv");
    let spec = spec(0.0);
    // All channels lose 0.2 s (a radio drop-out), and the EMG alone loses 7 more samples later.
    let skip = [
        (0, 2000, 2400),
        (1, 2000, 2400),
        (2, 100, 120),
        (0, 3001, 3008),
    ];
    let bl = blocks(&spec, 2.0, 0.05, &skip);
    write_recording(&path, &spec, &bl);

    let sc: Sidecar =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("lossy.json")).unwrap())
            .unwrap();
    assert_eq!(
        sc.lost_samples,
        400 + 400 + 20 + 7,
        "finish rewrote the sidecar"
    );

    let mut src = CsvSource::open(&path, &CsvOptions::default()).unwrap();
    let got = read_indexed(&mut src);
    assert_close(&got, &expected(&spec, 2.0, &skip));
}

#[test]
fn rates_that_do_not_divide() {
    // 2000 Hz EMG with a 30 Hz pressure: samples sit on the nearest row, indices come back.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd.csv");
    let mut spec = spec(0.0);
    spec.channels[2].rate_hz = 30.0;
    spec.channels.remove(1);
    let bl = blocks(&spec, 2.0, 0.1, &[]);
    write_recording(&path, &spec, &bl);
    let mut src = CsvSource::open(&path, &CsvOptions::default()).unwrap();
    assert_eq!(src.spec().channels[1].rate_hz, 30.0);
    assert_close(&read_indexed(&mut src), &expected(&spec, 2.0, &[]));
}

#[test]
fn sidecar_multi_rate_file_written_by_hand() {
    // A knip recording as another program might produce it: pressure every 4th row.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("hand.csv");
    let spec = StreamSpec {
        channels: vec![
            ChannelSpec::new(Role::PfmEmg, 400.0),
            ChannelSpec::new(Role::Pressure, 100.0),
        ],
        start_time_s: 0.0,
    };
    let sc = Sidecar::new("hand", &spec, &AnalysisConfig::default());
    std::fs::write(
        dir.path().join("hand.json"),
        serde_json::to_string(&sc).unwrap(),
    )
    .unwrap();
    let mut text = String::from("# written by hand\ntime_s,pfm_emg,pressure\n");
    for r in 0..40 {
        let p = if r % 4 == 0 {
            format!("{}", r / 4)
        } else {
            String::new()
        };
        text.push_str(&format!("{:.4},{},{p}\n", r as f64 / 400.0, r));
    }
    std::fs::write(&csv, text).unwrap();
    let mut src = CsvSource::open(&csv, &CsvOptions::default()).unwrap();
    assert_eq!(src.spec().channels[0].rate_hz, 400.0);
    assert_eq!(src.spec().channels[1].rate_hz, 100.0);
    let got = read_indexed(&mut src);
    assert_eq!(got[0].len(), 40);
    assert_eq!(got[1], (0..10).map(|i| (i, i as f64)).collect::<Vec<_>>());

    // Without the sidecar, the empty pressure cell is an error on line 4.
    std::fs::remove_file(dir.path().join("hand.json")).unwrap();
    let mut src = CsvSource::open(&csv, &CsvOptions::default()).unwrap();
    let e = loop {
        match src.next_block() {
            Err(e) => break e,
            Ok(Some(_)) => {}
            Ok(None) => panic!("expected an error"),
        }
    };
    let msg = e.to_string();
    assert!(
        msg.contains("hand.csv, line 4") && msg.contains("empty cell"),
        "{msg}"
    );
}

#[test]
fn flushes_at_least_every_second_of_signal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.csv");
    let spec = spec(0.0);
    let sc = Sidecar::new("test", &spec, &AnalysisConfig::default());
    let mut w = RecordingWriter::create(&path, &sc).unwrap();
    // The sidecar and the header are on disk before any sample.
    assert!(dir.path().join("live.json").is_file());
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "time_s,pfm_emg,abd_emg,pressure\n"
    );
    for b in blocks(&spec, 2.5, 0.1, &[]) {
        w.write_block(&b).unwrap();
    }
    // Not finished: at least 2 s of rows must already be readable.
    let text = std::fs::read_to_string(&path).unwrap();
    let rows = text.lines().count() - 1;
    assert!(rows >= 4000, "only {rows} rows on disk");
    drop(w); // a crash: no finish()
    let mut src = CsvSource::open(&path, &CsvOptions::default()).unwrap();
    let got = read_indexed(&mut src);
    assert!(got[0].len() >= 4000);
}

#[test]
fn write_errors_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(0.0);
    let sc = Sidecar::new("test", &spec, &AnalysisConfig::default());
    // Directory does not exist.
    let path = dir.path().join("missing_dir").join("x.csv");
    let e = RecordingWriter::create(&path, &sc)
        .err()
        .expect("must fail");
    assert!(matches!(e, OutputError::Write { .. }));
    assert!(e.to_string().contains("missing_dir"), "{e}");

    // Blocks out of order.
    let path = dir.path().join("order.csv");
    let mut w = RecordingWriter::create(&path, &sc).unwrap();
    let bl = blocks(&spec, 0.2, 0.1, &[]);
    w.write_block(&bl[1]).unwrap();
    let e = w.write_block(&bl[0]).unwrap_err();
    assert!(
        e.to_string().contains("order.csv") && e.to_string().contains("in order"),
        "{e}"
    );

    // Wrong channel count.
    let e = w.write_block(&Block::with_channels(2)).unwrap_err();
    assert!(e.to_string().contains("2 channels"), "{e}");

    // A name that cannot be a column.
    let mut bad = sc.clone();
    bad.channels[0].name = "a,b".into();
    let e = RecordingWriter::create(&dir.path().join("bad.csv"), &bad)
        .err()
        .expect("must fail");
    assert!(e.to_string().contains("a,b"), "{e}");
}

#[cfg(unix)]
#[test]
fn a_link_at_the_recording_name_is_refused_not_written_through() {
    // A link to /dev/full used to be written through (and reported a full disk); a recording
    // is now created new, so the link is refused and its target left alone.
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target.txt");
    std::fs::write(&target, "keep").unwrap();
    let link = dir.path().join("linked.csv");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let spec = spec(0.0);
    let sc = Sidecar::new("test", &spec, &AnalysisConfig::default());
    let e = RecordingWriter::create(&link, &sc)
        .err()
        .expect("must fail");
    let msg = e.to_string();
    assert!(
        msg.contains("linked.csv") && msg.contains("never replaced"),
        "{msg}"
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    assert!(!dir.path().join("linked.json").exists());
}

#[test]
fn a_stalled_channel_does_not_hold_back_the_others_forever() {
    // Pressure delivers nothing for 5 s, then its whole backlog: rows older than
    // MAX_CHANNEL_LAG_S were written without it, so its first 3 s are dropped and counted lost.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stall.csv");
    let spec = spec(0.0);
    let sc = Sidecar::new("test", &spec, &AnalysisConfig::default());
    let mut w = RecordingWriter::create(&path, &sc).unwrap();
    for b in blocks(&spec, 5.0, 0.1, &[]) {
        let mut b = b;
        b.chunks[2].samples.clear();
        w.write_block(&b).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap().lines().count() - 1;
    assert!(
        on_disk >= 6000,
        "rows up to 3 s must be written, got {on_disk}"
    );
    let mut late = Block::with_channels(3);
    late.chunks[0].start_index = 10_000;
    late.chunks[1].start_index = 10_000;
    late.chunks[2] = ChannelChunk {
        start_index: 0,
        samples: (0..500).map(|i| value(2, i)).collect(),
    };
    w.write_block(&late).unwrap();
    assert_eq!(w.lost_samples(), 300);
    w.finish().unwrap();

    let mut src = CsvSource::open(&path, &CsvOptions::default()).unwrap();
    let got = read_indexed(&mut src);
    assert_eq!(got[0].len(), 10_000);
    let want: Vec<(u64, f64)> = (300..500).map(|i| (i, value(2, i))).collect();
    assert_close(&got[2..3], &[want]);
}

#[test]
fn a_recording_is_never_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("recording.csv");
    let s = spec(0.0);
    let first = write_recording(&path, &s, &blocks(&s, 1.0, 0.1, &[]));
    let csv_before = std::fs::read(&path).expect("csv");
    let json_before = std::fs::read(path.with_extension("json")).expect("json");
    let sidecar = Sidecar::new("test", &s, &AnalysisConfig::default());
    let e = RecordingWriter::create(&path, &sidecar)
        .err()
        .expect("a second recording at the same name is refused");
    assert!(e.is_input_error(), "{e}");
    let m = e.to_string();
    assert!(
        m.contains("recording.csv") && m.contains("never replaced"),
        "{m}"
    );
    assert_eq!(std::fs::read(&path).expect("csv"), csv_before);
    assert_eq!(
        std::fs::read(path.with_extension("json")).expect("json"),
        json_before
    );
    // A sidecar alone at the name is not overwritten either, and no CSV is left behind.
    let other = dir.path().join("other.csv");
    std::fs::write(other.with_extension("json"), "theirs").expect("write");
    assert!(RecordingWriter::create(&other, &sidecar).is_err());
    assert_eq!(
        std::fs::read_to_string(other.with_extension("json")).expect("json"),
        "theirs"
    );
    assert!(!other.exists());
    drop(first);
}

/// A raw-byte log of a text-line device (`# rate_hz=100`, one value a line) with `config`, its
/// records at the given host times.
fn raw_log(path: &Path, config: knip::source::line::LineConfig, records: &[(f64, String)]) {
    use knip::source::link::{LinkConfig, TransportEvent, TransportEventKind, WireFormat};
    use knip::source::rawlog::{RawHeader, RawLogWriter};
    let header = RawHeader {
        software: "test".into(),
        port: "/dev/ttyTEST".into(),
        baud: 115_200,
        link: LinkConfig::new(WireFormat::Line(config)),
        device: "test device".into(),
    };
    let mut w = RawLogWriter::create(path, &header).unwrap();
    for (host_s, text) in records {
        w.append(&TransportEvent {
            host_s: *host_s,
            kind: TransportEventKind::Data(text.as_bytes().to_vec()),
        })
        .unwrap();
    }
    w.sync().unwrap();
}

fn hundred_values(from: usize) -> String {
    (from..from + 100)
        .map(|i| format!("{}\n", i % 17))
        .collect()
}

/// A `recording.raw` header with `rate_hz` 1e12 aborted on a 400 GB allocation: now exit 2
/// naming the file and the field, under a memory limit.
#[test]
fn raw_log_header_numbers_are_checked_before_use() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "rate.raw",
            knip::source::line::LineConfig {
                rate_hz: Some(1e12),
                ..Default::default()
            },
            "rate_hz",
        ),
        (
            "seq.raw",
            knip::source::line::LineConfig {
                rate_hz: Some(100.0),
                seq_bits: Some(64),
                ..Default::default()
            },
            "seq_bits",
        ),
        (
            "range.raw",
            knip::source::line::LineConfig {
                rate_hz: Some(100.0),
                value_range: Some((5.0, 1.0)),
                ..Default::default()
            },
            "value_range",
        ),
    ];
    for (name, config, field) in cases {
        let raw = dir.path().join(name);
        raw_log(&raw, config, &[(0.1, hundred_values(0))]);
        let msg = knip::source::replay::open_raw_replay(&raw, None)
            .err()
            .unwrap_or_else(|| panic!("{name}: accepted"))
            .to_string();
        assert!(msg.contains(name) && msg.contains(field), "{msg}");
        let out = dir.path().join(format!("out-{name}"));
        let r = replay_limited(&raw, &out, &["--fast"]);
        assert_eq!(r.code, Some(2), "{name}: {r:?}");
        assert!(
            r.stderr.contains(name) && r.stderr.contains(field),
            "{}",
            r.stderr
        );
    }
}

/// `knip replay RAW --plain --out OUT PACE…` under a time and memory limit.
fn replay_limited(raw: &Path, out: &Path, pace: &[&str]) -> limited_run::Limited {
    let mut args = vec![
        "replay",
        raw.to_str().unwrap(),
        "--plain",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(pace);
    limited_run::knip(&args, None, 60)
}

/// Replays `raw` at the original pace in a thread; the samples and the link's warnings, or a
/// failed test if it takes longer than 30 s.
fn replay_within_30_s(raw: &Path) -> (usize, Vec<String>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let raw = raw.to_path_buf();
    std::thread::spawn(move || {
        let mut src = knip::source::replay::open_raw_replay(&raw, Some(1.0)).unwrap();
        let mut samples = 0;
        while let Some(b) = src.next_block().unwrap() {
            samples += b.chunks[0].samples.len();
        }
        let warnings = src.report().lock().unwrap().warnings.clone();
        let _ = tx.send((samples, warnings));
    });
    rx.recv_timeout(std::time::Duration::from_secs(30))
        .expect("the replay stalled")
}

/// A record with an absurd host time slept for ever on replay: now the jump is replayed as a
/// short pause, with a warning, and the replay ends (under a time limit).
#[test]
fn an_absurd_host_time_does_not_stall_a_replay() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("recording.raw");
    let config = knip::source::line::LineConfig {
        rate_hz: Some(100.0),
        ..Default::default()
    };
    raw_log(
        &raw,
        config,
        &[
            (0.1, hundred_values(0)),
            (1.1, hundred_values(100)),
            (1.0e13, hundred_values(200)),
            (1.0e13 + 1.0, hundred_values(300)),
        ],
    );
    // In the library, at the original pace: it must end within seconds, with the samples of
    // the same log without the jump.
    let (samples, warnings) = replay_within_30_s(&raw);
    let plain = dir.path().join("plain.raw");
    raw_log(
        &plain,
        knip::source::line::LineConfig {
            rate_hz: Some(100.0),
            ..Default::default()
        },
        &[
            (0.1, hundred_values(0)),
            (1.1, hundred_values(100)),
            (2.1, hundred_values(200)),
            (3.1, hundred_values(300)),
        ],
    );
    let (want, plain_warnings) = replay_within_30_s(&plain);
    assert!(want >= 390, "{want}");
    assert_eq!(samples, want);
    assert!(plain_warnings.iter().all(|w| !w.contains("jumps by")));
    let w = warnings.join("\n");
    assert!(w.contains("recording.raw") && w.contains("jumps by"), "{w}");
    // Through the binary, under a time and memory limit.
    let out = dir.path().join("out");
    let r = replay_limited(&raw, &out, &["--speed", "1"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.elapsed.as_secs() < 30, "{:?}", r.elapsed);
}
