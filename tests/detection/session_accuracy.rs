//! Guided-session scoring against the simulated patient's truth, over 24 seeds across the
//! protocols: verdicts, co-activation flags, strains, the end of the strength set, knack timing.

use knip::config::AnalysisConfig;
use knip::session::drive::{evaluate_session, Agreement};

fn run_all() -> Vec<Agreement> {
    let protocols = [
        "strength",
        "identify",
        "function",
        "glazer",
        "perfect",
        "endurance",
    ];
    let cfg = AnalysisConfig::default();
    let seeds: Vec<(usize, u64)> = (0..24).map(|i| (i, i as u64 + 1)).collect();
    let out = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for chunk in seeds.chunks(12) {
            let out = &out;
            let cfg = &cfg;
            s.spawn(move || {
                for &(i, seed) in chunk {
                    let p = protocols[i % protocols.len()];
                    let a = evaluate_session(p, seed, cfg).expect("session runs");
                    out.lock().unwrap().push(a);
                }
            });
        }
    });
    out.into_inner().unwrap()
}

#[test]
fn session_scores_agree_with_simulated_truth() {
    let all = run_all();
    let sum = |f: fn(&Agreement) -> u32| all.iter().map(f).sum::<u32>();
    let (v, va) = (sum(|a| a.verdicts), sum(|a| a.verdicts_agree));
    let dis: Vec<&String> = all.iter().flat_map(|a| a.disagreements.iter()).collect();
    assert!(v >= 200, "too few judged reps: {v}");
    assert!(va as f64 / v as f64 >= 0.95, "verdicts {va}/{v}: {dis:#?}");

    let (tp, fnn, tn, fp) = (
        sum(|a| a.coact_tp),
        sum(|a| a.coact_fn),
        sum(|a| a.coact_tn),
        sum(|a| a.coact_fp),
    );
    assert!(tp + fnn >= 20, "too few co-activated reps: {}", tp + fnn);
    let sens = tp as f64 / (tp + fnn) as f64;
    let spec = tn as f64 / (tn + fp) as f64;
    assert!(
        sens >= 0.9 && spec >= 0.9,
        "co-activation sensitivity {sens:.3} specificity {spec:.3}"
    );

    let (st, sf) = (sum(|a| a.strains), sum(|a| a.strains_flagged));
    assert!(st >= 2, "no strain simulated");
    assert_eq!(st, sf, "every strain flagged");

    let ends: Vec<(u32, u32)> = all.iter().filter_map(|a| a.set_end).collect();
    assert!(ends.len() >= 6, "{ends:?}");
    for (truth, measured) in &ends {
        assert!(
            truth.abs_diff(*measured) <= 1,
            "set end {measured} vs simulated failure {truth}: {ends:?}"
        );
    }

    let knacks: Vec<f64> = all
        .iter()
        .flat_map(|a| a.knack_errors_s.iter().copied())
        .collect();
    assert!(knacks.len() >= 5, "{knacks:?}");
    for e in &knacks {
        assert!(*e <= 0.1, "knack timing error {e} s: {knacks:?}");
    }

    // PERFECT: E within 0.5 s, R and F exact.
    let perfect: Vec<_> = all.iter().filter_map(|a| a.perfect).collect();
    assert!(perfect.len() >= 4, "{perfect:?}");
    for ((e, r, f), (me, mr, mf)) in &perfect {
        let me = me.expect("E measured");
        assert!(
            (me - e.min(10.0)).abs() <= 0.5,
            "E {me} vs {e}: {perfect:?}"
        );
        assert_eq!((Some(*r), Some(*f)), (*mr, *mf), "{perfect:?}");
    }
    // Endurance: seconds above the band's lower edge never exceed the hold, and miss little.
    let endurance: Vec<_> = all
        .iter()
        .flat_map(|a| a.endurance.iter().copied())
        .collect();
    assert!(endurance.len() >= 8, "{endurance:?}");
    for (hold, above) in &endurance {
        let above = above.expect("measured");
        assert!(
            above <= hold + 0.5 && above >= 0.85 * hold,
            "{above} vs {hold}: {endurance:?}"
        );
    }
}
