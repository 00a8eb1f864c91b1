//! `knip batch DIR --out DIR`: every recording under a folder analysed on all cores, one report
//! folder each and one `batch.csv` with a row per recording. A file that cannot be analysed is
//! a row with status `error` and the reason; the batch goes on.

use crate::analyze::analyze;
use crate::config::AnalysisConfig;
use crate::error::OutputError;
use crate::error::RunError;
use crate::source::csv_file::CsvOptions;
use crate::summary_table::SummaryTable;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Options of a batch run.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Recordings analysed at once (default: the number of cores).
    pub jobs: usize,
    pub csv: CsvOptions,
    pub cfg: AnalysisConfig,
    /// Draw a progress bar on the terminal (hidden automatically when not a terminal).
    pub progress_bar: bool,
}

/// What happened to one recording.
#[derive(Debug, Clone)]
pub struct BatchRow {
    /// Path relative to the input folder.
    pub file: PathBuf,
    pub report_dir: PathBuf,
    /// The report's summary, or why the file was skipped.
    pub result: Result<SummaryTable, String>,
    pub warnings: usize,
    pub wall_s: f64,
}

#[derive(Debug)]
pub struct BatchOutcome {
    pub rows: Vec<BatchRow>,
    pub table: PathBuf,
    pub wall_s: f64,
}

impl BatchOutcome {
    pub fn failed(&self) -> impl Iterator<Item = &BatchRow> {
        self.rows.iter().filter(|r| r.result.is_err())
    }
}

/// Recordings under `dir`, sorted: `.csv` (not `*.truth.csv` nor knip report tables), `.edf`,
/// `.bdf`; folders under `skip` (the output folder) are left out.
pub fn find_recordings(dir: &Path, skip: &Path) -> std::io::Result<Vec<PathBuf>> {
    const REPORT_TABLES: [&str; 5] = [
        "contractions.csv",
        "events.csv",
        "summary.csv",
        "batch.csv",
        "progress.csv",
    ];
    let skip = skip.canonicalize().ok();
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if skip.is_some() && d.canonicalize().ok() == skip {
            continue;
        }
        for entry in std::fs::read_dir(&d)? {
            let p = entry?.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().to_ascii_lowercase())
                .unwrap_or_default();
            let ext = p
                .extension()
                .map(|e| e.to_string_lossy().to_ascii_lowercase())
                .unwrap_or_default();
            let wanted = match ext.as_str() {
                "edf" | "bdf" => true,
                "csv" => !name.ends_with(".truth.csv") && !REPORT_TABLES.contains(&name.as_str()),
                _ => false,
            };
            if wanted {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Report folder names for recordings: the path under the input folder, `/` → `__`, without
/// the extension (`real/emg/a.csv` → `real__emg__a`); where two recordings would share a name
/// (`a.csv` and `a.edf`) both keep their extension (`a_csv`, `a_edf`).
pub fn report_names(relative: &[PathBuf]) -> Vec<String> {
    let flat = |p: &Path| p.to_string_lossy().replace(['/', '\\'], "__");
    let short: Vec<String> = relative
        .iter()
        .map(|p| flat(&p.with_extension("")))
        .collect();
    relative
        .iter()
        .zip(&short)
        .map(|(p, n)| {
            if short.iter().filter(|m| *m == n).count() > 1 {
                let ext = p
                    .extension()
                    .map(|e| e.to_string_lossy().to_string())
                    .unwrap_or_default();
                format!("{n}_{ext}")
            } else {
                n.clone()
            }
        })
        .collect()
}

fn analyse_one(
    path: &Path,
    report_dir: &Path,
    opts: &BatchOptions,
) -> Result<(SummaryTable, usize), String> {
    // Files already run in parallel: each is read by one thread.
    let mut csv = opts.csv.clone();
    if opts.jobs > 1 {
        csv.read_threads = 1;
    }
    let run = || -> Result<(SummaryTable, usize), RunError> {
        let o = analyze(path, &csv, &opts.cfg, report_dir, Vec::new())?;
        let table = SummaryTable::read(&report_dir.join("summary.csv"))?;
        Ok((table, o.warnings.len()))
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "{}: internal error while analysing (a bug; please report it with this file)",
            path.display()
        )),
    }
}

/// Runs the batch and writes `out_dir/batch.csv`.
pub fn run(
    input_dir: &Path,
    out_dir: &Path,
    opts: &BatchOptions,
) -> Result<BatchOutcome, RunError> {
    let started = Instant::now();
    if !input_dir.is_dir() {
        return Err(RunError::Input(crate::error::InputError::Format {
            path: input_dir.to_path_buf(),
            message: "not a folder; give the folder holding the recordings".into(),
        }));
    }
    std::fs::create_dir_all(out_dir).map_err(|e| OutputError::write(out_dir, e))?;
    let files = find_recordings(input_dir, out_dir).map_err(|source| {
        RunError::Input(crate::error::InputError::Open {
            path: input_dir.to_path_buf(),
            source,
        })
    })?;
    let bar = if opts.progress_bar {
        indicatif::ProgressBar::new(files.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40.cyan/blue} {pos}/{len} recordings  {elapsed_precise} (eta {eta})  {wide_msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let relative: Vec<PathBuf> = files
        .iter()
        .map(|p| p.strip_prefix(input_dir).unwrap_or(p).to_path_buf())
        .collect();
    let names = report_names(&relative);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, BatchRow)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.max(1).min(files.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let (Some(path), Some(rel), Some(name)) =
                    (files.get(i), relative.get(i), names.get(i))
                else {
                    break;
                };
                let rel = rel.clone();
                let report_dir = out_dir.join(name);
                let t = Instant::now();
                let r = analyse_one(path, &report_dir, opts);
                let (result, warnings) = match r {
                    Ok((t, w)) => (Ok(t), w),
                    Err(e) => (Err(e), 0),
                };
                if let Err(e) = &result {
                    bar.println(format!("skipped {}: {e}", rel.display()));
                }
                bar.set_message(rel.display().to_string());
                bar.inc(1);
                if let Ok(mut v) = results.lock() {
                    v.push((
                        i,
                        BatchRow {
                            file: rel,
                            report_dir,
                            result,
                            warnings,
                            wall_s: t.elapsed().as_secs_f64(),
                        },
                    ));
                }
            });
        }
    });
    bar.finish_and_clear();
    let mut rows = results.into_inner().unwrap_or_default();
    rows.sort_by_key(|(i, _)| *i);
    let rows: Vec<BatchRow> = rows.into_iter().map(|(_, r)| r).collect();
    let table = out_dir.join("batch.csv");
    write_table(&table, &rows)?;
    Ok(BatchOutcome {
        rows,
        table,
        wall_s: started.elapsed().as_secs_f64(),
    })
}

/// Columns of `batch.csv`.
pub const BATCH_HEADER: &str =
    "file,status,reason,duration_s,channel,contractions,holds_2s,holds_5s,\
mean_hold_s,longest_hold_s,mean_peak,unit,rest_level,coactivated,coughs,strains,artifacts,warnings,\
analysis_s,report_dir";

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\"").replace(['\n', '\r'], " "))
    } else {
        s.to_string()
    }
}

fn write_table(path: &Path, rows: &[BatchRow]) -> Result<(), OutputError> {
    let io = |e| OutputError::write(path, e);
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    writeln!(w, "{BATCH_HEADER}").map_err(io)?;
    for r in rows {
        let file = csv_field(&r.file.display().to_string());
        let dir = csv_field(&r.report_dir.display().to_string());
        match &r.result {
            Err(reason) => {
                writeln!(
                    w,
                    "{file},error,{},,,,,,,,,,,,,,,,{:.3},",
                    csv_field(reason),
                    r.wall_s
                )
                .map_err(io)?;
            }
            Ok(t) => {
                let ch = t.primary_channel().unwrap_or("");
                let v = |m: &str| t.row(ch, m).map(|r| r.value.clone()).unwrap_or_default();
                let most = |m: &str| -> String {
                    let vals: Vec<f64> = t
                        .rows
                        .iter()
                        .filter(|r| r.metric == m)
                        .filter_map(|r| r.value.parse::<f64>().ok())
                        .collect();
                    if vals.is_empty() {
                        String::new()
                    } else {
                        // Coughs are tagged on every channel they show on: count them once.
                        format!("{}", vals.iter().cloned().fold(0.0, f64::max))
                    }
                };
                writeln!(
                    w,
                    "{file},ok,,{},{ch},{},{},{},{},{},{},{},{},{},{},{},{},{},{:.3},{dir}",
                    t.row("all", "duration")
                        .map(|r| r.value.clone())
                        .unwrap_or_default(),
                    v("contractions"),
                    v("holds_2s_or_longer"),
                    v("holds_5s_or_longer"),
                    v("mean_hold"),
                    v("longest_hold"),
                    v("mean_peak"),
                    csv_field(t.unit(ch, "mean_peak").unwrap_or("")),
                    v("rest_level"),
                    v("coactivated_contractions"),
                    most("coughs"),
                    most("strains"),
                    v("artifacts"),
                    r.warnings,
                    r.wall_s
                )
                .map_err(io)?;
            }
        }
    }
    w.flush().map_err(io)
}
