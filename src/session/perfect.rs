//! PERFECT [Laycock & Jerwood 2001] from the traces: **P**ower from the squeeze pressure band
//! when a pressure probe is used [Angelo 2017], **E** seconds a maximal hold lasts until it falls
//! to half its peak (up to 10), **R** repeated holds of that length with 4 s rest (up to 10),
//! **F** fast 1-s squeezes (up to 10).

use super::protocol::PhaseKind;
use super::run::SessionResult;
use crate::frame::Role;

/// Pressure rise → strength band (cmH2O) [Angelo 2017], with the Oxford-like grade it stands for
/// (an approximate mapping, **not validated**).
pub const PRESSURE_BANDS_CMH2O: [(f64, &str, u8); 5] = [
    (7.5, "very weak", 1),
    (14.6, "weak", 2),
    (26.6, "moderate", 3),
    (41.6, "good", 4),
    (60.6, "strong", 5),
];

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Perfect {
    /// Power 0–5 from the pressure band, when a pressure channel exists.
    pub power: Option<u8>,
    pub power_band: Option<String>,
    pub peak_rise_cmh2o: Option<f64>,
    pub endurance_s: Option<f64>,
    pub repetitions: Option<u32>,
    pub fast: Option<u32>,
}

pub fn band_of(rise_cmh2o: f64) -> (u8, &'static str) {
    let mut out = (0, "below very weak");
    for (lo, name, grade) in PRESSURE_BANDS_CMH2O {
        if rise_cmh2o >= lo {
            out = (grade, name);
        }
    }
    out
}

/// PERFECT when the session had a maximal hold (the PERFECT assessment), else `None`: the one
/// rule the session report and the progress database share.
pub fn assessed(r: &SessionResult) -> Option<Perfect> {
    r.phases
        .iter()
        .any(|p| p.kind == PhaseKind::MaxHold)
        .then(|| perfect(r))
}

pub fn perfect(r: &SessionResult) -> Perfect {
    let phase_of = |k: PhaseKind, from_max: bool| {
        r.phases
            .iter()
            .position(|p| p.kind == k && p.hold_from_max_hold == from_max)
    };
    let e_phase = phase_of(PhaseKind::MaxHold, false);
    let e_rep = e_phase.and_then(|p| r.reps.iter().find(|x| x.phase == p));
    let pressure = r
        .spec
        .as_ref()
        .and_then(|s| s.channel_index(Role::Pressure));
    let peak_rise = match (pressure, e_rep) {
        (Some(pc), Some(x)) => {
            let rest = r
                .calibration
                .as_ref()
                .and_then(|c| c.channel(Role::Pressure))
                .map(|c| c.rest_mean);
            let v = r.history[pc].smoothed(x.cue_s, x.cue_s + 12.0, 25);
            let before = r.history[pc].slice(x.cue_s - 2.0, x.cue_s);
            let base = rest.or_else(|| {
                (!before.is_empty()).then(|| before.iter().sum::<f64>() / before.len() as f64)
            });
            base.map(|b| v.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max) - b)
                .filter(|x| x.is_finite())
        }
        _ => None,
    };
    let count = |p: Option<usize>| {
        p.map(|p| r.reps.iter().filter(|x| x.phase == p && x.passed()).count() as u32)
    };
    Perfect {
        power: peak_rise.map(|x| band_of(x).0),
        power_band: peak_rise.map(|x| band_of(x).1.to_string()),
        peak_rise_cmh2o: peak_rise,
        endurance_s: e_rep.and_then(|x| x.hold_s).map(|h| h.min(10.0)),
        repetitions: count(phase_of(PhaseKind::Hold, true)).map(|n| n.min(10)),
        fast: count(phase_of(PhaseKind::Flick, false)).map(|n| n.min(10)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pressure_bands() {
        assert_eq!(band_of(5.0).0, 0);
        assert_eq!(band_of(10.0), (1, "very weak"));
        assert_eq!(band_of(30.0), (3, "moderate"));
        assert_eq!(band_of(70.0), (5, "strong"));
    }
}
