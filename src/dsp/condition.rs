//! Per-channel conditioning, designed once from the channel's role and rate:
//! EMG → band-pass (+ optional mains notch, + ECG high-pass on the abdominal channel) → adaptive
//! mains canceller ([`crate::dsp::mains`]) → moving RMS;
//! pressure → low-pass. The detector then works on the envelope (EMG) or the smoothed pressure.
//!
//! The filters start in the steady state of the first sample they see (scipy's `sosfilt_zi`), so
//! a DC offset on single-ended EMG gives no burst at t = 0 and the smoothed pressure starts at the
//! resting pressure instead of ramping up from 0.

use crate::config::ConditioningConfig;
use crate::dsp::envelope::MovingRms;
use crate::dsp::filter::{Cascade, DesignError};
use crate::dsp::mains::MainsCanceller;
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
    /// Mains lines taken out by the adaptive canceller, Hz (none when it is off), and how long
    /// it takes to learn them at the start, seconds.
    pub mains_cancelled_hz: Vec<f64>,
    pub mains_settle_s: f64,
    pub envelope_window_ms: Option<f64>,
    /// Lag of the detection signal behind the input, seconds: subtracted from event times.
    pub delay_s: f64,
}

impl AppliedConditioning {
    /// How long after a (re)start the outputs are still settling, seconds: about five time
    /// constants of the slowest corner of the filter plus the envelope window, and the mains
    /// canceller's start. With the steady-state start a DC offset rings in no transient; this
    /// is the time the noise in the first sample (taken as the offset) takes to die out, and
    /// the mains to be learnt. No onset is taken from it.
    pub fn settle_s(&self) -> f64 {
        let a = self;
        let slowest = [a.highpass_hz, a.lowpass_hz]
            .into_iter()
            .flatten()
            .fold(f64::INFINITY, f64::min);
        let filter_s = if slowest.is_finite() && slowest > 0.0 {
            5.0 / (2.0 * std::f64::consts::PI * slowest) * (a.filter_order as f64 / 2.0).max(1.0)
        } else {
            0.0
        };
        filter_s.max(a.mains_settle_s) + a.envelope_window_ms.unwrap_or(0.0) / 1000.0
    }
}

/// The conditioning chain of one channel, with its state.
#[derive(Debug, Clone)]
pub struct ChannelConditioner {
    filter: Cascade,
    mains: Option<MainsCanceller>,
    rms: Option<MovingRms>,
    applied: AppliedConditioning,
    /// The filter's state is set from the next sample processed (the steady state of that
    /// sample held forever); true until the first sample and after [`Self::skip_lost`].
    start_pending: bool,
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
            mains_cancelled_hz: Vec::new(),
            mains_settle_s: 0.0,
            envelope_window_ms: None,
            delay_s: 0.0,
        };
        let mut filter = Cascade::new();
        let mut mains = None;
        let mut rms = None;
        let max_corner = MAX_CORNER_FRACTION_OF_RATE * rate;
        match spec.role {
            Role::PfmEmg | Role::AbdEmg => {
                let mut kind = spec.kind;
                if kind == SignalKind::Raw && rate < MIN_RAW_EMG_RATE_HZ {
                    warnings.push(format!(
                        "{}: {} Hz is too slow for raw EMG; the column is taken as an \
                         envelope already (pass --envelope to say so and silence this)",
                        spec.name,
                        hz(rate)
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
                            "{}: EMG sampled at {} Hz (under the 1 kHz SENIAM advises): the \
                             band-pass low-pass moved from {} Hz to {lp:.1} Hz, below Nyquist; \
                             amplitudes are not comparable with full-band EMG",
                            spec.name,
                            hz(rate),
                            cfg.emg_lowpass_hz
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
                    if let Some(tau_s) = cfg.mains_cancel_tau_s {
                        mains = MainsCanceller::new(rate, lp.min(max_corner), tau_s);
                        if let Some(m) = &mains {
                            applied.mains_cancelled_hz = m.lines_hz();
                            applied.mains_settle_s = m.settle_s();
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
                        "{}: pressure sampled at {} Hz: too slow for the {lp} Hz low-pass, used \
                         unfiltered (≥ 50 Hz is advised for feedback, ≥ 100 Hz to time coughs)",
                        spec.name,
                        hz(rate)
                    ));
                }
            }
        }
        Ok(ChannelConditioner {
            filter,
            mains,
            rms,
            applied,
            start_pending: true,
        })
    }

    pub fn applied(&self) -> &AppliedConditioning {
        &self.applied
    }

    /// The mains lines the canceller is taking out (empty when it is off).
    pub fn mains_lines(&self) -> Vec<crate::dsp::mains::MainsLine> {
        self.mains
            .as_ref()
            .map(|m| m.amplitudes())
            .unwrap_or_default()
    }

    /// Jumps of the mains' phase the canceller fitted (0 when it is off).
    pub fn mains_phase_jumps(&self) -> u64 {
        self.mains.as_ref().map_or(0, |m| m.phase_jumps())
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

    /// `n` samples were lost before the next one processed (a gap in the sample index: an
    /// unplugged cable, garbage values). The filter starts again in the steady state of the
    /// next sample, as at the start of the stream: the signal may resume at another offset (an
    /// electrode reseated, a DC that drifted through the gap), which would ring through the
    /// filter as a burst. The mains canceller keeps time through the gap
    /// ([`MainsCanceller::skip`]). The moving-RMS window keeps its samples from before the gap
    /// (they are at the same scale).
    pub fn skip_lost(&mut self, n: u64) {
        if n == 0 {
            return;
        }
        self.start_pending = true;
        if let Some(m) = self.mains.as_mut() {
            m.skip(n);
        }
    }

    /// At the start (or after [`Self::skip_lost`]): the filter starts in the
    /// steady state of the first finite sample.
    fn start_if_pending(&mut self, samples: &[f64]) {
        if self.start_pending {
            if let Some(&first) = samples.first() {
                if first.is_finite() {
                    self.filter.set_steady_state(first);
                    self.start_pending = false;
                }
            }
        }
    }

    /// [`Self::process_owned`] for two channels: their band-passes run side by side where
    /// they have the same shape and the blocks the same length ([`Cascade::process_two`]), the
    /// rest one channel after the other; the same results as each alone.
    pub fn process_owned_two(
        (a, mut a_samples, a_envelope): (&mut Self, Vec<f64>, &mut Vec<f64>),
        (b, mut b_samples, b_envelope): (&mut Self, Vec<f64>, &mut Vec<f64>),
    ) -> (Vec<f64>, Vec<f64>) {
        a.start_if_pending(&a_samples);
        b.start_if_pending(&b_samples);
        Cascade::process_two(&mut a.filter, &mut a_samples, &mut b.filter, &mut b_samples);
        a.after_band_pass(&mut a_samples, a_envelope);
        b.after_band_pass(&mut b_samples, b_envelope);
        (a_samples, b_samples)
    }

    fn filter_in_place(&mut self, filtered: &mut [f64], envelope: &mut Vec<f64>) {
        self.start_if_pending(filtered);
        self.filter.process(filtered);
        self.after_band_pass(filtered, envelope);
    }

    /// The mains canceller and the envelope, after the band-pass.
    fn after_band_pass(&mut self, filtered: &mut [f64], envelope: &mut Vec<f64>) {
        if let Some(m) = self.mains.as_mut() {
            m.process(filtered);
        }
        self.envelope_of(filtered, envelope);
    }

    /// The signal the detector works on, from the filtered one.
    fn envelope_of(&mut self, filtered: &[f64], envelope: &mut Vec<f64>) {
        match self.rms.as_mut() {
            Some(rms) => rms.process(filtered, envelope),
            None => {
                envelope.clear();
                envelope.extend_from_slice(filtered);
            }
        }
    }
}

/// A rate for messages: up to 3 decimals, no trailing zeros (512, 34.81, 512.033).
fn hz(rate: f64) -> String {
    let s = format!("{rate:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
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

    /// Rest EMG: 3000 µV DC offset plus white noise (≈ 5 µV RMS, sum of uniforms from an LCG).
    fn rest_with_offset(rate: f64, seconds: f64, offset: f64) -> Vec<f64> {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut uniform = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        (0..(rate * seconds) as usize)
            .map(|_| offset + 5.0 * (0..12).map(|_| uniform()).sum::<f64>())
            .collect()
    }

    /// Envelope of `x` conditioned for the pelvic-floor channel at `rate`, fed in 64-sample blocks.
    fn envelope_of(x: &[f64], rate: f64) -> (Vec<f64>, Vec<f64>) {
        let spec = ChannelSpec::new(Role::PfmEmg, rate);
        let mut c =
            ChannelConditioner::design(&spec, &ConditioningConfig::default(), &mut Vec::new())
                .unwrap();
        let (mut filtered, mut envelope) = (Vec::new(), Vec::new());
        let (mut f, mut e) = (Vec::new(), Vec::new());
        for block in x.chunks(64) {
            c.process(block, &mut f, &mut e);
            filtered.extend_from_slice(&f);
            envelope.extend_from_slice(&e);
        }
        (filtered, envelope)
    }

    #[test]
    fn a_dc_offset_gives_no_burst_at_the_start() {
        for rate in [2000.0, 512.0] {
            let x = rest_with_offset(rate, 4.0, 3000.0);
            let (filtered, envelope) = envelope_of(&x, rate);
            let n_half = (rate * 0.5) as usize;
            let rest = envelope[(rate as usize)..].iter().sum::<f64>()
                / (envelope.len() - rate as usize) as f64;
            let start_max = envelope[..n_half].iter().fold(0.0f64, |m, &v| m.max(v));
            assert!(rest > 1.0 && rest < 10.0, "{rate} Hz: rest {rest}");
            assert!(
                start_max < 1.5 * rest,
                "{rate} Hz: envelope peaks at {start_max} in the first 0.5 s, rest {rest}"
            );
            // The band-passed signal starts near 0, not at the offset.
            assert!(filtered[0].abs() < 1e-6, "{rate} Hz: {}", filtered[0]);
            let start_peak = filtered[..n_half]
                .iter()
                .fold(0.0f64, |m, v| m.max(v.abs()));
            assert!(start_peak < 10.0 * rest, "{rate} Hz: {start_peak}");
        }
    }

    #[test]
    fn pressure_starts_at_the_first_sample_and_restarts_after_a_gap() {
        let spec = ChannelSpec::new(Role::Pressure, 100.0);
        let mut c =
            ChannelConditioner::design(&spec, &ConditioningConfig::default(), &mut Vec::new())
                .unwrap();
        assert_eq!(c.applied().lowpass_hz, Some(10.0));
        let (mut f, mut e) = (Vec::new(), Vec::new());
        c.process(&[17.0; 50], &mut f, &mut e);
        assert!(f.iter().all(|v| (v - 17.0).abs() < 1e-9), "{f:?}");
        assert_eq!(e, f);
        // Without a restart a jump rings in through the filter ...
        c.process(&[30.0; 5], &mut f, &mut e);
        assert!(f[0] < 20.0);
        // ... after lost samples the filter starts at the new level.
        c.skip_lost(3);
        c.process(&[40.0; 5], &mut f, &mut e);
        assert!(f.iter().all(|v| (v - 40.0).abs() < 1e-9), "{f:?}");
    }

    #[test]
    fn settle_time_follows_the_slowest_corner() {
        let mut w = Vec::new();
        let cfg = ConditioningConfig::default();
        let emg = ChannelConditioner::design(&ChannelSpec::new(Role::PfmEmg, 2000.0), &cfg, &mut w)
            .unwrap();
        let p = ChannelConditioner::design(&ChannelSpec::new(Role::Pressure, 100.0), &cfg, &mut w)
            .unwrap();
        let (se, sp) = (emg.applied().settle_s(), p.applied().settle_s());
        assert!(se > 0.05 && se < 0.5, "{se}");
        assert!(sp > 0.1 && sp < 0.5, "{sp}");
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
