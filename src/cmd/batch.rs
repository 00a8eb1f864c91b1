//! `knip batch DIR --out DIR`: every recording under a folder, on all cores, and one batch.csv.
//! Each file is analysed by a child process of its own (this executable, the same options,
//! `--one-file`), so that no file can take the run down.

use crate::cli::BatchArgs;
use std::io::IsTerminal;

pub fn run(a: BatchArgs) -> anyhow::Result<()> {
    let BatchArgs {
        dir,
        out,
        force,
        one_file,
        one_out,
        jobs,
        columns,
        scoring,
        settings,
    } = a;
    let scoring = super::scoring_config(scoring.as_deref())?;
    let cfg = settings.config()?;
    let jobs = jobs.unwrap_or_else(super::all_cores);
    let mut opts = knip::batch::BatchOptions {
        jobs,
        csv: columns.options(),
        cfg,
        progress_bar: std::io::stderr().is_terminal(),
        isolation: None,
    };
    if let (Some(file), Some(report_dir)) = (one_file, one_out) {
        // A child of the batch below: one file, the answer as one line of JSON.
        println!(
            "{}",
            knip::batch::child_answer(&file, &report_dir, &opts, &scoring)
        );
        return Ok(());
    }
    let folder = knip::out_folder::prepare(&out, force)?;
    opts.isolation = std::env::current_exe()
        .ok()
        .map(|program| knip::batch::Isolation {
            program,
            args: std::env::args_os().skip(1).collect(),
        });
    let o = folder.tidy_on_error(knip::batch::run_scored(&dir, &out, &opts, &scoring))?;
    for w in &o.warnings {
        eprintln!("warning: {}", knip::limits::terminal_safe(w));
    }
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
            let line = format!("  skipped {}: {reason}", r.file.display());
            println!("{}", knip::limits::terminal_safe(&line));
        }
    }
    Ok(())
}
