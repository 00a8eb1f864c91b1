//! Files that only their owner may read, written so that nothing is lost or clobbered.
//!
//! Recordings, reports, exports and the progress database hold health data. On Unix every file
//! knip creates is created with mode 0600 (folders 0700); elsewhere the platform's defaults
//! apply. The one place for how knip writes a file:
//!
//! - [`create_new`]: a file that must not exist yet (a recording): never replaces anything and
//!   never follows a symbolic link.
//! - [`Pending`] / [`write`]: a file written under a temporary name beside its real name and
//!   renamed into place when complete, so a crash or a full disk never leaves half a report
//!   under the real name. The temporary name is created new (no link is followed), and the
//!   rename replaces a link at the real name rather than writing through it.
//! - [`Pending::commit_new`] / [`write_new`]: the same, but refusing to replace a file that
//!   appeared under the real name (a recording's sidecar, a simulated recording's truth).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

fn owner_only() -> std::fs::OpenOptions {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o
}

/// Creates `path`, which must not exist yet, readable and writable by its owner only. Fails
/// with `AlreadyExists` if anything (a file, a folder, a symbolic link) is there.
pub fn create_new(path: &Path) -> std::io::Result<File> {
    owner_only().open(path)
}

/// Creates (or truncates) `path` readable and writable by its owner only. A symbolic link at
/// `path` is refused rather than followed; an existing file keeps its own mode (knip changes
/// the mode only of files it creates).
pub fn create(path: &Path) -> std::io::Result<File> {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(std::io::Error::other(
            "is a symbolic link; knip does not write through links (give the real path)",
        ));
    }
    match create_new(path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(path),
        other => other,
    }
}

/// Makes an existing file or folder owner-only (0600 for files, 0700 for folders).
pub fn restrict(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = if path.is_dir() { 0o700 } else { 0o600 };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Whether `path` can be read or written by anybody but its owner (always false off Unix).
pub fn is_shared(path: &Path) -> std::io::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        Ok(std::fs::metadata(path)?.permissions().mode() & 0o077 != 0)
    }
    #[cfg(not(unix))]
    {
        std::fs::metadata(path).map(|_| false)
    }
}

/// Creates `dir` (and its parents) with the last level owner-only; an existing folder is left
/// as it is.
pub fn create_dir(dir: &Path) -> std::io::Result<()> {
    if !dir.exists() {
        std::fs::create_dir_all(dir)?;
        restrict(dir)?;
    }
    Ok(())
}

/// A file being written under a temporary name beside its real name (owner-only). Nothing
/// appears under the real name until [`Pending::commit`]; dropped without a commit, the
/// temporary file is removed.
pub struct Pending {
    file: Option<File>,
    tmp: PathBuf,
    dest: PathBuf,
}

/// Temporary names already used by this process (with the process id, unique on the machine).
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Whether `name` is one of knip's temporary names (left behind only by a killed run).
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".knip-tmp")
}

impl Pending {
    /// Starts writing `dest`: creates `.<name>.<pid>.<n>.knip-tmp` in the same folder.
    pub fn create(dest: &Path) -> std::io::Result<Pending> {
        let name = dest.file_name().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a file name; give a path that ends in a file name",
            )
        })?;
        let pid = std::process::id();
        loop {
            let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let tmp =
                dest.with_file_name(format!(".{}.{pid}.{n}.knip-tmp", name.to_string_lossy()));
            match create_new(&tmp) {
                Ok(file) => {
                    return Ok(Pending {
                        file: Some(file),
                        tmp,
                        dest: dest.to_path_buf(),
                    })
                }
                // Left by a killed process that had the same id: take the next number.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < u64::MAX => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The real name the file gets.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    fn finish(&mut self) -> std::io::Result<()> {
        match self.file.take() {
            Some(mut f) => {
                f.flush()?;
                f.sync_all()
            }
            None => Err(std::io::Error::other("already committed")),
        }
    }

    /// Flushes the file to the disk and renames it to its real name, replacing what was there
    /// (a symbolic link there is replaced, not followed).
    pub fn commit(mut self) -> std::io::Result<()> {
        self.finish()?;
        std::fs::rename(&self.tmp, &self.dest)
    }

    /// Like [`Pending::commit`], but fails with `AlreadyExists` (and leaves it alone) if
    /// anything is at the real name.
    pub fn commit_new(mut self) -> std::io::Result<()> {
        self.finish()?;
        match std::fs::hard_link(&self.tmp, &self.dest) {
            Ok(()) => std::fs::remove_file(&self.tmp),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(e),
            // A file system without hard links: check, then rename (not atomic, but nothing
            // else writes knip's output folders).
            Err(_) if std::fs::symlink_metadata(&self.dest).is_ok() => Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "file exists",
            )),
            Err(_) => std::fs::rename(&self.tmp, &self.dest),
        }
    }
}

impl Write for Pending {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.file {
            Some(f) => f.write(buf),
            None => Err(std::io::Error::other("already committed")),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        // Not committed (or the commit failed): the temporary file goes.
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// Writes `bytes` to `dest` through a temporary file (see [`Pending`]), replacing `dest`.
pub fn write(dest: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut p = Pending::create(dest)?;
    p.write_all(bytes)?;
    p.commit()
}

/// Writes `bytes` to `dest` through a temporary file; fails if `dest` exists.
pub fn write_new(dest: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut p = Pending::create(dest)?;
    p.write_all(bytes)?;
    p.commit_new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_pending_file_appears_only_when_committed_and_is_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("summary.csv");
        let mut p = Pending::create(&dest).unwrap();
        p.write_all(b"a,b\n").unwrap();
        assert!(
            !dest.exists(),
            "nothing under the real name before the commit"
        );
        p.commit().unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"a,b\n");
        assert_eq!(names(dir.path()), ["summary.csv"], "no temporary file left");
        #[cfg(unix)]
        assert_eq!(mode(&dest), 0o600);
        // Dropped without a commit: the old file stays, the temporary one goes.
        let mut p = Pending::create(&dest).unwrap();
        p.write_all(b"half").unwrap();
        drop(p);
        assert_eq!(std::fs::read(&dest).unwrap(), b"a,b\n");
        assert_eq!(names(dir.path()), ["summary.csv"]);
    }

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_at_the_real_name_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, "keep me").unwrap();
        let dest = dir.path().join("report.png");
        std::os::unix::fs::symlink(&victim, &dest).unwrap();
        write(&dest, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
        assert!(!std::fs::symlink_metadata(&dest)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&dest).unwrap(), b"new");
        // create() refuses a link rather than truncating its target.
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert!(create(&link).is_err());
        assert!(create_new(&link).is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    }

    #[test]
    fn write_new_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("recording.json");
        std::fs::write(&dest, "old").unwrap();
        let e = write_new(&dest, b"new").unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "old");
        assert_eq!(names(dir.path()), ["recording.json"]);
        let fresh = dir.path().join("fresh.json");
        write_new(&fresh, b"x").unwrap();
        assert_eq!(std::fs::read(&fresh).unwrap(), b"x");
    }

    #[cfg(unix)]
    #[test]
    fn create_keeps_the_mode_of_a_file_it_did_not_create() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("theirs.csv");
        std::fs::write(&p, "x").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        create(&p).unwrap();
        assert_eq!(mode(&p), 0o644);
        let q = dir.path().join("ours.csv");
        create(&q).unwrap();
        assert_eq!(mode(&q), 0o600);
    }
}
