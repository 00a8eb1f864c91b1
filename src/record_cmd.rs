//! `knip record` and `knip replay` as library functions.
//!
//! `record`: a device on a serial port through the live pipeline, with live status, a
//! crash-safe recording (`recording.csv` + `.json`, the raw bytes in `recording.raw`, lost runs
//! in `recording.gaps.csv`, all flushed at least every 0.25 s) and the report folder at the end.
//! `replay`: a recording (decoded CSV or raw bytes) through the same pipeline and views.

use crate::config::AnalysisConfig;
use crate::error::RunError;
use crate::error::{InputError, OutputError};
use crate::event::ContractionEvent;
use crate::frame::StreamSpec;
use crate::pipeline::{self, Pace, RunEnd};
use crate::sidecar::Sidecar;
use crate::sink::collect::EventCollector;
use crate::sink::live::LiveStatus;
use crate::sink::report::{ReportSink, ReportSource};
use crate::source::csv_file::CsvOptions;
use crate::source::link::{LinkError, LinkReport, LinkStatus, StopHandle, WireFormat};
use crate::source::replay::{is_raw_log, open_raw_replay};
use crate::source::serial::{SerialOptions, SerialSource};
use crate::source::Source;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Below this rate EMG loses most of its band (DOMAIN.md §4: sample ≥ 1 kHz).
const EMG_FULL_BAND_RATE_HZ: f64 = 1000.0;

/// Options of `knip record`.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    pub serial: SerialOptions,
    pub out_dir: PathBuf,
    /// Draw the in-place level bar (a terminal).
    pub bar: bool,
    /// Publish on Lab Streaming Layer (`--lsl`).
    pub lsl: bool,
    /// The web screen (`--web`).
    pub web: Option<Arc<crate::web::WebServer>>,
}

/// What a recording produced.
#[derive(Debug)]
pub struct RecordOutcome {
    pub out_dir: PathBuf,
    pub recording: PathBuf,
    pub raw: PathBuf,
    pub gaps: PathBuf,
    pub link: LinkReport,
    pub events: Vec<ContractionEvent>,
    pub end: RunEnd,
    pub warnings: Vec<String>,
}

/// Why `record` or `replay` failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The port or raw log (the message names it and says what to do).
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error(transparent)]
    App(#[from] RunError),
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error(transparent)]
    Pipeline(#[from] crate::pipeline::PipelineError),
    /// Writing the recording failed (full disk): the message names the file.
    #[error("{0}")]
    RecordingFailed(String),
    #[error(transparent)]
    Lsl(#[from] crate::sink::lsl::LslError),
}

impl RecordError {
    /// Bad input the user can act on (exit 2): a file that cannot be read as a recording, a
    /// missing or unplugged port, a full disk under the recording.
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            RecordError::Input(_)
                | RecordError::RecordingFailed(_)
                // A missing or unplugged port, a silent device, bad --channels, a damaged raw log.
                | RecordError::Link(_)
                | RecordError::App(RunError::Input(_))
                | RecordError::Pipeline(crate::pipeline::PipelineError::Input(_))
        ) || match self {
            RecordError::Output(o) => o.is_input_error(),
            RecordError::App(a) => a.is_input_error(),
            _ => false,
        }
    }
}

/// Warnings about the stream itself (low EMG rate).
pub fn stream_warnings(spec: &StreamSpec, wire: Option<&WireFormat>) -> Vec<String> {
    let mut w = Vec::new();
    for ch in spec.channels.iter().filter(|c| c.role.is_emg()) {
        if ch.rate_hz < EMG_FULL_BAND_RATE_HZ {
            let what = match wire {
                Some(WireFormat::Cyton(_)) => "the Cyton streams 250 Hz over its dongle",
                Some(WireFormat::CytonDaisy(_)) => {
                    "a Cyton with Daisy gives 125 Hz per channel over its dongle"
                }
                _ => "this device samples below 1 kHz",
            };
            w.push(format!(
                "{}: {what}, so EMG above {:.0} Hz (Nyquist) is not seen and the band-pass \
                 low-pass moves below it; amplitudes compare only with recordings at the same \
                 rate (DOMAIN.md §4 asks for ≥ 1 kHz, 2 kHz preferred)",
                ch.name,
                ch.rate_hz / 2.0
            ));
        }
    }
    w
}

/// `link.json` in `dir`: the link's counters, gaps and warnings.
pub fn write_link_json(dir: &Path, report: &LinkReport) -> Result<PathBuf, OutputError> {
    let p = dir.join("link.json");
    let text = serde_json::to_string_pretty(report)
        .map_err(|e| OutputError::write(&p, std::io::Error::other(e)))?;
    crate::private_file::write(&p, text.as_bytes()).map_err(|e| OutputError::write(&p, e))?;
    Ok(p)
}

fn snapshot(r: &Arc<Mutex<LinkReport>>) -> LinkReport {
    r.lock().map(|g| g.clone()).unwrap_or_default()
}

/// `knip record`: open the port, record and analyse until stopped (`stop`), the duration is
/// reached, or the device stays away longer than the reconnect timeout.
pub fn record(
    opts: &RecordOptions,
    cfg: &AnalysisConfig,
    out: Box<dyn Write + Send>,
    mut status_out: Box<dyn Write + Send>,
    stop: Option<StopHandle>,
) -> Result<RecordOutcome, RecordError> {
    crate::private_file::create_dir(&opts.out_dir)
        .map_err(|e| OutputError::write(&opts.out_dir, e))?;
    let mut source = SerialSource::open(&opts.serial)?;
    if let Some(s) = stop {
        source.use_stop_handle(s);
    }
    let spec = source.spec().clone();
    let mut warnings = stream_warnings(&spec, Some(&opts.serial.link.wire));
    let names: Vec<String> = spec
        .channels
        .iter()
        .map(|c| format!("{} ({}, {} Hz)", c.name, c.unit, c.rate_hz))
        .collect();
    let _ = writeln!(
        status_out,
        "Recording from {} — {}: {}. Press Ctrl-C to stop and write the report.",
        opts.serial.port,
        source.device(),
        names.join(", ")
    );
    if let Ok(r) = source.report().lock() {
        if !r.channel_map.is_empty() {
            let _ = writeln!(status_out, "Channels: {}", r.channel_map.join("; "));
        }
    }
    for w in &warnings {
        let _ = writeln!(status_out, "warning: {w}");
    }
    let recording = opts.out_dir.join("recording.csv");
    let (_, raw, gaps) = crate::source::link::recording_paths(&recording);
    let mut sidecar = Sidecar::new(source.device(), &spec, cfg);
    sidecar.notes = Some(format!(
        "port {}, format {}, {} baud; sample times from the device counter and nominal rate; \
         raw bytes in {}",
        opts.serial.port,
        opts.serial.link.wire.name(),
        opts.serial.baud,
        raw.file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default()
    ));
    source.record_to(&recording, sidecar)?;
    source.on_status(move |s: &LinkStatus| {
        let _ = writeln!(status_out, "{s}");
        let _ = status_out.flush();
    });
    let link = source.report();
    let report = ReportSink::new(
        &opts.out_dir,
        ReportSource {
            input: opts.serial.port.clone(),
            title: format!("{} ({})", opts.serial.port, opts.serial.link.wire.name()),
            details: serde_json::json!({
                "port": opts.serial.port,
                "format": opts.serial.link.wire.name(),
                "baud": opts.serial.baud,
                "device": source.device(),
                "recording": recording,
                "raw": raw,
                "gaps": gaps,
                "link_report": "link.json",
            }),
        },
        cfg,
    );
    let live = LiveStatus::new(out, opts.bar, Vec::new());
    let collector = EventCollector::default();
    let events = collector.handle();
    let mut sinks: Vec<Box<dyn crate::pipeline::Sink>> =
        vec![Box::new(live), Box::new(report), Box::new(collector)];
    if let Some(w) = &opts.web {
        sinks.insert(0, Box::new(w.sink(true)));
    }
    let (source, lsl): (Box<dyn Source>, _) = if opts.lsl {
        let id = source.device().to_string();
        let (s, p) = crate::sink::lsl::attach(Box::new(source), &id, true)?;
        sinks.push(Box::new(crate::sink::lsl::LslMarkerSink::new(p.clone())));
        (s, Some(p))
    } else {
        (Box::new(source), None)
    };
    let result = pipeline::run(source, cfg, sinks, Pace::Unpaced);
    let lsl_warning = lsl.as_ref().and_then(crate::sink::lsl::finish);
    let link_report = snapshot(&link);
    // A failed recording (full disk) is the news, even if the report failed after it.
    if let Some(e) = &link_report.recording_error {
        let _ = write_link_json(&opts.out_dir, &link_report);
        return Err(RecordError::RecordingFailed(e.clone()));
    }
    write_link_json(&opts.out_dir, &link_report)?;
    let end = result?;
    warnings.extend(end.warnings.iter().cloned());
    warnings.extend(link_report.warnings.iter().cloned());
    warnings.extend(lsl_warning);
    let mut events = events.lock().map(|v| v.clone()).unwrap_or_default();
    events.sort_by(|a, b| a.onset_s.total_cmp(&b.onset_s));
    Ok(RecordOutcome {
        out_dir: opts.out_dir.clone(),
        recording,
        raw,
        gaps,
        link: link_report,
        events,
        end,
        warnings,
    })
}

/// Options of `knip replay`.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    pub input: PathBuf,
    /// 1.0 = the original pace; `None` = as fast as possible.
    pub speed: Option<f64>,
    pub out_dir: PathBuf,
    pub bar: bool,
    /// Publish on Lab Streaming Layer (`--lsl`).
    pub lsl: bool,
    /// The web screen (`--web`).
    pub web: Option<Arc<crate::web::WebServer>>,
}

/// What a replay produced.
#[derive(Debug)]
pub struct ReplayOutcome {
    pub out_dir: PathBuf,
    /// `raw` or `csv`.
    pub kind: &'static str,
    pub events: Vec<ContractionEvent>,
    pub end: RunEnd,
    pub link: Option<LinkReport>,
    pub warnings: Vec<String>,
}

/// What a replayed recording is, for the report and the summary line: `edf`, `vendor` (an
/// export recognised from its header) or `csv`.
fn recording_kind(path: &Path, vendor: &Option<String>) -> &'static str {
    if crate::export::is_edf(path) {
        "edf"
    } else if vendor.is_some() {
        "vendor"
    } else {
        "csv"
    }
}

/// `knip replay FILE`: a raw-byte log (`.raw`) is decoded again exactly as live; anything else
/// is opened as `knip analyze` opens it (CSV, EDF/BDF, a vendor export). Played at `speed` ×
/// real time, with live status and a report.
pub fn replay(
    opts: &ReplayOptions,
    cfg: &AnalysisConfig,
    out: Box<dyn Write + Send>,
) -> Result<ReplayOutcome, RecordError> {
    let raw = is_raw_log(&opts.input);
    let mut warnings = Vec::new();
    let mut markers = Vec::new();
    let (source, link, kind, pace): (Box<dyn Source>, _, _, _) = if raw {
        let s = open_raw_replay(&opts.input, opts.speed)?;
        warnings.extend(stream_warnings(
            crate::source::Source::spec(&s),
            Some(&s.config().wire),
        ));
        let link = s.report();
        // The raw transport paces itself from the recorded arrival times.
        (Box::new(s), Some(link), "raw", Pace::Unpaced)
    } else {
        // Whatever `knip analyze` opens: a CSV (with its sidecar), EDF/BDF, a vendor export.
        let opened = crate::export::open_recording(&opts.input, &CsvOptions::default())?;
        // The file's own annotations (EDF) and the markers of its session (sidecar).
        markers = opened.markers.clone();
        markers.extend(opened.session_markers());
        warnings.extend(opened.warnings);
        let pace = match opts.speed {
            Some(x) => Pace::RealTime(x),
            None => Pace::Unpaced,
        };
        (
            opened.source,
            None,
            recording_kind(&opts.input, &opened.format),
            pace,
        )
    };
    let report = ReportSink::new(
        &opts.out_dir,
        ReportSource {
            input: opts.input.display().to_string(),
            title: format!(
                "replay of {}",
                opts.input
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default()
            ),
            details: serde_json::json!({ "replay": kind, "speed": opts.speed }),
        },
        cfg,
    )
    .with_markers(markers);
    let live = LiveStatus::new(out, opts.bar, Vec::new());
    let collector = EventCollector::default();
    let events = collector.handle();
    let mut sinks: Vec<Box<dyn crate::pipeline::Sink>> =
        vec![Box::new(live), Box::new(report), Box::new(collector)];
    if let Some(w) = &opts.web {
        sinks.insert(0, Box::new(w.sink(true)));
    }
    let (source, lsl) = if opts.lsl {
        let id = format!("knip replay {}", opts.input.display());
        // Device time follows the host's only at the original pace.
        let (s, p) = crate::sink::lsl::attach(source, &id, opts.speed == Some(1.0))?;
        sinks.push(Box::new(crate::sink::lsl::LslMarkerSink::new(p.clone())));
        (s, Some(p))
    } else {
        (source, None)
    };
    let end = pipeline::run(source, cfg, sinks, pace);
    warnings.extend(lsl.as_ref().and_then(crate::sink::lsl::finish));
    let end = end?;
    let link = link.map(|l| snapshot(&l));
    if let Some(l) = &link {
        write_link_json(&opts.out_dir, l)?;
        if l.torn_bytes > 0 {
            warnings.push(format!(
                "{}: the last {} bytes are a torn record (the recorder was killed) and were \
                 dropped",
                opts.input.display(),
                l.torn_bytes
            ));
        }
    }
    // The run's warnings repeat the reader's found at open (and add those found later).
    for w in &end.warnings {
        if !warnings.contains(w) {
            warnings.push(w.clone());
        }
    }
    let mut events = events.lock().map(|v| v.clone()).unwrap_or_default();
    events.sort_by(|a, b| a.onset_s.total_cmp(&b.onset_s));
    Ok(ReplayOutcome {
        out_dir: opts.out_dir.clone(),
        kind,
        events,
        end,
        link,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{ChannelSpec, Role};

    #[test]
    fn a_250_hz_cyton_is_warned_about() {
        let spec = StreamSpec {
            channels: vec![
                ChannelSpec::new(Role::PfmEmg, 250.0),
                ChannelSpec::new(Role::Pressure, 250.0),
            ],
            start_time_s: 0.0,
        };
        let w = stream_warnings(
            &spec,
            Some(&WireFormat::Cyton(
                crate::source::cyton::CytonConfig::default(),
            )),
        );
        assert_eq!(w.len(), 1);
        assert!(
            w[0].contains("250 Hz") && w[0].contains("125 Hz"),
            "{}",
            w[0]
        );
        let fast = StreamSpec {
            channels: vec![ChannelSpec::new(Role::PfmEmg, 2000.0)],
            start_time_s: 0.0,
        };
        assert!(stream_warnings(&fast, None).is_empty());
    }
}
