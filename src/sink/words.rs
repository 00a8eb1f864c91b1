//! The words of a guided session: what the patient reads on the live views (the big cue, the
//! last rep's verdict) and the one-line-per-event log of the plain view and `reps.csv`.
//!
//! The session runner decides in types (a [`Cue`], a [`RepScore`] with its verdict and reason,
//! a [`SessionNote`]); only this module turns them into sentences, so a view in another language
//! or for another audience changes words here and nothing in the runner.

use crate::session::run::{clock, Cue, SessionNote};
use crate::session::score::{secs, CoactFlag, Reason, RepScore, Verdict};

/// The big word(s) of the live view.
pub fn cue(c: &Cue) -> String {
    match *c {
        Cue::Starting => String::new(),
        Cue::Relax { n } => format!("Relax — let it sink {n}…"),
        Cue::QuickSqueeze => "Quick squeeze!".into(),
        Cue::KnackSqueeze => "Squeeze…".into(),
        Cue::KnackCough => "…now cough!".into(),
        Cue::KeepUp { n } => format!("Keep it up {n}…"),
        Cue::Squeeze => "Squeeze".into(),
        Cue::Hold { n } => format!("Hold {n}…"),
        Cue::LetGo => "Let go".into(),
        Cue::RelaxFully => "Relax fully".into(),
        Cue::Rest { n } => format!("Rest {n}…"),
        Cue::GetReady { n } => format!("Get ready {n}…"),
        Cue::NoSignal => "No signal — waiting".into(),
        Cue::Paused => "Paused".into(),
        Cue::Done => "Well done — session complete".into(),
    }
}

/// The line under the big words: the phase's own instruction while working (or waiting to),
/// "Let go and breathe" in the rest between repetitions.
pub fn instruction(c: &Cue, phase_instruction: &str) -> String {
    match c {
        Cue::LetGo | Cue::RelaxFully | Cue::Rest { .. } => "Let go and breathe".into(),
        _ => phase_instruction.to_string(),
    }
}

/// [`rep_message`] for a screen the patient reads alone (the web page): no signal levels or
/// units to interpret — the strongest squeeze and a relaxed rest are said in words.
pub fn patient_rep_message(r: &RepScore, unit: &str) -> String {
    let words = rep_message(r, unit);
    if words.is_empty() || matches!(r.reason, Some(Reason::Strain | Reason::Missing)) {
        return words;
    }
    match r.kind.as_str() {
        "mvc" => "Good strong squeeze".into(),
        "rest" if !r.rest_busy => "Nicely relaxed".into(),
        _ => words,
    }
}

/// What a scored repetition tells the patient; `unit` is the scoring channel's unit. Empty for
/// a repetition with nothing to say yet.
pub fn rep_message(r: &RepScore, unit: &str) -> String {
    let hold = r.hold_s.unwrap_or(0.0);
    match (r.kind.as_str(), r.verdict, r.reason) {
        (_, None, _) => String::new(),
        ("rest", _, _) if r.rest_busy => "Try to stay relaxed the whole time".into(),
        ("rest", _, _) => format!(
            "Rest {:.1} {unit}, steady {:.0} %",
            r.rest_mean.unwrap_or(0.0),
            r.rest_cv_pct.unwrap_or(0.0)
        ),
        (_, _, Some(Reason::Strain)) => "You pushed down — lift up and in instead".into(),
        (_, _, Some(Reason::Missing)) => "No squeeze found".into(),
        ("mvc", _, _) => format!("Strongest so far: {:.0} {unit}", r.peak.unwrap_or(0.0)),
        ("hold", _, Some(Reason::Short)) => {
            format!("Held {} — aim for {}", secs(hold), secs(r.target_s))
        }
        ("hold", _, Some(Reason::Weak)) => "Weaker now — that is your limit today".into(),
        ("hold", _, Some(Reason::NoRest)) => "Let go completely before the next one".into(),
        ("hold", _, _) if r.coact_flag == Some(CoactFlag::Red) => {
            format!("Good hold — {} — keep your tummy soft", secs(hold))
        }
        ("hold", _, _) => format!("Good hold — {}", secs(hold)),
        ("flick", _, Some(Reason::Weak)) => "Weaker now — that is enough".into(),
        ("flick", _, _) => "Good quick squeeze".into(),
        ("endurance", _, _) => format!("Kept it up {}", secs(r.above_band_s.unwrap_or(hold))),
        ("maxhold", _, _) => format!("Held {}", secs(hold)),
        ("knack", Some(Verdict::Pass), _) => format!(
            "Good knack — squeezed {} before the cough",
            secs(r.knack_lead_s.unwrap_or(0.0))
        ),
        ("knack", _, _) if r.knack_lead_s.is_some() => "Squeeze first, then cough".into(),
        ("knack", _, _) => "No cough found — squeeze, then cough".into(),
        _ => String::new(),
    }
}

/// One line of the plain view.
pub fn note(n: &SessionNote) -> String {
    match n {
        SessionNote::Started { protocol } => format!("knip session: {protocol}"),
        SessionNote::PhaseStarts {
            at_s,
            phase,
            reps,
            work_s,
        } => format!("{} — {phase} ({reps} × {}) —", clock(*at_s), secs(*work_s)),
        SessionNote::Cue {
            at_s,
            phase,
            rep,
            reps,
            instruction,
        } => format!("{} {phase} {rep}/{reps}: {instruction}", clock(*at_s)),
        SessionNote::Scored { at_s, rep, unit } => {
            let words = rep_message(rep, unit);
            if rep.kind == "rest" {
                format!("{} rest: {words}", clock(*at_s))
            } else {
                format!("{} {} {}: {words}", clock(*at_s), rep.phase_name, rep.rep)
            }
        }
        SessionNote::Calibrated { at_s, channels } => {
            let text: Vec<String> = channels
                .iter()
                .map(|c| {
                    format!(
                        "{} rest {:.1} MVC {:.1} {}",
                        c.role, c.rest_mean, c.mvc, c.unit
                    )
                })
                .collect();
            format!("{} calibrated: {}", clock(*at_s), text.join(", "))
        }
        SessionNote::SetOver {
            at_s,
            reps_done,
            reason,
        } => format!(
            "{} set over after {reps_done} reps ({})",
            clock(*at_s),
            reason.as_str()
        ),
        SessionNote::Complete { at_s } => format!("{} session complete", clock(*at_s)),
        SessionNote::Marker { at_s, n } => format!("{} marker {n}", clock(*at_s)),
        SessionNote::Paused { at_s } => format!("{} paused", clock(*at_s)),
        SessionNote::Resumed { at_s } => format!("{} resumed", clock(*at_s)),
        SessionNote::Device { at_s, message } => format!("{} {message}", clock(*at_s)),
        SessionNote::SignalLost { at_s, for_s } => format!(
            "{} no signal for {for_s:.1} s — the exercise stood still",
            clock(*at_s)
        ),
        SessionNote::Interrupted { at_s, phase, rep } => format!(
            "{} {phase} {rep} interrupted; it will be done again",
            clock(*at_s)
        ),
        SessionNote::GoingOn {
            at_s,
            after_s,
            next_cue_s,
        } => format!(
            "{} going on after {after_s:.1} s; next cue at {}",
            clock(*at_s),
            clock(*next_cue_s)
        ),
        SessionNote::StoppedEarly { at_s } => format!("{} stopped early", clock(*at_s)),
        SessionNote::ValidToday { valid, goal } => format!("{valid} valid holds of {goal} today"),
        SessionNote::ReportForWhatWasDone => {
            "session stopped early; report written for what was done".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_patients_screen_gets_no_levels_or_units() {
        for (kind, busy) in [("mvc", false), ("rest", false), ("rest", true)] {
            let r = RepScore {
                kind: kind.into(),
                verdict: Some(Verdict::Pass),
                peak: Some(33.4),
                rest_mean: Some(6.3),
                rest_cv_pct: Some(12.0),
                rest_busy: busy,
                ..RepScore::default()
            };
            let full = rep_message(&r, "uV");
            let patient = patient_rep_message(&r, "uV");
            assert!(!patient.is_empty(), "{kind}");
            assert!(
                !patient.contains("uV") && !patient.chars().any(|c| c.is_ascii_digit()),
                "{kind}: {patient:?}"
            );
            if busy {
                assert_eq!(patient, full, "advice stays as it is");
            } else {
                assert!(
                    full.contains("uV"),
                    "the clinician's words keep the level: {full:?}"
                );
            }
        }
        // Nothing to say yet stays nothing.
        let r = RepScore {
            kind: "mvc".into(),
            ..RepScore::default()
        };
        assert_eq!(patient_rep_message(&r, "uV"), "");
    }
}
