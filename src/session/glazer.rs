//! The Glazer sEMG assessment table (DOMAIN.md §2): per phase mean amplitude, variability (CV),
//! peak, time before and after peak, median frequency, next to the published normal values.
//! Rise/recovery times and median frequency are research metrics (poor day-to-day reliability).

use super::protocol::PhaseKind;
use super::run::SessionResult;
use crate::session::calibrate::mean_sd;

/// Normal values, 96 healthy nulliparous women, endovaginal probe [Oleksy 2020, Medicine
/// 99:e19060]: mean ± SD of the mean amplitude, µV. Do not compare across devices.
pub const OLEKSY_2020_UV: [(&str, f64, f64); 5] = [
    ("pre-rest", 6.26, 3.33),
    ("flicks", 49.76, 26.44),
    ("tonic", 37.05, 25.99),
    ("endurance", 16.10, 6.68),
    ("post-rest", 6.93, 3.99),
];

/// Healthy medians in %MVC with another probe [Med Sci Monit 2025;31:e950086].
pub const MSM_2025_PCT_MVC: [(&str, f64); 3] =
    [("pre-rest", 22.0), ("flicks", 58.0), ("tonic", 62.0)];

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GlazerRow {
    pub phase: String,
    pub mean: Option<f64>,
    pub cv_pct: Option<f64>,
    pub peak: Option<f64>,
    pub mean_pct_mvc: Option<f64>,
    pub time_before_peak_s: Option<f64>,
    pub time_after_peak_s: Option<f64>,
    pub median_hz: Option<f64>,
    pub median_slope_hz_per_s: Option<f64>,
    /// Normal mean ± SD, µV.
    pub normal_uv: Option<(f64, f64)>,
    pub normal_pct_mvc: Option<f64>,
}

fn avg(v: impl Iterator<Item = f64>) -> Option<f64> {
    let v: Vec<f64> = v.collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// The table, one row per phase of a Glazer protocol (rows for phases the session reached).
/// The Glazer table when the session was a Glazer assessment (protocol `glazer`), else `None`:
/// the one rule the session report and the progress database share.
pub fn assessed(r: &SessionResult) -> Option<Vec<GlazerRow>> {
    (r.protocol.name == "glazer").then(|| glazer_table(r))
}

pub fn glazer_table(r: &SessionResult) -> Vec<GlazerRow> {
    let Some(ch) = r.scoring_channel else {
        return Vec::new();
    };
    let role = r.spec.as_ref().map(|s| s.channels[ch].role);
    let cal = role.and_then(|ro| r.calibration.as_ref().and_then(|c| c.channel(ro)));
    let mut rows = Vec::new();
    for (pi, ph) in r.phases.iter().enumerate() {
        let reps: Vec<_> = r.reps.iter().filter(|x| x.phase == pi).collect();
        if reps.is_empty() || matches!(ph.kind, PhaseKind::Mvc) || ph.name == "baseline" {
            continue;
        }
        // Work segments, first second skipped (flicks are too short to skip).
        let skip = if ph.kind == PhaseKind::Flick {
            0.0
        } else {
            1.0
        };
        let mut vals = Vec::new();
        for x in &reps {
            let end = x.cue_s
                + ph.work_s
                + if ph.kind == PhaseKind::Flick {
                    1.0
                } else {
                    0.0
                };
            vals.extend_from_slice(r.history[ch].slice(x.cue_s + skip, end));
        }
        let ms = mean_sd(&vals);
        let peak = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let contraction = ph.kind != PhaseKind::Rest;
        rows.push(GlazerRow {
            phase: ph.name.clone(),
            mean: ms.map(|m| m.0),
            cv_pct: ms.filter(|m| m.0 > 0.0).map(|m| 100.0 * m.1 / m.0),
            peak: peak.is_finite().then_some(peak),
            mean_pct_mvc: cal.zip(ms).map(|(c, m)| c.pct_mvc(m.0)),
            time_before_peak_s: contraction
                .then(|| avg(reps.iter().filter_map(|x| x.rise_s)))
                .flatten(),
            time_after_peak_s: contraction
                .then(|| avg(reps.iter().filter_map(|x| x.release_s)))
                .flatten(),
            median_hz: avg(reps.iter().filter_map(|x| x.median_hz)),
            median_slope_hz_per_s: avg(reps.iter().filter_map(|x| x.median_slope_hz_per_s)),
            normal_uv: OLEKSY_2020_UV
                .iter()
                .find(|n| n.0 == ph.name)
                .map(|n| (n.1, n.2)),
            normal_pct_mvc: MSM_2025_PCT_MVC
                .iter()
                .find(|n| n.0 == ph.name)
                .map(|n| n.1),
        });
    }
    rows
}
