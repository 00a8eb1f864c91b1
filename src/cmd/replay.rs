//! `knip replay FILE`: a recording (decoded CSV or raw bytes) through the live pipeline and views.

use crate::cli::{ReplayArgs, SessionArgs, SourceArgs};
use std::io::IsTerminal;

pub fn run(a: ReplayArgs) -> anyhow::Result<()> {
    let ReplayArgs {
        file,
        speed,
        fast,
        lsl,
        out,
        force,
        plain,
        web,
        settings,
    } = a;
    super::require_lsl(lsl)?;
    let cfg = settings.config()?;
    let out = out.unwrap_or_else(|| {
        let stem = file
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "recording".into());
        file.with_file_name(format!("replay-{stem}"))
    });
    if knip::export::read_sidecar_beside(&file).is_some_and(|s| s.session.is_some()) {
        // A guided session's recording: the same session again, reps and verdicts.
        let source = SourceArgs {
            replay: Some(file),
            speed,
            fast,
            lsl,
            ..Default::default()
        };
        let mut args = SessionArgs::plain_run(None, source, out, force, plain, settings);
        args.web = web;
        return super::session::session(args);
    }
    let folder = knip::out_folder::prepare(&out, force)?;
    let stdout = std::io::stdout();
    let bar = !plain && stdout.is_terminal();
    let server = super::start_web(&web, false)?;
    let opts = knip::record_cmd::ReplayOptions {
        input: file.clone(),
        speed: (!fast).then_some(speed),
        out_dir: out,
        bar,
        lsl,
        web: server.clone(),
    };
    let o = folder.tidy_on_error(knip::record_cmd::replay(&opts, &cfg, Box::new(stdout)))?;
    println!();
    for w in &o.warnings {
        eprintln!("warning: {w}");
    }
    let counted = o
        .events
        .iter()
        .filter(|e| e.kind == knip::event::EventKind::Contraction)
        .count();
    println!(
        "{} ({} replay): {:.1} s, {counted} contractions; report in {}/",
        file.display(),
        o.kind,
        o.end.end_time_s,
        o.out_dir.display()
    );
    if let Some(w) = &server {
        let files = super::record::report_files(&o.out_dir);
        let term = std::io::stdin().is_terminal();
        knip::web::linger(w, &o.out_dir, &files, web.web_keep, None, term);
    }
    Ok(())
}
