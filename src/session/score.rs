//! Per-repetition and per-session scores, and the engineering thresholds behind the verdicts.
//!
//! Every threshold here is an engineering default (DOMAIN.md marks them *(eng)*): configurable,
//! and reports label them "not validated".

use serde::{Deserialize, Serialize};

/// Scoring thresholds. All engineering defaults, **not validated**.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoringConfig {
    /// A hold passes when it lasts at least the target minus this, seconds.
    pub hold_tolerance_s: f64,
    /// Strength set: a rep whose peak is below this fraction of rep 1's peak fails (DOMAIN ~50 %).
    pub fail_peak_rel: f64,
    /// Co-activation index (ABD − μ₀)/σ₀ below this is green.
    pub coact_amber_index: f64,
    /// Index at or above this is red.
    pub coact_red_index: f64,
    /// Abdominal onset this many ms or more before the pelvic onset is red.
    pub coact_abd_lead_red_ms: f64,
    /// Knack: the squeeze must start at least this long before the cough, seconds.
    pub knack_min_lead_s: f64,
    /// Knack without a cough event: a pressure jump of at least this inside the squeeze, cmH2O.
    pub cough_min_jump_cmh2o: f64,
    /// PERFECT E: the hold ends when the level falls below this fraction of its peak.
    pub perfect_fall_rel: f64,
    /// Live abdominal warning: abdominal envelope above μ₀ + k·σ₀.
    pub abd_warning_k: f64,
}

impl Default for ScoringConfig {
    fn default() -> Self {
        ScoringConfig {
            hold_tolerance_s: 0.25,
            fail_peak_rel: 0.5,
            coact_amber_index: 3.0,
            coact_red_index: 10.0,
            coact_abd_lead_red_ms: 50.0,
            knack_min_lead_s: 0.1,
            cough_min_jump_cmh2o: 15.0,
            perfect_fall_rel: 0.5,
            abd_warning_k: 3.0,
        }
    }
}

impl ScoringConfig {
    /// Thresholds from a TOML file; fields left out keep their defaults.
    pub fn from_toml_file(path: &std::path::Path) -> Result<ScoringConfig, ScoringError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScoringError {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        toml::from_str(&text).map_err(|e| ScoringError {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }
}

/// A scoring file could not be used.
#[derive(Debug, thiserror::Error)]
#[error("scoring thresholds {path}: {message}")]
pub struct ScoringError {
    pub path: String,
    pub message: String,
}

/// Abdominal co-activation flag of one repetition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoactFlag {
    Green,
    Amber,
    Red,
}

impl CoactFlag {
    pub fn as_str(self) -> &'static str {
        match self {
            CoactFlag::Green => "green",
            CoactFlag::Amber => "amber",
            CoactFlag::Red => "red",
        }
    }

    /// From the index and how far the abdomen led the pelvic floor (positive = abdomen first).
    pub fn classify(index: f64, abd_lead_ms: Option<f64>, cfg: &ScoringConfig) -> CoactFlag {
        let led = abd_lead_ms.is_some_and(|l| l >= cfg.coact_abd_lead_red_ms);
        if index >= cfg.coact_red_index || (led && index >= cfg.coact_amber_index) {
            CoactFlag::Red
        } else if index >= cfg.coact_amber_index {
            CoactFlag::Amber
        } else {
            CoactFlag::Green
        }
    }
}

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
    /// Short words for the patient.
    pub message: String,
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
    fn coactivation_flags_follow_the_thresholds() {
        let c = ScoringConfig::default();
        assert_eq!(CoactFlag::classify(1.0, None, &c), CoactFlag::Green);
        assert_eq!(CoactFlag::classify(4.0, None, &c), CoactFlag::Amber);
        assert_eq!(CoactFlag::classify(4.0, Some(80.0), &c), CoactFlag::Red);
        assert_eq!(CoactFlag::classify(1.0, Some(80.0), &c), CoactFlag::Green);
        assert_eq!(CoactFlag::classify(12.0, Some(-20.0), &c), CoactFlag::Red);
    }

    #[test]
    fn only_fatigue_reasons_end_a_set() {
        assert!(Reason::Short.ends_set());
        assert!(Reason::Weak.ends_set());
        assert!(!Reason::Strain.ends_set());
        assert!(!Reason::NoRest.ends_set());
    }
}
