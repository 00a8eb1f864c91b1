//! Each patient's progress over the months the programme lasts: every session's scores in an
//! embedded SQLite database (no server, nothing to install), keyed by a pseudonymous patient id,
//! and `knip progress` turning them into `progress.csv` and `progress.png`.
//!
//! For the session code: when a guided session ends, build its record with
//! [`SessionRecord::from_session`] (keyed by [`recording_key`] of its recording) and [`store`]
//! it; "n of 30 today" is [`valid_holds_on`]; a calibration is kept with [`save_calibration`]
//! and offered next time by [`latest_calibration`]. An analysed recording is stored with
//! [`SessionRecord::from_analysis`] from the analysis's in-memory scores. Each recording is
//! stored once, whatever its file name.
//!
//! ```no_run
//! # fn main() -> Result<(), knip::progress::ProgressError> {
//! use knip::progress::{self, SessionRecord};
//! let db = progress::open(&progress::default_db_path()?)?;
//! let now = chrono::Local::now().fixed_offset();
//! let mut rec = SessionRecord::new("P-0042", now);
//! rec.protocol = Some("strength".into());
//! rec.valid_squeezes = 12;
//! progress::store(&db, &rec)?;
//! let today = progress::valid_holds_on(&db, "P-0042", now.date_naive(), *now.offset())?;
//! # let _ = today;
//! # Ok(()) }
//! ```

pub mod daily;
pub mod db;
pub mod fill;
pub mod plot;
pub mod record;

pub use daily::{daily_rows, DayRow};
pub use db::{
    default_db_path, latest_calibration, open, patients, save_calibration, sessions, store,
    valid_holds_on, ProgressError, SCHEMA_VERSION,
};
pub use record::{recording_key, KIND_ANALYSIS, KIND_GUIDED};

use crate::error::OutputError;
use std::path::{Path, PathBuf};

/// What `knip progress` wrote.
#[derive(Debug)]
pub struct ProgressReport {
    pub days: Vec<DayRow>,
    pub sessions: usize,
    pub files: Vec<PathBuf>,
}

/// `knip progress --patient ID --out DIR`: `progress.csv` and `progress.png` for one patient.
pub fn write_report(
    db: &rusqlite::Connection,
    patient_id: &str,
    out_dir: &Path,
) -> Result<ProgressReport, ProgressError> {
    let sessions = sessions(db, patient_id)?;
    if sessions.is_empty() {
        return Err(ProgressError::NoSessions(patient_id.to_string()));
    }
    let days = daily_rows(&sessions);
    crate::private_file::create_dir(out_dir).map_err(|e| OutputError::write(out_dir, e))?;
    let csv = out_dir.join("progress.csv");
    daily::write_progress_csv(&csv, &days)?;
    let png = out_dir.join("progress.png");
    plot::write_progress_png(
        &png,
        &plot::ProgressPlot {
            patient_id,
            days: &days,
        },
    )?;
    crate::private_file::restrict(&png).map_err(|e| OutputError::write(&png, e))?;
    Ok(ProgressReport {
        days,
        sessions: sessions.len(),
        files: vec![csv, png],
    })
}
pub use record::SessionRecord;
