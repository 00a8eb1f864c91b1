//! EDF+ and BDF+ writer: research exports that EDFbrowser, pyedflib, MNE and EEGLAB open.
//!
//! - Each channel keeps its own rate: a data record lasts `record_duration_s` (the shortest of
//!   1, 0.5, 0.25, 0.2, 0.1, 2, 4, 5, 10 s that holds a whole number of samples of every channel),
//!   and every channel writes `rate × duration` samples per record (2000 EMG + 100 pressure).
//! - Physical range per channel from that channel's own minimum and maximum, rounded outwards to
//!   the header's 8 characters; the digital range is the whole 16-bit (EDF) or 24-bit (BDF) span,
//!   so a value comes back within half a quantisation step. A constant channel gets the range
//!   value ± 1 (EDF forbids physical minimum = maximum).
//! - Start date and time in the header (whole seconds); the sub-second part of the start goes
//!   into the time-keeping annotation of every record, as EDF+ specifies.
//! - Annotations (cues, phases, contractions, coughs, strains, lost-sample gaps, markers) in an
//!   `EDF Annotations` / `BDF Annotations` signal, each in the record that holds its onset.
//! - Samples lost before the writer (an index jump) are filled with the channel's last value so
//!   the file stays continuous (EDF+C, which every reader supports) and a `lost samples`
//!   annotation marks where and how long.
//!
//! Samples are spooled to a temporary file per channel while the stream runs (memory stays
//! flat; ranges are only known at the end) and the EDF is assembled by [`EdfWriter::finish`].
//! Files are created readable by their owner only.

use crate::error::OutputError;
use crate::frame::{Block, StreamSpec};
use crate::private_file;
use chrono::{DateTime, Datelike, Timelike, Utc};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Record durations tried, seconds, in order of preference.
const RECORD_DURATIONS_S: [f64; 10] = [1.0, 0.5, 0.25, 0.2, 0.1, 2.0, 4.0, 5.0, 10.0, 0.05];
/// Header number fields are 8 ASCII characters.
const FIELD_CHARS: usize = 8;

/// 16-bit EDF+ or 24-bit BDF+.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdfFormat {
    Edf,
    Bdf,
}

impl EdfFormat {
    pub fn parse(s: &str) -> Option<EdfFormat> {
        match s.trim().to_ascii_lowercase().as_str() {
            "edf" | "edf+" => Some(EdfFormat::Edf),
            "bdf" | "bdf+" => Some(EdfFormat::Bdf),
            _ => None,
        }
    }

    /// From a file name's extension (`.edf`, `.bdf`, any case).
    pub fn from_path(path: &Path) -> Option<EdfFormat> {
        path.extension()
            .and_then(|e| e.to_str())
            .and_then(EdfFormat::parse)
    }

    pub fn bytes_per_sample(self) -> usize {
        match self {
            EdfFormat::Edf => 2,
            EdfFormat::Bdf => 3,
        }
    }

    pub fn digital_range(self) -> (i32, i32) {
        match self {
            EdfFormat::Edf => (-32768, 32767),
            EdfFormat::Bdf => (-8_388_608, 8_388_607),
        }
    }

    pub fn annotation_label(self) -> &'static str {
        match self {
            EdfFormat::Edf => "EDF Annotations",
            EdfFormat::Bdf => "BDF Annotations",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            EdfFormat::Edf => "EDF+",
            EdfFormat::Bdf => "BDF+",
        }
    }
}

/// One annotation. `onset_s` is device-clock time (as in events and cues); the writer makes it
/// relative to the file's start.
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    pub onset_s: f64,
    pub duration_s: Option<f64>,
    pub text: String,
}

/// Who and what the file is about (EDF+ patient and recording fields).
#[derive(Debug, Clone, PartialEq)]
pub struct EdfIdentity {
    /// Pseudonymous patient code (no names); `X` when unknown.
    pub patient_code: String,
    /// Device (equipment) name.
    pub equipment: String,
    /// Wall-clock time of sample 0.
    pub start: DateTime<Utc>,
}

/// What [`EdfWriter::finish`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct EdfSummary {
    pub path: PathBuf,
    pub format: EdfFormat,
    pub records: u64,
    pub record_duration_s: f64,
    /// Per signal channel: (physical min, physical max, quantisation step) as written.
    pub ranges: Vec<(f64, f64, f64)>,
    pub annotations: usize,
    pub lost_samples: u64,
}

struct Spool {
    path: PathBuf,
    out: Option<BufWriter<File>>,
    next_index: u64,
    min: f64,
    max: f64,
    last: f64,
}

/// Writes one EDF+/BDF+ file from blocks of raw samples.
pub struct EdfWriter {
    path: PathBuf,
    format: EdfFormat,
    spec: StreamSpec,
    identity: EdfIdentity,
    record_duration_s: f64,
    samples_per_record: Vec<usize>,
    spools: Vec<Spool>,
    gaps: Vec<Annotation>,
    lost: u64,
}

fn invalid(path: &Path, message: String) -> OutputError {
    OutputError::write(
        path,
        std::io::Error::new(std::io::ErrorKind::InvalidInput, message),
    )
}

/// Longest data record considered, seconds (34.81 Hz needs 100 s for a whole number of samples).
const MAX_RECORD_S: f64 = 100.0;

fn samples_per_record(rates_hz: &[f64], d: f64) -> Option<Vec<usize>> {
    rates_hz
        .iter()
        .map(|&r| {
            let n = r * d;
            let k = n.round();
            ((n - k).abs() < 1e-6 && k >= 1.0).then_some(k as usize)
        })
        .collect()
}

/// The record duration for these rates: the first of the preferred durations that holds a whole
/// number of samples of every rate, else the shortest whole number of milliseconds up to 100 s
/// that does (1.852 Hz → 0.54 s, 34.81 Hz → 100 s).
pub fn record_duration_for(rates_hz: &[f64]) -> Option<(f64, Vec<usize>)> {
    RECORD_DURATIONS_S
        .iter()
        .find_map(|&d| samples_per_record(rates_hz, d).map(|s| (d, s)))
        .or_else(|| {
            (1..=(MAX_RECORD_S * 1000.0) as u32).find_map(|ms| {
                let d = ms as f64 / 1000.0;
                samples_per_record(rates_hz, d).map(|s| (d, s))
            })
        })
}

/// Why an export cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum EdfWriteError {
    /// The recording cannot be represented in EDF (rates, values too large for the header).
    #[error("{}: {message}", path.display())]
    Unsupported { path: PathBuf, message: String },
    #[error(transparent)]
    Output(#[from] OutputError),
}

fn unsupported(path: &Path, message: String) -> EdfWriteError {
    EdfWriteError::Unsupported {
        path: path.to_path_buf(),
        message,
    }
}

impl EdfWriter {
    pub fn create(
        path: &Path,
        format: EdfFormat,
        spec: &StreamSpec,
        identity: EdfIdentity,
    ) -> Result<EdfWriter, EdfWriteError> {
        if spec.channels.is_empty() {
            return Err(unsupported(path, "the recording has no channels".into()));
        }
        let rates: Vec<f64> = spec.channels.iter().map(|c| c.rate_hz).collect();
        let (record_duration_s, samples_per_record) =
            record_duration_for(&rates).ok_or_else(|| {
                invalid(
                    path,
                    format!(
                        "the rates {rates:?} Hz give no whole number of samples in any EDF data \
                     record of 0.05-10 s; resample to a rate such as 250, 1000 or 2000 Hz first"
                    ),
                )
            })?;
        let mut spools = Vec::new();
        for (i, _) in spec.channels.iter().enumerate() {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| "export".into());
            let sp = path.with_file_name(format!(".{name}.ch{i}.knip-spool"));
            let f = private_file::create(&sp).map_err(|e| OutputError::write(&sp, e))?;
            spools.push(Spool {
                path: sp,
                out: Some(BufWriter::with_capacity(1 << 16, f)),
                next_index: 0,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
                last: 0.0,
            });
        }
        Ok(EdfWriter {
            path: path.to_path_buf(),
            format,
            spec: spec.clone(),
            identity,
            record_duration_s,
            samples_per_record,
            spools,
            gaps: Vec::new(),
            lost: 0,
        })
    }

    pub fn record_duration_s(&self) -> f64 {
        self.record_duration_s
    }

    /// Appends a block of raw samples (`chunks[i]` belongs to channel `i`).
    pub fn write_block(&mut self, block: &Block) -> Result<(), OutputError> {
        for (k, chunk) in block.chunks.iter().enumerate().take(self.spools.len()) {
            if chunk.samples.is_empty() {
                continue;
            }
            let rate = self.spec.channels[k].rate_hz;
            let sp = &mut self.spools[k];
            let Some(out) = sp.out.as_mut() else {
                continue;
            };
            if chunk.start_index < sp.next_index {
                return Err(invalid(
                    &self.path,
                    format!(
                        "channel \"{}\": block starts at sample {} after sample {}; blocks must \
                         come in order",
                        self.spec.channels[k].name, chunk.start_index, sp.next_index
                    ),
                ));
            }
            let missing = chunk.start_index - sp.next_index;
            if missing > 0 {
                self.lost += missing;
                self.gaps.push(Annotation {
                    onset_s: self.spec.start_time_s + sp.next_index as f64 / rate,
                    duration_s: Some(missing as f64 / rate),
                    text: format!(
                        "lost samples: {missing} on {} (filled with the last value)",
                        self.spec.channels[k].name
                    ),
                });
                let fill = sp.last.to_le_bytes();
                for _ in 0..missing {
                    out.write_all(&fill)
                        .map_err(|e| OutputError::write(&sp.path, e))?;
                }
            }
            for &v in &chunk.samples {
                let v = if v.is_finite() { v } else { sp.last };
                sp.min = sp.min.min(v);
                sp.max = sp.max.max(v);
                sp.last = v;
                out.write_all(&v.to_le_bytes())
                    .map_err(|e| OutputError::write(&sp.path, e))?;
            }
            sp.next_index = chunk.end_index();
        }
        Ok(())
    }

    /// Writes the EDF/BDF file with `annotations` (plus the lost-sample gaps) and removes the
    /// spools. Channels that ended early are padded with their last value to whole records.
    pub fn finish(mut self, annotations: &[Annotation]) -> Result<EdfSummary, EdfWriteError> {
        let result = self.assemble(annotations);
        for sp in &mut self.spools {
            sp.out = None;
            let _ = std::fs::remove_file(&sp.path);
        }
        result
    }

    fn assemble(&mut self, annotations: &[Annotation]) -> Result<EdfSummary, EdfWriteError> {
        for sp in &mut self.spools {
            if let Some(mut out) = sp.out.take() {
                out.flush().map_err(|e| OutputError::write(&sp.path, e))?;
            }
        }
        let path = self.path.clone();
        let records = self
            .spools
            .iter()
            .zip(&self.samples_per_record)
            .map(|(s, &n)| s.next_index.div_ceil(n as u64))
            .max()
            .unwrap_or(0)
            .max(1);
        let (dmin, dmax) = self.format.digital_range();
        // Ranges, rounded outwards to what the header can hold.
        let mut scales = Vec::new();
        for (sp, ch) in self.spools.iter().zip(&self.spec.channels) {
            let (mut lo, mut hi) = if sp.min.is_finite() {
                (sp.min, sp.max)
            } else {
                (0.0, 0.0)
            };
            if hi - lo <= f64::EPSILON * lo.abs().max(hi.abs()).max(1e-300) * 16.0 {
                lo -= 1.0;
                hi += 1.0;
            }
            let lo_s = format_field(lo, Rounding::Down).ok_or_else(|| {
                unsupported(
                    &path,
                    format!(
                        "channel \"{}\": minimum {lo} does not fit EDF's 8-character field; \
                         store it in a larger unit",
                        ch.name
                    ),
                )
            })?;
            let hi_s = format_field(hi, Rounding::Up).ok_or_else(|| {
                unsupported(
                    &path,
                    format!(
                        "channel \"{}\": maximum {hi} does not fit EDF's 8-character field; \
                         store it in a larger unit",
                        ch.name
                    ),
                )
            })?;
            let plo: f64 = lo_s.parse().unwrap_or(lo);
            let phi: f64 = hi_s.parse().unwrap_or(hi);
            let gain = (phi - plo) / (dmax - dmin) as f64;
            scales.push((lo_s, hi_s, plo, phi, gain));
        }

        // Annotations: every record gets its time-keeping TAL; others go into the record
        // holding their onset.
        let frac = self.identity.start.timestamp_subsec_nanos() as f64 * 1e-9;
        let mut all: Vec<Annotation> = annotations
            .iter()
            .cloned()
            .chain(self.gaps.iter().cloned())
            .collect();
        // Whole records: a tail shorter than a record is padded, and the true end is marked.
        let end_s = self
            .spools
            .iter()
            .zip(&self.spec.channels)
            .map(|(s, c)| s.next_index as f64 / c.rate_hz)
            .fold(0.0, f64::max);
        if end_s + 1e-9 < records as f64 * self.record_duration_s {
            all.push(Annotation {
                onset_s: self.spec.start_time_s + end_s,
                duration_s: None,
                text: "end of recording (the rest of the last data record repeats the last value)"
                    .into(),
            });
        }
        all.sort_by(|a, b| a.onset_s.total_cmp(&b.onset_s));
        let mut per_record: Vec<Vec<u8>> = vec![Vec::new(); records as usize];
        for (r, tal) in per_record.iter_mut().enumerate() {
            let onset = frac + r as f64 * self.record_duration_s;
            tal.extend_from_slice(format!("+{}\x14\x14\x00", fmt_seconds(onset)).as_bytes());
        }
        for a in &all {
            let rel = a.onset_s - self.spec.start_time_s;
            let r = ((rel / self.record_duration_s).floor().max(0.0) as u64).min(records - 1);
            let onset = rel + frac;
            let sign = if onset < 0.0 { "-" } else { "+" };
            let mut tal = format!("{sign}{}", fmt_seconds(onset.abs()));
            if let Some(d) = a.duration_s.filter(|d| *d > 0.0) {
                tal.push('\x15');
                tal.push_str(&fmt_seconds(d));
            }
            tal.push('\x14');
            tal.push_str(&clean_text(&a.text));
            tal.push_str("\x14\x00");
            per_record[r as usize].extend_from_slice(tal.as_bytes());
        }
        let bps = self.format.bytes_per_sample();
        let annot_bytes = per_record.iter().map(|t| t.len()).max().unwrap_or(0);
        let annot_spr = annot_bytes.div_ceil(bps).max(1);

        // Header.
        let ns = self.spec.channels.len() + 1;
        let mut h = String::new();
        let start = self.identity.start;
        let patient = format!("{} X X X", edf_word(&self.identity.patient_code));
        let recording = format!(
            "Startdate {:02}-{}-{:04} X X {}",
            start.day(),
            MONTHS[start.month0() as usize],
            start.year(),
            edf_word(&self.identity.equipment)
        );
        push_field(&mut h, &patient, 80);
        push_field(&mut h, &recording, 80);
        push_field(
            &mut h,
            &format!(
                "{:02}.{:02}.{:02}",
                start.day(),
                start.month(),
                start.year() % 100
            ),
            8,
        );
        push_field(
            &mut h,
            &format!(
                "{:02}.{:02}.{:02}",
                start.hour(),
                start.minute(),
                start.second()
            ),
            8,
        );
        push_field(&mut h, &(256 * (ns + 1)).to_string(), 8);
        push_field(
            &mut h,
            match self.format {
                EdfFormat::Edf => "EDF+C",
                EdfFormat::Bdf => "BDF+C",
            },
            44,
        );
        push_field(&mut h, &records.to_string(), 8);
        push_field(&mut h, &fmt_seconds(self.record_duration_s), 8);
        push_field(&mut h, &ns.to_string(), 4);
        let ann_label = self.format.annotation_label();
        let chans = &self.spec.channels;
        for c in chans {
            push_field(&mut h, &c.name, 16);
        }
        push_field(&mut h, ann_label, 16);
        for c in chans {
            let kind = match c.kind {
                crate::frame::SignalKind::Raw => "raw",
                crate::frame::SignalKind::Envelope => "envelope",
            };
            push_field(
                &mut h,
                &format!("knip role={} kind={kind} rate_hz={}", c.role, c.rate_hz),
                80,
            );
        }
        push_field(&mut h, "", 80);
        for c in chans {
            push_field(&mut h, &c.unit, 8);
        }
        push_field(&mut h, "", 8);
        for s in &scales {
            push_field(&mut h, &s.0, 8);
        }
        push_field(&mut h, "-1", 8);
        for s in &scales {
            push_field(&mut h, &s.1, 8);
        }
        push_field(&mut h, "1", 8);
        for _ in 0..ns {
            push_field(&mut h, &dmin.to_string(), 8);
        }
        for _ in 0..ns {
            push_field(&mut h, &dmax.to_string(), 8);
        }
        for _ in chans {
            push_field(&mut h, "none (raw samples as recorded)", 80);
        }
        push_field(&mut h, "", 80);
        for n in &self.samples_per_record {
            push_field(&mut h, &n.to_string(), 8);
        }
        push_field(&mut h, &annot_spr.to_string(), 8);
        for _ in 0..ns {
            push_field(&mut h, "", 32);
        }

        // Written under a temporary name and renamed when complete: a crash or a full disk
        // never leaves half an EDF under the real name, and an old file is replaced, not
        // written through.
        let file =
            private_file::Pending::create(&path).map_err(|e| OutputError::write(&path, e))?;
        let mut out = BufWriter::with_capacity(1 << 16, file);
        let io = |e| OutputError::write(&path, e);
        match self.format {
            EdfFormat::Edf => out.write_all(b"0       ").map_err(io)?,
            EdfFormat::Bdf => {
                out.write_all(&[0xFF]).map_err(io)?;
                out.write_all(b"BIOSEMI").map_err(io)?;
            }
        }
        out.write_all(h.as_bytes()).map_err(io)?;
        let mut readers = Vec::new();
        for sp in &self.spools {
            let f = File::open(&sp.path).map_err(|e| OutputError::write(&sp.path, e))?;
            readers.push((BufReader::with_capacity(1 << 16, f), sp.last));
        }
        let mut buf = [0u8; 8];
        let mut record = Vec::new();
        for tal in &per_record {
            record.clear();
            for (k, (reader, last)) in readers.iter_mut().enumerate() {
                let (_, _, plo, _, gain) = scales[k];
                for _ in 0..self.samples_per_record[k] {
                    let v = match reader.read_exact(&mut buf) {
                        Ok(()) => f64::from_le_bytes(buf),
                        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => *last,
                        Err(e) => return Err(OutputError::write(&self.spools[k].path, e).into()),
                    };
                    let d = (((v - plo) / gain).round() as i64 + dmin as i64)
                        .clamp(dmin as i64, dmax as i64) as i32;
                    record.extend_from_slice(&d.to_le_bytes()[..bps]);
                }
            }
            let start = record.len();
            record.extend_from_slice(tal);
            record.resize(start + annot_spr * bps, 0);
            out.write_all(&record).map_err(io)?;
        }
        out.into_inner()
            .map_err(|e| io(e.into_error()))?
            .commit()
            .map_err(io)?;
        Ok(EdfSummary {
            path: path.clone(),
            format: self.format,
            records,
            record_duration_s: self.record_duration_s,
            ranges: scales.iter().map(|s| (s.2, s.3, s.4)).collect(),
            annotations: all.len(),
            lost_samples: self.lost,
        })
    }
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

#[derive(Clone, Copy)]
enum Rounding {
    Down,
    Up,
}

/// `v` in at most 8 characters, rounded in the given direction (so the range still holds `v`).
fn format_field(v: f64, rounding: Rounding) -> Option<String> {
    for decimals in (0..=7usize).rev() {
        let scale = 10f64.powi(decimals as i32);
        let r = match rounding {
            Rounding::Down => (v * scale).floor() / scale,
            Rounding::Up => (v * scale).ceil() / scale,
        };
        let mut s = format!("{r:.decimals$}");
        if s.contains('.') {
            s = s.trim_end_matches('0').trim_end_matches('.').to_string();
        }
        if s == "-0" {
            s = "0".into();
        }
        if s.len() <= FIELD_CHARS {
            return Some(s);
        }
    }
    None
}

/// Seconds for TALs and the record-duration field: up to 7 decimals, no trailing zeros.
fn fmt_seconds(v: f64) -> String {
    let s = format!("{v:.7}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// Header fields hold printable ASCII only.
fn ascii(s: &str) -> String {
    s.chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '_' })
        .collect()
}

/// A word of an EDF+ subfield: no spaces, `X` when empty.
fn edf_word(s: &str) -> String {
    let w: String = ascii(s.trim()).replace(' ', "_");
    if w.is_empty() {
        "X".into()
    } else {
        w
    }
}

/// Annotation text: UTF-8 allowed, but not the TAL separators.
fn clean_text(s: &str) -> String {
    s.chars()
        .map(|c| if c < ' ' { ' ' } else { c })
        .collect::<String>()
}

fn push_field(h: &mut String, value: &str, width: usize) {
    let v = ascii(value);
    let v: String = v.chars().take(width).collect();
    h.push_str(&v);
    for _ in v.len()..width {
        h.push(' ');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_numbers_round_outwards_in_8_chars() {
        let lo = format_field(-1234.56789, Rounding::Down).unwrap();
        let hi = format_field(98765.4321, Rounding::Up).unwrap();
        assert!(lo.len() <= 8 && hi.len() <= 8);
        assert!(lo.parse::<f64>().unwrap() <= -1234.56789);
        assert!(hi.parse::<f64>().unwrap() >= 98765.4321);
        assert_eq!(format_field(-0.0000001, Rounding::Up).unwrap(), "0");
        assert!(format_field(1e9, Rounding::Up).is_none());
    }

    #[test]
    fn record_duration_holds_whole_samples() {
        assert_eq!(
            record_duration_for(&[2000.0, 100.0]),
            Some((1.0, vec![2000, 100]))
        );
        assert_eq!(record_duration_for(&[34.81]), Some((100.0, vec![3481])));
        assert_eq!(record_duration_for(&[50.0 / 27.0]), Some((0.54, vec![1])));
        assert_eq!(record_duration_for(&[1.0 / 300.0]), None);
        assert_eq!(record_duration_for(&[0.5]), Some((2.0, vec![1])));
        assert_eq!(record_duration_for(&[2.5, 1000.0]).map(|d| d.0), Some(2.0));
    }
}
