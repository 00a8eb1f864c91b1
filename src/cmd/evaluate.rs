//! `knip evaluate`: the detector scored against simulated sessions with known truth.

use crate::cli::{require, EvaluateArgs};
use anyhow::Context;

pub fn run(a: EvaluateArgs) -> anyhow::Result<()> {
    let EvaluateArgs {
        sessions,
        first_seed,
        threads,
        json,
        conditions,
        settings,
    } = a;
    let sets = match &conditions {
        Some(list) => {
            let sets = knip::evaluate::parse_condition_sets(list)
                .map_err(|e| crate::cli::UsageError(format!("--conditions: {e}")))?;
            require(
                !sets.is_empty(),
                "--conditions: name at least one condition",
            )?;
            Some(sets)
        }
        None => None,
    };
    let cfg = settings.config()?;
    let threads = threads.unwrap_or_else(super::all_cores);
    let results = knip::evaluate::evaluate(sessions, first_seed, &cfg, threads)?;
    print!("{}", knip::evaluate::format_table(&results));
    let rows = match sets {
        Some(sets) => {
            let mut rows = vec![knip::evaluate::ConditionScore::pooled(
                "none",
                &[],
                &results,
            )];
            rows.extend(knip::evaluate::evaluate_conditions(
                &sets, sessions, first_seed, &cfg, threads,
            )?);
            println!();
            print!("{}", knip::evaluate::format_conditions_table(&rows));
            Some(rows)
        }
        None => None,
    };
    if let Some(p) = json {
        // Without --conditions the JSON is the list of sessions, as before.
        let text = match rows {
            Some(rows) => serde_json::to_string_pretty(&serde_json::json!({
                "sessions": results,
                "conditions": rows,
            }))?,
            None => serde_json::to_string_pretty(&results)?,
        };
        std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(())
}
