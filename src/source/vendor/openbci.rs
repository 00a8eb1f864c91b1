//! OpenBCI GUI recordings (`OpenBCI-RAW-….txt`): `%OpenBCI Raw EEG Data` (or `EXG`),
//! `%Number of channels = 8`, `%Sample Rate = 250 Hz`, `%Board = …`, then comma-separated rows
//! `Sample Index, EXG Channel 0 … N-1` (µV), accelerometer (g), other, analog, `Timestamp`,
//! (`Marker Channel`), `Timestamp (Formatted)`. GUI v6 writes that header row; v5 writes none
//! and a first row of zeros (dropped).
//!
//! On a Cyton the sample index counts packets modulo 256: a jump is lost samples. Files of
//! other boards (Ganglion, Daisy) are read without loss counting, and knip says so. The newer
//! BrainFlow CSV (tab-separated, no header) has nothing to recognise: read it as plain CSV
//! with `--rate` and column numbers.

use super::{after_equals, Layout};
use crate::limits::{excerpt, SAMPLE_RATE_HZ};
use crate::source::csv_fields::Sep;

/// The Cyton's sample index counts modulo this.
const CYTON_INDEX_MODULUS: u64 = 256;
/// Most EXG channels a header may announce (Cyton + Daisy: 16).
const MAX_EXG_CHANNELS: usize = 64;

fn err(what: String) -> String {
    format!("OpenBCI GUI header: {what}")
}

pub(super) fn layout(head: &[String]) -> Result<Layout, String> {
    let comments: Vec<&String> = head.iter().take_while(|l| l.starts_with('%')).collect();
    let value = |key: &str| comments.iter().find_map(|l| after_equals(l, key));
    let rate_text =
        value("Sample Rate").ok_or_else(|| err("no \"%Sample Rate = …\" line".into()))?;
    let rate_hz: f64 = rate_text
        .trim_end_matches("Hz")
        .trim()
        .parse()
        .map_err(|_| {
            err(format!(
                "sample rate \"{}\" is not a number",
                excerpt(rate_text, 40)
            ))
        })?;
    SAMPLE_RATE_HZ
        .check(rate_hz)
        .map_err(|e| err(format!("sample rate: {e}")))?;
    let n_exg: usize = value("Number of channels")
        .and_then(|v| v.parse().ok())
        .filter(|n| (1..=MAX_EXG_CHANNELS).contains(n))
        .ok_or_else(|| err("no valid \"%Number of channels = …\" line".into()))?;
    let board = value("Board").unwrap_or("board not named").to_string();
    let header_lines = comments.len();
    let header_row = head
        .get(header_lines)
        .filter(|l| l.trim_start().starts_with("Sample Index"));
    let names: Vec<String> = match header_row {
        Some(row) => row.split(',').map(|s| s.trim().to_string()).collect(),
        None => {
            // v5: no header row; the columns are those of v6 up to the channels.
            let width = head
                .get(header_lines + 1)
                .or(head.get(header_lines))
                .map_or(0, |l| l.split(',').count());
            let mut n = vec!["Sample Index".to_string()];
            n.extend((0..n_exg).map(|k| format!("EXG Channel {k}")));
            for k in 0..width.saturating_sub(n.len()) {
                n.push(if k < 3 {
                    format!("Accel Channel {k}")
                } else {
                    format!("column {}", n.len() + 1)
                });
            }
            n
        }
    };
    if names.len() < n_exg + 1 {
        return Err(err(format!(
            "{} columns but {n_exg} channels announced",
            names.len()
        )));
    }
    let units = names
        .iter()
        .map(|n| {
            if n.starts_with("EXG Channel") {
                "uV".to_string()
            } else if n.starts_with("Accel Channel") {
                "g".to_string()
            } else {
                String::new()
            }
        })
        .collect::<Vec<_>>();
    let emg: Vec<usize> = (0..names.len())
        .filter(|&i| names[i].starts_with("EXG Channel"))
        .collect();
    let cyton = board.contains("Cyton") && !board.contains("Daisy");
    let mut warnings = Vec::new();
    if !cyton {
        warnings.push(format!(
            "OpenBCI board \"{}\": its sample index is not checked for lost samples (knip knows \
             the Cyton's counter only)",
            excerpt(&board, 60)
        ));
    }
    let n = names.len();
    Ok(Layout {
        dialect: format!(
            "OpenBCI GUI ({}, {rate_hz} Hz)",
            board.rsplit('$').next().unwrap_or(&board)
        ),
        sep: Sep::Byte(b','),
        names,
        units,
        gain: vec![1.0; n],
        offset: vec![0.0; n],
        rate_hz,
        rate_from_stamps: false,
        counter: cyton.then_some((0, CYTON_INDEX_MODULUS)),
        emg,
        header_lines: (header_lines + usize::from(header_row.is_some())) as u64,
        drop_zero_row: header_row.is_none(),
        warnings,
    })
}
