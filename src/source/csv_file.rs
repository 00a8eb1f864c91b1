//! Reading recordings from delimited text: knip's own (with a JSON sidecar) and other people's.
//!
//! The parts: `csv_lines` (bounded lines from a file, pipe or stdin), `csv_fields` (separator,
//! fields, numbers), `csv_meta` (metadata comments), `csv_columns` (time and channel columns),
//! `csv_rows` / `csv_parallel` (the bulk and parallel row parsers), `plausible` (values counted
//! as lost), `sidecar::load_beside`; this module opens a file (rate, prescan) and streams it.
//!
//! The reader streams, so memory stays flat however long the file is. Well-formed rows are parsed
//! in one pass straight out of the read buffer (`csv_rows.rs`) — or, for a large file with
//! `read_threads` > 1, by worker threads ahead of the reader (`csv_parallel.rs`); every
//! other line goes to the general path, which locates fields as byte ranges in a reused buffer
//! and explains what is wrong. Only the time column and the chosen channel columns are parsed:
//! unused columns (which may hold `nan` or text) are never looked at. Either way the reader
//! decides time order, lost samples and block boundaries row by row, so the blocks are the same.
//!
//! File rules, in the order they are applied:
//! - Lines starting with `#` are comments anywhere; blank lines are skipped. Comments before the
//!   first data row may carry metadata: `rate_hz=2000`, `fs_hz=250`, `fs_hz~1.852` (approximate),
//!   `kind=emg_envelope`, `units=...`, or BioSPPy's `Sampling Rate (Hz):= 1000.00`.
//! - The separator is detected from the first non-comment row: tab, then `;`, then `,`, else runs
//!   of spaces. With `;` a decimal comma (`0,5`) is accepted.
//! - That first row is a header of names unless all of its fields are numbers.
//! - A line `Annotations:` ends the data (anomanor manometry exports put clinician markers after
//!   it; read them with [`read_anomanor_markers`]).
//! - Times come from a `time_s` / `time` / `t` / `TIME:` / `ZEIT:` column, else from `--rate`,
//!   else from a rate in the comments.
//! - With a knip sidecar (`FILE.json` beside `FILE.csv`) channels, roles, units and each channel's
//!   own rate come from the sidecar, and an empty cell means "no sample of this channel on this
//!   row". Without one, all channels share one rate and an empty cell is an error.

use crate::error::InputError;
use crate::frame::Role;
use crate::frame::{Block, ChannelChunk, ChannelSpec, SignalKind, StreamSpec};
use crate::limits::excerpt_bytes;
pub use crate::source::anomanor::read_anomanor_markers;
use crate::source::csv_columns::{
    choose_columns, list_columns, pick_name, quoted, Column, QUOTED_NAME_CHARS, TIME_NAMES,
};
use crate::source::csv_fields::{
    classify, detect_sep, field_count, is_finite_number, is_numeric, parse_cell, printed_decimals,
    split_fields, trim_field, Cell, LineKind, Sep,
};
use crate::source::csv_lines::Lines;
use crate::source::csv_meta::{parse_meta_comment, Meta};
use crate::source::csv_parallel::{self, Next, ParallelFeed};
use crate::source::csv_rows::{AtDeclined, ParsedLines, RowLayout, SKIP_FIELD};
use crate::source::derive::{self, Derivation, Pick};
use crate::source::{plausible, Source};
use std::path::{Path, PathBuf};

/// Rows per block when [`CsvOptions::block_rows`] is 0.
pub const DEFAULT_BLOCK_ROWS: usize = 4096;
/// Time steps deviating from the median step by more than this fraction are "irregular".
pub const JITTER_TOLERANCE: f64 = 0.05;
/// A rate given in the header or with `--rate` is used instead of the one measured from the
/// time column when the two agree within this fraction (the given one is more exact).
const RATE_AGREEMENT: f64 = 0.005;
/// Rows read at open to measure the median time step.
const PRESCAN_ROWS: usize = 20_000;
/// Bytes read at open at most for that (they are kept in memory to be read again).
const PRESCAN_MAX_BYTES: usize = 16 << 20;
/// Below this rate a time column not named `time_s` may count milliseconds (a hint is given).
const MS_HINT_BELOW_HZ: f64 = 10.0;
/// Below this rate a raw EMG column is suspicious (probably already an envelope).
const MIN_RAW_EMG_RATE_HZ: f64 = 100.0;
/// How to read a file that is not (or not only) described by a sidecar: the command-line flags.
#[derive(Debug, Clone, Default)]
pub struct CsvOptions {
    /// `--rate HZ`: the sampling rate when there is no time column (overrides header metadata).
    pub rate_hz: Option<f64>,
    /// `--pfm COL`: pelvic-floor EMG column, by name or 1-based number.
    pub pfm: Option<String>,
    /// `--abd COL`: abdominal EMG column.
    pub abd: Option<String>,
    /// `--pressure COL`: probe pressure column.
    pub pressure: Option<String>,
    /// `--envelope`: the EMG columns are already RMS envelopes ([`SignalKind::Envelope`]).
    pub envelope: bool,
    /// Rows per [`Block`] (default [`DEFAULT_BLOCK_ROWS`] when 0).
    pub block_rows: usize,
    /// Threads that parse a large file ahead of the reader (0 or 1: the reader alone; at most 4
    /// are started). The blocks, values, warnings and errors are the same either way.
    pub read_threads: usize,
    /// Bytes each of those threads parses at a time (0: a default of 512 KB). For tests.
    pub read_chunk_bytes: usize,
}

/// A time that does not come after the previous row's `prev`: earlier, or the same where the
/// channels have several rates (each row is then an instant of its own). One rule for the
/// prescan, the general path and the bulk paths.
#[inline]
fn goes_back(t: f64, prev: f64, multi_rate: bool) -> bool {
    t < prev || (t == prev && multi_rate)
}

/// How many samples after its slot a sample at device time `t` comes, for a channel at `rate_hz`
/// starting at `t0` whose next sample index is `next`.
#[inline]
fn samples_past_slot(t: f64, t0: f64, rate_hz: f64, next: f64) -> f64 {
    (t - t0) * rate_hz - next
}

/// More than half a sample after its slot: samples were lost before it (a gap in a recording).
#[inline]
fn lost_before(samples_past_slot: f64) -> bool {
    samples_past_slot > 0.5
}

/// What the general path made of one line.
enum LineRow {
    /// A data row (values in `row_vals`) and its time.
    Row(Option<f64>),
    /// A blank or comment line.
    Skip,
    /// The end of the data (end of file, `Annotations:`, a torn last line).
    End,
}

/// What the parallel feed gave.
enum FeedStep {
    /// This many rows placed in the block.
    Rows(usize),
    /// The line at this offset is for the general path.
    General(u64),
}

/// Seconds for messages: up to 6 decimals, no trailing zeros.
fn secs(x: f64) -> String {
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// Values of one channel beyond [`plausible::max_abs`]: counted as lost samples.
#[derive(Debug, Default, Clone)]
struct Implausible {
    count: u64,
    first_line: u64,
    first_text: String,
}

/// Streams a delimited text recording as [`Block`]s. See the module documentation for the rules.
pub struct CsvSource {
    path: PathBuf,
    lines: Lines,
    sep: Sep,
    n_fields: usize,
    names: Vec<String>,
    time_col: Option<usize>,
    /// Factor from the time column's unit to seconds.
    time_scale: f64,
    columns: Vec<Column>,
    spec: StreamSpec,
    /// Channels have their own rates and empty cells mean "no sample" (knip sidecar present).
    multi_rate: bool,
    /// Fastest rate: the row rate.
    row_rate_hz: f64,
    next_index: Vec<u64>,
    /// Median time step and the line of the previous time value, for the jitter check.
    median_step_s: Option<f64>,
    prev_time: Option<(f64, u64)>,
    irregular_steps: u64,
    first_irregular_line: u64,
    total_steps: u64,
    jitter_warning: Option<usize>,
    /// Times equal to the one before (a time column rounded coarser than the sample interval):
    /// how many, from which line, and whether the prescan already said so.
    time_repeats: u64,
    first_repeat_line: u64,
    repeats_told: bool,
    block_rows: usize,
    warnings: Vec<String>,
    fields: Vec<(usize, usize)>,
    row_vals: Vec<Option<f64>>,
    /// For the bulk row parser (a byte separator only): per field, its slot among a row's values
    /// (0 = time, k + 1 = channel k) or [`SKIP_FIELD`].
    layout: Option<RowLayout>,
    /// Rows the bulk parser read from the buffer, before they are checked and placed.
    bulk: ParsedLines,
    /// A row read but held over to start the next block (after a gap in a knip recording, or a
    /// value counted as lost): its time.
    carry: Option<Option<f64>>,
    /// Per channel, the largest |value| that is a measurement ([`plausible::max_abs`]).
    max_abs: Vec<f64>,
    /// Per channel, the values beyond it, counted as lost samples.
    implausible: Vec<Implausible>,
    /// Worker threads parsing ahead (large files, `read_threads` > 1).
    feed: Option<ParallelFeed>,
    /// Scratch for [`Self::accept_run`]: next sample index per channel.
    run_counts: Vec<u64>,
    done: bool,
    /// Bipolar derivations (`--pfm A-B`): the columns above are their sources, and this forms
    /// the channels the stream has.
    derived: Option<Derived>,
}

/// The channels a stream has when some are derivations of the columns read.
#[derive(Debug)]
pub(crate) struct Derived {
    pub(crate) spec: StreamSpec,
    pub(crate) plan: Vec<Pick>,
    pub(crate) records: Vec<Derivation>,
}

impl Derived {
    /// From the picks (in columns of `names`), the plan (in inner channels) and the inner spec.
    pub(crate) fn new(
        names: &[String],
        inner: &StreamSpec,
        picks: &[(Role, Pick)],
        plan: Vec<Pick>,
    ) -> Derived {
        let mut records = Vec::new();
        let channels = picks
            .iter()
            .zip(&plan)
            .map(|(&(role, pick), &p)| {
                let mut ch = inner.channels[p.first()].clone();
                ch.role = role;
                ch.name = quoted(&pick_name(names, pick));
                if let Pick::Diff(a, b) = pick {
                    records.push(Derivation {
                        role,
                        name: ch.name.clone(),
                        plus: quoted(&names[a]),
                        minus: quoted(&names[b]),
                        unit: ch.unit.clone(),
                    });
                }
                ch
            })
            .collect();
        Derived {
            spec: StreamSpec {
                channels,
                start_time_s: inner.start_time_s,
            },
            plan,
            records,
        }
    }
}

impl std::fmt::Debug for CsvSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvSource")
            .field("path", &self.path)
            .field("spec", &self.spec)
            .field("warnings", &self.warnings)
            .finish_non_exhaustive()
    }
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mid = values.len() / 2;
    let (_, m, _) = values.select_nth_unstable_by(mid, |a, b| a.total_cmp(b));
    Some(*m)
}

/// The rate of a regular time column whose printed times are rounded to `unit_s` (10^-decimals
/// s): every step is the true step rounded up or down, so the median step can be off by up to a
/// unit (512 Hz at six decimals gives 0.001953 s, 512.03 Hz: 0.2 s adrift after an hour). The
/// span of the prescanned times is off by at most one unit however many steps it holds: the rate
/// is `steps / span`, or the whole number of Hz within that error when there is one (512.0000
/// from 39 s of times). `None` when the steps vary by more than the rounding (gaps, jitter; the
/// median step then stands) or do not vary at all (the step is exact).
fn rate_from_rounded_span(
    steps: &[f64],
    median_step_s: f64,
    span_s: f64,
    n_steps: u64,
    unit_s: f64,
) -> Option<f64> {
    let slack = 1.01 * unit_s;
    let rounding_only = steps.iter().all(|s| (s - median_step_s).abs() <= slack);
    let varies = steps
        .iter()
        .any(|s| (s - median_step_s).abs() > 0.01 * unit_s);
    if !(rounding_only && varies && span_s > 0.0 && n_steps > 0 && unit_s > 0.0) {
        return None;
    }
    let rate = n_steps as f64 / span_s;
    let error_hz = rate * unit_s / span_s;
    let whole = rate.round();
    Some(if (whole - rate).abs() <= error_hz {
        whole
    } else {
        rate
    })
}

/// Where the first value of `v` that is not a measurement is: NaN (an empty cell) or beyond
/// `max_abs`. Looked for sixteen values at a time, with a compare the compiler turns into
/// vector code (most runs have none), then value by value in the group that has one.
fn first_implausible(v: &[f64], max_abs: f64) -> Option<usize> {
    let implausible = |x: f64| x.is_nan() || x.abs() > max_abs;
    let mut start = 0;
    for group in v.chunks(16) {
        if group.iter().fold(false, |any, &x| any | implausible(x)) {
            return group
                .iter()
                .position(|&x| implausible(x))
                .map(|k| start + k);
        }
        start += group.len();
    }
    None
}

/// The bulk parser's layout of a row: per field, its slot among a row's values (0 the time,
/// `k + 1` channel `k`) or [`SKIP_FIELD`]; `None` for blank-separated text (the general path
/// reads it).
fn row_layout(
    sep: Sep,
    n_fields: usize,
    time_col: Option<usize>,
    columns: &[Column],
) -> Option<RowLayout> {
    let Sep::Byte(sep) = sep else {
        return None;
    };
    let mut slots = vec![SKIP_FIELD; n_fields];
    if let Some(tc) = time_col {
        slots[tc] = 0;
    }
    for (k, c) in columns.iter().enumerate() {
        slots[c.index] = k as u32 + 1;
    }
    Some(RowLayout {
        sep,
        slots,
        width: columns.len() + 1,
    })
}

/// A time step within the jitter tolerance of the median step (false for NaN).
#[inline]
fn regular_step(step_s: f64, median_step_s: f64) -> bool {
    (step_s - median_step_s).abs() <= JITTER_TOLERANCE * median_step_s
}

fn agrees(a: f64, b: f64) -> bool {
    ((a / b) - 1.0).abs() <= RATE_AGREEMENT
}

impl CsvSource {
    /// Opens a recording, reads its header, metadata and sidecar, measures the rate from the
    /// first rows, and positions the stream at the first data row.
    pub fn open(path: &Path, opts: &CsvOptions) -> Result<CsvSource, InputError> {
        let mut lines = Lines::open(path)?;
        let mut warnings = Vec::new();
        let sidecar = crate::sidecar::load_beside(path, &mut warnings)?;
        let fmt_err = |message: String| InputError::Format {
            path: path.to_path_buf(),
            message,
        };

        // Metadata comments and the first row.
        let mut meta = Meta::default();
        let mut first_offset;
        loop {
            first_offset = lines.offset;
            if !lines.next()? {
                return Err(fmt_err(
                    "the file is empty (no data rows). Was the recording stopped before it started?"
                        .to_string(),
                ));
            }
            match classify(lines.line()) {
                LineKind::Blank => {}
                LineKind::Comment => {
                    parse_meta_comment(&String::from_utf8_lossy(lines.line()), &mut meta)
                }
                LineKind::EndOfData => {
                    return Err(fmt_err("the file has no data rows".to_string()));
                }
                LineKind::Data => break,
            }
        }
        let first_line_no = lines.line_no;
        let sep = detect_sep(lines.line());
        let mut fields = Vec::new();
        split_fields(lines.line(), sep, &mut fields);
        let first = lines.line().to_vec();
        let has_header = fields.iter().any(|&(s, e)| {
            let f = trim_field(&first[s..e]);
            !f.is_empty() && !is_numeric(f, sep)
        });
        let names: Vec<String> = if has_header {
            fields
                .iter()
                .map(|&(s, e)| String::from_utf8_lossy(trim_field(&first[s..e])).into_owned())
                .collect()
        } else {
            (1..=fields.len()).map(|i| i.to_string()).collect()
        };
        // A trailing separator (`a,b,`) adds no column.
        let mut names = names;
        while names.len() > 1 && names.last().is_some_and(|n| n.is_empty()) {
            names.pop();
        }
        let n_fields = names.len();

        // The first data row (to check there is one and which columns are numeric).
        let (data_offset, data_line_no) = if has_header {
            loop {
                let off = lines.offset;
                if !lines.next()? {
                    return Err(fmt_err(format!(
                        "the file has a header ({}) but no data rows",
                        list_columns(&names)
                    )));
                }
                match classify(lines.line()) {
                    LineKind::Blank => {}
                    LineKind::Comment => {
                        parse_meta_comment(&String::from_utf8_lossy(lines.line()), &mut meta)
                    }
                    LineKind::EndOfData => {
                        return Err(fmt_err(format!(
                            "the file has a header ({}) but no data rows",
                            list_columns(&names)
                        )))
                    }
                    LineKind::Data => break (off, lines.line_no),
                }
            }
        } else {
            (first_offset, first_line_no)
        };
        let first_data = lines.line().to_vec();
        split_fields(&first_data, sep, &mut fields);
        let numeric: Vec<bool> = (0..n_fields)
            .map(|i| {
                fields
                    .get(i)
                    .is_some_and(|&(s, e)| is_finite_number(&first_data[s..e], sep))
            })
            .collect();
        if !numeric.iter().any(|&b| b) {
            return Err(InputError::Parse {
                path: path.to_path_buf(),
                line: data_line_no,
                message: format!(
                    "no numeric column (columns: {}). Is this a recording of samples? knip reads \
                     delimited text with one row per sample time.",
                    list_columns(&names)
                ),
            });
        }

        let (time_col, time_scale) = if has_header {
            TIME_NAMES
                .iter()
                .find_map(|(t, scale)| {
                    names
                        .iter()
                        .position(|n| n.eq_ignore_ascii_case(t))
                        .map(|i| (Some(i), *scale))
                })
                .unwrap_or((None, 1.0))
        } else {
            (None, 1.0)
        };

        // Channels (with derivations: the columns they need, and the plan that forms them).
        let mut derived = None;
        let (columns, mut channels, multi_rate, sidecar_start) = match &sidecar {
            Some(sc) => {
                if time_col.is_none() {
                    return Err(fmt_err(format!(
                        "the knip sidecar {} is present but the file has no time_s column \
                         (columns: {})",
                        path.with_extension("json").display(),
                        list_columns(&names)
                    )));
                }
                if opts.pfm.is_some()
                    || opts.abd.is_some()
                    || opts.pressure.is_some()
                    || opts.envelope
                {
                    warnings.push(
                        "--pfm/--abd/--pressure/--envelope ignored: the knip sidecar defines the \
                         channels"
                            .to_string(),
                    );
                }
                if opts.rate_hz.is_some() {
                    warnings.push(
                        "--rate ignored: the knip sidecar gives each channel's rate".to_string(),
                    );
                }
                let mut cols = Vec::new();
                for ch in &sc.channels {
                    let Some(i) = names.iter().position(|n| n == &ch.name) else {
                        return Err(fmt_err(format!(
                            "the sidecar names channel \"{}\" but the file has no such column \
                             (columns: {}). Do the CSV and its .json belong together?",
                            quoted(&ch.name),
                            list_columns(&names)
                        )));
                    };
                    if !(ch.rate_hz.is_finite() && ch.rate_hz > 0.0) {
                        return Err(fmt_err(format!(
                            "the sidecar gives channel \"{}\" the rate {} Hz; a rate must be positive",
                            quoted(&ch.name),
                            ch.rate_hz
                        )));
                    }
                    cols.push(Column {
                        index: i,
                        name: ch.name.clone(),
                    });
                }
                if cols.is_empty() {
                    return Err(fmt_err("the sidecar lists no channels".to_string()));
                }
                (cols, sc.channels.clone(), true, Some(sc.start_time_s))
            }
            None => {
                let picks = choose_columns(&names, &numeric, time_col, opts)
                    .map_err(|m| fmt_err(m.to_string()))?;
                let (inner, plan) = derive::expand(&picks);
                if !derive::is_identity(&plan, inner.len()) {
                    derived = Some((picks, plan));
                }
                let cols: Vec<(Role, Column)> = inner
                    .iter()
                    .map(|&(role, i)| {
                        (
                            role,
                            Column {
                                index: i,
                                name: names[i].clone(),
                            },
                        )
                    })
                    .collect();
                let envelope = opts.envelope || meta.envelope == Some(true);
                let channels = cols
                    .iter()
                    .map(|(role, c)| ChannelSpec {
                        // From the file: it goes to the terminal and the reports.
                        name: quoted(&c.name),
                        role: *role,
                        unit: meta
                            .units
                            .clone()
                            .unwrap_or_else(|| role.default_unit().to_string()),
                        rate_hz: 0.0,
                        kind: if envelope && role.is_emg() {
                            SignalKind::Envelope
                        } else {
                            SignalKind::Raw
                        },
                    })
                    .collect::<Vec<_>>();
                if meta.units.is_none() {
                    warnings.push(format!(
                        "no units in the file header: assuming {}",
                        channels
                            .iter()
                            .map(|c| format!("{} for \"{}\"", c.unit, c.name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                if meta.envelope == Some(true) && !opts.envelope {
                    warnings.push(
                        "the header says kind=emg_envelope: EMG columns are used as RMS envelopes \
                         (no band-pass, no rectification)"
                            .to_string(),
                    );
                }
                (
                    cols.into_iter().map(|(_, c)| c).collect(),
                    channels,
                    false,
                    None,
                )
            }
        };

        // The bulk parser's row layout; with it, the workers start parsing the file now, while
        // the prescan below reads its first rows (an open that fails drops them).
        let layout = row_layout(sep, n_fields, time_col, &columns);
        let feed = match (&layout, lines.seekable) {
            (Some(layout), true) => ParallelFeed::start(
                &lines.inner,
                data_offset,
                layout.clone(),
                opts.read_threads,
                if opts.read_chunk_bytes == 0 {
                    csv_parallel::DEFAULT_CHUNK_BYTES
                } else {
                    opts.read_chunk_bytes
                },
            ),
            _ => None,
        };

        // Prescan the time column: first time and median step.
        let mut first_time = None;
        let mut time_decimals = None;
        let mut steps = Vec::new();
        // The prescan stopped at a bad row (the stream will report it with its line).
        let mut prescan_problem = false;
        // Times equal to the one before (rounded coarser than the sample interval), the number
        // of time values and the last one: the rate then comes from the span.
        let mut repeats = 0u64;
        let mut time_values = 0u64;
        let mut last_time = None;
        if let Some(tc) = time_col {
            // A pipe cannot seek back: the prescanned bytes stay in the buffer.
            lines.keep_from(Some(data_offset));
            lines.seek_to(data_offset, data_line_no - 1)?;
            let mut prev: Option<f64> = None;
            let mut rows = 0;
            // Decimals the times are printed with (None: some use an exponent).
            let mut decimals = Some(0usize);
            while rows < PRESCAN_ROWS
                && lines.offset - data_offset < PRESCAN_MAX_BYTES as u64
                && lines.next()?
            {
                match classify(lines.line()) {
                    LineKind::Blank | LineKind::Comment => continue,
                    LineKind::EndOfData => break,
                    LineKind::Data => {}
                }
                rows += 1;
                split_fields(lines.line(), sep, &mut fields);
                if field_count(lines.line(), &fields, n_fields) != n_fields {
                    prescan_problem = true;
                    break;
                }
                let (s, e) = fields[tc];
                decimals = decimals
                    .zip(printed_decimals(&lines.line()[s..e]))
                    .map(|(a, b)| a.max(b));
                let t = match parse_cell(&lines.line()[s..e], sep) {
                    Cell::Num(t) if t.is_finite() => t * time_scale,
                    _ => {
                        prescan_problem = true;
                        break;
                    }
                };
                if let Some(p) = prev {
                    if goes_back(t, p, multi_rate) {
                        prescan_problem = true;
                        break;
                    }
                    if t == p {
                        repeats += 1;
                    } else {
                        steps.push(t - p);
                    }
                } else {
                    first_time = Some(t);
                }
                time_values += 1;
                last_time = Some(t);
                prev = Some(t);
            }
            time_decimals = decimals;
        }
        // The median step, rounded to the time column's print resolution (0.13 s, not
        // 0.12999999999999545 s from the difference of two printed times).
        let median_step = median(&mut steps.clone()).map(|step| match time_decimals {
            Some(d) if d <= 12 && time_scale == 1.0 => {
                let p = 10f64.powi(d as i32);
                let rounded = (step * p).round() / p;
                if rounded > 0.0 {
                    rounded
                } else {
                    step
                }
            }
            _ => step,
        });

        // Times rounded coarser than the sample interval: the rate from the span.
        let coarse_rate = match (first_time, last_time) {
            (Some(a), Some(b)) if repeats > 0 && b > a => Some((time_values - 1) as f64 / (b - a)),
            _ => None,
        };

        // Rates.
        let row_rate_hz;
        let mut median_step_s = None;
        let mut deferred_error = None;
        if multi_rate {
            row_rate_hz = channels.iter().map(|c| c.rate_hz).fold(0.0, f64::max);
        } else {
            if let Some(r) = opts.rate_hz {
                if !(r.is_finite() && r > 0.0) {
                    return Err(fmt_err(format!(
                        "--rate {r}: the rate must be a positive number of Hz"
                    )));
                }
            }
            let meta_exact = meta.rate_hz.filter(|r| *r > 0.0 && !meta.rate_approx);
            let rate = match (time_col, median_step, coarse_rate) {
                (Some(_), _, Some(derived)) => {
                    let from_header = meta_exact.filter(|m| ((m / derived) - 1.0).abs() <= 0.02);
                    let rate = opts.rate_hz.or(from_header).unwrap_or(derived);
                    let source = match (opts.rate_hz, from_header) {
                        (Some(r), _) => format!("--rate {r} Hz is used"),
                        (None, Some(_)) => format!(
                            "the rate {rate} Hz comes from the header ({}), which agrees with the \
                             span",
                            meta.rate_text
                        ),
                        (None, None) => format!(
                            "the rate {derived:.6} Hz is derived from the span ({time_values} \
                             samples in {} s); pass --rate HZ if you know it",
                            secs(last_time.unwrap_or(0.0) - first_time.unwrap_or(0.0))
                        ),
                    };
                    warnings.push(format!(
                        "the time column repeats values ({repeats} of the first {} steps): it is \
                         rounded coarser than the sample interval; {source}. Samples are taken at \
                         index/rate, not at the stored times",
                        time_values - 1
                    ));
                    rate
                }
                (Some(_), Some(step), None) => {
                    // Times printed too coarsely to give the step exactly (1/512 s at six
                    // decimals steps by 0.001953 and 0.001954): the rate from their span.
                    let measured = match (first_time, last_time, time_decimals) {
                        (Some(a), Some(b), Some(d)) => rate_from_rounded_span(
                            &steps,
                            step,
                            b - a,
                            time_values - 1,
                            10f64.powi(-(d.min(12) as i32)) * time_scale,
                        ),
                        _ => None,
                    }
                    .unwrap_or(1.0 / step);
                    median_step_s = Some(step);
                    let mut rate = measured;
                    if let Some(r) = opts.rate_hz {
                        if agrees(r, measured) {
                            rate = r;
                        } else {
                            warnings.push(format!(
                                "--rate {r} ignored: the time column gives {measured:.6} Hz \
                                 (median step {} s)",
                                secs(step)
                            ));
                        }
                    }
                    if let Some(m) = meta_exact {
                        if rate == measured && agrees(m, measured) {
                            rate = m;
                        } else if !agrees(m, measured) {
                            warnings.push(format!(
                                "the header says {} but the time column gives {measured:.6} Hz \
                                 (median step {} s); using the time column",
                                meta.rate_text,
                                secs(step)
                            ));
                        }
                    }
                    if meta.rate_approx && meta.rate_hz.is_some() {
                        warnings.push(format!(
                            "the header marks the rate as approximate ({}): the time stamps are \
                             rounded or irregular; samples are taken at index/rate with \
                             {rate:.6} Hz from the median time step ({} s) as the device clock",
                            meta.rate_text,
                            secs(step)
                        ));
                    }
                    rate
                }
                _ => {
                    let given = opts.rate_hz.or(meta.rate_hz.filter(|r| *r > 0.0));
                    match (given, time_col) {
                        (Some(r), _) => {
                            let why = if time_col.is_some() {
                                "only one data row (no time step to measure)"
                            } else {
                                "no time column"
                            };
                            if opts.rate_hz.is_none() {
                                warnings.push(format!(
                                    "{why}: the rate {r} Hz comes from the header ({}); samples \
                                     are taken at index/rate. Pass --rate HZ if it is wrong",
                                    meta.rate_text
                                ));
                            } else if time_col.is_some() {
                                warnings.push(format!("{why}: the rate {r} Hz comes from --rate"));
                            }
                            r
                        }
                        (None, Some(_)) => {
                            let e = fmt_err(
                                "cannot tell the rate: the time column has fewer than two \
                                 increasing values; pass --rate HZ"
                                    .to_string(),
                            );
                            if !prescan_problem {
                                return Err(e);
                            }
                            // Report the bad row itself if the stream meets it.
                            deferred_error = Some(e);
                            1.0
                        }
                        (None, None) => {
                            return Err(fmt_err(format!(
                                "no time_s column and no rate: pass --rate HZ (columns: {})",
                                list_columns(&names)
                            )))
                        }
                    }
                }
            };
            for c in &mut channels {
                c.rate_hz = rate;
            }
            row_rate_hz = rate;
            for c in &channels {
                if c.role.is_emg() && c.kind == SignalKind::Raw && rate < MIN_RAW_EMG_RATE_HZ {
                    warnings.push(format!(
                        "\"{}\" is sampled at {rate:.3} Hz, too slow for raw EMG: if it is already \
                         an RMS envelope pass --envelope",
                        c.name
                    ));
                }
            }
            // A time column in milliseconds under a name that says nothing about the unit.
            if let (Some(tc), Some(step)) = (time_col, median_step_s) {
                let name = &names[tc];
                if time_scale == 1.0
                    && !name.eq_ignore_ascii_case("time_s")
                    && rate < MS_HINT_BELOW_HZ
                    && crate::limits::SAMPLE_RATE_HZ.hi >= rate * 1000.0
                {
                    warnings.push(format!(
                        "the time column \"{}\" steps by {} ({rate:.6} Hz if it counts seconds): \
                         if it counts milliseconds, name it time_ms ({:.6} Hz)",
                        quoted(name),
                        secs(step),
                        rate * 1000.0
                    ));
                }
            }
        }

        let start_time_s = sidecar_start.or(first_time).unwrap_or(0.0);
        let max_abs: Vec<f64> = channels
            .iter()
            .map(|c| plausible::max_abs(&c.unit))
            .collect();
        let n_columns = columns.len();
        let mut src = CsvSource {
            path: path.to_path_buf(),
            lines,
            sep,
            n_fields,
            names,
            time_col,
            time_scale,
            next_index: vec![0; columns.len()],
            row_vals: vec![None; columns.len()],
            layout,
            bulk: ParsedLines::default(),
            columns,
            spec: StreamSpec {
                channels,
                start_time_s,
            },
            multi_rate,
            row_rate_hz,
            median_step_s,
            prev_time: None,
            irregular_steps: 0,
            first_irregular_line: 0,
            total_steps: 0,
            jitter_warning: None,
            time_repeats: 0,
            first_repeat_line: 0,
            repeats_told: coarse_rate.is_some(),
            block_rows: if opts.block_rows == 0 {
                DEFAULT_BLOCK_ROWS
            } else {
                opts.block_rows
            },
            warnings,
            fields,
            carry: None,
            max_abs,
            implausible: vec![Implausible::default(); n_columns],
            feed: None,
            run_counts: Vec::new(),
            done: false,
            derived: None,
        };
        if let Some((picks, plan)) = derived {
            src.derived = Some(Derived::new(&src.names, &src.spec, &picks, plan));
        }
        // Irregular steps already seen in the prescan are reported at once.
        if let (Some(step), false) = (src.median_step_s, multi_rate) {
            let n = steps.iter().filter(|&&s| !regular_step(s, step)).count();
            if n > 0 {
                src.jitter_warning = Some(src.warnings.len());
                src.warnings.push(format!(
                    "irregular sampling: {n} of the first {} time steps deviate more than 5 % \
                     from the median step {} s; samples are taken at index/rate ({:.6} Hz) as \
                     the device clock, not at the stored times",
                    steps.len(),
                    secs(step),
                    src.row_rate_hz
                ));
            }
        }
        src.lines.seek_to(data_offset, data_line_no - 1)?;
        src.lines.keep_from(None);
        if let Some(e) = deferred_error {
            for _ in 0..PRESCAN_ROWS + 1 {
                if src.read_row()?.is_none() {
                    break;
                }
            }
            return Err(e);
        }
        src.feed = feed;
        Ok(src)
    }

    /// Things the user should know about the file: irregular sampling, a rate taken from the
    /// header, envelope assumed, a torn last line dropped. Warnings found while streaming
    /// (irregular steps after the first rows, a torn last line) are added when they are met.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Path of the file being read.
    /// Worker threads are parsing ahead of the reader (see [`CsvOptions::read_threads`]).
    pub fn is_parallel(&self) -> bool {
        self.feed.is_some()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn parse_err(&self, line: u64, message: String) -> InputError {
        InputError::Parse {
            path: self.path.clone(),
            line,
            message,
        }
    }

    fn cell_error(&self, col: usize, raw: &[u8], what: Cell) -> String {
        let name = quoted(&self.names[col]);
        let text = excerpt_bytes(trim_field(raw), QUOTED_NAME_CHARS);
        match what {
            Cell::Empty => format!(
                "column \"{name}\": empty cell — a gap in the recording. Without a knip sidecar \
                 (.json) every row needs a value in each channel; cut the file or fill the gap"
            ),
            Cell::Bad => format!(
                "column \"{name}\": \"{text}\" is not a number. Fix or delete the line, or choose \
                 other columns with --pfm/--abd/--pressure"
            ),
            Cell::Num(v) if v.is_nan() => format!(
                "NaN in column \"{name}\" (\"{text}\") — the recording has a gap or the device sent \
                 garbage; cut the file before this line or fill the gap"
            ),
            Cell::Num(_) => format!(
                "infinite value in column \"{name}\" (\"{text}\") — the device sent garbage or the \
                 value overflowed"
            ),
        }
    }

    /// Reads the next data row into `row_vals` and returns its time (if any). `Ok(None)` at the
    /// end of the data.
    fn read_row(&mut self) -> Result<Option<Option<f64>>, InputError> {
        loop {
            match self.read_line()? {
                LineRow::Skip => continue,
                LineRow::End => return Ok(None),
                LineRow::Row(time) => return Ok(Some(time)),
            }
        }
    }

    /// Reads the next line: a data row (into `row_vals`, with its time), a line to skip, or the
    /// end of the data.
    fn read_line(&mut self) -> Result<LineRow, InputError> {
        if !self.lines.next()? {
            return Ok(LineRow::End);
        }
        match classify(self.lines.line()) {
            LineKind::Blank | LineKind::Comment => return Ok(LineRow::Skip),
            LineKind::EndOfData => return Ok(LineRow::End),
            LineKind::Data => {}
        }
        let line = self.lines.line_no;
        split_fields(self.lines.line(), self.sep, &mut self.fields);
        let nf = field_count(self.lines.line(), &self.fields, self.n_fields);
        if nf != self.n_fields {
            if nf < self.n_fields && self.is_last_data_line()? {
                self.warn_torn(line, &format!("{nf} of {} fields", self.n_fields));
                return Ok(LineRow::End);
            }
            return Err(self.parse_err(
                line,
                format!(
                    "{nf} fields but the header has {} ({}). {}",
                    self.n_fields,
                    list_columns(&self.names),
                    if nf < self.n_fields {
                        "Is the line cut short, or a value missing?"
                    } else {
                        "Is there a separator inside a value, or are rows of two files mixed?"
                    }
                ),
            ));
        }
        let torn_candidate = !self.lines.terminated;
        let time = match self.time_col {
            Some(tc) => {
                let (s, e) = self.fields[tc];
                match parse_cell(&self.lines.line()[s..e], self.sep) {
                    Cell::Num(t) if t.is_finite() => Some(t * self.time_scale),
                    other => {
                        if torn_candidate {
                            self.warn_torn(line, "an unreadable time");
                            return Ok(LineRow::End);
                        }
                        let msg = self.cell_error(tc, &self.lines.line()[s..e], other);
                        return Err(self.parse_err(line, msg));
                    }
                }
            }
            None => None,
        };
        for k in 0..self.columns.len() {
            let col = self.columns[k].index;
            let (s, e) = self.fields[col];
            let cell = parse_cell(&self.lines.line()[s..e], self.sep);
            self.row_vals[k] = match cell {
                Cell::Num(v) if v.is_finite() && v.abs() > self.max_abs[k] => {
                    let lost = &mut self.implausible[k];
                    if lost.count == 0 {
                        lost.first_line = line;
                        lost.first_text = excerpt_bytes(trim_field(&self.lines.line()[s..e]), 24);
                    }
                    lost.count += 1;
                    None
                }
                Cell::Num(v) if v.is_finite() => Some(v),
                Cell::Empty if self.multi_rate => None,
                other => {
                    if torn_candidate {
                        self.warn_torn(line, "an unreadable value");
                        return Ok(LineRow::End);
                    }
                    let msg = self.cell_error(col, &self.lines.line()[s..e], other);
                    return Err(self.parse_err(line, msg));
                }
            };
        }
        self.check_time(line, time)?;
        Ok(LineRow::Row(time))
    }

    /// A time step to `line`: a repeated time (0), or a step checked against the median.
    #[inline]
    fn count_step(&mut self, step_s: f64, line: u64) {
        if step_s == 0.0 {
            if self.time_repeats == 0 {
                self.first_repeat_line = line;
            }
            self.time_repeats += 1;
            return;
        }
        self.total_steps += 1;
        // Once the times are rounded coarser than a step, their steps say nothing.
        if let (Some(step), 0) = (self.median_step_s, self.time_repeats) {
            if !regular_step(step_s, step) {
                if self.irregular_steps == 0 {
                    self.first_irregular_line = line;
                }
                self.irregular_steps += 1;
            }
        }
    }

    /// Strictly increasing time (or repeated, without a sidecar); counts irregular steps for
    /// the jitter warning.
    #[inline]
    fn check_time(&mut self, line: u64, time: Option<f64>) -> Result<(), InputError> {
        {
            if let Some(t) = time {
                if let Some((p, pline)) = self.prev_time {
                    if goes_back(t, p, self.multi_rate) {
                        return Err(self.parse_err(
                            line,
                            format!(
                                "time {t} is not after {p} on line {pline}: the time column must \
                                 increase strictly (were two files joined, or the times rounded?)"
                            ),
                        ));
                    }
                    self.count_step(t - p, line);
                }
                self.prev_time = Some((t, line));
            }
        }
        Ok(())
    }

    /// The rows `from..to` of parsed lines (per slot, a column of values; `vals[0]` the time or
    /// NaN, `vals[k + 1]` channel `k` or NaN for an empty cell) as the next lines of the file:
    /// checked like [`Self::check_time`] and placed like [`Self::place_row`], in one pass per
    /// check and a copy per channel. Returns how many it took: all, or up to the first one the
    /// general path must read — to explain an error, or to split the block at a gap.
    fn accept_run(
        &mut self,
        columns: &[Vec<f64>],
        from: usize,
        to: usize,
        block: &mut Block,
    ) -> usize {
        let n_ch = self.columns.len();
        let (Some(times), Some(chans)) = (columns.first(), columns.get(1..=n_ch)) else {
            return 0;
        };
        let full = self.accept_full_rows(times, chans, from, to, block);
        if !self.multi_rate || full == to - from {
            return full;
        }
        // Rows with an empty cell (channels at different rates): row by row.
        full + self.accept_rows(times, chans, from + full, to, block)
    }

    /// [`Self::accept_run`] row by row, for rows that may have empty cells.
    fn accept_rows(
        &mut self,
        times: &[f64],
        chans: &[Vec<f64>],
        from: usize,
        to: usize,
        block: &mut Block,
    ) -> usize {
        let t0 = self.spec.start_time_s;
        let has_time = self.time_col.is_some();
        let mut prev = self.prev_time.map(|(t, _)| t);
        let mut counts = std::mem::take(&mut self.run_counts);
        counts.clear();
        counts.extend_from_slice(&self.next_index);
        let mut any_empty = false;
        let mut j = from;
        while j < to {
            let time = if has_time {
                let t = times[j] * self.time_scale;
                if t.is_nan() || prev.is_some_and(|p| goes_back(t, p, self.multi_rate)) {
                    break;
                }
                Some(t)
            } else {
                None
            };
            let mut ok = true;
            for (k, chan) in chans.iter().enumerate() {
                let v = chan[j];
                if v.is_nan() {
                    ok &= self.multi_rate;
                } else if v.abs() > self.max_abs[k] {
                    // Counted as lost by the general path.
                    ok = false;
                } else if let (true, Some(t)) = (self.multi_rate, time) {
                    let rate = self.spec.channels[k].rate_hz;
                    ok &= !lost_before(samples_past_slot(t, t0, rate, counts[k] as f64));
                }
            }
            if !ok {
                break;
            }
            for (count, chan) in counts.iter_mut().zip(chans) {
                let present = !chan[j].is_nan();
                *count += u64::from(present);
                any_empty |= !present;
            }
            if let Some(t) = time {
                if let Some(p) = prev {
                    self.count_step(t - p, self.lines.line_no + (j - from) as u64 + 1);
                }
                prev = Some(t);
            }
            j += 1;
        }
        let taken = j - from;
        for (k, chan) in chans.iter().enumerate() {
            let values = &chan[from..j];
            let samples = &mut block.chunks[k].samples;
            if any_empty {
                samples.extend(values.iter().copied().filter(|v| !v.is_nan()));
            } else {
                samples.extend_from_slice(values);
            }
        }
        self.next_index.copy_from_slice(&counts);
        self.run_counts = counts;
        self.lines.line_no += taken as u64;
        if let (true, Some(t)) = (taken > 0, prev.filter(|_| has_time)) {
            self.prev_time = Some((t, self.lines.line_no));
        }
        taken
    }

    /// [`Self::accept_run`] for the rows that have every channel (all of them at one rate, most of
    /// them in a knip recording): the same checks, made a column at a time. Stops before the
    /// first row with a value that is empty, NaN or beyond [`plausible::max_abs`], or a time that
    /// is NaN, goes back (or repeats, at several rates), or is past a sample's slot (a gap).
    fn accept_full_rows(
        &mut self,
        times: &[f64],
        chans: &[Vec<f64>],
        from: usize,
        to: usize,
        block: &mut Block,
    ) -> usize {
        let mut end = to;
        for (chan, &max) in chans.iter().zip(&self.max_abs) {
            if let Some(bad) = first_implausible(&chan[from..end], max) {
                end = from + bad;
            }
        }
        let mut j = from;
        if let Some(taken) = self.accept_regular_times(times, from, end) {
            j = from + taken;
        } else if self.time_col.is_some() {
            let mut prev = self.prev_time.map(|(t, _)| t);
            let first_line = self.lines.line_no + 1;
            let t0 = self.spec.start_time_s;
            let multi_rate = self.multi_rate;
            while j < end {
                let t = times[j] * self.time_scale;
                if t.is_nan() || prev.is_some_and(|p| goes_back(t, p, multi_rate)) {
                    break;
                }
                if multi_rate {
                    // Not later than the sample's slot by half a sample (else samples were lost).
                    let row = (j - from) as u64;
                    let late = self
                        .spec
                        .channels
                        .iter()
                        .zip(&self.next_index)
                        .any(|(c, &next)| {
                            lost_before(samples_past_slot(t, t0, c.rate_hz, (next + row) as f64))
                        });
                    if late {
                        break;
                    }
                }
                if let Some(p) = prev {
                    self.count_step(t - p, first_line + (j - from) as u64);
                }
                prev = Some(t);
                j += 1;
            }
            if let (true, Some(t)) = (j > from, prev) {
                self.prev_time = Some((t, self.lines.line_no + (j - from) as u64));
            }
        } else {
            j = end;
        }
        let taken = j - from;
        for (k, chan) in chans.iter().enumerate() {
            block.chunks[k].samples.extend_from_slice(&chan[from..j]);
            self.next_index[k] += taken as u64;
        }
        self.lines.line_no += taken as u64;
        taken
    }

    /// The common case of [`Self::accept_full_rows`]'s time check, in one pass the compiler can
    /// vectorise: every time of `times[from..end]` later than the one before, and
    /// - with one rate: every step within the jitter tolerance of the median step (no repeat,
    ///   no irregular step);
    /// - with a rate per channel (a sidecar): no sample more than half a sample after its slot.
    ///
    /// Takes all the rows, with the same effect on the step counts as the row-by-row check;
    /// `None` (nothing taken) when any row needs that check.
    fn accept_regular_times(&mut self, times: &[f64], from: usize, end: usize) -> Option<usize> {
        self.time_col?;
        let ts = times.get(from..end).filter(|ts| !ts.is_empty())?;
        let scale = self.time_scale;
        let first = ts[0] * scale;
        let prev = self.prev_time.map(|(p, _)| p);
        let ok = if self.multi_rate {
            if self.median_step_s.is_some() {
                return None; // its irregular steps are counted row by row
            }
            let t0 = self.spec.start_time_s;
            let mut ok = prev.map_or(true, |p| first > p) && !first.is_nan();
            ok = ts[1..]
                .iter()
                .zip(ts)
                .fold(ok, |ok, (&t, &p)| ok & (t * scale > p * scale));
            for (c, &next) in self.spec.channels.iter().zip(&self.next_index) {
                let rate = c.rate_hz;
                ok = ts.iter().enumerate().fold(ok, |ok, (row, &t)| {
                    ok & !lost_before(samples_past_slot(
                        t * scale,
                        t0,
                        rate,
                        (next + row as u64) as f64,
                    ))
                });
            }
            ok
        } else {
            let (Some(step), 0) = (self.median_step_s, self.time_repeats) else {
                return None;
            };
            let regular = |t: f64, p: f64| regular_step(t - p, step);
            let ok = prev.map_or(true, |p| regular(first, p)) && !first.is_nan();
            ts[1..]
                .iter()
                .zip(ts)
                .fold(ok, |ok, (&t, &p)| ok & regular(t * scale, p * scale))
        };
        if !ok {
            return None;
        }
        let n = ts.len();
        self.total_steps += (n - usize::from(prev.is_none())) as u64;
        self.prev_time = Some((ts[n - 1] * scale, self.lines.line_no + n as u64));
        Some(n)
    }

    /// The bulk path in the read buffer: the well-formed rows it holds whole (at most
    /// `max_rows`), parsed ([`ParsedLines::parse`]), then checked and placed into `block`
    /// ([`Self::accept_run`]). Stops before the first row the general path must read, or to read
    /// more of the file; returns the rows it took.
    fn read_rows_bulk(&mut self, block: &mut Block, max_rows: usize) -> usize {
        let Some(layout) = &self.layout else {
            return 0;
        };
        let mut lines = std::mem::take(&mut self.bulk);
        lines.clear(layout.width);
        let from = self.lines.pos;
        let filled = self.lines.filled;
        let data = self.lines.buffer_with_sentinel();
        let stop = lines
            .parse(data, from, filled, max_rows, layout, AtDeclined::Stop)
            .unwrap_or(from);
        let parsed = lines.starts.len();
        let taken = self.accept_run(&lines.columns, 0, parsed, block);
        let to = match lines.starts.get(taken) {
            Some(&start) => from + start as usize,
            None => stop,
        };
        self.bulk = lines;
        self.lines.offset += (to - from) as u64;
        self.lines.pos = to;
        taken
    }

    /// The reader's next line is the one starting at byte `offset` (following the line read
    /// last).
    fn seek_line(&mut self, offset: u64) -> Result<(), InputError> {
        let line_no = self.lines.line_no;
        self.lines.seek_to(offset, line_no)
    }

    /// Rows from the worker threads' current chunk into `block` (at most `max_rows`), up to the
    /// first line the general path must read. `None`: the workers are done (and gone); the
    /// reader goes on alone from where they stopped.
    fn feed_step(
        &mut self,
        block: &mut Block,
        max_rows: usize,
    ) -> Result<Option<FeedStep>, InputError> {
        let Some(mut feed) = self.feed.take() else {
            return Ok(None);
        };
        if let Next::Done(resume) = feed.advance() {
            if let Some(offset) = resume {
                self.seek_line(offset)?;
            }
            return Ok(None);
        }
        let chunk = feed.chunk();
        let mut cursor = feed.cursor;
        let mut run_end = cursor;
        let lines = &chunk.lines;
        while run_end < lines.starts.len()
            && run_end - cursor < max_rows
            && !lines.declined[run_end]
        {
            run_end += 1;
        }
        let placed = self.accept_run(&lines.columns, cursor, run_end, block);
        let step = if placed > 0 {
            FeedStep::Rows(placed)
        } else {
            // A declined line, or a parsed one that fails a check: the general path says why.
            let first = chunk.first.unwrap_or(0);
            FeedStep::General(first + u64::from(lines.starts[cursor]))
        };
        cursor += placed.max(1);
        feed.cursor = cursor;
        self.feed = Some(feed);
        Ok(Some(step))
    }

    /// After a short row: is there no further data row? Reads ahead (the caller stops either way).
    fn is_last_data_line(&mut self) -> Result<bool, InputError> {
        let line = self.lines.line_no;
        loop {
            if !self.lines.next()? {
                return Ok(true);
            }
            match classify(self.lines.line()) {
                LineKind::Blank | LineKind::Comment => continue,
                LineKind::EndOfData => return Ok(true),
                LineKind::Data => {
                    self.lines.line_no = line;
                    return Ok(false);
                }
            }
        }
    }

    fn warn_torn(&mut self, line: u64, what: &str) {
        self.warnings.push(format!(
            "line {line}, the last line, has {what}: it was cut off (the recording stopped while \
             writing?) and is dropped"
        ));
    }

    fn finish_warnings(&mut self) {
        for (k, lost) in self.implausible.iter().enumerate() {
            if lost.count == 0 {
                continue;
            }
            let ch = &self.spec.channels[k];
            self.warnings.push(format!(
                "column \"{}\": {} value{} beyond the plausible {} (first at line {}: \"{}\"), \
                 counted as lost samples — the device sent garbage or the value overflowed",
                ch.name,
                lost.count,
                if lost.count == 1 { "" } else { "s" },
                plausible::describe(&ch.unit),
                lost.first_line,
                lost.first_text
            ));
        }
        if self.time_repeats > 0 && !self.repeats_told {
            self.warnings.push(format!(
                "from line {} on, the time column repeats values ({} times): it is rounded \
                 coarser than the sample interval (printed with too few digits?); samples are \
                 taken at index/rate ({:.6} Hz) as everywhere, not at the stored times",
                self.first_repeat_line, self.time_repeats, self.row_rate_hz
            ));
        }
        if self.irregular_steps == 0 {
            return;
        }
        let text = format!(
            "irregular sampling: {} of {} time steps deviate more than 5 % from the median step {} \
             s (first at line {}); samples are taken at index/rate ({:.6} Hz) as the device clock, \
             not at the stored times",
            self.irregular_steps,
            self.total_steps,
            secs(self.median_step_s.unwrap_or(0.0)),
            self.first_irregular_line,
            self.row_rate_hz
        );
        match self.jitter_warning {
            Some(i) => self.warnings[i] = text,
            None => self.warnings.push(text),
        }
    }

    /// Places the row in `row_vals` (time `time`) into `block`. Returns `false` (and leaves the
    /// row for the next block) when a gap in a knip recording must start a new block.
    fn place_row(&mut self, block: &mut Block, time: Option<f64>) -> bool {
        if !self.multi_rate && self.row_vals.iter().any(Option::is_none) {
            // A value counted as lost: its channel's next chunk starts after it.
            let n = self.columns.len();
            if (0..n).any(|k| self.row_vals[k].is_none() && !block.chunks[k].samples.is_empty()) {
                return false;
            }
            for k in 0..n {
                if self.row_vals[k].is_none() {
                    self.next_index[k] += 1;
                    block.chunks[k].start_index = self.next_index[k];
                }
            }
        }
        if self.multi_rate {
            if let Some(t) = time {
                let t0 = self.spec.start_time_s;
                // First, find gaps: a sample later than its channel's next index.
                let mut split = false;
                for k in 0..self.columns.len() {
                    if self.row_vals[k].is_none() {
                        continue;
                    }
                    let rate = self.spec.channels[k].rate_hz;
                    let x = samples_past_slot(t, t0, rate, self.next_index[k] as f64);
                    if lost_before(x) && !block.chunks[k].samples.is_empty() {
                        split = true;
                    }
                }
                if split {
                    return false;
                }
                for k in 0..self.columns.len() {
                    if self.row_vals[k].is_none() {
                        continue;
                    }
                    let rate = self.spec.channels[k].rate_hz;
                    let x = samples_past_slot(t, t0, rate, self.next_index[k] as f64);
                    if lost_before(x) {
                        // Lost samples: the chunk (still empty) starts later.
                        self.next_index[k] += (x + 0.5).floor() as u64;
                        block.chunks[k].start_index = self.next_index[k];
                    }
                }
            }
        }
        for k in 0..self.columns.len() {
            if let Some(v) = self.row_vals[k] {
                block.chunks[k].samples.push(v);
                self.next_index[k] += 1;
            }
        }
        true
    }
}

impl Source for CsvSource {
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
        let block = self.next_column_block()?;
        Ok(match (&self.derived, block) {
            (Some(d), Some(b)) => Some(derive::apply(&d.plan, b)),
            (_, b) => b,
        })
    }
}

impl CsvSource {
    /// The next block of the columns read (before derivations).
    fn next_column_block(&mut self) -> Result<Option<Block>, InputError> {
        if self.done {
            return Ok(None);
        }
        let n = self.columns.len();
        let mut block = Block {
            chunks: (0..n)
                .map(|k| ChannelChunk {
                    start_index: self.next_index[k],
                    samples: Vec::with_capacity(self.block_rows.min(1 << 16)),
                })
                .collect(),
        };
        let mut rows = 0;
        if let Some(t) = self.carry.take() {
            self.place_row(&mut block, t);
            rows += 1;
        }
        while rows < self.block_rows {
            match self.feed_step(&mut block, self.block_rows - rows)? {
                Some(FeedStep::Rows(n)) => {
                    rows += n;
                    continue;
                }
                Some(FeedStep::General(offset)) => {
                    self.seek_line(offset)?;
                    match self.read_line()? {
                        LineRow::Skip => continue,
                        LineRow::End => {
                            self.feed = None;
                            self.done = true;
                            self.finish_warnings();
                            break;
                        }
                        LineRow::Row(time) => {
                            if !self.place_row(&mut block, time) {
                                self.carry = Some(time);
                                break;
                            }
                            rows += 1;
                            continue;
                        }
                    }
                }
                None => {}
            }
            rows += self.read_rows_bulk(&mut block, self.block_rows - rows);
            if rows == self.block_rows {
                break;
            }
            let time = match self.read_row()? {
                Some(t) => t,
                None => {
                    self.done = true;
                    self.finish_warnings();
                    break;
                }
            };
            if !self.place_row(&mut block, time) {
                self.carry = Some(time);
                break;
            }
            rows += 1;
        }
        if block.is_empty() {
            Ok(None)
        } else {
            Ok(Some(block))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::first_implausible;

    #[test]
    fn the_first_implausible_value_is_found_wherever_it_is() {
        // Every length up to three groups and a bit, every position of one bad value (NaN,
        // beyond the limit either way, infinite) and of a second one after it; values exactly
        // at the limit are measurements.
        let max = 1000.0;
        for len in 0..50 {
            let clean: Vec<f64> = (0..len).map(|i| [max, -max, 0.5, -3.0][i % 4]).collect();
            assert_eq!(first_implausible(&clean, max), None, "{len} clean values");
            for at in 0..len {
                for bad in [f64::NAN, 1000.001, -2e300, f64::NEG_INFINITY] {
                    let mut v = clean.clone();
                    v[at] = bad;
                    if at + 7 < len {
                        v[at + 7] = f64::NAN;
                    }
                    assert_eq!(
                        first_implausible(&v, max),
                        Some(at),
                        "{bad} at {at} of {len}"
                    );
                }
            }
        }
    }
}
