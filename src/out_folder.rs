//! The `--out` folder of a command, the one place that decides whether it may be written.
//!
//! A new folder is created owner-only (0700). An existing folder that holds anything is
//! **refused** unless `--force` — not replaced, and no numbered folder made beside it: a script
//! or a clinician then knows exactly where the report is (the folder they named) and that
//! nothing in it was another run's. With `--force`, knip's own report files there (and report
//! folders of an earlier batch) are removed first, so no file of the old run stays beside the
//! new one looking like part of it; a folder that also holds files that are not knip's is
//! refused even with `--force` (knip does not delete what it did not write). A recording in the
//! folder is never replaced, not even with `--force` — only a simulated one (from `demo`,
//! reproducible from its seed) may be. The folder itself must not be a symbolic link.

use crate::error::OutputError;
use std::path::{Path, PathBuf};

/// Files knip writes into a report folder (analyze, session, replay, record, batch).
pub const REPORT_FILES: [&str; 12] = [
    "contractions.csv",
    "events.csv",
    "summary.csv",
    "session.json",
    "report.png",
    "reps.csv",
    "session_summary.csv",
    "calibration.json",
    "assessment.png",
    "link.json",
    "truth_reps.json",
    "batch.csv",
];

/// The recording files of a report folder (`recording.csv`, its sidecar, the raw bytes, the
/// gaps and, for the simulator, the truth).
pub const RECORDING_FILES: [&str; 5] = [
    "recording.csv",
    "recording.json",
    "recording.raw",
    "recording.gaps.csv",
    "recording.truth.csv",
];

/// What the command says to do when a folder holds files.
pub const USE_FORCE: &str = "use --force to replace the report, or choose another --out";

/// The folder a command writes to: the one the user gave with `--out`, or else `default` —
/// or, when `default` already holds an earlier run, the first of `default-2`, `default-3`, …
/// that is free. Only the default is numbered: a folder the user named is used as named (and
/// refused by [`prepare`] if it holds anything), so that `knip demo` can be run again without
/// losing the last demo and without a flag.
pub fn given_or_free(given: Option<&Path>, default: &str) -> PathBuf {
    if let Some(dir) = given {
        return dir.to_path_buf();
    }
    let free = |dir: &Path| existing_entries(dir).is_ok_and(|e| e.is_empty());
    let first = PathBuf::from(default);
    if free(&first) {
        return first;
    }
    (2..=MAX_NUMBERED_FOLDERS)
        .map(|n| PathBuf::from(format!("{default}-{n}")))
        .find(|dir| free(dir))
        // All taken: the default, which `prepare` then refuses with what to do.
        .unwrap_or(first)
}

/// How many numbered default folders (`knip-demo-2` …) knip looks through for a free one.
const MAX_NUMBERED_FOLDERS: u32 = 9999;

/// Makes `dir` ready for a new report: creates it (owner-only) when missing; refuses it when it
/// holds anything, unless `force`, which first removes the earlier report (see the module).
pub fn prepare(dir: &Path, force: bool) -> Result<Prepared, OutputError> {
    let prepared = Prepared {
        dir: dir.to_path_buf(),
        existed: dir.symlink_metadata().is_ok(),
    };
    let entries = existing_entries(dir)?;
    if entries.is_empty() {
        return Ok(prepared);
    }
    if !force {
        return Err(OutputError::refused(
            dir,
            format!(
                "the folder already holds {} ({}); {USE_FORCE}",
                count(entries.len(), "file"),
                shown(&entries)
            ),
        ));
    }
    let recordings: Vec<PathBuf> = entries
        .iter()
        .filter(|p| is_real_recording(p))
        .cloned()
        .collect();
    if !recordings.is_empty() {
        return Err(OutputError::refused(
            dir,
            format!(
                "the folder holds a recording ({}); a recording is never replaced, not even \
                 with --force. Choose another --out",
                shown(&recordings)
            ),
        ));
    }
    let foreign: Vec<PathBuf> = entries
        .iter()
        .filter(|p| !is_knip_output(p))
        .cloned()
        .collect();
    if !foreign.is_empty() {
        return Err(OutputError::refused(
            dir,
            format!(
                "the folder holds files that are not knip's report ({}); --force replaces \
                 only knip's own report files. Move them, or choose another --out",
                shown(&foreign)
            ),
        ));
    }
    for p in &entries {
        let removed = if p.is_dir() {
            std::fs::remove_dir_all(p)
        } else {
            std::fs::remove_file(p)
        };
        removed.map_err(|e| OutputError::write(p, e))?;
    }
    Ok(prepared)
}

/// A report folder made ready by [`prepare`], and whether it was there before this run.
#[derive(Debug)]
pub struct Prepared {
    dir: PathBuf,
    existed: bool,
}

impl Prepared {
    /// `result` as it is; when it is an error (a bad input file, say) and the folder was made by
    /// this run, the folder is removed again if it is still empty, so a failed run leaves no
    /// empty report folder behind to puzzle over. Only an empty folder is ever removed.
    pub fn tidy_on_error<T, E>(&self, result: Result<T, E>) -> Result<T, E> {
        if result.is_err() && !self.existed {
            // Fails, harmlessly, on a folder that holds anything.
            let _ = std::fs::remove_dir(&self.dir);
        }
        result
    }
}

/// Makes `dir` ready for a new recording: created when missing, used when empty, refused
/// otherwise — a recording is never replaced, and there is no `--force` for it.
pub fn prepare_recording(dir: &Path) -> Result<(), OutputError> {
    let entries = existing_entries(dir)?;
    if entries.is_empty() {
        return Ok(());
    }
    Err(OutputError::refused(
        dir,
        format!(
            "the folder already holds {} ({}); a recording is never replaced or mixed with \
             another run's files: choose a new --out for each recording",
            count(entries.len(), "file"),
            shown(&entries)
        ),
    ))
}

/// The entries of an existing `--out` folder (none when it was just created owner-only);
/// a symbolic link or a file there is refused.
fn existing_entries(dir: &Path) -> Result<Vec<PathBuf>, OutputError> {
    let meta = match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            crate::private_file::create_dir(dir).map_err(|e| OutputError::write(dir, e))?;
            return Ok(Vec::new());
        }
        Err(e) => return Err(OutputError::write(dir, e)),
        Ok(m) => m,
    };
    if meta.file_type().is_symlink() {
        return Err(OutputError::refused(
            dir,
            "--out is a symbolic link; knip does not write through links. Give the folder \
             itself, or choose another --out",
        ));
    }
    if !meta.is_dir() {
        return Err(OutputError::refused(
            dir,
            format!(
                "--out {} is a file, not a folder; choose a folder for the report",
                dir.display()
            ),
        ));
    }
    list(dir)
}

/// Makes sure the files of a simulated recording at `csv` (its `.json` sidecar and
/// `.truth.csv` beside it) may be written: none may exist unless `force`, and even then only a
/// simulated recording is replaced (its old files are removed first, so nothing is written
/// through a link or has its mode changed).
pub fn prepare_simulated_recording(csv: &Path, force: bool) -> Result<(), OutputError> {
    let files = [
        csv.to_path_buf(),
        csv.with_extension("json"),
        crate::truth::truth_path_for(csv),
    ];
    for f in &files {
        prepare_file(f, force)?;
    }
    let existing: Vec<&PathBuf> = files
        .iter()
        .filter(|f| std::fs::symlink_metadata(f).is_ok())
        .collect();
    if existing.is_empty() {
        return Ok(());
    }
    let simulated =
        crate::export::read_sidecar_beside(csv).is_some_and(|s| s.device == "simulator");
    if !simulated {
        return Err(OutputError::refused(
            csv,
            "a recording that was not simulated is there (no simulator sidecar beside it); a \
             recording is never replaced, not even with --force. Choose another --out",
        ));
    }
    for f in existing {
        std::fs::remove_file(f).map_err(|e| OutputError::write(f, e))?;
    }
    Ok(())
}

/// Makes sure `file` (a single output file such as `export --out` or `simulate --out`) may be
/// written: its folder is created when missing; an existing file is refused unless `force`
/// (and a folder or a symbolic link always is). With `force`, the writer replaces the file (by
/// a rename, or after removing it), never writing through it.
pub fn prepare_file(file: &Path, force: bool) -> Result<(), OutputError> {
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::private_file::create_dir(dir).map_err(|e| OutputError::write(dir, e))?;
    }
    match std::fs::symlink_metadata(file) {
        Err(_) => Ok(()),
        Ok(m) if m.file_type().is_symlink() => Err(OutputError::refused(
            file,
            "--out is a symbolic link; knip does not write through links. Choose another --out",
        )),
        Ok(m) if m.is_dir() => Err(OutputError::refused(
            file,
            format!(
                "--out {} is a folder, not a file; give a file name",
                file.display()
            ),
        )),
        Ok(_) if force => Ok(()),
        Ok(_) => Err(OutputError::refused(
            file,
            "the file already exists; use --force to replace it, or choose another --out",
        )),
    }
}

fn list(dir: &Path) -> Result<Vec<PathBuf>, OutputError> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| OutputError::write(dir, e))? {
        v.push(e.map_err(|e| OutputError::write(dir, e))?.path());
    }
    v.sort();
    Ok(v)
}

fn name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
}

fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// The first few names, for a message.
fn shown(paths: &[PathBuf]) -> String {
    const SHOWN: usize = 5;
    let mut s: Vec<String> = paths.iter().take(SHOWN).map(|p| name(p)).collect();
    if paths.len() > SHOWN {
        s.push(format!("and {} more", paths.len() - SHOWN));
    }
    s.join(", ")
}

/// A recording made from a patient (anything but the simulator's): its files are never removed.
fn is_real_recording(p: &Path) -> bool {
    let n = name(p);
    if p.is_dir() {
        // A report folder of an earlier batch holds no recording; anything else is checked
        // when it is found not to be knip's.
        return list(p).is_ok_and(|v| v.iter().any(|q| is_real_recording(q)));
    }
    if !RECORDING_FILES.contains(&n.as_str()) {
        return false;
    }
    let simulated = crate::export::read_sidecar_beside(&p.with_file_name("recording.csv"))
        .is_some_and(|s| s.device == "simulator");
    n == "recording.raw" || n == "recording.gaps.csv" || !simulated
}

/// A file knip writes into report folders (or a report folder of a batch, or a temporary file
/// a killed run left).
fn is_knip_output(p: &Path) -> bool {
    let n = name(p);
    if std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink()) {
        return false;
    }
    if p.is_dir() {
        return list(p).is_ok_and(|v| !v.is_empty() && v.iter().all(|q| is_knip_output(q)));
    }
    REPORT_FILES.contains(&n.as_str())
        || RECORDING_FILES.contains(&n.as_str())
        || crate::private_file::is_temp_name(&n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused<T: std::fmt::Debug>(r: Result<T, OutputError>) -> String {
        match r {
            Err(e @ OutputError::Refused { .. }) => e.to_string(),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_new_folder_is_created_owner_only_and_an_empty_one_is_used() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("a/report");
        prepare(&d, false).unwrap();
        assert!(d.is_dir());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let m = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
            assert_eq!(m, 0o700);
        }
        prepare(&d, false).unwrap();
    }

    #[test]
    fn a_folder_with_a_report_is_refused_without_force_and_cleared_with_it() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::write(d.join("summary.csv"), "old").unwrap();
        std::fs::write(d.join("events.csv"), "old").unwrap();
        let m = refused(prepare(d, false));
        assert!(
            m.contains("use --force") && m.contains("summary.csv"),
            "{m}"
        );
        assert!(m.contains(&d.display().to_string()), "{m}");
        assert!(d.join("summary.csv").exists());
        prepare(d, true).unwrap();
        assert_eq!(list(d).unwrap(), Vec::<PathBuf>::new());
    }

    #[test]
    fn force_does_not_delete_what_knip_did_not_write() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::write(d.join("summary.csv"), "old").unwrap();
        std::fs::write(d.join("letter.docx"), "mine").unwrap();
        let m = refused(prepare(d, true));
        assert!(m.contains("letter.docx") && m.contains("not knip's"), "{m}");
        assert!(d.join("letter.docx").exists() && d.join("summary.csv").exists());
    }

    #[test]
    fn a_recording_is_never_replaced_but_a_simulated_one_may_be() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::write(d.join("recording.raw"), "bytes").unwrap();
        std::fs::write(d.join("report.png"), "png").unwrap();
        let m = refused(prepare(d, true));
        assert!(
            m.contains("never replaced") && m.contains("recording.raw"),
            "{m}"
        );
        assert!(d.join("recording.raw").exists() && d.join("report.png").exists());
        // A CSV recording without a sidecar saying "simulator" is a patient's.
        let e = tempfile::tempdir().unwrap();
        std::fs::write(e.path().join("recording.csv"), "time_s,p\n").unwrap();
        assert!(refused(prepare(e.path(), true)).contains("never replaced"));
    }

    #[test]
    fn a_file_or_a_link_is_not_a_report_folder() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("notes.txt");
        std::fs::write(&f, "x").unwrap();
        let m = refused(prepare(&f, true));
        assert!(m.contains("is a file, not a folder"), "{m}");
        #[cfg(unix)]
        {
            let l = t.path().join("link");
            std::os::unix::fs::symlink(t.path(), &l).unwrap();
            assert!(refused(prepare(&l, true)).contains("symbolic link"));
        }
    }

    #[test]
    fn a_single_output_file_is_refused_when_it_exists_unless_forced() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("sub/x.edf");
        prepare_file(&f, false).unwrap();
        std::fs::write(&f, "x").unwrap();
        assert!(refused(prepare_file(&f, false)).contains("already exists"));
        prepare_file(&f, true).unwrap();
        assert!(refused(prepare_file(t.path(), true)).contains("is a folder"));
    }
}
