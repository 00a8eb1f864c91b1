//! The real `knip` binary on simulated and broken inputs: reports are written, bad input gives a
//! clear error naming the file and line, and nothing panics.

use crate::cli_support::{knip, text};
use std::path::{Path, PathBuf};
use std::process::Output;

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
        "n,channel,onset_s,offset_s,duration_s,hold_s,peak,mean,cv_pct,rise_s,release_s,unit,abd_mean,abd_index,abd_flag"
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
        // The failed run leaves no empty report folder behind; the same for a replay.
        assert!(!dir.path().join("o").exists(), "{name}: empty --out left");
        let replayed = knip(&[
            "replay",
            p.to_str().unwrap(),
            "--fast",
            "--plain",
            "--out",
            dir.path().join("r").to_str().unwrap(),
        ]);
        assert_eq!(
            replayed.status.code(),
            Some(2),
            "{name}: {}",
            text(&replayed)
        );
        assert!(
            !dir.path().join("r").exists(),
            "{name}: empty replay --out left"
        );
    }
    // A folder that was there before the run stays, even empty.
    let mine = dir.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    let p = dir.path().join("nan.csv");
    let o = knip(&[
        "analyze",
        p.to_str().unwrap(),
        "--out",
        mine.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(mine.is_dir(), "a folder the user made was removed");
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

// ---- One meaning for every score: the guided session and the analysis judge alike. ----

use knip::config::AnalysisConfig;
use knip::score::ScoringConfig;
use knip::session::calibrate::{Calibration, ChannelCalibration};
use knip::session::protocol::{Phase, PhaseKind, Protocol, ProtocolKind};
use knip::session::run::{Controls, SessionRunner, SessionSetup, SessionSink};
use knip::source::csv_file::CsvOptions;

/// A pressure recording (100 Hz): 20 s rest, one squeeze of 30 cmH2O with 0.5-s ramps and a
/// `plateau_s` plateau (hold above half the peak ≈ plateau + 0.5 s), 20 s rest.
fn write_hold_csv(path: &Path, plateau_s: f64) {
    let rate = 100.0;
    let on = 20.3;
    let ramp = 0.5;
    let n = ((on + 2.0 * ramp + plateau_s + 20.0) * rate) as usize;
    let mut text = String::from("time_s,pressure\n");
    for k in 0..n {
        let t = k as f64 / rate;
        let x = t - on;
        let level = if x < 0.0 {
            0.0
        } else if x < ramp {
            30.0 * x / ramp
        } else if x < ramp + plateau_s {
            30.0
        } else if x < 2.0 * ramp + plateau_s {
            30.0 * (2.0 * ramp + plateau_s - x) / ramp
        } else {
            0.0
        };
        // Deterministic small noise so that rest has a spread.
        let noise = 0.3 * ((k as f64 * 12.9898).sin() * 43758.5453).fract();
        text.push_str(&format!("{t:.2},{:.3}\n", 10.0 + level + noise));
    }
    std::fs::write(path, text).unwrap();
}

/// The guided session's verdict on the recording: a rest phase, then one 5-s hold cued at 20 s.
fn session_hold(csv: &Path, scoring: &ScoringConfig) -> (f64, bool) {
    let cfg = AnalysisConfig::default();
    let phase = |name: &str, kind, work_s| Phase {
        name: name.into(),
        kind,
        cue: "test".into(),
        reps: 1,
        work_s,
        rest_s: if kind == PhaseKind::Hold { 15.0 } else { 0.0 },
        until_failure: false,
        target_pct_mvc: None,
        hold_from_max_hold: false,
    };
    let protocol = Protocol {
        name: "one-hold".into(),
        description: "test".into(),
        kind: ProtocolKind::Training,
        daily_goal_reps: 30,
        phases: vec![
            // With a saved calibration the session opens with its short baseline.
            phase(
                "rest",
                PhaseKind::Rest,
                20.0 - knip::session::protocol::SHORT_BASELINE_S,
            ),
            phase("hold", PhaseKind::Hold, 5.0),
        ],
    };
    // Blocks of 0.2 s, as a live device delivers them (the runner places events in the slots
    // it has opened so far).
    let opts = CsvOptions {
        block_rows: 20,
        ..CsvOptions::default()
    };
    let opened = knip::export::open_recording(csv, &opts).unwrap();
    let spec = opened.source.spec().clone();
    let setup = SessionSetup {
        protocol,
        calibration: Some(Calibration {
            channels: vec![ChannelCalibration {
                role: knip::frame::Role::Pressure,
                unit: "cmH2O".into(),
                rest_mean: 10.0,
                rest_sd: 0.1,
                mvc: 45.0,
            }],
            source: "test".into(),
        }),
        scoring: scoring.clone(),
        done_today: 0,
        pressure_delay_s: knip::session::run::pressure_delay_s(&spec, &cfg),
        pause_mode: Default::default(),
        scripted_pauses: Vec::new(),
        recorded_markers: Vec::new(),
        event_settle_s: knip::session::run::event_settle_s(&spec, &cfg),
    };
    let sink = SessionSink::new(
        SessionRunner::new(setup),
        Vec::new(),
        std::sync::Arc::new(Controls::default()),
    );
    let handle = sink.result_handle();
    knip::pipeline::run(
        opened.source,
        &cfg,
        vec![Box::new(sink)],
        knip::pipeline::Pace::Unpaced,
    )
    .unwrap();
    let r = handle.lock().unwrap().take().expect("session result");
    let rep = r
        .reps
        .iter()
        .find(|x| r.phases[x.phase].kind == PhaseKind::Hold)
        .expect("the hold rep");
    (rep.hold_s.expect("hold measured"), rep.passed())
}

fn summary_value(dir: &Path, channel: &str, metric: &str) -> String {
    let mut r = csv::Reader::from_path(dir.join("summary.csv")).unwrap();
    r.records()
        .map(|x| x.unwrap())
        .find(|x| &x[0] == channel && &x[1] == metric)
        .map(|x| x[2].to_string())
        .unwrap_or_else(|| panic!("{channel} {metric} in summary.csv"))
}

#[test]
fn a_4_8_s_hold_is_judged_alike_by_the_session_the_analysis_and_progress() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("hold.csv");
    write_hold_csv(&csv, 4.3);
    let lenient = ScoringConfig::default();
    let strict = ScoringConfig {
        hold_tolerance_s: 0.0,
        ..ScoringConfig::default()
    };
    for (name, scoring, valid) in [("lenient", &lenient, true), ("strict", &strict, false)] {
        let out = dir.path().join(name);
        let o = knip::analyze::analyze_scored(
            &csv,
            &CsvOptions::default(),
            &AnalysisConfig::default(),
            scoring,
            &out,
            Vec::new(),
        )
        .unwrap();
        let ch = o.scores.primary().expect("pressure channel");
        assert_eq!(ch.contractions.len(), 1, "{:?}", ch.contractions);
        let hold = ch.contractions[0].hold_s;
        assert!((4.6..4.99).contains(&hold), "analysis hold {hold}");
        // The analysis summary, the progress record and the session's verdict agree.
        let counted = u32::from(valid);
        assert_eq!(
            summary_value(&out, "pressure", "holds_5s_or_longer"),
            counted.to_string(),
            "{name}"
        );
        let rec =
            knip::progress::SessionRecord::from_analysis("P-1", &csv, &o.scores, None).unwrap();
        assert_eq!(rec.valid_squeezes, counted, "{name}: progress");
        assert_eq!(knip::score::valid_hold(hold, 5.0, scoring), valid);
        let (session_hold_s, passed) = session_hold(&csv, scoring);
        assert!(
            (session_hold_s - hold).abs() < 0.05,
            "session {session_hold_s} vs analysis {hold}"
        );
        assert_eq!(passed, valid, "{name}: the guided session's verdict");
    }
}

#[test]
fn the_scoring_config_sets_the_coactivation_flag_in_analysis_and_session_alike() {
    let dir = tempfile::tempdir().unwrap();
    let csv = simulate(dir.path(), "strength", 4);
    let run = |name: &str, scoring: &ScoringConfig| {
        knip::analyze::analyze_scored(
            &csv,
            &CsvOptions::default(),
            &AnalysisConfig::default(),
            scoring,
            &dir.path().join(name),
            Vec::new(),
        )
        .unwrap()
    };
    let default = ScoringConfig::default();
    let o = run("default", &default);
    let ch = o.scores.primary().expect("pelvic channel");
    let flagged = ch.coactivated().expect("an abdominal channel");
    // Between the smallest and the largest index: some flagged, some not.
    let mut idx: Vec<f64> = ch.contractions.iter().filter_map(|c| c.abd_index).collect();
    idx.sort_by(f64::total_cmp);
    assert!(idx.len() >= 3, "{idx:?}");
    let middle = idx[idx.len() / 2];
    let tuned = ScoringConfig {
        coact_amber_index: middle,
        coact_red_index: middle + 1000.0,
        ..default.clone()
    };
    let t = run("tuned", &tuned);
    let tch = t.scores.primary().expect("pelvic channel");
    let tuned_flagged = tch.coactivated().expect("abdominal channel");
    assert_ne!(flagged, tuned_flagged, "the threshold changes the count");
    // Each contraction's flag is the session's rule (CoactFlag::classify with the same config
    // and the abdominal lead) — one rule for both.
    for c in &tch.contractions {
        let session_flag = knip::score::contraction::coact_flag(
            c.abd_index,
            knip::score::contraction::abd_lead_ms(
                o.events
                    .iter()
                    .find(|e| e.onset_s == c.onset_s && e.channel == c.channel)
                    .expect("event"),
                &o.events,
            ),
            &tuned,
        );
        assert_eq!(c.coact_flag, session_flag);
    }
    assert_eq!(
        summary_value(
            &dir.path().join("tuned"),
            &tch.name,
            "coactivated_contractions"
        ),
        tuned_flagged.to_string()
    );
    let rec = knip::progress::SessionRecord::from_analysis("P-1", &csv, &t.scores, None).unwrap();
    assert_eq!(rec.coactivated, Some(tuned_flagged));
}

/// A squeeze inside the calibration rest: the analysis says so on the terminal, in session.json
/// (which spans were used and which left out) and in summary.csv, and still counts the squeeze;
/// a clean calibration says it was all quiet.
#[test]
fn the_rest_used_and_why_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let run = |conditions: &[&str], name: &str| {
        let csv = dir.path().join(format!("{name}.csv"));
        let mut args = vec![
            "simulate",
            "--protocol",
            "identify",
            "--seed",
            "4",
            "--out",
            csv.to_str().unwrap(),
        ];
        for c in conditions {
            args.extend(["--condition", c]);
        }
        let o = knip(&args);
        assert!(o.status.success(), "{}", text(&o));
        let out = dir.path().join(format!("{name}_report"));
        let o = knip(&[
            "analyze",
            csv.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o));
        let session: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("session.json")).unwrap())
                .unwrap();
        (text(&o), session, out)
    };
    let (said, session, out) = run(&["calibration_squeeze"], "squeeze");
    assert!(said.contains("pfm_emg: rest from the quiet"), "{said}");
    assert!(said.contains("left out"), "{said}");
    let pfm = &session["channels"][0];
    assert_eq!(pfm["applied"]["channel"], "pfm_emg");
    assert_eq!(pfm["rest"]["clean"], false, "{pfm}");
    let excluded = pfm["rest"]["excluded_s"].as_array().unwrap();
    assert!(!excluded.is_empty(), "{pfm}");
    // The simulated squeeze starts 0.8–3.0 s in: inside what was left out.
    let first: f64 = excluded[0][0].as_f64().unwrap();
    assert!((0.5..3.5).contains(&first), "{pfm}");
    assert!(summary_value(&out, "pfm_emg", "rest_from").contains("left out"));
    // 10 identification squeezes plus the one inside the calibration.
    assert_eq!(summary_value(&out, "pfm_emg", "contractions"), "11");
    let (said, session, out) = run(&[], "clean");
    assert!(!said.contains("rest from the quiet"), "{said}");
    assert_eq!(session["channels"][0]["rest"]["clean"], true);
    assert!(summary_value(&out, "pfm_emg", "rest_from").contains("all quiet"));
    assert_eq!(summary_value(&out, "pfm_emg", "contractions"), "10");
}

/// Absurd numbers on the command line (issue 12: `--rate 1e12` aborted on a 400 GB allocation,
/// `--rate 1e300` panicked, `progress-fill --days 100000000` panicked) are refused before
/// anything is sized from them: exit 2, naming the option and its plausible range.
#[test]
fn absurd_numbers_on_the_command_line_are_refused_with_their_range() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("short.csv");
    std::fs::write(&csv, "time_s,pfm_emg\n0.000,1.0\n0.001,2.0\n").unwrap();
    let (c, o) = (csv.to_str().unwrap(), dir.path().join("o"));
    let o = o.to_str().unwrap();
    let db = dir.path().join("p.db");
    let db = db.to_str().unwrap();
    let sim = dir.path().join("sim.csv");
    let sim = sim.to_str().unwrap();
    for (args, option, range) in [
        (
            vec!["analyze", c, "--out", o, "--rate", "1e12"],
            "--rate",
            "0.1–100000 Hz",
        ),
        (
            vec!["analyze", c, "--out", o, "--rate", "1e300"],
            "--rate",
            "0.1–100000 Hz",
        ),
        (
            vec!["analyze", c, "--out", o, "--rate", "NaN"],
            "--rate",
            "0.1–100000 Hz",
        ),
        (
            vec!["analyze", c, "--out", o, "--envelope-ms", "1e12"],
            "--envelope-ms",
            "1–10000 ms",
        ),
        (
            vec!["analyze", c, "--out", o, "--calibration-s", "1e12"],
            "--calibration-s",
            "0.1–600 s",
        ),
        (
            vec!["analyze", c, "--out", o, "--calibration-start-s=-1"],
            "--calibration-start-s",
            "0–604800 s",
        ),
        (
            vec!["analyze", c, "--out", o, "--read-threads", "100000"],
            "--read-threads",
            "1–1024",
        ),
        (
            vec!["simulate", "--out", sim, "--emg-rate", "1e12"],
            "--emg-rate",
            "100–20000 Hz",
        ),
        (
            vec!["simulate", "--out", sim, "--pressure-rate", "inf"],
            "--pressure-rate",
            "1–20000 Hz",
        ),
        (
            vec!["progress-fill", "--db", db, "--days", "100000000"],
            "--days",
            "1–3650 days",
        ),
        (
            vec!["evaluate", "--sessions", "1000000000"],
            "--sessions",
            "1–100000",
        ),
        (
            vec!["replay", c, "--out", o, "--speed", "1e300"],
            "--speed",
            "0.01–10000",
        ),
    ] {
        assert_input_error(&args, &[option, range]);
    }
    // Nothing was written by a refused command.
    assert!(!std::path::Path::new(o).exists() && !std::path::Path::new(sim).exists());
}

/// `knip analyze INPUT --out OUT [--force]`.
fn analyze(input: &Path, out: &Path, force: bool) -> Output {
    let mut args = vec![
        "analyze",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    if force {
        args.push("--force");
    }
    knip(&args)
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn an_out_folder_with_a_report_is_refused_unless_forced_and_then_holds_only_the_new_report() {
    let dir = tempfile::tempdir().unwrap();
    let a = simulate(dir.path(), "identify", 1);
    let b = simulate(dir.path(), "strength", 2);
    let out = dir.path().join("report");
    let o = analyze(&a, &out, false);
    assert!(o.status.success(), "{}", text(&o));
    let first = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    // A file of the old run that this run would not write (a session's table).
    std::fs::write(out.join("reps.csv"), "old run").unwrap();
    let o = analyze(&b, &out, false);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains(out.to_str().unwrap())
            && t.contains("use --force to replace the report, or choose another --out"),
        "{t}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("summary.csv")).unwrap(),
        first,
        "the old report is untouched"
    );
    let o = analyze(&b, &out, true);
    assert!(o.status.success(), "{}", text(&o));
    assert_ne!(
        std::fs::read_to_string(out.join("summary.csv")).unwrap(),
        first
    );
    assert!(
        !out.join("reps.csv").exists(),
        "the old run's file does not stay"
    );
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "contractions.csv",
            "events.csv",
            "report.png",
            "session.json",
            "summary.csv"
        ],
        "only this run's files, no temporary file"
    );
    // --force does not delete what knip did not write.
    std::fs::write(out.join("letter.docx"), "the clinician's").unwrap();
    let o = analyze(&a, &out, true);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("letter.docx"), "{}", text(&o));
    assert!(out.join("letter.docx").exists() && out.join("summary.csv").exists());
}

#[cfg(unix)]
#[test]
fn reports_are_owner_only_and_out_must_be_a_real_folder() {
    let dir = tempfile::tempdir().unwrap();
    let a = simulate(dir.path(), "identify", 1);
    let out = dir.path().join("new").join("report");
    let o = analyze(&a, &out, false);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(mode(&out), 0o700);
    for f in [
        "contractions.csv",
        "events.csv",
        "summary.csv",
        "session.json",
        "report.png",
    ] {
        assert_eq!(mode(&out.join(f)), 0o600, "{f}");
    }
    for f in ["identify_1.csv", "identify_1.json", "identify_1.truth.csv"] {
        assert_eq!(mode(&dir.path().join(f)), 0o600, "{f}");
    }
    // --out naming a file.
    let o = knip(&["analyze", a.to_str().unwrap(), "--out", a.to_str().unwrap()]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("is a file, not a folder") && !t.contains("disk space"),
        "{t}"
    );
    // --out a link to another folder: refused, nothing written there.
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
    let o = analyze(&a, &link, false);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("symbolic link"), "{}", text(&o));
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
}

#[cfg(unix)]
#[test]
fn simulate_never_overwrites_follows_a_link_or_chmods_a_file_it_did_not_create() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "keep me").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    let sim = |out: &Path, force: bool| {
        let mut args = vec![
            "simulate",
            "--protocol",
            "identify",
            "--out",
            out.to_str().unwrap(),
        ];
        if force {
            args.push("--force");
        }
        knip(&args)
    };
    // Through a link: refused, with or without --force.
    let link = dir.path().join("s.csv");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    for force in [false, true] {
        let o = sim(&link, force);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains("symbolic link"), "{}", text(&o));
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    assert_eq!(mode(&victim), 0o644, "not chmodded");
    // An existing file: refused without --force, left as it was.
    let o = sim(&victim, false);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--force"), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    assert_eq!(mode(&victim), 0o644);
    // With --force, a file that is not a simulated recording is still not replaced.
    let o = sim(&victim, true);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("never replaced"), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    // A simulated recording is replaced with --force (new seed, new samples), owner-only.
    let out = dir.path().join("sim.csv");
    assert!(sim(&out, false).status.success());
    let before = std::fs::read_to_string(&out).unwrap();
    assert_eq!(sim(&out, false).status.code(), Some(2));
    let o = knip(&[
        "simulate",
        "--protocol",
        "identify",
        "--seed",
        "9",
        "--out",
        out.to_str().unwrap(),
        "--force",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_ne!(std::fs::read_to_string(&out).unwrap(), before);
    assert_eq!(mode(&out), 0o600);
}

#[test]
fn a_second_record_into_the_same_folder_is_refused_before_the_port_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rec");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("recording.raw"), "the first recording").unwrap();
    let o = knip(&[
        "record",
        "--port",
        "/dev/knip-no-such-port",
        "--format",
        "line",
        "--out",
        out.to_str().unwrap(),
    ]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("never replaced") && t.contains(out.to_str().unwrap()),
        "{t}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("recording.raw")).unwrap(),
        "the first recording"
    );
    // --force is no way round it.
    let o = knip(&[
        "record",
        "--port",
        "/dev/x",
        "--out",
        out.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(out.join("recording.raw")).unwrap(),
        "the first recording"
    );
}

/// Squeezes found in `report` (contractions.csv) within 250 ms of the truth's pelvic squeezes.
fn pelvic_squeezes_found(truth_csv: &Path, report: &Path) -> (usize, usize, usize) {
    let read = |p: &Path| -> Vec<Vec<String>> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect()
    };
    let truth: Vec<f64> = read(truth_csv)
        .iter()
        .filter(|r| r[0] == "pfm_emg" && (r[3] == "squeeze" || r[3] == "quick_flick"))
        .map(|r| r[1].parse().unwrap())
        .collect();
    let found: Vec<f64> = read(&report.join("contractions.csv"))
        .iter()
        .filter(|r| r[1] == "pfm_emg")
        .map(|r| r[2].parse().unwrap())
        .collect();
    let hits = truth
        .iter()
        .filter(|t| found.iter().any(|f| (f - *t).abs() <= 0.25))
        .count();
    (hits, truth.len(), found.len())
}

/// A weak patient (SNR 2) under 60-Hz mains as strong as the rest EMG (held-out seed 517): with
/// no notch, the mains raised the rest and its threshold over most of the squeezes (15 of 35
/// found, 34 false). The adaptive canceller takes the mains out, says how much it took and
/// warns; `--no-mains-cancel` shows what it did.
#[test]
fn strong_mains_is_cancelled_reported_and_warned() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("weak_517.csv");
    let o = knip(&[
        "simulate",
        "--protocol",
        "strength",
        "--seed",
        "517",
        "--condition",
        "weak",
        "--out",
        csv.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let truth = dir.path().join("weak_517.truth.csv");
    let run = |name: &str, extra: &[&str]| {
        let out = dir.path().join(name);
        let mut args = vec![
            "analyze",
            csv.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(extra);
        let o = knip(&args);
        assert!(o.status.success(), "{}", text(&o));
        let session: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("session.json")).unwrap())
                .unwrap();
        (text(&o), session, out)
    };

    let (said, session, out) = run("cancelled", &[]);
    let pfm = &session["channels"][0];
    assert_eq!(
        pfm["applied"]["mains_cancelled_hz"],
        serde_json::json!([50.0, 60.0, 150.0, 180.0, 250.0, 300.0]),
        "{pfm}"
    );
    // The simulator put 3.60 µV peak at 60 Hz, 1.65 at 180 and 0.37 at 300; none at 50 Hz.
    let line = |hz: f64| {
        pfm["mains_removed"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["hz"] == hz)
            .map(|l| l["peak"].as_f64().unwrap())
            .unwrap()
    };
    assert!((line(60.0) - 3.60).abs() < 0.4, "{pfm}");
    assert!((line(180.0) - 1.65).abs() < 0.3, "{pfm}");
    assert!(line(50.0) < 0.3, "{pfm}");
    assert!(
        said.contains("pfm_emg: mains interference of") && said.contains("60 Hz"),
        "{said}"
    );
    assert_eq!(summary_value(&out, "pfm_emg", "mains_strongest_line"), "60");
    let (hits, n, found) = pelvic_squeezes_found(&truth, &out);
    assert_eq!(n, 35);
    assert!(
        hits >= 33 && found <= hits + 2,
        "{hits} of {n} found, {found} detected"
    );

    let (said, session, out) = run("not_cancelled", &["--no-mains-cancel"]);
    let pfm = &session["channels"][0];
    assert_eq!(pfm["applied"]["mains_cancelled_hz"], serde_json::json!([]));
    assert_eq!(
        session["settings"]["conditioning"]["mains_cancel_tau_s"],
        serde_json::Value::Null
    );
    assert!(!said.contains("mains interference"), "{said}");
    let (hits_off, _, _) = pelvic_squeezes_found(&truth, &out);
    assert!(
        hits_off < 25,
        "without the canceller {hits_off} of {n} found"
    );
}
