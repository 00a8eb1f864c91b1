//! The command line's types: every command, its options and their help texts, and the checks
//! of option values that need no file. `main.rs` parses these and hands each command to its
//! module in `cmd/`.

use clap::{Args, Parser, Subcommand};
use knip::config::AnalysisConfig;
use knip::source::csv_file::CsvOptions;
use std::path::PathBuf;

/// Bad input on the command line: an option value out of range, an unknown name, a file the
/// option names that cannot be used. The message names the option; `knip` exits with 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// `Err(UsageError(message))` unless `ok`.
pub fn require(ok: bool, message: impl Into<String>) -> Result<(), UsageError> {
    if ok {
        Ok(())
    } else {
        Err(UsageError(message.into()))
    }
}

#[derive(Parser)]
#[command(
    name = "knip",
    version,
    about = "Pelvic-floor muscle training with biofeedback: live contraction detection, hold and co-activation scoring, session reports",
    after_help = "Start with `knip demo`: a simulated patient trains while you watch, and a report is written to ./knip-demo/."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// A simulated patient does a guided session through the live pipeline; live status on the
    /// terminal and a report written to disk.
    Demo(DemoArgs),
    /// A guided training or assessment session (see `knip protocols`) with a sensor
    /// (--port), a recording (--replay) or the simulated patient (--simulate): calibration,
    /// cues, live view, per-rep verdicts; recording and reports into --out, the session into
    /// the patient's progress history with --patient.
    Session(SessionArgs),
    /// Write a simulated session: FILE.csv, its sidecar FILE.json and ground truth FILE.truth.csv.
    Simulate(SimulateArgs),
    /// Analyse a recording (knip's own, or any CSV) and write contractions.csv, events.csv,
    /// summary.csv, session.json and report.png into --out.
    Analyze(AnalyzeArgs),
    /// Score the detector against simulated sessions with known truth (F1, onset and hold errors).
    Evaluate(EvaluateArgs),
    /// List the built-in protocols.
    Protocols,
    /// List serial ports with their USB ids and names, and the wire format each probably speaks.
    Devices(DevicesArgs),
    /// Record a sensor on a serial port through the live pipeline: live status, a crash-safe
    /// recording (CSV + sidecar + raw bytes) and the report in --out. Ctrl-C stops cleanly.
    Record(RecordArgs),
    /// Play a recording (decoded CSV, or the raw bytes `recording.raw`) through the live
    /// pipeline and views; a raw replay reproduces the session's events exactly.
    Replay(ReplayArgs),
    /// Analyse every recording (.csv, .edf, .bdf) under DIR on all cores: a report folder each
    /// and one batch.csv; files that cannot be analysed are listed with the reason and skipped.
    Batch(BatchArgs),
    /// A patient's progress over weeks from the progress database: progress.csv and
    /// progress.png (squeezes/day vs the goal of 30, sessions and streaks, hold time, %MVC,
    /// co-activation, rest level, six-month horizon). Without --patient, lists the patients.
    Progress(ProgressArgs),
    /// Fill a progress database with simulated days of training (each session simulated and
    /// analysed by the real pipeline), to try `knip progress`.
    ProgressFill(ProgressFillArgs),
    /// Export a recording (knip CSV, any CSV, EDF/BDF) to EDF+ or BDF+ with annotations: cues,
    /// phases, contractions, coughs, strains, lost-sample gaps and markers.
    Export(ExportArgs),
}

#[derive(Args)]
pub struct DemoArgs {
    /// Protocol the simulated patient follows (see `knip protocols`).
    #[arg(long, default_value = "strength")]
    pub protocol: String,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Playback speed: 1 = real time, 10 = ten times faster.
    #[arg(long, default_value_t = 1.0, value_parser = |s: &str| knip::limits::SPEED.parse(s))]
    pub speed: f64,
    /// As fast as the CPU allows (overrides --speed).
    #[arg(long)]
    pub fast: bool,
    /// Folder for the report and the recording [default: knip-demo, or knip-demo-2, -3, …
    /// when that one already holds an earlier demo].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace the report already in --out (knip's own report files only; a recording is
    /// never replaced).
    #[arg(long)]
    pub force: bool,
    /// One line per event, no level bar (automatic when output is not a terminal).
    #[arg(long)]
    pub plain: bool,
    #[command(flatten)]
    pub web: WebArgs,
    #[command(flatten)]
    pub settings: Settings,
}

/// The patient's screen in a browser (`session`, `demo`, `record`, `replay`).
#[derive(Args, Clone, Debug, Default)]
pub struct WebArgs {
    /// Serve the patient's screen (and the clinician's) to a browser on this computer
    /// (127.0.0.1 only); knip prints the address and opens nothing by itself.
    #[arg(long)]
    pub web: bool,
    /// Serve it to a tablet or phone on this network too: every page then needs the pairing
    /// code knip prints (address and QR code) for this session (implies --web).
    #[arg(long)]
    pub web_lan: bool,
    /// Port of the web screen [default: a free port chosen by the system].
    #[arg(long, value_name = "PORT")]
    pub web_port: Option<u16>,
    /// Keep serving the finished screen (the report's links) this many seconds after the
    /// session [default: until Ctrl-C on a terminal, else 0].
    #[arg(long, value_name = "SECONDS")]
    pub web_keep: Option<u32>,
}

impl WebArgs {
    /// The server's options, when a web screen was asked for.
    pub fn options(&self) -> Option<knip::web::WebOptions> {
        (self.web || self.web_lan).then(|| knip::web::WebOptions {
            lan: self.web_lan,
            port: self.web_port.unwrap_or(0),
        })
    }
}

/// A sensor on a serial port: the options `record` and `session` share.
#[derive(Args, Clone, Debug, Default)]
pub struct SerialArgs {
    /// The serial port, e.g. /dev/ttyACM0, /dev/ttyUSB0, COM3 (see `knip devices`).
    #[arg(long)]
    pub port: Option<String>,
    /// Wire format: `line` (text lines), `cyton` (OpenBCI Cyton packets), `cyton-daisy` (Cyton
    /// with the Daisy module, 16 channels) or `bitalino` (BITalino (r)evolution).
    #[arg(long, value_parser = ["line", "cyton", "cyton-daisy", "bitalino"])]
    pub format: Option<String>,
    #[arg(long, default_value_t = knip::source::serial::DEFAULT_BAUD, value_parser = |s: &str| knip::limits::BAUD.parse(s))]
    pub baud: u32,
    /// Sampling rate of a text-line device, Hz (when it does not send `# rate_hz=`); for a
    /// BITalino 1, 10, 100 or 1000 (default 1000).
    #[arg(long, value_parser = |s: &str| knip::limits::SAMPLE_RATE_HZ.parse(s))]
    pub rate: Option<f64>,
    /// Channel roles in column order, or role:column (1-based): `pfm_emg,abd_emg`,
    /// `pfm_emg:1,abd_emg:2` (for a Cyton: board channels; for a BITalino: inputs A1–A6).
    #[arg(long)]
    pub channels: Option<String>,
    /// Width of a text device's sample counter in the first column, bits (8, 16, 32).
    #[arg(long)]
    pub seq_bits: Option<u32>,
    /// Valid range of a text device's values, `MIN,MAX`; values outside are lost samples.
    #[arg(long, allow_hyphen_values = true)]
    pub range: Option<String>,
    /// Cyton channel gain (firmware default 24).
    #[arg(long, default_value_t = knip::source::cyton::DEFAULT_GAIN, value_parser = |s: &str| knip::limits::GAIN.parse(s))]
    pub gain: f64,
    /// Give up waiting for an unplugged device after this many seconds (default: wait
    /// until Ctrl-C).
    #[arg(long, value_parser = |s: &str| knip::limits::RECONNECT_S.parse(s))]
    pub reconnect_timeout: Option<f64>,
}

impl SerialArgs {
    /// The port's settings, checked; `duration_s` stops the stream after that much device time.
    pub fn options(
        &self,
        port: &str,
        duration_s: Option<f64>,
    ) -> Result<knip::source::serial::SerialOptions, UsageError> {
        let format = self.format.as_deref().ok_or_else(|| {
            UsageError(
                "--format is needed with --port: `line` (text lines), `cyton`, `cyton-daisy` \
                 or `bitalino`"
                    .into(),
            )
        })?;
        if let Some(b) = self.seq_bits {
            require(
                matches!(b, 8 | 16 | 32),
                format!("--seq-bits takes 8, 16 or 32, not {b}"),
            )?;
        }
        let value_range = match &self.range {
            Some(text) => {
                let (lo, hi) = text
                    .split_once(',')
                    .and_then(|(a, b)| {
                        Some((a.trim().parse::<f64>().ok()?, b.trim().parse::<f64>().ok()?))
                    })
                    .filter(|(a, b)| a < b)
                    .ok_or_else(|| {
                        UsageError(format!(
                            "--range takes MIN,MAX with MIN < MAX, not `{text}`"
                        ))
                    })?;
                Some((lo, hi))
            }
            None => None,
        };
        let mut requests = match &self.channels {
            Some(c) => knip::source::link::parse_channel_requests(c)
                .map_err(|e| UsageError(format!("--channels {c}: {e}")))?,
            None => Vec::new(),
        };
        let wire = if format == "cyton" || format == "cyton-daisy" {
            let c = knip::source::cyton::CytonConfig { gain: self.gain };
            if format == "cyton" {
                knip::source::link::WireFormat::Cyton(c)
            } else {
                knip::source::link::WireFormat::CytonDaisy(c)
            }
        } else if format == "bitalino" {
            let (analog, rewritten) = knip::source::bitalino::plan_channels(&requests)
                .map_err(|e| UsageError(format!("--channels: {e}")))?;
            requests = rewritten;
            let c = knip::source::bitalino::BitalinoConfig {
                rate_hz: self
                    .rate
                    .map_or(knip::source::bitalino::DEFAULT_RATE_HZ, |r| r as u32),
                analog,
            };
            if self.rate.is_some_and(|r| r.fract() != 0.0) {
                return Err(UsageError(format!(
                    "--rate: a BITalino samples at 1, 10, 100 or 1000 Hz, not {}",
                    self.rate.unwrap_or(0.0)
                )));
            }
            c.check()
                .map_err(|e| UsageError(format!("--rate/--channels: {e}")))?;
            knip::source::link::WireFormat::Bitalino(c)
        } else {
            knip::source::link::WireFormat::Line(knip::source::line::LineConfig {
                rate_hz: self.rate,
                seq_bits: self.seq_bits,
                value_range,
            })
        };
        let mut link = knip::source::link::LinkConfig::new(wire);
        link.channels = requests;
        link.duration_s = duration_s;
        link.reconnect_timeout_s = self.reconnect_timeout;
        Ok(knip::source::serial::SerialOptions {
            port: port.to_string(),
            baud: self.baud,
            link,
        })
    }
}

/// Where a guided session's samples come from.
#[derive(Args, Clone, Debug, Default)]
pub struct SourceArgs {
    #[command(flatten)]
    pub serial: SerialArgs,
    /// Replay a recording instead: `recording.raw` (decoded again exactly as live) or a CSV.
    /// A guided session's recording is run with its own protocol, calibration and pauses.
    #[arg(long, conflicts_with_all = ["port", "simulate"])]
    pub replay: Option<PathBuf>,
    /// The simulated patient follows the cues (what `knip demo` uses).
    #[arg(long, conflicts_with = "port")]
    pub simulate: bool,
    /// Seed of the simulated patient.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Playback speed of the simulator or a replay: 1 = real time, 10 = ten times faster.
    #[arg(long, default_value_t = 1.0, value_parser = |s: &str| knip::limits::SPEED.parse(s))]
    pub speed: f64,
    /// As fast as the CPU allows (overrides --speed).
    #[arg(long)]
    pub fast: bool,
    /// Publish the samples, cues, contractions and verdicts on Lab Streaming Layer (needs
    /// `--features lsl`).
    #[arg(long)]
    pub lsl: bool,
}

/// Options of a guided session.
#[derive(Args, Clone, Debug)]
pub struct SessionArgs {
    /// Built-in protocol name or a protocol .toml file [default: strength; for a replay, the
    /// recording's own].
    #[arg(long)]
    pub protocol: Option<String>,
    #[command(flatten)]
    pub source: SourceArgs,
    /// Folder for the report and the recording [default: knip-session, or knip-session-2, -3,
    /// … when that one already holds an earlier session].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace the report already in --out (knip's own report files only; a recording is
    /// never replaced).
    #[arg(long)]
    pub force: bool,
    /// One line per event instead of the full-screen view (automatic without a terminal).
    #[arg(long)]
    pub plain: bool,
    /// A saved calibration.json: skip the rest baseline and the maximal squeezes.
    #[arg(long)]
    pub calibration: Option<PathBuf>,
    /// Scoring thresholds (TOML, any subset of the fields in session.json's `scoring`); the
    /// defaults are engineering choices, not validated.
    #[arg(long)]
    pub scoring: Option<PathBuf>,
    /// Pseudonymous patient id (never a name): the session is stored in the progress database,
    /// "n of 30 today" is read from it.
    #[arg(long)]
    pub patient: Option<String>,
    /// Progress database (default: progress.sqlite in the user's data folder).
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Measure rest and maximal squeezes again even though a calibration is kept for this
    /// patient and device.
    #[arg(long)]
    pub recalibrate: bool,
    #[command(flatten)]
    pub web: WebArgs,
    #[command(flatten)]
    pub settings: Settings,
}

impl SessionArgs {
    /// A session with nothing but its source: no patient, the protocol's own or the
    /// recording's calibration and scoring (`demo`, `replay` of a guided session).
    pub fn plain_run(
        protocol: Option<String>,
        source: SourceArgs,
        out: PathBuf,
        force: bool,
        plain: bool,
        settings: Settings,
    ) -> Self {
        SessionArgs {
            protocol,
            source,
            out: Some(out),
            force,
            plain,
            calibration: None,
            scoring: None,
            patient: None,
            db: None,
            recalibrate: false,
            web: WebArgs::default(),
            settings,
        }
    }
}

#[derive(Args)]
pub struct SimulateArgs {
    #[arg(long, default_value = "strength")]
    pub protocol: String,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing recording file at --out (and its sidecar and truth) — a simulated
    /// recording only; it is replaced by a rename, never written through.
    #[arg(long)]
    pub force: bool,
    /// Channels to produce, comma-separated (pfm_emg, abd_emg, pressure).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "pfm_emg,abd_emg,pressure"
    )]
    pub channels: Vec<String>,
    /// EMG sampling rate, Hz.
    #[arg(long, default_value_t = 2000.0, value_parser = |s: &str| knip::limits::SIM_EMG_RATE_HZ.parse(s))]
    pub emg_rate: f64,
    /// Pressure sampling rate, Hz.
    #[arg(long, default_value_t = 100.0, value_parser = |s: &str| knip::limits::SIM_PRESSURE_RATE_HZ.parse(s))]
    pub pressure_rate: f64,
    /// Probe or electrodes, recorded in the sidecar.
    #[arg(long)]
    pub probe: Option<String>,
    /// Posture (lying, sitting, standing, walking), recorded in the sidecar.
    #[arg(long)]
    pub posture: Option<String>,
    /// Pseudonymous patient id, recorded in the sidecar (never a name).
    #[arg(long)]
    pub patient: Option<String>,
    /// Also write the session as EDF+ (.edf) or BDF+ (.bdf) with annotations.
    #[arg(long)]
    pub edf: Option<PathBuf>,
    /// A real-world condition of the simulated patient (repeatable, or `all`):
    /// calibration_squeeze, dc_offset, quiet_rest, inflation_creep, probe_slip, weak,
    /// wandering_rest, pressure_20hz, pressure_50hz.
    #[arg(long = "condition", value_name = "NAME")]
    pub conditions: Vec<String>,
}

#[derive(Args)]
pub struct AnalyzeArgs {
    /// The recording: a knip CSV (with its .json sidecar), any CSV, or EDF/BDF.
    pub file: PathBuf,
    /// Folder for the report (created if needed).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace the report already in --out (knip's own report files only; a recording is
    /// never replaced).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub columns: Columns,
    /// Draw clinician markers from an anorectal-manometry text file (its `Annotations:` part).
    #[arg(long)]
    pub markers: Option<PathBuf>,
    /// Store the session's scores in the progress database under this pseudonymous id
    /// (default: the sidecar's patient_id, if any).
    #[arg(long)]
    pub patient: Option<String>,
    /// Progress database (default: progress.sqlite in the user's data folder).
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Scoring thresholds (TOML, any subset of the fields in session.json's `scoring`); the
    /// defaults are engineering choices, not validated.
    #[arg(long)]
    pub scoring: Option<PathBuf>,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Args)]
pub struct EvaluateArgs {
    #[arg(long, default_value_t = 20, value_parser = |s: &str| knip::limits::SESSIONS.parse(s))]
    pub sessions: usize,
    #[arg(long, default_value_t = 1)]
    pub first_seed: u64,
    /// Worker threads (default: all cores).
    #[arg(long, value_parser = |s: &str| knip::limits::THREADS.parse(s))]
    pub threads: Option<usize>,
    /// Also write every session's scores as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Also run the same sessions under simulator conditions and print a summary table:
    /// `all` (each condition alone plus the combined rows) or a comma-separated list of
    /// conditions, `+` joining conditions into one row (e.g. `weak,inflation_creep+probe_slip`).
    #[arg(long, value_name = "LIST|all")]
    pub conditions: Option<String>,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Args)]
pub struct DevicesArgs {
    /// Also listen to this port for a moment and tell its format from what arrives (a silent
    /// port is asked for its version with BITalino's one-byte version command).
    #[arg(long)]
    pub probe: Option<String>,
    /// How long to listen with --probe, seconds.
    #[arg(long, default_value_t = 2.0, value_parser = |s: &str| knip::limits::LISTEN_S.parse(s))]
    pub listen_s: f64,
    #[arg(long, default_value_t = knip::source::serial::DEFAULT_BAUD, value_parser = |s: &str| knip::limits::BAUD.parse(s))]
    pub baud: u32,
}

#[derive(Args)]
pub struct RecordArgs {
    #[command(flatten)]
    pub serial: SerialArgs,
    /// Stop after this many seconds of device time.
    #[arg(long, value_parser = |s: &str| knip::limits::RECORD_S.parse(s))]
    pub duration: Option<f64>,
    /// Folder for the recording and the report.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub plain: bool,
    /// Publish the samples and markers on Lab Streaming Layer (needs `--features lsl`).
    #[arg(long)]
    pub lsl: bool,
    #[command(flatten)]
    pub web: WebArgs,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Args)]
pub struct ReplayArgs {
    pub file: PathBuf,
    /// Playback speed: 1 = real time.
    #[arg(long, default_value_t = 1.0, value_parser = |s: &str| knip::limits::SPEED.parse(s))]
    pub speed: f64,
    /// As fast as the CPU allows (overrides --speed).
    #[arg(long)]
    pub fast: bool,
    /// Publish the samples and markers on Lab Streaming Layer (needs `--features lsl`).
    #[arg(long)]
    pub lsl: bool,
    /// Report folder (default: FILE's folder / replay-<name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace the report already in --out (knip's own report files only; a recording is
    /// never replaced).
    #[arg(long)]
    pub force: bool,
    #[arg(long)]
    pub plain: bool,
    #[command(flatten)]
    pub web: WebArgs,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Args)]
pub struct BatchArgs {
    pub dir: PathBuf,
    #[arg(long)]
    pub out: PathBuf,
    /// Replace the reports already in --out (knip's own report folders and batch.csv only).
    #[arg(long)]
    pub force: bool,
    /// Internal: analyse this one file (a child process of the batch) into --one-out.
    #[arg(long, hide = true, requires = "one_out")]
    pub one_file: Option<PathBuf>,
    /// Internal: the report folder of --one-file.
    #[arg(long, hide = true)]
    pub one_out: Option<PathBuf>,
    /// Recordings analysed at once (default: all cores).
    #[arg(long, value_parser = |s: &str| knip::limits::THREADS.parse(s))]
    pub jobs: Option<usize>,
    #[command(flatten)]
    pub columns: Columns,
    /// Scoring thresholds (TOML, any subset of the fields in session.json's `scoring`); the
    /// defaults are engineering choices, not validated.
    #[arg(long)]
    pub scoring: Option<PathBuf>,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Args)]
pub struct ProgressArgs {
    /// Pseudonymous patient id.
    #[arg(long)]
    pub patient: Option<String>,
    #[arg(long, default_value = "knip-progress")]
    pub out: PathBuf,
    /// Database file (default: progress.sqlite in the user's data folder).
    #[arg(long)]
    pub db: Option<PathBuf>,
}

#[derive(Args)]
pub struct ProgressFillArgs {
    #[arg(long)]
    pub patient: String,
    #[arg(long, default_value_t = 90, value_parser = |s: &str| knip::limits::DAYS.parse(s))]
    pub days: u32,
    /// Seed of the simulated course (adherence, sessions, which simulated patients).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// First day, YYYY-MM-DD (default: DAYS days before today).
    #[arg(long)]
    pub first_day: Option<String>,
    /// The patient's UTC offset in minutes (which calendar day a session counts for).
    #[arg(long, default_value_t = 60, allow_negative_numbers = true)]
    pub utc_offset_min: i32,
    /// EMG rate of the simulated sessions, Hz.
    #[arg(long, default_value_t = 1000.0, value_parser = |s: &str| knip::limits::SIM_EMG_RATE_HZ.parse(s))]
    pub emg_rate: f64,
    /// Sessions simulated at once (default: all cores).
    #[arg(long, value_parser = |s: &str| knip::limits::THREADS.parse(s))]
    pub jobs: Option<usize>,
    #[arg(long)]
    pub db: Option<PathBuf>,
}

#[derive(Args)]
pub struct ExportArgs {
    pub file: PathBuf,
    /// edf (16-bit) or bdf (24-bit); default from the --out extension.
    #[arg(long)]
    pub format: Option<String>,
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing file at --out (by a rename, never written through).
    #[arg(long)]
    pub force: bool,
    /// Wall-clock start of the recording, RFC 3339 (default: the sidecar's started_at).
    #[arg(long)]
    pub start: Option<String>,
    /// User markers: a CSV of time_s,text (or an anomanor export).
    #[arg(long)]
    pub markers: Option<PathBuf>,
    /// Pseudonymous patient code for the EDF+ patient field (never a name).
    #[arg(long)]
    pub patient: Option<String>,
    #[command(flatten)]
    pub columns: Columns,
    #[command(flatten)]
    pub settings: Settings,
}

/// How to read a CSV without a sidecar (or pick EDF signals).
#[derive(Args, Clone, Default)]
pub struct Columns {
    /// Sampling rate when the file has no time_s column, Hz.
    #[arg(long, value_parser = |s: &str| knip::limits::SAMPLE_RATE_HZ.parse(s))]
    pub rate: Option<f64>,
    /// Column (or EDF signal) holding pelvic-floor EMG (name or 1-based number), or A-B: the
    /// bipolar difference of two (e.g. EXG1-EXG2). A name that itself contains '-' (an EDF label
    /// "EMG Chin1-Chin2") is that column, not a difference.
    #[arg(long)]
    pub pfm: Option<String>,
    /// Column (or EDF signal) holding abdominal EMG, or A-B (as --pfm).
    #[arg(long)]
    pub abd: Option<String>,
    /// Column (or EDF signal) holding probe pressure, or A-B (as --pfm).
    #[arg(long)]
    pub pressure: Option<String>,
    /// EMG columns are already RMS envelopes: no band-pass, no RMS.
    #[arg(long)]
    pub envelope: bool,
    /// Threads parsing a large CSV file ahead of the analysis [default: the number of cores;
    /// 1: no extra threads]. The results are the same whatever the number.
    #[arg(long, value_name = "N", value_parser = |s: &str| knip::limits::THREADS.parse(s))]
    pub read_threads: Option<usize>,
}

impl Columns {
    pub fn options(&self) -> CsvOptions {
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

/// Analysis settings that can be changed from the command line; everything else is in
/// `session.json` with its default.
#[derive(Args, Clone, Debug, Default)]
pub struct Settings {
    /// Mains notch at 50 or 60 Hz (and harmonics); off by default, as SENIAM advises.
    #[arg(long, value_parser = |s: &str| knip::limits::NOTCH_HZ.parse(s))]
    pub notch: Option<f64>,
    /// Length of the calibration rest, seconds.
    #[arg(long, value_parser = |s: &str| knip::limits::CALIBRATION_S.parse(s))]
    pub calibration_s: Option<f64>,
    /// Where the calibration rest starts, seconds after the recording starts (a marked rest).
    #[arg(long, value_parser = |s: &str| knip::limits::CALIBRATION_START_S.parse(s))]
    pub calibration_start_s: Option<f64>,
    /// Onset threshold: rest mean + K × rest SD.
    #[arg(long, value_parser = |s: &str| knip::limits::ONSET_K.parse(s))]
    pub onset_k: Option<f64>,
    /// Shortest contraction, seconds (shorter bursts are coughs or artifacts).
    #[arg(long, value_parser = |s: &str| knip::limits::MIN_CONTRACTION_S.parse(s))]
    pub min_contraction_s: Option<f64>,
    /// Moving-RMS window, ms.
    #[arg(long, value_parser = |s: &str| knip::limits::ENVELOPE_MS.parse(s))]
    pub envelope_ms: Option<f64>,
    /// Turn off the adaptive mains canceller (on by default: it takes out 50/60-Hz mains and
    /// its 3rd and 5th harmonics where they stand out of the EMG, and leaves the EMG alone).
    #[arg(long)]
    pub no_mains_cancel: bool,
}

impl Settings {
    pub fn config(&self) -> Result<AnalysisConfig, UsageError> {
        let mut c = AnalysisConfig::default();
        if let Some(n) = self.notch {
            require(
                n == 50.0 || n == 60.0,
                format!("--notch takes 50 or 60 (the mains frequency), not {n}"),
            )?;
            c.conditioning.notch_hz = Some(n);
        }
        // The ranges are checked as the options are parsed (`knip::limits`).
        if let Some(v) = self.calibration_s {
            c.detector.calibration_s = v;
        }
        if let Some(v) = self.calibration_start_s {
            c.detector.calibration_skip_s = v;
        }
        if let Some(v) = self.onset_k {
            c.detector.onset_k = v;
        }
        if let Some(v) = self.min_contraction_s {
            c.detector.min_contraction_s = v;
        }
        if let Some(v) = self.envelope_ms {
            c.conditioning.envelope_window_ms = v;
        }
        if self.no_mains_cancel {
            c.conditioning.mains_cancel_tau_s = None;
        }
        Ok(c)
    }
}
