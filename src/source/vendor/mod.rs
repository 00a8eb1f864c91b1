//! Files that acquisition software writes, read as they are and recognised from their own
//! header (never from the file name): BITalino/PLUX OpenSignals `.txt` (`opensignals`), OpenBCI
//! GUI recordings (`openbci`), Shimmer Consensys CSV exports (`shimmer`).
//!
//! Each dialect turns its header into a [`Layout`] (column names, each column's unit and the
//! factor to it, the rate, a sample counter whose gaps are lost samples, roles the header makes
//! unambiguous); [`VendorSource`] then streams the rows like any other source, with
//! `--pfm/--abd/--pressure` (and derivations such as `--pfm A1-A2`) picking columns by name or
//! number. Times come from the rate (index/rate) as the device clock, never from the host's
//! time stamps in the file.

mod openbci;
mod opensignals;
mod reader;
mod shimmer;

pub use reader::VendorSource;

use crate::error::InputError;
use crate::frame::Role;
use crate::source::csv_fields::Sep;
use crate::source::csv_lines::Lines;
use std::path::Path;

/// Header lines read at most to recognise a dialect.
const SNIFF_LINES: usize = 12;

/// What a dialect's header says about its rows.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// The dialect, as messages and `session.json` name it (`OpenSignals (bitalino_rev)`).
    pub(crate) dialect: String,
    pub(in crate::source) sep: Sep,
    pub(crate) names: Vec<String>,
    /// Per column: the unit of the values after `gain`/`offset` (`uV`, `mV`, `g`, ...).
    pub(crate) units: Vec<String>,
    /// Per column: value = raw × gain + offset.
    pub(crate) gain: Vec<f64>,
    pub(crate) offset: Vec<f64>,
    pub(crate) rate_hz: f64,
    /// The rate was measured from the host's time stamps (`--rate` may correct it).
    pub(crate) rate_from_stamps: bool,
    /// A sample counter column and its modulus: a jump is lost samples.
    pub(crate) counter: Option<(usize, u64)>,
    /// Columns the header says are EMG (listed when the choice is ambiguous).
    pub(crate) emg: Vec<usize>,
    /// Lines before the first data row.
    pub(crate) header_lines: u64,
    /// The first data row is a placeholder to drop (OpenBCI GUI v5 writes a row of zeros).
    pub(crate) drop_zero_row: bool,
    pub(crate) warnings: Vec<String>,
}

impl Layout {
    /// The role the header makes unambiguous: the only EMG column is the pelvic-floor EMG.
    pub(crate) fn default_picks(&self) -> Vec<(Role, usize)> {
        match self.emg.as_slice() {
            [only] => vec![(Role::PfmEmg, *only)],
            _ => Vec::new(),
        }
    }
}

/// Recognises a vendor export from its first lines. `Ok(None)`: not one of them (read it as
/// plain CSV).
pub(crate) fn detect(path: &Path) -> Result<Option<Layout>, InputError> {
    // Only a regular file is looked at: a pipe's bytes would be gone for the CSV reader.
    if path == Path::new("-") || !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return Ok(None);
    }
    let mut lines = Lines::open(path)?;
    let mut head: Vec<String> = Vec::new();
    while head.len() < SNIFF_LINES && lines.next()? {
        head.push(String::from_utf8_lossy(lines.line()).into_owned());
    }
    let Some(first) = head.first() else {
        return Ok(None);
    };
    let first = first.trim_start_matches('\u{feff}').trim();
    let fmt_err = |message: String| InputError::Format {
        path: path.to_path_buf(),
        message,
    };
    if first.starts_with("# OpenSignals") {
        return opensignals::layout(&head).map(Some).map_err(fmt_err);
    }
    if first.starts_with("%OpenBCI") {
        return openbci::layout(&head).map(Some).map_err(fmt_err);
    }
    if shimmer::is_consensys(&head) {
        return shimmer::layout(path, &head).map(Some);
    }
    Ok(None)
}

/// Whether the file starts like a vendor export knip reads (a quick look for `batch`; errors
/// in the header are reported when the file is opened).
pub fn recognised(path: &Path) -> bool {
    let Ok(mut lines) = Lines::open(path) else {
        return false;
    };
    let mut head = Vec::new();
    while head.len() < 3 && matches!(lines.next(), Ok(true)) {
        head.push(String::from_utf8_lossy(lines.line()).into_owned());
    }
    let first = head
        .first()
        .map_or("", |l| l.trim_start_matches('\u{feff}').trim());
    first.starts_with("# OpenSignals")
        || first.starts_with("%OpenBCI")
        || shimmer::is_consensys(&head)
}

/// A header's `key = value` pairs in `%Key = value` lines (OpenBCI) and the like.
fn after_equals<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let body = line.trim_start_matches(['%', '#']).trim();
    let (k, v) = body.split_once('=')?;
    k.trim().eq_ignore_ascii_case(key).then_some(v.trim())
}
