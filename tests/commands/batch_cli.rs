//! `knip batch`, `knip export` and `analyze FILE.edf` through the real binary: every good file
//! gets a report and a batch.csv row, a broken one is named with its reason and skipped, and an
//! EDF export analyses to the same contractions as its CSV.

use crate::cli_support::{knip, s, text};
use crate::limited_run;

use std::path::{Path, PathBuf};
use std::process::Command;

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
        isolation: None,
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
        let want = row.result.as_ref().expect("ok");
        let got: Vec<&str> = rec.iter().skip(1).take(want.len()).collect();
        assert_eq!(&got, want);
    }
}

/// An EDF header claiming 100 000 signals in a 356-byte file: an allocation bomb before the
/// header checks.
fn edf_bomb(path: &Path) {
    let mut h = String::new();
    let field = |h: &mut String, v: &str, w: usize| h.push_str(&format!("{v:<w$}"));
    field(&mut h, "0", 8);
    field(&mut h, "X", 80);
    field(&mut h, "Startdate X", 80);
    field(&mut h, "01.01.26", 8);
    field(&mut h, "00.00.00", 8);
    field(&mut h, "99999", 8);
    field(&mut h, "", 44);
    field(&mut h, "1", 8);
    field(&mut h, "1", 8);
    field(&mut h, "100000", 4);
    std::fs::write(path, h).expect("write edf");
}

#[cfg(unix)]
#[test]
fn batch_takes_regular_files_only_follows_no_link_loop_and_survives_a_bad_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in");
    std::fs::create_dir_all(input.join("sub")).expect("mkdir");
    simulate(&input, "good.csv", "identify", 1);
    // A FIFO named like a recording: reading it would block for ever.
    let fifo = input.join("pipe.csv");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    // A link back to the input folder: following it would loop.
    std::os::unix::fs::symlink(&input, input.join("sub").join("loop")).expect("symlink");
    // A folder nobody may read (root still can: then its file is simply analysed).
    let locked = input.join("locked");
    std::fs::create_dir_all(&locked).expect("mkdir");
    simulate(&locked, "inside.csv", "identify", 3);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    let root_reads_it = std::fs::read_dir(&locked).is_ok();
    edf_bomb(&input.join("bomb.edf"));
    let out = dir.path().join("out");
    let o = limited_run::knip(
        &["batch", s(&input), "--out", s(&out), "--jobs", "2"],
        None,
        120,
    );
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let said = format!("{}{}", o.stdout, o.stderr);
    assert_eq!(o.code, Some(0), "{said}");
    assert!(
        said.contains("pipe.csv") && said.contains("FIFO"),
        "the FIFO is named: {said}"
    );
    assert!(
        said.contains("loop") && said.contains("not followed"),
        "the link is named: {said}"
    );
    let table = std::fs::read_to_string(out.join("batch.csv")).expect("batch.csv");
    let rows: Vec<&str> = table.lines().skip(1).collect();
    let row = |name: &str| rows.iter().filter(|r| r.starts_with(name)).count();
    assert_eq!(
        row("good.csv"),
        1,
        "analysed once, however many links: {table}"
    );
    assert_eq!(row("pipe.csv"), 0, "{table}");
    assert!(
        rows.iter().any(|r| r.starts_with("good.csv,ok,")),
        "{table}"
    );
    assert!(
        rows.iter()
            .any(|r| r.starts_with("bomb.edf,error,") && r.contains("bomb.edf")),
        "{table}"
    );
    assert!(out.join("good").join("report.png").is_file());
    if root_reads_it {
        assert_eq!(row("locked/inside.csv"), 1, "{table}");
    } else {
        assert!(
            said.contains("locked") && said.contains("cannot be read"),
            "the unreadable folder is named: {said}"
        );
        assert_eq!(row("locked/inside.csv"), 0, "{table}");
    }
}

#[cfg(unix)]
#[test]
fn a_file_whose_analysis_aborts_leaves_the_others_and_batch_csv() {
    use knip::batch::{BatchOptions, Isolation};
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).expect("mkdir");
    simulate(&input, "a.csv", "identify", 1);
    simulate(&input, "crash.csv", "identify", 2);
    simulate(&input, "z.csv", "identify", 3);
    let out = dir.path().join("out");
    // Each file's analysis is a child process: this one stands in for an analysis that aborts
    // (as a failed 400 GB allocation does) on crash.csv, and runs the real knip otherwise.
    let script = "case \"$*\" in *crash.csv*) echo 'memory allocation failed' >&2; kill -ABRT $$;; esac; exec \"$0\" \"$@\"";
    let opts = BatchOptions {
        jobs: 2,
        csv: knip::source::csv_file::CsvOptions::default(),
        cfg: knip::config::AnalysisConfig::default(),
        progress_bar: false,
        isolation: Some(Isolation {
            program: "sh".into(),
            args: [
                "-c",
                script,
                env!("CARGO_BIN_EXE_knip"),
                "batch",
                s(&input),
                "--out",
                s(&out),
            ]
            .iter()
            .map(Into::into)
            .collect(),
        }),
    };
    let o = knip::batch::run(&input, &out, &opts).expect("the batch itself goes on");
    let by_name = |n: &str| {
        o.rows
            .iter()
            .find(|r| r.file == Path::new(n))
            .unwrap_or_else(|| panic!("no row for {n}"))
    };
    let crashed = by_name("crash.csv").result.as_ref().expect_err("crashed");
    assert!(
        crashed.contains("crash.csv")
            && crashed.contains("signal 6")
            && crashed.contains("memory allocation failed"),
        "{crashed}"
    );
    for good in ["a.csv", "z.csv"] {
        let fields = by_name(good).result.as_ref().expect("analysed");
        assert_eq!(fields[0], "ok");
        let stem = good.trim_end_matches(".csv");
        assert!(out.join(stem).join("summary.csv").is_file(), "{good}");
    }
    let table = std::fs::read_to_string(out.join("batch.csv")).expect("batch.csv");
    assert!(table.contains("crash.csv,error,"), "{table}");
    assert_eq!(table.lines().count(), 4, "{table}");
}

#[test]
fn report_folders_are_unique_even_when_flattened_names_meet() {
    let names = knip::batch::report_names(&[
        PathBuf::from("a/b.csv"),
        PathBuf::from("a__b.csv"),
        PathBuf::from("A__B.edf"),
        PathBuf::from("x.csv"),
        PathBuf::from("x.edf"),
        PathBuf::from("x_csv.csv"),
    ]);
    let lower: std::collections::HashSet<String> = names.iter().map(|n| n.to_lowercase()).collect();
    assert_eq!(lower.len(), names.len(), "{names:?}");
    // The first of two that meet keeps the name, the next gets a number.
    assert_eq!(names[0], "a__b_csv", "{names:?}");
    assert_eq!(names[1], "a__b_csv_2", "{names:?}");
    assert_eq!(names[3], "x_csv", "{names:?}");
    assert_eq!(names[5], "x_csv_2", "{names:?}");
}

#[test]
fn a_batch_out_folder_with_reports_needs_force_and_then_holds_only_the_new_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).expect("mkdir");
    simulate(&input, "a.csv", "identify", 1);
    simulate(&input, "b.csv", "identify", 2);
    let out = dir.path().join("out");
    let o = knip(&["batch", s(&input), "--out", s(&out), "--jobs", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(out.join("b").join("report.png").is_file());
    std::fs::remove_file(input.join("b.csv")).expect("rm");
    let o = knip(&["batch", s(&input), "--out", s(&out), "--jobs", "1"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("use --force"), "{}", text(&o));
    let o = knip(&[
        "batch",
        s(&input),
        "--out",
        s(&out),
        "--jobs",
        "1",
        "--force",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(out.join("a").join("report.png").is_file());
    assert!(
        !out.join("b").exists(),
        "the old run's folder does not stay"
    );
}

/// A file name holding `ESC ]0;…` (which retitles a terminal) is named escaped on the terminal;
/// batch.csv keeps the name as it is.
#[test]
fn file_names_reach_the_terminal_with_control_characters_escaped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in");
    std::fs::create_dir(&input).expect("mkdir");
    std::fs::write(
        input.join("bad\u{1b}]0;owned\u{7}.csv"),
        "not, a recording\n\u{1}\n",
    )
    .expect("write");
    let out = dir.path().join("out");
    let o = knip(&["batch", s(&input), "--out", s(&out), "--jobs", "1"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("bad\\u{1b}]0;owned\\u{7}.csv"),
        "named, escaped: {t}"
    );
    assert!(
        !t.contains('\u{1b}') && !t.contains('\u{7}'),
        "raw control characters: {t:?}"
    );
}
