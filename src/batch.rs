//! `knip batch DIR --out DIR`: every recording under a folder analysed on all cores, one report
//! folder each and one `batch.csv` with a row per recording. A file that cannot be analysed is
//! a row with status `error` and the reason; the batch goes on.

use crate::analyze::analyze_scored;
use crate::config::AnalysisConfig;
use crate::error::OutputError;
use crate::error::RunError;
use crate::score::{AnalysisScores, ScoringConfig};
use crate::sink::report::csv_error;
use crate::source::csv_file::CsvOptions;
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
    /// The recording's scores (in memory, from the analysis), or why the file was skipped.
    pub result: Result<AnalysisScores, String>,
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
    scoring: &ScoringConfig,
) -> Result<(AnalysisScores, usize), String> {
    // Files already run in parallel: each is read by one thread.
    let mut csv = opts.csv.clone();
    if opts.jobs > 1 {
        csv.read_threads = 1;
    }
    let run = || -> Result<(AnalysisScores, usize), RunError> {
        let o = analyze_scored(path, &csv, &opts.cfg, scoring, report_dir, Vec::new())?;
        Ok((o.scores, o.warnings.len()))
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
    run_scored(input_dir, out_dir, opts, &ScoringConfig::default())
}

/// [`run`] with scoring thresholds (`--scoring`).
pub fn run_scored(
    input_dir: &Path,
    out_dir: &Path,
    opts: &BatchOptions,
    scoring: &ScoringConfig,
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
                let r = analyse_one(path, &report_dir, opts, scoring);
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
pub const BATCH_COLUMNS: [&str; 20] = [
    "file",
    "status",
    "reason",
    "duration_s",
    "channel",
    "contractions",
    "holds_2s",
    "holds_5s",
    "mean_hold_s",
    "longest_hold_s",
    "mean_peak",
    "unit",
    "rest_level",
    "coactivated",
    "coughs",
    "strains",
    "artifacts",
    "warnings",
    "analysis_s",
    "report_dir",
];

/// The `batch.csv` row of one recording's scores (from `status` to `artifacts`, without the
/// file, warnings, time and folder).
pub fn score_fields(s: &AnalysisScores) -> Vec<String> {
    let cfg = &s.scoring;
    let f3 = |v: Option<f64>| v.map(|x| format!("{x:.3}")).unwrap_or_default();
    let Some(c) = s.primary() else {
        return vec![
            "ok".into(),
            String::new(),
            format!("{:.3}", s.duration_s),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            s.coughs().to_string(),
            s.strains().to_string(),
            String::new(),
        ];
    };
    vec![
        "ok".into(),
        String::new(),
        format!("{:.3}", s.duration_s),
        c.name.clone(),
        c.count().to_string(),
        c.holds_at_least(cfg.identification_hold_s, cfg).to_string(),
        c.holds_at_least(cfg.strength_hold_s, cfg).to_string(),
        f3(c.mean_hold_s()),
        f3(c.longest_hold_s()),
        f3(c.mean_peak()),
        c.unit.clone(),
        f3(c.rest_level),
        c.coactivated().map(|n| n.to_string()).unwrap_or_default(),
        // Coughs are tagged on every channel they show on: counted once.
        s.coughs().to_string(),
        s.strains().to_string(),
        c.artifacts.to_string(),
    ]
}

fn write_table(path: &Path, rows: &[BatchRow]) -> Result<(), OutputError> {
    let file = std::fs::File::create(path).map_err(|e| OutputError::write(path, e))?;
    let mut w = csv::Writer::from_writer(std::io::BufWriter::new(file));
    let err = csv_error(path);
    w.write_record(BATCH_COLUMNS).map_err(&err)?;
    for r in rows {
        let mut rec = vec![r.file.display().to_string()];
        match &r.result {
            Err(reason) => {
                rec.extend(["error".to_string(), reason.replace(['\n', '\r'], " ")]);
                rec.resize(BATCH_COLUMNS.len() - 2, String::new());
                rec.push(format!("{:.3}", r.wall_s));
                rec.push(String::new());
            }
            Ok(s) => {
                rec.extend(score_fields(s));
                rec.push(r.warnings.to_string());
                rec.push(format!("{:.3}", r.wall_s));
                rec.push(r.report_dir.display().to_string());
            }
        }
        w.write_record(&rec).map_err(&err)?;
    }
    w.flush().map_err(|e| OutputError::write(path, e))
}
