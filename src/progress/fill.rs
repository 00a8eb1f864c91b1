//! `knip progress-fill`: a database filled with simulated days of training, to try `knip
//! progress` and to test it. Every session is a simulated session analysed by the real pipeline
//! (the same scores a recording would give), so the figures are the detector's, not invented.
//!
//! The simulated patient's course (all drawn from `seed`):
//! - days 1–10 identification sessions (step 1b), then strength sessions (step 2);
//! - a training day has 1–3 sessions (more likely later); weekends are skipped more often
//!   (25 % vs 8 %), and a four-day break (days 38–41) breaks the streak;
//! - strength improves: each strength session is the simulator seed whose `reps_to_failure`
//!   is nearest a target rising from 8 to 24 reps over the period (± 2 reps of day-to-day noise);
//! - MVC for %MVC is the simulated patient's maximal activity at rep 1 (its `pfm_level_uv`,
//!   combined with its rest floor as the envelope sees it).
//!
//! Note the simulator draws a whole new patient per seed, so rest level and co-activation vary
//! from session to session more than one real patient's would.

use crate::config::AnalysisConfig;
use crate::pipeline::{self, Pace};
use crate::progress::db::{store, ProgressError};
use crate::progress::record::SessionRecord;
use crate::score::{ScoringConfig, ScoringSink};
use crate::session::calibrate::{Calibration, ChannelCalibration};
use crate::simulate::rng::Rng;
use crate::simulate::{SimConfig, SimulatedPatient};
use chrono::{Datelike, Duration, FixedOffset, NaiveDate, TimeZone, Weekday};
use rusqlite::Connection;

/// Seeds searched for a strength session with the wanted number of reps.
const SEED_POOL: u64 = 300;
/// Days of identification training before the strength sessions start.
const IDENTIFICATION_DAYS: i64 = 10;
const BREAK_DAYS: std::ops::RangeInclusive<i64> = 38..=41;
const POSTURES: [&str; 3] = ["lying", "sitting", "standing"];

#[derive(Debug, Clone)]
pub struct FillOptions {
    pub patient_id: String,
    pub days: u32,
    pub seed: u64,
    pub first_day: NaiveDate,
    /// The patient's UTC offset, minutes (decides the calendar day of a session).
    pub utc_offset_min: i32,
    /// EMG rate of the simulated sessions, Hz (pressure at 100 Hz).
    pub emg_rate_hz: f64,
    /// Sessions simulated and analysed at once.
    pub jobs: usize,
}

/// A session the simulated patient does.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedSession {
    pub day: i64,
    pub started_at: chrono::DateTime<FixedOffset>,
    pub protocol: &'static str,
    pub sim_seed: u64,
    pub posture: &'static str,
}

#[derive(Debug)]
pub struct FillOutcome {
    pub sessions: usize,
    pub days_trained: usize,
    pub wall_s: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum FillError {
    #[error(transparent)]
    Db(#[from] ProgressError),
    #[error("simulating session {day}/{seed}: {message}")]
    Session {
        day: i64,
        seed: u64,
        message: String,
    },
    #[error("bad option: {0}")]
    Options(String),
}

/// The sessions of the simulated course (deterministic in `opts.seed`).
pub fn plan(opts: &FillOptions) -> Result<Vec<PlannedSession>, FillError> {
    let offset = FixedOffset::east_opt(opts.utc_offset_min * 60).ok_or_else(|| {
        FillError::Options(format!(
            "UTC offset {} min is out of range",
            opts.utc_offset_min
        ))
    })?;
    let mut pool: Vec<(u64, u32)> = Vec::new();
    for seed in 1..=SEED_POOL {
        let sim = SimConfig {
            protocol: "strength".into(),
            seed,
            roles: vec![crate::frame::Role::Pressure],
            ..SimConfig::default()
        };
        if let Ok(p) = SimulatedPatient::new(&sim) {
            pool.push((seed, p.params().reps_to_failure));
        }
    }
    let mut rng = Rng::seed_from(opts.seed);
    let mut out = Vec::new();
    let days = opts.days.max(1) as i64;
    for d in 0..days {
        let date = opts.first_day + Duration::days(d);
        let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
        let skip_p = if weekend { 0.25 } else { 0.08 };
        if BREAK_DAYS.contains(&d) || rng.chance(skip_p) {
            continue;
        }
        let progress = d as f64 / days as f64;
        let n = 1 + u32::from(rng.chance(0.7)) + u32::from(rng.chance(0.3 + 0.4 * progress));
        for k in 0..n {
            let hour = [8.0, 13.0, 20.0][k as usize] + rng.range(-0.75, 0.75);
            let naive = date
                .and_hms_opt(0, 0, 0)
                .map(|t| t + Duration::seconds((hour * 3600.0) as i64));
            let Some(started_at) = naive.and_then(|t| offset.from_local_datetime(&t).single())
            else {
                continue;
            };
            let (protocol, sim_seed) = if d < IDENTIFICATION_DAYS {
                ("identify", 1 + rng.next_u64() % SEED_POOL)
            } else {
                let target = (8.0 + 16.0 * progress + rng.range(-2.0, 2.0)).clamp(8.0, 30.0);
                let best = pool
                    .iter()
                    .map(|&(s, reps)| ((reps as f64 - target).abs(), s))
                    .fold(f64::INFINITY, |a, b| a.min(b.0));
                let near: Vec<u64> = pool
                    .iter()
                    .filter(|&&(_, reps)| (reps as f64 - target).abs() <= best + 0.5)
                    .map(|&(s, _)| s)
                    .collect();
                let pick = near
                    .get(rng.next_u64() as usize % near.len().max(1))
                    .copied()
                    .unwrap_or(1);
                ("strength", pick)
            };
            out.push(PlannedSession {
                day: d + 1,
                started_at,
                protocol,
                sim_seed,
                posture: POSTURES[(k as usize + d as usize) % POSTURES.len()],
            });
        }
    }
    Ok(out)
}

/// Simulates and analyses one planned session.
pub fn run_session(
    p: &PlannedSession,
    opts: &FillOptions,
    cfg: &AnalysisConfig,
) -> Result<SessionRecord, FillError> {
    let fail = |message: String| FillError::Session {
        day: p.day,
        seed: p.sim_seed,
        message,
    };
    let sim = SimConfig {
        protocol: p.protocol.to_string(),
        seed: p.sim_seed,
        emg_rate_hz: opts.emg_rate_hz,
        ..SimConfig::default()
    };
    let patient = SimulatedPatient::new(&sim).map_err(|e| fail(e.to_string()))?;
    let params = patient.params().clone();
    let scoring = ScoringSink::new(&ScoringConfig::default());
    let scores = scoring.handle();
    pipeline::run(
        Box::new(patient),
        cfg,
        vec![Box::new(scoring)],
        Pace::Offline,
    )
    .map_err(|e| fail(e.to_string()))?;
    let scores = scores
        .lock()
        .ok()
        .and_then(|mut s| s.take())
        .ok_or_else(|| fail("no scores".into()))?;
    let mut rec = SessionRecord::new(&opts.patient_id, p.started_at);
    rec.protocol = Some(p.protocol.to_string());
    rec.device = Some("simulator".into());
    rec.probe = Some("simulated pelvic EMG + abdominal EMG + pressure probe".into());
    rec.posture = Some(p.posture.to_string());
    rec.source = format!("simulator {} seed {}", p.protocol, p.sim_seed);
    let mvc_envelope_uv = params.pfm_level_uv.hypot(params.pfm_rest_floor_uv);
    let cal = Calibration {
        channels: vec![ChannelCalibration {
            role: crate::frame::Role::PfmEmg,
            unit: "uV".into(),
            rest_mean: 0.0,
            rest_sd: 0.0,
            mvc: mvc_envelope_uv,
        }],
        source: "simulated patient".into(),
    };
    rec.fill_from_scores(&scores, Some(&cal));
    Ok(rec)
}

/// Fills `db` with the simulated course; sessions are simulated on `opts.jobs` threads and
/// stored in one transaction.
pub fn fill(db: &mut Connection, opts: &FillOptions) -> Result<FillOutcome, FillError> {
    let started = std::time::Instant::now();
    let planned = plan(opts)?;
    let cfg = AnalysisConfig::default();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(p) = planned.get(i) else { break };
                let r = run_session(p, opts, &cfg);
                if let Ok(mut v) = results.lock() {
                    v.push((i, r));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|(i, _)| *i);
    let tx = db.transaction().map_err(ProgressError::from)?;
    for (_, r) in results {
        store(&tx, &r?)?;
    }
    tx.commit().map_err(ProgressError::from)?;
    let mut days: Vec<i64> = planned.iter().map(|p| p.day).collect();
    days.dedup();
    Ok(FillOutcome {
        sessions: planned.len(),
        days_trained: days.len(),
        wall_s: started.elapsed().as_secs_f64(),
    })
}
