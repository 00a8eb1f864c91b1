//! What the byte decoders of serial devices share: the rows they emit, the column layout they
//! discover, and the counters of every condition met on the wire.
//!
//! A decoder turns bytes into rows. Each row carries a *relative* sample index that counts from 0
//! at the first row after the link was (re)opened; a jump between two rows means samples were
//! lost on the wire (a counter gap, a corrupted line). The stream layer adds the offset of the
//! link epoch, so that a reconnect never shifts samples already delivered.

use serde::{Deserialize, Serialize};

/// One column a device sends, as far as the wire tells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    /// Label (`pfm` in `pfm:512`, a `# channels=` name) or `ch1`, `ch2`, … .
    pub name: String,
    /// Unit declared by the device (`# channels=pfm_emg:uV`), if any.
    pub unit: Option<String>,
}

/// What the device's stream looks like, once known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layout {
    pub columns: Vec<Column>,
    /// Rate declared by the device or fixed by the format; `None` = must come from `--rate`.
    pub rate_hz: Option<f64>,
}

/// Decoded samples: `values[k * width .. (k + 1) * width]` belongs to relative index
/// `indices[k]`. Indices increase strictly.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    pub width: usize,
    pub indices: Vec<u64>,
    pub values: Vec<f64>,
}

impl Rows {
    pub fn len(&self) -> usize {
        self.indices.len()
    }
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
    pub fn clear(&mut self) {
        self.indices.clear();
        self.values.clear();
    }
    pub fn row(&self, k: usize) -> &[f64] {
        &self.values[k * self.width..(k + 1) * self.width]
    }
    pub(crate) fn push(&mut self, index: u64, values: &[f64]) {
        self.width = values.len();
        self.indices.push(index);
        self.values.extend_from_slice(values);
    }
}

/// Counters of everything met on the wire. Each is a reported condition, never a crash.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LinkStats {
    /// Bytes received from the port.
    pub bytes: u64,
    /// Samples (rows) delivered.
    pub samples: u64,
    /// Samples known to be missing: counter gaps, corrupted or invalid sample lines, time
    /// spent unplugged.
    pub lost_samples: u64,
    /// Of `lost_samples`, those lost while the device was unplugged (estimated from host time:
    /// the device clock restarts when it is replugged).
    pub lost_while_unplugged: u64,
    /// Text lines: an incomplete line dropped after the port was (re)opened mid-line.
    pub partial_first_lines: u64,
    /// Text lines before the first sample (boot banners, greetings).
    pub banner_lines: u64,
    /// Text lines among the samples that are words, not numbers (debug messages).
    pub text_lines: u64,
    pub blank_lines: u64,
    /// `#` lines (metadata headers and comments).
    pub header_lines: u64,
    /// Sample lines that could not be read (wrong column count, unreadable number, garbage).
    pub malformed_lines: u64,
    /// Sample lines longer than the decoder accepts.
    pub overlong_lines: u64,
    /// Sample lines with a NaN or infinite value.
    pub nan_values: u64,
    /// Sample lines with a value outside the declared range.
    pub out_of_range_values: u64,
    /// Repeated counter values (a sample sent twice): dropped.
    pub duplicate_samples: u64,
    /// Cyton packets or BITalino frames accepted.
    pub packets: u64,
    /// Bytes skipped while looking for the next valid Cyton packet or BITalino frame.
    pub skipped_bytes: u64,
    /// Times the Cyton or BITalino decoder lost alignment and searched for it again.
    pub resyncs: u64,
    /// BITalino frames whose CRC-4 failed while in step (each followed by a resync).
    #[serde(default)]
    pub crc_errors: u64,
    /// Times the port went away (read error, cable out).
    pub disconnects: u64,
    /// Times it came back.
    pub reconnects: u64,
}

impl LinkStats {
    /// A binary decoder steps over one byte that starts no valid packet or frame; the first
    /// one after being in step is a resync (`in_sync` is the decoder's own flag).
    pub fn skip_byte(&mut self, in_sync: &mut bool) {
        if *in_sync {
            self.resyncs += 1;
            *in_sync = false;
        }
        self.skipped_bytes += 1;
    }
}

/// Report at most this many human-readable notes of one kind per link, then only count.
pub const MAX_NOTES_PER_KIND: u64 = 5;
