//! Sessions → one row per calendar day (`progress.csv`), days without training included.

use crate::progress::record::SessionRecord;
use chrono::NaiveDate;
use std::io::Write;
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

pub const PROGRESS_HEADER: &str =
    "date,day,week,sessions,contractions,valid_squeezes,goal,goal_met,\
quick_flicks,streak_days,mean_hold_s,longest_hold_s,mean_pct_mvc,coactivation_pct,rest_level,\
rest_unit,strains,coughs";

/// Writes `progress.csv`.
pub fn write_progress_csv(path: &Path, rows: &[DayRow]) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::new(crate::private_file::create(path)?);
    writeln!(w, "{PROGRESS_HEADER}")?;
    for r in rows {
        writeln!(
            w,
            "{},{},{},{},{},{},{DAILY_SQUEEZE_GOAL},{},{},{},{},{},{},{},{},{},{},{}",
            r.date,
            r.day,
            r.week,
            r.sessions,
            r.contractions,
            r.valid_squeezes,
            u8::from(r.goal_met),
            r.quick_flicks,
            r.streak_days,
            opt(r.mean_hold_s, 2),
            opt(r.longest_hold_s, 2),
            opt(r.mean_pct_mvc, 1),
            opt(r.coactivation_pct, 1),
            opt(r.rest_level, 2),
            r.rest_unit.as_deref().unwrap_or(""),
            r.strains,
            r.coughs
        )?;
    }
    w.flush()
}
