//! Writing knip recordings: a CSV of samples plus the JSON sidecar that describes them.
//!
//! Channels may have different rates. The CSV has one row per tick of the fastest channel
//! (`time_s` = start + row / fastest rate); a slower channel's sample sits on the row nearest its
//! own time and its cell is empty on the other rows. [`crate::source::csv_file::CsvSource`] reads
//! the file back, using the sidecar for roles, units and rates, and the row times to place each
//! sample (so samples lost before recording stay lost, at the right index).
//!
//! The file is flushed to the operating system at least once per second of signal, so a crash
//! loses at most about a second; the sidecar is written first, before any sample.

use crate::error::OutputError;
use crate::frame::Block;
use crate::sidecar::Sidecar;
use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};

/// Write the CSV to the operating system at least this often, seconds of signal.
pub const FLUSH_EVERY_S: f64 = 1.0;
/// A channel that stops delivering holds back the rows of the others; beyond this lag, seconds,
/// rows are written without it (its late samples are then dropped and counted as lost).
pub const MAX_CHANNEL_LAG_S: f64 = 2.0;

struct ChannelState {
    /// Fastest rate / this channel's rate (≥ 1).
    row_ratio: f64,
    /// Next sample index expected from the blocks.
    next_index: u64,
    /// Samples received but not yet written: (row, value).
    pending: VecDeque<(u64, f64)>,
}

impl ChannelState {
    fn row_of(&self, index: u64) -> u64 {
        (index as f64 * self.row_ratio).round() as u64
    }
}

/// Writes a knip recording: `FILE.csv` with `time_s,<channel names>` and `FILE.json`.
pub struct RecordingWriter {
    csv_path: PathBuf,
    json_path: PathBuf,
    out: csv::Writer<File>,
    sidecar: Sidecar,
    /// The sidecar as last written to disk.
    written_sidecar: Sidecar,
    channels: Vec<ChannelState>,
    row_rate_hz: f64,
    time_decimals: usize,
    /// Rows before this one are written (or were skipped).
    next_row: u64,
    last_flush_row: u64,
    flush_every_rows: u64,
    max_lag_rows: u64,
    /// Samples lost before they reached the writer (index jumps) or dropped as too late.
    lost: u64,
    line: String,
}

fn invalid(path: &Path, message: String) -> OutputError {
    OutputError::write(
        path,
        std::io::Error::new(std::io::ErrorKind::InvalidInput, message),
    )
}

fn sidecar_text(json_path: &Path, sidecar: &Sidecar) -> Result<String, OutputError> {
    serde_json::to_string_pretty(sidecar)
        .map(|t| t + "\n")
        .map_err(|e| invalid(json_path, format!("cannot encode the sidecar: {e}")))
}

/// Rewrites the sidecar through a temporary file renamed into place, so a crash never leaves
/// half a sidecar.
fn write_sidecar(json_path: &Path, sidecar: &Sidecar) -> Result<(), OutputError> {
    crate::private_file::write(json_path, sidecar_text(json_path, sidecar)?.as_bytes())
        .map_err(|e| OutputError::write(json_path, e))
}

fn exists(path: &Path) -> OutputError {
    OutputError::refused(
        path,
        "a file of that name exists; a recording is never replaced. Choose another --out",
    )
}

/// The first sidecar of a new recording: refused if one appeared meanwhile.
fn write_new_sidecar(json_path: &Path, sidecar: &Sidecar) -> Result<(), OutputError> {
    crate::private_file::write_new(json_path, sidecar_text(json_path, sidecar)?.as_bytes()).map_err(
        |e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => exists(json_path),
            _ => OutputError::write(json_path, e),
        },
    )
}

impl RecordingWriter {
    /// Writes the sidecar (`csv_path` with `.json`) at once, then creates the CSV with its
    /// header `time_s,<channel names>`.
    pub fn create(csv_path: &Path, sidecar: &Sidecar) -> Result<RecordingWriter, OutputError> {
        let json_path = csv_path.with_extension("json");
        if json_path == csv_path {
            return Err(invalid(
                csv_path,
                "a recording needs a .csv name; its sidecar gets the .json name".to_string(),
            ));
        }
        if sidecar.channels.is_empty() {
            return Err(invalid(
                csv_path,
                "the recording has no channels".to_string(),
            ));
        }
        for (i, ch) in sidecar.channels.iter().enumerate() {
            if !(ch.rate_hz.is_finite() && ch.rate_hz > 0.0) {
                return Err(invalid(
                    csv_path,
                    format!("channel \"{}\" has the rate {} Hz", ch.name, ch.rate_hz),
                ));
            }
            let bad = ch.name.is_empty()
                || ch.name.eq_ignore_ascii_case("time_s")
                || ch.name.starts_with('#')
                || ch
                    .name
                    .chars()
                    .any(|c| matches!(c, ',' | '"' | '\n' | '\r' | '\t' | ';'));
            if bad || sidecar.channels[..i].iter().any(|o| o.name == ch.name) {
                return Err(invalid(
                    csv_path,
                    format!(
                        "channel name \"{}\" cannot be a CSV column (empty, duplicate, time_s, or \
                         containing a separator)",
                        ch.name
                    ),
                ));
            }
        }
        // A recording is never replaced: both names must be free. The CSV is claimed first
        // (created new, empty); the sidecar is then written before any sample.
        let file = crate::private_file::create_new(csv_path).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => exists(csv_path),
            _ => OutputError::write(csv_path, e),
        })?;
        if let Err(e) = write_new_sidecar(&json_path, sidecar) {
            let _ = std::fs::remove_file(csv_path);
            return Err(e);
        }
        let row_rate_hz = sidecar
            .channels
            .iter()
            .map(|c| c.rate_hz)
            .fold(0.0, f64::max);
        let mut w = RecordingWriter {
            csv_path: csv_path.to_path_buf(),
            json_path,
            out: csv::WriterBuilder::new()
                .buffer_capacity(1 << 16)
                .from_writer(file),
            sidecar: sidecar.clone(),
            written_sidecar: sidecar.clone(),
            channels: sidecar
                .channels
                .iter()
                .map(|c| ChannelState {
                    row_ratio: row_rate_hz / c.rate_hz,
                    next_index: 0,
                    pending: VecDeque::new(),
                })
                .collect(),
            row_rate_hz,
            // Enough digits to tell rows apart: microseconds up to 20 kHz, nanoseconds above.
            time_decimals: if row_rate_hz <= 20_000.0 { 6 } else { 9 },
            next_row: 0,
            last_flush_row: 0,
            flush_every_rows: (FLUSH_EVERY_S * row_rate_hz).ceil().max(1.0) as u64,
            max_lag_rows: (MAX_CHANNEL_LAG_S * row_rate_hz).ceil().max(1.0) as u64,
            lost: 0,
            line: String::with_capacity(128),
        };
        w.out
            .write_record(
                std::iter::once("time_s").chain(sidecar.channels.iter().map(|c| c.name.as_str())),
            )
            .map_err(std::io::Error::from)
            .and_then(|_| w.out.flush())
            .map_err(|e| OutputError::write(&w.csv_path, e))?;
        Ok(w)
    }

    /// The sidecar that [`finish`](Self::finish) will write (change notes, protocol, ...).
    pub fn sidecar_mut(&mut self) -> &mut Sidecar {
        &mut self.sidecar
    }

    /// Samples lost so far: index jumps between blocks, plus samples dropped as too late.
    pub fn lost_samples(&self) -> u64 {
        self.lost
    }

    /// Appends a block. Blocks come in order; `block.chunks[i]` belongs to sidecar channel `i`.
    /// A chunk starting after the channel's last sample means samples were lost: they are counted
    /// (sidecar `lost_samples`) and their rows stay out of the file.
    pub fn write_block(&mut self, block: &Block) -> Result<(), OutputError> {
        if block.chunks.len() != self.channels.len() {
            return Err(invalid(
                &self.csv_path,
                format!(
                    "a block with {} channels for a recording of {}",
                    block.chunks.len(),
                    self.channels.len()
                ),
            ));
        }
        for (k, chunk) in block.chunks.iter().enumerate() {
            let ch = &mut self.channels[k];
            if chunk.samples.is_empty() {
                continue;
            }
            if chunk.start_index < ch.next_index {
                return Err(invalid(
                    &self.csv_path,
                    format!(
                        "channel \"{}\": block starts at sample {} but {} samples were already \
                         written; blocks must come in order",
                        self.sidecar.channels[k].name, chunk.start_index, ch.next_index
                    ),
                ));
            }
            self.lost += chunk.start_index - ch.next_index;
            for (i, &v) in chunk.samples.iter().enumerate() {
                let row = ch.row_of(chunk.start_index + i as u64);
                if row < self.next_row {
                    // Too late: rows up to here are already on disk.
                    self.lost += 1;
                } else {
                    ch.pending.push_back((row, v));
                }
            }
            ch.next_index = chunk.end_index();
        }
        // Every channel will only add rows at or after its horizon.
        let horizons = self.channels.iter().map(|c| c.row_of(c.next_index));
        let newest = horizons.clone().max().unwrap_or(0);
        let safe = horizons.min().unwrap_or(0);
        let limit = safe.max(newest.saturating_sub(self.max_lag_rows));
        self.write_rows_before(limit)
    }

    /// Writes every pending row before `limit`, in time order.
    fn write_rows_before(&mut self, limit: u64) -> Result<(), OutputError> {
        while let Some(row) = self
            .channels
            .iter()
            .filter_map(|c| c.pending.front().map(|p| p.0))
            .min()
            .filter(|&row| row < limit)
        {
            let t = self.sidecar.start_time_s + row as f64 / self.row_rate_hz;
            use std::fmt::Write as _;
            self.line.clear();
            let _ = write!(self.line, "{:.*}", self.time_decimals, t);
            let write_err = |e: csv::Error| OutputError::write(&self.csv_path, e.into());
            self.out.write_field(&self.line).map_err(write_err)?;
            for ch in &mut self.channels {
                self.line.clear();
                if ch.pending.front().is_some_and(|p| p.0 == row) {
                    if let Some((_, v)) = ch.pending.pop_front() {
                        write_significant(&mut self.line, v);
                    }
                }
                self.out.write_field(&self.line).map_err(write_err)?;
            }
            self.out.write_record(None::<&[u8]>).map_err(write_err)?;
            self.next_row = row + 1;
            if self.next_row - self.last_flush_row >= self.flush_every_rows {
                self.out
                    .flush()
                    .map_err(|e| OutputError::write(&self.csv_path, e))?;
                self.last_flush_row = self.next_row;
            }
        }
        Ok(())
    }

    /// The CSV file being written.
    pub fn csv_path(&self) -> &Path {
        &self.csv_path
    }

    /// Hands everything written so far to the operating system (a live recorder calls this at
    /// least once a second of wall time, so a crash loses at most that), and rewrites the
    /// sidecar if the count of lost samples changed. Rows still held back for a lagging
    /// channel stay pending.
    pub fn flush(&mut self) -> Result<(), OutputError> {
        self.out
            .flush()
            .map_err(|e| OutputError::write(&self.csv_path, e))?;
        self.last_flush_row = self.next_row;
        let total = self.sidecar.lost_samples + self.lost;
        if total != self.written_sidecar.lost_samples {
            let mut s = self.sidecar.clone();
            s.lost_samples = total;
            write_sidecar(&self.json_path, &s)?;
            self.written_sidecar = s;
        }
        Ok(())
    }

    /// Writes the remaining rows, flushes and syncs the CSV, and rewrites the sidecar if it
    /// changed (lost samples, notes).
    pub fn finish(mut self) -> Result<(), OutputError> {
        self.write_rows_before(u64::MAX)?;
        self.out
            .flush()
            .map_err(|e| OutputError::write(&self.csv_path, e))?;
        self.out
            .get_ref()
            .sync_all()
            .map_err(|e| OutputError::write(&self.csv_path, e))?;
        self.sidecar.lost_samples += self.lost;
        if self.sidecar != self.written_sidecar {
            write_sidecar(&self.json_path, &self.sidecar)?;
        }
        Ok(())
    }
}

/// Significant digits kept for sample values: 7, far below any sensor's resolution (a 24-bit
/// ADC resolves about 1 part in 10⁷ of its range) at about half the size of a full round-trip.
pub const VALUE_SIGNIFICANT_DIGITS: i32 = 7;

/// Write `v` with [`VALUE_SIGNIFICANT_DIGITS`] significant digits, trailing zeros dropped.
fn write_significant(out: &mut String, v: f64) {
    use std::fmt::Write as _;
    if v == 0.0 || !v.is_finite() {
        let _ = write!(out, "{v}");
        return;
    }
    let magnitude = v.abs().log10().floor() as i32;
    let decimals = (VALUE_SIGNIFICANT_DIGITS - 1 - magnitude).clamp(0, 15) as usize;
    let start = out.len();
    let _ = write!(out, "{v:.decimals$}");
    if decimals > 0 {
        let trimmed = out[start..]
            .trim_end_matches('0')
            .trim_end_matches('.')
            .len();
        out.truncate(start + trimmed);
    }
}
