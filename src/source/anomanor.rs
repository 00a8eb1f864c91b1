//! The clinicians' markers at the end of an anomanor manometry export (`.txt`), after its
//! `Annotations:` line.

use crate::error::InputError;
use crate::limits::{excerpt, excerpt_bytes};
use crate::source::csv_columns::QUOTED_NAME_CHARS;
use crate::source::csv_lines::MAX_LINE_BYTES;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// Characters of a marker label kept.
const MARKER_LABEL_CHARS: usize = 200;
/// Reads the clinicians' markers at the end of an anomanor manometry export (`.txt`): the
/// `(time_s, label)` pairs after the `Annotations:` line, e.g. `(52.26, "# Squeeze 1")`.
///
/// Times are on the file's own `TIME:` axis (the normalized CSVs in `data/` start at 0: subtract
/// the first TIME value). They are returned as stored, including `-1` which anomanor uses for a
/// manoeuvre that was not done. Labels that are not UTF-8 are read as Latin-1.
pub fn read_anomanor_markers(txt_path: &Path) -> Result<Vec<(f64, String)>, InputError> {
    let file = File::open(txt_path).map_err(|source| InputError::Open {
        path: txt_path.to_path_buf(),
        source,
    })?;
    let mut reader = BufReader::new(file);
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    let mut in_markers = false;
    let mut markers = Vec::new();
    loop {
        buf.clear();
        let n = std::io::Read::take(&mut reader, MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|source| InputError::Read {
                path: txt_path.to_path_buf(),
                line: line_no + 1,
                source,
            })?;
        if n == 0 {
            break;
        }
        if n > MAX_LINE_BYTES {
            return Err(InputError::Parse {
                path: txt_path.to_path_buf(),
                line: line_no + 1,
                message: format!(
                    "the line is longer than {MAX_LINE_BYTES} bytes: not an anomanor export?"
                ),
            });
        }
        line_no += 1;
        let line = buf.trim_ascii();
        if !in_markers {
            in_markers = line == b"Annotations:";
            continue;
        }
        if line.is_empty() {
            continue;
        }
        let split = line
            .iter()
            .position(|c| c.is_ascii_whitespace())
            .unwrap_or(line.len());
        let (time_text, label) = (&line[..split], line[split..].trim_ascii());
        let time = std::str::from_utf8(time_text)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|t| t.is_finite())
            .ok_or_else(|| InputError::Parse {
                path: txt_path.to_path_buf(),
                line: line_no,
                message: format!(
                    "marker time \"{}\" is not a number (expected \"<seconds> <label>\")",
                    excerpt_bytes(time_text, QUOTED_NAME_CHARS)
                ),
            })?;
        let label: String = match std::str::from_utf8(label) {
            Ok(s) => s.to_string(),
            Err(_) => label.iter().map(|&b| b as char).collect(),
        };
        // Labels go to the terminal and the reports.
        let label = excerpt(&label, MARKER_LABEL_CHARS);
        markers.push((time, label));
    }
    if !in_markers {
        return Err(InputError::Format {
            path: txt_path.to_path_buf(),
            message: "no \"Annotations:\" line: not an anomanor export with markers".to_string(),
        });
    }
    Ok(markers)
}
