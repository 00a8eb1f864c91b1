//! Per-recording scores: what `analyze`, `batch` and `progress` report, computed once from the
//! typed contraction scores.

use super::config::ScoringConfig;
use super::contraction::ContractionScore;
use crate::event::{ContractionEvent, EventKind};
use crate::frame::{Role, StreamSpec};
use crate::pipeline::ChannelOutcome;
use crate::session::calibrate::Calibration;
use serde::Serialize;

/// Scores of one channel of a recording.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelScores {
    pub channel: usize,
    pub name: String,
    pub role: Role,
    pub unit: String,
    pub rest_level: Option<f64>,
    pub rest_sd: Option<f64>,
    pub onset_threshold: Option<f64>,
    /// Every counted contraction on this channel, by onset.
    pub contractions: Vec<ContractionScore>,
    pub coughs: u32,
    pub strains: u32,
    pub artifacts: u32,
    /// Abdominal channel: bursts of activity.
    pub activity_bursts: u32,
    /// Samples missing from the stream (counter gaps, unplugged cable).
    pub lost_samples: u64,
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| s / n as f64)
}

impl ChannelScores {
    pub fn count(&self) -> u32 {
        self.contractions.len() as u32
    }
    /// Contractions whose hold is valid for `target_s` ([`super::hold::valid_hold`]).
    pub fn holds_at_least(&self, target_s: f64, cfg: &ScoringConfig) -> u32 {
        self.contractions
            .iter()
            .filter(|c| c.valid_for(target_s, cfg))
            .count() as u32
    }
    pub fn mean_hold_s(&self) -> Option<f64> {
        mean(self.contractions.iter().map(|c| c.hold_s))
    }
    pub fn longest_hold_s(&self) -> Option<f64> {
        self.contractions.iter().map(|c| c.hold_s).reduce(f64::max)
    }
    pub fn mean_peak(&self) -> Option<f64> {
        mean(self.contractions.iter().map(|c| c.peak))
    }
    /// Mean level over the holds.
    pub fn mean_level(&self) -> Option<f64> {
        mean(self.contractions.iter().map(|c| c.mean))
    }
    pub fn mean_cv_pct(&self) -> Option<f64> {
        mean(self.contractions.iter().map(|c| c.cv_pct))
    }
    pub fn mean_rise_s(&self) -> Option<f64> {
        mean(self.contractions.iter().map(|c| c.rise_s))
    }
    pub fn mean_release_s(&self) -> Option<f64> {
        mean(self.contractions.iter().map(|c| c.release_s))
    }
    pub fn mean_abd_index(&self) -> Option<f64> {
        mean(self.contractions.iter().filter_map(|c| c.abd_index))
    }
    /// Co-activated contractions (amber or red); `None` without an abdominal channel.
    pub fn coactivated(&self) -> Option<u32> {
        self.contractions
            .iter()
            .any(|c| c.coact_flag.is_some())
            .then(|| self.contractions.iter().filter(|c| c.coactivated()).count() as u32)
    }
}

/// Scores of a whole analysed recording.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnalysisScores {
    pub duration_s: f64,
    pub channels: Vec<ChannelScores>,
    /// The thresholds the scores were computed with.
    pub scoring: ScoringConfig,
}

impl AnalysisScores {
    /// From the stream, every decided event with its measured hold (contractions; `None` for
    /// the other kinds), the channels' end state and the thresholds.
    pub fn compute(
        spec: &StreamSpec,
        events: &[(ContractionEvent, Option<f64>)],
        outcomes: &[ChannelOutcome],
        lost_samples: &[u64],
        duration_s: f64,
        cfg: &ScoringConfig,
    ) -> AnalysisScores {
        let all: Vec<ContractionEvent> = events.iter().map(|e| e.0.clone()).collect();
        let channels = spec
            .channels
            .iter()
            .enumerate()
            .map(|(i, ch)| {
                let of = |k: EventKind| {
                    events
                        .iter()
                        .filter(|e| e.0.channel == i && e.0.kind == k)
                        .count() as u32
                };
                let mut contractions: Vec<ContractionScore> = events
                    .iter()
                    .filter(|e| e.0.channel == i && e.0.kind == EventKind::Contraction)
                    .map(|(e, h)| ContractionScore::with_hold(e, h.unwrap_or(0.0), &all, cfg))
                    .collect();
                contractions.sort_by(|a, b| a.onset_s.total_cmp(&b.onset_s));
                let o = outcomes.get(i);
                ChannelScores {
                    channel: i,
                    name: ch.name.clone(),
                    role: ch.role,
                    unit: ch.unit.clone(),
                    rest_level: o.and_then(|o| o.rest_mean),
                    rest_sd: o.and_then(|o| o.rest_sd),
                    onset_threshold: o.and_then(|o| o.onset_threshold),
                    contractions,
                    coughs: of(EventKind::Cough),
                    strains: of(EventKind::Strain),
                    artifacts: of(EventKind::Artifact),
                    activity_bursts: of(EventKind::AbdominalActivity),
                    lost_samples: lost_samples.get(i).copied().unwrap_or(0),
                }
            })
            .collect();
        AnalysisScores {
            duration_s,
            channels,
            scoring: cfg.clone(),
        }
    }

    /// The channel the session is scored on: pelvic-floor EMG, else pressure.
    pub fn primary(&self) -> Option<&ChannelScores> {
        self.channels
            .iter()
            .find(|c| c.role == Role::PfmEmg)
            .or_else(|| self.channels.iter().find(|c| c.role.is_pelvic_floor()))
    }

    /// Valid strength holds (target [`ScoringConfig::strength_hold_s`]) on the primary channel:
    /// what counts towards the daily goal.
    pub fn valid_holds(&self) -> u32 {
        self.primary().map_or(0, |c| {
            c.holds_at_least(self.scoring.strength_hold_s, &self.scoring)
        })
    }

    /// Valid identification holds (target [`ScoringConfig::identification_hold_s`]).
    pub fn identification_holds(&self) -> u32 {
        self.primary().map_or(0, |c| {
            c.holds_at_least(self.scoring.identification_hold_s, &self.scoring)
        })
    }

    /// Contractions shorter than an identification hold.
    pub fn quick_flicks(&self) -> u32 {
        self.primary()
            .map_or(0, |c| c.count().saturating_sub(self.identification_holds()))
    }

    /// Coughs, counted once however many channels show them.
    pub fn coughs(&self) -> u32 {
        self.channels.iter().map(|c| c.coughs).max().unwrap_or(0)
    }

    /// Strains, counted once however many channels show them.
    pub fn strains(&self) -> u32 {
        self.channels.iter().map(|c| c.strains).max().unwrap_or(0)
    }

    /// Mean hold level of the primary channel as %MVC, with a calibration for its role.
    pub fn mean_pct_mvc(&self, cal: &Calibration) -> Option<f64> {
        let c = self.primary()?;
        let cc = cal.channel(c.role)?;
        c.mean_level().map(|m| cc.pct_mvc(m))
    }

    /// Mean peak of the primary channel as %MVC, with a calibration for its role.
    pub fn peak_pct_mvc(&self, cal: &Calibration) -> Option<f64> {
        let c = self.primary()?;
        let cc = cal.channel(c.role)?;
        c.mean_peak().map(|m| cc.pct_mvc(m))
    }
}
