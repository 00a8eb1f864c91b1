//! The JSON sidecar written beside every knip recording (`FILE.json` next to `FILE.csv`):
//! everything needed to read the samples back and reproduce the analysis.

use crate::config::AnalysisConfig;
use crate::frame::{ChannelSpec, StreamSpec};
use serde::{Deserialize, Serialize};

pub const SIDECAR_FORMAT: &str = "knip-recording";
pub const SIDECAR_VERSION: u32 = 1;

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
        }
    }

    pub fn stream_spec(&self) -> StreamSpec {
        StreamSpec {
            channels: self.channels.clone(),
            start_time_s: self.start_time_s,
        }
    }
}
