//! Every setting of the analysis, with its default: the one source of truth for defaults.
//! The whole struct is written to `session.json` and the recording sidecar so that an analysis
//! can be reproduced exactly.

use serde::{Deserialize, Serialize};

/// Signal conditioning, designed once per stream from its rates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConditioningConfig {
    /// EMG band-pass high-pass corner, Hz (SENIAM 10–20 Hz).
    pub emg_highpass_hz: f64,
    /// EMG band-pass low-pass corner, Hz. Moved below Nyquist (with a warning) when the rate is
    /// under 1 kHz.
    pub emg_lowpass_hz: f64,
    /// Butterworth order of each side of the band-pass (even; built from second-order sections).
    pub emg_filter_order: usize,
    /// Mains notch: `None` (default, as SENIAM advises) or Some(50.0 | 60.0). Harmonics inside
    /// the pass band are notched too.
    pub notch_hz: Option<f64>,
    /// Quality factor of each notch.
    pub notch_q: f64,
    /// Adaptive mains canceller on raw EMG (50 and 60 Hz, 3rd and 5th harmonics; see
    /// [`crate::dsp::mains`]): the learnt lines' time constant at rest, seconds. `None` turns
    /// it off. Unlike a notch it removes almost no EMG and rings on after no burst.
    pub mains_cancel_tau_s: Option<f64>,
    /// High-pass on the abdominal channel against ECG bleed (Drake & Callaghan 2006), Hz;
    /// 4th-order Butterworth. `None` disables it.
    pub abd_ecg_highpass_hz: Option<f64>,
    /// Moving-RMS envelope window, ms (~50 ms for onset timing).
    pub envelope_window_ms: f64,
    /// Pressure low-pass, Hz (2nd-order Butterworth, twice: 4th order).
    pub pressure_lowpass_hz: f64,
}

impl Default for ConditioningConfig {
    fn default() -> Self {
        ConditioningConfig {
            emg_highpass_hz: 20.0,
            emg_lowpass_hz: 450.0,
            emg_filter_order: 4,
            notch_hz: None,
            notch_q: 30.0,
            mains_cancel_tau_s: Some(0.25),
            abd_ecg_highpass_hz: Some(30.0),
            envelope_window_ms: 50.0,
            pressure_lowpass_hz: 10.0,
        }
    }
}

/// The causal contraction detector (Hodges & Bui style double threshold with hysteresis).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DetectorConfig {
    /// Rest statistics come from this calibration span at the start of the stream, seconds
    /// (after `calibration_skip_s`, which lets filters and the envelope settle).
    pub calibration_s: f64,
    pub calibration_skip_s: f64,
    /// Onset threshold: rest mean + `onset_k` · rest SD ...
    pub onset_k: f64,
    /// ... but at least rest mean · (1 + `onset_min_rel`) for EMG envelopes: on a very quiet
    /// rest k·SD is smaller than the slow drift of the rest level and the envelope's own noise
    /// (a 50-ms RMS of band-limited noise varies by ±10–15 % of its level), so the floor is tied
    /// to the rest level itself ...
    pub onset_min_rel: f64,
    /// ... and at least this many cmH2O above the local baseline for pressure (under the
    /// 7.5 cmH2O at which DOMAIN.md's "very weak" band starts; breathing moves a probe by up to
    /// ±1.5 cmH2O).
    pub pressure_min_rise: f64,
    /// ... and at least this fraction of the baseline itself (a high resting tone, as in
    /// anorectal manometry at ~100 mmHg, moves by more than a few cmH2O at rest; a zeroed
    /// vaginal probe at 17–21 cmH2O keeps the absolute floor).
    pub pressure_min_rel: f64,
    /// A contraction also ends when the signal is back within this fraction of the
    /// contraction's own level (above rest; for pressure above the baseline it rose from).
    pub offset_fraction: f64,
    /// A pressure episode lasting longer than this is not a squeeze (the Glazer protocol's
    /// endurance hold is 60 s): the rest level moved; it becomes the new rest, seconds.
    pub pressure_max_active_s: f64,
    /// ... and on EMG, an onset under this factor × the rest's regular bumps (P99 − median)
    /// above rest must hold 0.25 s, not `onset_hold_ms`: ECG bleeding through leaves regular
    /// bumps (under 0.2 s each) that robust statistics ignore but that must not trigger onsets,
    /// while a weak co-activation above the onset threshold still counts. The bumps' height is
    /// the 90th percentile over the rest segments whose median is at rest level (a beat lifts its
    /// segment's median a little), so a single twitch does not raise it.
    pub rest_p99_margin: f64,
    /// The envelope must stay above the onset threshold this long to confirm an onset, ms.
    pub onset_hold_ms: f64,
    /// Offset threshold: rest mean + `offset_k` · rest SD (hysteresis, below the onset threshold).
    pub offset_k: f64,
    /// The envelope must stay below the offset threshold this long to end a contraction, ms.
    pub offset_hold_ms: f64,
    /// Events shorter than this are never contractions: a short burst seen on two or more
    /// channels at once is a cough, one on a single channel an artifact, seconds.
    pub min_contraction_s: f64,
    /// Short bursts whose onsets are within this window on different channels are a cough, ms.
    pub cough_coincidence_ms: f64,
    /// EMG rest statistics come from the last this many seconds of rest in half-second
    /// segments: the 40th percentile of their medians (0 keeps the calibration's rest).
    pub rest_window_s: f64,
    /// Pressure follows a local baseline: the median of the last this many seconds of rest.
    pub pressure_baseline_s: f64,
    /// How far back from the confirmed crossing the reported onset may be moved to where the
    /// envelope left rest (mean + 1 SD), seconds.
    pub onset_backtrack_max_s: f64,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            calibration_s: 5.0,
            calibration_skip_s: 0.5,
            onset_k: 3.0,
            onset_min_rel: 0.75,
            pressure_min_rise: 3.0,
            pressure_min_rel: 0.1,
            offset_fraction: 0.25,
            pressure_max_active_s: 90.0,
            rest_p99_margin: 1.2,
            onset_hold_ms: 30.0,
            offset_k: 2.0,
            offset_hold_ms: 150.0,
            min_contraction_s: 0.45,
            cough_coincidence_ms: 150.0,
            rest_window_s: 20.0,
            pressure_baseline_s: 4.0,
            onset_backtrack_max_s: 0.5,
        }
    }
}

/// Everything an analysis used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct AnalysisConfig {
    pub conditioning: ConditioningConfig,
    pub detector: DetectorConfig,
}
