//! `knip batch DIR --out DIR`: every recording under a folder, on all cores, and one batch.csv.

use crate::cli::BatchArgs;
use std::io::IsTerminal;

pub fn run(a: BatchArgs) -> anyhow::Result<()> {
    let BatchArgs {
        dir,
        out,
        jobs,
        columns,
        scoring,
        settings,
    } = a;
    let scoring = super::scoring_config(scoring.as_deref())?;
    let cfg = settings.config()?;
    let jobs = jobs.unwrap_or_else(super::all_cores);
    let o = knip::batch::run_scored(
        &dir,
        &out,
        &knip::batch::BatchOptions {
            jobs,
            csv: columns.options(),
            cfg,
            progress_bar: std::io::stderr().is_terminal(),
        },
        &scoring,
    )?;
    let failed: Vec<_> = o.failed().collect();
    println!(
        "{} recordings in {:.2} s on {jobs} job(s): {} analysed, {} skipped; table {}",
        o.rows.len(),
        o.wall_s,
        o.rows.len() - failed.len(),
        failed.len(),
        o.table.display()
    );
    for r in failed {
        if let Err(reason) = &r.result {
            println!("  skipped {}: {reason}", r.file.display());
        }
    }
    Ok(())
}
