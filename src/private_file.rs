//! Files that only their owner may read: recordings, exports and the progress database hold
//! health data. On Unix they are created with mode 0600 (folders 0700); elsewhere the platform's
//! defaults apply.

use std::fs::File;
use std::path::Path;

/// Creates (or truncates) `path` readable and writable by its owner only.
pub fn create(path: &Path) -> std::io::Result<File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let f = o.open(path)?;
    restrict(path)?;
    Ok(f)
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

/// Creates `dir` (and its parents) with the last level owner-only.
pub fn create_dir(dir: &Path) -> std::io::Result<()> {
    if !dir.exists() {
        std::fs::create_dir_all(dir)?;
        restrict(dir)?;
    }
    Ok(())
}
