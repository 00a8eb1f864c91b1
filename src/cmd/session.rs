//! `knip session` and `knip demo`: a guided session with a simulated patient; `demo` on a
//! simulator-only protocol runs the simulated patient through the live pipeline instead.

use crate::cli::{require, DemoArgs, GuidedArgs, SessionArgs, Settings};
use knip::demo::DemoOptions;
use knip::simulate::SimConfig;
use std::io::IsTerminal;

pub fn session(a: SessionArgs) -> anyhow::Result<()> {
    let SessionArgs {
        protocol,
        guided,
        settings,
    } = a;
    run_guided_cmd(&protocol, guided, settings)
}

pub fn demo(a: DemoArgs) -> anyhow::Result<()> {
    let DemoArgs {
        protocol,
        seed,
        speed,
        fast,
        out,
        plain,
        settings,
    } = a;
    if knip::session::protocol::Protocol::load(&protocol).is_ok() {
        return run_guided_cmd(
            &protocol,
            GuidedArgs {
                seed,
                speed,
                fast,
                out,
                plain,
                calibration: None,
                done_today: 0,
                scoring: None,
            },
            settings,
        );
    }
    let cfg = settings.config()?;
    require(speed > 0.0, "--speed must be positive")?;
    let stdout = std::io::stdout();
    let bar = !plain && stdout.is_terminal();
    let opts = DemoOptions {
        sim: SimConfig {
            protocol,
            seed,
            ..SimConfig::default()
        },
        speed: (!fast).then_some(speed),
        out_dir: out,
        bar,
    };
    let outcome = knip::demo::demo(&opts, &cfg, Box::new(stdout))?;
    println!();
    println!("Report written to {}/", outcome.out_dir.display());
    for f in [
        "report.png",
        "contractions.csv",
        "summary.csv",
        "events.csv",
        "session.json",
    ] {
        println!("  {}", outcome.out_dir.join(f).display());
    }
    println!(
        "Recording: {} (+ .json sidecar, .truth.csv ground truth)",
        outcome.recording.display()
    );
    let s = &outcome.score;
    println!(
        "Detector vs the simulated truth: F1 {:.3} ({} found, {} missed, {} extra), median onset error {:.0} ms",
        s.f1(),
        s.true_positives,
        s.false_negatives,
        s.false_positives,
        1000.0 * s.median_abs_onset_error_s()
    );
    Ok(())
}

pub fn run_guided_cmd(protocol: &str, g: GuidedArgs, settings: Settings) -> anyhow::Result<()> {
    use knip::session::{calibrate::Calibration, drive, protocol::Protocol, score::ScoringConfig};
    let cfg = settings.config()?;
    require(g.speed > 0.0, "--speed must be positive")?;
    let protocol = Protocol::load(protocol)?;
    let calibration = g
        .calibration
        .as_deref()
        .map(Calibration::load)
        .transpose()?;
    let tui = !g.plain && std::io::stdout().is_terminal();
    let o = drive::GuidedOptions {
        protocol,
        seed: g.seed,
        speed: (!g.fast).then_some(g.speed),
        out_dir: g.out.clone(),
        tui,
        calibration,
        done_today: g.done_today,
        scoring: match g.scoring.as_deref() {
            Some(p) => ScoringConfig::from_toml_file(p)?,
            None => ScoringConfig::default(),
        },
    };
    let (_, files) = drive::run_guided(&o, &cfg, Box::new(std::io::stdout()))?;
    println!("Report written to {}/", g.out.display());
    for f in files {
        println!("  {}", f.display());
    }
    Ok(())
}
