//! Sessions → one row per calendar day (`progress.csv`), days without training included.

use crate::progress::record::{SessionRecord, KIND_GUIDED};
use crate::session::glazer::GlazerRow;
use crate::session::perfect::Perfect;
use chrono::NaiveDate;
use std::path::Path;

/// The programme's daily goal of valid squeezes (DOMAIN.md §1, strength step).
pub const DAILY_SQUEEZE_GOAL: u32 = 30;
/// Sessions a day the Tät programme asks for (DOMAIN.md §1).
pub const DAILY_SESSION_GOAL: u32 = 3;
/// Maintenance: train every day for six months (DOMAIN.md §1), in days from the first session.
pub const MAINTENANCE_HORIZON_DAYS: i64 = 182;

/// One calendar day of a patient (the day in the session's own UTC offset).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DayRow {
    pub date: NaiveDate,
    /// 1-based day and week since the first session.
    pub day: i64,
    pub week: i64,
    pub sessions: u32,
    pub contractions: u32,
    pub valid_squeezes: u32,
    pub quick_flicks: u32,
    pub goal_met: bool,
    /// Consecutive days with at least one session, up to and including this one.
    pub streak_days: u32,
    /// Contraction-weighted mean hold, seconds.
    pub mean_hold_s: Option<f64>,
    pub longest_hold_s: Option<f64>,
    /// Mean of the sessions' %MVC (sessions with a calibration only).
    pub mean_pct_mvc: Option<f64>,
    /// Co-activated / contractions over the day, percent.
    pub coactivation_pct: Option<f64>,
    pub rest_level: Option<f64>,
    pub rest_unit: Option<String>,
    pub strains: u32,
    pub coughs: u32,
    /// Guided sessions (`knip session`) among `sessions`.
    pub guided_sessions: u32,
    /// Mean of the sessions' peak %MVC (calibrated sessions only).
    pub peak_pct_mvc: Option<f64>,
    /// The day's last PERFECT assessment.
    pub perfect: Option<Perfect>,
    /// The day's last Glazer assessment: the headline values of its table.
    pub glazer: Option<GlazerValues>,
}

/// Headline values of a Glazer table, in the scoring channel's unit.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GlazerValues {
    pub pre_rest_mean: Option<f64>,
    pub flicks_peak: Option<f64>,
    pub tonic_mean: Option<f64>,
    pub endurance_mean: Option<f64>,
    pub post_rest_mean: Option<f64>,
}

impl GlazerValues {
    pub fn from_table(rows: &[GlazerRow]) -> GlazerValues {
        let find = |name: &str| rows.iter().find(|r| r.phase == name);
        GlazerValues {
            pre_rest_mean: find("pre-rest").and_then(|r| r.mean),
            flicks_peak: find("flicks").and_then(|r| r.peak),
            tonic_mean: find("tonic").and_then(|r| r.mean),
            endurance_mean: find("endurance").and_then(|r| r.mean),
            post_rest_mean: find("post-rest").and_then(|r| r.mean),
        }
    }
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Day rows from the first session's day to the last one's (sessions in any order).
pub fn daily_rows(sessions: &[SessionRecord]) -> Vec<DayRow> {
    let Some(first) = sessions.iter().map(|s| s.started_at.date_naive()).min() else {
        return Vec::new();
    };
    let last = sessions
        .iter()
        .map(|s| s.started_at.date_naive())
        .max()
        .unwrap_or(first);
    let mut rows = Vec::new();
    let mut streak = 0u32;
    let mut date = first;
    while date <= last {
        let day: Vec<&SessionRecord> = sessions
            .iter()
            .filter(|s| s.started_at.date_naive() == date)
            .collect();
        let n = (date - first).num_days();
        let sum = |f: fn(&SessionRecord) -> u32| day.iter().map(|s| f(s)).sum::<u32>();
        let contractions = sum(|s| s.contractions);
        let valid = sum(|s| s.valid_squeezes);
        streak = if day.is_empty() { 0 } else { streak + 1 };
        let weighted_hold: Vec<(f64, f64)> = day
            .iter()
            .filter_map(|s| s.mean_hold_s.map(|h| (h, s.contractions as f64)))
            .collect();
        let w: f64 = weighted_hold.iter().map(|x| x.1).sum();
        let coact: Vec<(u32, u32)> = day
            .iter()
            .filter_map(|s| s.coactivated.map(|c| (c, s.contractions)))
            .collect();
        let coact_n: u32 = coact.iter().map(|c| c.1).sum();
        rows.push(DayRow {
            date,
            day: n + 1,
            week: n / 7 + 1,
            sessions: day.len() as u32,
            contractions,
            valid_squeezes: valid,
            quick_flicks: sum(|s| s.quick_flicks),
            goal_met: valid >= DAILY_SQUEEZE_GOAL,
            streak_days: streak,
            mean_hold_s: (w > 0.0)
                .then(|| weighted_hold.iter().map(|x| x.0 * x.1).sum::<f64>() / w),
            longest_hold_s: day.iter().filter_map(|s| s.longest_hold_s).reduce(f64::max),
            mean_pct_mvc: mean(
                &day.iter()
                    .filter_map(|s| s.mean_pct_mvc)
                    .collect::<Vec<_>>(),
            ),
            coactivation_pct: (coact_n > 0)
                .then(|| 100.0 * coact.iter().map(|c| c.0).sum::<u32>() as f64 / coact_n as f64),
            rest_level: mean(&day.iter().filter_map(|s| s.rest_level).collect::<Vec<_>>()),
            rest_unit: day.iter().find_map(|s| s.rest_unit.clone()),
            strains: sum(|s| s.strains),
            coughs: sum(|s| s.coughs),
            guided_sessions: day.iter().filter(|s| s.kind == KIND_GUIDED).count() as u32,
            peak_pct_mvc: mean(
                &day.iter()
                    .filter_map(|s| s.peak_pct_mvc)
                    .collect::<Vec<_>>(),
            ),
            perfect: day.iter().rev().find_map(|s| s.perfect.clone()),
            glazer: day
                .iter()
                .rev()
                .find_map(|s| s.glazer.as_deref().map(GlazerValues::from_table)),
        });
        match date.succ_opt() {
            Some(d) => date = d,
            None => break,
        }
    }
    rows
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}")).unwrap_or_default()
}

/// Columns of `progress.csv`.
pub const PROGRESS_COLUMNS: [&str; 31] = [
    "date",
    "day",
    "week",
    "sessions",
    "contractions",
    "valid_squeezes",
    "goal",
    "goal_met",
    "quick_flicks",
    "streak_days",
    "mean_hold_s",
    "longest_hold_s",
    "mean_pct_mvc",
    "coactivation_pct",
    "rest_level",
    "rest_unit",
    "strains",
    "coughs",
    "guided_sessions",
    "peak_pct_mvc",
    "perfect_power",
    "perfect_endurance_s",
    "perfect_repetitions",
    "perfect_fast",
    "perfect_peak_rise_cmh2o",
    "glazer_pre_rest_mean",
    "glazer_flicks_peak",
    "glazer_tonic_mean",
    "glazer_endurance_mean",
    "glazer_post_rest_mean",
    "assessments",
];

/// Writes `progress.csv` (owner-only).
pub fn write_progress_csv(path: &Path, rows: &[DayRow]) -> Result<(), crate::error::OutputError> {
    let file =
        crate::private_file::create(path).map_err(|e| crate::error::OutputError::write(path, e))?;
    let mut w = csv::Writer::from_writer(std::io::BufWriter::new(file));
    let err = crate::sink::report::csv_error(path);
    w.write_record(PROGRESS_COLUMNS).map_err(&err)?;
    let n = |v: Option<u32>| v.map(|x| x.to_string()).unwrap_or_default();
    for r in rows {
        let p = r.perfect.as_ref();
        let g = r.glazer.as_ref();
        let assessments = [p.map(|_| "perfect"), g.map(|_| "glazer")]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        w.write_record([
            r.date.to_string(),
            r.day.to_string(),
            r.week.to_string(),
            r.sessions.to_string(),
            r.contractions.to_string(),
            r.valid_squeezes.to_string(),
            DAILY_SQUEEZE_GOAL.to_string(),
            u8::from(r.goal_met).to_string(),
            r.quick_flicks.to_string(),
            r.streak_days.to_string(),
            opt(r.mean_hold_s, 2),
            opt(r.longest_hold_s, 2),
            opt(r.mean_pct_mvc, 1),
            opt(r.coactivation_pct, 1),
            opt(r.rest_level, 2),
            r.rest_unit.clone().unwrap_or_default(),
            r.strains.to_string(),
            r.coughs.to_string(),
            r.guided_sessions.to_string(),
            opt(r.peak_pct_mvc, 1),
            n(p.and_then(|p| p.power.map(u32::from))),
            opt(p.and_then(|p| p.endurance_s), 1),
            n(p.and_then(|p| p.repetitions)),
            n(p.and_then(|p| p.fast)),
            opt(p.and_then(|p| p.peak_rise_cmh2o), 1),
            opt(g.and_then(|g| g.pre_rest_mean), 2),
            opt(g.and_then(|g| g.flicks_peak), 2),
            opt(g.and_then(|g| g.tonic_mean), 2),
            opt(g.and_then(|g| g.endurance_mean), 2),
            opt(g.and_then(|g| g.post_rest_mean), 2),
            assessments,
        ])
        .map_err(&err)?;
    }
    w.flush()
        .map_err(|e| crate::error::OutputError::write(path, e))
}
