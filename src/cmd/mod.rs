//! One module per command: each takes its parsed options, calls the library and prints what
//! happened. The library never calls back into this layer.

pub mod analyze;
pub mod batch;
pub mod devices;
pub mod evaluate;
pub mod export;
pub mod progress;
pub mod progress_fill;
pub mod protocols;
pub mod record;
pub mod replay;
pub mod session;
pub mod simulate;

/// Worker threads when the user did not say: one per core.
pub fn all_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// `--lsl` in a knip built without the `lsl` feature: say how to build it (exit 2).
pub fn require_lsl(lsl: bool) -> Result<(), crate::cli::UsageError> {
    if lsl && !knip::sink::lsl::BUILT {
        return Err(crate::cli::UsageError(
            knip::sink::lsl::LslError::NotBuilt.to_string(),
        ));
    }
    Ok(())
}

/// Ctrl-C (and SIGTERM) end a session or recording cleanly: the report is still written. A
/// second Ctrl-C ends at once (the recording is safe on disk anyway).
pub fn stop_on_signals() -> knip::source::link::StopHandle {
    let stop = knip::source::link::StopHandle::default();
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register_conditional_shutdown(sig, 130, stop.flag());
        let _ = signal_hook::flag::register(sig, stop.flag());
    }
    stop
}

/// The scoring thresholds of `--scoring FILE`, or the defaults.
pub fn scoring_config(
    path: Option<&std::path::Path>,
) -> Result<knip::score::ScoringConfig, knip::score::ScoringError> {
    match path {
        Some(p) => knip::score::ScoringConfig::from_toml_file(p),
        None => Ok(knip::score::ScoringConfig::default()),
    }
}

/// The progress database: `--db PATH`, or progress.sqlite in the user's data folder.
pub fn db_path(
    db: Option<std::path::PathBuf>,
) -> Result<std::path::PathBuf, knip::progress::ProgressError> {
    match db {
        Some(p) => Ok(p),
        None => knip::progress::default_db_path(),
    }
}

/// The web screen when `--web`/`--web-lan` was given: started, its address (and pairing code)
/// printed. With `--web-lan` and the full-screen view, knip waits for Enter first, so that the
/// code can be scanned before the terminal view covers it.
pub fn start_web(
    args: &crate::cli::WebArgs,
    full_screen: bool,
) -> anyhow::Result<Option<std::sync::Arc<knip::web::WebServer>>> {
    let Some(opts) = args.options() else {
        return Ok(None);
    };
    let server = knip::web::WebServer::start(&opts).map_err(|e| match e {
        knip::web::WebError::Bind { .. } => {
            anyhow::Error::new(crate::cli::UsageError(e.to_string()))
        }
        other => anyhow::Error::new(other),
    })?;
    eprint!("{}", server.banner());
    if opts.lan && full_screen {
        eprintln!("Press Enter to start the session.");
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    }
    Ok(Some(std::sync::Arc::new(server)))
}
