//! `knip demo` (guided strength by default, glazer on request), `knip protocols`, custom TOML.

use crate::cli_support::knip;
use std::process::Command;

#[test]
fn demo_defaults_to_strength_and_glazer_writes_the_assessment() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("d");
    let o = knip(&["demo", "--fast", "--out", out.to_str().unwrap()]);
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("strength 1/30: Squeeze and hold"), "{t}");
    assert!(t.contains("Good hold"), "{t}");
    assert!(t.contains("set over after"), "{t}");
    for f in [
        "reps.csv",
        "session_summary.csv",
        "session.json",
        "calibration.json",
        "report.png",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }
    assert!(!out.join("assessment.png").exists());
    // The raw recording it made analyses like any other.
    for f in ["recording.csv", "recording.json", "recording.truth.csv"] {
        assert!(out.join(f).exists(), "{f}");
    }
    let o = knip(&[
        "analyze",
        out.join("recording.csv").to_str().unwrap(),
        "--out",
        dir.path().join("a").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The guided session's session.json says what its conditioning took out (the simulated
    // patient has 50-Hz mains on both EMG channels) and the rest it used, as the analysis of
    // its recording does.
    let json = |p: std::path::PathBuf| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let (session, analysis) = (
        json(out.join("session.json")),
        json(dir.path().join("a").join("session.json")),
    );
    let mains = |j: &serde_json::Value, ch: usize| -> Vec<(f64, f64)> {
        j["channels"][ch]["mains_removed"]
            .as_array()
            .unwrap_or_else(|| panic!("no mains_removed on channel {ch}: {j}"))
            .iter()
            .map(|l| (l["hz"].as_f64().unwrap(), l["peak"].as_f64().unwrap()))
            .collect()
    };
    for ch in 0..2 {
        let (s, a) = (mains(&session, ch), mains(&analysis, ch));
        let strongest = s
            .iter()
            .cloned()
            .fold((0.0, 0.0), |m, l| if l.1 > m.1 { l } else { m });
        assert_eq!(strongest.0, 50.0, "channel {ch}: {s:?}");
        assert!(strongest.1 > 1.0, "channel {ch}: {s:?}");
        assert_eq!(s.len(), a.len());
        for ((hz_s, peak_s), (hz_a, peak_a)) in s.iter().zip(&a) {
            assert_eq!(hz_s, hz_a);
            assert!(
                (peak_s - peak_a).abs() <= 0.02 * strongest.1,
                "{s:?} vs {a:?}"
            );
        }
        let rest = |j: &serde_json::Value| j["channels"][ch]["rest_mean"].as_f64().unwrap();
        assert!((rest(&session) - rest(&analysis)).abs() <= 0.02 * rest(&analysis));
    }
    let warned = |j: &serde_json::Value| {
        j["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap_or("").contains("mains interference"))
    };
    assert!(
        warned(&session) && warned(&analysis),
        "{}",
        session["warnings"]
    );
    let summary = std::fs::read_to_string(out.join("session_summary.csv")).unwrap();
    assert!(summary.contains("not validated"), "{summary}");
    assert!(summary.contains("strength_reps_to_failure"), "{summary}");

    // The saved calibration skips the calibration phases next time.
    let again = dir.path().join("g");
    let o = knip(&[
        "demo",
        "--fast",
        "--protocol",
        "glazer",
        "--out",
        again.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    assert!(again.join("assessment.png").exists());
    // Every file of the session, the figures included, is its owner's alone.
    #[cfg(unix)]
    for f in std::fs::read_dir(&again).unwrap() {
        use std::os::unix::fs::PermissionsExt;
        let f = f.unwrap();
        let mode = f.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{:?}", f.file_name());
    }
    let o = knip(&[
        "session",
        "--simulate",
        "--fast",
        "--plain",
        "--protocol",
        "identify",
        "--calibration",
        out.join("calibration.json").to_str().unwrap(),
        "--out",
        dir.path().join("i").to_str().unwrap(),
    ]);
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{t}");
    assert!(!t.contains("mvc 1/3"), "{t}");
    assert!(t.contains("identify 1/10"), "{t}");
}

#[test]
fn protocols_are_listed_and_custom_toml_loads_or_explains() {
    let o = knip(&["protocols"]);
    let t = String::from_utf8_lossy(&o.stdout);
    for n in [
        "relax",
        "identify",
        "strength",
        "endurance",
        "function",
        "glazer",
        "perfect",
    ] {
        assert!(t.contains(n), "{t}");
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("short.toml");
    std::fs::write(
        &p,
        "name = \"short\"\ndescription = \"two holds\"\nkind = \"training\"\n[[phase]]\nname = \"h\"\nkind = \"hold\"\ncue = \"Squeeze\"\nreps = 2\nwork_s = 3.0\nrest_s = 4.0\n",
    )
    .unwrap();
    let o = knip(&[
        "session",
        "--simulate",
        "--fast",
        "--protocol",
        p.to_str().unwrap(),
        "--out",
        dir.path().join("o").to_str().unwrap(),
    ]);
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("h 2/2: Squeeze"), "{t}");
    // Thresholds are configurable: an amber index nobody reaches leaves every rep green.
    let sc = dir.path().join("scoring.toml");
    std::fs::write(&sc, "coact_amber_index = 1e9\ncoact_red_index = 1e9\n").unwrap();
    let o = knip(&[
        "session",
        "--simulate",
        "--fast",
        "--protocol",
        "glazer",
        "--scoring",
        sc.to_str().unwrap(),
        "--out",
        dir.path().join("sc").to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let summary = std::fs::read_to_string(dir.path().join("sc/session_summary.csv")).unwrap();
    assert!(summary.contains("coactivation_amber,0,"), "{summary}");
    assert!(summary.contains("coactivation_red,0,"), "{summary}");
    std::fs::write(&sc, "coact_amber_idx = 2\n").unwrap();
    let o = knip(&[
        "session",
        "--simulate",
        "--fast",
        "--scoring",
        sc.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("coact_amber_idx"));
    std::fs::write(&p, "name = \"bad\"\n").unwrap();
    let o = knip(&[
        "session",
        "--simulate",
        "--fast",
        "--protocol",
        p.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("short.toml"));
}

/// Exit code 2 and a message naming `needles` (the file or the option).
fn assert_input_error(args: &[&str], needles: &[&str]) {
    let o = knip(args);
    let t = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(2), "{args:?}: {t}");
    assert!(!t.contains("panicked"), "{args:?}: {t}");
    for n in needles {
        assert!(t.contains(n), "{args:?}: message lacks '{n}': {t}");
    }
}

#[test]
fn session_input_errors_exit_2_naming_the_file_or_option() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    let o = out.to_str().unwrap();
    // Protocols: unknown name, a TOML that is not a protocol.
    assert_input_error(
        &[
            "session",
            "--simulate",
            "--fast",
            "--protocol",
            "nosuch",
            "--out",
            o,
        ],
        &["nosuch"],
    );
    assert_input_error(
        &["demo", "--fast", "--protocol", "nosuch", "--out", o],
        &["nosuch"],
    );
    let bad = dir.path().join("bad_protocol.toml");
    std::fs::write(&bad, "name = \"bad\"\n").unwrap();
    assert_input_error(
        &[
            "session",
            "--simulate",
            "--fast",
            "--protocol",
            bad.to_str().unwrap(),
            "--out",
            o,
        ],
        &["bad_protocol.toml"],
    );
    // Scoring thresholds: missing file, unknown field.
    let scoring = dir.path().join("scoring_missing.toml");
    assert_input_error(
        &[
            "session",
            "--simulate",
            "--fast",
            "--scoring",
            scoring.to_str().unwrap(),
            "--out",
            o,
        ],
        &["scoring_missing.toml"],
    );
    let scoring = dir.path().join("scoring_bad.toml");
    std::fs::write(&scoring, "coact_amber_idx = 2\n").unwrap();
    assert_input_error(
        &[
            "session",
            "--simulate",
            "--fast",
            "--scoring",
            scoring.to_str().unwrap(),
            "--out",
            o,
        ],
        &["scoring_bad.toml", "coact_amber_idx"],
    );
    // Calibration: missing file, not a calibration.
    let cal = dir.path().join("calibration_missing.json");
    assert_input_error(
        &[
            "session",
            "--simulate",
            "--fast",
            "--calibration",
            cal.to_str().unwrap(),
            "--out",
            o,
        ],
        &["calibration_missing.json"],
    );
    let cal = dir.path().join("calibration_bad.json");
    std::fs::write(&cal, "{\"not\": \"a calibration\"}").unwrap();
    assert_input_error(
        &[
            "session",
            "--simulate",
            "--fast",
            "--calibration",
            cal.to_str().unwrap(),
            "--out",
            o,
        ],
        &["calibration_bad.json"],
    );
    // Option values; a session needs a source.
    assert_input_error(&["session", "--speed", "0", "--out", o], &["--speed"]);
    assert_input_error(
        &["session", "--out", o],
        &["--port", "--replay", "--simulate"],
    );
    assert_input_error(
        &["session", "--port", "/dev/null", "--out", o],
        &["--format"],
    );
    assert_input_error(&["demo", "--speed", "0", "--out", o], &["--speed"]);
    assert_input_error(
        &["demo", "--fast", "--notch", "55", "--out", o],
        &["--notch"],
    );
    let rec = dir.path().join("rec.csv");
    std::fs::write(&rec, "time_s,pfm_emg\n0.000,1.0\n0.001,2.0\n").unwrap();
    assert_input_error(
        &["replay", rec.to_str().unwrap(), "--speed", "0", "--out", o],
        &["--speed"],
    );
}

#[test]
fn a_session_never_writes_over_a_recording_or_the_session_it_replays() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    let f = first.to_str().unwrap();
    let o = knip(&[
        "session",
        "--simulate",
        "--fast",
        "--plain",
        "--protocol",
        "identify",
        "--out",
        f,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let reps = std::fs::read(first.join("reps.csv")).unwrap();
    // Replaying into the replayed session's own folder would replace its reports.
    let rec = first.join("recording.csv");
    assert_input_error(
        &[
            "session",
            "--replay",
            rec.to_str().unwrap(),
            "--fast",
            "--out",
            f,
        ],
        &["first", "--out"],
    );
    assert_eq!(std::fs::read(first.join("reps.csv")).unwrap(), reps);
    // A folder with a sensor's raw recording is never written into, not even by the demo.
    let sensor = dir.path().join("sensor");
    std::fs::create_dir_all(&sensor).unwrap();
    std::fs::write(sensor.join("recording.raw"), b"precious").unwrap();
    assert_input_error(
        &[
            "demo",
            "--fast",
            "--protocol",
            "identify",
            "--out",
            sensor.to_str().unwrap(),
        ],
        &["sensor", "--out"],
    );
    assert_eq!(
        std::fs::read(sensor.join("recording.raw")).unwrap(),
        b"precious"
    );
    assert!(!sensor.join("recording.csv").exists());
}

#[test]
fn a_demo_folder_is_replaced_only_with_force_and_never_over_a_sensor_recording() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let o = out.to_str().unwrap();
    let demo = |seed: &str, force: bool| {
        let mut args = vec![
            "demo",
            "--fast",
            "--plain",
            "--protocol",
            "identify",
            "--seed",
            seed,
            "--out",
            o,
        ];
        if force {
            args.push("--force");
        }
        knip(&args)
    };
    assert!(demo("1", false).status.success());
    let first = std::fs::read(out.join("recording.csv")).unwrap();
    assert_input_error(
        &["demo", "--fast", "--protocol", "identify", "--out", o],
        &[
            "demo",
            "use --force to replace the report, or choose another --out",
        ],
    );
    assert_eq!(std::fs::read(out.join("recording.csv")).unwrap(), first);
    // With --force the simulated recording and its report are replaced.
    let r = demo("2", true);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_ne!(std::fs::read(out.join("recording.csv")).unwrap(), first);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in [
            "recording.csv",
            "recording.json",
            "session.json",
            "reps.csv",
            "report.png",
        ] {
            let m = std::fs::metadata(out.join(f)).unwrap().permissions().mode() & 0o777;
            assert_eq!(m, 0o600, "{f}");
        }
    }
    // A sensor's recording beside it: not even --force replaces it.
    std::fs::write(out.join("recording.raw"), b"precious").unwrap();
    assert_input_error(
        &[
            "demo",
            "--fast",
            "--protocol",
            "identify",
            "--out",
            o,
            "--force",
        ],
        &["recording.raw", "never replaced"],
    );
    assert_eq!(
        std::fs::read(out.join("recording.raw")).unwrap(),
        b"precious"
    );
    assert!(out.join("recording.csv").exists());
}

/// The README's first command runs again without a flag and without losing the last demo: only
/// the default folder is numbered (a folder named with `--out` is refused instead).
#[test]
fn the_default_demo_folder_is_never_reused_the_next_one_is_numbered() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_knip"))
            .args(["demo", "--fast", "--plain", "--protocol", "identify"])
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let first = run();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let recording = std::fs::read(dir.path().join("knip-demo/recording.csv")).unwrap();
    let second = run();
    let said = String::from_utf8_lossy(&second.stdout);
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(said.contains("knip-demo-2/"), "{said}");
    assert!(dir.path().join("knip-demo-2/session.json").exists());
    assert_eq!(
        std::fs::read(dir.path().join("knip-demo/recording.csv")).unwrap(),
        recording,
        "the first demo is untouched"
    );
}

/// Markers dropped during a session (kept in its sidecar) stay with the recording: drawn and
/// listed again by a guided replay, exported to EDF as `marker: …` annotations, and found again
/// when that EDF is replayed, under the protocol its annotation names.
#[test]
fn session_markers_survive_replay_and_edf_export() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let run = |args: &[&str]| {
        let o = knip(args);
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(o.status.success(), "{args:?}: {all}");
    };
    run(&[
        "session",
        "--simulate",
        "--fast",
        "--plain",
        "--protocol",
        "identify",
        "--out",
        &p("s"),
    ]);
    // As if the clinician had pressed `m` twice.
    let sidecar = dir.path().join("s").join("recording.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sidecar).unwrap()).unwrap();
    json["session"]["markers"] =
        serde_json::json!([[12.0, "patient coughed"], [30.5, "probe moved"]]);
    std::fs::write(&sidecar, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    let want = serde_json::json!([[12.0, "patient coughed"], [30.5, "probe moved"]]);
    let markers_of = |report: &str| -> serde_json::Value {
        let text = std::fs::read_to_string(dir.path().join(report).join("session.json")).unwrap();
        serde_json::from_str::<serde_json::Value>(&text).unwrap()["markers"].clone()
    };

    let recording = p("s/recording.csv");
    run(&[
        "session",
        "--replay",
        &recording,
        "--fast",
        "--plain",
        "--out",
        &p("r1"),
    ]);
    assert_eq!(markers_of("r1"), want, "guided replay of the CSV");

    let edf = p("x.edf");
    run(&["export", &recording, "--out", &edf]);
    let mut src = knip::source::edf::EdfSource::open(
        std::path::Path::new(&edf),
        &knip::source::csv_file::CsvOptions::default(),
    )
    .unwrap();
    let annotations = src.markers();
    for label in ["marker: patient coughed", "marker: probe moved"] {
        assert!(
            annotations.iter().any(|(_, text)| text == label),
            "{label} not in the EDF: {annotations:?}"
        );
    }
    while knip::source::Source::next_block(&mut src)
        .unwrap()
        .is_some()
    {}

    // Without --protocol: the one the EDF's knip annotation names, not the default (strength).
    run(&[
        "session",
        "--replay",
        &edf,
        "--fast",
        "--plain",
        "--out",
        &p("r2"),
    ]);
    assert_eq!(markers_of("r2"), want, "guided replay of the EDF");
    let session: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("r2").join("session.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        session["protocol"]["name"], "identify",
        "{}",
        session["protocol"]
    );
}
