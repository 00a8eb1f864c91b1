//! The `knip` command line: parse arguments, call the library, map errors to exit codes.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use knip::app::{self, AppError, DemoOptions};
use knip::config::AnalysisConfig;
use knip::export::{export, parse_start, read_markers, ExportOptions};
use knip::simulate::{protocol_names, SimConfig};
use knip::sink::edf::EdfFormat;
use knip::source::csv_file::{read_anomanor_markers, CsvOptions};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "knip",
    version,
    about = "Pelvic-floor muscle training with biofeedback: live contraction detection, hold and co-activation scoring, session reports",
    after_help = "Start with `knip demo`: a simulated patient trains while you watch, and a report is written to ./knip-demo/."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A simulated patient does a guided session through the live pipeline; live status on the
    /// terminal and a report written to disk.
    Demo {
        /// Protocol the simulated patient follows (see `knip protocols`).
        #[arg(long, default_value = "strength")]
        protocol: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Playback speed: 1 = real time, 10 = ten times faster.
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// As fast as the CPU allows (overrides --speed).
        #[arg(long)]
        fast: bool,
        /// Folder for the report and the recording.
        #[arg(long, default_value = "knip-demo")]
        out: PathBuf,
        /// One line per event, no level bar (automatic when output is not a terminal).
        #[arg(long)]
        plain: bool,
        #[command(flatten)]
        settings: Settings,
    },
    /// A guided training or assessment session (see `knip protocols`) with a simulated patient:
    /// calibration, cues, live view, per-rep verdicts; reports into --out.
    Session {
        /// Built-in protocol name or a protocol .toml file.
        #[arg(long, default_value = "strength")]
        protocol: String,
        #[command(flatten)]
        guided: GuidedArgs,
        #[command(flatten)]
        settings: Settings,
    },
    /// Write a simulated session: FILE.csv, its sidecar FILE.json and ground truth FILE.truth.csv.
    Simulate {
        #[arg(long, default_value = "strength")]
        protocol: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
        /// Channels to produce, comma-separated (pfm_emg, abd_emg, pressure).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "pfm_emg,abd_emg,pressure"
        )]
        channels: Vec<String>,
        /// EMG sampling rate, Hz.
        #[arg(long, default_value_t = 2000.0)]
        emg_rate: f64,
        /// Pressure sampling rate, Hz.
        #[arg(long, default_value_t = 100.0)]
        pressure_rate: f64,
        /// Probe or electrodes, recorded in the sidecar.
        #[arg(long)]
        probe: Option<String>,
        /// Posture (lying, sitting, standing, walking), recorded in the sidecar.
        #[arg(long)]
        posture: Option<String>,
        /// Pseudonymous patient id, recorded in the sidecar (never a name).
        #[arg(long)]
        patient: Option<String>,
        /// Also write the session as EDF+ (.edf) or BDF+ (.bdf) with annotations.
        #[arg(long)]
        edf: Option<PathBuf>,
    },
    /// Analyse a recording (knip's own, or any CSV) and write contractions.csv, events.csv,
    /// summary.csv, session.json and report.png into --out.
    Analyze {
        /// The recording: a knip CSV (with its .json sidecar), any CSV, or EDF/BDF.
        file: PathBuf,
        /// Folder for the report (created if needed).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        columns: Columns,
        /// Draw clinician markers from an anorectal-manometry text file (its `Annotations:` part).
        #[arg(long)]
        markers: Option<PathBuf>,
        /// Store the session's scores in the progress database under this pseudonymous id
        /// (default: the sidecar's patient_id, if any).
        #[arg(long)]
        patient: Option<String>,
        /// Progress database (default: progress.sqlite in the user's data folder).
        #[arg(long)]
        db: Option<PathBuf>,
        #[command(flatten)]
        settings: Settings,
    },
    /// Score the detector against simulated sessions with known truth (F1, onset and hold errors).
    Evaluate {
        #[arg(long, default_value_t = 20)]
        sessions: usize,
        #[arg(long, default_value_t = 1)]
        first_seed: u64,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Also write every session's scores as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
        #[command(flatten)]
        settings: Settings,
    },
    /// List the built-in protocols.
    Protocols,
    /// List serial ports with their USB ids and names, and the wire format each probably speaks.
    Devices {
        /// Also listen to this port for a moment and tell its format from what arrives.
        #[arg(long)]
        probe: Option<String>,
        /// How long to listen with --probe, seconds.
        #[arg(long, default_value_t = 2.0)]
        listen_s: f64,
        #[arg(long, default_value_t = knip::source::serial::DEFAULT_BAUD)]
        baud: u32,
    },
    /// Record a sensor on a serial port through the live pipeline: live status, a crash-safe
    /// recording (CSV + sidecar + raw bytes) and the report in --out. Ctrl-C stops cleanly.
    Record {
        /// The serial port, e.g. /dev/ttyACM0, /dev/ttyUSB0, COM3 (see `knip devices`).
        #[arg(long)]
        port: String,
        /// Wire format: `line` (text lines) or `cyton` (OpenBCI Cyton packets).
        #[arg(long, value_parser = ["line", "cyton"])]
        format: String,
        #[arg(long, default_value_t = knip::source::serial::DEFAULT_BAUD)]
        baud: u32,
        /// Sampling rate of a text-line device, Hz (when it does not send `# rate_hz=`).
        #[arg(long)]
        rate: Option<f64>,
        /// Channel roles in column order, or role:column (1-based): `pfm_emg,abd_emg`,
        /// `pfm_emg:1,abd_emg:2` (for a Cyton: board channels).
        #[arg(long)]
        channels: Option<String>,
        /// Width of a text device's sample counter in the first column, bits (8, 16, 32).
        #[arg(long)]
        seq_bits: Option<u32>,
        /// Valid range of a text device's values, `MIN,MAX`; values outside are lost samples.
        #[arg(long, allow_hyphen_values = true)]
        range: Option<String>,
        /// Cyton channel gain (firmware default 24).
        #[arg(long, default_value_t = knip::source::cyton::DEFAULT_GAIN)]
        gain: f64,
        /// Stop after this many seconds of device time.
        #[arg(long)]
        duration: Option<f64>,
        /// Give up waiting for an unplugged device after this many seconds (default: wait
        /// until Ctrl-C).
        #[arg(long)]
        reconnect_timeout: Option<f64>,
        /// Folder for the recording and the report.
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        plain: bool,
        #[command(flatten)]
        settings: Settings,
    },
    /// Play a recording (decoded CSV, or the raw bytes `recording.raw`) through the live
    /// pipeline and views; a raw replay reproduces the session's events exactly.
    Replay {
        file: PathBuf,
        /// Playback speed: 1 = real time.
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// As fast as the CPU allows (overrides --speed).
        #[arg(long)]
        fast: bool,
        /// Report folder (default: FILE's folder / replay-<name>).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long)]
        plain: bool,
        #[command(flatten)]
        settings: Settings,
    },
    /// Analyse every recording (.csv, .edf, .bdf) under DIR on all cores: a report folder each
    /// and one batch.csv; files that cannot be analysed are listed with the reason and skipped.
    Batch {
        dir: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Recordings analysed at once (default: all cores).
        #[arg(long)]
        jobs: Option<usize>,
        #[command(flatten)]
        columns: Columns,
        #[command(flatten)]
        settings: Settings,
    },
    /// A patient's progress over weeks from the progress database: progress.csv and
    /// progress.png (squeezes/day vs the goal of 30, sessions and streaks, hold time, %MVC,
    /// co-activation, rest level, six-month horizon). Without --patient, lists the patients.
    Progress {
        /// Pseudonymous patient id.
        #[arg(long)]
        patient: Option<String>,
        #[arg(long, default_value = "knip-progress")]
        out: PathBuf,
        /// Database file (default: progress.sqlite in the user's data folder).
        #[arg(long)]
        db: Option<PathBuf>,
    },
    /// Fill a progress database with simulated days of training (each session simulated and
    /// analysed by the real pipeline), to try `knip progress`.
    ProgressFill {
        #[arg(long)]
        patient: String,
        #[arg(long, default_value_t = 90)]
        days: u32,
        /// Seed of the simulated course (adherence, sessions, which simulated patients).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// First day, YYYY-MM-DD (default: DAYS days before today).
        #[arg(long)]
        first_day: Option<String>,
        /// The patient's UTC offset in minutes (which calendar day a session counts for).
        #[arg(long, default_value_t = 60, allow_negative_numbers = true)]
        utc_offset_min: i32,
        /// EMG rate of the simulated sessions, Hz.
        #[arg(long, default_value_t = 1000.0)]
        emg_rate: f64,
        /// Sessions simulated at once (default: all cores).
        #[arg(long)]
        jobs: Option<usize>,
        #[arg(long)]
        db: Option<PathBuf>,
    },
    /// Export a recording (knip CSV, any CSV, EDF/BDF) to EDF+ or BDF+ with annotations: cues,
    /// phases, contractions, coughs, strains, lost-sample gaps and markers.
    Export {
        file: PathBuf,
        /// edf (16-bit) or bdf (24-bit); default from the --out extension.
        #[arg(long)]
        format: Option<String>,
        #[arg(long)]
        out: PathBuf,
        /// Wall-clock start of the recording, RFC 3339 (default: the sidecar's started_at).
        #[arg(long)]
        start: Option<String>,
        /// User markers: a CSV of time_s,text (or an anomanor export).
        #[arg(long)]
        markers: Option<PathBuf>,
        /// Pseudonymous patient code for the EDF+ patient field (never a name).
        #[arg(long)]
        patient: Option<String>,
        #[command(flatten)]
        columns: Columns,
        #[command(flatten)]
        settings: Settings,
    },
}

/// How to read a CSV without a sidecar (or pick EDF signals).
#[derive(Args, Clone, Default)]
struct Columns {
    /// Sampling rate when the file has no time_s column, Hz.
    #[arg(long)]
    rate: Option<f64>,
    /// Column (or EDF signal) holding pelvic-floor EMG (name or 1-based number).
    #[arg(long)]
    pfm: Option<String>,
    /// Column (or EDF signal) holding abdominal EMG.
    #[arg(long)]
    abd: Option<String>,
    /// Column (or EDF signal) holding probe pressure.
    #[arg(long)]
    pressure: Option<String>,
    /// EMG columns are already RMS envelopes: no band-pass, no RMS.
    #[arg(long)]
    envelope: bool,
    /// Threads parsing a large CSV file ahead of the analysis [default: the number of cores;
    /// 1: no extra threads]. The results are the same whatever the number.
    #[arg(long, value_name = "N")]
    read_threads: Option<usize>,
}

impl Columns {
    fn options(&self) -> CsvOptions {
        CsvOptions {
            rate_hz: self.rate,
            pfm: self.pfm.clone(),
            abd: self.abd.clone(),
            pressure: self.pressure.clone(),
            envelope: self.envelope,
            block_rows: 0,
            read_threads: self
                .read_threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            read_chunk_bytes: 0,
        }
    }
}

/// Options of guided sessions.
#[derive(Args, Clone)]
struct GuidedArgs {
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Playback speed: 1 = real time, 10 = ten times faster.
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// As fast as the CPU allows (overrides --speed).
    #[arg(long)]
    fast: bool,
    #[arg(long, default_value = "knip-session")]
    out: PathBuf,
    /// One line per event instead of the full-screen view (automatic without a terminal).
    #[arg(long)]
    plain: bool,
    /// A saved calibration.json: skip the rest baseline and the maximal squeezes.
    #[arg(long)]
    calibration: Option<PathBuf>,
    /// Valid holds already done today, for "7 of 30 today".
    #[arg(long, default_value_t = 0)]
    done_today: u32,
    /// Scoring thresholds (TOML, any subset of the fields in session.json's `scoring`); the
    /// defaults are engineering choices, not validated.
    #[arg(long)]
    scoring: Option<PathBuf>,
}

fn run_guided_cmd(protocol: &str, g: GuidedArgs, settings: Settings) -> anyhow::Result<()> {
    use knip::session::{calibrate::Calibration, drive, protocol::Protocol, score::ScoringConfig};
    let cfg = settings.config()?;
    anyhow::ensure!(g.speed > 0.0, "--speed must be positive");
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

/// Analysis settings that can be changed from the command line; everything else is in
/// `session.json` with its default.
#[derive(Args, Clone)]
struct Settings {
    /// Mains notch at 50 or 60 Hz (and harmonics); off by default, as SENIAM advises.
    #[arg(long)]
    notch: Option<f64>,
    /// Length of the calibration rest, seconds.
    #[arg(long)]
    calibration_s: Option<f64>,
    /// Where the calibration rest starts, seconds after the recording starts (a marked rest).
    #[arg(long)]
    calibration_start_s: Option<f64>,
    /// Onset threshold: rest mean + K × rest SD.
    #[arg(long)]
    onset_k: Option<f64>,
    /// Shortest contraction, seconds (shorter bursts are coughs or artifacts).
    #[arg(long)]
    min_contraction_s: Option<f64>,
    /// Moving-RMS window, ms.
    #[arg(long)]
    envelope_ms: Option<f64>,
}

impl Settings {
    fn config(&self) -> anyhow::Result<AnalysisConfig> {
        let mut c = AnalysisConfig::default();
        if let Some(n) = self.notch {
            anyhow::ensure!(
                n == 50.0 || n == 60.0,
                "--notch takes 50 or 60 (the mains frequency), not {n}"
            );
            c.conditioning.notch_hz = Some(n);
        }
        if let Some(v) = self.calibration_s {
            anyhow::ensure!(v > 0.0, "--calibration-s must be positive");
            c.detector.calibration_s = v;
        }
        if let Some(v) = self.calibration_start_s {
            anyhow::ensure!(v >= 0.0, "--calibration-start-s must not be negative");
            c.detector.calibration_skip_s = v;
        }
        if let Some(v) = self.onset_k {
            anyhow::ensure!(v > 0.0, "--onset-k must be positive");
            c.detector.onset_k = v;
        }
        if let Some(v) = self.min_contraction_s {
            anyhow::ensure!(v >= 0.0, "--min-contraction-s must not be negative");
            c.detector.min_contraction_s = v;
        }
        if let Some(v) = self.envelope_ms {
            anyhow::ensure!(v > 0.0, "--envelope-ms must be positive");
            c.conditioning.envelope_window_ms = v;
        }
        Ok(c)
    }
}

/// The error and its causes, each cause shown once: typed errors already name their cause in
/// their own message, so a cause whose text is already there is not repeated.
fn describe(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
    }
    text
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", describe(&e));
            let input_error = e.downcast_ref::<AppError>().is_some_and(|a| {
                matches!(
                    a,
                    AppError::Input(_)
                        | AppError::Pipeline(knip::pipeline::PipelineError::Input(_))
                )
            }) || e
                .downcast_ref::<knip::record_cmd::RecordError>()
                .is_some_and(|r| r.is_input_error());
            ExitCode::from(if input_error { 2 } else { 1 })
        }
    }
}

fn parse_roles(names: &[String]) -> anyhow::Result<Vec<knip::frame::Role>> {
    names
        .iter()
        .map(|n| {
            knip::frame::Role::from_column_name(n.trim()).with_context(|| {
                format!("unknown channel '{n}': use pfm_emg, abd_emg and/or pressure")
            })
        })
        .collect()
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Session {
            protocol,
            guided,
            settings,
        } => run_guided_cmd(&protocol, guided, settings)?,
        Command::Demo {
            protocol,
            seed,
            speed,
            fast,
            out,
            plain,
            settings,
        } if knip::session::protocol::Protocol::load(&protocol).is_ok() => run_guided_cmd(
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
        )?,
        Command::Demo {
            protocol,
            seed,
            speed,
            fast,
            out,
            plain,
            settings,
        } => {
            let cfg = settings.config()?;
            anyhow::ensure!(speed > 0.0, "--speed must be positive");
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
            let outcome = app::demo(&opts, &cfg, Box::new(stdout))?;
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
        }
        Command::Simulate {
            protocol,
            seed,
            out,
            channels,
            emg_rate,
            pressure_rate,
            probe,
            posture,
            patient,
            edf,
        } => {
            let sim = SimConfig {
                protocol,
                seed,
                emg_rate_hz: emg_rate,
                pressure_rate_hz: pressure_rate,
                roles: parse_roles(&channels)?,
                ..SimConfig::default()
            };
            let o = app::simulate(&sim, &out, &AnalysisConfig::default())?;
            println!(
                "wrote {} ({} samples, {:.1} s), {} and {} ({} true events)",
                o.recording.display(),
                o.samples,
                o.duration_s,
                o.sidecar.display(),
                o.truth.display(),
                o.truth_events.len()
            );
            if probe.is_some() || posture.is_some() || patient.is_some() {
                knip::export::update_sidecar(&o.recording, |s| {
                    s.probe = probe;
                    s.posture = posture;
                    s.patient_id = patient;
                })?;
            }
            if let Some(edf) = edf {
                let format = EdfFormat::from_path(&edf)
                    .with_context(|| format!("--edf {}: name it .edf or .bdf", edf.display()))?;
                let e = export(
                    &o.recording,
                    &CsvOptions::default(),
                    &AnalysisConfig::default(),
                    &edf,
                    &ExportOptions {
                        format,
                        start: None,
                        markers: Vec::new(),
                        patient_code: None,
                    },
                )?;
                println!(
                    "wrote {} ({}, {} annotations)",
                    e.edf.path.display(),
                    e.edf.format.name(),
                    e.edf.annotations
                );
            }
        }
        Command::Analyze {
            file,
            out,
            columns,
            markers,
            patient,
            db,
            settings,
        } => {
            let cfg = settings.config()?;
            let opts = columns.options();
            let markers = match markers {
                Some(p) => read_anomanor_markers(&p)?,
                None => Vec::new(),
            };
            let o = app::analyze(&file, &opts, &cfg, &out, markers)?;
            for w in &o.warnings {
                eprintln!("warning: {w}");
            }
            let counted = o
                .events
                .iter()
                .filter(|e| e.kind == knip::event::EventKind::Contraction)
                .count();
            println!(
                "{}: {:.1} s analysed in {:.2} s; {counted} contractions; report in {}/",
                file.display(),
                o.end.end_time_s,
                o.end.elapsed.as_secs_f64(),
                o.out_dir.display()
            );
            let sidecar = knip::export::read_sidecar_beside(&file);
            if let Some(pid) =
                patient.or_else(|| sidecar.as_ref().and_then(|s| s.patient_id.clone()))
            {
                let path = match db {
                    Some(p) => p,
                    None => knip::progress::default_db_path()?,
                };
                let rec = knip::progress::SessionRecord::from_analysis(
                    &pid,
                    &file,
                    &o.scores,
                    sidecar.as_ref(),
                )?;
                let conn = knip::progress::open(&path)?;
                knip::progress::store(&conn, &rec)?;
                println!(
                    "stored in {} for patient {pid}: {} valid squeezes, {} contractions",
                    path.display(),
                    rec.valid_squeezes,
                    rec.contractions
                );
            }
        }
        Command::Evaluate {
            sessions,
            first_seed,
            threads,
            json,
            settings,
        } => {
            let cfg = settings.config()?;
            let threads = threads.unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
            });
            let results = app::evaluate(sessions, first_seed, &cfg, threads)?;
            print!("{}", knip::evaluate::format_table(&results));
            if let Some(p) = json {
                let text = serde_json::to_string_pretty(&results)?;
                std::fs::write(&p, text)
                    .with_context(|| format!("cannot write {}", p.display()))?;
            }
        }
        Command::Export {
            file,
            format,
            out,
            start,
            markers,
            patient,
            columns,
            settings,
        } => {
            let cfg = settings.config()?;
            let format = match format {
                Some(f) => {
                    EdfFormat::parse(&f).with_context(|| format!("--format {f}: use edf or bdf"))?
                }
                None => EdfFormat::from_path(&out).with_context(|| {
                    format!(
                        "{}: give --format edf|bdf or an .edf/.bdf file name",
                        out.display()
                    )
                })?,
            };
            let start = match start {
                Some(s) => Some(parse_start(&s).with_context(|| {
                    format!("--start {s}: use RFC 3339, e.g. 2026-11-27T09:30:00Z")
                })?),
                None => None,
            };
            let markers = match markers {
                Some(p) => read_markers(&p)?,
                None => Vec::new(),
            };
            let o = export(
                &file,
                &columns.options(),
                &cfg,
                &out,
                &ExportOptions {
                    format,
                    start,
                    markers,
                    patient_code: patient,
                },
            )?;
            for w in &o.warnings {
                eprintln!("warning: {w}");
            }
            println!(
                "wrote {} ({}, {} records of {} s, {} annotations, {} lost samples filled)",
                o.edf.path.display(),
                o.edf.format.name(),
                o.edf.records,
                o.edf.record_duration_s,
                o.edf.annotations,
                o.edf.lost_samples
            );
        }
        Command::Batch {
            dir,
            out,
            jobs,
            columns,
            settings,
        } => {
            let cfg = settings.config()?;
            let jobs = jobs.unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
            });
            anyhow::ensure!(jobs >= 1, "--jobs must be at least 1");
            let o = knip::batch::run(
                &dir,
                &out,
                &knip::batch::BatchOptions {
                    jobs,
                    csv: columns.options(),
                    cfg,
                    progress_bar: std::io::stderr().is_terminal(),
                },
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
        }
        Command::Progress { patient, out, db } => {
            let path = match db {
                Some(p) => p,
                None => knip::progress::default_db_path()?,
            };
            anyhow::ensure!(
                path.exists(),
                "{}: no progress database yet; analyse a session with --patient ID, or fill one \
                 with `knip progress-fill --patient ID`",
                path.display()
            );
            let conn = knip::progress::open(&path)?;
            match patient {
                None => {
                    let list = knip::progress::patients(&conn)?;
                    println!("{}: {} patient(s)", path.display(), list.len());
                    for (id, n) in list {
                        println!("  {id}  {n} sessions");
                    }
                }
                Some(id) => {
                    let r = knip::progress::write_report(&conn, &id, &out)?;
                    let trained = r.days.iter().filter(|d| d.sessions > 0).count();
                    println!(
                        "patient {id}: {} sessions on {trained} of {} days; wrote {}",
                        r.sessions,
                        r.days.len(),
                        r.files
                            .iter()
                            .map(|f| f.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
            }
        }
        Command::ProgressFill {
            patient,
            days,
            seed,
            first_day,
            utc_offset_min,
            emg_rate,
            jobs,
            db,
        } => {
            anyhow::ensure!(days >= 1, "--days must be at least 1");
            let first_day = match first_day {
                Some(s) => chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                    .with_context(|| format!("--first-day {s}: use YYYY-MM-DD"))?,
                None => chrono::Utc::now().date_naive() - chrono::Duration::days(days as i64),
            };
            let path = match db {
                Some(p) => p,
                None => knip::progress::default_db_path()?,
            };
            let jobs = jobs.unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
            });
            let mut conn = knip::progress::open(&path)?;
            let o = knip::progress::fill::fill(
                &mut conn,
                &knip::progress::fill::FillOptions {
                    patient_id: patient.clone(),
                    days,
                    seed,
                    first_day,
                    utc_offset_min,
                    emg_rate_hz: emg_rate,
                    jobs,
                },
            )?;
            println!(
                "{}: {} simulated sessions on {} of {days} days for patient {patient} ({:.1} s)",
                path.display(),
                o.sessions,
                o.days_trained,
                o.wall_s
            );
        }
        Command::Protocols => {
            println!(
                "Guided sessions (knip session / knip demo --protocol NAME, or a .toml file):"
            );
            for p in knip::session::protocol::builtin_protocols() {
                println!("  {:10} {}", p.name, p.description);
            }
            println!("Simulator-only protocols (knip simulate, knip evaluate, knip demo):");
            for (name, description) in protocol_names() {
                println!("  {name:10} {description}");
            }
        }
        Command::Devices {
            probe,
            listen_s,
            baud,
        } => match probe {
            Some(path) => {
                let r = knip::device::probe_port(
                    &path,
                    baud,
                    std::time::Duration::from_secs_f64(listen_s.max(0.1)),
                )
                .map_err(anyhow::Error::msg)?;
                println!(
                    "{}: {} ({} bytes in {listen_s} s)",
                    r.path,
                    r.format.unwrap_or("unknown format"),
                    r.bytes
                );
                println!("  {}", r.detail);
            }
            None => {
                let ports = knip::device::list_ports()
                    .context("cannot list the serial ports of this machine")?;
                print!("{}", knip::device::format_ports(&ports));
            }
        },
        Command::Record {
            port,
            format,
            baud,
            rate,
            channels,
            seq_bits,
            range,
            gain,
            duration,
            reconnect_timeout,
            out,
            plain,
            settings,
        } => {
            use knip::source::link::{parse_channel_requests, LinkConfig, StopHandle, WireFormat};
            let cfg = settings.config()?;
            if let Some(b) = seq_bits {
                anyhow::ensure!(
                    matches!(b, 8 | 16 | 32),
                    "--seq-bits takes 8, 16 or 32, not {b}"
                );
            }
            if let Some(r) = rate {
                anyhow::ensure!(r > 0.0 && r.is_finite(), "--rate must be positive");
            }
            let value_range = match range {
                Some(text) => {
                    let (lo, hi) = text
                        .split_once(',')
                        .and_then(|(a, b)| {
                            Some((a.trim().parse::<f64>().ok()?, b.trim().parse::<f64>().ok()?))
                        })
                        .filter(|(a, b)| a < b)
                        .with_context(|| {
                            format!("--range takes MIN,MAX with MIN < MAX, not `{text}`")
                        })?;
                    Some((lo, hi))
                }
                None => None,
            };
            let wire = if format == "cyton" {
                anyhow::ensure!(gain > 0.0, "--gain must be positive");
                WireFormat::Cyton(knip::source::cyton::CytonConfig { gain })
            } else {
                WireFormat::Line(knip::source::line::LineConfig {
                    rate_hz: rate,
                    seq_bits,
                    value_range,
                })
            };
            let mut link = LinkConfig::new(wire);
            if let Some(c) = channels {
                link.channels = parse_channel_requests(&c).map_err(anyhow::Error::msg)?;
            }
            link.duration_s = duration;
            link.reconnect_timeout_s = reconnect_timeout;
            let stop = StopHandle::default();
            for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
                // A second Ctrl-C ends at once (the recording is safe on disk anyway).
                let _ = signal_hook::flag::register_conditional_shutdown(sig, 130, stop.flag());
                let _ = signal_hook::flag::register(sig, stop.flag());
            }
            let stdout = std::io::stdout();
            let bar = !plain && stdout.is_terminal();
            let opts = knip::record_cmd::RecordOptions {
                serial: knip::source::serial::SerialOptions { port, baud, link },
                out_dir: out,
                bar,
            };
            let o = knip::record_cmd::record(
                &opts,
                &cfg,
                Box::new(stdout),
                Box::new(std::io::stderr()),
                Some(stop),
            )?;
            println!();
            for w in &o.warnings {
                eprintln!("warning: {w}");
            }
            let s = &o.link.stats;
            println!(
                "{} samples recorded ({:.1} s device time); {} lost ({} while unplugged, {} gap(s)); {} unplug(s)",
                s.samples,
                o.end.end_time_s,
                s.lost_samples,
                s.lost_while_unplugged,
                o.link.gaps.len(),
                s.disconnects
            );
            if o.link.format == "cyton" {
                println!(
                    "Cyton loss is counted from its 1-byte counter, modulo 256: a gap of 256                      packets (1.02 s) or more looks shorter than it was."
                );
            }
            println!(
                "Recording: {} (+ .json, {}, {})",
                o.recording.display(),
                o.raw.display(),
                o.gaps.display()
            );
            println!("Report written to {}/", o.out_dir.display());
        }
        Command::Replay {
            file,
            speed,
            fast,
            out,
            plain,
            settings,
        } => {
            let cfg = settings.config()?;
            anyhow::ensure!(speed > 0.0, "--speed must be positive");
            let out = out.unwrap_or_else(|| {
                let stem = file
                    .file_stem()
                    .map(|s| s.to_string_lossy().to_string())
                    .unwrap_or_else(|| "recording".into());
                file.with_file_name(format!("replay-{stem}"))
            });
            let stdout = std::io::stdout();
            let bar = !plain && stdout.is_terminal();
            let opts = knip::record_cmd::ReplayOptions {
                input: file.clone(),
                speed: (!fast).then_some(speed),
                out_dir: out,
                bar,
            };
            let o = knip::record_cmd::replay(&opts, &cfg, Box::new(stdout))?;
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
        }
    }
    Ok(())
}
