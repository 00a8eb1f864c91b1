//! The JSON sidecar written beside every knip recording (`FILE.json` next to `FILE.csv`):
//! everything needed to read the samples back and reproduce the analysis.

use crate::config::AnalysisConfig;
use crate::error::InputError;
use crate::frame::{ChannelSpec, StreamSpec};
use crate::limits::excerpt;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const SIDECAR_FORMAT: &str = "knip-recording";
pub const SIDECAR_VERSION: u32 = 1;
/// Channels a recording can have (knip records three roles; EDF files have a few dozen).
pub const MAX_CHANNELS: usize = 256;
/// Device-clock start of a recording, seconds: at most a century of device uptime.
pub const MAX_START_TIME_S: f64 = 3.2e9;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sidecar {
    /// Always `knip-recording`.
    pub format: String,
    pub format_version: u32,
    /// `knip <version>` that wrote the file.
    pub software: String,
    /// Where the samples came from (`simulator`, a port and device name, ...).
    pub device: String,
    /// Channels with roles, units and each channel's own rate.
    pub channels: Vec<ChannelSpec>,
    /// Device-clock time of sample 0, seconds.
    pub start_time_s: f64,
    /// Conditioning and detector settings in force when recording (filters, notch on/off, ...).
    pub analysis: AnalysisConfig,
    /// Protocol the session followed, if any.
    pub protocol: Option<String>,
    /// Simulator seed, for simulated recordings.
    pub seed: Option<u64>,
    /// Samples lost in transmission (0 for files and the simulator).
    pub lost_samples: u64,
    /// Free text (probe, posture, ...).
    pub notes: Option<String>,
    /// Wall-clock time of sample 0, RFC 3339 UTC (e.g. `2026-11-27T09:30:00.250Z`); the EDF
    /// export's start date and time.
    #[serde(default)]
    pub started_at: Option<String>,
    /// Probe or electrodes (e.g. `endovaginal EMG probe`, `perianal surface`, `Peritron`).
    #[serde(default)]
    pub probe: Option<String>,
    /// Posture during the session (`lying`, `sitting`, `standing`, `walking`).
    #[serde(default)]
    pub posture: Option<String>,
    /// Pseudonymous patient id (never a name): the key of the progress database.
    #[serde(default)]
    pub patient_id: Option<String>,
    /// A guided session: everything needed to replay it with the same repetitions and verdicts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<GuidedSessionInfo>,
}

/// How a guided session was run: the protocol and scoring used, the calibration it started
/// with, and the user's pauses on the device clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuidedSessionInfo {
    pub protocol: crate::session::protocol::Protocol,
    pub scoring: crate::session::score::ScoringConfig,
    /// The calibration the session started with (saved or stored); `None`: it calibrated itself
    /// (rest baseline and maximal squeezes at the start, found again on replay).
    pub calibration: Option<crate::session::calibrate::Calibration>,
    /// Where that calibration came from, in words.
    pub calibration_source: String,
    pub pause_mode: crate::session::run::PauseMode,
    /// User pauses (device times, start and end) that stopped the protocol.
    #[serde(default)]
    pub pauses: Vec<(f64, f64)>,
    /// Markers dropped with `m` (device time, label).
    #[serde(default)]
    pub markers: Vec<(f64, String)>,
    /// Ended with `q` or Ctrl-C before the protocol was over.
    #[serde(default)]
    pub stopped_early: bool,
}

/// The current time as RFC 3339 UTC with milliseconds (the sidecar's `started_at`).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Sidecar {
    pub fn new(device: &str, spec: &StreamSpec, analysis: &AnalysisConfig) -> Self {
        Sidecar {
            format: SIDECAR_FORMAT.to_string(),
            format_version: SIDECAR_VERSION,
            software: format!("knip {}", env!("CARGO_PKG_VERSION")),
            device: device.to_string(),
            channels: spec.channels.clone(),
            start_time_s: spec.start_time_s,
            analysis: analysis.clone(),
            protocol: None,
            seed: None,
            lost_samples: 0,
            notes: None,
            started_at: None,
            probe: None,
            posture: None,
            patient_id: None,
            session: None,
        }
    }

    /// Every number the reader sizes or divides by is plausible (a damaged or hand-edited
    /// sidecar with `rate_hz` 1e12 would otherwise ask for terabytes). The error names the field.
    pub fn check(&self) -> Result<(), String> {
        use crate::limits::{excerpt, SAMPLE_RATE_HZ};
        if self.channels.is_empty() || self.channels.len() > MAX_CHANNELS {
            return Err(format!(
                "\"channels\" lists {} channels; a recording has 1–{MAX_CHANNELS}",
                self.channels.len()
            ));
        }
        for (i, ch) in self.channels.iter().enumerate() {
            SAMPLE_RATE_HZ.check(ch.rate_hz).map_err(|e| {
                format!(
                    "\"channels\"[{i}] (\"{}\") \"rate_hz\": {e}",
                    excerpt(&ch.name, 40)
                )
            })?;
        }
        if !(self.start_time_s.is_finite() && self.start_time_s.abs() <= MAX_START_TIME_S) {
            return Err(format!(
                "\"start_time_s\" {} is outside ±{MAX_START_TIME_S} s",
                self.start_time_s
            ));
        }
        Ok(())
    }

    pub fn stream_spec(&self) -> StreamSpec {
        StreamSpec {
            channels: self.channels.clone(),
            start_time_s: self.start_time_s,
        }
    }
}

/// A sidecar is a few KB; a larger `.json` beside a recording is not one.
const MAX_SIDECAR_BYTES: u64 = 16 << 20;

/// Loads `FILE.json` beside `FILE.csv` if it is a knip sidecar. Another JSON file there is
/// ignored with a warning; a knip sidecar that does not parse is an error.
pub fn load_beside(path: &Path, warnings: &mut Vec<String>) -> Result<Option<Sidecar>, InputError> {
    let json_path = path.with_extension("json");
    if json_path == path || !json_path.is_file() {
        return Ok(None);
    }
    let open_err = |source| InputError::Open {
        path: json_path.clone(),
        source,
    };
    let size = std::fs::metadata(&json_path).map_err(open_err)?.len();
    if size > MAX_SIDECAR_BYTES {
        warnings.push(format!(
            "{} is {size} bytes, too large for a knip sidecar; read as a file without sidecar",
            json_path.display()
        ));
        return Ok(None);
    }
    let text = std::fs::read_to_string(&json_path).map_err(open_err)?;
    let value: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            warnings.push(format!(
                "{} is not JSON ({}); read as a file without sidecar",
                json_path.display(),
                excerpt(&e.to_string(), 200)
            ));
            return Ok(None);
        }
    };
    if value.get("format").and_then(|f| f.as_str()) != Some(SIDECAR_FORMAT) {
        warnings.push(format!(
            "{} is not a knip sidecar (no \"format\": \"{SIDECAR_FORMAT}\"); ignored",
            json_path.display()
        ));
        return Ok(None);
    }
    let unusable = |why: String| InputError::Format {
        path: json_path.clone(),
        message: format!(
            "the knip sidecar cannot be read: {why}. Restore it from a backup or move it away to \
             read the CSV without it"
        ),
    };
    let sidecar: Sidecar =
        serde_json::from_value(value).map_err(|e| unusable(excerpt(&e.to_string(), 200)))?;
    sidecar.check().map_err(unusable)?;
    Ok(Some(sidecar))
}
