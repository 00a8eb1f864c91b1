//! Reading EDF, EDF+, BDF and BDF+ files (knip's own exports and other software's, e.g.
//! BioSemi BDF with its `Status` channel) as a [`Source`].
//!
//! - Signals are picked by role: knip's own exports name them `pfm_emg`, `abd_emg`,
//!   `pressure` (and say `knip role=…` in the transducer field); otherwise `--pfm/--abd/--pressure`
//!   choose a signal by label or 1-based number; a file with a single data signal is read as
//!   pelvic-floor EMG.
//! - `--pfm A-B` (any role option) reads the difference of two signals of one rate, each in
//!   knip's unit first; a label that itself contains `-` is that signal.
//! - EMG in V, mV or nV is converted to µV; pressure in mmHg or hPa to cmH2O.
//! - Annotations (`EDF Annotations` / `BDF Annotations`) become markers; BioSemi's `Status`
//!   channel becomes a marker wherever its trigger bits (low 16) change.
//! - EDF+D (discontinuous) records are placed at their time-keeping onsets, so a jump between
//!   records is a gap of lost samples.
//!
//! Data records are read a few at a time: memory stays flat however long the file.

use crate::error::InputError;
use crate::frame::{Block, ChannelChunk, ChannelSpec, Role, SignalKind, StreamSpec};
use crate::source::csv_file::CsvOptions;
use crate::source::derive::{self, Derivation, Pick};
use crate::source::Source;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Larger data records than this are taken as a damaged header (a 2 kHz × 256-channel BDF
/// record of 1 s is 1.5 MB).
const MAX_RECORD_BYTES: u64 = 64 << 20;
/// Most signals a header may list (BioSemi's largest caps have 256 + 24 + Status).
const MAX_SIGNALS: usize = 4096;
/// Most samples per record of one signal (100 kHz in a 100-s record).
const MAX_SAMPLES_PER_RECORD: usize = 10_000_000;

/// One signal of the header.
#[derive(Debug, Clone, PartialEq)]
pub struct EdfSignal {
    pub label: String,
    pub transducer: String,
    pub unit: String,
    pub physical_min: f64,
    pub physical_max: f64,
    pub digital_min: i64,
    pub digital_max: i64,
    pub prefilter: String,
    pub samples_per_record: usize,
}

impl EdfSignal {
    pub fn is_annotation(&self) -> bool {
        self.label == "EDF Annotations" || self.label == "BDF Annotations"
    }

    /// Physical units per digital step.
    pub fn gain(&self) -> f64 {
        (self.physical_max - self.physical_min) / (self.digital_max - self.digital_min) as f64
    }

    pub fn physical(&self, d: i64) -> f64 {
        self.physical_min + (d - self.digital_min) as f64 * self.gain()
    }
}

/// The parsed header of an EDF/BDF file.
#[derive(Debug, Clone, PartialEq)]
pub struct EdfHeader {
    pub bdf: bool,
    pub patient: String,
    pub recording: String,
    /// `dd.mm.yy hh.mm.ss` as written.
    pub start_date: String,
    pub start_time: String,
    /// `EDF+C`, `EDF+D`, `BDF+C`, `24BIT`, or empty for plain EDF.
    pub reserved: String,
    pub header_bytes: u64,
    /// Data records present in the file (at most the declared number).
    pub records: u64,
    /// The number the header declares (`None` for -1, still recording).
    pub declared_records: Option<u64>,
    pub record_duration_s: f64,
    pub signals: Vec<EdfSignal>,
}

impl EdfHeader {
    pub fn bytes_per_sample(&self) -> usize {
        if self.bdf {
            3
        } else {
            2
        }
    }

    pub fn record_bytes(&self) -> u64 {
        self.signals
            .iter()
            .map(|s| (s.samples_per_record * self.bytes_per_sample()) as u64)
            .sum()
    }

    pub fn rate_hz(&self, signal: usize) -> f64 {
        self.signals[signal].samples_per_record as f64 / self.record_duration_s
    }
}

/// Characters of an annotation's text kept (control characters escaped).
const ANNOTATION_CHARS: usize = 200;

/// A TAL annotation: seconds from the file's start.
#[derive(Debug, Clone, PartialEq)]
pub struct EdfAnnotation {
    pub onset_s: f64,
    pub duration_s: Option<f64>,
    pub text: String,
}

/// Reads an EDF/BDF file block by block.
pub struct EdfSource {
    path: PathBuf,
    reader: BufReader<File>,
    header: EdfHeader,
    spec: StreamSpec,
    /// Header signal index and unit factor of each stream channel, and of the signal subtracted
    /// from it (a derivation).
    picked: Vec<(usize, f64, Option<SignalFactor>)>,
    derivations: Vec<Derivation>,
    status: Option<usize>,
    annotations: Vec<EdfAnnotation>,
    /// Onset of each record (time-keeping TAL), seconds; empty = contiguous.
    record_onsets_s: Vec<f64>,
    next_record: u64,
    /// Seconds from the header's start time to sample 0 (the EDF+ sub-second start).
    start_offset_s: f64,
    record: Vec<u8>,
    last_status: Option<i64>,
    status_markers: Vec<(f64, String)>,
    warnings: Vec<String>,
}

/// A header signal index and the factor to knip's unit.
type SignalFactor = (usize, f64);

fn format_err(path: &Path, message: String) -> InputError {
    InputError::Format {
        path: path.to_path_buf(),
        message,
    }
}

/// A header field as text (at most 80 bytes), control characters escaped: labels and
/// identifications go to the terminal and the reports.
fn field(bytes: &[u8]) -> String {
    crate::limits::excerpt(String::from_utf8_lossy(bytes).trim(), 80)
}

/// Reads and checks the header.
pub fn read_header(path: &Path) -> Result<EdfHeader, InputError> {
    let mut f = File::open(path).map_err(|source| InputError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let io = |source| InputError::Read {
        path: path.to_path_buf(),
        line: 0,
        source,
    };
    let mut fixed = [0u8; 256];
    f.read_exact(&mut fixed).map_err(|_| {
        format_err(
            path,
            "shorter than an EDF header (256 bytes); not an EDF/BDF file".into(),
        )
    })?;
    let bdf = fixed[0] == 0xFF && &fixed[1..8] == b"BIOSEMI";
    if !bdf && &fixed[0..8] != b"0       " {
        return Err(format_err(
            path,
            "does not start with an EDF version ('0') or BDF ('\\xFFBIOSEMI') field; not an \
             EDF/BDF file"
                .into(),
        ));
    }
    let num = |bytes: &[u8], what: &str| -> Result<f64, InputError> {
        let s = field(bytes);
        s.parse::<f64>().map_err(|_| {
            format_err(
                path,
                format!("header field '{what}' is '{s}', not a number; the header is damaged"),
            )
        })
    };
    let ns_field = num(&fixed[252..256], "number of signals")?;
    if ns_field.fract() != 0.0 || !(1.0..=MAX_SIGNALS as f64).contains(&ns_field) {
        return Err(format_err(
            path,
            format!(
                "the header lists {ns_field} signals; an EDF/BDF file has 1 to {MAX_SIGNALS}, \
                 so the header is damaged"
            ),
        ));
    }
    let ns = ns_field as usize;
    let file_len = f.metadata().map_err(io)?.len();
    if 256 * (ns as u64 + 1) > file_len {
        return Err(format_err(
            path,
            format!("the header promises {ns} signals but the file ends inside their fields"),
        ));
    }
    let mut sig = vec![0u8; 256 * ns];
    f.read_exact(&mut sig).map_err(|_| {
        format_err(
            path,
            format!("the header promises {ns} signals but the file ends inside their fields"),
        )
    })?;
    let mut at = 0usize;
    let mut take = |width: usize| -> Vec<String> {
        let v = (0..ns)
            .map(|i| field(&sig[at + i * width..at + (i + 1) * width]))
            .collect();
        at += width * ns;
        v
    };
    let labels = take(16);
    let transducers = take(80);
    let units = take(8);
    let pmin = take(8);
    let pmax = take(8);
    let dmin = take(8);
    let dmax = take(8);
    let prefilters = take(80);
    let spr = take(8);
    let mut signals = Vec::new();
    for i in 0..ns {
        let n = |s: &str, what: &str| -> Result<f64, InputError> {
            s.parse::<f64>().map_err(|_| {
                format_err(
                    path,
                    format!(
                        "signal {} ('{}'): {what} is '{s}', not a number; the header is damaged",
                        i + 1,
                        labels[i]
                    ),
                )
            })
        };
        let s = EdfSignal {
            label: labels[i].clone(),
            transducer: transducers[i].clone(),
            unit: units[i].clone(),
            physical_min: n(&pmin[i], "physical minimum")?,
            physical_max: n(&pmax[i], "physical maximum")?,
            digital_min: n(&dmin[i], "digital minimum")? as i64,
            digital_max: n(&dmax[i], "digital maximum")? as i64,
            prefilter: prefilters[i].clone(),
            samples_per_record: 0,
        };
        let whole = |v: f64| v.is_finite() && v.fract() == 0.0;
        let spr_field = n(&spr[i], "samples per record")?;
        if !whole(spr_field) || !(0.0..=MAX_SAMPLES_PER_RECORD as f64).contains(&spr_field) {
            return Err(format_err(
                path,
                format!(
                    "signal {} ('{}'): {spr_field} samples per record is not a whole number from 0 \
                     to {MAX_SAMPLES_PER_RECORD}; the header is damaged",
                    i + 1,
                    s.label
                ),
            ));
        }
        let bounds = [
            n(&dmin[i], "digital minimum")?,
            n(&dmax[i], "digital maximum")?,
        ];
        if !bounds
            .iter()
            .all(|&v| whole(v) && v.abs() <= (1u64 << 31) as f64)
        {
            return Err(format_err(
                path,
                format!(
                    "signal {} ('{}'): digital minimum {} / maximum {} are not whole numbers a \
                     sample can hold; the header is damaged",
                    i + 1,
                    s.label,
                    dmin[i],
                    dmax[i]
                ),
            ));
        }
        if !s.is_annotation()
            && (!s.physical_min.is_finite()
                || !s.physical_max.is_finite()
                || s.physical_min == s.physical_max)
        {
            return Err(format_err(
                path,
                format!(
                    "signal {} ('{}'): physical minimum {} and maximum {} give no scale (they must \
                     be finite and differ); the header is damaged",
                    i + 1,
                    s.label,
                    pmin[i],
                    pmax[i]
                ),
            ));
        }
        if s.digital_max <= s.digital_min {
            return Err(format_err(
                path,
                format!(
                    "signal {} ('{}'): digital maximum {} is not above the minimum {}",
                    i + 1,
                    s.label,
                    s.digital_max,
                    s.digital_min
                ),
            ));
        }
        let mut s = s;
        s.samples_per_record = spr_field as usize;
        signals.push(s);
    }
    let header_bytes = 256 * (ns as u64 + 1);
    let record_duration_s = num(&fixed[244..252], "duration of a data record")?;
    let mut h = EdfHeader {
        bdf,
        patient: field(&fixed[8..88]),
        recording: field(&fixed[88..168]),
        start_date: field(&fixed[168..176]),
        start_time: field(&fixed[176..184]),
        reserved: field(&fixed[192..236]),
        header_bytes,
        records: 0,
        declared_records: None,
        record_duration_s,
        signals,
    };
    if h.record_bytes() > MAX_RECORD_BYTES {
        return Err(format_err(
            path,
            format!(
                "a data record of {} bytes (samples per record × signals) is implausible; the \
                 header is damaged",
                h.record_bytes()
            ),
        ));
    }
    let declared = num(&fixed[236..244], "number of data records")?;
    if declared.fract() != 0.0 || declared < -1.0 {
        return Err(format_err(
            path,
            format!(
                "the header gives {declared} data records; it must be a whole number, or -1 \
                 while recording; the header is damaged"
            ),
        ));
    }
    let len = file_len;
    let rb = h.record_bytes().max(1);
    let present = len.saturating_sub(header_bytes) / rb;
    h.declared_records = (declared >= 0.0).then_some(declared as u64);
    h.records = if declared < 0.0 {
        present
    } else {
        (declared as u64).min(present)
    };
    if (record_duration_s.is_nan() || record_duration_s <= 0.0)
        && h.signals.iter().any(|s| !s.is_annotation())
    {
        return Err(format_err(
            path,
            format!("data record duration is {record_duration_s} s; cannot derive sample rates"),
        ));
    }
    // Every data signal's rate must be one a recording can have.
    let rates = crate::limits::SAMPLE_RATE_HZ;
    for (i, s) in h.signals.iter().enumerate() {
        if s.is_annotation() {
            continue;
        }
        if s.samples_per_record == 0 {
            return Err(format_err(
                path,
                format!(
                    "signal {} ('{}'): 0 samples per record, a signal without samples (0 Hz); \
                     the header is damaged",
                    i + 1,
                    s.label
                ),
            ));
        }
        let rate = s.samples_per_record as f64 / record_duration_s;
        if !(rate >= rates.lo && rate <= rates.hi) {
            return Err(format_err(
                path,
                format!(
                    "signal {} ('{}'): {} samples per {record_duration_s}-s record is {rate} Hz, \
                     outside the plausible {}–{} Hz; the header is damaged",
                    i + 1,
                    s.label,
                    s.samples_per_record,
                    rates.lo,
                    rates.hi
                ),
            ));
        }
    }
    Ok(h)
}

/// Parses the TALs of one annotation signal's bytes in one record.
pub fn parse_tals(bytes: &[u8]) -> Vec<EdfAnnotation> {
    let mut out = Vec::new();
    for tal in bytes.split(|&b| b == 0).filter(|t| !t.is_empty()) {
        let mut parts = tal.split(|&b| b == 0x14);
        let Some(time) = parts.next() else { continue };
        let mut tp = time.split(|&b| b == 0x15);
        let onset = tp
            .next()
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| s.trim().parse::<f64>().ok());
        let duration = tp
            .next()
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| s.trim().parse::<f64>().ok());
        let Some(onset_s) = onset else { continue };
        let texts: Vec<String> = parts
            .filter(|p| !p.is_empty())
            .map(|p| crate::limits::excerpt(&String::from_utf8_lossy(p), ANNOTATION_CHARS))
            .collect();
        if texts.is_empty() {
            // Time-keeping TAL.
            out.push(EdfAnnotation {
                onset_s,
                duration_s: None,
                text: String::new(),
            });
        }
        for text in texts {
            out.push(EdfAnnotation {
                onset_s,
                duration_s: duration,
                text,
            });
        }
    }
    out
}

/// Unit factor to knip's unit for the role, and the unit knip will report.
pub(crate) fn unit_factor(role: Role, unit: &str) -> (f64, String) {
    let u = unit.trim();
    match crate::source::line::factor_to_knip_unit(role, u) {
        Some(f) => (f, if role.is_emg() { "uV" } else { "cmH2O" }.into()),
        None if u.is_empty() => (1.0, "units".into()),
        None => (1.0, u.into()),
    }
}

impl EdfSource {
    pub fn open(path: &Path, opts: &CsvOptions) -> Result<EdfSource, InputError> {
        let header = read_header(path)?;
        let mut warnings = Vec::new();
        if let Some(d) = header.declared_records.filter(|d| *d > header.records) {
            warnings.push(format!(
                "{}: the header declares {d} data records but the file holds {}; reading those \
                 (the file was cut short)",
                path.display(),
                header.records
            ));
        }
        let data: Vec<usize> = (0..header.signals.len())
            .filter(|&i| {
                let s = &header.signals[i];
                !s.is_annotation() && s.label != "Status" && s.samples_per_record > 0
            })
            .collect();
        let status = header
            .signals
            .iter()
            .position(|s| s.label == "Status" && s.samples_per_record > 0);
        let find_one = |sel: &str| -> Option<usize> {
            let by_number = sel
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= 1 && *n <= header.signals.len())
                .map(|n| n - 1);
            by_number
                .or_else(|| {
                    header
                        .signals
                        .iter()
                        .position(|s| s.label.eq_ignore_ascii_case(sel.trim()))
                })
                .filter(|i| !header.signals[*i].is_annotation())
        };
        let find = |sel: &str, flag: &str| -> Result<Pick, InputError> {
            derive::resolve(sel, find_one)
                .map_err(|e| format_err(path, format!("{flag} {sel}: {e}")))?
                .ok_or_else(|| {
                    format_err(
                        path,
                        format!(
                            "{flag} {sel}: no such signal (give a label, a number, or \
                             LABEL1-LABEL2 for the difference of two); the file has: {}",
                            labels_list(&header)
                        ),
                    )
                })
        };
        let mut picked: Vec<(Role, Pick)> = Vec::new();
        for (role, sel, flag) in [
            (Role::PfmEmg, &opts.pfm, "--pfm"),
            (Role::AbdEmg, &opts.abd, "--abd"),
            (Role::Pressure, &opts.pressure, "--pressure"),
        ] {
            if let Some(sel) = sel {
                picked.push((role, find(sel, flag)?));
            }
        }
        if picked.is_empty() {
            for &i in &data {
                let s = &header.signals[i];
                let role = s
                    .transducer
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("role="))
                    .and_then(Role::from_column_name)
                    .or_else(|| Role::from_column_name(&s.label));
                if let Some(r) = role {
                    if !picked.iter().any(|p| p.0 == r) {
                        picked.push((r, Pick::One(i)));
                    }
                }
            }
        }
        if picked.is_empty() {
            if data.len() == 1 {
                picked.push((Role::PfmEmg, Pick::One(data[0])));
                warnings.push(format!(
                    "the single signal '{}' is read as pelvic-floor EMG",
                    header.signals[data[0]].label
                ));
            } else {
                return Err(format_err(
                    path,
                    format!(
                        "cannot tell which signal is which; choose with --pfm, --abd and/or \
                         --pressure (label or number). Signals: {}",
                        labels_list(&header)
                    ),
                ));
            }
        }
        let mut channels = Vec::new();
        let mut pick = Vec::new();
        let mut derivations = Vec::new();
        for (role, p) in picked {
            let i = p.first();
            let s = &header.signals[i];
            let (factor, unit) = unit_factor(role, &s.unit);
            let kind = if s.transducer.contains("kind=envelope") || (role.is_emg() && opts.envelope)
            {
                SignalKind::Envelope
            } else {
                SignalKind::Raw
            };
            let mut name = s.label.clone();
            let minus = match p {
                Pick::One(_) => None,
                Pick::Diff(_, j) => {
                    let m = &header.signals[j];
                    let (m_factor, m_unit) = unit_factor(role, &m.unit);
                    if m.samples_per_record != s.samples_per_record {
                        return Err(format_err(
                            path,
                            format!(
                                "cannot form {}-{}: '{}' has {} samples per record and '{}' {} \
                                 (different rates); a derivation needs two signals of one rate",
                                s.label,
                                m.label,
                                s.label,
                                s.samples_per_record,
                                m.label,
                                m.samples_per_record
                            ),
                        ));
                    }
                    if m_unit != unit {
                        return Err(format_err(
                            path,
                            format!(
                                "cannot form {}-{}: '{}' is in {} and '{}' in {}",
                                s.label, m.label, s.label, s.unit, m.label, m.unit
                            ),
                        ));
                    }
                    name = format!("{}-{}", s.label, m.label);
                    derivations.push(Derivation {
                        role,
                        name: name.clone(),
                        plus: s.label.clone(),
                        minus: m.label.clone(),
                        unit: unit.clone(),
                    });
                    Some((j, m_factor))
                }
            };
            channels.push(ChannelSpec {
                name,
                role,
                unit,
                rate_hz: header.rate_hz(i),
                kind,
            });
            pick.push((i, factor, minus));
        }
        let mut src = EdfSource {
            path: path.to_path_buf(),
            reader: BufReader::with_capacity(
                1 << 16,
                File::open(path).map_err(|source| InputError::Open {
                    path: path.to_path_buf(),
                    source,
                })?,
            ),
            spec: StreamSpec {
                channels,
                start_time_s: 0.0,
            },
            picked: pick,
            derivations,
            status,
            annotations: Vec::new(),
            record_onsets_s: Vec::new(),
            next_record: 0,
            start_offset_s: 0.0,
            record: vec![0; header.record_bytes() as usize],
            last_status: None,
            status_markers: Vec::new(),
            warnings,
            header,
        };
        src.scan_annotations()?;
        src.reader
            .seek(SeekFrom::Start(src.header.header_bytes))
            .map_err(|e| src.read_err(e))?;
        Ok(src)
    }

    fn read_err(&self, source: std::io::Error) -> InputError {
        InputError::Read {
            path: self.path.clone(),
            line: 0,
            source,
        }
    }

    /// Reads every record's annotation bytes (seeking past the samples).
    fn scan_annotations(&mut self) -> Result<(), InputError> {
        let bps = self.header.bytes_per_sample() as u64;
        let mut offsets = Vec::new();
        let mut at = 0u64;
        for s in &self.header.signals {
            let n = s.samples_per_record as u64 * bps;
            if s.is_annotation() {
                offsets.push((at, n as usize));
            }
            at += n;
        }
        let status = self.status.map(|st| {
            let off: u64 = self.header.signals[..st]
                .iter()
                .map(|s| s.samples_per_record as u64 * bps)
                .sum();
            (off, self.header.signals[st].samples_per_record)
        });
        if offsets.is_empty() && status.is_none() {
            return Ok(());
        }
        let rb = self.header.record_bytes();
        let discontinuous =
            self.header.reserved.starts_with("EDF+D") || self.header.reserved.starts_with("BDF+D");
        let mut first_onset = None;
        let mut buf = Vec::new();
        for r in 0..self.header.records {
            let mut keeping = None;
            for &(off, n) in &offsets {
                buf.resize(n, 0);
                let pos = self.header.header_bytes + r * rb + off;
                self.reader
                    .seek(SeekFrom::Start(pos))
                    .and_then(|_| self.reader.read_exact(&mut buf))
                    .map_err(|e| self.read_err(e))?;
                for a in parse_tals(&buf) {
                    if a.text.is_empty() {
                        keeping.get_or_insert(a.onset_s);
                    } else {
                        self.annotations.push(a);
                    }
                }
            }
            let onset = keeping.unwrap_or(r as f64 * self.header.record_duration_s);
            first_onset.get_or_insert(onset);
            if let Some((off, n)) = status {
                buf.resize(n * bps as usize, 0);
                let pos = self.header.header_bytes + r * rb + off;
                self.reader
                    .seek(SeekFrom::Start(pos))
                    .and_then(|_| self.reader.read_exact(&mut buf))
                    .map_err(|e| self.read_err(e))?;
                let rate = n as f64 / self.header.record_duration_s;
                for j in 0..n {
                    let at = j * bps as usize;
                    let v = if self.header.bdf {
                        i32::from_le_bytes([buf[at], buf[at + 1], buf[at + 2], 0]) as i64
                    } else {
                        i16::from_le_bytes([buf[at], buf[at + 1]]) as i64
                    };
                    let trig = v & 0xFFFF;
                    if self.last_status != Some(trig) {
                        if self.last_status.is_some() {
                            self.status_markers
                                .push((onset + j as f64 / rate, format!("trigger {trig}")));
                        }
                        self.last_status = Some(trig);
                    }
                }
            }
            if discontinuous {
                self.record_onsets_s.push(onset);
            }
        }
        // EDF+ puts a sub-second start in the first time-keeping TAL. Times in knip are seconds
        // since sample 0, so that offset comes off every record and annotation onset.
        if let Some(t0) = first_onset {
            self.start_offset_s = t0;
            for a in &mut self.annotations {
                a.onset_s -= t0;
            }
            for o in &mut self.record_onsets_s {
                *o -= t0;
            }
            for m in &mut self.status_markers {
                m.0 -= t0;
            }
        }
        Ok(())
    }

    /// Seconds from the header's start time to sample 0 (EDF+ sub-second start).
    pub fn start_offset_s(&self) -> f64 {
        self.start_offset_s
    }

    pub fn header(&self) -> &EdfHeader {
        &self.header
    }

    /// Annotations of the file (seconds from sample 0).
    pub fn annotations(&self) -> &[EdfAnnotation] {
        &self.annotations
    }

    /// Annotations and Status trigger changes as (time, label) markers for the report.
    pub fn markers(&self) -> Vec<(f64, String)> {
        self.annotations
            .iter()
            .map(|a| (a.onset_s, a.text.clone()))
            .chain(self.status_markers.iter().cloned())
            .collect()
    }

    /// Trigger changes on BioSemi's Status channel (low 16 bits), read when the file is opened.
    pub fn status_markers(&self) -> &[(f64, String)] {
        &self.status_markers
    }

    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    fn sample(&self, at: usize) -> i64 {
        let r = &self.record;
        if self.header.bdf {
            let v = i32::from_le_bytes([r[at], r[at + 1], r[at + 2], 0]);
            ((v << 8) >> 8) as i64
        } else {
            i16::from_le_bytes([r[at], r[at + 1]]) as i64
        }
    }
}

fn labels_list(h: &EdfHeader) -> String {
    h.signals
        .iter()
        .enumerate()
        .map(|(i, s)| {
            format!(
                "{} '{}' ({} {}/record)",
                i + 1,
                s.label,
                s.unit,
                s.samples_per_record
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Source for EdfSource {
    fn spec(&self) -> &StreamSpec {
        &self.spec
    }

    fn reader_warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    fn derivations(&self) -> Vec<Derivation> {
        self.derivations.clone()
    }

    fn next_block(&mut self) -> Result<Option<Block>, InputError> {
        if self.next_record >= self.header.records {
            return Ok(None);
        }
        let bps = self.header.bytes_per_sample();
        let offsets: Vec<usize> = self
            .header
            .signals
            .iter()
            .scan(0usize, |acc, s| {
                let o = *acc;
                *acc += s.samples_per_record * bps;
                Some(o)
            })
            .collect();
        let mut block = Block::with_channels(self.picked.len());
        // One data record per block: a record's samples are contiguous on every channel, and
        // an EDF+D gap falls between blocks as an index jump.
        {
            let r = self.next_record;
            let mut buf = std::mem::take(&mut self.record);
            let res = self.reader.read_exact(&mut buf);
            self.record = buf;
            res.map_err(|e| self.read_err(e))?;
            let record_start_s = self
                .record_onsets_s
                .get(r as usize)
                .copied()
                .unwrap_or(r as f64 * self.header.record_duration_s);
            for (k, &(sig, factor, minus)) in self.picked.iter().enumerate() {
                let s = &self.header.signals[sig];
                let rate = s.samples_per_record as f64 / self.header.record_duration_s;
                let start = (record_start_s * rate).round() as u64;
                let chunk = &mut block.chunks[k];
                chunk.start_index = start;
                let (gain, pmin, dmin) = (s.gain(), s.physical_min, s.digital_min);
                for j in 0..s.samples_per_record {
                    let d = self.sample(offsets[sig] + j * bps);
                    chunk
                        .samples
                        .push((pmin + (d - dmin) as f64 * gain) * factor);
                }
                if let Some((m_sig, m_factor)) = minus {
                    let m = &self.header.signals[m_sig];
                    let (gain, pmin, dmin) = (m.gain(), m.physical_min, m.digital_min);
                    for (j, v) in chunk.samples.iter_mut().enumerate() {
                        let d = self.sample(offsets[m_sig] + j * bps);
                        *v -= (pmin + (d - dmin) as f64 * gain) * m_factor;
                    }
                }
            }
            self.next_record += 1;
        }
        Ok(Some(block))
    }
}

/// `ChannelChunk` helper for tests and callers that want a whole file in memory (small files).
pub fn read_all(
    path: &Path,
    opts: &CsvOptions,
) -> Result<(StreamSpec, Vec<ChannelChunk>), InputError> {
    let mut src = EdfSource::open(path, opts)?;
    let spec = src.spec().clone();
    let mut out = vec![ChannelChunk::default(); spec.channels.len()];
    while let Some(b) = src.next_block()? {
        for (o, c) in out.iter_mut().zip(b.chunks) {
            if o.samples.is_empty() {
                o.start_index = c.start_index;
            }
            o.samples.extend(c.samples);
        }
    }
    Ok((spec, out))
}
