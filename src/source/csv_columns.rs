//! The columns of a delimited-text recording: which one is the time, which are the channels
//! (by name, by `--pfm/--abd/--pressure`, or the only numeric one), and how a message names
//! them (short, control characters escaped).

use crate::frame::Role;
use crate::limits::excerpt;
use crate::source::csv_file::CsvOptions;
use crate::source::derive::{self, Pick};

/// Names accepted for the time column (compared case-insensitively), with the factor to seconds.
pub(super) const TIME_NAMES: [(&str, f64); 9] = [
    ("time_s", 1.0),
    ("time", 1.0),
    ("t", 1.0),
    ("time:", 1.0),
    ("zeit", 1.0),
    ("zeit:", 1.0),
    ("timestamp", 1.0),
    ("time_ms", 0.001),
    ("t_ms", 0.001),
];

/// A chosen channel: its column and where it sits in the stream spec.
#[derive(Debug, Clone)]
pub(super) struct Column {
    pub(super) index: usize,
    pub(super) name: String,
}

/// Columns listed in a message at most.
pub(super) const LISTED_COLUMNS: usize = 20;
/// Characters of a column name or a cell quoted in a message.
pub(super) const QUOTED_NAME_CHARS: usize = 40;
/// A column name or a cell, as a message quotes it: short, control characters escaped.
pub(super) fn quoted(text: &str) -> String {
    excerpt(text, QUOTED_NAME_CHARS)
}

/// The columns for a message: `name (number)`, at most [`LISTED_COLUMNS`] of them.
pub(super) fn list_columns(names: &[String]) -> String {
    let named: Vec<String> = names
        .iter()
        .enumerate()
        .filter(|(_, n)| !n.is_empty())
        .map(|(i, n)| {
            if n == &(i + 1).to_string() {
                n.clone()
            } else {
                format!("{} ({})", quoted(n), i + 1)
            }
        })
        .collect();
    let mut listed = named
        .iter()
        .take(LISTED_COLUMNS)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if named.len() > LISTED_COLUMNS {
        listed.push_str(&format!(", … ({} columns)", names.len()));
    }
    listed
}

/// Finds a column by exact name, then case-insensitive name, then 1-based number.
pub(super) fn find_column(names: &[String], wanted: &str) -> Option<usize> {
    let wanted = wanted.trim();
    if let Some(i) = names.iter().position(|n| n == wanted) {
        return Some(i);
    }
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(wanted)) {
        return Some(i);
    }
    match wanted.parse::<usize>() {
        Ok(k) if k >= 1 && k <= names.len() => Some(k - 1),
        _ => None,
    }
}

/// The columns for each role, without a sidecar: one column, or the difference of two
/// (`--pfm EXG1-EXG2`, see [`crate::source::derive`]).
pub(super) fn choose_columns(
    names: &[String],
    numeric: &[bool],
    time_col: Option<usize>,
    opts: &CsvOptions,
) -> Result<Vec<(Role, Pick)>, String> {
    let flags = [
        (Role::PfmEmg, "--pfm", &opts.pfm),
        (Role::AbdEmg, "--abd", &opts.abd),
        (Role::Pressure, "--pressure", &opts.pressure),
    ];
    let mut chosen: Vec<(Role, Pick)> = Vec::new();
    for (role, flag, value) in flags {
        if let Some(wanted) = value {
            let pick = derive::resolve(wanted, |w| find_column(names, w))
                .map_err(|e| format!("{flag} {}: {e}", quoted(wanted)))?;
            let Some(pick) = pick else {
                return Err(format!(
                    "{flag} {}: no such column. Available columns: {} (give a name or a \
                     1-based number, or NAME1-NAME2 for the difference of two)",
                    quoted(wanted),
                    list_columns(names)
                ));
            };
            let used = match pick {
                Pick::One(i) => vec![i],
                Pick::Diff(a, b) => vec![a, b],
            };
            if let Some(&i) = used.iter().find(|&&i| Some(i) == time_col) {
                return Err(format!(
                    "{flag} {}: \"{}\" is the time column; choose a signal column from: {}",
                    quoted(wanted),
                    quoted(&names[i]),
                    list_columns(names)
                ));
            }
            if let Pick::One(i) = pick {
                if let Some((other, _)) = chosen.iter().find(|(_, c)| *c == Pick::One(i)) {
                    return Err(format!(
                        "{flag} {}: column \"{}\" is already used for {other}",
                        quoted(wanted),
                        quoted(&names[i])
                    ));
                }
            }
            chosen.push((role, pick));
        }
    }
    // Default names for roles without a flag, unless that column is already taken.
    for role in Role::ALL {
        if chosen.iter().any(|(r, _)| *r == role) {
            continue;
        }
        let Some(i) = names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(role.column_name()))
        else {
            continue;
        };
        if chosen.iter().any(|(_, c)| *c == Pick::One(i)) {
            continue;
        }
        chosen.push((role, Pick::One(i)));
    }
    if chosen.is_empty() {
        // The only non-time numeric column is the pelvic-floor EMG.
        let candidates: Vec<usize> = (0..names.len())
            .filter(|&i| Some(i) != time_col && numeric[i])
            .collect();
        if candidates.len() == 1 {
            chosen.push((Role::PfmEmg, Pick::One(candidates[0])));
        }
    }
    if chosen.is_empty() {
        return Err(format!(
            "no channel column found: the columns are {}. Name the channels pfm_emg, abd_emg, \
             pressure, or choose them with --pfm COL, --abd COL, --pressure COL (a column name or \
             a 1-based number, or COL1-COL2 for a bipolar derivation)",
            list_columns(names)
        ));
    }
    chosen.sort_by_key(|(r, _)| Role::ALL.iter().position(|x| x == r));
    Ok(chosen)
}

/// The name of a picked channel: the column's, or `A-B` for a derivation.
pub(super) fn pick_name(names: &[String], pick: Pick) -> String {
    match pick {
        Pick::One(i) => names[i].clone(),
        Pick::Diff(a, b) => format!("{}-{}", names[a], names[b]),
    }
}
