//! The real `knip` binary on simulated and broken inputs: reports are written, bad input gives a
//! clear error naming the file and line, and nothing panics.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn knip(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_knip"))
        .args(args)
        .output()
        .expect("run knip")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn simulate(dir: &Path, protocol: &str, seed: u64) -> PathBuf {
    let csv = dir.join(format!("{protocol}_{seed}.csv"));
    let o = knip(&[
        "simulate",
        "--protocol",
        protocol,
        "--seed",
        &seed.to_string(),
        "--out",
        csv.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    csv
}

#[test]
fn simulate_then_analyze_writes_every_report_file_with_the_contractions_found() {
    let dir = tempfile::tempdir().unwrap();
    let csv = simulate(dir.path(), "identify", 3);
    assert!(csv.with_extension("json").exists(), "sidecar written");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in [csv.clone(), csv.with_extension("json")] {
            let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
            assert_eq!(
                mode,
                0o600,
                "{} must be readable by its owner only",
                f.display()
            );
        }
    }
    let truth = knip::truth::read_truth_csv(&dir.path().join("identify_3.truth.csv")).unwrap();
    let squeezes = truth
        .iter()
        .filter(|t| t.role == knip::frame::Role::PfmEmg && t.kind.is_contraction())
        .count();
    assert_eq!(squeezes, 10, "identification: 10 squeezes simulated");

    let out = dir.path().join("report");
    let o = knip(&[
        "analyze",
        csv.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    for f in [
        "contractions.csv",
        "events.csv",
        "summary.csv",
        "session.json",
        "report.png",
    ] {
        let p = out.join(f);
        assert!(
            p.exists() && std::fs::metadata(&p).unwrap().len() > 0,
            "{f} missing"
        );
    }
    let contractions = std::fs::read_to_string(out.join("contractions.csv")).unwrap();
    let mut lines = contractions.lines();
    assert_eq!(
        lines.next().unwrap(),
        "n,channel,onset_s,offset_s,duration_s,peak,mean,cv_pct,rise_s,release_s,unit,abd_mean,abd_index,abd_flag"
    );
    let pfm_rows: Vec<&str> = lines
        .filter(|l| l.split(',').nth(1) == Some("pfm_emg"))
        .collect();
    assert_eq!(pfm_rows.len(), 10, "{contractions}");
    // Every pelvic contraction carries the abdominal level during its hold.
    assert!(pfm_rows
        .iter()
        .all(|r| !r.split(',').nth(11).unwrap().is_empty()));

    let session: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("session.json")).unwrap()).unwrap();
    assert_eq!(session["settings"]["conditioning"]["emg_highpass_hz"], 20.0);
    assert_eq!(
        session["settings"]["conditioning"]["notch_hz"],
        serde_json::Value::Null
    );
    assert_eq!(session["channels"].as_array().unwrap().len(), 3);

    let png = std::fs::read(out.join("report.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
}

#[test]
fn notch_setting_is_applied_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let csv = simulate(dir.path(), "identify", 4);
    let out = dir.path().join("r");
    let o = knip(&[
        "analyze",
        csv.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--notch",
        "50",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let session: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("session.json")).unwrap()).unwrap();
    assert_eq!(session["settings"]["conditioning"]["notch_hz"], 50.0);
    let applied = &session["channels"][0]["applied"]["notch_hz"];
    assert_eq!(applied[0], 50.0, "{applied}");
    let bad = knip(&[
        "analyze",
        csv.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--notch",
        "55",
    ]);
    assert!(!bad.status.success());
    assert!(text(&bad).contains("50 or 60"), "{}", text(&bad));
}

/// Each broken file gives exit code 2, names the file (and line where there is one), and never
/// panics.
#[test]
fn bad_inputs_give_clear_errors_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, &str, Vec<&str>)> = vec![
        (
            "no_numbers.csv",
            "name,comment\nabc,def\nghi,jkl\n",
            vec!["no_numbers.csv"],
        ),
        (
            "ragged.csv",
            "time_s,pfm_emg\n0.000,1.0\n0.001,2.0\n0.002\n0.003,4.0\n",
            vec!["ragged.csv", "line 4"],
        ),
        (
            "text.csv",
            "time_s,pfm_emg\n0.000,1.0\n0.001,abc\n0.002,3.0\n",
            vec!["text.csv", "line 3", "abc"],
        ),
        (
            "nan.csv",
            "time_s,pfm_emg\n0.000,1.0\n0.001,NaN\n0.002,3.0\n",
            vec!["nan.csv", "line 3"],
        ),
        (
            "backwards.csv",
            "time_s,pfm_emg\n0.000,1.0\n0.002,2.0\n0.001,3.0\n0.003,3.0\n",
            vec!["backwards.csv", "line 4"],
        ),
    ];
    for (name, content, needles) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        let o = knip(&[
            "analyze",
            p.to_str().unwrap(),
            "--out",
            dir.path().join("o").to_str().unwrap(),
        ]);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: {t}");
        assert!(!t.contains("panicked"), "{name}: {t}");
        for n in needles {
            assert!(t.contains(n), "{name}: message lacks '{n}': {t}");
        }
    }
    let missing = dir.path().join("missing.csv");
    let o = knip(&[
        "analyze",
        missing.to_str().unwrap(),
        "--out",
        dir.path().join("o").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("missing.csv"), "{}", text(&o));
}

#[test]
fn demo_runs_fast_and_writes_its_report_and_recording() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let o = knip(&[
        "demo",
        "--fast",
        "--protocol",
        "mixed",
        "--seed",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    // Live lines: cues and verdicts as they happen, then the closing summary.
    assert!(t.contains("Squeeze"), "{t}");
    assert!(t.contains("squeeze held"), "{t}");
    for f in [
        "report.png",
        "contractions.csv",
        "summary.csv",
        "session.json",
        "recording.csv",
        "recording.json",
        "recording.truth.csv",
    ] {
        assert!(out.join(f).exists(), "{f} missing: {t}");
    }
    // The recording it made analyses to the same contractions.
    let again = dir.path().join("again");
    let o = knip(&[
        "analyze",
        out.join("recording.csv").to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let a = std::fs::read_to_string(out.join("contractions.csv")).unwrap();
    let b = std::fs::read_to_string(again.join("contractions.csv")).unwrap();
    assert_eq!(a.lines().count(), b.lines().count(), "{a}\n---\n{b}");
}

/// Exit code 2 and a message naming `needles` (the file or the option).
fn assert_input_error(args: &[&str], needles: &[&str]) {
    let o = knip(args);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {t}");
    assert!(!t.contains("panicked"), "{args:?}: {t}");
    for n in needles {
        assert!(t.contains(n), "{args:?}: message lacks '{n}': {t}");
    }
}

#[test]
fn missing_markers_file_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("short.csv");
    std::fs::write(&csv, "time_s,pfm_emg\n0.000,1.0\n0.001,2.0\n").unwrap();
    let markers = dir.path().join("missing_markers.txt");
    let out = dir.path().join("o");
    assert_input_error(
        &[
            "analyze",
            csv.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--markers",
            markers.to_str().unwrap(),
        ],
        &["missing_markers.txt"],
    );
    // `export --markers` too, and a marker file with a bad line names the line.
    let edf = dir.path().join("short.edf");
    assert_input_error(
        &[
            "export",
            csv.to_str().unwrap(),
            "--out",
            edf.to_str().unwrap(),
            "--markers",
            markers.to_str().unwrap(),
        ],
        &["missing_markers.txt"],
    );
    let bad = dir.path().join("bad_markers.csv");
    std::fs::write(&bad, "time_s,text\n1.0,start\nsoon,end\n").unwrap();
    assert_input_error(
        &[
            "export",
            csv.to_str().unwrap(),
            "--out",
            edf.to_str().unwrap(),
            "--markers",
            bad.to_str().unwrap(),
        ],
        &["bad_markers.csv", "line 3"],
    );
}

#[test]
fn out_of_range_options_exit_2_naming_the_option() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("short.csv");
    std::fs::write(&csv, "time_s,pfm_emg\n0.000,1.0\n0.001,2.0\n").unwrap();
    let c = csv.to_str().unwrap();
    let out = dir.path().join("o");
    let o = out.to_str().unwrap();
    let d = dir.path().to_str().unwrap();
    assert_input_error(&["analyze", c, "--out", o, "--notch", "55"], &["--notch"]);
    assert_input_error(
        &["analyze", c, "--out", o, "--onset-k", "0"],
        &["--onset-k"],
    );
    assert_input_error(&["batch", d, "--out", o, "--jobs", "0"], &["--jobs"]);
    assert_input_error(
        &[
            "record",
            "--port",
            "/dev/null",
            "--format",
            "line",
            "--out",
            o,
            "--range",
            "5,1",
        ],
        &["--range", "5,1"],
    );
    assert_input_error(
        &[
            "record",
            "--port",
            "/dev/null",
            "--format",
            "line",
            "--out",
            o,
            "--seq-bits",
            "12",
        ],
        &["--seq-bits"],
    );
    assert_input_error(
        &["simulate", "--protocol", "nosuch", "--out", c],
        &["nosuch"],
    );
    assert_input_error(
        &["simulate", "--channels", "pfm_emg,knee", "--out", c],
        &["--channels", "knee"],
    );
    assert_input_error(
        &["export", c, "--out", o, "--format", "xyz"],
        &["--format", "xyz"],
    );
    assert_input_error(
        &["export", c, "--out", "short.edf", "--start", "yesterday"],
        &["--start", "yesterday"],
    );
    assert_input_error(
        &["progress-fill", "--patient", "p1", "--first-day", "May 1"],
        &["--first-day"],
    );
}
