//! Per-repetition scores of a guided session. The thresholds and the rules behind the verdicts
//! live in [`crate::score`] (re-exported here).

use serde::{Deserialize, Serialize};

pub use crate::score::config::{CoactFlag, ScoringConfig, ScoringError};

/// Outcome of one repetition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    /// Rest phases and calibration: measured, not judged.
    Info,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Info => "info",
        }
    }
}

/// Why a repetition failed (or `ok`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Ok,
    Short,
    Weak,
    Missing,
    Strain,
    NoRest,
    LateSqueeze,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Ok => "ok",
            Reason::Short => "short",
            Reason::Weak => "weak",
            Reason::Missing => "missing",
            Reason::Strain => "strain",
            Reason::NoRest => "no_rest",
            Reason::LateSqueeze => "late_squeeze",
        }
    }

    /// Reasons that mean "no more squeezes can be done": they end an `until_failure` set.
    /// A strain or a slow release is corrected, not counted as fatigue.
    pub fn ends_set(self) -> bool {
        matches!(self, Reason::Short | Reason::Weak | Reason::Missing)
    }
}

/// Every score of one repetition: a row of `reps.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct RepScore {
    pub phase: usize,
    pub phase_name: String,
    pub kind: String,
    pub rep: u32,
    pub cue_s: f64,
    pub target_s: f64,
    pub onset_s: Option<f64>,
    pub cue_to_onset_s: Option<f64>,
    pub offset_s: Option<f64>,
    /// Rise-to-release span above half the way from rest to peak, seconds.
    pub hold_s: Option<f64>,
    pub peak: Option<f64>,
    pub peak_pct_mvc: Option<f64>,
    pub mean_pct_mvc: Option<f64>,
    /// Over the hold, first second skipped.
    pub cv_pct: Option<f64>,
    /// Onset → peak, seconds.
    pub rise_s: Option<f64>,
    /// Peak → back to rest, seconds.
    pub release_s: Option<f64>,
    pub returned_to_rest: Option<bool>,
    pub abd_index: Option<f64>,
    pub abd_lead_ms: Option<f64>,
    pub coact_flag: Option<CoactFlag>,
    pub strain: bool,
    pub cough_onset_s: Option<f64>,
    /// Cough onset − squeeze onset (positive: squeezed first).
    pub knack_lead_s: Option<f64>,
    pub median_hz: Option<f64>,
    /// Within the hold, Hz per second (long holds).
    pub median_slope_hz_per_s: Option<f64>,
    /// Seconds above the target band's lower edge (endurance).
    pub above_band_s: Option<f64>,
    /// Rest phases: mean level and CV over the rest, first second skipped.
    pub rest_mean: Option<f64>,
    pub rest_cv_pct: Option<f64>,
    pub verdict: Option<Verdict>,
    pub reason: Option<Reason>,
    /// Rest phases: a contraction began during the rest.
    pub rest_busy: bool,
}

impl RepScore {
    pub fn passed(&self) -> bool {
        self.verdict == Some(Verdict::Pass)
    }
    pub fn flagged(&self) -> bool {
        matches!(self.coact_flag, Some(CoactFlag::Amber | CoactFlag::Red))
    }
}

/// Rounded seconds for the patient: "5.2 s".
pub fn secs(s: f64) -> String {
    format!("{s:.1} s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_fatigue_reasons_end_a_set() {
        assert!(Reason::Short.ends_set());
        assert!(Reason::Weak.ends_set());
        assert!(!Reason::Strain.ends_set());
        assert!(!Reason::NoRest.ends_set());
    }
}
