//! Scores guided sessions against simulated truth: `cargo run --release --example session_eval -- 24`
use knip::config::AnalysisConfig;
use knip::session::drive::evaluate_session;

fn main() -> anyhow::Result<()> {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    let protocols = [
        "strength",
        "identify",
        "function",
        "glazer",
        "perfect",
        "endurance",
    ];
    let cfg = AnalysisConfig::default();
    let (mut v, mut va, mut tp, mut fnn, mut tn, mut fp, mut st, mut sf) = (0, 0, 0, 0, 0, 0, 0, 0);
    let mut ends = Vec::new();
    let mut knack = Vec::new();
    for i in 0..n {
        let p = protocols[i as usize % protocols.len()];
        let a = evaluate_session(p, i + 1, &cfg)?;
        v += a.verdicts;
        va += a.verdicts_agree;
        tp += a.coact_tp;
        fnn += a.coact_fn;
        tn += a.coact_tn;
        fp += a.coact_fp;
        st += a.strains;
        sf += a.strains_flagged;
        if let Some(e) = a.set_end {
            ends.push(e);
        }
        knack.extend(a.knack_errors_s.iter().copied());
        if a.knack_errors_s.iter().any(|e| *e > 0.08) {
            println!("  knack errors {:?}", a.knack_errors_s);
        }
        if let Some(p) = a.perfect {
            println!("  PERFECT simulated {:?} measured {:?}", p.0, p.1);
        }
        for e in &a.endurance {
            println!(
                "  endurance simulated hold {:.1} s, measured above band {:?}",
                e.0, e.1
            );
        }
        for d in a.disagreements.iter().chain(&a.coact_misses) {
            println!("  {d}");
        }
        println!(
            "{p} seed {}: verdicts {}/{} coact tp{} fn{} tn{} fp{} strains {}/{} set_end {:?}",
            i + 1,
            a.verdicts_agree,
            a.verdicts,
            a.coact_tp,
            a.coact_fn,
            a.coact_tn,
            a.coact_fp,
            a.strains_flagged,
            a.strains,
            a.set_end
        );
    }
    println!(
        "verdict agreement {va}/{v} = {:.3}",
        va as f64 / v.max(1) as f64
    );
    println!(
        "co-activation sensitivity {:.3} ({tp}/{}), specificity {:.3} ({tn}/{})",
        tp as f64 / (tp + fnn).max(1) as f64,
        tp + fnn,
        tn as f64 / (tn + fp).max(1) as f64,
        tn + fp
    );
    println!("strains flagged {sf}/{st}");
    println!("set ends (truth, measured): {ends:?}");
    knack.sort_by(f64::total_cmp);
    println!(
        "knack |error| s: n {} median {:?} max {:?}",
        knack.len(),
        knack.get(knack.len() / 2),
        knack.last()
    );
    Ok(())
}
