//! `analyze --patient` stores a session; `progress` writes progress.csv and progress.png; the
//! filler command fills a database; errors name what to do.

use crate::cli_support::{knip, s, text};
use std::path::Path;

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

/// Rows of a CSV file as maps from column name to cell.
fn csv_maps(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let head = r.headers().expect("header").clone();
    r.records()
        .map(|rec| {
            let rec = rec.expect("row");
            head.iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn summary_value(dir: &Path, channel: &str, metric: &str) -> String {
    let text = std::fs::read_to_string(dir.join("summary.csv")).expect("summary.csv");
    text.lines()
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|c| c.len() >= 3 && c[0] == channel && c[1] == metric)
        .map(|c| c[2].to_string())
        .unwrap_or_else(|| panic!("no {channel} {metric} in {text}"))
}

/// One guided strength session (the simulated patient to fatigue), then its recording through
/// `analyze`, `batch` and `progress`: every score means the same everywhere — each rep's hold
/// and co-activation flag, the valid 5-s holds, the day's count.
#[test]
fn session_analyze_batch_and_progress_agree_on_the_same_recording() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.sqlite");
    let session = dir.path().join("session");
    let o = knip(&[
        "session",
        "--simulate",
        "--seed",
        "3",
        "--fast",
        "--plain",
        "--protocol",
        "strength",
        "--patient",
        "S1",
        "--db",
        s(&db),
        "--out",
        s(&session),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let reps = csv_maps(&session.join("reps.csv"));
    let holds: Vec<_> = reps
        .iter()
        .filter(|r| r["kind"] == "hold" && !r["onset_s"].is_empty())
        .collect();
    assert!(holds.len() >= 5, "{reps:?}");
    let passed = holds.iter().filter(|r| r["verdict"] == "pass").count();
    assert!(
        text(&o).contains(&format!("{passed} of 30 today")),
        "{}",
        text(&o)
    );

    // analyze: the same contraction for every rep, with the same hold and flag.
    let rec = session.join("recording.csv");
    let analysis = dir.path().join("analysis");
    let o = knip(&[
        "analyze",
        s(&rec),
        "--out",
        s(&analysis),
        "--patient",
        "A1",
        "--db",
        s(&db),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let contractions = csv_maps(&analysis.join("contractions.csv"));
    let mut valid = 0;
    for r in &holds {
        let on: f64 = r["onset_s"].parse().unwrap();
        let c = contractions
            .iter()
            .find(|c| {
                c["channel"] == "pfm_emg"
                    && (c["onset_s"].parse::<f64>().unwrap() - on).abs() < 1e-3
            })
            .unwrap_or_else(|| panic!("rep {} at {on} s not in contractions.csv", r["rep"]));
        let (hs, hc): (f64, f64) = (r["hold_s"].parse().unwrap(), c["hold_s"].parse().unwrap());
        assert!(
            (hs - hc).abs() <= 0.011,
            "rep {}: hold {hs} vs {hc}",
            r["rep"]
        );
        assert_eq!(r["coact_flag"], c["abd_flag"], "rep {}", r["rep"]);
        // The one hold rule: a rep that failed only for being short is exactly a hold under 5 s.
        if r["reason"] == "ok" || r["reason"] == "short" {
            assert_eq!(r["verdict"] == "pass", hc >= 5.0 - 0.25, "rep {}", r["rep"]);
        }
        if hc >= 5.0 - 0.25 {
            valid += 1;
        }
    }
    // Every valid 5-s hold of the analysis is one of the session's reps (no hold outside a
    // cue), and the session passed exactly those that were not weak, strained or held on.
    let holds_5s: u32 = summary_value(&analysis, "pfm_emg", "holds_5s_or_longer")
        .parse()
        .unwrap();
    assert_eq!(holds_5s, valid);
    let unjudged = holds
        .iter()
        .filter(|r| r["verdict"] == "fail" && r["reason"] != "short")
        .filter(|r| r["hold_s"].parse::<f64>().unwrap() >= 4.75)
        .count();
    assert_eq!(passed + unjudged, valid as usize);

    // batch: the same numbers from its in-memory scores.
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::copy(&rec, input.join("recording.csv")).unwrap();
    std::fs::copy(rec.with_extension("json"), input.join("recording.json")).unwrap();
    let batch = dir.path().join("batch");
    let o = knip(&["batch", s(&input), "--out", s(&batch), "--jobs", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    let row = csv_maps(&batch.join("batch.csv"))
        .into_iter()
        .find(|r| r["channel"] == "pfm_emg")
        .expect("pfm row");
    assert_eq!(row["holds_5s"], holds_5s.to_string());
    assert_eq!(
        row["coactivated"],
        summary_value(&analysis, "pfm_emg", "coactivated_contractions")
    );
    assert_eq!(
        row["mean_hold_s"],
        summary_value(&analysis, "pfm_emg", "mean_hold")
    );

    // progress: the analysed day counts the analysis' valid holds, the guided one the session's.
    for (patient, want) in [("A1", holds_5s as usize), ("S1", passed)] {
        let out = dir.path().join(format!("progress-{patient}"));
        let o = knip(&[
            "progress",
            "--patient",
            patient,
            "--db",
            s(&db),
            "--out",
            s(&out),
        ]);
        assert!(o.status.success(), "{}", text(&o));
        let days = csv_maps(&out.join("progress.csv"));
        let total: usize = days
            .iter()
            .map(|d| d["valid_squeezes"].parse::<usize>().unwrap())
            .sum();
        assert_eq!(total, want, "{patient}");
    }
}
