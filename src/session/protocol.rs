//! Protocols as data: a protocol is a list of phases, each a run of repetitions with a cue, a
//! work time, a rest time and a pass rule. Built-in protocols follow the training programme and
//! the clinical assessments in `DOMAIN.md`; custom ones load from a TOML file with the same
//! fields (see [`Protocol::from_toml_str`]).

use crate::limits;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What the patient is asked to do in a phase, which decides how a repetition is scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseKind {
    /// Lie still and let the pelvic floor sink; scored on rest level and stability.
    Rest,
    /// Maximal voluntary contraction for calibration (best of the reps).
    Mvc,
    /// Squeeze and hold for `work_s`; pass when held long enough, strong enough, no strain.
    Hold,
    /// A quick maximal squeeze (about 1 s) and let go.
    Flick,
    /// Hold as long as possible (up to `work_s`); scored on seconds above the target band.
    Endurance,
    /// Squeeze, then cough while holding ("the knack").
    Knack,
    /// PERFECT "E": one maximal hold up to `work_s`, timed until it falls to half its peak.
    MaxHold,
}

impl PhaseKind {
    /// Phases whose repetitions are contractions.
    pub fn is_contraction(self) -> bool {
        !matches!(self, PhaseKind::Rest)
    }
}

/// One phase of a protocol: `reps` repetitions of (cue, `work_s` of work, `rest_s` of rest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    /// Short name shown in reports, e.g. `tonic`.
    pub name: String,
    pub kind: PhaseKind,
    /// What the patient is told, in plain words ("Squeeze and hold").
    pub cue: String,
    /// Repetitions (the maximum when `until_failure`).
    #[serde(default = "one")]
    pub reps: u32,
    /// Work window per repetition, seconds (the hold target for `hold`).
    pub work_s: f64,
    /// Rest after each repetition, seconds.
    #[serde(default)]
    pub rest_s: f64,
    /// The set ends at the first failed repetition (strength: "until no more 5-s squeezes").
    #[serde(default)]
    pub until_failure: bool,
    /// Target band in %MVC shown on the gauge (and the band endurance time is counted above).
    #[serde(default)]
    pub target_pct_mvc: Option<(f64, f64)>,
    /// The hold target is the seconds measured in the preceding `max_hold` phase (PERFECT "R").
    #[serde(default)]
    pub hold_from_max_hold: bool,
}

fn one() -> u32 {
    1
}

impl Phase {
    /// One repetition: work then rest, seconds.
    pub fn cycle_s(&self) -> f64 {
        self.work_s + self.rest_s
    }
}

/// Whether a protocol is daily training or a clinical assessment (which gets `assessment.png`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProtocolKind {
    Training,
    Assessment,
}

/// A whole guided session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocol {
    pub name: String,
    /// One line for `knip protocols`.
    pub description: String,
    pub kind: ProtocolKind,
    /// Daily goal of valid holds (the programme's 30 a day).
    #[serde(default = "daily_goal")]
    pub daily_goal_reps: u32,
    #[serde(rename = "phase")]
    pub phases: Vec<Phase>,
}

fn daily_goal() -> u32 {
    30
}

/// A protocol file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("cannot read protocol file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("protocol file {path} is not valid: {message}")]
    Parse { path: String, message: String },
    #[error("protocol '{name}': {message}")]
    Invalid { name: String, message: String },
    #[error("unknown protocol '{name}'; choose one of: {known}, or give a .toml file")]
    Unknown { name: String, known: String },
}

/// Calibration phases every session starts with (unless a saved calibration is given):
/// 10 s of rest for the baseline, then three maximal squeezes of 3 s (best of 3 = MVC).
/// Rest before the first cue when a saved calibration is used, seconds: the detector's own
/// rest window (0.5 s settling + 5 s, `DetectorConfig`'s defaults) fits inside it.
pub const SHORT_BASELINE_S: f64 = 6.0;

pub fn calibration_phases() -> Vec<Phase> {
    vec![
        Phase {
            name: "baseline".into(),
            kind: PhaseKind::Rest,
            cue: "Lie still and let go".into(),
            reps: 1,
            work_s: 10.0,
            rest_s: 0.0,
            until_failure: false,
            target_pct_mvc: None,
            hold_from_max_hold: false,
        },
        Phase {
            name: "mvc".into(),
            kind: PhaseKind::Mvc,
            cue: "Squeeze as hard as you can".into(),
            reps: 3,
            work_s: 3.0,
            rest_s: 7.0,
            until_failure: false,
            target_pct_mvc: None,
            hold_from_max_hold: false,
        },
    ]
}

#[allow(clippy::too_many_arguments)]
fn phase(
    name: &str,
    kind: PhaseKind,
    cue: &str,
    reps: u32,
    work_s: f64,
    rest_s: f64,
    until_failure: bool,
    target: Option<(f64, f64)>,
) -> Phase {
    Phase {
        name: name.into(),
        kind,
        cue: cue.into(),
        reps,
        work_s,
        rest_s,
        until_failure,
        target_pct_mvc: target,
        hold_from_max_hold: false,
    }
}

/// Target band of a strong voluntary squeeze, %MVC *(eng)*.
pub const STRONG_BAND_PCT: (f64, f64) = (50.0, 100.0);
/// Target band of a light squeeze, %MVC *(eng, DOMAIN.md §1)*.
pub const LIGHT_BAND_PCT: (f64, f64) = (20.0, 40.0);

/// The built-in protocols, in the order `knip protocols` lists them.
pub fn builtin_protocols() -> Vec<Protocol> {
    use PhaseKind::*;
    let training = |name: &str, description: &str, phases: Vec<Phase>| Protocol {
        name: name.into(),
        description: description.into(),
        kind: ProtocolKind::Training,
        daily_goal_reps: 30,
        phases,
    };
    let assessment = |name: &str, description: &str, phases: Vec<Phase>| Protocol {
        name: name.into(),
        description: description.into(),
        kind: ProtocolKind::Assessment,
        daily_goal_reps: 30,
        phases,
    };
    let mut perfect_r = phase(
        "repetitions",
        Hold,
        "Squeeze hard and hold, same as before",
        10,
        10.0,
        4.0,
        true,
        Some(STRONG_BAND_PCT),
    );
    perfect_r.hold_from_max_hold = true;
    vec![
        training(
            "relax",
            "step 1a: three 10-s relaxations; rest level and steadiness",
            vec![phase(
                "relax",
                Rest,
                "Let the pelvic floor sink and relax",
                3,
                10.0,
                3.0,
                false,
                None,
            )],
        ),
        training(
            "identify",
            "step 1b: 10 squeezes, hold 2 s, relax fully at least 2 s",
            vec![phase(
                "identify",
                Hold,
                "Squeeze and lift",
                10,
                2.0,
                4.0,
                false,
                Some(STRONG_BAND_PCT),
            )],
        ),
        training(
            "strength",
            "step 2: hold 5 s, rest 5 s, until a hold fails (goal 30 a day), then 5 quick squeezes",
            vec![
                phase(
                    "strength",
                    Hold,
                    "Squeeze and hold",
                    30,
                    5.0,
                    5.0,
                    true,
                    Some(STRONG_BAND_PCT),
                ),
                phase(
                    "quick",
                    Flick,
                    "Quick squeeze, let go",
                    5,
                    1.0,
                    3.0,
                    false,
                    Some(STRONG_BAND_PCT),
                ),
            ],
        ),
        training(
            "endurance",
            "step 3: squeeze firmly as long as you can (up to 60 s), twice",
            vec![phase(
                "endurance",
                Endurance,
                "Squeeze and keep it up",
                2,
                60.0,
                15.0,
                false,
                Some(LIGHT_BAND_PCT),
            )],
        ),
        training(
            "function",
            "step 3: light 10-s squeezes, then squeeze before you cough (the knack)",
            vec![
                phase(
                    "light",
                    Hold,
                    "Light squeeze, hold",
                    3,
                    10.0,
                    5.0,
                    false,
                    Some(LIGHT_BAND_PCT),
                ),
                phase(
                    "knack",
                    Knack,
                    "Squeeze, then cough",
                    3,
                    4.0,
                    6.0,
                    false,
                    Some(STRONG_BAND_PCT),
                ),
            ],
        ),
        assessment(
            "glazer",
            "Glazer sEMG assessment: rest 60 s, 5 flicks, 5 tonic 10 s, endurance 60 s, rest 60 s",
            vec![
                phase("pre-rest", Rest, "Rest quietly", 1, 60.0, 0.0, false, None),
                phase(
                    "flicks",
                    Flick,
                    "Quick squeeze, as fast as you can",
                    5,
                    1.0,
                    10.0,
                    false,
                    Some(STRONG_BAND_PCT),
                ),
                phase(
                    "tonic",
                    Hold,
                    "Squeeze as strong as you can and hold",
                    5,
                    10.0,
                    10.0,
                    false,
                    Some(STRONG_BAND_PCT),
                ),
                phase(
                    "endurance",
                    Endurance,
                    "Squeeze at a level you can hold for 60 s",
                    1,
                    60.0,
                    0.0,
                    false,
                    Some(LIGHT_BAND_PCT),
                ),
                phase("post-rest", Rest, "Rest quietly", 1, 60.0, 0.0, false, None),
            ],
        ),
        assessment(
            "perfect",
            "PERFECT assessment: maximal hold (E), repeated holds (R), fast squeezes (F)",
            vec![
                phase(
                    "endurance",
                    MaxHold,
                    "Squeeze as hard as you can and hold",
                    1,
                    10.0,
                    10.0,
                    false,
                    Some(STRONG_BAND_PCT),
                ),
                perfect_r,
                phase(
                    "fast",
                    Flick,
                    "Quick hard squeeze, let go",
                    10,
                    1.0,
                    2.0,
                    true,
                    Some(STRONG_BAND_PCT),
                ),
            ],
        ),
    ]
}

impl Protocol {
    /// A built-in by name, or a protocol file (a path ending in `.toml`).
    pub fn load(name_or_path: &str) -> Result<Protocol, ProtocolError> {
        if name_or_path.ends_with(".toml") {
            return Protocol::from_file(Path::new(name_or_path));
        }
        let key = name_or_path.trim().to_ascii_lowercase();
        builtin_protocols()
            .into_iter()
            .find(|p| p.name == key)
            .ok_or_else(|| ProtocolError::Unknown {
                name: name_or_path.to_string(),
                known: builtin_protocols()
                    .iter()
                    .map(|p| p.name.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    pub fn from_file(path: &Path) -> Result<Protocol, ProtocolError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProtocolError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Protocol::from_toml_str(&text).map_err(|e| match e {
            ProtocolError::Parse { message, .. } => ProtocolError::Parse {
                path: path.display().to_string(),
                message,
            },
            other => other,
        })
    }

    /// Parse a protocol from TOML:
    ///
    /// ```toml
    /// name = "short-holds"
    /// description = "six 3-s holds"
    /// kind = "training"
    /// [[phase]]
    /// name = "holds"
    /// kind = "hold"
    /// cue = "Squeeze and hold"
    /// reps = 6
    /// work_s = 3.0
    /// rest_s = 4.0
    /// target_pct_mvc = [40.0, 100.0]
    /// ```
    pub fn from_toml_str(text: &str) -> Result<Protocol, ProtocolError> {
        let p: Protocol = toml::from_str(text).map_err(|e| ProtocolError::Parse {
            path: "<text>".into(),
            // The message quotes the file's line: shortened, control characters escaped.
            message: e
                .to_string()
                .lines()
                .map(|line| limits::excerpt(line, 200))
                .collect::<Vec<_>>()
                .join("\n"),
        })?;
        p.validate()?;
        Ok(p)
    }

    /// Checks what TOML cannot: positive times, sane bands, at least one phase.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        let bad = |message: String| ProtocolError::Invalid {
            name: self.name.clone(),
            message,
        };
        if self.phases.is_empty() {
            return Err(bad("no phases; add at least one [[phase]]".into()));
        }
        if self.phases.len() > limits::PROTOCOL_PHASES {
            return Err(bad(format!(
                "{} phases; a protocol has at most {}",
                self.phases.len(),
                limits::PROTOCOL_PHASES
            )));
        }
        let goal = limits::DAILY_GOAL_REPS;
        if !(goal.lo..=goal.hi).contains(&self.daily_goal_reps) {
            return Err(bad(format!(
                "daily_goal_reps is {}; use {} to {}",
                self.daily_goal_reps, goal.lo, goal.hi
            )));
        }
        let texts = [("name", &self.name), ("description", &self.description)]
            .into_iter()
            .chain(
                self.phases
                    .iter()
                    .flat_map(|ph| [("phase name", &ph.name), ("cue", &ph.cue)]),
            );
        for (field, text) in texts {
            if text.chars().count() > limits::PROTOCOL_TEXT_CHARS {
                return Err(bad(format!(
                    "a {field} is {} characters long; use at most {}",
                    text.chars().count(),
                    limits::PROTOCOL_TEXT_CHARS
                )));
            }
            if text.chars().any(char::is_control) {
                return Err(bad(format!(
                    "the {field} `{}` holds a control character; use plain text",
                    text.escape_default()
                )));
            }
        }
        for ph in &self.phases {
            if !(ph.work_s.is_finite() && ph.work_s > 0.0 && ph.work_s <= 600.0) {
                return Err(bad(format!(
                    "phase '{}': work_s is {}; use 0 < work_s <= 600",
                    ph.name,
                    limits::shown_number(ph.work_s)
                )));
            }
            if !(ph.rest_s.is_finite() && (0.0..=600.0).contains(&ph.rest_s)) {
                return Err(bad(format!(
                    "phase '{}': rest_s is {}; use 0 <= rest_s <= 600",
                    ph.name,
                    limits::shown_number(ph.rest_s)
                )));
            }
            if ph.reps == 0 || ph.reps > 200 {
                return Err(bad(format!(
                    "phase '{}': reps is {}; use 1 to 200",
                    ph.name, ph.reps
                )));
            }
            if let Some((lo, hi)) = ph.target_pct_mvc {
                if !(lo.is_finite() && hi.is_finite() && 0.0 <= lo && lo < hi && hi <= 200.0) {
                    return Err(bad(format!(
                        "phase '{}': target_pct_mvc [{}, {}] must rise within 0..200",
                        ph.name,
                        limits::shown_number(lo),
                        limits::shown_number(hi)
                    )));
                }
            }
        }
        let total_s: f64 = self
            .phases
            .iter()
            .map(|ph| ph.cycle_s() * f64::from(ph.reps))
            .sum();
        if total_s > limits::PROTOCOL_TOTAL_S {
            return Err(bad(format!(
                "the phases last {:.1} h; a session may last at most {:.0} h",
                total_s / 3600.0,
                limits::PROTOCOL_TOTAL_S / 3600.0
            )));
        }
        Ok(())
    }

    /// The phases actually run: calibration first; with a saved calibration, a short rest
    /// baseline instead, so that the detector measures today's rest before the first cue.
    pub fn session_phases(&self, with_calibration: bool) -> Vec<Phase> {
        let mut v = if with_calibration {
            calibration_phases()
        } else {
            vec![Phase {
                name: "baseline".into(),
                kind: PhaseKind::Rest,
                cue: "Lie still and relax".into(),
                reps: 1,
                work_s: SHORT_BASELINE_S,
                rest_s: 0.0,
                until_failure: false,
                target_pct_mvc: None,
                hold_from_max_hold: false,
            }]
        };
        v.extend(self.phases.iter().cloned());
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_valid_and_named_as_the_issue_asks() {
        let names: Vec<String> = builtin_protocols().into_iter().map(|p| p.name).collect();
        assert_eq!(
            names,
            [
                "relax",
                "identify",
                "strength",
                "endurance",
                "function",
                "glazer",
                "perfect"
            ]
        );
        for p in builtin_protocols() {
            p.validate().unwrap();
        }
    }

    #[test]
    fn glazer_lasts_about_340_s() {
        let g = Protocol::load("glazer").unwrap();
        let total: f64 = g
            .phases
            .iter()
            .map(|p| p.cycle_s() * f64::from(p.reps))
            .sum();
        assert!((total - 340.0).abs() < 20.0, "{total}");
    }

    #[test]
    fn toml_round_trip_and_errors() {
        let text = r#"
name = "short"
description = "six 3-s holds"
kind = "training"
[[phase]]
name = "holds"
kind = "hold"
cue = "Squeeze and hold"
reps = 6
work_s = 3.0
rest_s = 4.0
target_pct_mvc = [40.0, 100.0]
"#;
        let p = Protocol::from_toml_str(text).unwrap();
        assert_eq!(p.phases[0].reps, 6);
        assert_eq!(p.phases[0].target_pct_mvc, Some((40.0, 100.0)));
        assert_eq!(p.daily_goal_reps, 30);
        let huge = text.replace("work_s = 3.0", "work_s = 1e300");
        let err = Protocol::from_toml_str(&huge).expect_err("1e300 s refused");
        assert!(err.to_string().contains("work_s is 1e300;"), "{err}");
        let bad = text.replace("work_s = 3.0", "work_s = -1.0");
        assert!(matches!(
            Protocol::from_toml_str(&bad),
            Err(ProtocolError::Invalid { .. })
        ));
        // 200 reps of 20 min each: within each phase's limits, but 66.7 hours in all.
        let endless = text
            .replace("reps = 6", "reps = 200")
            .replace("work_s = 3.0", "work_s = 600.0")
            .replace("rest_s = 4.0", "rest_s = 600.0");
        let err = Protocol::from_toml_str(&endless).expect_err("66.7 h refused");
        assert!(err.to_string().contains("66.7 h"), "{err}");
        let many = format!(
            "{text}{}",
            &text[text.find("[[phase]]").unwrap()..].repeat(60)
        );
        let err = Protocol::from_toml_str(&many).expect_err("61 phases refused");
        assert!(err.to_string().contains("61 phases"), "{err}");
        let escape = text.replace("Squeeze and hold", "Squeeze\\u001b]0;owned\\u0007");
        let err = Protocol::from_toml_str(&escape).expect_err("control characters refused");
        assert!(!err.to_string().contains('\u{1b}'), "{err}");
        assert!(err.to_string().contains("control character"), "{err}");
        let goal = text.replace(
            "kind = \"training\"",
            "kind = \"training\"\ndaily_goal_reps = 0",
        );
        let err = Protocol::from_toml_str(&goal).expect_err("a goal of 0 refused");
        assert!(err.to_string().contains("daily_goal_reps"), "{err}");
        let raw_escape = format!("{text}\u{1b}]0;owned\u{7} = 1\n");
        let err = Protocol::from_toml_str(&raw_escape).expect_err("not TOML");
        assert!(!err.to_string().contains('\u{1b}'), "{err}");
        let typo = text.replace("reps = 6", "repz = 6");
        assert!(matches!(
            Protocol::from_toml_str(&typo),
            Err(ProtocolError::Parse { .. })
        ));
        assert!(matches!(
            Protocol::load("nonsense"),
            Err(ProtocolError::Unknown { .. })
        ));
    }
}
