//! Real-world conditions a simulated patient can have (issue 11), all off by default: a squeeze
//! inside the calibration rest, DC offsets on single-ended EMG, a very quiet rest, balloon
//! inflation creep, a probe slip, a weak patient, a wandering pressure rest and slow, coarse
//! pressure sensors. See the module documentation of [`crate::simulate`] for the ranges.
//!
//! Each condition draws its parameters from its own stream ([`Condition::tag`]), so enabling
//! one never changes what another draws, and a session without conditions is exactly what it
//! was before conditions existed.

use super::rng::Rng;
use super::schedule::{Plan, Pulse};
use super::PatientParams;
use crate::frame::Role;
use crate::truth::{TruthEvent, TruthKind};
use serde::Serialize;

/// One real-world condition of the simulated patient or her equipment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// One squeeze inside the calibration rest (onset 0.8–3.0 s, over by 5.5 s).
    CalibrationSqueeze,
    /// Single-ended EMG: a DC offset of ±1000–6000 µV per channel and a slow drift.
    DcOffset,
    /// A very quiet bipolar rest (1–2 µV RMS floor, drifting ±20–40 %), contractions at SNR 4–15.
    QuietRest,
    /// Balloon creeping down after inflation: + A·e^(−t/τ).
    InflationCreep,
    /// One fast step of the pressure rest level, away from every true event.
    ProbeSlip,
    /// A weak patient: squeeze pressure 4–15 cmH2O, pelvic EMG SNR 2–4.
    Weak,
    /// Pressure rest wandering by 2–4 cmH2O (Ornstein–Uhlenbeck, τ 15–40 s).
    WanderingRest,
    /// A 20-Hz pressure sensor with 0.1-cmH2O resolution.
    Pressure20Hz,
    /// A 50-Hz pressure sensor with 0.1-cmH2O resolution.
    Pressure50Hz,
}

const CONDITIONS: [(Condition, &str, &str); 9] = [
    (
        Condition::CalibrationSqueeze,
        "calibration_squeeze",
        "one squeeze inside the calibration rest (onset 0.8-3.0 s, hold 1.5-3 s, 0.8-1.0 x rep 1)",
    ),
    (
        Condition::DcOffset,
        "dc_offset",
        "single-ended EMG: DC offset +-1000-6000 uV per channel, drifting +-50-300 uV",
    ),
    (
        Condition::QuietRest,
        "quiet_rest",
        "very quiet rest: floor 1-2 uV RMS drifting +-20-40 %, noise 0.1-0.2 uV, SNR 4-15",
    ),
    (
        Condition::InflationCreep,
        "inflation_creep",
        "balloon creep: pressure + A exp(-t/tau), A 5-15 cmH2O, tau 60-240 s",
    ),
    (
        Condition::ProbeSlip,
        "probe_slip",
        "one probe slip: a 4-8 cmH2O step taking 30-100 ms, in rest after 15 s",
    ),
    (
        Condition::Weak,
        "weak",
        "weak patient: squeeze pressure 4-15 cmH2O, pelvic EMG SNR 2-4",
    ),
    (
        Condition::WanderingRest,
        "wandering_rest",
        "pressure rest wandering: SD 2-4 cmH2O, tau 15-40 s",
    ),
    (
        Condition::Pressure20Hz,
        "pressure_20hz",
        "pressure sensor at 20 Hz, 0.1 cmH2O resolution",
    ),
    (
        Condition::Pressure50Hz,
        "pressure_50hz",
        "pressure sensor at 50 Hz, 0.1 cmH2O resolution",
    ),
];

/// Stream tags of the conditions: `CONDITION_TAG_BASE + index`.
const CONDITION_TAG_BASE: u64 = 60;
/// Stream of the slip's position among the free rest (drawn once the session is planned).
const SLIP_TIME_TAG: u64 = 80;

impl Condition {
    /// Every condition, in the order they are applied.
    pub const ALL: [Condition; 9] = [
        Condition::CalibrationSqueeze,
        Condition::DcOffset,
        Condition::QuietRest,
        Condition::InflationCreep,
        Condition::ProbeSlip,
        Condition::Weak,
        Condition::WanderingRest,
        Condition::Pressure20Hz,
        Condition::Pressure50Hz,
    ];

    fn index(self) -> usize {
        Self::ALL.iter().position(|c| *c == self).unwrap_or(0)
    }

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        CONDITIONS[self.index()].1
    }

    /// One line on what the condition does.
    pub fn description(self) -> &'static str {
        CONDITIONS[self.index()].2
    }

    pub fn parse(name: &str) -> Option<Condition> {
        let n = name.trim().to_ascii_lowercase();
        CONDITIONS.iter().find(|c| c.1 == n).map(|c| c.0)
    }

    fn tag(self) -> u64 {
        CONDITION_TAG_BASE + self.index() as u64
    }

    fn rng(self, seed: u64) -> Rng {
        Rng::stream(seed, self.tag())
    }
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The condition names, comma-separated (for error messages).
pub fn condition_names() -> String {
    CONDITIONS
        .iter()
        .map(|c| c.1)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses condition names (`all` for every condition; items may also be comma-separated),
/// sorted and without duplicates.
pub fn parse_conditions<S: AsRef<str>>(names: &[S]) -> Result<Vec<Condition>, super::SimError> {
    let mut out = Vec::new();
    for item in names {
        for name in item.as_ref().split(',').filter(|s| !s.trim().is_empty()) {
            if name.trim().eq_ignore_ascii_case("all") {
                out.extend(Condition::ALL);
            } else {
                out.push(Condition::parse(name).ok_or_else(|| {
                    super::SimError::UnknownCondition {
                        name: name.trim().to_string(),
                        known: condition_names(),
                    }
                })?);
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// DC offset and drift of one EMG channel: `offset + drift·(1 − e^{−t/τ})`, µV.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DcOffset {
    pub offset_uv: f64,
    pub drift_uv: f64,
    pub drift_tau_s: f64,
}

impl DcOffset {
    #[inline]
    pub fn at(&self, t: f64) -> f64 {
        self.offset_uv + self.drift_uv * (1.0 - (-t / self.drift_tau_s).exp())
    }
}

/// A smooth multiplicative modulation of a rest floor:
/// `1 + depth·(0.6·sin(2π t/P₁ + φ₁) + 0.4·sin(2π t/P₂ + φ₂))`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FloorModulation {
    pub depth_rel: f64,
    pub periods_s: [f64; 2],
    pub phase_turns: [f64; 2],
}

impl FloorModulation {
    #[inline]
    pub fn gain(&self, t: f64) -> f64 {
        let a = (std::f64::consts::TAU * (t / self.periods_s[0] + self.phase_turns[0])).sin();
        let b = (std::f64::consts::TAU * (t / self.periods_s[1] + self.phase_turns[1])).sin();
        1.0 + self.depth_rel * (0.6 * a + 0.4 * b)
    }

    fn draw(r: &mut Rng) -> Self {
        FloorModulation {
            depth_rel: r.range(0.2, 0.4),
            periods_s: [r.range(20.0, 90.0), r.range(20.0, 90.0)],
            phase_turns: [r.uniform(), r.uniform()],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CalibrationSqueeze {
    pub onset_s: f64,
    /// Onset → start of release, seconds.
    pub hold_s: f64,
    pub rise_s: f64,
    pub fall_s: f64,
    /// × the rep-1 level.
    pub level_rel: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DcOffsets {
    pub pfm: DcOffset,
    pub abd: DcOffset,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct QuietRest {
    pub pfm_floor_mod: FloorModulation,
    pub abd_floor_mod: FloorModulation,
    /// Contraction level over the (quiet) rest floor at rep 1.
    pub snr: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct InflationCreep {
    pub amplitude_cmh2o: f64,
    pub tau_s: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ProbeSlip {
    /// Start of the step, seconds; `None` when the session had no rest long enough.
    pub time_s: Option<f64>,
    /// Signed size of the step, cmH2O.
    pub step_cmh2o: f64,
    /// Time the step takes (raised cosine), seconds.
    pub duration_s: f64,
}

impl ProbeSlip {
    /// The step's contribution at time `t`.
    #[inline]
    pub fn at(&self, t: f64) -> f64 {
        match self.time_s {
            Some(t0) if t >= t0 + self.duration_s => self.step_cmh2o,
            Some(t0) if t > t0 => {
                self.step_cmh2o * super::dsp::raised_cosine((t - t0) / self.duration_s)
            }
            _ => 0.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Weak {
    pub squeeze_pressure_cmh2o: f64,
    pub snr: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WanderingRest {
    pub wander_sd_cmh2o: f64,
    pub wander_tau_s: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PressureSensor {
    pub rate_hz: f64,
    /// Values are rounded to this step, cmH2O.
    pub resolution_cmh2o: f64,
}

/// What each enabled condition drew (absent ones are `None` and left out of the JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ConditionParams {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration_squeeze: Option<CalibrationSqueeze>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dc_offset: Option<DcOffsets>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quiet_rest: Option<QuietRest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inflation_creep: Option<InflationCreep>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe_slip: Option<ProbeSlip>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weak: Option<Weak>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wandering_rest: Option<WanderingRest>,
    /// `pressure_20hz` or `pressure_50hz` (20 Hz when both are asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pressure_sensor: Option<PressureSensor>,
}

impl ConditionParams {
    pub fn is_empty(&self) -> bool {
        *self == ConditionParams::default()
    }
}

/// Pressure resolution of the slow sensors, cmH2O.
pub const SENSOR_RESOLUTION_CMH2O: f64 = 0.1;

/// Round `v` to the sensor's resolution, as a device reporting tenths would.
#[inline]
pub fn quantise(v: f64, step: f64) -> f64 {
    (v / step).round() * step
}

/// Draws the patient-level conditions (everything but the calibration squeeze and the slip's
/// time) into `p`, in [`Condition::ALL`] order; later ones win where two set the same field
/// (`weak` sets the SNR after `quiet_rest`).
pub(crate) fn apply_to_patient(p: &mut PatientParams, conditions: &[Condition]) {
    let seed = p.seed;
    let has = |c: Condition| conditions.contains(&c);
    let mut cp = ConditionParams::default();
    if has(Condition::CalibrationSqueeze) {
        let mut r = Condition::CalibrationSqueeze.rng(seed);
        let onset_s = r.range(0.8, 3.0);
        let rise_s = r.range(0.15, 0.4);
        let fall_s = r.range(0.15, 0.4);
        // Over by 5.5 s, the end of the default calibration window.
        let hold_max = 3.0f64.min(5.5 - onset_s - fall_s);
        let hold_s = r.range(1.5, hold_max);
        let level_rel = r.range(0.8, 1.0);
        cp.calibration_squeeze = Some(CalibrationSqueeze {
            onset_s,
            hold_s,
            rise_s,
            fall_s,
            level_rel,
        });
    }
    if has(Condition::DcOffset) {
        let mut r = Condition::DcOffset.rng(seed);
        let mut one = || DcOffset {
            offset_uv: r.sign() * r.range(1000.0, 6000.0),
            drift_uv: r.sign() * r.range(50.0, 300.0),
            drift_tau_s: r.range(120.0, 600.0),
        };
        let pfm = one();
        let abd = one();
        cp.dc_offset = Some(DcOffsets { pfm, abd });
    }
    if has(Condition::QuietRest) {
        let mut r = Condition::QuietRest.rng(seed);
        p.pfm_rest_floor_uv = r.range(1.0, 2.0);
        p.abd_rest_floor_uv = r.range(1.0, 2.0);
        p.pfm_sensor_noise_uv = r.range(0.1, 0.2);
        p.abd_sensor_noise_uv = r.range(0.1, 0.2);
        p.pfm_mains_uv = r.range(0.0, 0.3);
        p.abd_mains_uv = r.range(0.0, 0.3);
        let snr = r.range(4.0, 15.0);
        p.pfm_level_uv = snr * p.pfm_rest_floor_uv;
        p.snr = snr;
        cp.quiet_rest = Some(QuietRest {
            pfm_floor_mod: FloorModulation::draw(&mut r),
            abd_floor_mod: FloorModulation::draw(&mut r),
            snr,
        });
    }
    if has(Condition::InflationCreep) {
        let mut r = Condition::InflationCreep.rng(seed);
        cp.inflation_creep = Some(InflationCreep {
            amplitude_cmh2o: r.range(5.0, 15.0),
            tau_s: r.range(60.0, 240.0),
        });
    }
    if has(Condition::ProbeSlip) {
        let mut r = Condition::ProbeSlip.rng(seed);
        let step_cmh2o = r.sign() * r.range(4.0, 8.0);
        let duration_s = r.range(0.03, 0.1);
        cp.probe_slip = Some(ProbeSlip {
            time_s: None,
            step_cmh2o,
            duration_s,
        });
    }
    if has(Condition::Weak) {
        let mut r = Condition::Weak.rng(seed);
        let squeeze = r.range(4.0, 15.0);
        let snr = r.range(2.0, 4.0);
        p.squeeze_pressure_cmh2o = squeeze;
        p.pfm_level_uv = snr * p.pfm_rest_floor_uv;
        p.snr = snr;
        cp.weak = Some(Weak {
            squeeze_pressure_cmh2o: squeeze,
            snr,
        });
    }
    if has(Condition::WanderingRest) {
        let mut r = Condition::WanderingRest.rng(seed);
        cp.wandering_rest = Some(WanderingRest {
            wander_sd_cmh2o: r.range(2.0, 4.0),
            wander_tau_s: r.range(15.0, 40.0),
        });
    }
    let rate = if has(Condition::Pressure20Hz) {
        Some(20.0)
    } else if has(Condition::Pressure50Hz) {
        Some(50.0)
    } else {
        None
    };
    cp.pressure_sensor = rate.map(|rate_hz| PressureSensor {
        rate_hz,
        resolution_cmh2o: SENSOR_RESOLUTION_CMH2O,
    });
    p.conditions = cp;
}

/// Adds the session-level conditions to a planned session: the calibration squeeze (pelvic
/// EMG and pressure, truth rows like any squeeze, rep 0) and the slip's time (in rest ≥ 1.5 s
/// from every truth row, after 15 s, ≥ 1.5 s before the end).
pub(crate) fn apply_to_plan(plan: &mut Plan) {
    if let Some(cs) = plan.params.conditions.calibration_squeeze {
        let p = &plan.params;
        let emg = Pulse {
            start_s: cs.onset_s,
            rise_s: cs.rise_s,
            plateau_s: cs.hold_s - cs.rise_s,
            fall_s: cs.fall_s,
            level: p.pfm_level_uv * cs.level_rel,
            wobble: true,
            median_hz: p.pfm_median_hz_rep1,
        };
        let pressure = Pulse {
            level: p.squeeze_pressure_cmh2o * cs.level_rel,
            median_hz: 0.0,
            ..emg
        };
        plan.pfm.activity.insert(0, emg);
        plan.pressure.rises.insert(0, pressure);
        for (role, pulse) in [(Role::PfmEmg, emg), (Role::Pressure, pressure)] {
            plan.truth.push(TruthEvent {
                role,
                onset_s: pulse.start_s,
                offset_s: pulse.end_s(),
                kind: TruthKind::Squeeze,
                amplitude: pulse.level,
                rep: 0,
            });
        }
        plan.truth.sort_by(|a, c| {
            a.onset_s
                .total_cmp(&c.onset_s)
                .then((a.role as u8).cmp(&(c.role as u8)))
        });
        plan.params.contraction_count += 1;
    }
    if let Some(slip) = plan.params.conditions.probe_slip.as_mut() {
        const CLEAR_S: f64 = 1.5;
        const EARLIEST_S: f64 = 15.0;
        let end = plan.params.duration_s - CLEAR_S - slip.duration_s;
        // Busy spans, widened by the clearance; the slip's whole step must stay clear.
        let mut busy: Vec<(f64, f64)> = plan
            .truth
            .iter()
            .map(|e| (e.onset_s - CLEAR_S - slip.duration_s, e.offset_s + CLEAR_S))
            .collect();
        busy.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut free = Vec::new();
        let mut t = EARLIEST_S;
        for (a, b) in busy {
            if a > t {
                free.push((t, a.min(end)));
            }
            t = t.max(b);
        }
        free.push((t, end));
        free.retain(|(a, b)| b > a);
        let total: f64 = free.iter().map(|(a, b)| b - a).sum();
        if total > 0.0 {
            let mut r = Rng::stream(plan.params.seed, SLIP_TIME_TAG);
            let mut u = r.uniform() * total;
            for (a, b) in free {
                if u <= b - a {
                    slip.time_s = Some(a + u);
                    break;
                }
                u -= b - a;
            }
        }
    }
}
