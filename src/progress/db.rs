//! The progress database: SQLite through `rusqlite` (SQLite compiled in, nothing to install).
//!
//! The schema is versioned with SQLite's `PRAGMA user_version` and brought up to date step by
//! step by [`MIGRATIONS`] when a database is opened, inside one transaction: a database written
//! by an older knip opens and is upgraded; one written by a newer knip is refused with a message
//! (never silently downgraded). The file (and a new folder for it) is created readable by its
//! owner only.

use crate::progress::record::{SessionRecord, KIND_ANALYSIS, KIND_GUIDED};
use crate::session::calibrate::Calibration;
use chrono::{DateTime, FixedOffset, NaiveDate};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};

/// Errors of the progress database.
#[derive(Debug, thiserror::Error)]
pub enum ProgressError {
    /// `cause` is not a `source`: SQLite's own wording of it ("Error code 26: …") would only
    /// repeat the message.
    #[error("{}: cannot open the progress database: {cause}. Check the path and permissions, or choose another with --db.", path.display())]
    Open {
        path: PathBuf,
        cause: rusqlite::Error,
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
    /// The file is an SQLite database, but not knip's (its tables differ from knip's schema).
    #[error("{}: not a knip progress database ({message}); choose another file with --db", path.display())]
    NotKnip { path: PathBuf, message: String },
    #[error("progress database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("progress database: session {id} has a bad start time '{text}'")]
    BadTime { id: i64, text: String },
    #[error("progress database: row {id} of {table} holds unreadable {what}: {message}")]
    BadJson {
        table: &'static str,
        id: i64,
        what: &'static str,
        message: String,
    },
    #[error(transparent)]
    Output(#[from] crate::error::OutputError),
    #[error("no sessions for patient '{0}' in the database; check the id (knip progress lists the patients it has)")]
    NoSessions(String),
    #[error("no folder for user data: set HOME (or XDG_DATA_HOME / APPDATA), or give --db PATH")]
    NoDataDir,
}

impl ProgressError {
    /// The database file given is not one knip can use (not a database, another program's,
    /// a newer knip's): bad input, as opposed to a disk or permission failure.
    pub fn is_input_error(&self) -> bool {
        match self {
            ProgressError::NotKnip { .. } | ProgressError::TooNew { .. } => true,
            ProgressError::Open { cause, .. } => {
                cause.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase)
            }
            ProgressError::Output(o) => o.is_input_error(),
            _ => false,
        }
    }
}

/// Schema migrations: `MIGRATIONS[k]` takes a database from version `k` to `k + 1`.
pub const MIGRATIONS: [&str; 4] = [
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
    // 4: guided sessions and their assessments; one row per recording (content hash + start
    // time), whatever its file name; stored calibrations per patient and device.
    "ALTER TABLE sessions ADD COLUMN kind TEXT NOT NULL DEFAULT 'analysis';
    ALTER TABLE sessions ADD COLUMN recording_key TEXT;
    ALTER TABLE sessions ADD COLUMN reps_done INTEGER;
    ALTER TABLE sessions ADD COLUMN peak_pct_mvc REAL;
    ALTER TABLE sessions ADD COLUMN glazer_json TEXT;
    ALTER TABLE sessions ADD COLUMN perfect_json TEXT;
    CREATE UNIQUE INDEX sessions_by_recording ON sessions (patient_id, recording_key);
    CREATE TABLE calibrations (
        id INTEGER PRIMARY KEY,
        patient_id TEXT NOT NULL,
        device TEXT NOT NULL,
        saved_at TEXT NOT NULL,
        calibration_json TEXT NOT NULL
    );
    CREATE INDEX calibrations_by_patient ON calibrations (patient_id, device, id);",
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

/// Opens (creating if needed, owner-only) and migrates the database at `path`. An existing
/// database that others may read is made owner-only (0600), and stderr says so. A file that is
/// not a database, or a database with other tables than knip's, is named in the error.
pub fn open(path: &Path) -> Result<Connection, ProgressError> {
    let existed = path.exists();
    if !existed {
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
    let mut db = Connection::open(path).map_err(|cause| ProgressError::Open {
        path: path.to_path_buf(),
        cause,
    })?;
    let open_err = |cause| ProgressError::Open {
        path: path.to_path_buf(),
        cause,
    };
    db.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(open_err)?;
    migrate(&mut db, path)?;
    check_schema(&db, path)?;
    if existed {
        make_owner_only(path)?;
    }
    Ok(db)
}

/// An existing database (known now to be knip's) that others may read is made owner-only.
fn make_owner_only(path: &Path) -> Result<(), ProgressError> {
    let create_err = |source| ProgressError::Create {
        path: path.to_path_buf(),
        source,
    };
    if crate::private_file::is_shared(path).map_err(create_err)? {
        crate::private_file::restrict(path).map_err(create_err)?;
        eprintln!(
            "note: {}: the progress database could be read by other users; it is now \
             owner-only (0600)",
            path.display()
        );
    }
    Ok(())
}

/// The tables and columns (name, declared type) of a database.
fn schema_of(db: &Connection) -> rusqlite::Result<Vec<(String, String, String)>> {
    let mut st = db.prepare(
        "SELECT m.name, p.name, p.type FROM sqlite_master m, pragma_table_info(m.name) p
         WHERE m.type = 'table' ORDER BY m.name, p.cid",
    )?;
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    rows.collect()
}

/// Every table and column knip's schema has must be there with its type (more is allowed).
fn check_schema(db: &Connection, path: &Path) -> Result<(), ProgressError> {
    let not_knip = |message: String| ProgressError::NotKnip {
        path: path.to_path_buf(),
        message,
    };
    let mut want_db = Connection::open_in_memory()?;
    migrate(&mut want_db, Path::new(":memory:"))?;
    let want = schema_of(&want_db)?;
    let have = schema_of(db).map_err(|e| not_knip(e.to_string()))?;
    for (table, column, kind) in &want {
        match have.iter().find(|(t, c, _)| t == table && c == column) {
            None => return Err(not_knip(format!("table {table} has no column {column}"))),
            Some((_, _, k)) if !k.eq_ignore_ascii_case(kind) => {
                return Err(not_knip(format!(
                    "column {table}.{column} is {k}, not {kind}"
                )))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Brings the schema to [`SCHEMA_VERSION`]; returns the version found.
pub fn migrate(db: &mut Connection, path: &Path) -> Result<i64, ProgressError> {
    let found: i64 = db
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|cause| ProgressError::Open {
            path: path.to_path_buf(),
            cause,
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
            // A step that fails on the tables found (one exists already, another is
            // missing): the file holds somebody else's tables.
            tx.execute_batch(step).map_err(|e| ProgressError::NotKnip {
                path: path.to_path_buf(),
                message: format!("its tables do not match schema version {found}: {e}"),
            })?;
        }
        tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
        tx.commit()?;
    }
    Ok(found)
}

fn to_json<T: serde::Serialize>(v: &Option<T>) -> Option<String> {
    v.as_ref().and_then(|x| serde_json::to_string(x).ok())
}

/// Stores one session once: a row with the same recording key (the same recording, under any
/// name) or the same patient, start and source is replaced. An analysis of a recording already
/// stored by its guided session leaves the guided row (with its verdicts and assessments) as it
/// is. Returns the row id.
pub fn store(db: &Connection, r: &SessionRecord) -> Result<i64, ProgressError> {
    if let (Some(key), true) = (&r.recording_key, r.kind == KIND_ANALYSIS) {
        let guided: Option<i64> = db
            .query_row(
                "SELECT id FROM sessions WHERE patient_id = ?1 AND recording_key = ?2
                    AND kind = ?3",
                params![r.patient_id, key, KIND_GUIDED],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(id) = guided {
            return Ok(id);
        }
    }
    db.execute(
        "INSERT OR REPLACE INTO sessions (patient_id, started_at, protocol, duration_s,
            contractions, valid_squeezes, mean_hold_s, rest_level, device, probe, posture,
            quick_flicks, longest_hold_s, mean_peak, peak_unit, mvc, mean_pct_mvc, coactivated,
            coactivation_rate, rest_unit, strains, coughs, source, software, kind,
            recording_key, reps_done, peak_pct_mvc, glazer_json, perfect_json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
            ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30)",
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
            r.kind,
            r.recording_key,
            r.reps_done,
            r.peak_pct_mvc,
            to_json(&r.glazer),
            to_json(&r.perfect),
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
            strains, coughs, source, software, kind, recording_key, reps_done, peak_pct_mvc,
            glazer_json, perfect_json
         FROM sessions WHERE patient_id = ?1 ORDER BY started_at, id",
    )?;
    let rows = q.query_map([patient_id], |row| {
        let mut rec = SessionRecord::new(
            &row.get::<_, String>(1)?,
            DateTime::UNIX_EPOCH.fixed_offset(),
        );
        rec.protocol = row.get(3)?;
        rec.duration_s = row.get(4)?;
        rec.contractions = row.get(5)?;
        rec.valid_squeezes = row.get(6)?;
        rec.mean_hold_s = row.get(7)?;
        rec.rest_level = row.get(8)?;
        rec.device = row.get(9)?;
        rec.probe = row.get(10)?;
        rec.posture = row.get(11)?;
        rec.quick_flicks = row.get(12)?;
        rec.longest_hold_s = row.get(13)?;
        rec.mean_peak = row.get(14)?;
        rec.peak_unit = row.get(15)?;
        rec.mvc = row.get(16)?;
        rec.mean_pct_mvc = row.get(17)?;
        rec.coactivated = row.get(18)?;
        rec.coactivation_rate = row.get(19)?;
        rec.rest_unit = row.get(20)?;
        rec.strains = row.get(21)?;
        rec.coughs = row.get(22)?;
        rec.source = row.get(23)?;
        rec.software = row.get(24)?;
        rec.kind = row.get(25)?;
        rec.recording_key = row.get(26)?;
        rec.reps_done = row.get(27)?;
        rec.peak_pct_mvc = row.get(28)?;
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, String>(2)?,
            row.get::<_, Option<String>>(29)?,
            row.get::<_, Option<String>>(30)?,
            rec,
        ))
    })?;
    let mut out = Vec::new();
    for r in rows {
        let (id, text, glazer, perfect, mut rec) = r?;
        rec.started_at =
            DateTime::parse_from_rfc3339(&text).map_err(|_| ProgressError::BadTime { id, text })?;
        let bad = |what: &'static str| {
            move |e: serde_json::Error| ProgressError::BadJson {
                table: "sessions",
                id,
                what,
                message: e.to_string(),
            }
        };
        rec.glazer = glazer
            .map(|g| serde_json::from_str(&g))
            .transpose()
            .map_err(bad("the Glazer table"))?;
        rec.perfect = perfect
            .map(|p| serde_json::from_str(&p))
            .transpose()
            .map_err(bad("PERFECT"))?;
        out.push(rec);
    }
    // Text order is time order only within one UTC offset: sort by the instant.
    out.sort_by_key(|r| r.started_at);
    Ok(out)
}

/// "n of 30 today": valid holds stored for `patient_id` in sessions that started on `day`, the
/// calendar day at `utc_offset` (the patient's local day).
pub fn valid_holds_on(
    db: &Connection,
    patient_id: &str,
    day: NaiveDate,
    utc_offset: FixedOffset,
) -> Result<u32, ProgressError> {
    Ok(sessions(db, patient_id)?
        .iter()
        .filter(|s| s.started_at.with_timezone(&utc_offset).date_naive() == day)
        .map(|s| s.valid_squeezes)
        .sum())
}

/// Saves a calibration for a patient and device (the newest is offered next time). Returns the
/// row id.
pub fn save_calibration(
    db: &Connection,
    patient_id: &str,
    device: &str,
    cal: &Calibration,
) -> Result<i64, ProgressError> {
    let json = serde_json::to_string(cal).map_err(|e| ProgressError::BadJson {
        table: "calibrations",
        id: 0,
        what: "the calibration",
        message: e.to_string(),
    })?;
    db.execute(
        "INSERT INTO calibrations (patient_id, device, saved_at, calibration_json)
         VALUES (?1, ?2, ?3, ?4)",
        params![
            patient_id,
            device,
            chrono::Local::now().fixed_offset().to_rfc3339(),
            json
        ],
    )?;
    Ok(db.last_insert_rowid())
}

/// The newest calibration saved for a patient and device, with when it was saved.
pub fn latest_calibration(
    db: &Connection,
    patient_id: &str,
    device: &str,
) -> Result<Option<(Calibration, DateTime<FixedOffset>)>, ProgressError> {
    let row: Option<(i64, String, String)> = db
        .query_row(
            "SELECT id, saved_at, calibration_json FROM calibrations
             WHERE patient_id = ?1 AND device = ?2 ORDER BY id DESC LIMIT 1",
            params![patient_id, device],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((id, saved, json)) = row else {
        return Ok(None);
    };
    let when = DateTime::parse_from_rfc3339(&saved)
        .map_err(|_| ProgressError::BadTime { id, text: saved })?;
    let mut cal: Calibration = serde_json::from_str(&json).map_err(|e| ProgressError::BadJson {
        table: "calibrations",
        id,
        what: "the calibration",
        message: e.to_string(),
    })?;
    cal.source = format!("saved {}", when.to_rfc3339());
    Ok(Some((cal, when)))
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
