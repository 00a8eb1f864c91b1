//! `knip batch`, `knip export` and `analyze FILE.edf` through the real binary: every good file
//! gets a report and a batch.csv row, a broken one is named with its reason and skipped, and an
//! EDF export analyses to the same contractions as its CSV.

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

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn simulate(dir: &Path, name: &str, protocol: &str, seed: u64) -> PathBuf {
    let csv = dir.join(name);
    let o = knip(&[
        "simulate",
        "--protocol",
        protocol,
        "--seed",
        &seed.to_string(),
        "--channels",
        "pfm_emg,pressure",
        "--emg-rate",
        "1000",
        "--out",
        s(&csv),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    csv
}

fn contractions(report: &Path) -> Vec<(String, f64)> {
    let t = std::fs::read_to_string(report.join("contractions.csv")).expect("contractions.csv");
    t.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[1].to_string(), f[2].parse().expect("onset"))
        })
        .collect()
}

#[test]
fn batch_reports_every_good_file_and_names_the_broken_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in");
    std::fs::create_dir_all(input.join("week1")).expect("mkdir");
    simulate(&input, "a.csv", "identify", 1);
    simulate(&input.join("week1"), "b.csv", "identify", 2);
    // Broken: text in a number field on line 3.
    std::fs::write(
        input.join("week1").join("broken.csv"),
        "time_s,pfm_emg\n0.000,1.0\n0.001,oops\n0.002,1.2\n",
    )
    .expect("write broken");
    // An EDF export beside them is analysed too.
    let edf = input.join("a.edf");
    let o = knip(&["export", s(&input.join("a.csv")), "--out", s(&edf)]);
    assert!(o.status.success(), "{}", text(&o));
    let out = dir.path().join("out");
    let o = knip(&["batch", s(&input), "--out", s(&out), "--jobs", "2"]);
    assert!(
        o.status.success(),
        "batch never fails on a bad file: {}",
        text(&o)
    );
    let said = text(&o);
    assert!(
        said.contains("week1/broken.csv") && said.contains("line 3"),
        "the broken file is named with its line: {said}"
    );
    let table = std::fs::read_to_string(out.join("batch.csv")).expect("batch.csv");
    let rows: Vec<&str> = table.lines().collect();
    assert!(rows[0].starts_with("file,status,reason,duration_s,channel,contractions"));
    assert_eq!(rows.len(), 1 + 4, "{table}");
    let row = |name: &str| {
        rows.iter()
            .find(|r| r.starts_with(name))
            .unwrap_or_else(|| panic!("no row for {name}: {table}"))
            .to_string()
    };
    let broken = row("week1/broken.csv");
    assert!(
        broken.contains(",error,") && broken.contains("line 3"),
        "{broken}"
    );
    for (name, dir_name) in [
        ("a.csv", "a_csv"),
        ("a.edf", "a_edf"),
        ("week1/b.csv", "week1__b"),
    ] {
        let r = row(name);
        assert!(r.contains(",ok,"), "{r}");
        // The counted contractions in the row are those of the report.
        let report = out.join(dir_name);
        let n = contractions(&report)
            .iter()
            .filter(|c| c.0 == "pfm_emg")
            .count();
        let fields: Vec<&str> = r.split(',').collect();
        assert_eq!(fields[4], "pfm_emg", "{r}");
        assert_eq!(fields[5], n.to_string(), "{r}");
        assert!(
            n >= 8,
            "identification sessions have about 10 squeezes: {r}"
        );
    }
}

#[test]
fn analyze_reads_an_edf_export_like_its_csv() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = simulate(dir.path(), "s.csv", "identify", 7);
    for fmt in ["edf", "bdf"] {
        let out = dir.path().join(format!("s.{fmt}"));
        let o = knip(&[
            "export",
            s(&csv),
            "--format",
            fmt,
            "--out",
            s(&out),
            "--start",
            "2026-01-02T03:04:05Z",
        ]);
        assert!(o.status.success(), "{}", text(&o));
        let a = dir.path().join(format!("rep_csv_{fmt}"));
        let b = dir.path().join(format!("rep_{fmt}"));
        assert!(knip(&["analyze", s(&csv), "--out", s(&a)]).status.success());
        let o = knip(&["analyze", s(&out), "--out", s(&b)]);
        assert!(o.status.success(), "{}", text(&o));
        let (x, y) = (contractions(&a), contractions(&b));
        assert_eq!(x.len(), y.len(), "{fmt}");
        for (p, q) in x.iter().zip(&y) {
            assert_eq!(p.0, q.0);
            assert!(
                (p.1 - q.1).abs() <= 0.002,
                "{fmt}: onset {} vs {}",
                p.1,
                q.1
            );
        }
    }
}

#[test]
fn export_errors_name_the_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = simulate(dir.path(), "s.csv", "identify", 1);
    let o = knip(&["export", s(&csv), "--out", s(&dir.path().join("x.dat"))]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--format edf|bdf"), "{}", text(&o));
    let o = knip(&[
        "export",
        s(&dir.path().join("missing.csv")),
        "--out",
        s(&dir.path().join("x.edf")),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("missing.csv"), "{}", text(&o));
}

#[test]
fn batch_table_values_equal_the_in_memory_analysis_results() {
    use knip::batch::{BatchOptions, BATCH_COLUMNS};
    use knip::config::AnalysisConfig;
    use knip::source::csv_file::CsvOptions;
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).expect("mkdir");
    let a = simulate(&input, "a.csv", "strength", 2);
    let b = simulate(&input, "b, with comma.csv", "identify", 3);
    let out = dir.path().join("out");
    let opts = BatchOptions {
        jobs: 2,
        csv: CsvOptions::default(),
        cfg: AnalysisConfig::default(),
        progress_bar: false,
    };
    let outcome = knip::batch::run(&input, &out, &opts).expect("batch");
    let mut table = csv::Reader::from_path(&outcome.table).expect("batch.csv");
    assert_eq!(
        table.headers().expect("header").iter().collect::<Vec<_>>(),
        BATCH_COLUMNS.to_vec()
    );
    let rows: Vec<csv::StringRecord> = table.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len(), 2);
    for (file, rec) in [a, b].iter().zip(&rows) {
        assert_eq!(
            &rec[0],
            file.file_name().and_then(|n| n.to_str()).expect("name")
        );
        // The same recording analysed on its own: its in-memory scores give the row.
        let o = knip::analyze::analyze(
            file,
            &CsvOptions::default(),
            &AnalysisConfig::default(),
            &dir.path().join("single"),
            Vec::new(),
        )
        .expect("analyze");
        let want = knip::batch::score_fields(&o.scores);
        let got: Vec<&str> = rec.iter().skip(1).take(want.len()).collect();
        assert_eq!(got, want, "{}", file.display());
        let ch = o.scores.primary().expect("pelvic channel");
        let col = |n: &str| BATCH_COLUMNS.iter().position(|c| *c == n).expect(n);
        assert_eq!(rec[col("contractions")], ch.count().to_string());
        assert_eq!(rec[col("holds_5s")], o.scores.valid_holds().to_string());
        let mean_hold: f64 = rec[col("mean_hold_s")].parse().expect("mean hold");
        assert!((mean_hold - ch.mean_hold_s().expect("holds")).abs() < 5e-4);
    }
    // The batch's own in-memory results are what it wrote.
    for (row, rec) in outcome.rows.iter().zip(&rows) {
        let s = row.result.as_ref().expect("ok");
        let want = knip::batch::score_fields(s);
        let got: Vec<&str> = rec.iter().skip(1).take(want.len()).collect();
        assert_eq!(got, want);
    }
}
