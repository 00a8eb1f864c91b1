//! Everything that decides how a device's bytes become blocks: the wire format with its
//! settings and the channels wanted (stored in the raw log's header, so a replay decodes alike).

use super::bitalino::BitalinoConfig;
use super::cyton::CytonConfig;
use super::line::LineConfig;
use crate::frame::Role;
use serde::{Deserialize, Serialize};

/// Which wire format a device speaks, with its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "format", rename_all = "snake_case")]
pub enum WireFormat {
    Line(LineConfig),
    Cyton(CytonConfig),
    /// A Cyton with the Daisy module: 16 channels at 125 Hz.
    CytonDaisy(CytonConfig),
    /// PLUX BITalino (r)evolution in live mode.
    Bitalino(BitalinoConfig),
}

impl WireFormat {
    pub fn name(&self) -> &'static str {
        match self {
            WireFormat::Line(_) => "line",
            WireFormat::Cyton(_) => "cyton",
            WireFormat::CytonDaisy(_) => "cyton-daisy",
            WireFormat::Bitalino(_) => "bitalino",
        }
    }
}

/// A channel wanted from the device: its role and which column feeds it (1-based; `None` =
/// the next column in order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelRequest {
    pub role: Role,
    pub column: Option<usize>,
}

/// Parse `pfm_emg,abd_emg` or `pfm_emg:1,abd_emg:3` (role, optionally `:column`, 1-based).
pub fn parse_channel_requests(text: &str) -> Result<Vec<ChannelRequest>, String> {
    text.split(',')
        .filter(|t| !t.trim().is_empty())
        .map(|t| {
            let (role, column) = match t.split_once([':', '=']) {
                Some((r, c)) => {
                    let c = c
                        .trim()
                        .parse::<usize>()
                        .ok()
                        .filter(|c| *c >= 1)
                        .ok_or_else(|| {
                            format!("`{t}`: the column after the role must be a number from 1")
                        })?;
                    (r.trim(), Some(c))
                }
                None => (t.trim(), None),
            };
            let role = Role::from_column_name(role).ok_or_else(|| {
                format!("unknown channel role `{role}`: use pfm_emg, abd_emg or pressure")
            })?;
            Ok(ChannelRequest { role, column })
        })
        .collect()
}

/// Everything that decides how bytes become blocks (stored in the raw log's header).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkConfig {
    pub wire: WireFormat,
    /// Empty: columns named like roles are used; a single column is pelvic-floor EMG; a Cyton
    /// gives channel 1 pelvic floor and channel 2 abdominal.
    pub channels: Vec<ChannelRequest>,
    /// Stop after this much device time, seconds.
    pub duration_s: Option<f64>,
    /// Give up waiting for an unplugged device after this long, seconds (`None`: wait until
    /// stopped).
    pub reconnect_timeout_s: Option<f64>,
    /// Give up if no sample line arrives within this long after opening, seconds.
    pub probe_timeout_s: f64,
}

impl LinkConfig {
    pub fn new(wire: WireFormat) -> Self {
        LinkConfig {
            wire,
            channels: Vec::new(),
            duration_s: None,
            reconnect_timeout_s: None,
            probe_timeout_s: 5.0,
        }
    }
}
