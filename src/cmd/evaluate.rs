//! `knip evaluate`: the detector scored against simulated sessions with known truth.

use crate::cli::{require, EvaluateArgs};
use anyhow::Context;

pub fn run(a: EvaluateArgs) -> anyhow::Result<()> {
    let EvaluateArgs {
        sessions,
        first_seed,
        threads,
        json,
        settings,
    } = a;
    let cfg = settings.config()?;
    if let Some(t) = threads {
        require(t >= 1, "--threads must be at least 1")?;
    }
    let threads = threads.unwrap_or_else(super::all_cores);
    let results = knip::evaluate::evaluate(sessions, first_seed, &cfg, threads)?;
    print!("{}", knip::evaluate::format_table(&results));
    if let Some(p) = json {
        let text = serde_json::to_string_pretty(&results)?;
        std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(())
}
