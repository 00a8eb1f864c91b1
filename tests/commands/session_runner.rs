//! The session runner on hand-made detector output: verdict rules (good, short, not back to
//! rest before the next cue, missing, weak), the end of an `until_failure` set, markers.

use knip::event::{ContractionEvent, EventKind};
use knip::frame::{ChannelChunk, ChannelSpec, Role, StreamSpec};
use knip::pipeline::Processed;
use knip::session::calibrate::{Calibration, ChannelCalibration};
use knip::session::protocol::{Phase, PhaseKind, Protocol, ProtocolKind};
use knip::session::run::{
    InterruptionCause, PauseMode, SessionResult, SessionRunner, SessionSetup,
};
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

/// With a saved calibration the session opens with a short rest baseline; the times below
/// count from the first cue.
const B: f64 = knip::session::protocol::SHORT_BASELINE_S;

/// Squeezes as (onset, offset, level), seconds after the first cue, on a pressure trace at
/// rest 0; events decided 0.3 s after each offset. The baseline rep is left out of the result.
fn run(phases: Vec<Phase>, squeezes: &[(f64, f64, f64)], end_s: f64) -> SessionResult {
    run_with_pause(phases, squeezes, end_s, None)
}

/// A user pause of a live sensor session from `.0` to `.1` (seconds after the first cue),
/// pressed live (`scripted` false) or replayed from the recording (`scripted` true).
#[derive(Clone, Copy)]
struct Pause {
    from_s: f64,
    to_s: f64,
    scripted: bool,
}

fn run_with_pause(
    phases: Vec<Phase>,
    squeezes: &[(f64, f64, f64)],
    end_s: f64,
    pause: Option<Pause>,
) -> SessionResult {
    let squeezes: Vec<(f64, f64, f64)> = squeezes.iter().map(|s| (s.0 + B, s.1 + B, s.2)).collect();
    let end_s = end_s + B;
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
    if let Some(p) = pause {
        setup.pause_mode = PauseMode::FreezeTimeline;
        if p.scripted {
            setup.scripted_pauses = vec![(p.from_s + B, p.to_s + B)];
        }
    }
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
                core_s: s.1 - s.0,
                rise_s: 0.5,
                release_s: 0.2,
                rest_mean: 0.0,
                rest_sd: 0.5,
                abd_mean: None,
                abd_index: None,
                decided_at_s: s.1 + 0.3,
                onset_carried_s: 0.0,
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
        if i == 200 + (B * RATE) as u64 {
            r.marker("M1");
        }
        if let Some(p) = pause.filter(|p| !p.scripted) {
            let now = frontier_s - B;
            r.set_paused(now >= p.from_s - 1e-9 && now < p.to_s - 1e-9);
        }
        i += block;
    }
    let mut res = r.finish(end_s, false, None);
    assert_eq!(res.reps[0].kind, "rest", "the baseline comes first");
    res.reps.remove(0);
    res
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
    let words = |r| knip::sink::words::rep_message(r, "cmH2O");
    assert!(words(r1).starts_with("Good hold"), "{}", words(r1));
    assert!(words(&res.reps[2]).contains("Let go completely"));
    assert_eq!(res.markers.len(), 1);
    assert!(
        (res.markers[0].0 - 2.1 - B).abs() < 0.05,
        "{:?}",
        res.markers
    );
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
    assert_eq!(res.set_ends, vec![(1, 3, Reason::Weak)], "{:#?}", res.reps);
    let last = res.reps.last().unwrap();
    assert_eq!(
        (last.phase, last.rep),
        (2, 1),
        "the flick phase follows at 18 s"
    );
    assert!((last.cue_s - 18.0 - B).abs() < 1e-9);
    assert!(last.passed(), "{last:?}");
}

#[test]
fn a_live_pause_stops_the_protocol_and_its_replay_gives_the_same_reps() {
    // Four 3 s / 3 s holds (cues 0, 6, 12, 18). Paused at 7.0 s, during rep 2's squeeze, for
    // 4 s: rep 2 is dropped and cued again on the 6-s cadence at least 2 s after the resume
    // (11 s + 2 s → 18 s); reps 3 and 4 follow at 24 and 30. The patient squeezes at every
    // cue of that schedule; the squeeze cut by the pause does not count.
    let squeezes = [
        (0.3, 3.6, 30.0),
        (6.3, 9.6, 30.0),
        (18.3, 21.6, 30.0),
        (24.3, 27.6, 30.0),
        (30.3, 33.6, 30.0),
    ];
    let pause = Pause {
        from_s: 7.0,
        to_s: 11.0,
        scripted: false,
    };
    let live = run_with_pause(vec![hold_phase(4, false)], &squeezes, 38.0, Some(pause));
    let cues: Vec<(u32, f64)> = live.reps.iter().map(|r| (r.rep, r.cue_s - B)).collect();
    assert_eq!(
        cues,
        [(1, 0.0), (2, 18.0), (3, 24.0), (4, 30.0)],
        "{:#?}",
        live.reps
    );
    assert!(live.reps.iter().all(|r| r.passed()), "{:#?}", live.reps);
    assert_eq!(live.interruptions.len(), 1);
    let x = live.interruptions[0];
    assert_eq!(x.cause, InterruptionCause::Paused);
    assert!(
        (x.start_s - B - 7.0).abs() < 0.2 && (x.end_s - B - 11.0).abs() < 0.2,
        "{x:?}"
    );
    // Replayed with the recorded pause (its device times), the same reps and verdicts.
    let replay = run_with_pause(
        vec![hold_phase(4, false)],
        &squeezes,
        38.0,
        Some(Pause {
            from_s: x.start_s - B,
            to_s: x.end_s - B,
            scripted: true,
        }),
    );
    assert_eq!(replay.reps, live.reps);
    assert_eq!(replay.interruptions, live.interruptions);
    // Without the pause the same squeezes give another session: rep 2 at 6 s.
    let plain = run(vec![hold_phase(4, false)], &squeezes, 38.0);
    assert!((plain.reps[1].cue_s - B - 6.0).abs() < 1e-9);
}
