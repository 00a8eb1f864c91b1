//! `analyze --patient` stores a session; `progress` writes progress.csv and progress.png; the
//! filler command fills a database; errors name what to do.

use std::path::Path;
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

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn analyze_with_a_patient_id_feeds_the_progress_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("p.sqlite");
    let mut squeezes = 0;
    for seed in [1, 2] {
        let csv = dir.path().join(format!("s{seed}.csv"));
        let o = knip(&[
            "simulate",
            "--protocol",
            "strength",
            "--seed",
            &seed.to_string(),
            "--channels",
            "pfm_emg,pressure",
            "--emg-rate",
            "1000",
            "--posture",
            "sitting",
            "--out",
            s(&csv),
        ]);
        assert!(o.status.success(), "{}", text(&o));
        let rep = dir.path().join(format!("r{seed}"));
        let o = knip(&[
            "analyze",
            s(&csv),
            "--out",
            s(&rep),
            "--patient",
            "P-77",
            "--db",
            s(&db),
        ]);
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains("stored in"), "{}", text(&o));
        let summary = std::fs::read_to_string(rep.join("summary.csv")).expect("summary");
        let holds: u32 = summary
            .lines()
            .find(|l| l.starts_with("pfm_emg,holds_5s_or_longer,"))
            .and_then(|l| l.split(',').nth(2))
            .and_then(|v| v.parse().ok())
            .expect("holds_5s_or_longer");
        squeezes += holds;
    }
    let out = dir.path().join("prog");
    let o = knip(&[
        "progress",
        "--patient",
        "P-77",
        "--db",
        s(&db),
        "--out",
        s(&out),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let csv = std::fs::read_to_string(out.join("progress.csv")).expect("progress.csv");
    // Both sessions were recorded just now: one day (two if midnight UTC fell in between).
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert!((1..=2).contains(&rows.len()), "{csv}");
    let total = |col: usize| -> u32 {
        rows.iter()
            .map(|f| f[col].parse::<u32>().expect("count"))
            .sum()
    };
    assert_eq!(total(3), 2, "two sessions: {csv}");
    assert_eq!(
        total(5),
        squeezes,
        "valid squeezes summed from the reports: {csv}"
    );
    assert!(out.join("progress.png").metadata().expect("png").len() > 10_000);
    // Listing and a wrong id.
    let o = knip(&["progress", "--db", s(&db)]);
    assert!(text(&o).contains("P-77  2 sessions"), "{}", text(&o));
    let o = knip(&[
        "progress",
        "--patient",
        "nobody",
        "--db",
        s(&db),
        "--out",
        s(&out),
    ]);
    assert!(
        !o.status.success() && text(&o).contains("nobody"),
        "{}",
        text(&o)
    );
    let o = knip(&[
        "progress",
        "--patient",
        "x",
        "--db",
        s(&dir.path().join("none.sqlite")),
    ]);
    assert!(
        !o.status.success() && text(&o).contains("progress-fill"),
        "{}",
        text(&o)
    );
}

#[test]
fn the_fill_command_fills_a_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("f.sqlite");
    let o = knip(&[
        "progress-fill",
        "--patient",
        "SIM",
        "--days",
        "2",
        "--first-day",
        "2026-02-02",
        "--emg-rate",
        "500",
        "--db",
        s(&db),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("simulated sessions"), "{}", text(&o));
    let o = knip(&["progress", "--db", s(&db)]);
    assert!(text(&o).contains("SIM"), "{}", text(&o));
}

#[test]
fn analysing_a_recording_again_or_a_copy_of_it_counts_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("p.sqlite");
    let csv = dir.path().join("s.csv");
    let o = knip(&[
        "simulate",
        "--protocol",
        "strength",
        "--seed",
        "8",
        "--channels",
        "pfm_emg,pressure",
        "--emg-rate",
        "1000",
        "--out",
        s(&csv),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let copy = dir.path().join("renamed.csv");
    std::fs::copy(&csv, &copy).expect("copy");
    std::fs::copy(csv.with_extension("json"), copy.with_extension("json")).expect("copy");
    for (i, f) in [&csv, &csv, &copy].iter().enumerate() {
        let rep = dir.path().join(format!("r{i}"));
        let o = knip(&[
            "analyze",
            s(f),
            "--out",
            s(&rep),
            "--patient",
            "P-3",
            "--db",
            s(&db),
        ]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let o = knip(&["progress", "--db", s(&db)]);
    assert!(text(&o).contains("P-3  1 sessions"), "{}", text(&o));
    let out = dir.path().join("prog");
    let o = knip(&[
        "progress",
        "--patient",
        "P-3",
        "--db",
        s(&db),
        "--out",
        s(&out),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let mut r = csv::Reader::from_path(out.join("progress.csv")).expect("progress.csv");
    let header = r.headers().expect("header").clone();
    for c in [
        "guided_sessions",
        "peak_pct_mvc",
        "perfect_power",
        "glazer_tonic_mean",
    ] {
        assert!(header.iter().any(|h| h == c), "{c} in {header:?}");
    }
    let rows: Vec<_> = r.records().map(|x| x.expect("row")).collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(&rows[0][3], "1", "one session");
}
