//! Decoder for text-line devices (DIY perineometers, Arduino/ESP32 EMG front ends, USB pressure
//! gauges): one sample per line, `\n` or `\r\n` terminated. See `DEVICES.md` §1.
//!
//! Accepted forms, all auto-detected from the first sample line:
//! - plain numbers separated by commas, semicolons, tabs or spaces: `512,498`, `512 498`;
//! - Arduino Serial Plotter pairs: `pfm:512,abd:498` (labels become column names);
//! - a device sample counter first, when declared (`# seq=16` header or `--seq-bits`):
//!   `1234,512,498`; the counter is unsigned and wraps at its width (8, 16 or 32 bits);
//! - `#` lines: metadata (`# rate_hz=2000`, `# channels=pfm_emg:uV,abd_emg:uV`, `# seq=16`) or
//!   comments.
//!
//! What real devices also send, and what becomes of it (each one counted in [`LinkStats`]):
//! - the bytes before the first line end after the port opens are dropped (a partial line);
//! - text before the first sample (boot banner) is skipped; text lines that are mostly words
//!   among the samples are skipped as messages and do not take a sample slot;
//! - a corrupted sample line (wrong column count, garbage bytes, a number that does not parse),
//!   a NaN or an out-of-range value costs its sample: without a counter the line still takes its
//!   slot (the index advances, so later samples keep their times); with a counter, the counter
//!   tells how many were lost;
//! - lines longer than [`MAX_LINE_BYTES`] are cut off and counted as corrupted.
//!
//! The decoder never panics and holds at most one line of input.

use super::wire::{Column, Layout, LinkStats, Rows};
use crate::frame::Role;
use crate::limits::{excerpt, SAMPLE_RATE_HZ};

/// cmH2O per mmHg (1 mmHg = 133.322 Pa, 1 cmH2O = 98.0665 Pa).
pub const CMH2O_PER_MMHG: f64 = 1.35951;

/// What a device's column label says, when it says it unambiguously: the one table for the
/// labels of text-line devices (`pfm:512,abd:498`) and `# channels=` headers. Case-insensitive.
/// Returns the role and the unit the label itself implies (`mmhg`), if any.
///
/// | labels | role |
/// |---|---|
/// | `pfm`, `pfm_emg`, `pelvic`, `emg` | pelvic-floor EMG |
/// | `abd`, `abd_emg`, `abdominal` | abdominal EMG |
/// | `p`, `pres`, `pressure` | pressure (unit from the header, else cmH2O) |
/// | `cmh2o`, `mmhg` | pressure in that unit (converted to cmH2O) |
pub fn label_meaning(label: &str) -> Option<(Role, Option<&'static str>)> {
    let l = label.trim().to_ascii_lowercase();
    Some(match l.as_str() {
        "pfm" | "pfm_emg" | "pelvic" | "emg" => (Role::PfmEmg, None),
        "abd" | "abd_emg" | "abdominal" => (Role::AbdEmg, None),
        "p" | "pres" | "pressure" => (Role::Pressure, None),
        "cmh2o" => (Role::Pressure, Some("cmH2O")),
        "mmhg" => (Role::Pressure, Some("mmHg")),
        _ => return None,
    })
}

/// The factor that turns values in `unit` into knip's unit for `role` (µV for EMG, cmH2O for
/// pressure); `None` when the unit is not one knip converts (the values are kept as they are,
/// with their unit).
/// The one table of unit conversions (device labels, EDF/BDF headers).
pub fn factor_to_knip_unit(role: Role, unit: &str) -> Option<f64> {
    let u = unit.trim();
    if role.is_emg() {
        match u {
            "uV" | "µV" | "uv" | "microvolt" => Some(1.0),
            "mV" | "mv" => Some(1e3),
            "V" | "v" => Some(1e6),
            "nV" | "nv" => Some(1e-3),
            _ => None,
        }
    } else {
        match u.to_ascii_lowercase().as_str() {
            "cmh2o" => Some(1.0),
            "mmhg" => Some(CMH2O_PER_MMHG),
            "hpa" | "mbar" => Some(1.0 / 0.980665),
            "kpa" => Some(10.0 / 0.980665),
            _ => None,
        }
    }
}

/// Longest line accepted, bytes. A device line is far shorter; garbage without line ends is
/// dropped once it passes this.
pub const MAX_LINE_BYTES: usize = 1024;
/// At most this many columns per line.
pub const MAX_COLUMNS: usize = 64;

/// Settings from the command line; the device's own `#` headers fill in what is not given.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LineConfig {
    /// Sampling rate, Hz (else from a `# rate_hz=` header).
    pub rate_hz: Option<f64>,
    /// Width of the sample counter in the first column, bits (8, 16 or 32); else from `# seq=`.
    pub seq_bits: Option<u32>,
    /// Values outside `[min, max]` are invalid samples.
    pub value_range: Option<(f64, f64)>,
}

#[derive(Debug, Clone, PartialEq)]
enum Form {
    Plain,
    Labelled(Vec<String>),
}

/// Streaming decoder: feed bytes with [`push`](Self::push), collect rows.
#[derive(Debug, Clone)]
pub struct LineDecoder {
    config: LineConfig,
    /// Current line; `overlong` once it passed the limit.
    line: Vec<u8>,
    overlong: bool,
    /// Still dropping the (possibly partial) first line after the link opened.
    at_link_start: bool,
    /// Bytes dropped at link start (for the partial-line count).
    dropped_at_start: usize,
    /// From headers.
    header_rate_hz: Option<f64>,
    header_seq_bits: Option<u32>,
    header_columns: Option<Vec<Column>>,
    /// Fixed at the first sample line of the first link epoch.
    form: Option<Form>,
    layout: Option<Layout>,
    /// Relative index of the next sample without a counter; with a counter, the last
    /// counter value and its relative index.
    next_index: u64,
    last_seq: Option<(u64, u64)>,
    seen_sample_this_link: bool,
    values: Vec<f64>,
    warnings: Vec<String>,
}

impl LineDecoder {
    pub fn new(config: LineConfig) -> Self {
        LineDecoder {
            config,
            line: Vec::with_capacity(128),
            overlong: false,
            at_link_start: true,
            dropped_at_start: 0,
            header_rate_hz: None,
            header_seq_bits: None,
            header_columns: None,
            form: None,
            layout: None,
            next_index: 0,
            last_seq: None,
            seen_sample_this_link: false,
            values: Vec::with_capacity(8),
            warnings: Vec::new(),
        }
    }

    /// The column layout, known once the first sample line has been read.
    pub fn layout(&self) -> Option<&Layout> {
        self.layout.as_ref()
    }

    /// Things worth telling the user (header changes ignored, counter width assumed, ...).
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    fn seq_bits(&self) -> Option<u32> {
        self.config.seq_bits.or(self.header_seq_bits)
    }

    /// The link was reopened (device replugged): drop the partial line, forget the counter, and
    /// count relative indices from 0 again. The layout stays: the device must send the same
    /// columns.
    pub fn reset_link(&mut self) {
        self.line.clear();
        self.overlong = false;
        self.at_link_start = true;
        self.dropped_at_start = 0;
        self.next_index = 0;
        self.last_seq = None;
        self.seen_sample_this_link = false;
    }

    /// Decode `bytes`; complete sample lines are appended to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Rows, stats: &mut LinkStats) {
        for &b in bytes {
            if b == b'\n' {
                if self.at_link_start {
                    self.at_link_start = false;
                    let starts_header = self.line.first() == Some(&b'#');
                    if (self.dropped_at_start > 0 || !starts_header) && !self.line.is_empty() {
                        // Opened mid-line, or a line we cannot trust to be whole.
                        stats.partial_first_lines += 1;
                        self.line.clear();
                        self.dropped_at_start = 0;
                        continue;
                    }
                }
                self.end_line(out, stats);
                self.line.clear();
                self.overlong = false;
            } else if self.line.len() < MAX_LINE_BYTES {
                self.line.push(b);
            } else {
                if self.at_link_start {
                    self.dropped_at_start += 1;
                }
                self.overlong = true;
            }
        }
    }

    fn end_line(&mut self, out: &mut Rows, stats: &mut LinkStats) {
        if self.overlong {
            stats.overlong_lines += 1;
            self.lost_line(stats);
            return;
        }
        let mut line = std::mem::take(&mut self.line);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        match std::str::from_utf8(&line) {
            Ok(text) => {
                let text = text.trim();
                if text.is_empty() {
                    stats.blank_lines += 1;
                } else if let Some(h) = text.strip_prefix('#') {
                    stats.header_lines += 1;
                    self.header(h.trim());
                } else {
                    self.sample_line(text, out, stats);
                }
            }
            Err(_) => {
                // Bytes that are not text: garbage (a brown-out, a wrong baud rate).
                if self.layout.is_some() {
                    stats.malformed_lines += 1;
                    self.lost_line(stats);
                } else {
                    stats.banner_lines += 1;
                }
            }
        }
        self.line = line;
    }

    /// A sample slot went by without a usable sample.
    fn lost_line(&mut self, stats: &mut LinkStats) {
        if self.seq_bits().is_none() && self.seen_sample_this_link {
            self.next_index += 1;
            stats.lost_samples += 1;
        }
    }

    fn header(&mut self, h: &str) {
        // `seq` alone, or key=value pairs separated by spaces; other words are a comment.
        let bare_seq = h.eq_ignore_ascii_case("seq");
        for item in h.split_whitespace() {
            let (key, value) = match item.split_once('=') {
                Some((k, v)) => (k.trim().to_ascii_lowercase(), v.trim()),
                None if bare_seq => ("seq".to_string(), ""),
                None => continue,
            };
            match key.as_str() {
                "rate_hz" | "fs_hz" | "rate" | "fs" => match value.parse::<f64>() {
                    Ok(r) if (SAMPLE_RATE_HZ.lo..=SAMPLE_RATE_HZ.hi).contains(&r) => {
                        if self.layout.is_some() && self.header_rate_hz.is_some_and(|o| o != r) {
                            self.warn(format!(
                                "the device declared rate_hz={r} after streaming at {} Hz; ignored",
                                self.header_rate_hz.unwrap_or(0.0)
                            ));
                        } else if self.layout.is_none() {
                            self.header_rate_hz = Some(r);
                        }
                    }
                    _ => self.warn(format!(
                        "header `{}`: not a usable rate ({}–{} Hz), ignored",
                        excerpt(item, 60),
                        SAMPLE_RATE_HZ.lo,
                        SAMPLE_RATE_HZ.hi
                    )),
                },
                "seq" => {
                    let bits = match value {
                        "" => {
                            self.warn(
                                "header `#seq` without a width: assuming a 16-bit counter \
                                 (declare `# seq=8|16|32`)"
                                    .to_string(),
                            );
                            Some(16)
                        }
                        "8" => Some(8),
                        "16" => Some(16),
                        "32" => Some(32),
                        _ => {
                            self.warn(format!(
                                "header `{}`: counter width must be 8, 16 or 32",
                                excerpt(item, 60)
                            ));
                            None
                        }
                    };
                    if self.layout.is_none() && self.config.seq_bits.is_none() {
                        self.header_seq_bits = bits;
                    }
                }
                "channels" => {
                    let cols: Vec<Column> = value
                        .split(',')
                        .filter(|c| !c.trim().is_empty())
                        .map(|c| match c.split_once(':') {
                            Some((n, u)) => Column {
                                name: n.trim().to_string(),
                                unit: Some(u.trim().to_string()).filter(|u| !u.is_empty()),
                            },
                            None => Column {
                                name: c.trim().to_string(),
                                unit: None,
                            },
                        })
                        .take(MAX_COLUMNS)
                        .collect();
                    if cols.is_empty() {
                        continue;
                    }
                    match &self.layout {
                        None => self.header_columns = Some(cols),
                        Some(l) if l.columns.len() != cols.len() => self.warn(format!(
                            "the device now declares {} channels, but streamed {}; ignored",
                            cols.len(),
                            l.columns.len()
                        )),
                        Some(_) => {}
                    }
                }
                _ => {}
            }
        }
    }

    fn warn(&mut self, w: String) {
        if self.warnings.len() < 32 {
            self.warnings.push(w);
        }
    }

    fn sample_line(&mut self, text: &str, out: &mut Rows, stats: &mut LinkStats) {
        let seq_bits = self.seq_bits();
        match self.parse_values(text, seq_bits.is_some()) {
            Parsed::Ok(seq) => {
                if self.layout.is_none() {
                    self.establish_layout();
                }
                let expected = self.layout.as_ref().map_or(0, |l| l.columns.len());
                if self.values.len() != expected {
                    stats.malformed_lines += 1;
                    self.lost_line(stats);
                    return;
                }
                let index = match (seq_bits, seq) {
                    (Some(bits), Some(seq)) => {
                        let modulus = 1u64 << bits;
                        if seq >= modulus {
                            stats.malformed_lines += 1;
                            return;
                        }
                        match self.last_seq {
                            None => 0,
                            Some((last, last_index)) => {
                                let delta = (seq + modulus - last) % modulus;
                                if delta == 0 {
                                    stats.duplicate_samples += 1;
                                    return;
                                }
                                stats.lost_samples += delta - 1;
                                last_index + delta
                            }
                        }
                    }
                    _ => self.next_index,
                };
                let invalid_nan = self.values.iter().any(|v| !v.is_finite());
                let invalid_range = !invalid_nan
                    && self
                        .config
                        .value_range
                        .is_some_and(|(lo, hi)| self.values.iter().any(|v| *v < lo || *v > hi));
                if let Some(seq) = seq {
                    self.last_seq = Some((seq, index));
                }
                self.next_index = index + 1;
                self.seen_sample_this_link = true;
                if invalid_nan || invalid_range {
                    if invalid_nan {
                        stats.nan_values += 1;
                    } else {
                        stats.out_of_range_values += 1;
                    }
                    stats.lost_samples += 1;
                    return;
                }
                out.push(index, &self.values);
                stats.samples += 1;
            }
            Parsed::Text => {
                if self.layout.is_none() || !self.seen_sample_this_link {
                    stats.banner_lines += 1;
                } else {
                    stats.text_lines += 1;
                }
            }
            Parsed::Corrupt => {
                if self.layout.is_none() || !self.seen_sample_this_link {
                    stats.banner_lines += 1;
                } else {
                    stats.malformed_lines += 1;
                    self.lost_line(stats);
                }
            }
        }
    }

    /// Fix the columns from the first sample line (labels) or the `# channels=` header.
    fn establish_layout(&mut self) {
        let n = self.values.len();
        let columns = match (&self.form, &self.header_columns) {
            (Some(Form::Labelled(labels)), _) => labels
                .iter()
                .map(|l| {
                    let unit = self
                        .header_columns
                        .as_ref()
                        .and_then(|h| h.iter().find(|c| &c.name == l))
                        .and_then(|c| c.unit.clone());
                    Column {
                        name: l.clone(),
                        unit,
                    }
                })
                .collect(),
            (_, Some(h)) if h.len() == n => h.clone(),
            (_, h) => {
                if let Some(h) = h {
                    let w = format!(
                        "the `# channels=` header names {} channels but the samples have {n}; \
                         the header is ignored",
                        h.len()
                    );
                    self.warn(w);
                }
                (1..=n)
                    .map(|i| Column {
                        name: format!("ch{i}"),
                        unit: None,
                    })
                    .collect()
            }
        };
        self.layout = Some(Layout {
            columns,
            rate_hz: self.config.rate_hz.or(self.header_rate_hz),
        });
    }

    /// Parse a sample line into `self.values`; returns the counter when one is declared.
    fn parse_values(&mut self, text: &str, has_seq: bool) -> Parsed {
        self.values.clear();
        if !text
            .bytes()
            .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
        {
            return Parsed::Corrupt;
        }
        let tokens = text
            .split([',', ';', '\t', ' '])
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let mut seq = None;
        let mut labels: Vec<&str> = Vec::new();
        let mut any_label = false;
        let mut any_plain = false;
        for (i, tok) in tokens.enumerate() {
            if i > MAX_COLUMNS {
                return Parsed::Corrupt;
            }
            let (label, value) = match tok.split_once(':') {
                Some((l, v)) => {
                    any_label = true;
                    (Some(l.trim()), v.trim())
                }
                None => {
                    any_plain = true;
                    (None, tok)
                }
            };
            if i == 0 && has_seq && label.is_none() {
                match value.parse::<u64>() {
                    Ok(s) => {
                        seq = Some(s);
                        continue;
                    }
                    Err(_) => return Self::text_or_corrupt(text),
                }
            }
            match value.parse::<f64>() {
                Ok(v) => self.values.push(v),
                Err(_) => return Self::text_or_corrupt(text),
            }
            if let Some(l) = label {
                labels.push(l);
            }
        }
        if self.values.is_empty() || (any_label && any_plain) || (has_seq && seq.is_none()) {
            return Self::text_or_corrupt(text);
        }
        let form_here = if any_label {
            Form::Labelled(labels.iter().map(|l| l.to_string()).collect())
        } else {
            Form::Plain
        };
        match &self.form {
            None => self.form = Some(form_here),
            Some(f) if *f != form_here => return Parsed::Corrupt,
            Some(_) => {}
        }
        Parsed::Ok(seq)
    }

    /// A line that is not a sample: mostly letters means a message, else a damaged sample.
    fn text_or_corrupt(text: &str) -> Parsed {
        let letters = text.chars().filter(|c| c.is_ascii_alphabetic()).count();
        let others = text
            .chars()
            .filter(|c| !c.is_ascii_alphabetic() && !c.is_ascii_whitespace())
            .count();
        if letters >= 3 && letters >= others {
            Parsed::Text
        } else {
            Parsed::Corrupt
        }
    }
}

enum Parsed {
    Ok(Option<u64>),
    Text,
    Corrupt,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(cfg: LineConfig, chunks: &[&[u8]]) -> (LineDecoder, Rows, LinkStats) {
        let mut d = LineDecoder::new(cfg);
        let mut rows = Rows::default();
        let mut stats = LinkStats::default();
        for c in chunks {
            d.push(c, &mut rows, &mut stats);
        }
        (d, rows, stats)
    }

    #[test]
    fn plain_numbers_with_any_separator() {
        for text in [
            "\n512,498\n513,499\n",
            "\n512 498\n513 499\n",
            "\n512\t498\r\n513\t499\r\n",
            "\n512; 498\n513 ;499\n",
        ] {
            let (d, rows, stats) = decode(LineConfig::default(), &[text.as_bytes()]);
            assert_eq!(rows.indices, vec![0, 1], "{text:?}");
            assert_eq!(rows.values, vec![512.0, 498.0, 513.0, 499.0], "{text:?}");
            assert_eq!(d.layout().map(|l| l.columns.len()), Some(2));
            assert_eq!(stats.lost_samples, 0);
        }
    }

    #[test]
    fn partial_first_line_is_dropped_but_a_first_header_is_kept() {
        let (d, rows, stats) = decode(
            LineConfig::default(),
            &[b"2,498\n# rate_hz=2000\n512,498\n"],
        );
        assert_eq!(stats.partial_first_lines, 1);
        assert_eq!(rows.len(), 1);
        assert_eq!(d.layout().and_then(|l| l.rate_hz), Some(2000.0));
        let (d, _, stats) = decode(LineConfig::default(), &[b"# rate_hz=500\n1\n"]);
        assert_eq!(stats.partial_first_lines, 0);
        assert_eq!(d.layout().and_then(|l| l.rate_hz), Some(500.0));
    }

    #[test]
    fn labels_become_column_names_and_headers_give_units() {
        let (d, rows, _) = decode(
            LineConfig::default(),
            &[b"\n# channels=pfm:uV,abd:uV\npfm:512,abd:498\npfm:1,abd:2\n"],
        );
        let l = d.layout().cloned().unwrap_or_else(|| panic!("no layout"));
        assert_eq!(l.columns[0].name, "pfm");
        assert_eq!(l.columns[1].unit.as_deref(), Some("uV"));
        assert_eq!(rows.values, vec![512.0, 498.0, 1.0, 2.0]);
    }

    #[test]
    fn counter_gaps_are_counted_and_keep_later_samples_in_place() {
        let (_, rows, stats) = decode(
            LineConfig::default(),
            &[b"\n# seq=8\n254,1\n255,2\n2,3\n2,3\n3,4\n"],
        );
        // 254, 255, (0, 1 lost), 2, duplicate 2, 3
        assert_eq!(rows.indices, vec![0, 1, 4, 5]);
        assert_eq!(stats.lost_samples, 2);
        assert_eq!(stats.duplicate_samples, 1);
    }

    #[test]
    fn corrupted_lines_take_their_slot_without_a_counter() {
        let (_, rows, stats) = decode(
            LineConfig::default(),
            &[b"\nBoot v1.2 ready\n1,2\n3,x4\n5\nnan,1\n\n7,8\nbutton pressed\n9,10\n"],
        );
        assert_eq!(rows.indices, vec![0, 4, 5]);
        assert_eq!(rows.values, vec![1.0, 2.0, 7.0, 8.0, 9.0, 10.0]);
        assert_eq!(stats.banner_lines, 1);
        assert_eq!(stats.malformed_lines, 2);
        assert_eq!(stats.nan_values, 1);
        assert_eq!(stats.blank_lines, 2);
        assert_eq!(stats.text_lines, 1);
        assert_eq!(stats.lost_samples, 3);
    }

    #[test]
    fn out_of_range_and_garbage_bytes_are_counted() {
        let cfg = LineConfig {
            value_range: Some((0.0, 1023.0)),
            ..LineConfig::default()
        };
        let (_, rows, stats) = decode(cfg, &[b"\n1\n2000\n\xff\xfe\x01\n3\n"]);
        assert_eq!(rows.indices, vec![0, 3]);
        assert_eq!(stats.out_of_range_values, 1);
        assert_eq!(stats.malformed_lines, 1);
    }

    #[test]
    fn overlong_garbage_is_bounded() {
        let mut junk = vec![b'7'; 10 * MAX_LINE_BYTES];
        junk.push(b'\n');
        let (d, rows, stats) = decode(LineConfig::default(), &[b"\n1,2\n", &junk, b"3,4\n"]);
        assert_eq!(rows.indices, vec![0, 2]);
        assert_eq!(stats.overlong_lines, 1);
        assert!(d.line.capacity() <= 2 * MAX_LINE_BYTES);
    }

    #[test]
    fn reset_link_restarts_relative_indices_and_drops_the_partial_line() {
        let (mut d, mut rows, mut stats) = decode(LineConfig::default(), &[b"\n1\n2\n3"]);
        d.reset_link();
        d.push(b"4\n5\n6\n", &mut rows, &mut stats);
        assert_eq!(rows.indices, vec![0, 1, 0, 1]);
        assert_eq!(rows.values, vec![1.0, 2.0, 5.0, 6.0]);
        assert_eq!(stats.partial_first_lines, 1);
    }
}
