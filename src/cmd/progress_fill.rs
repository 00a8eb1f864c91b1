//! `knip progress-fill`: simulated days of training in a progress database, to try
//! `knip progress`.

use crate::cli::{ProgressFillArgs, UsageError};

pub fn run(a: ProgressFillArgs) -> anyhow::Result<()> {
    let ProgressFillArgs {
        patient,
        days,
        seed,
        first_day,
        utc_offset_min,
        emg_rate,
        jobs,
        db,
    } = a;
    let first_day = match first_day {
        Some(s) => chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d")
            .map_err(|e| UsageError(format!("--first-day {s}: use YYYY-MM-DD ({e})")))?,
        None => chrono::Utc::now().date_naive() - chrono::Duration::days(days as i64),
    };
    let path = super::db_path(db)?;
    let jobs = jobs.unwrap_or_else(super::all_cores);
    let mut conn = knip::progress::open(&path)?;
    let o = knip::progress::fill::fill(
        &mut conn,
        &knip::progress::fill::FillOptions {
            patient_id: patient.clone(),
            days,
            seed,
            first_day,
            utc_offset_min,
            emg_rate_hz: emg_rate,
            jobs,
        },
    )?;
    println!(
        "{}: {} simulated sessions on {} of {days} days for patient {patient} ({:.1} s)",
        path.display(),
        o.sessions,
        o.days_trained,
        o.wall_s
    );
    Ok(())
}
