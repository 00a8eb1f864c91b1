//! The scoring thresholds: one configuration for guided sessions, analysis, batch and progress.
//!
//! Every threshold here is an engineering default (DOMAIN.md marks them *(eng)*): configurable
//! (`--scoring FILE`, TOML), and reports label them "not validated".

use serde::{Deserialize, Serialize};

/// Scoring thresholds. All engineering defaults, **not validated**.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoringConfig {
    /// A hold passes when it lasts at least the target minus this, seconds.
    pub hold_tolerance_s: f64,
    /// Target of a strength squeeze (DOMAIN.md §1: hold 5 s); what counts towards the daily goal
    /// when a recording is analysed without a protocol.
    pub strength_hold_s: f64,
    /// Target of an identification squeeze (DOMAIN.md §1: hold 2 s); shorter ones are quick
    /// flicks.
    pub identification_hold_s: f64,
    /// Strength set: a rep whose peak is below this fraction of rep 1's peak fails (DOMAIN ~50 %).
    pub fail_peak_rel: f64,
    /// Co-activation index (ABD − μ₀)/σ₀ below this is green; at or above it a contraction is
    /// flagged (amber).
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
            strength_hold_s: 5.0,
            identification_hold_s: 2.0,
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

    /// One line naming the co-activation thresholds, for reports.
    pub fn coactivation_rule(&self) -> String {
        format!(
            "amber index >= {}, red >= {} or abdomen first by >= {} ms",
            self.coact_amber_index, self.coact_red_index, self.coact_abd_lead_red_ms
        )
    }
}

/// A scoring file could not be used.
#[derive(Debug, thiserror::Error)]
#[error("scoring thresholds {path}: {message}")]
pub struct ScoringError {
    pub path: String,
    pub message: String,
}

/// Abdominal co-activation flag of one contraction or repetition.
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

    /// Amber or red: the contraction counts as co-activated.
    pub fn flagged(self) -> bool {
        matches!(self, CoactFlag::Amber | CoactFlag::Red)
    }
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
        let strict = ScoringConfig {
            coact_amber_index: 5.0,
            ..c
        };
        assert_eq!(CoactFlag::classify(4.0, None, &strict), CoactFlag::Green);
    }

    #[test]
    fn a_partial_toml_keeps_the_other_defaults() {
        let c: ScoringConfig = toml::from_str("coact_amber_index = 6.0").unwrap();
        assert_eq!(c.coact_amber_index, 6.0);
        assert_eq!(c.strength_hold_s, 5.0);
        assert!(toml::from_str::<ScoringConfig>("no_such = 1").is_err());
    }
}
