//! Channels, roles, units and the blocks of samples that cross every stage boundary.
//!
//! Every channel has its own rate. A sample's time is always derived from the device clock:
//! `time_s = start_time_s + index / rate_hz`, never from when the host received it.
//! Stages exchange [`Block`]s: for each channel a run of consecutive samples starting at a known
//! sample index. A jump in the index between two blocks of one channel means samples were lost.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What a channel measures, which decides how it is conditioned and scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Pelvic-floor surface EMG, microvolts.
    PfmEmg,
    /// Abdominal surface EMG (lower quadrants, "channel B"), microvolts. Should stay quiet.
    AbdEmg,
    /// Probe (perineometer) pressure, cmH2O.
    Pressure,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::PfmEmg, Role::AbdEmg, Role::Pressure];

    /// The column name used in knip's own recordings.
    pub fn column_name(self) -> &'static str {
        match self {
            Role::PfmEmg => "pfm_emg",
            Role::AbdEmg => "abd_emg",
            Role::Pressure => "pressure",
        }
    }

    /// The unit knip stores this role in.
    pub fn default_unit(self) -> &'static str {
        match self {
            Role::PfmEmg | Role::AbdEmg => "uV",
            Role::Pressure => "cmH2O",
        }
    }

    pub fn is_emg(self) -> bool {
        matches!(self, Role::PfmEmg | Role::AbdEmg)
    }

    /// Pelvic-floor channels are the ones whose contractions count as squeezes.
    pub fn is_pelvic_floor(self) -> bool {
        matches!(self, Role::PfmEmg | Role::Pressure)
    }

    pub fn from_column_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.column_name() == name)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.column_name())
    }
}

/// What the samples of a channel already are. Raw EMG is band-passed and enveloped; an envelope
/// (e.g. a device or another tool already computed RMS) is used as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    #[default]
    Raw,
    Envelope,
}

/// One channel of a stream: its name in the file, its role, unit and sampling rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelSpec {
    /// Column name in the source (e.g. `pfm_emg`, or `B1` in someone else's file).
    pub name: String,
    pub role: Role,
    /// Unit of the values as stored (`uV`, `cmH2O`, `mmHg`, `ADC counts`, ...).
    pub unit: String,
    pub rate_hz: f64,
    #[serde(default)]
    pub kind: SignalKind,
}

impl ChannelSpec {
    pub fn new(role: Role, rate_hz: f64) -> Self {
        ChannelSpec {
            name: role.column_name().to_string(),
            role,
            unit: role.default_unit().to_string(),
            rate_hz,
            kind: SignalKind::Raw,
        }
    }

    pub fn period_s(&self) -> f64 {
        1.0 / self.rate_hz
    }
}

/// Description of a whole stream: its channels and the device-clock time of sample index 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamSpec {
    pub channels: Vec<ChannelSpec>,
    /// Device-clock time of sample index 0 of every channel, seconds.
    pub start_time_s: f64,
}

impl StreamSpec {
    pub fn channel_index(&self, role: Role) -> Option<usize> {
        self.channels.iter().position(|c| c.role == role)
    }

    /// The device-clock time of sample `index` of channel `channel`.
    pub fn time_s(&self, channel: usize, index: u64) -> f64 {
        self.start_time_s + index as f64 / self.channels[channel].rate_hz
    }

    /// Fastest rate among the channels (the row rate of a knip CSV recording).
    pub fn max_rate_hz(&self) -> f64 {
        self.channels.iter().map(|c| c.rate_hz).fold(0.0, f64::max)
    }
}

/// A run of consecutive samples of one channel.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChannelChunk {
    /// Index (in this channel's own rate) of `samples[0]`.
    pub start_index: u64,
    pub samples: Vec<f64>,
}

impl ChannelChunk {
    /// Index one past the last sample.
    pub fn end_index(&self) -> u64 {
        self.start_index + self.samples.len() as u64
    }
}

/// A slice of time across all channels of a stream: `chunks[i]` belongs to `StreamSpec::channels[i]`.
/// Chunks of a block cover about the same span of device time; a chunk may be empty.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Block {
    pub chunks: Vec<ChannelChunk>,
}

impl Block {
    pub fn with_channels(n: usize) -> Self {
        Block {
            chunks: vec![ChannelChunk::default(); n],
        }
    }

    pub fn total_samples(&self) -> usize {
        self.chunks.iter().map(|c| c.samples.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.total_samples() == 0
    }
}
