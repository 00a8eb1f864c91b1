//! Drawing a patient and planning a session: every contraction, cough, strain and motion spike
//! is decided here, up front, from (protocol, seed) alone — never from the sampling rates or the
//! channels asked for, so the same seed is the same patient doing the same things at any rate.

use super::rng::Rng;
use super::{Cue, PatientParams, Protocol, SIMULATOR_VERSION};
use crate::frame::Role;
use crate::truth::{TruthEvent, TruthKind};

pub(crate) mod guided;

/// Stream tags of [`Rng::stream`]: one independent generator per purpose.
pub(crate) mod tag {
    pub const PATIENT: u64 = 1;
    pub const SCHEDULE: u64 = 2;
    pub const SPIKES: u64 = 3;
    pub const ECG: u64 = 10;
    /// Per EMG channel: base + 0 floor, + 1 activity, + 2 cough burst, + 3 sensor noise.
    pub const PFM_NOISE: u64 = 20;
    pub const ABD_NOISE: u64 = 30;
    pub const PRESSURE_NOISE: u64 = 40;
    pub const PRESSURE_DRIFT: u64 = 41;
}

/// Session rest at the start (calibration), seconds.
pub const CALIBRATION_REST_S: f64 = 10.0;
/// Earliest contraction onset: leaves room for an abdominal onset up to 0.2 s earlier.
const FIRST_ONSET_S: f64 = CALIBRATION_REST_S + 0.3;
/// Minimum rest after the last event, seconds.
pub const END_REST_MIN_S: f64 = 5.0;
/// Length the `long` protocol runs to before its final rest, seconds.
pub const LONG_SESSION_S: f64 = 3600.0;

/// An envelope: raised-cosine rise, plateau, raised-cosine fall, times `level`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Pulse {
    pub start_s: f64,
    pub rise_s: f64,
    pub plateau_s: f64,
    pub fall_s: f64,
    /// µV RMS of the activity (EMG), cmH2O (pressure), or the fraction removed (floor dip).
    pub level: f64,
    /// Plateau wobble applies (voluntary contractions).
    pub wobble: bool,
    /// Median frequency of the activity spectrum (EMG activity only), Hz.
    pub median_hz: f64,
}

impl Pulse {
    pub fn end_s(&self) -> f64 {
        self.start_s + self.rise_s + self.plateau_s + self.fall_s
    }

    /// Envelope in [0, 1] at device time `t` seconds.
    #[inline]
    pub fn shape(&self, t: f64) -> f64 {
        let u = t - self.start_s;
        if u < 0.0 {
            0.0
        } else if u < self.rise_s {
            super::dsp::raised_cosine(u / self.rise_s)
        } else if u < self.rise_s + self.plateau_s {
            1.0
        } else {
            let v = u - self.rise_s - self.plateau_s;
            if v < self.fall_s {
                super::dsp::raised_cosine(1.0 - v / self.fall_s)
            } else {
                0.0
            }
        }
    }
}

/// A biphasic motion artifact: one sine cycle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Spike {
    pub start_s: f64,
    pub width_s: f64,
    /// Signed peak, µV.
    pub amplitude_uv: f64,
}

/// What happens on one EMG channel. Each list is sorted and free of overlaps.
#[derive(Debug, Clone, Default)]
pub(crate) struct EmgPlan {
    /// Voluntary activity: squeezes, flicks, co-activation, the abdominal side of strains.
    pub activity: Vec<Pulse>,
    /// Cough bursts.
    pub coughs: Vec<Pulse>,
    /// Rest-floor reductions (pelvic floor during a strain): gain = 1 − level·shape.
    pub floor_dips: Vec<Pulse>,
    pub spikes: Vec<Spike>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct PressurePlan {
    /// Squeezes, flicks and strains (sorted, no overlaps).
    pub rises: Vec<Pulse>,
    /// Cough spikes (sorted, no overlaps; may overlap a squeeze in a knack).
    pub coughs: Vec<Pulse>,
}

/// A whole planned session.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub params: PatientParams,
    pub pfm: EmgPlan,
    pub abd: EmgPlan,
    pub pressure: PressurePlan,
    /// Every truth row on all three roles, sorted by onset.
    pub truth: Vec<TruthEvent>,
    pub cues: Vec<Cue>,
}

/// Draw the patient: every property that does not depend on the protocol. Drawn in a fixed
/// order from the `PATIENT` stream, so the same seed gives the same patient in every protocol.
pub(crate) fn draw_patient(protocol: Protocol, seed: u64) -> PatientParams {
    let mut r = Rng::stream(seed, tag::PATIENT);
    let pfm_rest_floor_uv = r.range(2.0, 7.0);
    let abd_rest_floor_uv = r.range(2.0, 7.0);
    let snr_drawn = r.log_range(2.5, 30.0);
    let pfm_level_uv = (snr_drawn * pfm_rest_floor_uv).clamp(7.0, 150.0);
    let pfm_median_hz_rep1 = r.range(75.0, 100.0);
    let fatigue_median_rel = r.range(0.58, 0.70);
    let abd_median_hz = r.range(80.0, 110.0);
    let wobble_rel = r.range(0.05, 0.10);
    let wobble_hz = r.range(0.3, 1.0);
    let wobble_phase = r.uniform();
    let reps_to_failure = r.int_range(8, 30);
    let level_before_failure_rel = r.range(0.60, 0.75);
    let failure_level_rel = r.range(0.30, 0.42);
    let fatigue_lambda = -level_before_failure_rel.ln() / f64::from(reps_to_failure - 2);
    let mains_hz = if r.chance(0.5) { 50.0 } else { 60.0 };
    let pfm_mains_uv = r.range(0.5, 5.0);
    let abd_mains_uv = r.range(0.5, 5.0);
    let mains_h3_rel = r.range(0.2, 0.5);
    let mains_h5_rel = r.range(0.1, 0.3);
    let pfm_wander_uv = r.range(10.0, 50.0);
    let abd_wander_uv = r.range(10.0, 50.0);
    let pfm_sensor_noise_uv = r.range(0.2, 0.5);
    let abd_sensor_noise_uv = r.range(0.2, 0.5);
    let ecg_amplitude_uv = r.range(20.0, 60.0);
    let ecg_polarity = r.sign();
    let heart_rate_bpm = r.range(55.0, 90.0);
    let hrv_rel = r.range(0.02, 0.05);
    let ecg_peak_hz = r.range(14.0, 17.0);
    let pressure_rest_cmh2o = r.range(17.0, 21.0);
    let squeeze_pressure_cmh2o = r.range(10.0, 60.0);
    let breathing_hz = r.range(0.2, 0.33);
    let breathing_cmh2o = r.range(0.3, 1.5);
    let drift_cmh2o = r.sign() * r.range(1.0, 4.0);
    let drift_tau_s = r.range(300.0, 900.0);
    let pressure_noise_cmh2o = r.range(0.1, 0.3);
    let coactivation_share = r.range(0.0, 0.5);
    let strain_floor_factor = r.range(0.55, 0.65);
    let spike_rate_per_min = r.range(0.5, 1.5);
    let spontaneous_cough_count = r.int_range(0, 2);
    PatientParams {
        simulator_version: SIMULATOR_VERSION,
        protocol: protocol.name().to_string(),
        seed,
        duration_s: 0.0,
        pfm_rest_floor_uv,
        abd_rest_floor_uv,
        pfm_level_uv,
        snr: pfm_level_uv / pfm_rest_floor_uv,
        pfm_median_hz_rep1,
        pfm_median_hz_at_failure: pfm_median_hz_rep1 * fatigue_median_rel,
        abd_median_hz,
        wobble_rel,
        wobble_hz,
        wobble_phase_turns: wobble_phase,
        reps_to_failure,
        fatigue_rate_per_rep: 1.0 - (-fatigue_lambda).exp(),
        level_before_failure_rel,
        failure_level_rel,
        mains_hz,
        pfm_mains_uv,
        abd_mains_uv,
        mains_h3_rel,
        mains_h5_rel,
        pfm_wander_uv,
        abd_wander_uv,
        pfm_sensor_noise_uv,
        abd_sensor_noise_uv,
        ecg_amplitude_uv,
        ecg_polarity,
        heart_rate_bpm,
        hrv_rel,
        ecg_peak_hz,
        pressure_rest_cmh2o,
        squeeze_pressure_cmh2o,
        breathing_hz,
        breathing_cmh2o,
        drift_cmh2o,
        drift_tau_s,
        pressure_noise_cmh2o,
        coactivation_share,
        coactivated_count: 0,
        strain_count: 0,
        strain_floor_factor,
        spontaneous_cough_count,
        cough_count: 0,
        spike_rate_per_min,
        spike_count: 0,
        contraction_count: 0,
        conditions: super::ConditionParams::default(),
    }
}

/// One step of a protocol.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Item {
    /// Identification squeeze: 2-s cue, 1.8–2.6 s hold.
    Ident,
    /// Strength hold number `k` (1-based within its set): 5-s cue, 5.1–5.6 s hold, fatigued.
    Hold {
        k: u32,
    },
    /// The failing strength rep: 2–4 s hold at 30–42 % of rep 1.
    FailHold {
        k: u32,
    },
    Flick,
    /// An instructed cough at rest.
    Cough,
    /// Squeeze, cough ~1 s into it, hold ≥ 1 s after it.
    Knack,
    /// Told to squeeze, bears down instead.
    Strain,
    /// A pause before the next phase, seconds (on top of the usual gap).
    Pause(f64),
}

fn mixed_round(items: &mut Vec<Item>) {
    items.extend(std::iter::repeat(Item::Ident).take(6));
    items.push(Item::Strain);
    items.extend((1..=6).map(|k| Item::Hold { k }));
    items.extend(std::iter::repeat(Item::Cough).take(3));
    items.extend(std::iter::repeat(Item::Flick).take(5));
    items.extend(std::iter::repeat(Item::Knack).take(2));
    items.push(Item::Strain);
}

struct Builder {
    r: Rng,
    p: PatientParams,
    pfm: EmgPlan,
    abd: EmgPlan,
    pressure: PressurePlan,
    truth: Vec<TruthEvent>,
    cues: Vec<Cue>,
    /// Earliest onset of the next event.
    t_free: f64,
    /// End of the latest event of any kind.
    last_end: f64,
    /// Cue time of the previous item, and whether it was of the same paced kind.
    prev_cue_s: f64,
    prev_item: Option<Item>,
    reps_ident: u32,
    reps_hold: u32,
    reps_flick: u32,
    reps_knack: u32,
    reps_strain: u32,
    /// Gap (offset → next onset) drawn for every item, seconds.
    gap: (f64, f64),
}

/// Cue texts.
pub mod cue_text {
    pub const REST: &str = "Rest";
    pub const SQUEEZE: &str = "Squeeze";
    pub const RELAX: &str = "Relax";
    pub const QUICK: &str = "Quick squeeze";
    pub const COUGH: &str = "Cough";
    pub const KNACK: &str = "Squeeze and cough";
}

impl Builder {
    /// Sort every pulse list and the truth by time and hand the schedule over.
    fn into_plan(mut self) -> Plan {
        for list in [
            &mut self.pfm.activity,
            &mut self.pfm.coughs,
            &mut self.pfm.floor_dips,
            &mut self.abd.activity,
            &mut self.abd.coughs,
            &mut self.pressure.rises,
            &mut self.pressure.coughs,
        ] {
            list.sort_by(|a, c| a.start_s.total_cmp(&c.start_s));
        }
        self.truth.sort_by(|a, c| {
            a.onset_s
                .total_cmp(&c.onset_s)
                .then((a.role as u8).cmp(&(c.role as u8)))
        });
        Plan {
            params: self.p,
            pfm: self.pfm,
            abd: self.abd,
            pressure: self.pressure,
            truth: self.truth,
            cues: self.cues,
        }
    }

    fn cue(&mut self, time_s: f64, duration_s: f64, text: &str, rep: u32) {
        self.cues.push(Cue {
            time_s,
            duration_s,
            text: text.to_string(),
            rep,
        });
    }

    /// Cue, then the patient reacts. `cycle_s` > 0 keeps a fixed cue cadence within a run of the
    /// same item kind (the app's timer), delayed when the patient needs longer.
    fn place(&mut self, item: Item, reaction_s: f64, cycle_s: f64) -> (f64, f64) {
        let same = matches!(
            (self.prev_item, item),
            (Some(Item::Ident), Item::Ident)
                | (
                    Some(Item::Hold { .. }),
                    Item::Hold { .. } | Item::FailHold { .. }
                )
        );
        let nominal = if same && cycle_s > 0.0 {
            self.prev_cue_s + cycle_s
        } else if self.prev_item.is_none() {
            CALIBRATION_REST_S
        } else {
            0.0
        };
        let cue_s = nominal.max(self.t_free - reaction_s);
        self.prev_cue_s = cue_s;
        self.prev_item = Some(item);
        (cue_s, cue_s + reaction_s)
    }

    fn finish_event(&mut self, end_s: f64) {
        self.last_end = self.last_end.max(end_s);
        let gap = self.r.range(self.gap.0, self.gap.1);
        self.t_free = self.t_free.max(end_s + gap);
    }

    /// Bearing down, shaped by its `pressure` pulse: the abdomen works at `abd_uv` (at least
    /// 6× its rest floor) and the pelvic-floor rest floor dips for the same span.
    fn push_strain(&mut self, pressure: Pulse, abd_uv: f64, rep: u32) {
        let abd = Pulse {
            level: abd_uv.max(6.0 * self.p.abd_rest_floor_uv),
            wobble: true,
            median_hz: self.p.abd_median_hz,
            ..pressure
        };
        let dip = Pulse {
            level: 1.0 - self.p.strain_floor_factor,
            wobble: false,
            ..pressure
        };
        self.pressure.rises.push(pressure);
        self.abd.activity.push(abd);
        self.pfm.floor_dips.push(dip);
        self.truth_row(Role::Pressure, TruthKind::Strain, &pressure, rep);
        self.truth_row(Role::AbdEmg, TruthKind::Strain, &abd, rep);
        self.p.strain_count += 1;
    }

    fn truth_row(&mut self, role: Role, kind: TruthKind, p: &Pulse, rep: u32) {
        self.truth.push(TruthEvent {
            role,
            onset_s: p.start_s,
            offset_s: p.end_s(),
            kind,
            amplitude: p.level,
            rep,
        });
    }

    /// A pelvic-floor contraction: EMG activity, the same envelope on pressure, maybe abdominal
    /// co-activation. `rel` is the level relative to rep 1.
    #[allow(clippy::too_many_arguments)]
    fn contraction(
        &mut self,
        kind: TruthKind,
        rep: u32,
        onset_s: f64,
        rise_s: f64,
        plateau_s: f64,
        fall_s: f64,
        rel: f64,
        median_hz: f64,
    ) -> Pulse {
        let emg = Pulse {
            start_s: onset_s,
            rise_s,
            plateau_s,
            fall_s,
            level: self.p.pfm_level_uv * rel,
            wobble: true,
            median_hz,
        };
        let pressure = Pulse {
            level: self.p.squeeze_pressure_cmh2o * rel,
            median_hz: 0.0,
            ..emg
        };
        self.pfm.activity.push(emg);
        self.pressure.rises.push(pressure);
        self.truth_row(Role::PfmEmg, kind, &emg, rep);
        self.truth_row(Role::Pressure, kind, &pressure, rep);
        self.p.contraction_count += 1;
        // Abdominal co-activation on a drawn share of contractions.
        if self.r.chance(self.p.coactivation_share) {
            let shift = if self.r.chance(0.25) {
                self.r.range(-0.2, -0.1)
            } else {
                self.r.range(-0.1, 0.1)
            };
            let a_rise = rise_s * self.r.range(0.8, 1.2);
            let a_fall = fall_s * self.r.range(0.8, 1.2);
            let a_end = emg.end_s() + self.r.range(-0.1, 0.1);
            let a_start = onset_s + shift;
            let a_plateau = (a_end - a_start - a_rise - a_fall).max(0.05);
            let frac = self.r.range(0.15, 0.6);
            let co = Pulse {
                start_s: a_start,
                rise_s: a_rise,
                plateau_s: a_plateau,
                fall_s: a_fall,
                // At least 1.5× the abdominal rest floor, so that every truth row is physically
                // detectable.
                level: (frac * emg.level).max(1.5 * self.p.abd_rest_floor_uv),
                wobble: true,
                median_hz: self.p.abd_median_hz,
            };
            self.abd.activity.push(co);
            self.truth_row(Role::AbdEmg, TruthKind::Coactivation, &co, rep);
            self.p.coactivated_count += 1;
            self.last_end = self.last_end.max(co.end_s());
        }
        self.finish_event(emg.end_s());
        emg
    }

    /// A cough starting at `onset_s`; returns its end (the later of EMG and pressure).
    fn cough(&mut self, onset_s: f64) -> f64 {
        let d = self.r.range(0.2, 0.35);
        let mut emg = Pulse {
            start_s: onset_s,
            rise_s: 0.3 * d,
            plateau_s: 0.2 * d,
            fall_s: 0.5 * d,
            level: 0.0,
            wobble: false,
            median_hz: 0.0,
        };
        emg.level = self
            .r
            .range(40.0, 150.0)
            .max(6.0 * self.p.pfm_rest_floor_uv);
        self.pfm.coughs.push(emg);
        self.truth_row(Role::PfmEmg, TruthKind::Cough, &emg, 0);
        emg.level = self
            .r
            .range(40.0, 150.0)
            .max(6.0 * self.p.abd_rest_floor_uv);
        self.abd.coughs.push(emg);
        self.truth_row(Role::AbdEmg, TruthKind::Cough, &emg, 0);
        let dp = self.r.range(0.25, 0.45);
        let pressure = Pulse {
            start_s: onset_s,
            rise_s: 0.2 * dp,
            plateau_s: 0.0,
            fall_s: 0.8 * dp,
            level: self.r.range(40.0, 100.0),
            wobble: false,
            median_hz: 0.0,
        };
        self.pressure.coughs.push(pressure);
        self.truth_row(Role::Pressure, TruthKind::Cough, &pressure, 0);
        self.p.cough_count += 1;
        let end = emg.end_s().max(pressure.end_s());
        self.last_end = self.last_end.max(end);
        end
    }

    fn level_of_hold(&mut self, k: u32) -> (f64, f64) {
        let lambda = -(1.0 - self.p.fatigue_rate_per_rep).ln();
        let rel = (-lambda * f64::from(k - 1)).exp() * self.r.range(0.97, 1.03);
        (rel, self.median_at(k))
    }

    /// Median frequency of strength rep `k`: a straight line from rep 1 to the failing rep.
    fn median_at(&self, k: u32) -> f64 {
        let n = f64::from(self.p.reps_to_failure);
        let m1 = self.p.pfm_median_hz_rep1;
        let mn = self.p.pfm_median_hz_at_failure;
        m1 + (mn - m1) * (f64::from(k) - 1.0) / (n - 1.0)
    }

    fn item(&mut self, item: Item, flick_gap: (f64, f64)) {
        let p = self.p.clone();
        match item {
            Item::Ident => {
                self.reps_ident += 1;
                let rep = self.reps_ident;
                let reaction = self.r.range(0.15, 0.6);
                let (cue_s, onset) = self.place(item, reaction, 4.0);
                self.cue(cue_s, 2.0, cue_text::SQUEEZE, rep);
                self.cue(cue_s + 2.0, 0.0, cue_text::RELAX, rep);
                let hold = self.r.range(1.8, 2.6);
                let rise = self.r.range(0.15, 0.4);
                let fall = self.r.range(0.15, 0.4);
                let rel = self.r.range(0.9, 1.1);
                let median = p.pfm_median_hz_rep1 * self.r.range(0.97, 1.03);
                self.contraction(
                    TruthKind::Squeeze,
                    rep,
                    onset,
                    rise,
                    hold - rise,
                    fall,
                    rel,
                    median,
                );
            }
            Item::Hold { k } | Item::FailHold { k } => {
                self.reps_hold += 1;
                let rep = self.reps_hold;
                let reaction = self.r.range(0.15, 0.6);
                let (cue_s, onset) = self.place(item, reaction, 10.0);
                self.cue(cue_s, 5.0, cue_text::SQUEEZE, rep);
                self.cue(cue_s + 5.0, 0.0, cue_text::RELAX, rep);
                let fail = matches!(item, Item::FailHold { .. });
                let hold = if fail {
                    self.r.range(2.0, 4.0)
                } else {
                    self.r.range(5.1, 5.6)
                };
                let rise = self.r.range(0.15, 0.4);
                let fall = self.r.range(0.15, 0.4);
                let (rel, median) = if fail {
                    (p.failure_level_rel, p.pfm_median_hz_at_failure)
                } else {
                    self.level_of_hold(k)
                };
                self.contraction(
                    TruthKind::Squeeze,
                    rep,
                    onset,
                    rise,
                    hold - rise,
                    fall,
                    rel,
                    median,
                );
            }
            Item::Flick => {
                self.reps_flick += 1;
                let rep = self.reps_flick;
                let reaction = self.r.range(0.15, 0.4);
                let (cue_s, onset) = self.place(item, reaction, 0.0);
                self.cue(cue_s, 1.0, cue_text::QUICK, rep);
                self.cue(cue_s + 1.0, 0.0, cue_text::RELAX, rep);
                let total = self.r.range(0.6, 1.0);
                let rise = self.r.range(0.08, 0.15);
                let fall = self.r.range(0.08, 0.15);
                let rel = self.r.range(0.75, 1.05);
                let median = p.pfm_median_hz_rep1 * self.r.range(0.9, 1.0);
                let saved = self.gap;
                self.gap = flick_gap;
                self.contraction(
                    TruthKind::QuickFlick,
                    rep,
                    onset,
                    rise,
                    total - rise - fall,
                    fall,
                    rel,
                    median,
                );
                self.gap = saved;
            }
            Item::Cough => {
                let reaction = self.r.range(0.2, 0.6);
                let (cue_s, onset) = self.place(item, reaction, 0.0);
                self.cue(cue_s, 1.0, cue_text::COUGH, 0);
                self.cue(cue_s + 1.0, 0.0, cue_text::RELAX, 0);
                let end = self.cough(onset);
                self.finish_event(end);
            }
            Item::Knack => {
                self.reps_knack += 1;
                let rep = self.reps_knack;
                let reaction = self.r.range(0.15, 0.6);
                let (cue_s, onset) = self.place(item, reaction, 0.0);
                self.cue(cue_s, 3.0, cue_text::KNACK, rep);
                self.cue(cue_s + 3.0, 0.0, cue_text::RELAX, rep);
                let rise = self.r.range(0.15, 0.4);
                let fall = self.r.range(0.15, 0.4);
                let cough_at = onset + self.r.range(0.8, 1.2);
                let cough_end = self.cough(cough_at);
                let release = cough_end + self.r.range(1.0, 1.5);
                let rel = self.r.range(0.85, 1.05);
                self.contraction(
                    TruthKind::Squeeze,
                    rep,
                    onset,
                    rise,
                    release - onset - rise,
                    fall,
                    rel,
                    p.pfm_median_hz_rep1,
                );
            }
            Item::Strain => {
                self.reps_strain += 1;
                let rep = self.reps_strain;
                let reaction = self.r.range(0.2, 0.6);
                let (cue_s, onset) = self.place(item, reaction, 0.0);
                // The patient is told to squeeze; she bears down instead.
                self.cue(cue_s, 5.0, cue_text::SQUEEZE, rep);
                self.cue(cue_s + 5.0, 0.0, cue_text::RELAX, rep);
                let rise = self.r.range(0.5, 1.0);
                let plateau = self.r.range(3.0, 5.0);
                let fall = self.r.range(0.5, 1.0);
                let pressure = Pulse {
                    start_s: onset,
                    rise_s: rise,
                    plateau_s: plateau,
                    fall_s: fall,
                    level: self.r.range(15.0, 40.0),
                    wobble: false,
                    median_hz: 0.0,
                };
                let abd_uv = self.r.range(30.0, 100.0);
                self.push_strain(pressure, abd_uv, rep);
                self.finish_event(pressure.end_s());
            }
            Item::Pause(s) => {
                self.t_free += s;
                self.prev_item = Some(item);
            }
        }
    }

    /// A cough nobody asked for, in the rest after the last event: ≥ 2.2 s from any contraction.
    /// The rest around it is the protocol's minimum gap + 0.2…1.5 s before, + 0.2…1.0 s after.
    fn spontaneous_cough(&mut self) {
        let min_gap = self.gap.0;
        let onset = self.last_end + min_gap + self.r.range(0.2, 1.5);
        let end = self.cough(onset);
        self.t_free = self.t_free.max(end + min_gap + self.r.range(0.2, 1.0));
    }
}

/// Plan a session.
#[cfg(test)]
pub(crate) fn plan(protocol: Protocol, seed: u64) -> Plan {
    plan_with(protocol, seed, &[])
}

/// Plan a session of a patient with `conditions` (patient-level ones only: see
/// `conditions::apply_to_plan` for the rest).
pub(crate) fn plan_with(protocol: Protocol, seed: u64, conditions: &[super::Condition]) -> Plan {
    let mut p = draw_patient(protocol, seed);
    super::conditions::apply_to_patient(&mut p, conditions);
    let mut r = Rng::stream(seed, tag::SCHEDULE);
    let (gap, flick_gap) = match protocol {
        Protocol::Identify | Protocol::Strength => ((2.0, 2.4), (2.0, 3.0)),
        Protocol::Mixed | Protocol::Long => ((2.5, 4.0), (2.5, 3.5)),
    };
    let mut items = Vec::new();
    match protocol {
        Protocol::Identify => items.extend(std::iter::repeat(Item::Ident).take(10)),
        Protocol::Strength => {
            let n = p.reps_to_failure;
            items.extend((1..n).map(|k| Item::Hold { k }));
            items.push(Item::FailHold { k: n });
            items.push(Item::Pause(r.range(3.0, 6.0)));
            items.extend(std::iter::repeat(Item::Flick).take(5));
        }
        Protocol::Mixed => mixed_round(&mut items),
        Protocol::Long => {
            // Enough rounds; the loop below stops at LONG_SESSION_S.
            // A round lasts well over 60 s.
            let rounds = (LONG_SESSION_S / 60.0) as usize;
            for _ in 0..rounds {
                mixed_round(&mut items);
                items.push(Item::Pause(r.range(10.0, 30.0)));
            }
        }
    }
    // Where the spontaneous coughs go: after distinct items (not after a pause).
    let n_real = items.len();
    let mut cough_after: Vec<usize> = Vec::new();
    while cough_after.len() < p.spontaneous_cough_count as usize {
        let i = r.int_range(0, n_real as u32 - 1) as usize;
        if !cough_after.contains(&i) && !matches!(items[i], Item::Pause(_)) {
            cough_after.push(i);
        }
    }
    let mut b = Builder {
        r,
        p,
        pfm: EmgPlan::default(),
        abd: EmgPlan::default(),
        pressure: PressurePlan::default(),
        truth: Vec::new(),
        cues: Vec::new(),
        t_free: FIRST_ONSET_S,
        last_end: 0.0,
        prev_cue_s: 0.0,
        prev_item: None,
        reps_ident: 0,
        reps_hold: 0,
        reps_flick: 0,
        reps_knack: 0,
        reps_strain: 0,
        gap,
    };
    b.cue(0.0, CALIBRATION_REST_S, cue_text::REST, 0);
    let mut placed_coughs = 0;
    for (i, &item) in items.iter().enumerate() {
        if protocol == Protocol::Long && b.last_end >= LONG_SESSION_S {
            break;
        }
        b.item(item, flick_gap);
        if cough_after.contains(&i) {
            b.spontaneous_cough();
            placed_coughs += 1;
        }
    }
    // A spontaneous cough whose slot was never reached (long sessions): put it at the end.
    while placed_coughs < b.p.spontaneous_cough_count {
        b.spontaneous_cough();
        placed_coughs += 1;
    }
    let end_rest = b.r.range(END_REST_MIN_S, END_REST_MIN_S + 3.0);
    let duration_s = ((b.last_end + end_rest) * 10.0).ceil() / 10.0;
    b.p.duration_s = duration_s;

    // Cue durations: "Relax" lasts until the next cue (or the end).
    for i in 0..b.cues.len() {
        if b.cues[i].duration_s == 0.0 {
            let next = b.cues.get(i + 1).map_or(duration_s, |c| c.time_s);
            b.cues[i].duration_s = next - b.cues[i].time_s;
        }
    }

    // Motion spikes: Poisson, one channel each, never within 1 s of any truth boundary.
    let mut rs = Rng::stream(seed, tag::SPIKES);
    let rate_per_s = b.p.spike_rate_per_min / 60.0;
    let mut t = CALIBRATION_REST_S;
    loop {
        t += -(1.0 - rs.uniform()).ln() / rate_per_s;
        let width_s = rs.range(0.02, 0.04);
        let amplitude_uv = rs.sign() * rs.range(50.0, 200.0);
        let on_pfm = rs.chance(0.5);
        if t + width_s > duration_s - 1.0 {
            break;
        }
        let clear = b.truth.iter().all(|e| {
            [e.onset_s, e.offset_s]
                .iter()
                .all(|&x| (x - t).abs() >= 1.0 && (x - (t + width_s)).abs() >= 1.0)
        });
        if clear {
            let s = Spike {
                start_s: t,
                width_s,
                amplitude_uv,
            };
            if on_pfm {
                b.pfm.spikes.push(s);
            } else {
                b.abd.spikes.push(s);
            }
            b.p.spike_count += 1;
        }
    }

    b.into_plan()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulse_shape_rises_holds_and_falls() {
        let p = Pulse {
            start_s: 10.0,
            rise_s: 0.2,
            plateau_s: 1.0,
            fall_s: 0.4,
            level: 1.0,
            wobble: false,
            median_hz: 0.0,
        };
        assert_eq!(p.shape(9.99), 0.0);
        assert!(p.shape(10.0).abs() < 1e-12);
        assert!((p.shape(10.1) - 0.5).abs() < 1e-6);
        assert_eq!(p.shape(10.5), 1.0);
        assert!((p.shape(11.4) - 0.5).abs() < 1e-6);
        assert!(p.shape(11.6 - 1e-9) < 1e-6);
        assert_eq!(p.shape(11.61), 0.0);
        assert!((p.end_s() - 11.6).abs() < 1e-12);
        // Monotone ramps.
        let mut last = 0.0;
        for i in 0..=200 {
            let v = p.shape(10.0 + 0.001 * i as f64);
            assert!(v >= last - 1e-12);
            last = v;
        }
    }

    #[test]
    fn plan_ignores_nothing_but_the_seed() {
        let a = plan(Protocol::Mixed, 77);
        let b = plan(Protocol::Mixed, 77);
        assert_eq!(a.truth, b.truth);
        assert_eq!(a.pfm.activity, b.pfm.activity);
        assert_eq!(a.abd.spikes, b.abd.spikes);
        assert_eq!(a.pressure.coughs, b.pressure.coughs);
    }
}
