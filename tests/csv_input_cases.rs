//! CsvSource on small hand-written files: variants that must read, and bad input that must give
//! the right error, naming the file and the line.

use knip::error::InputError;
use knip::frame::{Role, SignalKind};
use knip::source::csv_file::{CsvOptions, CsvSource};
use knip::source::Source;
use std::path::{Path, PathBuf};

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
    // equal times are not increasing either
    let e = error_of(
        "time_s,pfm_emg\n0,1\n0.1,1\n0.1,1\n",
        &CsvOptions::default(),
    );
    assert_line_error(&e, 4, &["increase strictly"]);
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
    let spec = knip::frame::StreamSpec {
        channels: vec![knip::frame::ChannelSpec::new(Role::AbdEmg, 1000.0)],
        start_time_s: 0.0,
    };
    let sc = knip::sidecar::Sidecar::new("t", &spec, &Default::default());
    std::fs::write(
        dir.path().join("rec.json"),
        serde_json::to_string(&sc).unwrap(),
    )
    .unwrap();
    let msg = CsvSource::open(&csv, &CsvOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("\"abd_emg\"") && msg.contains("no such column"),
        "{msg}"
    );
}
