//! `knip batch DIR --out DIR`: every recording under a folder analysed on all cores, one report
//! folder each and one `batch.csv` with a row per recording. A file that cannot be analysed is
//! a row with status `error` and the reason; the batch goes on.
//!
//! One bad file never takes the run down. `catch_unwind` catches a panic but not an abort (a
//! failed huge allocation, a stack overflow), so the command line runs each file's analysis in
//! a child process of its own ([`Isolation`]: the same `knip` executable, the same options, one
//! file): a child that dies is that file's `error` row, and `batch.csv` and the good files'
//! reports are written all the same. Only regular files are taken (a FIFO would block for
//! ever, a device never ends), symbolic links to folders are not followed (no loops), and a
//! folder that cannot be read is named in a warning while the rest goes on.

use crate::analyze::analyze_scored;
use crate::config::AnalysisConfig;
use crate::error::OutputError;
use crate::error::RunError;
use crate::score::{AnalysisScores, ScoringConfig};
use crate::sink::report::{commit_table, create_table, csv_error};
use crate::source::csv_file::CsvOptions;
use std::ffi::OsString;
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
    /// Run each file's analysis in a child process (the command line does); `None`: in this
    /// process, a panic caught (library use, tests).
    pub isolation: Option<Isolation>,
}

/// How to analyse one file in a child process: `program args… --one-file FILE --one-out DIR`
/// prints one line of JSON ([`ChildAnswer`]) and exits 0.
#[derive(Debug, Clone)]
pub struct Isolation {
    pub program: PathBuf,
    /// The batch's own arguments (options included), so the child reads the file alike.
    pub args: Vec<OsString>,
}

/// The `batch.csv` fields of one analysed recording (from `status` to `artifacts`, see
/// [`score_fields`]).
pub type RowFields = Vec<String>;

/// What a child process says about its one file (a line of JSON on its standard output).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChildAnswer {
    Ok { fields: RowFields, warnings: usize },
    Error { reason: String },
}

/// What happened to one recording.
#[derive(Debug, Clone)]
pub struct BatchRow {
    /// Path relative to the input folder.
    pub file: PathBuf,
    pub report_dir: PathBuf,
    /// The recording's `batch.csv` fields (from the in-memory scores), or why the file was
    /// skipped.
    pub result: Result<RowFields, String>,
    pub warnings: usize,
    pub wall_s: f64,
}

#[derive(Debug)]
pub struct BatchOutcome {
    pub rows: Vec<BatchRow>,
    /// Entries left out while looking for recordings (not regular files, links to folders,
    /// folders that cannot be read), each naming the path and why.
    pub warnings: Vec<String>,
    pub table: PathBuf,
    pub wall_s: f64,
}

impl BatchOutcome {
    pub fn failed(&self) -> impl Iterator<Item = &BatchRow> {
        self.rows.iter().filter(|r| r.result.is_err())
    }
}

/// What [`find_recordings`] found.
#[derive(Debug, Default)]
pub struct Found {
    pub files: Vec<PathBuf>,
    /// Entries left out, each naming the path and why.
    pub warnings: Vec<String>,
}

/// Knip's own report tables, never taken for recordings.
const REPORT_TABLES: [&str; 5] = [
    "contractions.csv",
    "events.csv",
    "summary.csv",
    "batch.csv",
    "progress.csv",
];

/// Whether a file name is a recording batch takes: `.csv` (not `*.truth.csv` nor knip report
/// tables), `.edf`, `.bdf`, and `.txt` exports whose header knip recognises (OpenSignals, OpenBCI).
fn is_recording_name(p: &Path) -> bool {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let ext = p
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "edf" | "bdf" => true,
        "csv" => !name.ends_with(".truth.csv") && !REPORT_TABLES.contains(&name.as_str()),
        // OpenSignals and OpenBCI GUI write `.txt`: taken when the header is theirs.
        "txt" => crate::source::vendor::recognised(p),
        _ => false,
    }
}

/// The kind of a folder entry, links not followed (a link to a file is looked through once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryKind {
    File,
    Folder,
    LinkToFolder,
    /// A FIFO, socket or device (or a dangling link): never read.
    Other(&'static str),
}

fn kind_of(path: &Path, t: std::fs::FileType) -> EntryKind {
    if t.is_dir() {
        return EntryKind::Folder;
    }
    if t.is_file() {
        return EntryKind::File;
    }
    if t.is_symlink() {
        return match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => EntryKind::LinkToFolder,
            Ok(m) if m.is_file() => EntryKind::File,
            Ok(m) => special_kind(m.file_type()),
            Err(_) => EntryKind::Other("a link to nothing"),
        };
    }
    special_kind(t)
}

fn special_kind(t: std::fs::FileType) -> EntryKind {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return EntryKind::Other("a FIFO (named pipe)");
        }
        if t.is_socket() {
            return EntryKind::Other("a socket");
        }
        if t.is_block_device() || t.is_char_device() {
            return EntryKind::Other("a device");
        }
    }
    let _ = t;
    EntryKind::Other("not a regular file")
}

/// The entries of one folder, with their kinds.
type Listing = std::io::Result<Vec<(PathBuf, EntryKind)>>;

fn list_folder(dir: &Path) -> Listing {
    let mut v = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let p = entry.path();
        let kind = kind_of(&p, entry.file_type()?);
        v.push((p, kind));
    }
    Ok(v)
}

/// Recordings under `dir`, sorted (see [`is_recording_name`]); folders under `skip` (the
/// output folder) are left out. Only regular files are taken; links to folders are not
/// followed; a subfolder that cannot be read is a warning. Fails only if `dir` itself cannot
/// be read.
pub fn find_recordings(dir: &Path, skip: &Path) -> std::io::Result<Found> {
    walk(dir, skip, &list_folder)
}

fn walk(dir: &Path, skip: &Path, list: &dyn Fn(&Path) -> Listing) -> std::io::Result<Found> {
    let skip = skip.canonicalize().ok();
    let mut found = Found::default();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if skip.is_some() && d.canonicalize().ok() == skip {
            continue;
        }
        let entries = match list(&d) {
            Ok(v) => v,
            Err(e) if d == dir => return Err(e),
            Err(e) => {
                found.warnings.push(format!(
                    "{}: folder skipped, cannot be read: {e}",
                    d.display()
                ));
                continue;
            }
        };
        for (p, kind) in entries {
            match kind {
                EntryKind::Folder => stack.push(p),
                EntryKind::LinkToFolder => found.warnings.push(format!(
                    "{}: a link to a folder, not followed (give that folder itself)",
                    p.display()
                )),
                EntryKind::File if is_recording_name(&p) => found.files.push(p),
                EntryKind::File => {}
                EntryKind::Other(what) => found.warnings.push(format!(
                    "{}: skipped, {what} is not a recording",
                    p.display()
                )),
            }
        }
    }
    found.files.sort();
    found.warnings.sort();
    Ok(found)
}

/// Report folder names for recordings: the path under the input folder, `/` → `__`, without
/// the extension (`real/emg/a.csv` → `real__emg__a`); where two recordings would share a name
/// (`a.csv` and `a.edf`) both keep their extension (`a_csv`, `a_edf`); a name still taken (by
/// `a/b.csv` and `a__b.csv`, or differing only in case) gets `_2`, `_3`, … Every name is
/// unique, even on a file system that ignores case.
pub fn report_names(relative: &[PathBuf]) -> Vec<String> {
    let flat = |p: &Path| p.to_string_lossy().replace(['/', '\\'], "__");
    let short: Vec<String> = relative
        .iter()
        .map(|p| flat(&p.with_extension("")))
        .collect();
    let first: Vec<String> = relative
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
        .collect();
    let key = |n: &str| n.to_lowercase();
    let all: std::collections::HashSet<String> = first.iter().map(|n| key(n)).collect();
    let mut taken = std::collections::HashSet::new();
    first
        .into_iter()
        .map(|n| {
            let mut name = n.clone();
            let mut k = 2;
            while taken.contains(&key(&name)) || (name != n && all.contains(&key(&name))) {
                name = format!("{n}_{k}");
                k += 1;
            }
            taken.insert(key(&name));
            name
        })
        .collect()
}

/// Analyses one file in this process (a panic is caught, an abort is not): its `batch.csv`
/// fields and how many warnings it had, or why it was skipped.
pub fn analyse_in_process(
    path: &Path,
    report_dir: &Path,
    opts: &BatchOptions,
    scoring: &ScoringConfig,
) -> Result<(RowFields, usize), String> {
    // Files already run in parallel: each is read by one thread.
    let mut csv = opts.csv.clone();
    if opts.jobs > 1 {
        csv.read_threads = 1;
    }
    let run = || -> Result<(RowFields, usize), RunError> {
        let o = analyze_scored(path, &csv, &opts.cfg, scoring, report_dir, Vec::new())?;
        Ok((score_fields(&o.scores), o.warnings.len()))
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

/// The child process's side of [`Isolation`]: analyses `path` into `report_dir` and returns the
/// line of JSON to print.
pub fn child_answer(
    path: &Path,
    report_dir: &Path,
    opts: &BatchOptions,
    scoring: &ScoringConfig,
) -> String {
    let answer = match analyse_in_process(path, report_dir, opts, scoring) {
        Ok((fields, warnings)) => ChildAnswer::Ok { fields, warnings },
        Err(reason) => ChildAnswer::Error { reason },
    };
    serde_json::to_string(&answer).unwrap_or_else(|e| {
        format!("{{\"error\":{{\"reason\":\"cannot encode the answer: {e}\"}}}}")
    })
}

/// At most this much of a dead child's standard error goes into its row.
const CHILD_STDERR_SHOWN: usize = 300;

fn analyse_in_child(
    iso: &Isolation,
    path: &Path,
    report_dir: &Path,
) -> Result<(RowFields, usize), String> {
    let out = std::process::Command::new(&iso.program)
        .args(&iso.args)
        .arg("--one-file")
        .arg(path)
        .arg("--one-out")
        .arg(report_dir)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| {
            format!(
                "{}: cannot start the analysis ({}): {e}",
                path.display(),
                iso.program.display()
            )
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let answer = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<ChildAnswer>(l).ok());
    match (answer, out.status.success()) {
        (Some(ChildAnswer::Ok { fields, warnings }), true) => Ok((fields, warnings)),
        (Some(ChildAnswer::Error { reason }), true) => Err(reason),
        _ => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
            let said = last
                .map(|l| {
                    let l: String = l.chars().take(CHILD_STDERR_SHOWN).collect();
                    format!(" It said: {l}")
                })
                .unwrap_or_default();
            Err(format!(
                "{}: the analysis stopped abnormally ({}); the file is probably damaged or far \
                 too large. Check it, or run knip analyze on it alone to see more.{said}",
                path.display(),
                how_it_ended(&out.status)
            ))
        }
    }
}

fn how_it_ended(status: &std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            let name = match sig {
                6 => " (SIGABRT: aborted, e.g. out of memory)",
                9 => " (SIGKILL: killed, e.g. by the out-of-memory killer)",
                11 => " (SIGSEGV)",
                _ => "",
            };
            return format!("killed by signal {sig}{name}");
        }
    }
    match status.code() {
        Some(c) => format!("exit code {c}"),
        None => "no exit code".into(),
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
    crate::private_file::create_dir(out_dir).map_err(|e| OutputError::write(out_dir, e))?;
    let Found { files, warnings } = find_recordings(input_dir, out_dir).map_err(|source| {
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
                let r = match &opts.isolation {
                    Some(iso) => analyse_in_child(iso, path, &report_dir),
                    None => analyse_in_process(path, &report_dir, opts, scoring),
                };
                let (result, warnings) = match r {
                    Ok((t, w)) => (Ok(t), w),
                    Err(e) => (Err(e), 0),
                };
                if let Err(e) = &result {
                    let line = format!("skipped {}: {e}", rel.display());
                    bar.println(crate::limits::terminal_safe(&line));
                }
                bar.set_message(crate::limits::terminal_safe(&rel.display().to_string()));
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
        warnings,
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
    let mut w = create_table(path)?;
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
            Ok(fields) => {
                rec.extend(fields.iter().cloned());
                rec.push(r.warnings.to_string());
                rec.push(format!("{:.3}", r.wall_s));
                rec.push(r.report_dir.display().to_string());
            }
        }
        w.write_record(&rec).map_err(&err)?;
    }
    commit_table(w, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder that cannot be read (as root, chmod does not deny it: the listing is given).
    #[test]
    fn an_unreadable_subfolder_is_a_warning_and_the_rest_goes_on() {
        let root = Path::new("/in");
        let list = |d: &Path| -> Listing {
            match d.to_str() {
                Some("/in") => Ok(vec![
                    (root.join("a.csv"), EntryKind::File),
                    (root.join("locked"), EntryKind::Folder),
                    (root.join("week1"), EntryKind::Folder),
                    (
                        root.join("pipe.csv"),
                        EntryKind::Other("a FIFO (named pipe)"),
                    ),
                    (root.join("back"), EntryKind::LinkToFolder),
                ]),
                Some("/in/week1") => Ok(vec![(root.join("week1/b.edf"), EntryKind::File)]),
                _ => Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied)),
            }
        };
        let found = walk(root, Path::new("/out"), &list).unwrap();
        assert_eq!(
            found.files,
            [root.join("a.csv"), root.join("week1/b.edf")].to_vec()
        );
        let w = found.warnings.join("\n");
        assert!(
            w.contains("/in/locked: folder skipped, cannot be read"),
            "{w}"
        );
        assert!(w.contains("/in/pipe.csv") && w.contains("FIFO"), "{w}");
        assert!(w.contains("/in/back") && w.contains("not followed"), "{w}");
        // The input folder itself unreadable is the batch's error.
        let none = |_: &Path| -> Listing { Err(std::io::ErrorKind::PermissionDenied.into()) };
        assert!(walk(root, Path::new("/out"), &none).is_err());
    }
}
