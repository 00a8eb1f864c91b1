//! The raw-byte log written beside a recording (`recording.raw`): every byte read from the port,
//! with the host time it arrived, and the moments the port went away and came back. Replaying
//! it through the same decoder reproduces the session's samples, gaps and blocks exactly.
//!
//! Format: a first line `KNIPRAW1 <json>\n` (the [`RawHeader`]), then records of
//! `tag: u8, host_us: u64 LE, len: u32 LE, payload[len]`, tags `D` (bytes read), `U` (unplugged:
//! payload is the reason, UTF-8) and `R` (port reopened). A crash can tear the last record; the
//! reader stops there and says how many bytes it dropped.

use super::transport_event::{TransportEvent, TransportEventKind};
use crate::limits::{self, excerpt};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

pub const MAGIC: &str = "KNIPRAW1";
const TAG_DATA: u8 = b'D';
const TAG_UNPLUGGED: u8 = b'U';
const TAG_REPLUGGED: u8 = b'R';
/// A record longer than this is not a record (a damaged file).
const MAX_RECORD_BYTES: u32 = 1 << 24;

/// Everything needed to decode the bytes again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawHeader {
    pub software: String,
    /// The port the bytes came from.
    pub port: String,
    pub baud: u32,
    /// The decoder and channel settings of the session.
    pub link: super::link_config::LinkConfig,
    /// What the device said about itself (Cyton soft-reset reply, ...).
    pub device: String,
}

/// Channels a session asks for at most (`--channels`), and the highest column number.
const MAX_CHANNEL_REQUESTS: usize = 64;
const MAX_COLUMN: usize = 4096;

impl RawHeader {
    /// Every number the replay sizes, divides or waits by is plausible (`rate_hz` 1e12 would
    /// ask for terabytes). The error names the field and the range.
    pub fn check(&self) -> Result<(), String> {
        use super::link_config::WireFormat;
        let field = |name: &str, e: String| format!("\"{name}\": {e}");
        limits::BAUD
            .check(self.baud)
            .map_err(|e| field("baud", e))?;
        match &self.link.wire {
            WireFormat::Line(c) => {
                if let Some(r) = c.rate_hz {
                    limits::SAMPLE_RATE_HZ
                        .check(r)
                        .map_err(|e| field("rate_hz", e))?;
                }
                if let Some(b) = c.seq_bits {
                    if !matches!(b, 8 | 16 | 32) {
                        return Err(field("seq_bits", format!("{b} is not 8, 16 or 32")));
                    }
                }
                if let Some((lo, hi)) = c.value_range {
                    if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                        return Err(field(
                            "value_range",
                            format!("[{lo}, {hi}] is not a range of finite numbers"),
                        ));
                    }
                }
            }
            WireFormat::Cyton(c) | WireFormat::CytonDaisy(c) => {
                limits::GAIN.check(c.gain).map_err(|e| field("gain", e))?;
            }
            WireFormat::Bitalino(c) => c.check().map_err(|e| field("bitalino", e))?,
        }
        if self.link.channels.len() > MAX_CHANNEL_REQUESTS {
            return Err(field(
                "channels",
                format!(
                    "{} channels; at most {MAX_CHANNEL_REQUESTS}",
                    self.link.channels.len()
                ),
            ));
        }
        for c in &self.link.channels {
            if let Some(col) = c.column {
                if col == 0 || col > MAX_COLUMN {
                    return Err(field(
                        "channels",
                        format!("column {col} is outside 1–{MAX_COLUMN}"),
                    ));
                }
            }
        }
        if let Some(d) = self.link.duration_s {
            limits::RECORD_S
                .check(d)
                .map_err(|e| field("duration_s", e))?;
        }
        if let Some(d) = self.link.reconnect_timeout_s {
            limits::RECONNECT_S
                .check(d)
                .map_err(|e| field("reconnect_timeout_s", e))?;
        }
        Ok(())
    }
}

/// Appends records; flushed by the caller at least once a second.
pub struct RawLogWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl RawLogWriter {
    /// Creates the log; an existing file at `path` is never replaced (`AlreadyExists`).
    pub fn create(path: &Path, header: &RawHeader) -> std::io::Result<RawLogWriter> {
        let mut out = BufWriter::with_capacity(1 << 16, crate::private_file::create_new(path)?);
        let json = serde_json::to_string(header).map_err(std::io::Error::other)?;
        writeln!(out, "{MAGIC} {json}")?;
        out.flush()?;
        Ok(RawLogWriter {
            path: path.to_path_buf(),
            out,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn append(&mut self, e: &TransportEvent) -> std::io::Result<()> {
        let (tag, payload): (u8, &[u8]) = match &e.kind {
            TransportEventKind::Data(b) => (TAG_DATA, b),
            TransportEventKind::Unplugged(reason) => (TAG_UNPLUGGED, reason.as_bytes()),
            TransportEventKind::Replugged => (TAG_REPLUGGED, &[]),
            TransportEventKind::Idle | TransportEventKind::End => return Ok(()),
        };
        let host_us = (e.host_s.max(0.0) * 1e6).round() as u64;
        self.out.write_all(&[tag])?;
        self.out.write_all(&host_us.to_le_bytes())?;
        self.out.write_all(&(payload.len() as u32).to_le_bytes())?;
        self.out.write_all(payload)
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }

    pub fn sync(&mut self) -> std::io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_all()
    }
}

/// Why a raw log cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum RawLogError {
    #[error("{}: cannot open: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a knip raw-byte log (it must start with `{MAGIC}`): {message}", path.display())]
    Format { path: PathBuf, message: String },
    #[error("{}: the header is damaged: {message}. Is this the recording.raw knip wrote?", path.display())]
    Header { path: PathBuf, message: String },
    #[error("{}: read failed: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Reads a raw log record by record.
pub struct RawLogReader {
    path: PathBuf,
    input: BufReader<File>,
    header: RawHeader,
    /// Bytes of a torn last record (a crash while writing), dropped.
    pub torn_bytes: u64,
}

impl RawLogReader {
    pub fn open(path: &Path) -> Result<RawLogReader, RawLogError> {
        let file = File::open(path).map_err(|e| RawLogError::Open {
            path: path.to_path_buf(),
            source: e,
        })?;
        let mut input = BufReader::new(file);
        let mut first = Vec::new();
        let format = |m: String| RawLogError::Format {
            path: path.to_path_buf(),
            message: m,
        };
        // The header line, at most 1 MB.
        let mut byte = [0u8; 1];
        loop {
            match input.read(&mut byte) {
                Ok(0) => return Err(format("no header line".into())),
                Ok(_) if byte[0] == b'\n' => break,
                Ok(_) => first.push(byte[0]),
                Err(e) => {
                    return Err(RawLogError::Read {
                        path: path.to_path_buf(),
                        source: e,
                    })
                }
            }
            if first.len() > 1 << 20 {
                return Err(format("header line too long".into()));
            }
        }
        let text = String::from_utf8_lossy(&first);
        let json = text
            .strip_prefix(MAGIC)
            .ok_or_else(|| format("wrong first line".into()))?;
        let header: RawHeader = serde_json::from_str(json.trim())
            .map_err(|e| format(format!("header: {}", excerpt(&e.to_string(), 200))))?;
        header.check().map_err(|m| RawLogError::Header {
            path: path.to_path_buf(),
            message: m,
        })?;
        Ok(RawLogReader {
            path: path.to_path_buf(),
            input,
            header,
            torn_bytes: 0,
        })
    }

    pub fn header(&self) -> &RawHeader {
        &self.header
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next record, `None` at the end (or at a torn last record, counted in `torn_bytes`).
    pub fn next_event(&mut self) -> Result<Option<TransportEvent>, RawLogError> {
        let mut head = [0u8; 13];
        let got = read_full(&mut self.input, &mut head).map_err(|e| self.read_error(e))?;
        if got < head.len() {
            self.torn_bytes += got as u64;
            return Ok(None);
        }
        let mut us = [0u8; 8];
        us.copy_from_slice(&head[1..9]);
        let mut len = [0u8; 4];
        len.copy_from_slice(&head[9..13]);
        let len = u32::from_le_bytes(len);
        if len > MAX_RECORD_BYTES || !matches!(head[0], TAG_DATA | TAG_UNPLUGGED | TAG_REPLUGGED) {
            return Err(RawLogError::Format {
                path: self.path.clone(),
                message: format!("damaged record (tag {:#04x}, length {len})", head[0]),
            });
        }
        let mut payload = vec![0u8; len as usize];
        let got = read_full(&mut self.input, &mut payload).map_err(|e| self.read_error(e))?;
        if got < payload.len() {
            self.torn_bytes += (head.len() + got) as u64;
            return Ok(None);
        }
        let host_s = u64::from_le_bytes(us) as f64 / 1e6;
        let kind = match head[0] {
            TAG_DATA => TransportEventKind::Data(payload),
            TAG_UNPLUGGED => {
                TransportEventKind::Unplugged(String::from_utf8_lossy(&payload).to_string())
            }
            _ => TransportEventKind::Replugged,
        };
        Ok(Some(TransportEvent { host_s, kind }))
    }

    fn read_error(&self, e: std::io::Error) -> RawLogError {
        RawLogError::Read {
            path: self.path.clone(),
            source: e,
        }
    }
}

/// Read until `buf` is full or the input ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
