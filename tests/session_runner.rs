//! The session runner on hand-made detector output: verdict rules (good, short, not back to
//! rest before the next cue, missing, weak), the end of an `until_failure` set, markers.

use knip::event::{ContractionEvent, EventKind};
use knip::frame::{ChannelChunk, ChannelSpec, Role, StreamSpec};
use knip::pipeline::Processed;
use knip::session::calibrate::{Calibration, ChannelCalibration};
use knip::session::protocol::{Phase, PhaseKind, Protocol, ProtocolKind};
use knip::session::run::{SessionResult, SessionRunner, SessionSetup};
use knip::session::score::Reason;

const RATE: f64 = 100.0;

fn hold_phase(reps: u32, until_failure: bool) -> Phase {
    Phase {
        name: "holds".into(),
        kind: PhaseKind::Hold,
        cue: "Squeeze and hold".into(),
        reps,
        work_s: 3.0,
        rest_s: 3.0,
        until_failure,
        target_pct_mvc: Some((50.0, 100.0)),
        hold_from_max_hold: false,
    }
}

/// Squeezes as (onset, offset, level) on a pressure trace at rest 0; events decided 0.3 s
/// after each offset.
fn run(phases: Vec<Phase>, squeezes: &[(f64, f64, f64)], end_s: f64) -> SessionResult {
    let protocol = Protocol {
        name: "test".into(),
        description: "test".into(),
        kind: ProtocolKind::Training,
        daily_goal_reps: 30,
        phases,
    };
    let mut setup = SessionSetup::new(protocol);
    setup.calibration = Some(Calibration {
        channels: vec![ChannelCalibration {
            role: Role::Pressure,
            unit: "cmH2O".into(),
            rest_mean: 0.0,
            rest_sd: 0.5,
            mvc: 40.0,
        }],
        source: "test".into(),
    });
    let spec = StreamSpec {
        channels: vec![ChannelSpec::new(Role::Pressure, RATE)],
        start_time_s: 0.0,
    };
    let mut r = SessionRunner::new(setup);
    r.start(&spec);
    let level = |t: f64| {
        squeezes
            .iter()
            .find(|s| t >= s.0 && t < s.1)
            .map_or(0.0, |s| s.2)
    };
    let block = 10u64;
    let n = (end_s * RATE) as u64;
    let mut i = 0;
    while i < n {
        let samples: Vec<f64> = (i..i + block).map(|k| level(k as f64 / RATE)).collect();
        let frontier_s = (i + block) as f64 / RATE;
        let events = squeezes
            .iter()
            .filter(|s| s.1 + 0.3 >= i as f64 / RATE && s.1 + 0.3 < frontier_s)
            .map(|s| ContractionEvent {
                channel: 0,
                role: Role::Pressure,
                kind: EventKind::Contraction,
                onset_s: s.0,
                offset_s: s.1,
                peak: s.2,
                peak_time_s: s.0 + 0.5,
                mean: s.2,
                cv_pct: 1.0,
                rise_s: 0.5,
                release_s: 0.2,
                rest_mean: 0.0,
                rest_sd: 0.5,
                abd_mean: None,
                abd_index: None,
                decided_at_s: s.1 + 0.3,
            })
            .collect();
        r.push(&Processed {
            filtered: vec![ChannelChunk {
                start_index: i,
                samples: samples.clone(),
            }],
            envelope: vec![ChannelChunk {
                start_index: i,
                samples,
            }],
            onsets: Vec::new(),
            events,
            frontier_s,
        });
        if i == 200 {
            r.marker("M1");
        }
        i += block;
    }
    r.finish(end_s, false)
}

#[test]
fn verdict_rules() {
    // Rep 1 (cue 0): 3.3 s at 30 → good. Rep 2 (cue 6): 1.2 s → short. Rep 3 (cue 12): holds
    // past the next cue (18.5) → not back to rest. Rep 4 (cue 18): nothing new → missing.
    let res = run(
        vec![hold_phase(4, false)],
        &[(0.3, 3.6, 30.0), (6.3, 7.5, 30.0), (12.3, 18.5, 30.0)],
        25.0,
    );
    let reasons: Vec<Option<Reason>> = res.reps.iter().map(|r| r.reason).collect();
    assert_eq!(
        reasons,
        [
            Some(Reason::Ok),
            Some(Reason::Short),
            Some(Reason::NoRest),
            Some(Reason::Missing)
        ],
        "{:#?}",
        res.reps
    );
    let r1 = &res.reps[0];
    assert!((r1.hold_s.unwrap() - 3.3).abs() < 0.15, "{r1:?}");
    assert!((r1.cue_to_onset_s.unwrap() - 0.3).abs() < 1e-9);
    assert!((r1.peak_pct_mvc.unwrap() - 75.0).abs() < 1.0, "{r1:?}");
    assert!(r1.message.starts_with("Good hold"), "{}", r1.message);
    assert!(res.reps[2].message.contains("Let go completely"));
    assert_eq!(res.markers.len(), 1);
    assert!((res.markers[0].0 - 2.1).abs() < 0.05, "{:?}", res.markers);
}

#[test]
fn until_failure_set_ends_at_the_first_short_or_weak_rep() {
    let flick = Phase {
        name: "quick".into(),
        kind: PhaseKind::Flick,
        cue: "Quick".into(),
        reps: 1,
        work_s: 1.0,
        rest_s: 2.0,
        until_failure: false,
        target_pct_mvc: None,
        hold_from_max_hold: false,
    };
    // Reps 1–2 good; rep 3 long enough but at 12 (< 50 % of rep 1's 30) → weak: set over.
    let res = run(
        vec![hold_phase(10, true), flick],
        &[
            (0.3, 3.6, 30.0),
            (6.3, 9.6, 28.0),
            (12.3, 15.6, 12.0),
            (18.2, 18.9, 30.0),
        ],
        24.0,
    );
    assert_eq!(res.set_ends, vec![(0, 3, Reason::Weak)], "{:#?}", res.reps);
    let last = res.reps.last().unwrap();
    assert_eq!(
        (last.phase, last.rep),
        (1, 1),
        "the flick phase follows at 18 s"
    );
    assert!((last.cue_s - 18.0).abs() < 1e-9);
    assert!(last.passed(), "{last:?}");
}
