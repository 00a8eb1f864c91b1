//! What the detector decides: contraction events and the live onset notices that precede them.

use crate::frame::Role;
use serde::{Deserialize, Serialize};

/// What a detected burst of activity is taken to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A voluntary pelvic-floor contraction (squeeze or quick flick): the only kind that counts.
    Contraction,
    /// A short spike seen on several channels at once: tagged, never counted.
    Cough,
    /// Pressure (and abdominal EMG) up while pelvic-floor EMG stays at or below rest: bearing down.
    Strain,
    /// Activity on the abdominal channel (co-activation, strain or cough share it).
    AbdominalActivity,
    /// Too short to be a contraction and not a cough (motion spike, cable tug).
    Artifact,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Contraction => "contraction",
            EventKind::Cough => "cough",
            EventKind::Strain => "strain",
            EventKind::AbdominalActivity => "abdominal_activity",
            EventKind::Artifact => "artifact",
        }
    }
}

/// One detected event with the measurements the reports need. Amplitudes are in the channel's
/// conditioned unit: EMG envelope in the input unit (µV for knip's own recordings), pressure as
/// rise above the tracked rest baseline in the input unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContractionEvent {
    /// Index of the channel in the stream.
    pub channel: usize,
    pub role: Role,
    pub kind: EventKind,
    pub onset_s: f64,
    pub offset_s: f64,
    pub peak: f64,
    pub peak_time_s: f64,
    /// Mean level over the hold (skipping the rise and the release).
    pub mean: f64,
    /// Coefficient of variation over the hold, percent.
    pub cv_pct: f64,
    /// Time above half-way from rest to the peak (the burst's core): a cough's is a fraction
    /// of a second however long its envelope takes to come down to rest.
    #[serde(default)]
    pub core_s: f64,
    /// Onset → peak.
    pub rise_s: f64,
    /// Peak → back to rest (offset).
    pub release_s: f64,
    /// The rest level and spread the detector used when it decided this event.
    pub rest_mean: f64,
    pub rest_sd: f64,
    /// For pelvic-floor contractions with an abdominal channel: the abdominal envelope's mean
    /// over the same hold, and its index relative to abdominal rest, (mean − μ₀)/σ₀.
    pub abd_mean: Option<f64>,
    pub abd_index: Option<f64>,
    /// Device-clock time at which the detector decided the event (for latency figures).
    pub decided_at_s: f64,
    /// How much earlier the onset is than where the trace left rest (less the conditioning's
    /// delay), seconds: an EMG onset is carried back along its rise (negative for a step, which
    /// shows at once). Not part of the burst for the rules that tell a contraction from a brief
    /// burst ([`Self::burst_s`]).
    #[serde(skip)]
    pub onset_carried_s: f64,
}

impl ContractionEvent {
    pub fn duration_s(&self) -> f64 {
        self.offset_s - self.onset_s
    }

    /// How long the burst stood out of rest: the duration without the onset's carry back along
    /// the rise.
    pub fn burst_s(&self) -> f64 {
        self.duration_s() - self.onset_carried_s
    }
}

/// Notice emitted the moment an onset is confirmed, before the contraction has ended, so that
/// live views can react while the patient squeezes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OnsetNotice {
    pub channel: usize,
    pub role: Role,
    pub onset_s: f64,
    pub decided_at_s: f64,
}
