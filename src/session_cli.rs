//! `knip session` (and `knip demo`, and `knip replay` of a guided session): the options that
//! choose a source — a sensor on a serial port, a recording to replay, or the simulated
//! patient — and the one path that runs a guided session from any of them.

use anyhow::Context;
use clap::Args;
use knip::config::AnalysisConfig;
use knip::session::calibrate::Calibration;
use knip::session::drive::{self, GuidedOptions, SessionInput};
use knip::session::protocol::Protocol;
use knip::session::score::ScoringConfig;
use knip::source::link::{parse_channel_requests, LinkConfig, StopHandle, WireFormat};
use knip::source::serial::SerialOptions;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// A sensor on a serial port: the options `record` and `session` share.
#[derive(Args, Clone, Debug, Default)]
pub struct SerialArgs {
    /// The serial port, e.g. /dev/ttyACM0, /dev/ttyUSB0, COM3 (see `knip devices`).
    #[arg(long)]
    pub port: Option<String>,
    /// Wire format: `line` (text lines) or `cyton` (OpenBCI Cyton packets).
    #[arg(long, value_parser = ["line", "cyton"])]
    pub format: Option<String>,
    #[arg(long, default_value_t = knip::source::serial::DEFAULT_BAUD)]
    pub baud: u32,
    /// Sampling rate of a text-line device, Hz (when it does not send `# rate_hz=`).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Channel roles in column order, or role:column (1-based): `pfm_emg,abd_emg`,
    /// `pfm_emg:1,abd_emg:2` (for a Cyton: board channels).
    #[arg(long)]
    pub channels: Option<String>,
    /// Width of a text device's sample counter in the first column, bits (8, 16, 32).
    #[arg(long)]
    pub seq_bits: Option<u32>,
    /// Valid range of a text device's values, `MIN,MAX`; values outside are lost samples.
    #[arg(long, allow_hyphen_values = true)]
    pub range: Option<String>,
    /// Cyton channel gain (firmware default 24).
    #[arg(long, default_value_t = knip::source::cyton::DEFAULT_GAIN)]
    pub gain: f64,
    /// Give up waiting for an unplugged device after this many seconds (default: wait
    /// until Ctrl-C).
    #[arg(long)]
    pub reconnect_timeout: Option<f64>,
}

impl SerialArgs {
    /// The port's settings, checked; `duration_s` stops the stream after that much device time.
    pub fn options(&self, port: &str, duration_s: Option<f64>) -> anyhow::Result<SerialOptions> {
        let format = self
            .format
            .as_deref()
            .context("--format is needed with --port: `line` (text lines) or `cyton`")?;
        if let Some(b) = self.seq_bits {
            anyhow::ensure!(
                matches!(b, 8 | 16 | 32),
                "--seq-bits takes 8, 16 or 32, not {b}"
            );
        }
        if let Some(r) = self.rate {
            anyhow::ensure!(r > 0.0 && r.is_finite(), "--rate must be positive");
        }
        let value_range = match &self.range {
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
            anyhow::ensure!(self.gain > 0.0, "--gain must be positive");
            WireFormat::Cyton(knip::source::cyton::CytonConfig { gain: self.gain })
        } else {
            WireFormat::Line(knip::source::line::LineConfig {
                rate_hz: self.rate,
                seq_bits: self.seq_bits,
                value_range,
            })
        };
        let mut link = LinkConfig::new(wire);
        if let Some(c) = &self.channels {
            link.channels = parse_channel_requests(c).map_err(anyhow::Error::msg)?;
        }
        link.duration_s = duration_s;
        link.reconnect_timeout_s = self.reconnect_timeout;
        Ok(SerialOptions {
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
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// As fast as the CPU allows (overrides --speed).
    #[arg(long)]
    pub fast: bool,
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
    /// Folder for the report and the recording.
    #[arg(long, default_value = "knip-session")]
    pub out: PathBuf,
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
}

/// Ctrl-C (and SIGTERM) end the session cleanly: the report is still written. A second Ctrl-C
/// ends at once (the recording is safe on disk anyway).
pub fn stop_on_signals() -> StopHandle {
    let stop = StopHandle::default();
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register_conditional_shutdown(sig, 130, stop.flag());
        let _ = signal_hook::flag::register(sig, stop.flag());
    }
    stop
}

/// The input error of an option's file (a protocol, scoring or calibration file).
fn input_error(path: &Path, e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(drive::SessionError::Input(
        knip::error::InputError::Format {
            path: path.to_path_buf(),
            message: e.to_string(),
        },
    ))
}

/// Run `knip session` with `a`.
pub fn run(a: SessionArgs, cfg: &AnalysisConfig) -> anyhow::Result<()> {
    let s = &a.source;
    anyhow::ensure!(
        s.speed > 0.0 && s.speed.is_finite(),
        "--speed must be a positive number"
    );
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
        _ => anyhow::bail!(
            "choose where the samples come from: --port PORT --format line|cyton (a sensor), \
             --replay FILE (a recording) or --simulate (the simulated patient)"
        ),
    };
    let protocol = match (&a.protocol, &recorded_session) {
        (Some(p), _) => Protocol::load(p).map_err(|e| input_error(Path::new(p), e))?,
        (None, Some(info)) => info.protocol.clone(),
        (None, None) => Protocol::load("strength").map_err(anyhow::Error::msg)?,
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
    let patient = a
        .patient
        .clone()
        .or_else(|| recorded.as_ref().and_then(|r| r.patient_id.clone()));
    let tui = !a.plain && std::io::stdout().is_terminal();
    let o = GuidedOptions {
        protocol,
        input,
        out_dir: a.out.clone(),
        tui,
        calibration,
        done_today: 0,
        scoring,
        patient_id: patient,
        scripted_pauses: recorded_session.map(|i| i.pauses).unwrap_or_default(),
        stop: Some(stop_on_signals()),
    };
    let outcome = drive::run_guided(
        &o,
        cfg,
        Box::new(std::io::stdout()),
        Box::new(std::io::stderr()),
    )?;
    for w in &outcome.warnings {
        eprintln!("warning: {w}");
    }
    println!("Report written to {}/", a.out.display());
    for f in &outcome.files {
        println!("  {}", f.display());
    }
    Ok(())
}
