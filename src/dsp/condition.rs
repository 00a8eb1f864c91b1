//! Per-channel conditioning, designed once from the channel's role and rate:
//! EMG → band-pass (+ optional mains notch, + ECG high-pass on the abdominal channel) → moving RMS;
//! pressure → low-pass. The detector then works on the envelope (EMG) or the smoothed pressure.

use crate::config::ConditioningConfig;
use crate::dsp::envelope::MovingRms;
use crate::dsp::filter::{Cascade, DesignError};
use crate::frame::{ChannelSpec, Role, SignalKind};
use serde::Serialize;

/// Below this rate a raw EMG column cannot be band-passed meaningfully: it is taken as an envelope.
pub const MIN_RAW_EMG_RATE_HZ: f64 = 100.0;
/// SENIAM: sample surface EMG at 1 kHz or more.
pub const RECOMMENDED_EMG_RATE_HZ: f64 = 1000.0;
/// Low-pass corners are kept at or below this fraction of the rate (0.9 × Nyquist).
pub const MAX_CORNER_FRACTION_OF_RATE: f64 = 0.45;

/// What was actually applied to a channel (written to `session.json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppliedConditioning {
    pub channel: String,
    pub role: Role,
    pub rate_hz: f64,
    pub input_kind: SignalKind,
    pub highpass_hz: Option<f64>,
    pub lowpass_hz: Option<f64>,
    pub filter_order: usize,
    pub notch_hz: Vec<f64>,
    pub envelope_window_ms: Option<f64>,
    /// Lag of the detection signal behind the input, seconds: subtracted from event times.
    pub delay_s: f64,
}

/// The conditioning chain of one channel, with its state.
#[derive(Debug, Clone)]
pub struct ChannelConditioner {
    filter: Cascade,
    rms: Option<MovingRms>,
    applied: AppliedConditioning,
}

impl ChannelConditioner {
    /// Design the chain for `spec`. Compromises (a low-pass moved below Nyquist, a raw EMG
    /// column treated as an envelope) are explained in `warnings`.
    pub fn design(
        spec: &ChannelSpec,
        cfg: &ConditioningConfig,
        warnings: &mut Vec<String>,
    ) -> Result<Self, DesignError> {
        let rate = spec.rate_hz;
        let mut applied = AppliedConditioning {
            channel: spec.name.clone(),
            role: spec.role,
            rate_hz: rate,
            input_kind: spec.kind,
            highpass_hz: None,
            lowpass_hz: None,
            filter_order: cfg.emg_filter_order,
            notch_hz: Vec::new(),
            envelope_window_ms: None,
            delay_s: 0.0,
        };
        let mut filter = Cascade::new();
        let mut rms = None;
        let max_corner = MAX_CORNER_FRACTION_OF_RATE * rate;
        match spec.role {
            Role::PfmEmg | Role::AbdEmg => {
                let mut kind = spec.kind;
                if kind == SignalKind::Raw && rate < MIN_RAW_EMG_RATE_HZ {
                    warnings.push(format!(
                        "{}: {rate} Hz is too slow for raw EMG; the column is taken as an \
                         envelope already (pass --envelope to say so and silence this)",
                        spec.name
                    ));
                    kind = SignalKind::Envelope;
                }
                applied.input_kind = kind;
                if kind == SignalKind::Raw {
                    let mut hp = cfg.emg_highpass_hz;
                    if spec.role == Role::AbdEmg {
                        if let Some(ecg_hp) = cfg.abd_ecg_highpass_hz {
                            hp = hp.max(ecg_hp);
                        }
                    }
                    let mut lp = cfg.emg_lowpass_hz;
                    if lp > max_corner {
                        lp = max_corner;
                    }
                    if rate < RECOMMENDED_EMG_RATE_HZ {
                        warnings.push(format!(
                            "{}: EMG sampled at {rate} Hz (under the 1 kHz SENIAM advises): the \
                             band-pass low-pass moved from {} Hz to {lp:.1} Hz, below Nyquist; \
                             amplitudes are not comparable with full-band EMG",
                            spec.name, cfg.emg_lowpass_hz
                        ));
                    }
                    filter = Cascade::butterworth_highpass(rate, hp, cfg.emg_filter_order)?;
                    applied.highpass_hz = Some(hp);
                    if lp > hp {
                        filter = filter.then(Cascade::butterworth_lowpass(
                            rate,
                            lp,
                            cfg.emg_filter_order,
                        )?);
                        applied.lowpass_hz = Some(lp);
                    }
                    if let Some(mains) = cfg.notch_hz {
                        let mut k = 1.0;
                        while k * mains < lp.min(max_corner) {
                            filter = filter.then(Cascade::notch(rate, k * mains, cfg.notch_q)?);
                            applied.notch_hz.push(k * mains);
                            k += 1.0;
                        }
                    }
                    let m = MovingRms::for_rate(rate, cfg.envelope_window_ms);
                    applied.envelope_window_ms = Some(m.window() as f64 * 1000.0 / rate);
                    applied.delay_s = m.delay_samples() / rate;
                    rms = Some(m);
                }
            }
            Role::Pressure => {
                let lp = cfg.pressure_lowpass_hz;
                if lp < max_corner {
                    filter = Cascade::butterworth_lowpass(rate, lp, 4)?;
                    applied.lowpass_hz = Some(lp);
                    applied.filter_order = 4;
                    applied.delay_s = filter.delay_s();
                } else {
                    warnings.push(format!(
                        "{}: pressure sampled at {rate} Hz: too slow for the {lp} Hz low-pass, used \
                         unfiltered (≥ 50 Hz is advised for feedback, ≥ 100 Hz to time coughs)",
                        spec.name
                    ));
                }
            }
        }
        Ok(ChannelConditioner {
            filter,
            rms,
            applied,
        })
    }

    pub fn applied(&self) -> &AppliedConditioning {
        &self.applied
    }

    /// Condition a block: `filtered` receives the filtered signal, `envelope` the signal the
    /// detector works on (moving RMS for raw EMG; the filtered signal otherwise).
    pub fn process(&mut self, input: &[f64], filtered: &mut Vec<f64>, envelope: &mut Vec<f64>) {
        filtered.clear();
        filtered.extend_from_slice(input);
        self.filter_in_place(filtered, envelope);
    }

    /// [`Self::process`] on samples the caller gives up: they are filtered where they are (no
    /// copy) and returned.
    pub fn process_owned(&mut self, mut samples: Vec<f64>, envelope: &mut Vec<f64>) -> Vec<f64> {
        self.filter_in_place(&mut samples, envelope);
        samples
    }

    fn filter_in_place(&mut self, filtered: &mut [f64], envelope: &mut Vec<f64>) {
        self.filter.process(filtered);
        match self.rms.as_mut() {
            Some(rms) => rms.process(filtered, envelope),
            None => {
                envelope.clear();
                envelope.extend_from_slice(filtered);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emg_at_250_hz_gets_a_lowpass_below_nyquist_and_a_warning() {
        let spec = ChannelSpec::new(Role::PfmEmg, 250.0);
        let mut w = Vec::new();
        let c = ChannelConditioner::design(&spec, &ConditioningConfig::default(), &mut w).unwrap();
        assert_eq!(c.applied().lowpass_hz, Some(112.5));
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("250"));
    }

    #[test]
    fn abdominal_channel_gets_the_ecg_highpass_and_notch_harmonics_stay_in_band() {
        let spec = ChannelSpec::new(Role::AbdEmg, 2000.0);
        let cfg = ConditioningConfig {
            notch_hz: Some(50.0),
            ..Default::default()
        };
        let mut w = Vec::new();
        let c = ChannelConditioner::design(&spec, &cfg, &mut w).unwrap();
        assert_eq!(c.applied().highpass_hz, Some(30.0));
        assert_eq!(c.applied().notch_hz.len(), 8); // 50 … 400 Hz, below the 450 Hz low-pass
        assert!(w.is_empty());
    }

    #[test]
    fn slow_raw_emg_is_taken_as_an_envelope() {
        let spec = ChannelSpec::new(Role::PfmEmg, 34.81);
        let mut w = Vec::new();
        let mut c =
            ChannelConditioner::design(&spec, &ConditioningConfig::default(), &mut w).unwrap();
        assert_eq!(c.applied().input_kind, SignalKind::Envelope);
        let (mut f, mut e) = (Vec::new(), Vec::new());
        c.process(&[1.0, 2.0, 3.0], &mut f, &mut e);
        assert_eq!(e, vec![1.0, 2.0, 3.0]);
    }
}
