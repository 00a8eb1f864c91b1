//! Per-contraction scores: the hold by the one rule, and the co-activation flag.

use super::config::{CoactFlag, ScoringConfig};
use super::hold::{hold_s, valid_hold};
use crate::event::{ContractionEvent, EventKind};
use crate::frame::Role;
use serde::Serialize;

/// How far the abdomen led the pelvic floor in contraction `e`, ms (positive = abdomen first):
/// the latest-starting abdominal activity overlapping `e` among `events`.
pub fn abd_lead_ms(e: &ContractionEvent, events: &[ContractionEvent]) -> Option<f64> {
    events
        .iter()
        .filter(|a| a.role == Role::AbdEmg && a.kind == EventKind::AbdominalActivity)
        .filter(|a| a.onset_s < e.offset_s && a.offset_s > e.onset_s)
        .map(|a| 1000.0 * (e.onset_s - a.onset_s))
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))
}

/// The co-activation flag of a contraction: `None` without an abdominal channel.
pub fn coact_flag(
    abd_index: Option<f64>,
    abd_lead_ms: Option<f64>,
    cfg: &ScoringConfig,
) -> Option<CoactFlag> {
    abd_index.map(|ix| CoactFlag::classify(ix, abd_lead_ms, cfg))
}

/// Scores of one detected contraction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContractionScore {
    pub channel: usize,
    pub role: Role,
    pub onset_s: f64,
    pub offset_s: f64,
    /// Detector span, offset − onset, seconds (not the hold).
    pub duration_s: f64,
    /// Time above half the way from rest to the smoothed peak, seconds ([`super::hold`]).
    pub hold_s: f64,
    pub peak: f64,
    /// Mean level over the hold.
    pub mean: f64,
    pub cv_pct: f64,
    pub rise_s: f64,
    pub release_s: f64,
    pub rest_mean: f64,
    pub abd_mean: Option<f64>,
    pub abd_index: Option<f64>,
    pub abd_lead_ms: Option<f64>,
    pub coact_flag: Option<CoactFlag>,
    pub decided_at_s: f64,
}

impl ContractionScore {
    /// Scores `e` from its smoothed envelope points (over onset..offset, see
    /// [`super::envelope::EnvelopeHistory::smoothed`]) and the other `events` (abdominal lead).
    pub fn measure(
        e: &ContractionEvent,
        smoothed: &[(f64, f64)],
        events: &[ContractionEvent],
        cfg: &ScoringConfig,
    ) -> ContractionScore {
        ContractionScore::with_hold(e, hold_s(smoothed, e.rest_mean), events, cfg)
    }

    /// As [`ContractionScore::measure`] with the hold already measured.
    pub fn with_hold(
        e: &ContractionEvent,
        hold_s: f64,
        events: &[ContractionEvent],
        cfg: &ScoringConfig,
    ) -> ContractionScore {
        let lead = abd_lead_ms(e, events);
        ContractionScore {
            channel: e.channel,
            role: e.role,
            onset_s: e.onset_s,
            offset_s: e.offset_s,
            duration_s: e.duration_s(),
            hold_s,
            peak: e.peak,
            mean: e.mean,
            cv_pct: e.cv_pct,
            rise_s: e.rise_s,
            release_s: e.release_s,
            rest_mean: e.rest_mean,
            abd_mean: e.abd_mean,
            abd_index: e.abd_index,
            abd_lead_ms: lead,
            coact_flag: coact_flag(e.abd_index, lead, cfg),
            decided_at_s: e.decided_at_s,
        }
    }

    /// Held long enough for `target_s`.
    pub fn valid_for(&self, target_s: f64, cfg: &ScoringConfig) -> bool {
        valid_hold(self.hold_s, target_s, cfg)
    }

    /// Flagged for abdominal co-activation (amber or red).
    pub fn coactivated(&self) -> bool {
        self.coact_flag.is_some_and(CoactFlag::flagged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn event(role: Role, kind: EventKind, on: f64, off: f64) -> ContractionEvent {
        ContractionEvent {
            channel: 0,
            role,
            kind,
            onset_s: on,
            offset_s: off,
            peak: 10.0,
            peak_time_s: on + 1.0,
            mean: 8.0,
            cv_pct: 5.0,
            core_s: off - on,
            rise_s: 0.3,
            release_s: 0.3,
            rest_mean: 1.0,
            rest_sd: 0.2,
            abd_mean: None,
            abd_index: None,
            decided_at_s: off + 0.5,
            onset_carried_s: 0.0,
        }
    }

    #[test]
    fn the_flag_follows_the_config_and_the_abdominal_lead() {
        let mut e = event(Role::PfmEmg, EventKind::Contraction, 10.0, 15.0);
        e.abd_index = Some(4.0);
        let abd = event(Role::AbdEmg, EventKind::AbdominalActivity, 9.9, 14.0);
        let cfg = ScoringConfig::default();
        let s = ContractionScore::with_hold(&e, 4.8, &[], &cfg);
        assert_eq!(s.coact_flag, Some(CoactFlag::Amber));
        assert!(s.coactivated());
        let s = ContractionScore::with_hold(&e, 4.8, std::slice::from_ref(&abd), &cfg);
        assert!((s.abd_lead_ms.unwrap() - 100.0).abs() < 1e-9);
        assert_eq!(s.coact_flag, Some(CoactFlag::Red));
        let lenient = ScoringConfig {
            coact_amber_index: 5.0,
            ..cfg.clone()
        };
        let s = ContractionScore::with_hold(&e, 4.8, &[], &lenient);
        assert!(!s.coactivated());
        assert!(s.valid_for(5.0, &cfg));
        assert!(!s.valid_for(
            5.0,
            &ScoringConfig {
                hold_tolerance_s: 0.1,
                ..cfg
            }
        ));
    }
}
