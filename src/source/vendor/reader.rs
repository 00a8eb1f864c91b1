//! Streams the rows of a vendor export described by a [`Layout`].

use super::Layout;
use crate::error::InputError;
use crate::frame::{Block, ChannelChunk, ChannelSpec, Role, SignalKind, StreamSpec};
use crate::limits::{excerpt_bytes, SAMPLE_RATE_HZ};
use crate::source::csv_columns::{choose_columns, list_columns, quoted};
use crate::source::csv_fields::{field_count, is_finite_number, parse_cell, split_fields, Cell};
use crate::source::csv_file::{CsvOptions, Derived};
use crate::source::csv_lines::Lines;
use crate::source::derive::{self, Derivation, Pick};
use crate::source::edf::unit_factor;
use crate::source::{plausible, Source};
use std::path::{Path, PathBuf};

/// Rows per block.
const BLOCK_ROWS: usize = 4096;

/// A vendor export as a [`Source`].
pub struct VendorSource {
    path: PathBuf,
    lines: Lines,
    layout: Layout,
    /// Per inner channel: its column, gain and offset to knip's unit, plausible |value|.
    cols: Vec<(usize, f64, f64, f64)>,
    spec: StreamSpec,
    derived: Option<Derived>,
    next_index: u64,
    prev_counter: Option<u64>,
    lost: u64,
    lost_runs: u64,
    implausible: u64,
    first_implausible_line: u64,
    fields: Vec<(usize, usize)>,
    /// A row read but held for the next block (after a gap).
    carry: Option<Vec<f64>>,
    warnings: Vec<String>,
    done: bool,
}

impl std::fmt::Debug for VendorSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VendorSource")
            .field("path", &self.path)
            .field("dialect", &self.layout.dialect)
            .finish_non_exhaustive()
    }
}

impl VendorSource {
    /// Opens a file whose header [`super::detect`] recognised.
    pub(crate) fn open(
        path: &Path,
        mut layout: Layout,
        opts: &CsvOptions,
    ) -> Result<VendorSource, InputError> {
        let dialect = layout.dialect.clone();
        let fmt_err = |message: String| InputError::Format {
            path: path.to_path_buf(),
            message: format!("{dialect}: {message}"),
        };
        SAMPLE_RATE_HZ
            .check(layout.rate_hz)
            .map_err(|e| fmt_err(format!("the header's sampling rate: {e}")))?;
        let mut warnings = layout.warnings.clone();
        let mut lines = Lines::open(path)?;
        for _ in 0..layout.header_lines {
            lines.next()?;
        }
        // The first data row: which columns are numeric.
        let mut fields = Vec::new();
        let first_data = loop {
            let off = lines.offset;
            if !lines.next()? {
                return Err(fmt_err("no data rows after the header".into()));
            }
            let line = lines.line();
            if line.trim_ascii().is_empty() {
                continue;
            }
            split_fields(line, layout.sep, &mut fields);
            let zero_row = layout.drop_zero_row
                && fields
                    .iter()
                    .all(|&(s, e)| matches!(parse_cell(&line[s..e], layout.sep), Cell::Num(v) if v == 0.0));
            if zero_row {
                warnings.push(format!(
                    "line {}: a row of zeros before the data (OpenBCI GUI v5 writes one) is skipped",
                    lines.line_no
                ));
                continue;
            }
            break (off, lines.line_no - 1, line.to_vec());
        };
        let (data_offset, line_before, first) = first_data;
        split_fields(&first, layout.sep, &mut fields);
        let numeric: Vec<bool> = (0..layout.names.len())
            .map(|i| {
                fields
                    .get(i)
                    .is_some_and(|&(s, e)| is_finite_number(&first[s..e], layout.sep))
            })
            .collect();
        let any_option = opts.pfm.is_some() || opts.abd.is_some() || opts.pressure.is_some();
        let picks: Vec<(Role, Pick)> = if any_option {
            choose_columns(&layout.names, &numeric, layout.counter.map(|c| c.0), opts)
                .map_err(fmt_err)?
        } else {
            layout
                .default_picks()
                .into_iter()
                .map(|(r, c)| (r, Pick::One(c)))
                .collect()
        };
        if picks.is_empty() {
            let emg: Vec<String> = layout
                .emg
                .iter()
                .map(|&i| layout.names[i].clone())
                .collect();
            let listed = if emg.is_empty() {
                format!(
                    "The header marks no channel as EMG; the columns are {}",
                    list_columns(&layout.names)
                )
            } else {
                format!(
                    "The EMG channels are {}",
                    emg.iter()
                        .map(|n| format!("\"{}\"", quoted(n)))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            return Err(fmt_err(format!(
                "which channel is the pelvic-floor EMG? {listed}. Choose with --pfm NAME (and \
                 --abd NAME, --pressure NAME), or --pfm NAME1-NAME2 for the bipolar difference \
                 of two"
            )));
        }
        match opts.rate_hz {
            Some(r) if layout.rate_from_stamps => {
                layout.rate_hz = SAMPLE_RATE_HZ
                    .check(r)
                    .map_err(|e| fmt_err(format!("--rate: {e}")))?;
                warnings.retain(|w| !w.starts_with("Shimmer: the rate"));
                warnings.push(format!("the rate {r} Hz comes from --rate"));
            }
            Some(r) if r != layout.rate_hz => warnings.push(format!(
                "--rate ignored: the header gives {} Hz",
                layout.rate_hz
            )),
            _ => {}
        }
        let (inner, plan) = derive::expand(&picks);
        let mut cols = Vec::new();
        let mut channels = Vec::new();
        for &(role, col) in &inner {
            let (factor, unit) = unit_factor(role, &layout.units[col]);
            cols.push((
                col,
                layout.gain[col] * factor,
                layout.offset[col] * factor,
                plausible::max_abs(&unit),
            ));
            channels.push(ChannelSpec {
                name: quoted(&layout.names[col]),
                role,
                unit,
                rate_hz: layout.rate_hz,
                kind: if opts.envelope && role.is_emg() {
                    SignalKind::Envelope
                } else {
                    SignalKind::Raw
                },
            });
        }
        for (&(_, pick), p) in picks.iter().zip(&plan) {
            if let (Pick::Diff(a, b), Pick::Diff(ka, kb)) = (pick, p) {
                if channels[*ka].unit != channels[*kb].unit {
                    return Err(fmt_err(format!(
                        "cannot form {}-{}: one is in {} and the other in {}",
                        quoted(&layout.names[a]),
                        quoted(&layout.names[b]),
                        channels[*ka].unit,
                        channels[*kb].unit
                    )));
                }
            }
        }
        let spec = StreamSpec {
            channels,
            start_time_s: 0.0,
        };
        let derived = (!derive::is_identity(&plan, inner.len()))
            .then(|| Derived::new(&layout.names, &spec, &picks, plan));
        lines.seek_to(data_offset, line_before)?;
        Ok(VendorSource {
            path: path.to_path_buf(),
            lines,
            layout,
            cols,
            spec,
            derived,
            next_index: 0,
            prev_counter: None,
            lost: 0,
            lost_runs: 0,
            implausible: 0,
            first_implausible_line: 0,
            fields,
            carry: None,
            warnings,
            done: false,
        })
    }

    /// The dialect recognised (`OpenSignals (bitalino_rev, 1000 Hz)`, …).
    pub fn dialect(&self) -> &str {
        &self.layout.dialect
    }

    fn parse_err(&self, line: u64, message: String) -> InputError {
        InputError::Parse {
            path: self.path.clone(),
            line,
            message,
        }
    }

    fn finish(&mut self) {
        self.done = true;
        if self.lost > 0 {
            let m = self.layout.counter.map_or(0, |c| c.1);
            self.warnings.push(format!(
                "{} samples lost in {} gaps of the sample counter (counted modulo {m}: a gap of \
                 {m} or more samples is not seen)",
                self.lost, self.lost_runs
            ));
        }
        if self.implausible > 0 {
            self.warnings.push(format!(
                "{} rows with a value beyond the plausible range (first at line {}), counted as \
                 lost samples",
                self.implausible, self.first_implausible_line
            ));
        }
    }

    /// The next row's channel values and the sample indices lost before it (counter gaps, rows
    /// dropped as implausible), or `None` at the end.
    fn read_row(&mut self) -> Result<Option<(Vec<f64>, u64)>, InputError> {
        let mut dropped = 0;
        loop {
            if !self.lines.next()? {
                return Ok(None);
            }
            let line_no = self.lines.line_no;
            let line = self.lines.line();
            if line.trim_ascii().is_empty() || matches!(line.first(), Some(b'#' | b'%')) {
                continue;
            }
            let n = self.layout.names.len();
            split_fields(line, self.layout.sep, &mut self.fields);
            let nf = field_count(line, &self.fields, n);
            let torn = !self.lines.terminated;
            if nf < n {
                if torn {
                    self.warnings.push(format!(
                        "line {line_no}, the last line, has {nf} of {n} fields: it was cut off \
                         and is dropped"
                    ));
                    return Ok(None);
                }
                return Err(self.parse_err(
                    line_no,
                    format!(
                        "{nf} fields but the header has {n} ({}). Is the line cut short?",
                        list_columns(&self.layout.names)
                    ),
                ));
            }
            let mut gap = 0;
            if let Some((c, m)) = self.layout.counter {
                let (s, e) = self.fields[c];
                let v = match parse_cell(&line[s..e], self.layout.sep) {
                    Cell::Num(v) if v >= 0.0 && v < m as f64 && v.fract() == 0.0 => v as u64,
                    _ => {
                        let text = excerpt_bytes(line[s..e].trim_ascii(), 24);
                        return Err(self.parse_err(
                            line_no,
                            format!(
                                "sample counter \"{text}\" in column \"{}\" is not a whole number \
                                 from 0 to {}",
                                quoted(&self.layout.names[c]),
                                m - 1
                            ),
                        ));
                    }
                };
                if let Some(p) = self.prev_counter {
                    gap = (v + m - (p + 1) % m) % m;
                }
                self.prev_counter = Some(v);
            }
            let mut vals = Vec::with_capacity(self.cols.len());
            let mut implausible = false;
            for &(col, gain, offset, max_abs) in &self.cols {
                let (s, e) = self.fields[col];
                match parse_cell(&line[s..e], self.layout.sep) {
                    Cell::Num(v) if v.is_finite() => {
                        let x = v * gain + offset;
                        implausible |= x.abs() > max_abs;
                        vals.push(x);
                    }
                    _ => {
                        if torn {
                            self.warnings.push(format!(
                                "line {line_no}, the last line, has an unreadable value: it was \
                                 cut off and is dropped"
                            ));
                            return Ok(None);
                        }
                        let text = excerpt_bytes(line[s..e].trim_ascii(), 24);
                        return Err(self.parse_err(
                            line_no,
                            format!(
                                "column \"{}\": \"{text}\" is not a number. Fix or delete the \
                                 line, or choose other columns with --pfm/--abd/--pressure",
                                quoted(&self.layout.names[col])
                            ),
                        ));
                    }
                }
            }
            if gap > 0 {
                self.lost += gap;
                self.lost_runs += 1;
            }
            if implausible {
                if self.implausible == 0 {
                    self.first_implausible_line = line_no;
                }
                self.implausible += 1;
                // Lost: the next row comes one index later.
                dropped += gap + 1;
                continue;
            }
            return Ok(Some((vals, gap + dropped)));
        }
    }

    fn next_inner_block(&mut self) -> Result<Option<Block>, InputError> {
        if self.done {
            return Ok(None);
        }
        let n = self.cols.len();
        let mut block = Block {
            chunks: (0..n)
                .map(|_| ChannelChunk {
                    start_index: self.next_index,
                    samples: Vec::with_capacity(BLOCK_ROWS),
                })
                .collect(),
        };
        if let Some(vals) = self.carry.take() {
            for (c, v) in block.chunks.iter_mut().zip(vals) {
                c.samples.push(v);
            }
            self.next_index += 1;
        }
        while block.chunks[0].samples.len() < BLOCK_ROWS {
            let Some((vals, gap)) = self.read_row()? else {
                self.finish();
                break;
            };
            if gap > 0 {
                self.next_index += gap;
                if !block.chunks[0].samples.is_empty() {
                    self.carry = Some(vals);
                    break;
                }
                for c in &mut block.chunks {
                    c.start_index = self.next_index;
                }
            }
            for (c, v) in block.chunks.iter_mut().zip(vals) {
                c.samples.push(v);
            }
            self.next_index += 1;
        }
        Ok((!block.is_empty()).then_some(block))
    }
}

impl Source for VendorSource {
    fn spec(&self) -> &StreamSpec {
        match &self.derived {
            Some(d) => &d.spec,
            None => &self.spec,
        }
    }

    fn reader_warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    fn derivations(&self) -> Vec<Derivation> {
        self.derived
            .as_ref()
            .map_or_else(Vec::new, |d| d.records.clone())
    }

    fn next_block(&mut self) -> Result<Option<Block>, InputError> {
        let block = self.next_inner_block()?;
        Ok(match (&self.derived, block) {
            (Some(d), Some(b)) => Some(derive::apply(&d.plan, b)),
            (_, b) => b,
        })
    }
}
