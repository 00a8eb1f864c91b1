//! EdfWriter → EdfSource: multi-rate channels, per-channel ranges, constant channels, lost
//! samples, sub-second start and annotations come back through knip's own reader; a BioSemi BDF
//! (plain 24-bit, Status channel) is read; broken files are refused with the file named.

use chrono::{TimeZone, Utc};
use knip::frame::{Block, ChannelChunk, ChannelSpec, Role, StreamSpec};
use knip::sink::edf::{Annotation, EdfFormat, EdfIdentity, EdfWriter};
use knip::source::csv_file::CsvOptions;
use knip::source::edf::{read_all, read_header, EdfSource};
use knip::source::Source;
use std::path::Path;

fn spec() -> StreamSpec {
    StreamSpec {
        channels: vec![
            ChannelSpec::new(Role::PfmEmg, 2000.0),
            ChannelSpec::new(Role::Pressure, 100.0),
            ChannelSpec::new(Role::AbdEmg, 500.0),
        ],
        start_time_s: 0.0,
    }
}

fn value(ch: usize, i: u64) -> f64 {
    match ch {
        0 => (i as f64 * 0.37).sin() * 150.0 + (i as f64 * 0.011).cos() * 20.0,
        1 => 18.0 + (i as f64 * 0.05).sin() * 30.0,
        // A constant channel.
        _ => -3.25,
    }
}

/// 3.5 s in 0.25-s blocks; channel 0 loses samples 3000..3400 (0.2 s from 1.5 s).
fn blocks(spec: &StreamSpec) -> Vec<Block> {
    let mut out = Vec::new();
    for k in 0..14 {
        let (t0, t1) = (k as f64 * 0.25, (k + 1) as f64 * 0.25);
        let mut b = Block::with_channels(3);
        for (c, ch) in spec.channels.iter().enumerate() {
            let i0 = (t0 * ch.rate_hz).round() as u64;
            let i1 = (t1 * ch.rate_hz).round() as u64;
            let idx: Vec<u64> = (i0..i1)
                .filter(|i| !(c == 0 && (3000..3400).contains(i)))
                .collect();
            if let Some(&first) = idx.first() {
                b.chunks[c] = ChannelChunk {
                    start_index: first,
                    samples: idx.iter().map(|&i| value(c, i)).collect(),
                };
            }
        }
        out.push(b);
    }
    // Split the block holding the gap so the gap is an index jump between blocks.
    out
}

fn write(
    path: &Path,
    format: EdfFormat,
    annotations: &[Annotation],
) -> knip::sink::edf::EdfSummary {
    let spec = spec();
    let start = Utc
        .with_ymd_and_hms(2026, 5, 17, 14, 3, 9)
        .single()
        .expect("valid date")
        + chrono::Duration::milliseconds(375);
    let mut w = EdfWriter::create(
        path,
        format,
        &spec,
        EdfIdentity {
            patient_code: "P-7".into(),
            equipment: "test rig".into(),
            start,
        },
    )
    .expect("create");
    for b in blocks(&spec) {
        w.write_block(&b).expect("write block");
    }
    w.finish(annotations).expect("finish")
}

fn annotations() -> Vec<Annotation> {
    vec![
        Annotation {
            onset_s: 0.5,
            duration_s: Some(1.25),
            text: "cue: Squeeze".into(),
        },
        Annotation {
            onset_s: 2.75,
            duration_s: None,
            text: "marker: probe moved, ümlaut".into(),
        },
    ]
}

fn roundtrip(format: EdfFormat) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(format!(
        "r.{}",
        if format == EdfFormat::Edf {
            "edf"
        } else {
            "bdf"
        }
    ));
    let summary = write(&path, format, &annotations());
    assert_eq!(summary.records, 4, "3.5 s in 1-s records → 4 records");
    assert_eq!(summary.lost_samples, 400);
    // Spools are removed.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(left.len(), 1, "only the export is left: {left:?}");

    let h = read_header(&path).expect("header");
    assert_eq!(h.bdf, format == EdfFormat::Bdf);
    assert_eq!(h.start_date, "17.05.26");
    assert_eq!(h.start_time, "14.03.09");
    assert!(h.reserved.starts_with(if format == EdfFormat::Edf {
        "EDF+C"
    } else {
        "BDF+C"
    }));
    assert!(
        h.recording
            .starts_with("Startdate 17-MAY-2026 X X test_rig"),
        "{}",
        h.recording
    );
    assert!(h.patient.starts_with("P-7 X X X"), "{}", h.patient);
    // Per-channel ranges: never one range for all.
    let (p0, p1, p2) = (&h.signals[0], &h.signals[1], &h.signals[2]);
    let span = |c: usize, n: u64| {
        (0..n)
            .map(|i| value(c, i))
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            })
    };
    // Each range holds its channel's data and is no wider than needed (8-character rounding).
    for (sig, c, n) in [(p0, 0, 7000), (p1, 1, 350)] {
        let (lo, hi) = span(c, n);
        assert!(
            sig.physical_min <= lo && sig.physical_max >= hi,
            "{sig:?} vs {lo}..{hi}"
        );
        assert!(
            lo - sig.physical_min < 1e-3 && sig.physical_max - hi < 1e-3,
            "{sig:?}"
        );
    }
    assert!(
        p2.physical_min < -3.25 && p2.physical_max > -3.25,
        "constant channel gets a range"
    );
    assert_eq!((p0.unit.as_str(), p1.unit.as_str()), ("uV", "cmH2O"));
    assert_eq!(h.signals[3].label, format.annotation_label());

    let (sp, chunks) = read_all(&path, &CsvOptions::default()).expect("read back");
    let roles: Vec<Role> = sp.channels.iter().map(|c| c.role).collect();
    assert_eq!(roles, vec![Role::PfmEmg, Role::Pressure, Role::AbdEmg]);
    let rates: Vec<f64> = sp.channels.iter().map(|c| c.rate_hz).collect();
    assert_eq!(rates, vec![2000.0, 100.0, 500.0]);
    for (c, chunk) in chunks.iter().enumerate() {
        let step = h.signals[c].gain();
        let rate = rates[c];
        // Whole records: 4 s of samples, the tail padded.
        assert_eq!(chunk.samples.len(), (4.0 * rate) as usize, "channel {c}");
        for (i, v) in chunk.samples.iter().enumerate().take((3.5 * rate) as usize) {
            let i = i as u64;
            let want = if c == 0 && (3000..3400).contains(&i) {
                value(0, 2999) // the gap holds the last value
            } else {
                value(c, i)
            };
            assert!(
                (v - want).abs() <= step,
                "channel {c} sample {i}: {v} vs {want} (step {step})"
            );
        }
    }
    let src = EdfSource::open(&path, &CsvOptions::default()).expect("open");
    assert!(
        (src.start_offset_s() - 0.375).abs() < 1e-9,
        "sub-second start"
    );
    let texts: Vec<(f64, Option<f64>, String)> = src
        .annotations()
        .iter()
        .map(|a| (a.onset_s, a.duration_s, a.text.clone()))
        .collect();
    let find = |t: &str| texts.iter().find(|a| a.2.starts_with(t)).cloned();
    let cue = find("cue: Squeeze").expect("cue annotation");
    assert!((cue.0 - 0.5).abs() < 1e-6 && cue.1 == Some(1.25));
    let marker = find("marker: probe moved, ümlaut").expect("UTF-8 marker");
    assert!((marker.0 - 2.75).abs() < 1e-6 && marker.1.is_none());
    let gap = find("lost samples: 400 on pfm_emg").expect("gap annotation");
    assert!((gap.0 - 1.5).abs() < 1e-6 && (gap.1.unwrap_or(0.0) - 0.2).abs() < 1e-6);
}

#[test]
fn edf_roundtrip_through_knips_reader() {
    roundtrip(EdfFormat::Edf);
}

#[test]
fn bdf_roundtrip_through_knips_reader() {
    roundtrip(EdfFormat::Bdf);
}

#[test]
fn edf_step_is_coarser_than_bdf() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = write(&dir.path().join("a.edf"), EdfFormat::Edf, &[]);
    let b = write(&dir.path().join("a.bdf"), EdfFormat::Bdf, &[]);
    // 16 vs 24 bits: the same range in 256 times finer steps.
    let ratio = e.ranges[0].2 / b.ranges[0].2;
    assert!((ratio - 256.0).abs() < 1.0, "{ratio}");
}

#[test]
fn rates_without_whole_samples_per_record_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = StreamSpec {
        channels: vec![ChannelSpec::new(Role::PfmEmg, 1.0 / 300.0)],
        start_time_s: 0.0,
    };
    let path = dir.path().join("x.edf");
    let err = EdfWriter::create(
        &path,
        EdfFormat::Edf,
        &spec,
        EdfIdentity {
            patient_code: "X".into(),
            equipment: "x".into(),
            start: Utc::now(),
        },
    )
    .err()
    .expect("refused");
    let msg = err.to_string();
    assert!(msg.contains("x.edf") && msg.contains("resample"), "{msg}");
}

/// A plain BioSemi BDF: 24-bit, reserved `24BIT`, two EEG-style channels and `Status`.
fn biosemi_bdf(path: &Path) {
    let ns = 3usize;
    let spr = 256usize;
    let records = 3usize;
    let mut h = Vec::new();
    h.push(0xFFu8);
    h.extend_from_slice(b"BIOSEMI");
    let mut field = |s: &str, w: usize| {
        let mut v = s.as_bytes().to_vec();
        v.resize(w, b' ');
        h.extend_from_slice(&v);
    };
    field("X X X X", 80);
    field("Startdate 01-JAN-2020 X X BioSemi_ActiveTwo", 80);
    field("01.01.20", 8);
    field("10.00.00", 8);
    field(&(256 * (ns + 1)).to_string(), 8);
    field("24BIT", 44);
    field(&records.to_string(), 8);
    field("1", 8);
    field(&ns.to_string(), 4);
    for l in ["EXG1", "EXG2", "Status"] {
        field(l, 16);
    }
    for t in [
        "active electrode",
        "active electrode",
        "Triggers and Status",
    ] {
        field(t, 80);
    }
    for u in ["uV", "uV", "Boolean"] {
        field(u, 8);
    }
    for v in ["-262144", "-262144", "-8388608"] {
        field(v, 8);
    }
    for v in ["262143", "262143", "8388607"] {
        field(v, 8);
    }
    for _ in 0..ns {
        field("-8388608", 8);
    }
    for _ in 0..ns {
        field("8388607", 8);
    }
    for _ in 0..ns {
        field("HP:DC; LP:417 Hz", 80);
    }
    for _ in 0..ns {
        field(&spr.to_string(), 8);
    }
    for _ in 0..ns {
        field("", 32);
    }
    let mut data = Vec::new();
    for r in 0..records {
        for s in 0..ns {
            for j in 0..spr {
                let i = r * spr + j;
                let d: i32 = match s {
                    0 => ((i as f64 * 0.3).sin() * 100_000.0) as i32,
                    1 => -5000,
                    // Trigger code 7 from sample 300 to 399, 0 elsewhere; high bits set (CMS).
                    _ => (if (300..400).contains(&i) { 7 } else { 0 }) | 0x10_0000,
                };
                data.extend_from_slice(&d.to_le_bytes()[..3]);
            }
        }
    }
    h.extend_from_slice(&data);
    std::fs::write(path, h).expect("write bdf");
}

#[test]
fn biosemi_bdf_with_status_channel() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("biosemi.bdf");
    biosemi_bdf(&path);
    // Two data channels, no knip roles: the reader asks which is which.
    let err = EdfSource::open(&path, &CsvOptions::default())
        .err()
        .expect("ambiguous");
    let msg = err.to_string();
    assert!(
        msg.contains("biosemi.bdf") && msg.contains("--pfm") && msg.contains("EXG2"),
        "{msg}"
    );
    let opts = CsvOptions {
        pfm: Some("EXG1".into()),
        abd: Some("2".into()),
        ..CsvOptions::default()
    };
    let mut src = EdfSource::open(&path, &opts).expect("open with --pfm/--abd");
    assert_eq!(
        src.spec().channels.len(),
        2,
        "Status is not a signal channel"
    );
    assert_eq!(src.spec().channels[0].rate_hz, 256.0);
    let gain = 524287.0 / 16777215.0;
    let mut first = Vec::new();
    while let Some(b) = src.next_block().expect("block") {
        first.extend(b.chunks[0].samples.iter().cloned());
        assert!(b.chunks[1]
            .samples
            .iter()
            .all(|v| (v - (-262144.0 + (-5000.0 + 8388608.0) * gain)).abs() < 1e-6));
    }
    assert_eq!(first.len(), 768);
    let want = -262144.0 + (((10.0f64 * 0.3).sin() * 100_000.0) as i32 as f64 + 8388608.0) * gain;
    assert!((first[10] - want).abs() < 1e-6, "{} vs {want}", first[10]);
    let m = src.status_markers();
    assert_eq!(m.len(), 2, "{m:?}");
    assert!((m[0].0 - 300.0 / 256.0).abs() < 1e-9 && m[0].1 == "trigger 7");
    assert!((m[1].0 - 400.0 / 256.0).abs() < 1e-9 && m[1].1 == "trigger 0");
}

#[test]
fn broken_files_are_refused_with_their_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let not = dir.path().join("notes.edf");
    std::fs::write(&not, "hello, this is text and not an EDF header at all").expect("write");
    let msg = read_header(&not).expect_err("refused").to_string();
    assert!(msg.contains("notes.edf") && msg.contains("EDF"), "{msg}");

    let good = dir.path().join("g.edf");
    write(&good, EdfFormat::Edf, &[]);
    let bytes = std::fs::read(&good).expect("read");
    let cut = dir.path().join("cut.edf");
    std::fs::write(&cut, &bytes[..400]).expect("write");
    let msg = read_header(&cut).expect_err("refused").to_string();
    assert!(msg.contains("cut.edf") && msg.contains("signals"), "{msg}");

    let mut bad = bytes.clone();
    bad[256 + 4 * 16 + 4 * 80 + 4 * 8..256 + 4 * 16 + 4 * 80 + 4 * 8 + 8]
        .copy_from_slice(b"abc     ");
    let badp = dir.path().join("bad.edf");
    std::fs::write(&badp, &bad).expect("write");
    let msg = read_header(&badp).expect_err("refused").to_string();
    assert!(
        msg.contains("bad.edf") && msg.contains("physical minimum") && msg.contains("abc"),
        "{msg}"
    );
}

#[test]
fn a_file_cut_short_is_read_up_to_its_last_whole_record_with_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("g.edf");
    write(&good, EdfFormat::Edf, &[]);
    let h = read_header(&good).expect("header");
    let bytes = std::fs::read(&good).expect("read");
    // Two whole records and half of the third.
    let keep = h.header_bytes + 2 * h.record_bytes() + h.record_bytes() / 2;
    let cut = dir.path().join("cut_short.edf");
    std::fs::write(&cut, &bytes[..keep as usize]).expect("write");
    let src = EdfSource::open(&cut, &CsvOptions::default()).expect("open");
    assert_eq!(src.header().records, 2);
    let w = src.warnings().join(" ");
    assert!(
        w.contains("cut_short.edf") && w.contains("declares 4") && w.contains("holds 2"),
        "{w}"
    );
    let (_, chunks) = read_all(&cut, &CsvOptions::default()).expect("read");
    assert_eq!(chunks[0].samples.len(), 4000);
}

/// Header numbers that once panicked, aborted on a huge allocation or were analysed wrongly
/// with exit 0 (issue 12) are refused, naming the file and the field.
#[test]
fn absurd_header_numbers_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("g.edf");
    write(&good, EdfFormat::Edf, &[]);
    let bytes = std::fs::read(&good).expect("read");
    let ns = field_num(&bytes[252..256]) as usize;
    // Offsets of the per-signal fields of signal 0.
    let pmin = 256 + ns * (16 + 80 + 8);
    let pmax = pmin + 8 * ns;
    let spr = pmax + 8 * ns + 8 * ns + 8 * ns + 80 * ns;
    let cases: [(&str, usize, &[u8], &str); 9] = [
        ("signals_huge.edf", 252, b"9999", "signals"),
        ("signals_1e30.edf", 252, b"1e30", "signals"),
        ("duration_tiny.edf", 244, b"1e-9    ", "Hz"),
        ("duration_inf.edf", 244, b"inf     ", "Hz"),
        ("records_nan.edf", 236, b"NaN     ", "data records"),
        ("spr_huge.edf", spr, b"1e30    ", "samples per record"),
        ("spr_zero.edf", spr, b"0       ", "Hz"),
        ("pmin_is_pmax.edf", pmin, b"100     ", "physical minimum"),
        ("pmax_nan.edf", pmax, b"NaN     ", "physical"),
    ];
    for (name, at, text, needle) in cases {
        let mut bad = bytes.clone();
        bad[at..at + text.len()].copy_from_slice(text);
        if name == "pmin_is_pmax.edf" {
            bad[pmax..pmax + 8].copy_from_slice(b"100     ");
        }
        let path = dir.path().join(name);
        std::fs::write(&path, &bad).expect("write");
        let msg = match read_header(&path) {
            Err(e) => e.to_string(),
            // A header that passes must still not give a wrong analysis: then reading it fails.
            Ok(h) => match read_all(&path, &CsvOptions::default()) {
                Err(e) => e.to_string(),
                Ok(_) => panic!("{name}: accepted ({} signals)", h.signals.len()),
            },
        };
        assert!(msg.contains(name) && msg.contains(needle), "{name}: {msg}");
    }
}

fn field_num(bytes: &[u8]) -> f64 {
    String::from_utf8_lossy(bytes)
        .trim()
        .parse()
        .expect("a number")
}

/// The annotation signal's size is checked like a data signal's: samples per record 1e30 there
/// wrapped round when the record was sized.
#[test]
fn an_absurd_annotation_signal_size_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = edf_bytes(dir.path(), &annotations());
    let ns = field_num(&bytes[252..256]) as usize;
    let labels: Vec<String> = (0..ns)
        .map(|i| {
            String::from_utf8_lossy(&bytes[256 + 16 * i..256 + 16 * (i + 1)])
                .trim()
                .to_string()
        })
        .collect();
    let k = labels
        .iter()
        .position(|l| l == "EDF Annotations")
        .expect("an annotation signal");
    let spr = 256 + ns * (16 + 80 + 8 + 8 + 8 + 8 + 8 + 80) + 8 * k;
    for text in [&b"1e30    "[..], b"99999999", b"-1      "] {
        let mut bad = bytes.clone();
        bad[spr..spr + 8].copy_from_slice(text);
        let path = dir.path().join("annot_spr.edf");
        std::fs::write(&path, &bad).expect("write");
        let msg = match read_header(&path) {
            Err(e) => e.to_string(),
            Ok(_) => match read_all(&path, &CsvOptions::default()) {
                Err(e) => e.to_string(),
                Ok(_) => panic!("annotation samples per record {text:?} accepted"),
            },
        };
        assert!(
            msg.contains("annot_spr.edf") && msg.contains("samples per record"),
            "{msg}"
        );
    }
}

/// Control characters in a label never reach a message or a channel name raw.
#[test]
fn control_characters_in_labels_are_escaped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bytes = edf_bytes(dir.path(), &[]);
    bytes[256..256 + 16].copy_from_slice(b"\x1b]0;owned\x07      ");
    let path = dir.path().join("esc.edf");
    std::fs::write(&path, &bytes).expect("write");
    let h = read_header(&path).expect("header");
    assert_eq!(h.signals[0].label, "\\u{1b}]0;owned\\u{7}");
}

/// The bytes of a good EDF file (written in `dir`) with `annotations`.
fn edf_bytes(dir: &Path, annotations: &[Annotation]) -> Vec<u8> {
    let good = dir.join("g.edf");
    write(&good, EdfFormat::Edf, annotations);
    std::fs::read(&good).expect("read")
}
