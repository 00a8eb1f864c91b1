//! A simulated patient who follows a guided session's cues (`knip session`, `knip demo`).
//!
//! The patient hears the cues of the session's [`Timeline`] — the same state machine the live
//! runner uses — and reacts 0.15–0.6 s after each one. What she does per repetition is drawn
//! from the seed, and written down as [`RepTruth`], the reference the scoring is tested against:
//!
//! | phase | what she does |
//! |---|---|
//! | rest | nothing (spontaneous coughs excepted) |
//! | mvc | squeezes at 1.0–1.1 × her rep-1 level for the work time −0.2…+0.3 s |
//! | hold (`until_failure`, strength) | holds `work_s` + 0.2–0.8 s, level 0.92 × `exp(−λ(k−1))`; rep `reps_to_failure` fails: 2–4 s at `failure_level_rel`; straining patients bear down instead on one rep |
//! | hold (others) | holds `work_s` + 0.2–0.8 s; 12 % of reps are too short (30–60 % of the target); light-band phases at 0.40–0.45 × level; one rep in four strains for straining patients (at most one per phase) |
//! | hold from max hold (PERFECT R) | `perfect_r` good holds of E + 0.3–0.8 s, then one of 40 % of E |
//! | flick | 0.6–1.0 s at 0.8–1.0 × level; in an `until_failure` phase (PERFECT F) flick `perfect_f`+1 is weak (0.15–0.25 × level) |
//! | endurance | holds 45–90 % of the work time at 0.40–0.45 × level |
//! | max hold (PERFECT E) | holds `perfect_e_s` (3–9.5 s) at 1.0 × level |
//! | knack | 75 %: squeeze, cough 0.8–1.2 s into it, hold 1.0–1.5 s after the cough; 25 %: cough first, squeeze 0.6–1.0 s after the cough ends (a failed knack) |
//!
//! A "straining patient" is drawn with probability 0.35; co-activation follows the patient's
//! `coactivation_share` as in every protocol.

use super::{Builder, Plan, FIRST_ONSET_S};
use crate::session::protocol::{Phase, PhaseKind};
use crate::session::timeline::Timeline;
use crate::simulate::rng::Rng;
use crate::simulate::schedule::{cue_text, draw_patient, tag, Pulse};
use crate::simulate::{Protocol, RepTruth};

/// Timing of one contraction: onset and ramps.
#[derive(Clone, Copy)]
struct Timing {
    onset: f64,
    rise: f64,
    fall: f64,
    counter: u32,
    /// Median frequency of the activity (fatigued holds), else the patient's rep-1 value.
    median_hz: Option<f64>,
}

fn squeeze(b: &mut Builder, g: &mut Rng, t: &mut RepTruth, tm: Timing, hold: f64, rel: f64) {
    let before = b.p.coactivated_count;
    let median = tm.median_hz.unwrap_or(b.p.pfm_median_hz_rep1) * g.range(0.97, 1.03);
    b.contraction(
        TruthKind::Squeeze,
        tm.counter,
        tm.onset,
        tm.rise,
        (hold - tm.rise).max(0.05),
        tm.fall,
        rel,
        median,
    );
    t.coactivated = b.p.coactivated_count > before;
    t.squeeze_onset_s = Some(tm.onset);
    t.hold_s = Some(hold);
    t.level_rel = rel;
}
use crate::truth::TruthKind;

/// Independent stream for the guided patient's choices.
const GUIDED_TAG: u64 = 50;

/// What the guided patient was drawn to do beyond the patient parameters.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct GuidedParams {
    pub strainer: bool,
    pub perfect_e_s: f64,
    pub perfect_r: u32,
    pub perfect_f: u32,
}

pub(crate) fn plan_guided(phases: &[Phase], seed: u64) -> (Plan, Vec<RepTruth>, GuidedParams) {
    let p = draw_patient(Protocol::Strength, seed);
    let mut g = Rng::stream(seed, GUIDED_TAG);
    let gp = GuidedParams {
        strainer: g.chance(0.35),
        perfect_e_s: g.range(3.0, 9.5),
        perfect_r: g.int_range(2, 8),
        perfect_f: g.int_range(3, 9),
    };
    let mut b = Builder {
        r: Rng::stream(seed, tag::SCHEDULE),
        p,
        pfm: Default::default(),
        abd: Default::default(),
        pressure: Default::default(),
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
        gap: (2.0, 2.4),
    };
    let mut reps = Vec::new();
    let mut timeline = Timeline::new(phases.to_vec(), 0.0);
    let mut strained_in_phase = usize::MAX;
    let mut end_s: f64 = 0.0;
    let mut counter = 0u32;
    while let Some(slot) = timeline.current() {
        let ph = &phases[slot.phase];
        end_s = slot.end_s;
        counter += 1;
        let cue = match ph.kind {
            PhaseKind::Rest => cue_text::REST,
            PhaseKind::Flick => cue_text::QUICK,
            PhaseKind::Knack => cue_text::KNACK,
            _ => cue_text::SQUEEZE,
        };
        b.cue(slot.cue_s, ph.work_s, cue, slot.rep);
        if ph.rest_s > 0.0 {
            b.cue(slot.work_end_s, ph.rest_s, cue_text::RELAX, slot.rep);
        }
        let reaction = g.range(0.15, 0.6);
        let onset = slot.cue_s + reaction;
        let mut t = RepTruth {
            phase: slot.phase,
            rep: slot.rep,
            cue_s: slot.cue_s,
            outcome: "good".into(),
            pass: true,
            ends_set: false,
            squeeze_onset_s: None,
            hold_s: None,
            level_rel: 0.0,
            coactivated: false,
            strain: false,
            cough_onset_s: None,
        };
        let rise = g.range(0.15, 0.4);
        let fall = g.range(0.15, 0.4);
        let light = ph.target_pct_mvc.is_some_and(|(_, hi)| hi <= 45.0);
        let may_strain = gp.strainer
            && strained_in_phase != slot.phase
            && slot.rep >= 2
            && matches!(ph.kind, PhaseKind::Hold)
            && !ph.hold_from_max_hold
            && g.chance(0.25);
        let mut tm = Timing {
            onset,
            rise,
            fall,
            counter,
            median_hz: None,
        };
        let mut failed = false;
        match ph.kind {
            PhaseKind::Rest => t.outcome = "rest".into(),
            PhaseKind::Mvc => {
                let hold = ph.work_s + g.range(-0.2, 0.3);
                let rel = g.range(1.0, 1.1);
                squeeze(&mut b, &mut g, &mut t, tm, hold, rel);
            }
            PhaseKind::Hold if may_strain => {
                strained_in_phase = slot.phase;
                strain(&mut b, &mut g, onset, counter);
                t.outcome = "strain".into();
                t.pass = false;
                t.strain = true;
            }
            PhaseKind::Hold if ph.until_failure && ph.hold_from_max_hold => {
                if slot.rep <= gp.perfect_r {
                    let hold = gp.perfect_e_s + g.range(0.3, 0.8);
                    let rel = g.range(0.9, 1.0);
                    squeeze(&mut b, &mut g, &mut t, tm, hold, rel);
                } else {
                    squeeze(&mut b, &mut g, &mut t, tm, 0.4 * gp.perfect_e_s, 0.8);
                    t.outcome = "short".into();
                    failed = true;
                }
            }
            PhaseKind::Hold if ph.until_failure => {
                let n = b.p.reps_to_failure;
                if slot.rep < n {
                    let hold = ph.work_s + g.range(0.2, 0.8);
                    let (rel, median) = b.level_of_hold(slot.rep);
                    tm.median_hz = Some(median);
                    squeeze(&mut b, &mut g, &mut t, tm, hold, 0.92 * rel);
                } else {
                    let hold = g.range(0.4, 0.8) * ph.work_s;
                    let rel = b.p.failure_level_rel;
                    tm.median_hz = Some(b.p.pfm_median_hz_at_failure);
                    squeeze(&mut b, &mut g, &mut t, tm, hold, rel);
                    t.outcome = "short".into();
                    failed = true;
                }
            }
            PhaseKind::Hold => {
                let level = if light {
                    g.range(0.40, 0.45)
                } else {
                    g.range(0.85, 1.0)
                };
                if g.chance(0.12) {
                    let hold = ph.work_s * g.range(0.3, 0.6);
                    squeeze(&mut b, &mut g, &mut t, tm, hold.max(0.7), level);
                    t.outcome = "short".into();
                    t.pass = false;
                } else {
                    let hold = ph.work_s + g.range(0.2, 0.8);
                    squeeze(&mut b, &mut g, &mut t, tm, hold, level);
                }
            }
            PhaseKind::Flick => {
                let total = g.range(0.6, 1.0);
                let weak = ph.until_failure && slot.rep > gp.perfect_f;
                let rel = if weak {
                    g.range(0.15, 0.25)
                } else {
                    g.range(0.8, 1.0)
                };
                let r = g.range(0.08, 0.15);
                let f = g.range(0.08, 0.15);
                let before = b.p.coactivated_count;
                b.contraction(
                    TruthKind::QuickFlick,
                    counter,
                    onset,
                    r,
                    total - r - f,
                    f,
                    rel,
                    b.p.pfm_median_hz_rep1,
                );
                t.coactivated = b.p.coactivated_count > before;
                t.squeeze_onset_s = Some(onset);
                t.hold_s = Some(total);
                t.level_rel = rel;
                if weak {
                    t.outcome = "weak".into();
                    failed = true;
                }
            }
            PhaseKind::Endurance => {
                let hold = ph.work_s * g.range(0.45, 0.9);
                let rel = g.range(0.40, 0.45);
                squeeze(&mut b, &mut g, &mut t, tm, hold, rel);
            }
            PhaseKind::MaxHold => {
                squeeze(&mut b, &mut g, &mut t, tm, gp.perfect_e_s, 1.0);
            }
            PhaseKind::Knack => {
                if g.chance(0.75) {
                    let cough_at = onset + g.range(0.8, 1.2);
                    let cough_end = b.cough(cough_at);
                    let hold = cough_end + g.range(1.0, 1.5) - onset;
                    let rel = g.range(0.85, 1.0);
                    squeeze(&mut b, &mut g, &mut t, tm, hold, rel);
                    t.cough_onset_s = Some(cough_at);
                } else {
                    let cough_at = onset;
                    let cough_end = b.cough(cough_at);
                    let late_onset = cough_end + g.range(0.6, 1.0);
                    let hold = g.range(1.5, 2.0);
                    let before = b.p.coactivated_count;
                    b.contraction(
                        TruthKind::Squeeze,
                        counter,
                        late_onset,
                        rise,
                        hold - rise,
                        fall,
                        0.9,
                        b.p.pfm_median_hz_rep1,
                    );
                    t.coactivated = b.p.coactivated_count > before;
                    t.squeeze_onset_s = Some(late_onset);
                    t.hold_s = Some(hold);
                    t.level_rel = 0.9;
                    t.cough_onset_s = Some(cough_at);
                    t.outcome = "late_squeeze".into();
                    t.pass = false;
                }
            }
        }
        if failed {
            t.pass = false;
            t.ends_set = ph.until_failure;
        }
        reps.push(t);
        timeline.advance(failed, slot.end_s);
    }
    let duration_s = ((end_s.max(b.last_end) + 3.0) * 10.0).ceil() / 10.0;
    b.p.duration_s = duration_s;
    b.p.protocol = "guided".into();
    (b.into_plan(), reps, gp)
}

/// Told to squeeze, she bears down: pressure and abdomen up, pelvic floor below rest.
fn strain(b: &mut Builder, g: &mut Rng, onset: f64, rep: u32) {
    let pressure = Pulse {
        start_s: onset,
        rise_s: g.range(0.5, 1.0),
        plateau_s: g.range(3.0, 4.0),
        fall_s: g.range(0.5, 1.0),
        level: g.range(15.0, 40.0),
        wobble: false,
        median_hz: 0.0,
    };
    let abd_uv = g.range(30.0, 100.0);
    b.push_strain(pressure, abd_uv, rep);
    b.last_end = b.last_end.max(pressure.end_s());
}
