//! Streaming synthesis: each channel turns its part of the plan into samples, one run of sample
//! indices at a time. All state (filters, oscillators, generators, cursors into the plan) lives
//! in the synthesiser, so the samples do not depend on how the stream is cut into blocks, and
//! memory does not grow with the session length.

use super::conditions::{quantise, DcOffset, FloorModulation, InflationCreep, ProbeSlip};
use super::dsp::{sin_turns, ActivityDesigner, NoiseShaper, Osc};
use super::rng::Rng;
use super::schedule::{tag, EmgPlan, PressurePlan, Pulse, Spike};
use super::PatientParams;
use std::f64::consts::PI;

/// Rest-floor band, Hz (SENIAM band; the low-pass is moved below Nyquist at low rates).
pub const FLOOR_HIGHPASS_HZ: f64 = 20.0;
pub const FLOOR_LOWPASS_HZ: f64 = 450.0;
/// Cough burst band, Hz.
pub const COUGH_HIGHPASS_HZ: f64 = 20.0;
pub const COUGH_LOWPASS_HZ: f64 = 300.0;

/// A sorted, non-overlapping list of pulses with their sample-index spans at one rate, and a
/// cursor that only moves forward.
struct Track<T> {
    items: Vec<T>,
    spans: Vec<(u64, u64)>,
    cursor: usize,
}

impl<T> Track<T> {
    fn new(items: Vec<T>, fs: f64, span_s: impl Fn(&T) -> (f64, f64)) -> Self {
        let spans = items
            .iter()
            .map(|it| {
                let (a, b) = span_s(it);
                (
                    (a * fs).ceil().max(0.0) as u64,
                    (b * fs).ceil().max(0.0) as u64,
                )
            })
            .collect();
        Track {
            items,
            spans,
            cursor: 0,
        }
    }

    /// The overlaps of `[a, b)` with the items, in order, as (item index, from, to, item).
    fn overlaps(&mut self, a: u64, b: u64) -> impl Iterator<Item = (usize, u64, u64, &T)> + '_ {
        while self.cursor < self.spans.len() && self.spans[self.cursor].1 <= a {
            self.cursor += 1;
        }
        let c = self.cursor;
        let items = &self.items;
        self.spans[c..]
            .iter()
            .enumerate()
            .take_while(move |(_, s)| s.0 < b)
            .filter_map(move |(j, s)| {
                let from = s.0.max(a);
                let to = s.1.min(b);
                (from < to).then(|| (c + j, from, to, &items[c + j]))
            })
    }
}

fn pulse_span(p: &Pulse) -> (f64, f64) {
    (p.start_s, p.end_s())
}

/// Plateau wobble shared by every voluntary contraction of the patient (same on EMG and
/// pressure): 1 + w·sin(2π f t + φ).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wobble {
    rel: f64,
    hz: f64,
    phase_turns: f64,
}

impl Wobble {
    pub fn of(p: &PatientParams) -> Self {
        Wobble {
            rel: p.wobble_rel,
            hz: p.wobble_hz,
            phase_turns: p.wobble_phase_turns,
        }
    }

    #[inline]
    fn gain(&self, pulse: &Pulse, t: f64) -> f64 {
        if pulse.wobble {
            1.0 + self.rel * sin_turns(self.hz * t + self.phase_turns)
        } else {
            1.0
        }
    }
}

/// QRS-like complexes (Ricker wavelet) at a jittered heart rate, generated beat by beat.
struct Ecg {
    rng: Rng,
    fs: f64,
    /// Ricker wavelet sampled at `fs`, centred, peak 1, times the signed amplitude.
    table: Vec<f64>,
    half: i64,
    mean_rr_s: f64,
    hrv_rel: f64,
    /// Current beat centre, seconds and sample index.
    beat_s: f64,
    beat_idx: i64,
}

impl Ecg {
    fn new(p: &PatientParams, fs: f64, seed: u64) -> Self {
        let mut rng = Rng::stream(seed, tag::ECG);
        // Ricker with peak frequency f: sigma = 1 / (π f √2).
        let sigma = 1.0 / (PI * p.ecg_peak_hz * std::f64::consts::SQRT_2);
        let half = (4.0 * sigma * fs).ceil() as i64;
        let amp = p.ecg_amplitude_uv * p.ecg_polarity;
        let table = (-half..=half)
            .map(|k| {
                let x = k as f64 / fs / sigma;
                amp * (1.0 - x * x) * (-0.5 * x * x).exp()
            })
            .collect();
        let mean_rr_s = 60.0 / p.heart_rate_bpm;
        let beat_s = rng.uniform() * mean_rr_s;
        Ecg {
            rng,
            fs,
            table,
            half,
            mean_rr_s,
            hrv_rel: p.hrv_rel,
            beat_s,
            beat_idx: (beat_s * fs).round() as i64,
        }
    }

    fn next_beat(&mut self) {
        let z = self.rng.normal().clamp(-3.0, 3.0);
        self.beat_s += self.mean_rr_s * (1.0 + self.hrv_rel * z);
        self.beat_idx = (self.beat_s * self.fs).round() as i64;
    }

    fn add(&mut self, start: u64, out: &mut [f64]) {
        let a = start as i64;
        let b = a + out.len() as i64;
        loop {
            let lo = self.beat_idx - self.half;
            let hi = self.beat_idx + self.half + 1;
            let from = lo.max(a);
            let to = hi.min(b);
            for idx in from..to {
                out[(idx - a) as usize] += self.table[(idx - lo) as usize];
            }
            if hi <= b {
                self.next_beat();
            } else {
                break;
            }
        }
    }
}

/// One EMG channel (pelvic floor or abdominal).
pub(crate) struct EmgSynth {
    dt: f64,
    floor_rms: f64,
    floor: NoiseShaper,
    floor_rng: Rng,
    activity: Track<Pulse>,
    activity_rng: Rng,
    activity_shaper: NoiseShaper,
    activity_current: Option<usize>,
    designer: ActivityDesigner,
    coughs: Track<Pulse>,
    cough_rng: Rng,
    cough_shaper: NoiseShaper,
    cough_current: Option<usize>,
    dips: Track<Pulse>,
    spikes: Track<Spike>,
    wobble: Wobble,
    /// Mains fundamental, 3rd, 5th harmonic (those below 0.45·fs), then 3 wander sines.
    oscs: Vec<Osc>,
    sensor_rng: Rng,
    sensor_sd: f64,
    ecg: Option<Ecg>,
    /// `dc_offset` condition.
    dc: Option<DcOffset>,
    /// `quiet_rest` condition: slow modulation of the rest floor.
    floor_mod: Option<FloorModulation>,
}

impl EmgSynth {
    /// `abdominal` selects the abdominal channel's parameters and ECG.
    pub fn new(plan: &EmgPlan, p: &PatientParams, fs: f64, abdominal: bool) -> Self {
        let seed = p.seed;
        let base = if abdominal {
            tag::ABD_NOISE
        } else {
            tag::PFM_NOISE
        };
        let (floor_rms, mains_uv, wander_uv, sensor_sd) = if abdominal {
            (
                p.abd_rest_floor_uv,
                p.abd_mains_uv,
                p.abd_wander_uv,
                p.abd_sensor_noise_uv,
            )
        } else {
            (
                p.pfm_rest_floor_uv,
                p.pfm_mains_uv,
                p.pfm_wander_uv,
                p.pfm_sensor_noise_uv,
            )
        };
        // Oscillator phases and wander frequencies come from their own stream so that they are
        // the same at every rate.
        let mut r = Rng::stream(seed, base + 4);
        let mut oscs = Vec::new();
        for (h, rel) in [(1.0, 1.0), (3.0, p.mains_h3_rel), (5.0, p.mains_h5_rel)] {
            let phase = r.uniform();
            if h * p.mains_hz < 0.45 * fs {
                oscs.push(Osc::new(fs, h * p.mains_hz, mains_uv * rel, phase));
            }
        }
        let weights = [r.range(0.5, 1.0), r.range(0.3, 0.8), r.range(0.2, 0.6)];
        let wsum: f64 = weights.iter().sum();
        for w in weights {
            let f = r.range(0.05, 0.5);
            let phase = r.uniform();
            oscs.push(Osc::new(fs, f, wander_uv * w / wsum, phase));
        }
        let designer = ActivityDesigner::new(fs);
        let c = &p.conditions;
        let dc = c.dc_offset.map(|d| if abdominal { d.abd } else { d.pfm });
        let floor_mod = c.quiet_rest.map(|q| {
            if abdominal {
                q.abd_floor_mod
            } else {
                q.pfm_floor_mod
            }
        });
        EmgSynth {
            dt: 1.0 / fs,
            floor_rms,
            floor: NoiseShaper::new(fs, FLOOR_HIGHPASS_HZ, FLOOR_LOWPASS_HZ.min(0.45 * fs)),
            floor_rng: Rng::stream(seed, base),
            activity: Track::new(plan.activity.clone(), fs, pulse_span),
            activity_rng: Rng::stream(seed, base + 1),
            activity_shaper: designer.shaper(90.0),
            activity_current: None,
            designer,
            coughs: Track::new(plan.coughs.clone(), fs, pulse_span),
            cough_rng: Rng::stream(seed, base + 2),
            cough_shaper: NoiseShaper::new(fs, COUGH_HIGHPASS_HZ, COUGH_LOWPASS_HZ.min(0.45 * fs)),
            cough_current: None,
            dips: Track::new(plan.floor_dips.clone(), fs, pulse_span),
            spikes: Track::new(plan.spikes.clone(), fs, |s: &Spike| {
                (s.start_s, s.start_s + s.width_s)
            }),
            wobble: Wobble::of(p),
            oscs,
            sensor_rng: Rng::stream(seed, base + 3),
            sensor_sd,
            ecg: abdominal.then(|| Ecg::new(p, fs, seed)),
            dc,
            floor_mod,
        }
    }

    /// Write samples `start .. start + out.len()` into `out`.
    pub fn fill(&mut self, start: u64, out: &mut [f64]) {
        let end = start + out.len() as u64;
        let EmgSynth {
            dt,
            floor_rms,
            floor,
            floor_rng,
            activity,
            activity_rng,
            activity_shaper,
            activity_current,
            designer,
            coughs,
            cough_rng,
            cough_shaper,
            cough_current,
            dips,
            spikes,
            wobble,
            oscs,
            sensor_rng,
            sensor_sd,
            ecg,
            dc,
            floor_mod,
        } = self;
        let dt = *dt;

        // Rest floor.
        for o in out.iter_mut() {
            *o = *floor_rms * floor.run(floor_rng.normal());
        }
        if let Some(m) = floor_mod {
            for (k, o) in out.iter_mut().enumerate() {
                *o *= m.gain((start + k as u64) as f64 * dt);
            }
        }
        // Rest floor reduced while bearing down.
        for (_, from, to, p) in dips.overlaps(start, end) {
            for idx in from..to {
                out[(idx - start) as usize] *= 1.0 - p.level * p.shape(idx as f64 * dt);
            }
        }
        // Voluntary activity. The shaper is designed for each pulse and starts from rest at its
        // onset, where the envelope is zero.
        for (i, from, to, p) in activity.overlaps(start, end) {
            if *activity_current != Some(i) {
                *activity_shaper = designer.shaper(p.median_hz);
                *activity_current = Some(i);
            }
            for idx in from..to {
                let t = idx as f64 * dt;
                let env = p.level * p.shape(t) * wobble.gain(p, t);
                out[(idx - start) as usize] += env * activity_shaper.run(activity_rng.normal());
            }
        }
        // Cough bursts.
        for (i, from, to, p) in coughs.overlaps(start, end) {
            if *cough_current != Some(i) {
                cough_shaper.reset();
                *cough_current = Some(i);
            }
            for idx in from..to {
                let env = p.level * p.shape(idx as f64 * dt);
                out[(idx - start) as usize] += env * cough_shaper.run(cough_rng.normal());
            }
        }
        // Mains, baseline wander, sensor noise.
        for o in out.iter_mut() {
            let mut v = *sensor_sd * sensor_rng.fast_normal();
            for osc in oscs.iter_mut() {
                v += osc.next_sample();
            }
            *o += v;
        }
        // Motion spikes: one biphasic sine cycle.
        for (_, from, to, s) in spikes.overlaps(start, end) {
            for idx in from..to {
                let u = (idx as f64 * dt - s.start_s) / s.width_s;
                out[(idx - start) as usize] += s.amplitude_uv * sin_turns(u.clamp(0.0, 1.0));
            }
        }
        if let Some(ecg) = ecg.as_mut() {
            ecg.add(start, out);
        }
        if let Some(d) = dc {
            for (k, o) in out.iter_mut().enumerate() {
                *o += d.at((start + k as u64) as f64 * dt);
            }
        }
    }
}

/// The pressure channel.
pub(crate) struct PressureSynth {
    dt: f64,
    rest: f64,
    drift: f64,
    inv_drift_tau: f64,
    /// Ornstein–Uhlenbeck wander on top of the drift: state, decay per sample, innovation SD.
    ou: f64,
    ou_decay: f64,
    ou_sd: f64,
    drift_rng: Rng,
    breathing: Osc,
    noise_sd: f64,
    noise_rng: Rng,
    rises: Track<Pulse>,
    coughs: Track<Pulse>,
    wobble: Wobble,
    /// `inflation_creep`, `probe_slip`, and the sensor's resolution (`pressure_20hz`/`50hz`).
    creep: Option<InflationCreep>,
    slip: Option<ProbeSlip>,
    resolution: Option<f64>,
}

/// Slow wander of the pressure baseline: SD, cmH2O, and time constant, s.
pub const PRESSURE_WANDER_SD_CMH2O: f64 = 0.3;
pub const PRESSURE_WANDER_TAU_S: f64 = 60.0;

impl PressureSynth {
    pub fn new(plan: &PressurePlan, p: &PatientParams, fs: f64) -> Self {
        let mut r = Rng::stream(p.seed, tag::PRESSURE_DRIFT);
        let breathing_phase = r.uniform();
        let c = &p.conditions;
        let (wander_sd, wander_tau) = c
            .wandering_rest
            .map_or((PRESSURE_WANDER_SD_CMH2O, PRESSURE_WANDER_TAU_S), |w| {
                (w.wander_sd_cmh2o, w.wander_tau_s)
            });
        let ou_decay = (-1.0 / (wander_tau * fs)).exp();
        PressureSynth {
            dt: 1.0 / fs,
            rest: p.pressure_rest_cmh2o,
            drift: p.drift_cmh2o,
            inv_drift_tau: 1.0 / p.drift_tau_s,
            ou: wander_sd * r.normal(),
            ou_decay,
            ou_sd: wander_sd * (1.0 - ou_decay * ou_decay).sqrt(),
            drift_rng: r,
            breathing: Osc::new(fs, p.breathing_hz, p.breathing_cmh2o, breathing_phase),
            noise_sd: p.pressure_noise_cmh2o,
            noise_rng: Rng::stream(p.seed, tag::PRESSURE_NOISE),
            rises: Track::new(plan.rises.clone(), fs, pulse_span),
            coughs: Track::new(plan.coughs.clone(), fs, pulse_span),
            wobble: Wobble::of(p),
            creep: c.inflation_creep,
            slip: c.probe_slip.filter(|s| s.time_s.is_some()),
            resolution: c.pressure_sensor.map(|s| s.resolution_cmh2o),
        }
    }

    pub fn fill(&mut self, start: u64, out: &mut [f64]) {
        let end = start + out.len() as u64;
        let dt = self.dt;
        for (k, o) in out.iter_mut().enumerate() {
            let t = (start + k as u64) as f64 * dt;
            self.ou = self.ou * self.ou_decay + self.ou_sd * self.drift_rng.normal();
            *o = self.rest
                + self.drift * (1.0 - (-t * self.inv_drift_tau).exp())
                + self.ou
                + self.breathing.next_sample()
                + self.noise_sd * self.noise_rng.normal();
        }
        let wobble = self.wobble;
        for (_, from, to, p) in self.rises.overlaps(start, end) {
            for idx in from..to {
                let t = idx as f64 * dt;
                out[(idx - start) as usize] += p.level * p.shape(t) * wobble.gain(p, t);
            }
        }
        for (_, from, to, p) in self.coughs.overlaps(start, end) {
            for idx in from..to {
                out[(idx - start) as usize] += p.level * p.shape(idx as f64 * dt);
            }
        }
        if let Some(c) = self.creep {
            for (k, o) in out.iter_mut().enumerate() {
                let t = (start + k as u64) as f64 * dt;
                *o += c.amplitude_cmh2o * (-t / c.tau_s).exp();
            }
        }
        if let Some(s) = self.slip {
            for (k, o) in out.iter_mut().enumerate() {
                *o += s.at((start + k as u64) as f64 * dt);
            }
        }
        if let Some(step) = self.resolution {
            for o in out.iter_mut() {
                *o = quantise(*o, step);
            }
        }
    }
}
