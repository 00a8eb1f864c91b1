//! The CSV reader with worker threads parsing ahead gives exactly what the reader alone gives:
//! the same blocks (start indices and every value, bit for bit), the same warnings and the same
//! error for the same line — on knip recordings with several rates and lost samples, on other
//! people's files with comments, blank lines, CRLF, blanks around values, jittery or backward
//! time, text in a number, a cut-off last line, very long lines and an `Annotations:` tail.

use knip::source::csv_file::{CsvOptions, CsvSource};
use knip::source::Source;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Everything a reader produces: per block, per channel (start index, value bits); warnings;
/// the error, if any (at open or while reading).
#[derive(Debug, PartialEq)]
struct Read {
    /// The file opened (the workers start then).
    opened: bool,
    blocks: Vec<Vec<(u64, Vec<u64>)>>,
    warnings: Vec<String>,
    error: Option<String>,
}

fn read_all(path: &Path, opts: &CsvOptions, expect_parallel: bool) -> Read {
    let mut src = match CsvSource::open(path, opts) {
        Ok(s) => s,
        Err(e) => {
            return Read {
                opened: false,
                blocks: Vec::new(),
                warnings: Vec::new(),
                error: Some(e.to_string()),
            }
        }
    };
    assert_eq!(
        src.is_parallel(),
        expect_parallel,
        "{} with {} threads",
        path.display(),
        opts.read_threads
    );
    let mut blocks = Vec::new();
    let mut error = None;
    loop {
        match src.next_block() {
            Ok(Some(b)) => blocks.push(
                b.chunks
                    .iter()
                    .map(|c| {
                        (
                            c.start_index,
                            c.samples.iter().map(|v| v.to_bits()).collect(),
                        )
                    })
                    .collect(),
            ),
            Ok(None) => break,
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        }
    }
    Read {
        opened: true,
        blocks,
        warnings: src.warnings().to_vec(),
        error,
    }
}

/// The file read alone, then with 2 and 3 workers at several chunk sizes (down to chunks
/// shorter than a line), must agree exactly. Returns what was read.
fn same_either_way(path: &Path, base: &CsvOptions) -> Read {
    let alone = read_all(path, base, false);
    for threads in [2, 3] {
        for chunk in [37, 1000, 4096, 65_536] {
            let opts = CsvOptions {
                read_threads: threads,
                read_chunk_bytes: chunk,
                ..base.clone()
            };
            let parallel = read_all(path, &opts, alone.opened);
            assert_eq!(
                parallel,
                alone,
                "{}: {threads} threads, {chunk}-byte chunks",
                path.display()
            );
        }
    }
    alone
}

fn simulate(dir: &Path) -> PathBuf {
    let csv = dir.join("sim.csv");
    let o = Command::new(env!("CARGO_BIN_EXE_knip"))
        .args(["simulate", "--protocol", "identify", "--seed", "5", "--out"])
        .arg(&csv)
        .output()
        .expect("run knip simulate");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    csv
}

/// The first `rows` data rows of a knip recording (with its sidecar), through `edit`.
fn knip_variant(
    dir: &Path,
    sim: &Path,
    name: &str,
    rows: usize,
    edit: impl Fn(usize, &str) -> Option<String>,
) -> PathBuf {
    let text = std::fs::read_to_string(sim).expect("read sim");
    let mut lines = text.lines();
    let mut out = String::new();
    out.push_str(lines.next().expect("header"));
    out.push('\n');
    for (i, l) in lines.take(rows).enumerate() {
        if let Some(l) = edit(i, l) {
            out.push_str(&l);
        }
    }
    let path = dir.join(format!("{name}.csv"));
    std::fs::write(&path, out).expect("write");
    std::fs::copy(sim.with_extension("json"), path.with_extension("json")).expect("sidecar");
    path
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

/// A plain recording at 1 kHz: `time_s,emg,other`, with `edit` applied per row.
fn plain(rows: usize, edit: impl Fn(usize, String) -> String) -> String {
    let mut s = String::from("time_s,emg,other\n");
    for i in 0..rows {
        let t = i as f64 / 1000.0;
        let v = ((i * 7919) % 2001) as f64 / 100.0 - 10.0;
        s.push_str(&edit(i, format!("{t:.3},{v:.2},x{i}\n")));
    }
    s
}

fn rate(hz: f64) -> CsvOptions {
    CsvOptions {
        rate_hz: Some(hz),
        ..Default::default()
    }
}

#[test]
fn knip_recordings_with_two_rates_and_lost_samples_read_the_same() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = simulate(dir.path());
    let whole = knip_variant(dir.path(), &sim, "whole", 30_000, |_, l| {
        Some(format!("{l}\n"))
    });
    let r = same_either_way(&whole, &CsvOptions::default());
    let samples: usize = r.blocks.iter().flatten().map(|c| c.1.len()).sum();
    assert_eq!(r.error, None);
    // 30 000 EMG rows at 2 kHz on two channels, pressure at 100 Hz on one row in 20.
    assert_eq!(samples, 2 * 30_000 + 1500);
    // Lost samples: rows 10 000–10 499 and 20 000–20 009 are missing (a gap in each block
    // layout: the reader starts a new block there).
    let lost = knip_variant(dir.path(), &sim, "lost", 30_000, |i, l| {
        (!(10_000..10_500).contains(&i) && !(20_000..20_010).contains(&i)).then(|| format!("{l}\n"))
    });
    let r = same_either_way(&lost, &CsvOptions::default());
    assert_eq!(r.error, None);
    let starts: Vec<u64> = r.blocks.iter().map(|b| b[0].0).collect();
    assert!(
        starts.contains(&10_500) && starts.contains(&20_010),
        "{starts:?}"
    );
    // CRLF line ends, and a cut-off last line.
    let crlf = knip_variant(dir.path(), &sim, "crlf", 20_000, |i, l| {
        Some(if i == 19_999 {
            l[..l.len() / 2].to_string()
        } else {
            format!("{l}\r\n")
        })
    });
    let r = same_either_way(&crlf, &CsvOptions::default());
    assert!(
        r.warnings.iter().any(|w| w.contains("cut off")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn other_peoples_files_read_the_same_with_their_oddities() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let clean = write(d, "clean.csv", &plain(20_000, |_, l| l));
    let r = same_either_way(&clean, &CsvOptions::default());
    assert_eq!(
        r.blocks.iter().flatten().map(|c| c.1.len()).sum::<usize>(),
        20_000
    );

    let odd = plain(20_000, |i, l| match i % 997 {
        5 => format!("# a comment\n{l}"),
        6 => format!("\n{l}"),
        7 => l.replace(',', " , "),
        8 => l.replace('\n', "\r\n"),
        9 => format!("\"{}", l.replacen(',', "\",", 1)),
        10 => l.replacen(",x", "e0,x", 1),
        _ => l,
    });
    let r = same_either_way(&write(d, "odd.csv", &odd), &CsvOptions::default());
    assert_eq!(r.error, None);
    assert_eq!(
        r.blocks.iter().flatten().map(|c| c.1.len()).sum::<usize>(),
        20_000
    );

    // A comment longer than a worker reads past its chunk.
    let long = plain(20_000, |i, l| {
        if i == 9_000 {
            format!("# {}\n{l}", "long ".repeat(8_000))
        } else {
            l
        }
    });
    same_either_way(&write(d, "long_line.csv", &long), &CsvOptions::default());

    // Jittery time: a warning naming the first irregular line.
    let jitter = plain(20_000, |i, l| {
        if i % 3001 == 3000 {
            let t = i as f64 / 1000.0 + 0.0004;
            format!("{t:.4}{}", &l[l.find(',').unwrap_or(0)..])
        } else {
            l
        }
    });
    let r = same_either_way(&write(d, "jitter.csv", &jitter), &CsvOptions::default());
    assert_eq!(r.error, None);
    assert!(
        r.warnings.iter().any(|w| w.contains("irregular")
            && w.contains("12 of 19999")
            && w.contains("first at line 3002")),
        "{:?}",
        r.warnings
    );

    // Clinician markers after the data end it.
    let annotated = format!(
        "{}Annotations:\n(1.5, \"# Squeeze\")\n",
        plain(12_000, |_, l| l)
    );
    let r = same_either_way(
        &write(d, "annotated.txt", &annotated),
        &CsvOptions::default(),
    );
    assert_eq!(r.error, None);

    // No time column: the rate is given.
    let untimed = plain(15_000, |_, l| {
        l.split_once(',').map(|x| x.1.to_string()).unwrap_or(l)
    });
    let untimed = untimed.replacen("time_s,emg,other", "emg,other", 1);
    let r = same_either_way(&write(d, "untimed.csv", &untimed), &rate(1000.0));
    assert_eq!(r.error, None);
    assert_eq!(
        r.blocks.iter().flatten().map(|c| c.1.len()).sum::<usize>(),
        15_000
    );
}

#[test]
fn errors_name_the_same_line_either_way() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let backwards = plain(20_000, |i, l| {
        if i == 14_321 {
            "0.5,1.0,x\n".to_string()
        } else {
            l
        }
    });
    let r = same_either_way(
        &write(d, "backwards.csv", &backwards),
        &CsvOptions::default(),
    );
    let e = r.error.expect("time going backwards is an error");
    assert!(e.contains("line 14323"), "{e}");

    let text = plain(20_000, |i, l| {
        if i == 17_000 {
            l.replacen(",", ",1.2.3", 1)
        } else {
            l
        }
    });
    let r = same_either_way(&write(d, "text.csv", &text), &CsvOptions::default());
    let e = r.error.expect("a bad number is an error");
    assert!(e.contains("line 17002"), "{e}");

    let short = plain(20_000, |i, l| {
        if i == 12_345 {
            "12.345,1\n".to_string()
        } else {
            l
        }
    });
    let r = same_either_way(&write(d, "short.csv", &short), &CsvOptions::default());
    let e = r.error.expect("a short row is an error");
    assert!(e.contains("line 12347"), "{e}");
}

/// Values counted as lost (beyond ±1e6 µV, plain or with an exponent) and times repeated by
/// coarse rounding late in the file: the same blocks, indices and warnings with workers.
#[test]
fn lost_values_and_repeated_times_read_the_same() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = plain(30_000, |i, line| {
        let t = format!("{:.3}", i as f64 / 1000.0);
        match i {
            1_234 | 25_000 => format!("{t},50000000.5,x{i}\n"),
            7_777 => format!("{t},-1e308,x{i}\n"),
            // From row 28 000 on, every other time repeats the one before.
            i if i >= 28_000 && i % 2 == 1 => {
                let rest = line.split_once(',').expect("a comma").1;
                format!("{:.3},{rest}", (i - 1) as f64 / 1000.0)
            }
            _ => line,
        }
    });
    let path = write(dir.path(), "lost.csv", &text);
    let r = same_either_way(&path, &CsvOptions::default());
    assert_eq!(r.error, None);
    let w = r.warnings.join("\n");
    assert!(
        w.contains("3 values beyond the plausible") && w.contains("first at line 1236"),
        "{w}"
    );
    assert!(
        w.contains("from line 28003 on") && w.contains("repeats values"),
        "{w}"
    );
    // The three lost samples leave holes in the indices: 30 000 rows, 29 997 samples.
    let samples: usize = r.blocks.iter().map(|b| b[0].1.len()).sum();
    assert_eq!(samples, 29_997);
}
