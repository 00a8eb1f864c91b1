//! Shimmer Consensys CSV exports: a first line `"sep=\t"` (or `;`, `,`), a row of names such as
//! `Shimmer_40AC_Timestamp_Unix_CAL`, `Shimmer_XXXX_EXG1_CH1_24BIT_CAL`, a row of units (`ms`,
//! `mV`, `no_units`, …), then the rows. The time stamp is milliseconds since 1970 or formatted
//! text (`2020/07/28 10:56:50.034`), rounded to the millisecond.
//!
//! The header gives no rate: it is measured from the time stamps of the first rows and, when
//! within 1 % of a rate Consensys offers, set to it exactly: 32768 Hz / k (1024, 512, 256, 204.8,
//! 128, 102.4, 51.2, 10.2, 1 Hz).
//! `mV` columns used as EMG are converted to µV. Gaps in the time stamps are not counted as
//! lost samples (the export has no sample counter).

use super::Layout;
use crate::error::InputError;
use crate::limits::excerpt;
use crate::source::csv_fields::{parse_cell, split_fields, Cell, Sep};
use crate::source::csv_lines::Lines;
use std::path::Path;

/// The Shimmer's clock, Hz: its rates are this divided by a whole number.
const SHIMMER_CLOCK_HZ: f64 = 32768.0;
/// The dividers of the rates Consensys offers (1024, 512, 256, 204.8, 128, 102.4, 51.2, 10.2,
/// 1 Hz).
const SHIMMER_DIVIDERS: [f64; 9] = [
    32.0, 64.0, 128.0, 160.0, 256.0, 320.0, 640.0, 3213.0, 32768.0,
];
/// Rows read to measure the rate.
const RATE_ROWS: usize = 4000;
/// A measured rate within this fraction of 32768/k is taken as exactly that.
const SNAP_FRACTION: f64 = 0.01;

fn sep_of(first: &str) -> Option<Sep> {
    // `"sep=<TAB>"`: the separator itself may be white space, so only line ends are trimmed.
    let t = first
        .trim_start_matches('\u{feff}')
        .trim_start()
        .trim_end_matches(['\r', '\n'])
        .trim_matches('"');
    let rest = t.strip_prefix("sep=")?;
    match rest {
        "\t" | "\\t" => Some(Sep::Byte(b'\t')),
        ";" => Some(Sep::Byte(b';')),
        "," => Some(Sep::Byte(b',')),
        _ => None,
    }
}

/// A Consensys export: a `sep=` line, then names ending in `_CAL`/`_RAW`/`_UNCAL`.
pub(super) fn is_consensys(head: &[String]) -> bool {
    let (Some(first), Some(names)) = (head.first(), head.get(1)) else {
        return false;
    };
    sep_of(first).is_some() && ["_CAL", "_RAW", "_UNCAL"].iter().any(|s| names.contains(s))
}

fn split(line: &str, sep: Sep) -> Vec<String> {
    let mut fields = Vec::new();
    split_fields(line.as_bytes(), sep, &mut fields);
    let mut out: Vec<String> = fields
        .iter()
        .map(|&(s, e)| line[s..e].trim().trim_matches('"').to_string())
        .collect();
    while out.len() > 1 && out.last().is_some_and(String::is_empty) {
        out.pop();
    }
    out
}

/// Seconds of a time stamp cell: a number of ms, or `yyyy/mm/dd hh:mm:ss.fff` (time of day).
fn stamp_s(cell: &str, sep: Sep) -> Option<f64> {
    if let Cell::Num(ms) = parse_cell(cell.as_bytes(), sep) {
        return ms.is_finite().then_some(ms / 1000.0);
    }
    let time = cell.trim().trim_matches('"').rsplit(' ').next()?;
    let mut parts = time.split(':');
    let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
    let v =
        h.parse::<f64>().ok()? * 3600.0 + m.parse::<f64>().ok()? * 60.0 + s.parse::<f64>().ok()?;
    v.is_finite().then_some(v)
}

pub(super) fn layout(path: &Path, head: &[String]) -> Result<Layout, InputError> {
    let fmt_err = |message: String| InputError::Format {
        path: path.to_path_buf(),
        message: format!("Shimmer Consensys export: {message}"),
    };
    let sep = sep_of(&head[0]).ok_or_else(|| fmt_err("unreadable sep= line".into()))?;
    let names = split(&head[1], sep);
    let units_row = head
        .get(2)
        .map(|l| split(l, sep))
        .ok_or_else(|| fmt_err("no units row under the names".into()))?;
    let units: Vec<String> = (0..names.len())
        .map(|i| {
            let u = units_row.get(i).map_or("", String::as_str);
            match u {
                "no_units" | "no units" => String::new(),
                "mVolts" => "mV".into(),
                other => other.to_string(),
            }
        })
        .collect();
    let stamp = names
        .iter()
        .position(|n| n.contains("Timestamp") && !n.contains("Sync"))
        .ok_or_else(|| fmt_err(format!("no Timestamp column among {} columns", names.len())))?;
    // Measure the rate from the time stamps of the first rows.
    let mut lines = Lines::open(path)?;
    for _ in 0..3 {
        lines.next()?;
    }
    let (mut first, mut last, mut n) = (None, None, 0usize);
    while n < RATE_ROWS && lines.next()? {
        let line = String::from_utf8_lossy(lines.line()).into_owned();
        if line.trim().is_empty() {
            continue;
        }
        let cells = split(&line, sep);
        let Some(t) = cells.get(stamp).and_then(|c| stamp_s(c, sep)) else {
            return Err(InputError::Parse {
                path: path.to_path_buf(),
                line: lines.line_no,
                message: format!(
                    "time stamp \"{}\" in column \"{}\" is not a number of ms nor \
                     yyyy/mm/dd hh:mm:ss.fff",
                    excerpt(cells.get(stamp).map_or("", String::as_str), 40),
                    excerpt(&names[stamp], 60)
                ),
            });
        };
        first.get_or_insert(t);
        last = Some(t);
        n += 1;
    }
    let (Some(a), Some(b)) = (first, last) else {
        return Err(fmt_err("no data rows under the units row".into()));
    };
    if n < 2 || b <= a {
        return Err(fmt_err(
            "fewer than two increasing time stamps: cannot tell the rate".into(),
        ));
    }
    let measured = (n - 1) as f64 / (b - a);
    let k = SHIMMER_DIVIDERS
        .iter()
        .copied()
        .min_by(|x, y| {
            let dx = (SHIMMER_CLOCK_HZ / x / measured - 1.0).abs();
            let dy = (SHIMMER_CLOCK_HZ / y / measured - 1.0).abs();
            dx.total_cmp(&dy)
        })
        .unwrap_or(1.0);
    let snapped = SHIMMER_CLOCK_HZ / k;
    let mut warnings = Vec::new();
    let rate_hz = if ((snapped / measured) - 1.0).abs() <= SNAP_FRACTION {
        warnings.push(format!(
            "Shimmer: the rate is not in the header; the time stamps give {measured:.3} Hz, \
             taken as the Shimmer rate 32768/{k} = {snapped:.4} Hz. Pass --rate HZ if it is \
             another"
        ));
        snapped
    } else {
        warnings.push(format!(
            "Shimmer: the rate is not in the header; the time stamps give {measured:.4} Hz \
             (not a rate Consensys offers: check the export, or pass --rate HZ)"
        ));
        measured
    };
    let emg: Vec<usize> = (0..names.len())
        .filter(|&i| {
            let n = names[i].to_ascii_uppercase();
            (n.contains("EXG") || n.contains("EMG")) && n.ends_with("_CAL") && !n.contains("STATUS")
        })
        .collect();
    let n_cols = names.len();
    Ok(Layout {
        dialect: format!("Shimmer Consensys ({rate_hz:.4} Hz)"),
        sep,
        names,
        units,
        gain: vec![1.0; n_cols],
        offset: vec![0.0; n_cols],
        rate_hz,
        rate_from_stamps: true,
        counter: None,
        emg,
        header_lines: 3,
        drop_zero_row: false,
        warnings,
    })
}
