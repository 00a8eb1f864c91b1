//! The per-channel causal detector (Hodges & Bui double threshold with hysteresis).
//!
//! 1. **Calibrating**: rest statistics (median and MAD·1.4826, robust to a stray twitch) of the
//!    envelope over `calibration_s` after `calibration_skip_s`.
//! 2. **Rest**: an onset is confirmed when the envelope stays above
//!    `μ₀ + max(k·σ₀, floor)` for `onset_hold_ms`. The reported onset is moved back to where the
//!    envelope last left `μ₀ + σ₀` (at most `onset_backtrack_max_s`), minus the conditioning's
//!    known delay. While at rest, μ₀ and σ₀ follow slow drift (`rebaseline_tau_s`), updated on
//!    the envelope thinned to about 200 Hz like the calibration (a 50 ms RMS holds nothing
//!    faster, and a per-sample update would be a long dependency chain per sample).
//! 3. **Active**: the contraction ends when the envelope stays below the offset threshold (2/3 of
//!    the way from rest to the onset threshold by default: hysteresis) for `offset_hold_ms`.
//!
//! The detector emits an [`OnsetNotice`] the moment an onset is confirmed and a
//! [`ContractionEvent`] the moment the offset is confirmed: never at the end of the file.

use crate::config::DetectorConfig;
use crate::event::{ContractionEvent, EventKind, OnsetNotice};
use crate::frame::Role;

/// Calibration and hold statistics are computed on the envelope thinned to about this rate.
const STATS_RATE_HZ: f64 = 200.0;
/// After a contraction ends, rest statistics are not updated for this long (release tail).
const REBASELINE_GUARD_S: f64 = 1.0;
/// On the abdominal channel the onset threshold sits at least this factor × (rest P99 − rest
/// median) above rest: ECG bleeding through the 30 Hz high-pass leaves regular bumps that robust
/// statistics ignore but that must not trigger onsets. (Not on other channels: there a twitch in
/// the calibration would raise the threshold.)
const REST_P99_MARGIN: f64 = 1.2;
/// Multiple of σ₀ that marks "left rest" when moving the onset back.
const BACKTRACK_K: f64 = 1.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Calibrating,
    Rest,
    Active,
}

/// What one sample step can produce.
#[derive(Debug, Clone, PartialEq)]
pub enum DetectorOutput {
    Onset(OnsetNotice),
    Event(ContractionEvent),
}

#[derive(Debug, Clone)]
struct Active {
    onset_index: u64,
    peak: f64,
    peak_index: u64,
    /// Envelope thinned to STATS_RATE_HZ from the onset on.
    thinned: Vec<f64>,
    /// Samples until the next one goes into `thinned`.
    thin_countdown: u64,
    baseline: f64,
}

/// The last envelope values, for moving an onset back: a ring indexed by sample number.
#[derive(Debug, Clone)]
struct RecentRing {
    values: Vec<f64>,
    /// `values.len() - 1` (the length is a power of two).
    mask: usize,
    /// How many of the latest values count.
    span: u64,
    /// First sample index held since the last jump (values before it are not samples).
    first: u64,
}

impl RecentRing {
    fn new(span: u64) -> Self {
        let len = (span as usize + 1).next_power_of_two();
        RecentRing {
            values: vec![0.0; len],
            mask: len - 1,
            span,
            first: 0,
        }
    }

    #[inline]
    fn put(&mut self, index: u64, value: f64) {
        self.values[index as usize & self.mask] = value;
    }

    /// `(index, value)` of the held samples up to and including `last`, newest first.
    fn newest_first(&self, last: u64) -> impl Iterator<Item = (u64, f64)> + '_ {
        let oldest = self.first.max((last + 1).saturating_sub(self.span));
        (oldest..=last)
            .rev()
            .map(move |i| (i, self.values[i as usize & self.mask]))
    }
}

/// Causal detector for one channel's envelope (EMG) or smoothed pressure.
#[derive(Debug, Clone)]
pub struct ChannelDetector {
    cfg: DetectorConfig,
    channel: usize,
    role: Role,
    rate_hz: f64,
    start_time_s: f64,
    delay_s: f64,
    /// Index of the next sample.
    index: u64,
    phase: Phase,
    stats_step: u64,
    calibration: Vec<f64>,
    calibration_start: u64,
    calibration_end: u64,
    rest_mean: f64,
    rest_sd: f64,
    /// `rest_sd²`, the state of the slow re-baselining.
    rest_var: f64,
    calibrated_sd: f64,
    /// How far the calibration rest's 99th percentile sat above its median: rest with regular
    /// bumps (ECG bleeding through on the abdominal channel) must not trigger onsets.
    rest_p99_rise: f64,
    on_threshold: f64,
    off_threshold: f64,
    /// Weight of each thinned rest sample in the re-baselining (time constant `rebaseline_tau_s`).
    alpha: f64,
    /// Rest samples until the next re-baselining update.
    rebaseline_countdown: u64,
    guard_until: u64,
    above_since: Option<u64>,
    below_since: Option<u64>,
    /// The last `onset_backtrack_max_s` of envelope.
    recent: RecentRing,
    onset_hold: u64,
    offset_hold: u64,
    active: Option<Active>,
}

impl ChannelDetector {
    /// `delay_s` is the lag of the envelope behind the signal (from the conditioning); it is
    /// subtracted from every reported time.
    pub fn new(
        cfg: &DetectorConfig,
        channel: usize,
        role: Role,
        rate_hz: f64,
        start_time_s: f64,
        delay_s: f64,
    ) -> Self {
        let samples = |s: f64| (s * rate_hz).round().max(0.0) as u64;
        let stats_step = ((rate_hz / STATS_RATE_HZ).round() as u64).max(1);
        let calibration_start = samples(cfg.calibration_skip_s);
        let calibration_end = calibration_start + samples(cfg.calibration_s).max(1);
        // One update per `stats_step` samples: the weight that decays like 1/τ per sample would.
        let tau_samples = cfg.rebaseline_tau_s * rate_hz;
        let alpha = if tau_samples > 0.0 {
            1.0 - (1.0 - 1.0 / tau_samples.max(1.0)).powf(stats_step as f64)
        } else {
            0.0
        };
        ChannelDetector {
            cfg: cfg.clone(),
            channel,
            role,
            rate_hz,
            start_time_s,
            delay_s,
            index: 0,
            phase: Phase::Calibrating,
            stats_step,
            calibration: Vec::with_capacity(
                ((calibration_end - calibration_start) / stats_step + 1) as usize,
            ),
            calibration_start,
            calibration_end,
            rest_mean: 0.0,
            rest_sd: 0.0,
            rest_var: 0.0,
            calibrated_sd: 0.0,
            rest_p99_rise: 0.0,
            on_threshold: f64::INFINITY,
            off_threshold: f64::INFINITY,
            alpha,
            rebaseline_countdown: stats_step,
            guard_until: 0,
            above_since: None,
            below_since: None,
            recent: RecentRing::new(samples(cfg.onset_backtrack_max_s).max(1)),
            onset_hold: samples(cfg.onset_hold_ms / 1000.0).max(1),
            offset_hold: samples(cfg.offset_hold_ms / 1000.0).max(1),
            active: None,
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// Rest mean and SD in force, once calibrated.
    pub fn rest(&self) -> Option<(f64, f64)> {
        (self.phase != Phase::Calibrating).then_some((self.rest_mean, self.rest_sd))
    }

    /// Onset and offset thresholds in force, once calibrated.
    pub fn thresholds(&self) -> Option<(f64, f64)> {
        (self.phase != Phase::Calibrating).then_some((self.on_threshold, self.off_threshold))
    }

    /// Device-clock time of sample `index`.
    fn time_s(&self, index: u64) -> f64 {
        self.start_time_s + index as f64 / self.rate_hz
    }

    /// Time of the next sample to come: everything before it has been seen.
    pub fn frontier_s(&self) -> f64 {
        self.time_s(self.index)
    }

    /// Index of the first sample whose device time is at or after `t_s` (by the same formula as
    /// every reported time); `u64::MAX` when no sample is.
    pub fn first_index_at(&self, t_s: f64) -> u64 {
        let x = ((t_s - self.start_time_s) * self.rate_hz).ceil();
        if x.is_nan() || x >= (u64::MAX / 4) as f64 {
            return u64::MAX;
        }
        let mut k = x.max(0.0) as u64;
        // The division in `time_s` may round the other way than the product above.
        while k > 0 && self.time_s(k - 1) >= t_s {
            k -= 1;
        }
        while self.time_s(k) < t_s {
            k += 1;
        }
        k
    }

    /// Jump over lost samples: indices advance without data; a contraction in progress goes on.
    pub fn skip_to(&mut self, index: u64) {
        if index > self.index {
            self.index = index;
            self.above_since = None;
            self.recent.first = index;
        }
    }

    fn is_pressure(&self) -> bool {
        self.role == Role::Pressure
    }

    fn set_thresholds(&mut self) {
        let floor = if self.is_pressure() {
            self.cfg.pressure_min_rise
        } else {
            self.cfg.onset_min_rel * self.rest_mean.abs()
        };
        let mut rise = (self.cfg.onset_k * self.rest_sd).max(floor);
        if self.role == Role::AbdEmg {
            rise = rise.max(REST_P99_MARGIN * self.rest_p99_rise);
        }
        self.on_threshold = self.rest_mean + rise;
        let ratio = if self.cfg.onset_k > 0.0 {
            (self.cfg.offset_k / self.cfg.onset_k).clamp(0.0, 1.0)
        } else {
            1.0
        };
        self.off_threshold = self.rest_mean + rise * ratio;
    }

    fn finish_calibration(&mut self) {
        let v = &mut self.calibration;
        if v.is_empty() {
            return;
        }
        v.sort_by(|a, b| a.total_cmp(b));
        let median = v[v.len() / 2];
        let p99 = v[((v.len() - 1) as f64 * 0.99).round() as usize];
        self.rest_p99_rise = (p99 - median).max(0.0);
        let mut dev: Vec<f64> = v.iter().map(|x| (x - median).abs()).collect();
        dev.sort_by(|a, b| a.total_cmp(b));
        let mad_sd = 1.4826 * dev[dev.len() / 2];
        // An envelope's rest distribution is skewed (long upper tail): its upper spread,
        // P84 − median (= σ for a Gaussian), is what decides false onsets.
        let p84 = v[((v.len() - 1) as f64 * 0.8413).round() as usize];
        let upper_sd = (p84 - median).max(0.0);
        let mad_sd = mad_sd.max(upper_sd);
        // A perfectly constant rest (a synthetic or saturated channel) still needs a spread.
        let sd = mad_sd.max(1e-6 * median.abs()).max(1e-12);
        self.rest_mean = median;
        self.rest_sd = sd;
        self.rest_var = sd * sd;
        self.calibrated_sd = sd;
        self.calibration = Vec::new();
        self.set_thresholds();
        self.phase = Phase::Rest;
    }

    /// Process a block of envelope values that starts at sample `start_index`; outputs are
    /// appended to `out` in time order.
    pub fn process(&mut self, start_index: u64, envelope: &[f64], out: &mut Vec<DetectorOutput>) {
        self.skip_to(start_index);
        for &e in envelope {
            self.step(e, out);
        }
    }

    #[inline]
    fn step(&mut self, e: f64, out: &mut Vec<DetectorOutput>) {
        let idx = self.index;
        self.index += 1;
        self.recent.put(idx, e);
        match self.phase {
            Phase::Calibrating => {
                if idx >= self.calibration_start
                    && (idx - self.calibration_start) % self.stats_step == 0
                {
                    self.calibration.push(e);
                }
                if idx + 1 >= self.calibration_end {
                    self.finish_calibration();
                }
            }
            Phase::Rest => self.step_rest(idx, e, out),
            Phase::Active => self.step_active(idx, e, out),
        }
    }

    fn step_rest(&mut self, idx: u64, e: f64, out: &mut Vec<DetectorOutput>) {
        if e > self.on_threshold {
            let since = *self.above_since.get_or_insert(idx);
            if idx + 1 - since >= self.onset_hold {
                self.confirm_onset(idx, since, out);
            }
            return;
        }
        self.above_since = None;
        self.rebaseline_countdown -= 1;
        if self.rebaseline_countdown == 0 {
            self.rebaseline_countdown = self.stats_step;
            if self.alpha > 0.0 && idx >= self.guard_until {
                let d = e - self.rest_mean;
                self.rest_mean += self.alpha * d;
                // σ stays within ½–2× the calibrated σ (the clamp applied to the variance).
                let var = self.rest_var + self.alpha * (d * d - self.rest_var);
                let sd0 = self.calibrated_sd;
                self.rest_var = var.clamp(0.25 * sd0 * sd0, 4.0 * sd0 * sd0);
                self.rest_sd = self.rest_var.sqrt();
                self.set_thresholds();
            }
        }
    }

    fn confirm_onset(&mut self, idx: u64, since: u64, out: &mut Vec<DetectorOutput>) {
        let back_threshold = self.rest_mean + BACKTRACK_K * self.rest_sd;
        // Walk back from the first crossing to where the envelope last was near rest.
        // Pressure is smooth: also stop where it stops rising, so a breathing swell before the
        // squeeze is not taken as part of it. An EMG envelope is too rough for that rule.
        let smooth = self.is_pressure();
        let mut onset_index = since;
        let mut later = f64::INFINITY;
        for (i, v) in self.recent.newest_first(idx) {
            if i >= since {
                later = v;
                continue;
            }
            if v <= back_threshold || (smooth && v >= later) {
                break;
            }
            onset_index = i;
            later = v;
        }
        let mut active = Active {
            onset_index,
            peak: f64::NEG_INFINITY,
            peak_index: onset_index,
            thinned: Vec::new(),
            thin_countdown: 0,
            baseline: if self.is_pressure() {
                self.rest_mean
            } else {
                0.0
            },
        };
        let held: Vec<(u64, f64)> = self
            .recent
            .newest_first(idx)
            .take_while(|&(i, _)| i >= onset_index)
            .collect();
        for &(i, v) in held.iter().rev() {
            if v > active.peak {
                active.peak = v;
                active.peak_index = i;
            }
            if (i - onset_index) % self.stats_step == 0 {
                active.thinned.push(v);
            }
        }
        // The next thinned sample: `stats_step` after the last one taken.
        active.thin_countdown = self.stats_step - (idx - onset_index) % self.stats_step;
        self.active = Some(active);
        self.above_since = None;
        self.below_since = None;
        self.phase = Phase::Active;
        out.push(DetectorOutput::Onset(OnsetNotice {
            channel: self.channel,
            role: self.role,
            onset_s: self.time_s(onset_index) - self.delay_s,
            decided_at_s: self.time_s(idx),
        }));
    }

    fn step_active(&mut self, idx: u64, e: f64, out: &mut Vec<DetectorOutput>) {
        let step = self.stats_step;
        if let Some(a) = self.active.as_mut() {
            if e > a.peak {
                a.peak = e;
                a.peak_index = idx;
            }
            a.thin_countdown -= 1;
            if a.thin_countdown == 0 {
                a.thin_countdown = step;
                a.thinned.push(e);
            }
        }
        if e < self.off_threshold {
            let since = *self.below_since.get_or_insert(idx);
            if idx + 1 - since >= self.offset_hold {
                self.end_contraction(since, idx, out);
            }
        } else {
            self.below_since = None;
        }
    }

    fn end_contraction(&mut self, offset_index: u64, idx: u64, out: &mut Vec<DetectorOutput>) {
        let Some(a) = self.active.take() else {
            return;
        };
        self.phase = Phase::Rest;
        self.below_since = None;
        self.guard_until = idx + (REBASELINE_GUARD_S * self.rate_hz) as u64;
        out.push(DetectorOutput::Event(self.measure(a, offset_index, idx)));
    }

    /// Build the event for a contraction from `a.onset_index` to `offset_index`.
    fn measure(&self, a: Active, offset_index: u64, decided_index: u64) -> ContractionEvent {
        let onset_s = self.time_s(a.onset_index) - self.delay_s;
        let offset_s = self.time_s(offset_index) - self.delay_s;
        let peak_time_s = self.time_s(a.peak_index) - self.delay_s;
        let duration_s = offset_s - onset_s;
        // The hold: skip the rise (1 s, or a quarter of short contractions) and the release.
        let skip_s = (0.25 * duration_s).min(1.0);
        let tail_s = (0.15 * duration_s).min(0.5);
        let dt = self.stats_step as f64 / self.rate_hz;
        let n =
            (((offset_index - a.onset_index) / self.stats_step + 1) as usize).min(a.thinned.len());
        let (mut lo, mut hi) = (
            (skip_s / dt) as usize,
            n.saturating_sub((tail_s / dt) as usize),
        );
        if lo >= hi {
            (lo, hi) = (0, n);
        }
        let hold = &a.thinned[lo..hi];
        let (mean, cv_pct) = mean_cv(hold, a.baseline);
        let kind = if duration_s < self.cfg.min_contraction_s {
            EventKind::Artifact
        } else if self.role == Role::AbdEmg {
            EventKind::AbdominalActivity
        } else {
            EventKind::Contraction
        };
        ContractionEvent {
            channel: self.channel,
            role: self.role,
            kind,
            onset_s,
            offset_s,
            peak: a.peak - a.baseline,
            peak_time_s,
            mean,
            cv_pct,
            rise_s: peak_time_s - onset_s,
            release_s: offset_s - peak_time_s,
            rest_mean: self.rest_mean,
            rest_sd: self.rest_sd,
            abd_mean: None,
            abd_index: None,
            decided_at_s: self.time_s(decided_index),
        }
    }

    /// End of stream: a contraction still in progress is closed at the last sample.
    pub fn finish(&mut self, out: &mut Vec<DetectorOutput>) {
        if self.phase == Phase::Calibrating {
            self.finish_calibration();
        }
        if let Some(a) = self.active.take() {
            let last = self.index.saturating_sub(1);
            self.phase = Phase::Rest;
            out.push(DetectorOutput::Event(self.measure(a, last, last)));
        }
    }
}

fn mean_cv(values: &[f64], baseline: f64) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let n = values.len() as f64;
    let mean = values.iter().map(|v| v - baseline).sum::<f64>() / n;
    let var = values
        .iter()
        .map(|v| {
            let d = v - baseline - mean;
            d * d
        })
        .sum::<f64>()
        / n;
    let cv = if mean.abs() > 0.0 {
        100.0 * var.sqrt() / mean.abs()
    } else {
        0.0
    };
    (mean, cv)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(det: &mut ChannelDetector, env: &[f64]) -> Vec<DetectorOutput> {
        let mut out = Vec::new();
        for (i, chunk) in env.chunks(64).enumerate() {
            det.process((i * 64) as u64, chunk, &mut out);
        }
        det.finish(&mut out);
        out
    }

    /// A rest level of 3 with a ±0.2 ripple, and a trapezoid squeeze to 20 from 10 s to 15 s.
    fn synthetic(rate: f64) -> Vec<f64> {
        (0..(25.0 * rate) as usize)
            .map(|i| {
                let t = i as f64 / rate;
                let ripple = 0.2 * (t * 37.0).sin();
                let level = if (10.0..10.2).contains(&t) {
                    17.0 * (t - 10.0) / 0.2
                } else if (10.2..14.8).contains(&t) {
                    17.0
                } else if (14.8..15.0).contains(&t) {
                    17.0 * (15.0 - t) / 0.2
                } else {
                    0.0
                };
                3.0 + ripple + level
            })
            .collect()
    }

    #[test]
    fn finds_one_contraction_with_onset_and_offset_near_the_truth() {
        let rate = 1000.0;
        let mut det =
            ChannelDetector::new(&DetectorConfig::default(), 0, Role::PfmEmg, rate, 0.0, 0.0);
        let out = run(&mut det, &synthetic(rate));
        let events: Vec<_> = out
            .iter()
            .filter_map(|o| match o {
                DetectorOutput::Event(e) => Some(e),
                _ => None,
            })
            .collect();
        assert_eq!(events.len(), 1, "{out:?}");
        let e = events[0];
        assert_eq!(e.kind, EventKind::Contraction);
        assert!((e.onset_s - 10.0).abs() < 0.05, "onset {}", e.onset_s);
        assert!((e.offset_s - 15.0).abs() < 0.05, "offset {}", e.offset_s);
        assert!((e.peak - 20.2).abs() < 0.05);
        assert!((e.mean - 20.0).abs() < 0.3, "mean {}", e.mean);
        assert!(e.cv_pct < 2.0);
        // Decided after the offset hold, not at the end of the stream.
        assert!(e.decided_at_s > e.offset_s && e.decided_at_s < 15.5);
        // The onset notice came first, within the onset hold of the crossing.
        match &out[0] {
            DetectorOutput::Onset(n) => assert!(n.decided_at_s < 10.2),
            other => panic!("expected onset first, got {other:?}"),
        }
    }

    #[test]
    fn pressure_events_are_measured_above_the_tracked_baseline() {
        let rate = 100.0;
        let mut det = ChannelDetector::new(
            &DetectorConfig::default(),
            0,
            Role::Pressure,
            rate,
            0.0,
            0.0,
        );
        let env: Vec<f64> = synthetic(rate).iter().map(|v| v + 15.0).collect();
        let out = run(&mut det, &env);
        let e = out
            .iter()
            .find_map(|o| match o {
                DetectorOutput::Event(e) => Some(e.clone()),
                _ => None,
            })
            .expect("one event");
        assert!((e.peak - 17.2).abs() < 0.5, "peak above rest {}", e.peak);
    }

    #[test]
    fn short_bursts_are_not_contractions() {
        let rate = 1000.0;
        let mut env = vec![3.0; 20_000];
        for v in &mut env[10_000..10_150] {
            *v = 30.0;
        }
        let mut det =
            ChannelDetector::new(&DetectorConfig::default(), 0, Role::PfmEmg, rate, 0.0, 0.0);
        let out = run(&mut det, &env);
        let kinds: Vec<_> = out
            .iter()
            .filter_map(|o| match o {
                DetectorOutput::Event(e) => Some(e.kind),
                _ => None,
            })
            .collect();
        assert_eq!(kinds, vec![EventKind::Artifact]);
    }

    #[test]
    fn first_index_at_agrees_with_the_sample_times() {
        for (rate, start) in [(2000.0, 0.0), (100.0, 0.0), (7.69, 44.78), (34.81, 0.0)] {
            let det = ChannelDetector::new(
                &DetectorConfig::default(),
                0,
                Role::PfmEmg,
                rate,
                start,
                0.0,
            );
            for k in [0u64, 1, 2, 97, 4095, 123_457] {
                let t = det.time_s(k);
                assert_eq!(det.first_index_at(t), k, "rate {rate} index {k}");
                let between = 0.5 * (t + det.time_s(k + 1));
                assert_eq!(det.first_index_at(between), k + 1, "rate {rate} index {k}");
            }
            assert_eq!(det.first_index_at(start - 10.0), 0);
            assert_eq!(det.first_index_at(f64::INFINITY), u64::MAX);
        }
    }

    #[test]
    fn constant_input_never_triggers_and_never_panics() {
        let mut det =
            ChannelDetector::new(&DetectorConfig::default(), 0, Role::PfmEmg, 500.0, 0.0, 0.0);
        let out = run(&mut det, &vec![5.0; 10_000]);
        assert!(out.is_empty());
        assert!(det.rest().is_some());
    }
}
