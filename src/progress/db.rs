//! The progress database: SQLite through `rusqlite` (SQLite compiled in, nothing to install).
//!
//! The schema is versioned with SQLite's `PRAGMA user_version` and brought up to date step by
//! step by [`MIGRATIONS`] when a database is opened, inside one transaction: a database written
//! by an older knip opens and is upgraded; one written by a newer knip is refused with a message
//! (never silently downgraded). The file (and a new folder for it) is created readable by its
//! owner only.

use crate::progress::record::SessionRecord;
use chrono::DateTime;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};

/// Errors of the progress database.
#[derive(Debug, thiserror::Error)]
pub enum ProgressError {
    #[error("{}: cannot open the progress database: {source}. Check the path and permissions, or choose another with --db.", path.display())]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("{}: cannot create the database file: {source}", path.display())]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: schema version {found} was written by a newer knip (this one knows up to {known}); upgrade knip, or use another --db", path.display())]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("progress database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("progress database: session {id} has a bad start time '{text}'")]
    BadTime { id: i64, text: String },
    #[error(transparent)]
    Output(#[from] crate::error::OutputError),
    #[error("no sessions for patient '{0}' in the database; check the id (knip progress lists the patients it has)")]
    NoSessions(String),
    #[error("no folder for user data: set HOME (or XDG_DATA_HOME / APPDATA), or give --db PATH")]
    NoDataDir,
}

/// Schema migrations: `MIGRATIONS[k]` takes a database from version `k` to `k + 1`.
pub const MIGRATIONS: [&str; 3] = [
    // 1: the first schema — counts and hold times.
    "CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        patient_id TEXT NOT NULL,
        started_at TEXT NOT NULL,
        protocol TEXT,
        duration_s REAL NOT NULL,
        contractions INTEGER NOT NULL,
        valid_squeezes INTEGER NOT NULL,
        mean_hold_s REAL,
        rest_level REAL
    );
    CREATE INDEX sessions_by_patient ON sessions (patient_id, started_at);",
    // 2: device metadata, %MVC, co-activation, coughs and strains, provenance.
    "ALTER TABLE sessions ADD COLUMN device TEXT;
    ALTER TABLE sessions ADD COLUMN probe TEXT;
    ALTER TABLE sessions ADD COLUMN posture TEXT;
    ALTER TABLE sessions ADD COLUMN quick_flicks INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN longest_hold_s REAL;
    ALTER TABLE sessions ADD COLUMN mean_peak REAL;
    ALTER TABLE sessions ADD COLUMN peak_unit TEXT;
    ALTER TABLE sessions ADD COLUMN mvc REAL;
    ALTER TABLE sessions ADD COLUMN mean_pct_mvc REAL;
    ALTER TABLE sessions ADD COLUMN coactivated INTEGER;
    ALTER TABLE sessions ADD COLUMN coactivation_rate REAL;
    ALTER TABLE sessions ADD COLUMN rest_unit TEXT;
    ALTER TABLE sessions ADD COLUMN strains INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN coughs INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN source TEXT NOT NULL DEFAULT '';
    ALTER TABLE sessions ADD COLUMN software TEXT NOT NULL DEFAULT '';",
    // 3: one row per (patient, start, source): analysing a recording again replaces its row.
    // Duplicates from version 2 are dropped, keeping the newest.
    "DELETE FROM sessions WHERE id NOT IN (
        SELECT MAX(id) FROM sessions GROUP BY patient_id, started_at, source);
    CREATE UNIQUE INDEX sessions_unique ON sessions (patient_id, started_at, source);",
];

/// The schema version this knip writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The database in the user's data folder: `$XDG_DATA_HOME/knip/progress.sqlite`
/// (`~/.local/share/knip/` by default), `~/Library/Application Support/knip/` on macOS,
/// `%APPDATA%\knip\` on Windows.
pub fn default_db_path() -> Result<PathBuf, ProgressError> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let base = if cfg!(windows) {
        env("APPDATA")
    } else if cfg!(target_os = "macos") {
        env("HOME").map(|h| h.join("Library").join("Application Support"))
    } else {
        env("XDG_DATA_HOME").or_else(|| env("HOME").map(|h| h.join(".local").join("share")))
    };
    base.map(|b| b.join("knip").join("progress.sqlite"))
        .ok_or(ProgressError::NoDataDir)
}

/// Opens (creating if needed, owner-only) and migrates the database at `path`.
pub fn open(path: &Path) -> Result<Connection, ProgressError> {
    if !path.exists() {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::private_file::create_dir(dir).map_err(|source| ProgressError::Create {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        crate::private_file::create(path).map_err(|source| ProgressError::Create {
            path: path.to_path_buf(),
            source,
        })?;
    }
    let mut db = Connection::open(path).map_err(|source| ProgressError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let open_err = |source| ProgressError::Open {
        path: path.to_path_buf(),
        source,
    };
    db.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(open_err)?;
    migrate(&mut db, path)?;
    Ok(db)
}

/// Brings the schema to [`SCHEMA_VERSION`]; returns the version found.
pub fn migrate(db: &mut Connection, path: &Path) -> Result<i64, ProgressError> {
    let found: i64 = db
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|source| ProgressError::Open {
            path: path.to_path_buf(),
            source,
        })?;
    if found > SCHEMA_VERSION {
        return Err(ProgressError::TooNew {
            path: path.to_path_buf(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    if found < SCHEMA_VERSION {
        let tx = db.transaction()?;
        for step in &MIGRATIONS[found as usize..] {
            tx.execute_batch(step)?;
        }
        tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
        tx.commit()?;
    }
    Ok(found)
}

/// Stores one session (replacing the row with the same patient, start and source). Returns the
/// row id.
pub fn store(db: &Connection, r: &SessionRecord) -> Result<i64, ProgressError> {
    db.execute(
        "INSERT OR REPLACE INTO sessions (patient_id, started_at, protocol, duration_s,
            contractions, valid_squeezes, mean_hold_s, rest_level, device, probe, posture,
            quick_flicks, longest_hold_s, mean_peak, peak_unit, mvc, mean_pct_mvc, coactivated,
            coactivation_rate, rest_unit, strains, coughs, source, software)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
            ?18, ?19, ?20, ?21, ?22, ?23, ?24)",
        params![
            r.patient_id,
            r.started_at.to_rfc3339(),
            r.protocol,
            r.duration_s,
            r.contractions,
            r.valid_squeezes,
            r.mean_hold_s,
            r.rest_level,
            r.device,
            r.probe,
            r.posture,
            r.quick_flicks,
            r.longest_hold_s,
            r.mean_peak,
            r.peak_unit,
            r.mvc,
            r.mean_pct_mvc,
            r.coactivated,
            r.coactivation_rate,
            r.rest_unit,
            r.strains,
            r.coughs,
            r.source,
            r.software,
        ],
    )?;
    Ok(db.last_insert_rowid())
}

/// Every session of a patient, oldest first.
pub fn sessions(db: &Connection, patient_id: &str) -> Result<Vec<SessionRecord>, ProgressError> {
    let mut q = db.prepare(
        "SELECT id, patient_id, started_at, protocol, duration_s, contractions, valid_squeezes,
            mean_hold_s, rest_level, device, probe, posture, quick_flicks, longest_hold_s,
            mean_peak, peak_unit, mvc, mean_pct_mvc, coactivated, coactivation_rate, rest_unit,
            strains, coughs, source, software
         FROM sessions WHERE patient_id = ?1 ORDER BY started_at, id",
    )?;
    let rows = q.query_map([patient_id], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, String>(2)?,
            SessionRecord {
                patient_id: row.get(1)?,
                started_at: DateTime::UNIX_EPOCH.fixed_offset(),
                protocol: row.get(3)?,
                duration_s: row.get(4)?,
                contractions: row.get(5)?,
                valid_squeezes: row.get(6)?,
                mean_hold_s: row.get(7)?,
                rest_level: row.get(8)?,
                device: row.get(9)?,
                probe: row.get(10)?,
                posture: row.get(11)?,
                quick_flicks: row.get(12)?,
                longest_hold_s: row.get(13)?,
                mean_peak: row.get(14)?,
                peak_unit: row.get(15)?,
                mvc: row.get(16)?,
                mean_pct_mvc: row.get(17)?,
                coactivated: row.get(18)?,
                coactivation_rate: row.get(19)?,
                rest_unit: row.get(20)?,
                strains: row.get(21)?,
                coughs: row.get(22)?,
                source: row.get(23)?,
                software: row.get(24)?,
            },
        ))
    })?;
    let mut out = Vec::new();
    for r in rows {
        let (id, text, mut rec) = r?;
        rec.started_at =
            DateTime::parse_from_rfc3339(&text).map_err(|_| ProgressError::BadTime { id, text })?;
        out.push(rec);
    }
    // Text order is time order only within one UTC offset: sort by the instant.
    out.sort_by_key(|r| r.started_at);
    Ok(out)
}

/// Patients in the database with their session counts.
pub fn patients(db: &Connection) -> Result<Vec<(String, i64)>, ProgressError> {
    let mut q = db.prepare(
        "SELECT patient_id, COUNT(*) FROM sessions GROUP BY patient_id ORDER BY patient_id",
    )?;
    let v = q
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(v)
}

/// The schema version of an open database.
pub fn schema_version(db: &Connection) -> Result<i64, ProgressError> {
    Ok(db
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}
