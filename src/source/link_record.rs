//! Writing what a link receives: the decoded samples (`FILE.csv` + sidecar), every byte with
//! its host time (`FILE.raw`) and the lost runs (`FILE.gaps.csv`). The link source calls it;
//! reading never depends on it.

use super::rawlog::{RawHeader, RawLogWriter};
use super::transport_event::TransportEvent;
use crate::error::OutputError;
use crate::sidecar::Sidecar;
use crate::sink::record::RecordingWriter;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The CSV, raw log and gap list are flushed to the operating system at least this often.
pub const RECORD_FLUSH_EVERY_S: f64 = 0.25;

/// Why samples are missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GapCause {
    /// Counter gap, corrupted or invalid sample on the wire.
    Wire,
    /// The device was unplugged (length estimated from host time).
    Unplugged,
}

/// A run of lost samples (all channels), in device time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    /// First missing sample index (at the stream's rate) and how many.
    pub start_index: u64,
    pub lost_samples: u64,
    pub start_s: f64,
    pub end_s: f64,
    pub cause: GapCause,
}

/// Where a link records: `FILE.csv` + `FILE.json` (samples), `FILE.raw` (bytes),
/// `FILE.gaps.csv` (lost runs).
pub struct LinkRecorder {
    pub(super) csv: RecordingWriter,
    pub(super) raw: RawLogWriter,
    gaps: csv::Writer<std::fs::File>,
    gaps_path: PathBuf,
    last_flush: Instant,
}

/// The files of a recording made from `csv_path`.
pub fn recording_paths(csv_path: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let stem = csv_path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "recording".into());
    (
        csv_path.with_extension("json"),
        csv_path.with_file_name(format!("{stem}.raw")),
        csv_path.with_file_name(format!("{stem}.gaps.csv")),
    )
}

impl LinkRecorder {
    pub(super) fn create(
        csv_path: &Path,
        sidecar: &Sidecar,
        header: &RawHeader,
        early: &[TransportEvent],
    ) -> Result<LinkRecorder, OutputError> {
        let (_, raw_path, gaps_path) = recording_paths(csv_path);
        let csv = RecordingWriter::create(csv_path, sidecar)?;
        let mut raw = RawLogWriter::create(&raw_path, header)
            .map_err(|e| OutputError::write(&raw_path, e))?;
        for e in early {
            raw.append(e)
                .map_err(|e| OutputError::write(&raw_path, e))?;
        }
        raw.flush().map_err(|e| OutputError::write(&raw_path, e))?;
        let f = crate::private_file::create_new(&gaps_path)
            .map_err(|e| OutputError::write(&gaps_path, e))?;
        let mut gaps = csv::Writer::from_writer(f);
        gaps.write_record(["start_s", "end_s", "start_index", "lost_samples", "cause"])
            .map_err(std::io::Error::from)
            .and_then(|_| gaps.flush())
            .map_err(|e| OutputError::write(&gaps_path, e))?;
        Ok(LinkRecorder {
            csv,
            raw,
            gaps,
            gaps_path,
            last_flush: Instant::now(),
        })
    }

    pub(super) fn gap(&mut self, g: &Gap) -> Result<(), OutputError> {
        let cause = match g.cause {
            GapCause::Wire => "wire",
            GapCause::Unplugged => "unplugged",
        };
        self.gaps
            .write_record([
                format!("{:.6}", g.start_s),
                format!("{:.6}", g.end_s),
                g.start_index.to_string(),
                g.lost_samples.to_string(),
                cause.to_string(),
            ])
            .map_err(|e| OutputError::write(&self.gaps_path, e.into()))
    }

    pub(super) fn flush_if_due(&mut self) -> Result<(), OutputError> {
        if self.last_flush.elapsed().as_secs_f64() >= RECORD_FLUSH_EVERY_S {
            self.flush()?;
        }
        Ok(())
    }

    pub(super) fn flush(&mut self) -> Result<(), OutputError> {
        self.last_flush = Instant::now();
        self.csv.flush()?;
        self.raw
            .flush()
            .map_err(|e| OutputError::write(self.raw.path(), e))?;
        self.gaps
            .flush()
            .map_err(|e| OutputError::write(&self.gaps_path, e))
    }

    pub(super) fn finish(mut self) -> Result<(), OutputError> {
        self.gaps
            .flush()
            .map_err(|e| OutputError::write(&self.gaps_path, e))?;
        self.raw
            .sync()
            .map_err(|e| OutputError::write(self.raw.path(), e))?;
        self.csv.finish()
    }
}
