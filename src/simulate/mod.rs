//! The simulated patient: a seedable, streaming source of pelvic-floor EMG, abdominal EMG and
//! probe pressure, with the ground truth of everything the patient did.
//!
//! It is the reference of every detection test, so it aims to be realistic enough to catch a
//! weak detector: poor-SNR sessions, fatigue that lowers both amplitude and median frequency,
//! mains hum with harmonics, baseline wander, ECG bleed on the abdominal channel, abdominal
//! co-activation starting before the pelvic floor, coughs, straining that raises pressure while
//! the pelvic floor goes quiet, and motion spikes.
//!
//! # Determinism
//!
//! Everything follows from `(protocol, seed)`: the patient ([`PatientParams`]) and the whole
//! schedule ([`SimulatedPatient::truth`], [`SimulatedPatient::cues`]) are drawn up front and do
//! not depend on the rates, the channels asked for or the block length. Samples depend on the
//! rate of their channel but never on `block_s`: each channel keeps its own generators, filters
//! and oscillators, so cutting the stream differently yields the same samples. The generator is
//! our own xoshiro256** ([`rng`]), and the filters are our own biquads, so a seed reproduces
//! the same session forever. [`SIMULATOR_VERSION`] changes whenever that would no longer hold.
//!
//! # Streaming
//!
//! Samples are synthesised block by block from the schedule; memory does not grow with the
//! session (the `long` protocol is an hour). Per sample: one filtered Gaussian for the rest
//! floor, one more only inside contractions and coughs, table-driven oscillators for mains and
//! wander, a cheap Irwin–Hall deviate for sensor noise, a table lookup for ECG complexes.
//!
//! # Protocols
//!
//! Every session starts with 10 s of rest (the detector's calibration; no contraction, cough or
//! motion spike in it; the first contraction starts ≥ 10.3 s, its co-activation ≥ 10.1 s) and
//! ends with 5–8 s of rest. Cues are what the patient is told ("Rest", "Squeeze", "Relax",
//! "Quick squeeze", "Cough", "Squeeze and cough"); the patient reacts 0.15–0.6 s later.
//!
//! | protocol   | what the patient does |
//! |------------|-----------------------|
//! | `identify` | 10 identification squeezes: cue every 4 s (2 s squeeze, 2 s relax), hold (onset → start of release) 1.8–2.6 s, level 0.9–1.1 × rep 1 level; ≥ 2 s rest between (the cue waits if needed). |
//! | `strength` | 5-s holds every 10 s until failure: holds 1 … N−1 last 5.1–5.6 s with level `exp(−λ(k−1))` × (0.97–1.03) (from 1 down to 0.60–0.75 at rep N−1) and median frequency falling linearly from `pfm_median_hz_rep1` to `pfm_median_hz_at_failure` at rep N; rep N = `reps_to_failure` (8–30) fails: hold 2–4 s **and** level 0.30–0.42 × rep 1. Then 3–6 s more rest and 5 quick flicks (0.6–1.0 s, ramps 0.08–0.15 s, 2–3 s apart, level 0.75–1.05 × rep 1). |
//! | `mixed`    | 6 identification squeezes, 1 strain, 6 strength holds (fatigued as above, all valid), 3 instructed coughs, 5 quick flicks, 2 knack squeezes (cough 0.8–1.2 s after onset, held 1.0–1.5 s after the cough), 1 strain; every event separated by 2.5–4 s rest. |
//! | guided     | [`SimulatedPatient::guided`]: follows a guided session's phases and cues (`knip session`, `knip demo`); per-rep truth in [`RepTruth`]; see `schedule/guided.rs`. |
//! | `long`     | the `mixed` round repeated (10–30 s pause between rounds, fatigue restarting each round) until 3600 s: a one-hour session for benchmarks and memory tests. |
//!
//! In every protocol 0–2 spontaneous coughs happen at rest, ≥ 2.2 s (`mixed`, `long`: ≥ 2.7 s)
//! after the previous event and before the next (the schedule waits for them).
//!
//! # Signals
//!
//! * **EMG** (µV, `emg_rate_hz`): rest floor (Gaussian noise, 20–450 Hz 2nd-order Butterworth
//!   band, low-pass moved to 0.45·fs at low rates) + activity (Gaussian noise through a
//!   2nd-order high-pass at 0.5·fc and low-pass at 1.6·fc, scaled to unit RMS, `fc` set so the
//!   spectrum's median frequency is the drawn one) × level × envelope × wobble + cough bursts
//!   (20–300 Hz noise) + mains (fundamental, 3rd, 5th harmonics below 0.45·fs) + baseline wander
//!   (3 sines) + white sensor noise + motion spikes (one sine cycle) + on the abdominal channel
//!   ECG (Ricker wavelets).
//! * **Envelope** of a contraction: raised-cosine rise, plateau, raised-cosine fall; voluntary
//!   activity (EMG and pressure) is multiplied by the wobble `1 + w·sin(2π f t + φ)`.
//! * **Pressure** (cmH2O, `pressure_rate_hz`): rest level + drift `d·(1 − e^{−t/τ})` +
//!   Ornstein–Uhlenbeck wander (SD 0.3 cmH2O, τ 60 s) + breathing sine + white noise + squeezes
//!   (same envelope and times as the pelvic EMG, level falling with fatigue like the EMG) +
//!   strains + cough spikes.
//!
//! # Patient parameters (drawn once per seed, the same in every protocol)
//!
//! | field | range | unit | meaning |
//! |---|---|---|---|
//! | `pfm_rest_floor_uv` | 2–7 | µV RMS | pelvic-floor rest floor (20–450 Hz noise) |
//! | `abd_rest_floor_uv` | 2–7 | µV RMS | abdominal rest floor |
//! | `pfm_level_uv` | 7–150 | µV RMS | pelvic activity at rep 1 = SNR × floor, SNR log-uniform 2.5–30, level clamped to 7–150 |
//! | `snr` | ≈ 2.5–30 | ratio | `pfm_level_uv / pfm_rest_floor_uv` after clamping |
//! | `pfm_median_hz_rep1` | 75–100 | Hz | median frequency of the pelvic activity spectrum, unfatigued |
//! | `pfm_median_hz_at_failure` | 0.58–0.70 × rep 1 (≈ 44–70) | Hz | median frequency at the failing strength rep |
//! | `abd_median_hz` | 80–110 | Hz | median frequency of abdominal activity |
//! | `wobble_rel`, `wobble_hz`, `wobble_phase_turns` | 0.05–0.10, 0.3–1.0, 0–1 | –, Hz, turns | plateau wobble |
//! | `reps_to_failure` | 8–30 | reps | the strength rep that fails (N − 1 valid holds) |
//! | `level_before_failure_rel` | 0.60–0.75 | × rep 1 | level of rep N−1 |
//! | `fatigue_rate_per_rep` | 1 − (level_before_failure_rel)^(1/(N−2)) ≈ 0.01–0.08 | fraction/rep | amplitude lost per strength rep |
//! | `failure_level_rel` | 0.30–0.42 | × rep 1 | level of the failing rep |
//! | `mains_hz` | 50 or 60 | Hz | mains frequency (even odds) |
//! | `pfm_mains_uv`, `abd_mains_uv` | 0.5–5 | µV peak | mains fundamental per channel |
//! | `mains_h3_rel`, `mains_h5_rel` | 0.2–0.5, 0.1–0.3 | × fundamental | 3rd and 5th harmonics |
//! | `pfm_wander_uv`, `abd_wander_uv` | 10–50 | µV | baseline wander: sum of peaks of 3 sines at 0.05–0.5 Hz |
//! | `pfm_sensor_noise_uv`, `abd_sensor_noise_uv` | 0.2–0.5 | µV RMS | white sensor noise |
//! | `ecg_amplitude_uv`, `ecg_polarity` | 20–60, ±1 | µV peak | ECG bleed on the abdominal channel only |
//! | `heart_rate_bpm` | 55–90 | beats/min | mean heart rate |
//! | `hrv_rel` | 0.02–0.05 | SD of RR / mean RR | beat-to-beat variability |
//! | `ecg_peak_hz` | 14–17 | Hz | Ricker peak frequency (complex ≈ 80–100 ms wide, energy 10–40 Hz) |
//! | `pressure_rest_cmh2o` | 17–21 | cmH2O | pressure at rest |
//! | `squeeze_pressure_cmh2o` | 10–60 | cmH2O | squeeze pressure rise at rep 1 |
//! | `breathing_hz`, `breathing_cmh2o` | 0.2–0.33, 0.3–1.5 | Hz, cmH2O peak | breathing ripple |
//! | `drift_cmh2o`, `drift_tau_s` | ±1–4, 300–900 | cmH2O, s | slow baseline drift `d·(1 − e^{−t/τ})` |
//! | `pressure_noise_cmh2o` | 0.1–0.3 | cmH2O RMS | pressure sensor noise |
//! | `coactivation_share` | 0–0.5 | probability | share of contractions with abdominal co-activation |
//! | `strain_floor_factor` | 0.55–0.65 | × rest floor | pelvic rest floor while bearing down |
//! | `spontaneous_cough_count` | 0–2 | coughs | unasked coughs at rest |
//! | `spike_rate_per_min` | 0.5–1.5 | 1/min | motion spikes (after the first 10 s, ≥ 1 s from every truth onset/offset) |
//!
//! Per event (drawn from the schedule stream):
//!
//! | event | ranges |
//! |---|---|
//! | squeeze ramps | rise and fall 0.15–0.4 s each (raised cosine) |
//! | quick flick | total 0.6–1.0 s, rise and fall 0.08–0.15 s |
//! | co-activation | abdominal level `max(0.15–0.6 × pelvic level, 1.5 × abd floor)`; onset −0.1…+0.1 s from the pelvic onset, in 25 % of cases −0.2…−0.1 s (before it); ramps 0.8–1.2 × pelvic; end ±0.1 s from the pelvic end. Truth row `abd_emg`, `coactivation`, rep of its squeeze |
//! | cough | EMG burst 0.2–0.35 s (rise 30 %, plateau 20 %, fall 50 %) on both EMG channels, `max(40–150 µV, 6 × floor)` RMS each; pressure spike 0.25–0.45 s (rise 20 %, fall 80 %), +40–100 cmH2O. Truth: one `cough` row per channel, rep 0 |
//! | strain | pressure +15–40 cmH2O, rise 0.5–1 s, plateau 3–5 s, fall 0.5–1 s; abdominal activity `max(30–100 µV, 6 × floor)` with the same envelope; pelvic rest floor × `strain_floor_factor`. Truth: `strain` on `pressure` and `abd_emg` |
//! | motion spike | single EMG channel, one sine cycle of 20–40 ms, ±50–200 µV peak (no truth row) |
//!
//! # Conditions (off by default; [`SimConfig::conditions`], `knip simulate --condition NAME`)
//!
//! Real-world conditions (issue 11). Each draws from its own stream (tags 60–68, the slip's
//! position 80), so enabling one never changes the draws of another, and without conditions a
//! seed gives exactly the samples and truth it gave before conditions existed. What they drew is
//! in [`PatientParams::conditions`] ([`ConditionParams`]). They are applied in this order; a later
//! one wins where two set the same field (`weak` sets the SNR after `quiet_rest`). Guided
//! sessions refuse conditions.
//!
//! | condition | what changes | ranges |
//! |---|---|---|
//! | `calibration_squeeze` | one squeeze inside the calibration rest, on pelvic EMG and pressure (no co-activation); truth rows `squeeze` on `pfm_emg` and `pressure`, rep 0 | onset 0.8–3.0 s, rise and fall 0.15–0.4 s, hold (onset → release) 1.5–3 s, shortened so that it ends by 5.5 s; level 0.8–1.0 × rep 1 |
//! | `dc_offset` | single-ended EMG: each EMG channel + `offset + drift·(1 − e^{−t/τ})` from sample 0 | offset ±1000–6000 µV (random sign), drift ±50–300 µV, τ 120–600 s, per channel |
//! | `quiet_rest` | very quiet bipolar rest: both rest floors × `1 + m·(0.6 sin(2πt/P₁+φ₁) + 0.4 sin(2πt/P₂+φ₂))`; pelvic level = SNR × floor (no 7 µV clamp) | floors 1.0–2.0 µV RMS, sensor noise 0.1–0.2 µV, mains 0–0.3 µV, m 0.2–0.4, P 20–90 s, SNR 4–15 |
//! | `inflation_creep` | pressure + A·e^(−t/τ) (balloon settling after inflation) | A 5–15 cmH2O, τ 60–240 s |
//! | `probe_slip` | one raised-cosine step of the pressure rest level; no truth row (time in `probe_slip.time_s`) | step ±4–8 cmH2O, taking 30–100 ms; starts in rest ≥ 15 s, ≥ 1.5 s from every truth row (the whole step), ≥ 1.5 s before the end |
//! | `weak` | weak patient (DOMAIN "very weak" band and below) | squeeze pressure at rep 1 4–15 cmH2O; pelvic SNR 2–4 (level = SNR × floor, no clamp) |
//! | `wandering_rest` | the pressure's Ornstein–Uhlenbeck wander | SD 2–4 cmH2O, τ 15–40 s (instead of 0.3 cmH2O, 60 s) |
//! | `pressure_20hz`, `pressure_50hz` | slow sensor: pressure at 20 or 50 Hz (overrides `pressure_rate_hz`; 20 Hz if both), values rounded to 0.1 cmH2O | – |
//!
//! Truth rows (`crate::truth::TruthEvent`): for every squeeze and quick flick one row on
//! `pfm_emg` (amplitude = µV RMS of the activity at envelope 1) and one on `pressure`
//! (amplitude = cmH2O rise), `onset_s` = start of the rise, `offset_s` = end of the fall, `rep`
//! = 1-based rep within its kind (identification squeezes, strength holds, knack squeezes,
//! flicks and strains are numbered separately). Only rows for channels in `SimConfig::roles`.

pub mod conditions;
pub mod dsp;
pub mod rng;
mod schedule;
mod synth;
pub mod write;

use crate::error::InputError;
use crate::frame::{Block, ChannelChunk, ChannelSpec, Role, StreamSpec};
use crate::source::Source;
use crate::truth::TruthEvent;
use serde::Serialize;
use synth::{EmgSynth, PressureSynth};

pub use conditions::{condition_names, parse_conditions, Condition, ConditionParams};
pub use schedule::guided::GuidedParams;
pub use schedule::{CALIBRATION_REST_S, END_REST_MIN_S, LONG_SESSION_S};

/// Bumped whenever the same (protocol, seed) would give different samples or truth.
pub const SIMULATOR_VERSION: u32 = 1;

/// Settings of a simulated session.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// One of [`protocol_names`]: `identify`, `strength`, `mixed`, `long`.
    pub protocol: String,
    pub seed: u64,
    /// EMG sampling rate, Hz (250–20000; default 2000).
    pub emg_rate_hz: f64,
    /// Pressure sampling rate, Hz (10–2000; default 100).
    pub pressure_rate_hz: f64,
    /// Channels to produce, in this order (default all three: pfm_emg, abd_emg, pressure).
    pub roles: Vec<Role>,
    /// Device time covered by each block, seconds (0.001–60; default 0.05).
    pub block_s: f64,
    /// Real-world conditions of the patient and her equipment (default none; see
    /// [`Condition`]). `pressure_20hz` / `pressure_50hz` override `pressure_rate_hz`.
    pub conditions: Vec<Condition>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            protocol: "strength".to_string(),
            seed: 1,
            emg_rate_hz: 2000.0,
            pressure_rate_hz: 100.0,
            roles: Role::ALL.to_vec(),
            block_s: 0.05,
            conditions: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("unknown simulation protocol '{name}'; choose one of: {known}")]
    UnknownProtocol { name: String, known: String },
    #[error("unknown condition '{name}'; choose any of: {known} (or all)")]
    UnknownCondition { name: String, known: String },
    #[error("bad simulator settings: {0}")]
    BadConfig(String),
}

/// What the patient is told at `time_s`, for `duration_s`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cue {
    pub time_s: f64,
    pub duration_s: f64,
    /// "Rest", "Squeeze", "Relax", "Quick squeeze", "Cough", "Squeeze and cough".
    pub text: String,
    /// Rep number (1-based within its kind), 0 for rest and coughs.
    pub rep: u32,
}

/// What the simulated patient did in one repetition of a guided session, and whether that
/// repetition should pass: the reference the session scoring is tested against.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RepTruth {
    /// Index into the session's phases (calibration included).
    pub phase: usize,
    /// 1-based repetition within the phase.
    pub rep: u32,
    pub cue_s: f64,
    /// `good`, `short`, `weak`, `strain`, `late_squeeze`, `rest`.
    pub outcome: String,
    pub pass: bool,
    /// The failed rep that ends an `until_failure` set.
    pub ends_set: bool,
    pub squeeze_onset_s: Option<f64>,
    /// Onset → start of release, seconds.
    pub hold_s: Option<f64>,
    /// Level relative to the patient's rep-1 level.
    pub level_rel: f64,
    pub coactivated: bool,
    pub strain: bool,
    /// Knack: when the cough started.
    pub cough_onset_s: Option<f64>,
}

/// Every drawn property of the simulated patient and a few counts of the session.
/// See the module documentation for ranges and units.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PatientParams {
    pub simulator_version: u32,
    pub protocol: String,
    pub seed: u64,
    /// Session length, seconds.
    pub duration_s: f64,
    pub pfm_rest_floor_uv: f64,
    pub abd_rest_floor_uv: f64,
    /// Pelvic-floor activity at rep 1, µV RMS.
    pub pfm_level_uv: f64,
    /// `pfm_level_uv / pfm_rest_floor_uv`.
    pub snr: f64,
    pub pfm_median_hz_rep1: f64,
    pub pfm_median_hz_at_failure: f64,
    pub abd_median_hz: f64,
    pub wobble_rel: f64,
    pub wobble_hz: f64,
    pub wobble_phase_turns: f64,
    /// The strength rep that fails (1-based); reps before it are valid 5-s holds.
    pub reps_to_failure: u32,
    pub fatigue_rate_per_rep: f64,
    pub level_before_failure_rel: f64,
    pub failure_level_rel: f64,
    pub mains_hz: f64,
    pub pfm_mains_uv: f64,
    pub abd_mains_uv: f64,
    pub mains_h3_rel: f64,
    pub mains_h5_rel: f64,
    pub pfm_wander_uv: f64,
    pub abd_wander_uv: f64,
    pub pfm_sensor_noise_uv: f64,
    pub abd_sensor_noise_uv: f64,
    pub ecg_amplitude_uv: f64,
    pub ecg_polarity: f64,
    pub heart_rate_bpm: f64,
    pub hrv_rel: f64,
    pub ecg_peak_hz: f64,
    pub pressure_rest_cmh2o: f64,
    pub squeeze_pressure_cmh2o: f64,
    pub breathing_hz: f64,
    pub breathing_cmh2o: f64,
    pub drift_cmh2o: f64,
    pub drift_tau_s: f64,
    pub pressure_noise_cmh2o: f64,
    pub coactivation_share: f64,
    /// Contractions of this session with abdominal co-activation.
    pub coactivated_count: u32,
    /// Strains in this session.
    pub strain_count: u32,
    pub strain_floor_factor: f64,
    pub spontaneous_cough_count: u32,
    /// All coughs of this session (spontaneous, instructed, knack).
    pub cough_count: u32,
    pub spike_rate_per_min: f64,
    /// Motion spikes in this session.
    pub spike_count: u32,
    /// Squeezes and quick flicks in this session.
    pub contraction_count: u32,
    /// What the enabled conditions drew (left out of the JSON when there are none).
    #[serde(skip_serializing_if = "ConditionParams::is_empty")]
    pub conditions: ConditionParams,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Identify,
    Strength,
    Mixed,
    Long,
}

const PROTOCOLS: [(&str, &str); 4] = [
    (
        "identify",
        "identification: 10 squeezes, 2 s hold / 2 s rest (step 1b)",
    ),
    (
        "strength",
        "strength: 5 s hold / 5 s rest until a hold fails (8-30 reps), then 5 quick flicks (step 2)",
    ),
    (
        "mixed",
        "detector evaluation: 6 identification, 6 holds, 5 flicks, 3 coughs, 2 knacks, 2 strains",
    ),
    (
        "long",
        "the mixed round repeated for 60 minutes (benchmarks)",
    ),
];

impl Protocol {
    fn parse(name: &str) -> Option<Protocol> {
        match name.trim().to_ascii_lowercase().as_str() {
            "identify" => Some(Protocol::Identify),
            "strength" => Some(Protocol::Strength),
            "mixed" => Some(Protocol::Mixed),
            "long" => Some(Protocol::Long),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Protocol::Identify => PROTOCOLS[0].0,
            Protocol::Strength => PROTOCOLS[1].0,
            Protocol::Mixed => PROTOCOLS[2].0,
            Protocol::Long => PROTOCOLS[3].0,
        }
    }
}

/// The built-in protocols: (name, one-line description).
pub fn protocol_names() -> &'static [(&'static str, &'static str)] {
    &PROTOCOLS
}

enum Synth {
    Emg(Box<EmgSynth>),
    Pressure(Box<PressureSynth>),
}

struct ChannelState {
    synth: Synth,
    rate_hz: f64,
    next_index: u64,
    total: u64,
}

/// A simulated patient following a protocol; a [`Source`] of blocks.
pub struct SimulatedPatient {
    spec: StreamSpec,
    truth: Vec<TruthEvent>,
    cues: Vec<Cue>,
    params: PatientParams,
    reps: Vec<RepTruth>,
    guided: Option<GuidedParams>,
    duration_s: f64,
    block_s: f64,
    block_index: u64,
    channels: Vec<ChannelState>,
}

impl std::fmt::Debug for SimulatedPatient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatedPatient")
            .field("protocol", &self.params.protocol)
            .field("seed", &self.params.seed)
            .field("duration_s", &self.duration_s)
            .field("block_index", &self.block_index)
            .finish_non_exhaustive()
    }
}

fn check_rate(what: &str, v: f64, lo: f64, hi: f64) -> Result<(), SimError> {
    if v.is_finite() && (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(SimError::BadConfig(format!(
            "{what} is {v}; use a value from {lo} to {hi}"
        )))
    }
}

impl SimulatedPatient {
    pub fn new(cfg: &SimConfig) -> Result<Self, SimError> {
        let protocol = Self::check(cfg)?;
        let mut plan = schedule::plan_with(protocol, cfg.seed, &cfg.conditions);
        conditions::apply_to_plan(&mut plan);
        Self::from_plan(cfg, plan, Vec::new(), None)
    }

    /// A patient who follows a guided session's phases (see `schedule::guided`). The protocol
    /// name in `cfg` is ignored; rates, channels and block length are used as usual.
    pub fn guided(
        cfg: &SimConfig,
        phases: &[crate::session::protocol::Phase],
    ) -> Result<Self, SimError> {
        let mut checked = cfg.clone();
        checked.protocol = "strength".into();
        Self::check(&checked)?;
        if !cfg.conditions.is_empty() {
            return Err(SimError::BadConfig(
                "conditions apply to the built-in protocols only, not to guided sessions".into(),
            ));
        }
        let (plan, reps, gp) = schedule::guided::plan_guided(phases, cfg.seed);
        Self::from_plan(cfg, plan, reps, Some(gp))
    }

    fn check(cfg: &SimConfig) -> Result<Protocol, SimError> {
        let protocol = Protocol::parse(&cfg.protocol).ok_or_else(|| SimError::UnknownProtocol {
            name: cfg.protocol.clone(),
            known: PROTOCOLS
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", "),
        })?;
        check_rate("emg_rate_hz", cfg.emg_rate_hz, 250.0, 20_000.0)?;
        check_rate("pressure_rate_hz", cfg.pressure_rate_hz, 10.0, 2_000.0)?;
        check_rate("block_s", cfg.block_s, 0.001, 60.0)?;
        if cfg.roles.is_empty() {
            return Err(SimError::BadConfig(
                "no channels asked for; give at least one of pfm_emg, abd_emg, pressure".into(),
            ));
        }
        for (i, r) in cfg.roles.iter().enumerate() {
            if cfg.roles[..i].contains(r) {
                return Err(SimError::BadConfig(format!(
                    "channel {r} is asked for twice; list each role once"
                )));
            }
        }
        Ok(protocol)
    }

    fn from_plan(
        cfg: &SimConfig,
        plan: schedule::Plan,
        reps: Vec<RepTruth>,
        guided: Option<GuidedParams>,
    ) -> Result<Self, SimError> {
        let duration_s = plan.params.duration_s;
        let pressure_rate_hz = plan
            .params
            .conditions
            .pressure_sensor
            .map_or(cfg.pressure_rate_hz, |s| s.rate_hz);
        let mut specs = Vec::with_capacity(cfg.roles.len());
        let mut channels = Vec::with_capacity(cfg.roles.len());
        for &role in &cfg.roles {
            let (rate_hz, synth) = match role {
                Role::PfmEmg => (
                    cfg.emg_rate_hz,
                    Synth::Emg(Box::new(EmgSynth::new(
                        &plan.pfm,
                        &plan.params,
                        cfg.emg_rate_hz,
                        false,
                    ))),
                ),
                Role::AbdEmg => (
                    cfg.emg_rate_hz,
                    Synth::Emg(Box::new(EmgSynth::new(
                        &plan.abd,
                        &plan.params,
                        cfg.emg_rate_hz,
                        true,
                    ))),
                ),
                Role::Pressure => (
                    pressure_rate_hz,
                    Synth::Pressure(Box::new(PressureSynth::new(
                        &plan.pressure,
                        &plan.params,
                        pressure_rate_hz,
                    ))),
                ),
            };
            specs.push(ChannelSpec::new(role, rate_hz));
            channels.push(ChannelState {
                synth,
                rate_hz,
                next_index: 0,
                total: (duration_s * rate_hz - 1e-6).ceil() as u64,
            });
        }
        let truth = plan
            .truth
            .into_iter()
            .filter(|e| cfg.roles.contains(&e.role))
            .collect();
        Ok(SimulatedPatient {
            spec: StreamSpec {
                channels: specs,
                start_time_s: 0.0,
            },
            truth,
            cues: plan.cues,
            params: plan.params,
            reps,
            guided,
            duration_s,
            block_s: cfg.block_s,
            block_index: 0,
            channels,
        })
    }

    /// Channels in `SimConfig::roles` order; EMG at `emg_rate_hz`, pressure at
    /// `pressure_rate_hz`; sample 0 at device time 0.
    pub fn spec(&self) -> &StreamSpec {
        &self.spec
    }

    /// Everything the patient did on the produced channels, known up front, sorted by onset.
    pub fn truth(&self) -> &[TruthEvent] {
        &self.truth
    }

    /// What the patient was told, in time order.
    pub fn cues(&self) -> &[Cue] {
        &self.cues
    }

    /// Session length, seconds. Each channel has `ceil(duration_s · rate)` samples.
    pub fn duration_s(&self) -> f64 {
        self.duration_s
    }

    pub fn params(&self) -> &PatientParams {
        &self.params
    }

    /// Guided sessions: what the patient did in every repetition (empty otherwise).
    pub fn rep_truth(&self) -> &[RepTruth] {
        &self.reps
    }

    /// Guided sessions: the extra drawn choices (straining patient, PERFECT E/R/F).
    pub fn guided_params(&self) -> Option<&GuidedParams> {
        self.guided.as_ref()
    }
}

impl Source for SimulatedPatient {
    fn spec(&self) -> &StreamSpec {
        &self.spec
    }

    /// Block `k` holds, for each channel, the samples whose device time lies in
    /// `[k·block_s, (k+1)·block_s)`; the last block ends at `duration_s`.
    fn next_block(&mut self) -> Result<Option<Block>, InputError> {
        if self.channels.iter().all(|c| c.next_index >= c.total) {
            return Ok(None);
        }
        let t_end = (self.block_index + 1) as f64 * self.block_s;
        self.block_index += 1;
        let mut chunks = Vec::with_capacity(self.channels.len());
        for ch in &mut self.channels {
            let end = ((t_end * ch.rate_hz - 1e-6).ceil() as u64)
                .min(ch.total)
                .max(ch.next_index);
            let start = ch.next_index;
            let mut samples = vec![0.0; (end - start) as usize];
            match &mut ch.synth {
                Synth::Emg(s) => s.fill(start, &mut samples),
                Synth::Pressure(s) => s.fill(start, &mut samples),
            }
            ch.next_index = end;
            chunks.push(ChannelChunk {
                start_index: start,
                samples,
            });
        }
        Ok(Some(Block { chunks }))
    }
}
