//! CsvSource on small hand-written files: variants that must read, and bad input that must give
//! the right error, naming the file and the line.

use knip::error::InputError;
use knip::frame::{Role, SignalKind};
use knip::source::csv_file::{CsvOptions, CsvSource};
use knip::source::Source;
use std::path::{Path, PathBuf};

use crate::limited_run;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// All samples of every channel, and the start index of each chunk (checked to be consecutive).
fn read_all(src: &mut CsvSource) -> Result<Vec<Vec<f64>>, InputError> {
    let n = src.spec().channels.len();
    let mut out = vec![Vec::new(); n];
    while let Some(block) = src.next_block()? {
        assert_eq!(block.chunks.len(), n);
        for (k, c) in block.chunks.iter().enumerate() {
            if !c.samples.is_empty() {
                assert_eq!(
                    c.start_index,
                    out[k].len() as u64,
                    "chunks must be consecutive"
                );
            }
            out[k].extend_from_slice(&c.samples);
        }
    }
    Ok(out)
}

fn open(
    text: &str,
    opts: &CsvOptions,
) -> (tempfile::TempDir, PathBuf, Result<CsvSource, InputError>) {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "rec.csv", text);
    let r = CsvSource::open(&p, opts);
    (dir, p, r)
}

/// Opens and streams; returns the error (the test fails if there is none).
fn error_of(text: &str, opts: &CsvOptions) -> InputError {
    let (_d, _p, r) = open(text, opts);
    match r {
        Err(e) => e,
        Ok(mut s) => match read_all(&mut s) {
            Err(e) => e,
            Ok(v) => panic!("expected an error, read {v:?}"),
        },
    }
}

fn assert_line_error(e: &InputError, want_line: u64, needles: &[&str]) {
    let msg = e.to_string();
    match e {
        InputError::Parse { line, path, .. } => {
            assert_eq!(*line, want_line, "wrong line in: {msg}");
            assert!(path.ends_with("rec.csv"));
        }
        other => panic!("expected a Parse error at line {want_line}, got {other:?}"),
    }
    assert!(msg.contains("rec.csv"), "file name missing: {msg}");
    assert!(
        msg.contains(&format!("line {want_line}")),
        "line missing: {msg}"
    );
    for n in needles {
        assert!(msg.contains(n), "{n:?} missing in: {msg}");
    }
}

fn rate(r: f64) -> CsvOptions {
    CsvOptions {
        rate_hz: Some(r),
        ..Default::default()
    }
}

#[test]
fn knip_columns_with_time() {
    let (_d, _p, r) = open(
        "time_s,pfm_emg,abd_emg,pressure\n0.0,1,2,3\n0.5,4,5,6\n1.0,7,8,9\n",
        &CsvOptions::default(),
    );
    let mut s = r.unwrap();
    let spec = s.spec().clone();
    let roles: Vec<Role> = spec.channels.iter().map(|c| c.role).collect();
    assert_eq!(roles, vec![Role::PfmEmg, Role::AbdEmg, Role::Pressure]);
    assert!(spec.channels.iter().all(|c| c.rate_hz == 2.0));
    assert_eq!(spec.start_time_s, 0.0);
    let v = read_all(&mut s).unwrap();
    assert_eq!(
        v,
        vec![
            vec![1.0, 4.0, 7.0],
            vec![2.0, 5.0, 8.0],
            vec![3.0, 6.0, 9.0]
        ]
    );
}

#[test]
fn comments_anywhere_metadata_and_start_time() {
    let text = "# rate_hz=2000 units=uV\n# another comment\ntime_s,pfm_emg\n\
                # comment between header and data\n10.0,1\n10.0005,2\n# in the middle\n10.001,3\n\n10.0015,4\n";
    let (_d, _p, r) = open(text, &CsvOptions::default());
    let mut s = r.unwrap();
    assert_eq!(
        s.spec().channels[0].rate_hz,
        2000.0,
        "header rate agrees, used exactly"
    );
    assert_eq!(s.spec().channels[0].unit, "uV");
    assert_eq!(s.spec().start_time_s, 10.0);
    assert_eq!(read_all(&mut s).unwrap(), vec![vec![1.0, 2.0, 3.0, 4.0]]);
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
}

#[test]
fn separators_tab_semicolon_spaces() {
    for (text, sep) in [
        ("time_s\tpfm_emg\n0\t1.5\n0.01\t2.5\n", "tab"),
        (
            "time_s;pfm_emg\n0;1,5\n0,01;2,5\n",
            "semicolon with decimal comma",
        ),
        ("time_s  pfm_emg\n  0   1.5\n 0.01  2.5  \n", "spaces"),
        (
            "\"time_s\",\"pfm_emg\"\r\n0,1.5\r\n0.01,2.5\r\n",
            "quoted names, CRLF",
        ),
    ] {
        let (_d, _p, r) = open(text, &CsvOptions::default());
        let mut s = r.unwrap_or_else(|e| panic!("{sep}: {e}"));
        assert!((s.spec().channels[0].rate_hz - 100.0).abs() < 1e-9, "{sep}");
        assert_eq!(read_all(&mut s).unwrap(), vec![vec![1.5, 2.5]], "{sep}");
    }
}

#[test]
fn headerless_single_column_with_rate() {
    let (_d, _p, r) = open("# fs_hz=250\n1\n2\n3\n", &CsvOptions::default());
    let mut s = r.unwrap();
    let ch = &s.spec().channels[0];
    assert_eq!((ch.role, ch.rate_hz), (Role::PfmEmg, 250.0));
    assert_eq!(read_all(&mut s).unwrap(), vec![vec![1.0, 2.0, 3.0]]);

    // --rate overrides the header
    let (_d, _p, r) = open("# fs_hz=250\n1\n2\n", &rate(500.0));
    assert_eq!(r.unwrap().spec().channels[0].rate_hz, 500.0);

    // BioSPPy's own text format
    let (_d, _p, r) = open(
        "# Simple Text Format\n# Sampling Rate (Hz):= 1000.00\n# Resolution:= 12\n2050\n2051\n",
        &CsvOptions::default(),
    );
    assert_eq!(r.unwrap().spec().channels[0].rate_hz, 1000.0);
}

#[test]
fn headerless_columns_by_number() {
    let opts = CsvOptions {
        rate_hz: Some(100.0),
        pfm: Some("2".into()),
        pressure: Some("3".into()),
        ..Default::default()
    };
    let (_d, _p, r) = open("0,1,10\n1,2,20\n", &opts);
    let mut s = r.unwrap();
    let roles: Vec<Role> = s.spec().channels.iter().map(|c| c.role).collect();
    assert_eq!(roles, vec![Role::PfmEmg, Role::Pressure]);
    assert_eq!(
        read_all(&mut s).unwrap(),
        vec![vec![1.0, 2.0], vec![10.0, 20.0]]
    );
}

#[test]
fn only_non_time_column_is_pfm_and_unused_columns_are_not_parsed() {
    let (_d, _p, r) = open(
        "time,emg,note\n0,1,nan\n0.5,2,abc\n1.0,3,\n",
        &CsvOptions::default(),
    );
    let mut s = r.unwrap();
    assert_eq!(s.spec().channels.len(), 1);
    assert_eq!(s.spec().channels[0].name, "emg");
    assert_eq!(s.spec().channels[0].role, Role::PfmEmg);
    assert_eq!(read_all(&mut s).unwrap(), vec![vec![1.0, 2.0, 3.0]]);
}

#[test]
fn flags_choose_columns_by_name_and_number() {
    let opts = CsvOptions {
        pfm: Some("B".into()),
        abd: Some("4".into()),
        envelope: true,
        ..Default::default()
    };
    let (_d, _p, r) = open("t,A,B,C\n0,1,2,3\n0.1,4,5,6\n", &opts);
    let mut s = r.unwrap();
    let spec = s.spec().clone();
    assert_eq!(spec.channels[0].name, "B");
    assert_eq!(spec.channels[1].name, "C");
    assert!(spec.channels.iter().all(|c| c.kind == SignalKind::Envelope));
    assert_eq!(
        read_all(&mut s).unwrap(),
        vec![vec![2.0, 5.0], vec![3.0, 6.0]]
    );
}

#[test]
fn envelope_from_header_kind() {
    let (_d, _p, r) = open(
        "# source=x fs_hz=34.81 units=RMS (a.u.) kind=emg_envelope\ntime_s,fpl_rms\n0,1\n0.028727,2\n0.057455,3\n",
        &CsvOptions::default(),
    );
    let s = r.unwrap();
    let ch = &s.spec().channels[0];
    assert_eq!(ch.kind, SignalKind::Envelope);
    assert_eq!(ch.unit, "RMS");
    assert_eq!(ch.rate_hz, 34.81);
    assert!(s.warnings().iter().any(|w| w.contains("envelope")));
}

#[test]
fn irregular_time_steps_warn_and_use_median_rate() {
    let mut text = String::from("time_s,pfm_emg\n");
    let mut t = 0.0;
    for i in 0..200 {
        text.push_str(&format!("{t:.6},{i}\n"));
        t += if i % 10 == 9 { 0.0013 } else { 0.001 };
    }
    let (_d, _p, r) = open(&text, &CsvOptions::default());
    let mut s = r.unwrap();
    assert!((s.spec().channels[0].rate_hz - 1000.0).abs() < 1e-6);
    assert_eq!(read_all(&mut s).unwrap()[0].len(), 200);
    let w = s.warnings().join("\n");
    assert!(w.contains("irregular sampling"), "{w}");
    assert!(w.contains("index/rate"), "{w}");
    assert!(w.contains("first at line 12"), "{w}");
}

#[test]
fn torn_last_line_is_dropped_with_warning() {
    let (_d, _p, r) = open(
        "time_s,pfm_emg,abd_emg\n0,1,2\n0.5,3,4\n1.0,5",
        &CsvOptions::default(),
    );
    let mut s = r.unwrap();
    assert_eq!(
        read_all(&mut s).unwrap(),
        vec![vec![1.0, 3.0], vec![2.0, 4.0]]
    );
    assert!(s
        .warnings()
        .iter()
        .any(|w| w.contains("line 4") && w.contains("cut off")));

    // torn in the middle of a number field, no newline at the end
    let (_d, _p, r) = open("time_s,pfm_emg\n0,1\n0.5,3\n1.0,-", &CsvOptions::default());
    let mut s = r.unwrap();
    assert_eq!(read_all(&mut s).unwrap(), vec![vec![1.0, 3.0]]);
    assert!(s.warnings().iter().any(|w| w.contains("cut off")));
}

// ---- bad input ----

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nope.csv");
    let e = CsvSource::open(&p, &CsvOptions::default()).unwrap_err();
    assert!(matches!(e, InputError::Open { .. }), "{e:?}");
    assert!(e.to_string().contains("nope.csv"));
}

#[test]
fn empty_file_and_comment_only_and_header_only() {
    for text in ["", "# just a comment\n\n", "time_s,pfm_emg\n"] {
        let e = error_of(text, &CsvOptions::default());
        let msg = e.to_string();
        assert!(matches!(e, InputError::Format { .. }), "{e:?}");
        assert!(
            msg.contains("rec.csv") && msg.contains("no data rows"),
            "{msg}"
        );
    }
}

#[test]
fn no_numeric_column() {
    let e = error_of("name,comment\nanna,hello\n", &CsvOptions::default());
    assert_line_error(&e, 2, &["no numeric column"]);
}

#[test]
fn ragged_rows() {
    let e = error_of(
        "# c\ntime_s,pfm_emg,abd_emg\n0,1,2\n0.1,1\n0.2,1,2\n",
        &CsvOptions::default(),
    );
    assert_line_error(&e, 4, &["2 fields but the header has 3"]);
    let e = error_of(
        "time_s,pfm_emg\n0,1\n0.1,1,7\n0.2,1\n",
        &CsvOptions::default(),
    );
    assert_line_error(&e, 3, &["3 fields but the header has 2"]);
    // more fields on the last line is not a torn line
    let e = error_of("time_s,pfm_emg\n0,1\n0.1,1,7\n", &CsvOptions::default());
    assert_line_error(&e, 3, &["3 fields"]);
}

#[test]
fn text_in_number_field_at_line_57() {
    let mut text = String::from("# a comment line counts\ntime_s,pfm_emg\n");
    for i in 0..54 {
        text.push_str(&format!("{},{}\n", i as f64 * 0.01, i));
    }
    text.push_str("0.54,abc\n0.55,1\n");
    let e = error_of(&text, &CsvOptions::default());
    assert_line_error(&e, 57, &["column \"pfm_emg\": \"abc\" is not a number"]);
}

#[test]
fn nan_and_inf_in_chosen_column() {
    let e = error_of(
        "time_s,pfm_emg\n0,1\n0.1,NaN\n0.2,1\n",
        &CsvOptions::default(),
    );
    assert_line_error(
        &e,
        3,
        &[
            "NaN in column \"pfm_emg\"",
            "gap or the device sent garbage",
        ],
    );
    let e = error_of(
        "time_s,pfm_emg\n0,1\n0.1,2\n0.2,inf\n0.3,1\n",
        &CsvOptions::default(),
    );
    assert_line_error(&e, 4, &["infinite value in column \"pfm_emg\""]);
}

#[test]
fn empty_cell_without_sidecar() {
    let e = error_of(
        "time_s,pfm_emg,pressure\n0,1,2\n0.1,,2\n0.2,1,2\n",
        &CsvOptions::default(),
    );
    assert_line_error(&e, 3, &["column \"pfm_emg\": empty cell"]);
}

#[test]
fn non_monotonic_time() {
    let e = error_of(
        "time_s,pfm_emg\n0,1\n0.1,1\n0.2,1\n0.15,1\n0.3,1\n",
        &CsvOptions::default(),
    );
    assert_line_error(&e, 5, &["time 0.15 is not after 0.2 on line 4"]);
    // An equal time is rounding coarser than the sample interval, not time going back: read,
    // with a warning naming the line (see coarse_time_columns_derive_the_rate_and_go_on).
    let (_d, _p, r) = open(
        "time_s,pfm_emg\n0,1\n0.1,1\n0.2,1\n0.2,1\n0.3,1\n",
        &CsvOptions::default(),
    );
    let mut s = r.unwrap();
    assert_eq!(read_all(&mut s).unwrap()[0].len(), 5);
    let w = s.warnings().join("\n");
    assert!(w.contains("repeats values"), "{w}");
}

#[test]
fn no_time_and_no_rate() {
    let e = error_of("pfm_emg\n1\n2\n", &CsvOptions::default());
    let msg = e.to_string();
    assert!(matches!(e, InputError::Format { .. }));
    assert!(
        msg.contains("rec.csv") && msg.contains("no time_s column and no rate: pass --rate HZ"),
        "{msg}"
    );
    let e = error_of("1\n2\n", &rate(0.0));
    assert!(e.to_string().contains("positive"), "{e}");
}

#[test]
fn unknown_column_lists_available() {
    let opts = CsvOptions {
        pfm: Some("emg3".into()),
        ..Default::default()
    };
    let e = error_of("time_s,emg1,emg2\n0,1,2\n0.1,1,2\n", &opts);
    let msg = e.to_string();
    assert!(matches!(e, InputError::Format { .. }));
    for n in [
        "rec.csv",
        "--pfm emg3",
        "no such column",
        "emg1",
        "emg2",
        "time_s",
    ] {
        assert!(msg.contains(n), "{n} missing: {msg}");
    }
}

#[test]
fn no_channel_found_lists_columns_and_flags() {
    let e = error_of(
        "time_s,left,right\n0,1,2\n0.1,1,2\n",
        &CsvOptions::default(),
    );
    let msg = e.to_string();
    for n in [
        "rec.csv",
        "no channel column",
        "left",
        "right",
        "--pfm",
        "--abd",
        "--pressure",
    ] {
        assert!(msg.contains(n), "{n} missing: {msg}");
    }
}

#[test]
fn small_blocks_cover_everything() {
    let mut text = String::from("time_s,pfm_emg\n");
    for i in 0..1000 {
        text.push_str(&format!("{:.3},{}\n", i as f64 * 0.001, i));
    }
    let opts = CsvOptions {
        block_rows: 7,
        ..Default::default()
    };
    let (_d, _p, r) = open(&text, &opts);
    let mut s = r.unwrap();
    let mut blocks = 0;
    let mut all = Vec::new();
    while let Some(b) = s.next_block().unwrap() {
        assert!(b.chunks[0].samples.len() <= 7);
        assert_eq!(b.chunks[0].start_index, all.len() as u64);
        all.extend_from_slice(&b.chunks[0].samples);
        blocks += 1;
    }
    assert_eq!(blocks, 143);
    assert_eq!(all, (0..1000).map(|i| i as f64).collect::<Vec<_>>());
    assert!(s.next_block().unwrap().is_none());
}

#[test]
fn trailing_separators_and_time_in_ms() {
    let (_d, _p, r) = open(
        "time_ms,pfm_emg,\n0,1,\n0.5,2,\n1.0,3,\n",
        &CsvOptions::default(),
    );
    let mut s = r.unwrap();
    assert_eq!(s.spec().channels.len(), 1);
    assert!((s.spec().channels[0].rate_hz - 2000.0).abs() < 1e-6);
    assert_eq!(read_all(&mut s).unwrap(), vec![vec![1.0, 2.0, 3.0]]);
    // rows with a trailing comma under a header without one
    let (_d, _p, r) = open("time_s,pfm_emg\n0,1,\n0.5,2,\n", &CsvOptions::default());
    assert_eq!(read_all(&mut r.unwrap()).unwrap(), vec![vec![1.0, 2.0]]);
}

#[test]
fn rate_from_header_without_time_column_warns() {
    let (_d, _p, r) = open("# fs_hz=500\npfm_emg\n1\n2\n", &CsvOptions::default());
    let s = r.unwrap();
    assert_eq!(s.spec().channels[0].rate_hz, 500.0);
    let w = s.warnings().join("\n");
    assert!(
        w.contains("no time column") && w.contains("fs_hz=500"),
        "{w}"
    );
    // --rate given: the user said it, no warning about the rate
    let (_d, _p, r) = open("# fs_hz=500 units=uV\npfm_emg\n1\n2\n", &rate(1000.0));
    let s = r.unwrap();
    assert_eq!(s.spec().channels[0].rate_hz, 1000.0);
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
}

#[test]
fn time_column_disagreeing_with_header_and_rate() {
    let text = "# fs_hz=250\ntime_s,pfm_emg\n0,1\n0.001,2\n0.002,3\n";
    let (_d, _p, r) = open(text, &rate(300.0));
    let s = r.unwrap();
    assert!(
        (s.spec().channels[0].rate_hz - 1000.0).abs() < 1e-6,
        "the time column wins"
    );
    let w = s.warnings().join("\n");
    assert!(w.contains("--rate 300 ignored"), "{w}");
    assert!(w.contains("the header says fs_hz=250"), "{w}");
}

#[test]
fn slow_raw_emg_suggests_envelope() {
    let (_d, _p, r) = open("time_s,pfm_emg\n0,1\n0.1,2\n", &CsvOptions::default());
    let s = r.unwrap();
    assert!(
        s.warnings().iter().any(|w| w.contains("--envelope")),
        "{:?}",
        s.warnings()
    );
}

#[test]
fn bad_first_row_is_reported_even_before_the_rate_is_known() {
    let e = error_of(
        "time_s,pfm_emg\n0,1\nabc,2\n0.2,3\n",
        &CsvOptions::default(),
    );
    assert_line_error(&e, 3, &["column \"time_s\": \"abc\" is not a number"]);
}

#[test]
fn sidecar_problems() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(dir.path(), "rec.csv", "time_s,pfm_emg\n0,1\n0.001,2\n");
    // Not a knip sidecar: ignored with a warning.
    std::fs::write(dir.path().join("rec.json"), "{\"hello\": 1}").unwrap();
    let s = CsvSource::open(&csv, &CsvOptions::default()).unwrap();
    assert!(s
        .warnings()
        .iter()
        .any(|w| w.contains("not a knip sidecar")));
    // A broken knip sidecar: an error naming the .json.
    std::fs::write(
        dir.path().join("rec.json"),
        "{\"format\": \"knip-recording\", \"channels\": 3}",
    )
    .unwrap();
    let e = CsvSource::open(&csv, &CsvOptions::default()).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("rec.json") && msg.contains("sidecar cannot be read"),
        "{msg}"
    );
    // A sidecar naming a column the CSV does not have.
    let msg = sidecar_refusal(&csv, Role::AbdEmg, 1000.0, 0.0);
    assert!(
        msg.contains("\"abd_emg\"") && msg.contains("no such column"),
        "{msg}"
    );
}

/// Samples per channel with their indices (lost samples leave a hole in the indices).
fn read_indexed(src: &mut CsvSource) -> Result<Vec<Vec<(u64, f64)>>, InputError> {
    let mut out = vec![Vec::new(); src.spec().channels.len()];
    while let Some(block) = src.next_block()? {
        for (k, c) in block.chunks.iter().enumerate() {
            let at = c.start_index;
            out[k].extend(
                c.samples
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| (at + i as u64, v)),
            );
        }
    }
    Ok(out)
}

/// `knip analyze INPUT` under a time and memory limit exits 2 with a short message holding
/// every needle.
fn analyze_refused_briefly(input: &str, out: &str, needles: &[&str]) {
    let r = limited_run::knip(&["analyze", input, "--out", out], None, 60);
    assert_eq!(r.code, Some(2), "{r:?}");
    for n in needles {
        assert!(r.stderr.contains(n), "{n:?} missing in: {}", r.stderr);
    }
    assert!(r.stderr.len() < 1000, "{} bytes of message", r.stderr.len());
}

#[test]
fn dev_zero_and_a_50_mb_line_stop_at_once_with_a_short_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    // /dev/zero: no line ever ends (it took 6.5 GB in 20 s).
    analyze_refused_briefly("/dev/zero", out, &["/dev/zero", "line 1", "longer than"]);
    // One 50 MB line after the header (it took 1.9 GB and printed a 120 MB message).
    let mut text = b"time_s,pfm_emg\n".to_vec();
    text.extend(std::iter::repeat_n(b'7', 50 << 20));
    let big = dir.path().join("big.csv");
    std::fs::write(&big, &text).unwrap();
    analyze_refused_briefly(
        big.to_str().unwrap(),
        out,
        &["big.csv", "line 2", "not a CSV recording?"],
    );
    // The same in the library: an error naming the line, the data quoted short.
    let e = CsvSource::open(&big, &CsvOptions::default()).unwrap_err();
    match &e {
        InputError::Parse { line, .. } => assert_eq!(*line, 2),
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().len() < 400, "{e}");
}

#[test]
fn control_characters_from_the_file_never_reach_a_message_raw() {
    // A column name that would retitle the terminal, and one very long name.
    let long = "n".repeat(100_000);
    // (Tab-separated: a tab is the separator even with the `;` of the escape sequence.)
    let text = format!("time_s\t\u{1b}]0;owned\u{7}\t{long}\n0\t1\t2\n0.001\t2\t3\n");
    let e = error_of(&text, &CsvOptions::default());
    let msg = e.to_string();
    assert!(msg.contains("no channel column found"), "{msg}");
    assert!(!msg.contains('\u{1b}') && !msg.contains('\u{7}'), "{msg:?}");
    assert!(msg.contains("\\u{1b}]0;owned"), "{msg}");
    assert!(msg.len() < 1000, "{} bytes", msg.len());
    // Chosen as the only signal column: the channel's name (which goes to the terminal and the
    // reports) is escaped too.
    let (_d, _p, r) = open(
        "time_s\t\u{1b}]0;x\n0\t1\n0.001\t2\n",
        &CsvOptions::default(),
    );
    let s = r.unwrap();
    assert_eq!(s.spec().channels[0].name, "\\u{1b}]0;x");
    assert!(s.warnings().iter().all(|w| !w.contains('\u{1b}')));
    // A bad cell is quoted short and escaped.
    let text = format!("time_s,pfm_emg\n0,1\n0.001,\u{1b}[2J{}\n", "x".repeat(5000));
    let msg = error_of(&text, &CsvOptions::default()).to_string();
    assert!(
        msg.contains("is not a number") && !msg.contains('\u{1b}'),
        "{msg:?}"
    );
    assert!(msg.len() < 500, "{} bytes", msg.len());
}

#[test]
fn utf16_files_are_refused_with_what_to_do() {
    let text = "time_s,pfm_emg\n0,1\n0.001,2\n";
    let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
    let variants = [
        [vec![0xFF, 0xFE], le.clone()].concat(),
        [vec![0xFE, 0xFF], be].concat(),
        le, // no byte-order mark
    ];
    for bytes in variants {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rec.csv");
        std::fs::write(&p, &bytes).unwrap();
        let msg = CsvSource::open(&p, &CsvOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("rec.csv") && msg.contains("UTF-16") && msg.contains("save it as UTF-8"),
            "{msg}"
        );
    }
}

/// 2 kHz EMG with a time column, `rows` rows, the time printed by `time`.
fn emg_2khz(rows: usize, time: impl Fn(f64) -> String) -> String {
    let mut text = String::from("time,pfm_emg\n");
    for i in 0..rows {
        let v = ((i * 7919) % 1000) as f64 / 10.0;
        text.push_str(&format!("{},{v}\n", time(i as f64 / 2000.0)));
    }
    text
}

#[test]
fn pipes_and_stdin_read_like_files() {
    // Long enough that the prescan of the first rows runs past the first read of the pipe.
    let text = emg_2khz(60_000, |t| format!("{t:.4}"));
    assert!(text.len() > 600_000, "{}", text.len());
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "rec.csv", &text);
    let want = read_all(&mut CsvSource::open(&file, &CsvOptions::default()).unwrap()).unwrap();
    assert_eq!(want[0].len(), 60_000);
    // A named pipe.
    let fifo = dir.path().join("fifo.csv");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let writer = {
        let (fifo, text) = (fifo.clone(), text.clone());
        std::thread::spawn(move || std::fs::write(fifo, text).unwrap())
    };
    let mut src = CsvSource::open(&fifo, &CsvOptions::default()).unwrap();
    assert!(!src.is_parallel());
    assert_eq!(read_all(&mut src).unwrap(), want);
    writer.join().unwrap();
    // `-`: standard input, through the binary (it failed with "Illegal seek").
    let out = dir.path().join("out");
    let r = limited_run::knip(
        &["analyze", "-", "--out", out.to_str().unwrap()],
        Some(text.into_bytes()),
        120,
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(out.join("session.json").is_file());
}

#[test]
fn absurd_values_are_lost_samples_not_signal() {
    // 1e308 at line 57 and 99999999 at line 152 of an EMG column (µV): beyond ±1e6 µV.
    let mut text = String::from("time_s,pfm_emg,pressure\n");
    for i in 0..200 {
        let emg = match i {
            55 => "1e308".to_string(),
            150 => "99999999".to_string(),
            _ => format!("{}", i % 10),
        };
        let p = if i == 120 {
            "-5e4".to_string()
        } else {
            "20.5".to_string()
        };
        text.push_str(&format!("{},{emg},{p}\n", i as f64 / 1000.0));
    }
    for block_rows in [0, 7] {
        let opts = CsvOptions {
            block_rows,
            ..Default::default()
        };
        let (_d, _p, r) = open(&text, &opts);
        let mut s = r.unwrap();
        let got = read_indexed(&mut s).unwrap();
        // Every other value is where it was; the absurd ones are gone, their index left empty.
        let emg_want: Vec<(u64, f64)> = (0..200u64)
            .filter(|&i| i != 55 && i != 150)
            .map(|i| (i, (i % 10) as f64))
            .collect();
        assert_eq!(got[0], emg_want, "block_rows {block_rows}");
        let p_want: Vec<(u64, f64)> = (0..200u64)
            .filter(|&i| i != 120)
            .map(|i| (i, 20.5))
            .collect();
        assert_eq!(got[1], p_want, "block_rows {block_rows}");
        let w = s.warnings().join("\n");
        assert!(
            w.contains(
                "\"pfm_emg\": 2 values beyond the plausible ±1e6 uV (first at line 57: \"1e308\")"
            ) && w.contains("lost samples"),
            "{w}"
        );
        assert!(
            w.contains("\"pressure\": 1 value beyond the plausible ±1000 cmH2O"),
            "{w}"
        );
    }
    // Values inside the bounds are signal, however large for a body.
    let (_d, _p, r) = open(
        "time_s,pfm_emg\n0,999999\n0.001,-999999\n",
        &CsvOptions::default(),
    );
    let mut s = r.unwrap();
    assert_eq!(read_all(&mut s).unwrap(), vec![vec![999_999.0, -999_999.0]]);
}

#[test]
fn coarse_time_columns_derive_the_rate_and_go_on() {
    // 2 kHz written with 3 decimals: every other time repeats (it stopped with an error).
    let text = emg_2khz(4_000, |t| format!("{t:.3}"));
    let (_d, _p, r) = open(&text, &CsvOptions::default());
    let mut s = r.unwrap();
    let derived = s.spec().channels[0].rate_hz;
    assert!((derived - 2000.0).abs() < 2.0, "{derived}");
    let w = s.warnings().join("\n");
    assert!(
        w.contains("repeats values") && w.contains("derived from the span"),
        "{w}"
    );
    assert_eq!(read_all(&mut s).unwrap()[0].len(), 4_000);
    // --rate, when given, is used.
    let (_d, _p, r) = open(&text, &rate(2000.0));
    let s = r.unwrap();
    assert_eq!(s.spec().channels[0].rate_hz, 2000.0);
    assert!(s.warnings().join("\n").contains("--rate 2000 Hz is used"));
    // `%.6g` past 100 s: fine for the first rows, repeats from 100 s on (row 200 001).
    let text = emg_2khz(202_000, |t| {
        let digits = 6 - (t.abs().max(1.0).log10().floor() as usize + 1);
        format!("{t:.digits$}")
    });
    let (_d, _p, r) = open(&text, &CsvOptions::default());
    let mut s = r.unwrap();
    assert!((s.spec().channels[0].rate_hz - 2000.0).abs() < 1e-6);
    assert_eq!(read_all(&mut s).unwrap()[0].len(), 202_000);
    let w = s.warnings().join("\n");
    assert!(
        w.contains("from line 200") && w.contains("repeats values"),
        "{w}"
    );
    // (Time going back is still an error: non_monotonic_time.)
}

#[test]
fn a_time_column_in_milliseconds_gets_a_hint() {
    let (_d, _p, r) = open(
        "time,pfm_emg\n0,1\n0.5,2\n1.0,3\n1.5,2\n",
        &CsvOptions::default(),
    );
    let s = r.unwrap();
    let w = s.warnings().join("\n");
    assert!(w.contains("name it time_ms") && w.contains("2000"), "{w}");
    // Named in seconds: no hint.
    let (_d, _p, r) = open("time_s,pfm_emg\n0,1\n0.5,2\n", &CsvOptions::default());
    assert!(!r.unwrap().warnings().join("\n").contains("time_ms"));
}

#[test]
fn sidecar_numbers_are_checked_before_use() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(dir.path(), "rec.csv", "time_s,pfm_emg\n0,1\n0.001,2\n");
    let msg = sidecar_refusal(&csv, Role::PfmEmg, 1e12, 0.0);
    assert!(
        msg.contains("rec.json") && msg.contains("rate_hz") && msg.contains("0.1–100000 Hz"),
        "{msg}"
    );
    let msg = sidecar_refusal(&csv, Role::PfmEmg, 1000.0, f64::MAX);
    assert!(msg.contains("start_time_s"), "{msg}");
}

/// Writes a knip sidecar of one channel beside `csv`; the error opening `csv` then gives.
fn sidecar_refusal(csv: &Path, role: Role, rate_hz: f64, start_time_s: f64) -> String {
    let spec = knip::frame::StreamSpec {
        channels: vec![knip::frame::ChannelSpec::new(role, rate_hz)],
        start_time_s,
    };
    let sc = knip::sidecar::Sidecar::new("t", &spec, &Default::default());
    std::fs::write(
        csv.with_extension("json"),
        serde_json::to_string(&sc).unwrap(),
    )
    .unwrap();
    CsvSource::open(csv, &CsvOptions::default())
        .unwrap_err()
        .to_string()
}

/// A 2 kHz recording of squeezes with a one-second hole in its time column at `hole_row`, and
/// a torn last line.
fn squeezes_with_a_hole(hole_row: usize) -> String {
    let mut text = String::from("# units=uV\ntime_s,pfm_emg\n");
    let mut t = 0.0;
    for i in 0..40_000usize {
        if i == hole_row {
            t += 1.0;
        }
        let on = (i / 4000) % 2 == 1;
        let v = if on { 40.0 } else { 4.0 } * if i % 2 == 0 { 1.0 } else { -1.0 };
        text.push_str(&format!("{t:.4},{v}\n"));
        t += 0.0005;
    }
    text.push_str("20.5,");
    text
}

#[test]
fn warnings_found_late_in_the_file_reach_the_user_and_session_json() {
    for hole_row in [3_000, 30_000] {
        let dir = tempfile::tempdir().unwrap();
        let csv = write(dir.path(), "rec.csv", &squeezes_with_a_hole(hole_row));
        let out = dir.path().join("out");
        let o = knip::analyze::analyze(
            &csv,
            &CsvOptions::default(),
            &Default::default(),
            &out,
            Vec::new(),
        )
        .unwrap();
        let line = format!("first at line {}", hole_row + 3);
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("session.json")).unwrap())
                .unwrap();
        let stored: Vec<String> = json["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_str().unwrap().to_string())
            .collect();
        for warnings in [&o.warnings, &stored] {
            let w = warnings.join("\n");
            assert!(
                w.contains("irregular sampling") && w.contains(&line),
                "row {hole_row}: {w}"
            );
            assert!(
                w.contains("the last line") && w.contains("cut off"),
                "row {hole_row}: {w}"
            );
            // Each once.
            assert_eq!(w.matches("cut off").count(), 1, "{w}");
        }
    }
}

/// Times printed at six decimals cannot hold 1/512 s: the steps are 0.001953 and 0.001954 s, and
/// the median step alone gave 512.03 Hz (0.2 s adrift after an hour). The rate comes from the
/// span of the times, to the whole Hz where the span is precise enough to say so.
#[test]
fn rate_of_times_rounded_at_print_comes_from_their_span() {
    for (rate_hz, rows, want, tol) in [
        (512.0, 30_000, 512.0, 0.0),
        (1024.0, 5_000, 1024.0, 0.0),
        (2048.0, 20_000, 2048.0, 0.0),
        // Not a whole number of Hz: the span's own figure, within its rounding error.
        (34.81, 3_000, 34.81, 1e-4),
    ] {
        let mut text = String::from("time_s,pfm_emg\n");
        for i in 0..rows {
            text.push_str(&format!("{:.6},{}\n", i as f64 / rate_hz, i % 7));
        }
        let (_d, _p, r) = open(&text, &CsvOptions::default());
        let mut s = r.unwrap();
        let got = s.spec().channels[0].rate_hz;
        assert!(
            (got - want).abs() <= tol,
            "{rate_hz} Hz at six decimals read as {got} Hz"
        );
        assert_eq!(read_all(&mut s).unwrap()[0].len(), rows);
        let w = s.warnings().join("\n");
        assert!(!w.contains("irregular"), "{w}");
    }
}
