//! `knip session` and `knip demo`: a guided session from any source — a sensor on a serial
//! port, a recording replayed, or the simulated patient — through the one runner, its views and
//! reports. `demo` is `session --simulate`; on a simulator-only protocol (`mixed`, `long`) it
//! runs the simulated patient through the live detector instead.

use crate::cli::{DemoArgs, SessionArgs, SourceArgs, UsageError};
use knip::demo::DemoOptions;
use knip::session::calibrate::Calibration;
use knip::session::drive::{self, GuidedOptions, SessionInput};
use knip::session::protocol::Protocol;
use knip::session::score::ScoringConfig;
use knip::simulate::SimConfig;
use std::io::IsTerminal;
use std::path::Path;

/// The input error of an option's file (a protocol, scoring or calibration file).
fn input_error(path: &Path, e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(drive::SessionError::Input(
        knip::error::InputError::Format {
            path: path.to_path_buf(),
            message: e.to_string(),
        },
    ))
}

/// `knip session`: choose the source, the protocol, scoring and calibration (given, or the
/// recording's own when replaying a guided session), run it, and say where the report is.
pub fn session(a: SessionArgs) -> anyhow::Result<()> {
    let cfg = a.settings.config()?;
    let out = knip::out_folder::given_or_free(a.out.as_deref(), "knip-session");
    let s = &a.source;
    super::require_lsl(s.lsl)?;
    let speed = (!s.fast).then_some(s.speed);
    let recorded = s
        .replay
        .as_deref()
        .and_then(knip::export::read_sidecar_beside);
    let recorded_session = recorded.as_ref().and_then(|r| r.session.clone());
    let input = match (&s.serial.port, &s.replay, s.simulate) {
        (Some(port), None, false) => SessionInput::Serial(s.serial.options(port, None)?),
        (None, Some(path), false) => SessionInput::Replay {
            path: path.clone(),
            speed,
        },
        (None, None, true) => SessionInput::Simulate {
            seed: s.seed,
            speed,
        },
        _ => {
            return Err(UsageError(
                "choose where the samples come from: --port PORT --format line|cyton (a \
                 sensor), --replay FILE (a recording) or --simulate (the simulated patient)"
                    .into(),
            )
            .into())
        }
    };
    let protocol = match (&a.protocol, &recorded_session) {
        (Some(p), _) => Protocol::load(p).map_err(|e| input_error(Path::new(p), e))?,
        (None, Some(info)) => info.protocol.clone(),
        (None, None) => match s.replay.as_deref().and_then(recorded_protocol) {
            Some(p) => p,
            None => Protocol::load("strength").map_err(anyhow::Error::msg)?,
        },
    };
    let scoring = match (&a.scoring, &recorded_session) {
        (Some(p), _) => ScoringConfig::from_toml_file(p).map_err(|e| input_error(p, e))?,
        (None, Some(info)) => info.scoring.clone(),
        (None, None) => ScoringConfig::default(),
    };
    let calibration = match (&a.calibration, &recorded_session) {
        (Some(p), _) => Some(Calibration::load(p).map_err(|e| input_error(p, e))?),
        (None, Some(info)) => info.calibration.clone(),
        (None, None) => None,
    };
    // A replay is stored only when asked (--patient): it is a second look, not a new session.
    let patient = a.patient.clone();
    let tui = !a.plain && std::io::stdout().is_terminal();
    // The patient's history: "n of 30 today" and a calibration kept for this device.
    let db = match &patient {
        Some(_) => Some(open_db(a.db.as_deref())?),
        None => None,
    };
    let local = chrono::Local::now().fixed_offset();
    let done_today = match (&db, &patient) {
        (Some((conn, _)), Some(p)) => {
            knip::progress::valid_holds_on(conn, p, local.date_naive(), *local.offset())?
        }
        _ => 0,
    };
    let offer_stored = a.calibration.is_none() && !a.recalibrate && recorded_session.is_none();
    let stored = |device: &str| -> Option<Calibration> {
        let ((conn, _), p) = (db.as_ref()?, patient.as_ref()?);
        if !offer_stored {
            return None;
        }
        let (cal, when) = knip::progress::latest_calibration(conn, p, device).ok()??;
        eprintln!(
            "Using the calibration kept for patient {p} on {device} from {} (give \
             --recalibrate to measure rest and maximal squeezes again).",
            when.format("%Y-%m-%d %H:%M")
        );
        Some(cal)
    };
    let web = super::start_web(&a.web, tui)?;
    let stop = super::stop_on_signals();
    let o = GuidedOptions {
        protocol,
        input,
        out_dir: out.clone(),
        tui,
        calibration,
        done_today,
        scoring,
        patient_id: patient.clone(),
        scripted_pauses: recorded_session.map(|i| i.pauses).unwrap_or_default(),
        stop: Some(stop.clone()),
        lsl: a.source.lsl,
        web: web.clone(),
    };
    let folder = knip::out_folder::prepare(&out, a.force)?;
    let outcome = folder.tidy_on_error(drive::run_guided(
        &o,
        &cfg,
        Box::new(std::io::stdout()),
        Box::new(std::io::stderr()),
        &stored,
    ))?;
    for w in &outcome.warnings {
        eprintln!("warning: {w}");
    }
    println!("Report written to {}/", out.display());
    for f in &outcome.files {
        println!("  {}", f.display());
    }
    if let (Some((conn, path)), Some(p)) = (&db, &patient) {
        store_session(conn, path, p, &outcome, a.calibration.is_none())?;
    }
    if let Some(w) = &web {
        let term = std::io::stdin().is_terminal();
        knip::web::linger(
            w,
            &out,
            &outcome.files,
            a.web.web_keep,
            Some(stop.flag()),
            term,
        );
    }
    Ok(())
}

/// The progress database at `path` (default: the user's data folder), with its path.
fn open_db(path: Option<&Path>) -> anyhow::Result<(rusqlite::Connection, std::path::PathBuf)> {
    let path = super::db_path(path.map(Path::to_path_buf))?;
    Ok((knip::progress::open(&path)?, path))
}

/// Store the session once in the patient's history (keyed by the recording's content and
/// start: a replay or a copy is not counted again), keep a calibration it measured for the
/// device, and say "n of 30 today" from the database.
fn store_session(
    conn: &rusqlite::Connection,
    db_path: &Path,
    patient: &str,
    outcome: &drive::GuidedOutcome,
    measured_here: bool,
) -> anyhow::Result<()> {
    // A raw log's session is keyed by its decoded recording beside it, as the live run was.
    let csv = outcome.recording.with_extension("csv");
    let recording = if csv.exists() {
        csv
    } else {
        outcome.recording.clone()
    };
    let sidecar = knip::export::read_sidecar_beside(&recording);
    let started = sidecar.as_ref().and_then(|s| s.started_at.clone());
    let key = knip::progress::recording_key(&recording, started.as_deref())?;
    let started_at = started
        .as_deref()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .unwrap_or_else(|| chrono::Local::now().fixed_offset());
    let rec = knip::progress::SessionRecord::from_session(
        patient,
        &outcome.result,
        &key,
        started_at,
        &outcome.device,
    );
    knip::progress::store(conn, &rec)?;
    let r = &outcome.result;
    if measured_here && r.calibration_source == "this session" {
        if let Some(cal) = &r.calibration {
            knip::progress::save_calibration(conn, patient, &outcome.device, cal)?;
        }
    }
    let local = started_at.with_timezone(started_at.offset());
    let today =
        knip::progress::valid_holds_on(conn, patient, local.date_naive(), *started_at.offset())?;
    println!(
        "Stored in {} for patient {patient}: {today} of {} today",
        db_path.display(),
        r.protocol.daily_goal_reps
    );
    Ok(())
}

/// `knip demo`: the simulated patient in a guided session (or the detector demo).
pub fn demo(a: DemoArgs) -> anyhow::Result<()> {
    let DemoArgs {
        protocol,
        seed,
        speed,
        fast,
        out,
        force,
        plain,
        web,
        settings,
    } = a;
    let out = knip::out_folder::given_or_free(out.as_deref(), "knip-demo");
    if knip::session::protocol::Protocol::load(&protocol).is_ok() {
        let source = SourceArgs {
            simulate: true,
            seed,
            speed,
            fast,
            ..Default::default()
        };
        let mut args = SessionArgs::plain_run(Some(protocol), source, out, force, plain, settings);
        args.web = web;
        return session(args);
    }
    if web.options().is_some() {
        return Err(UsageError(format!(
            "--web shows a guided session; `{protocol}` is a detector demo without cues \
             (choose a protocol from `knip protocols`, e.g. --protocol strength)"
        ))
        .into());
    }
    let cfg = settings.config()?;
    let folder = knip::out_folder::prepare(&out, force)?;
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
    let outcome = folder.tidy_on_error(knip::demo::demo(&opts, &cfg, Box::new(stdout)))?;
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

/// The built-in protocol a recording without knip's sidecar was made under, as an EDF that
/// knip exported names it (its first annotation), announced; `None` when it names none, or
/// one that is not built in (a custom protocol: `--protocol FILE` chooses it).
fn recorded_protocol(path: &Path) -> Option<Protocol> {
    if !knip::export::is_edf(path) {
        return None;
    }
    let opened = knip::export::open_recording(path, &Default::default()).ok()?;
    let name = knip::export::session_protocol_name(&opened)?;
    match Protocol::load(&name) {
        Ok(p) => {
            eprintln!(
                "protocol {name}: the one this recording was made under (its EDF annotation); \
                 --protocol chooses another"
            );
            Some(p)
        }
        Err(_) => {
            eprintln!(
                "warning: this recording was made under protocol {name}, which is not built \
                 in: the default is used; --protocol FILE chooses it"
            );
            None
        }
    }
}
