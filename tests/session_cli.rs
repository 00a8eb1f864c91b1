//! `knip demo` (guided strength by default, glazer on request), `knip protocols`, custom TOML.

use std::process::Command;

fn knip(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_knip"))
        .args(args)
        .output()
        .unwrap()
}

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
    let o = knip(&[
        "session",
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
    let o = knip(&["session", "--fast", "--scoring", sc.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("coact_amber_idx"));
    std::fs::write(&p, "name = \"bad\"\n").unwrap();
    let o = knip(&["session", "--fast", "--protocol", p.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("short.toml"));
}
