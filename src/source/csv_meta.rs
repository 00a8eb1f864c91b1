//! Metadata in the comment lines before the data of a delimited-text recording:
//! `rate_hz=2000`, `fs_hz~1.852` (approximate), `kind=emg_envelope`, `units=...`, or BioSPPy's
//! `Sampling Rate (Hz):= 1000.00`.

use crate::source::csv_columns::quoted;

/// Metadata found in the comment lines before the data.
#[derive(Debug, Default)]
pub(super) struct Meta {
    pub(super) rate_hz: Option<f64>,
    pub(super) rate_approx: bool,
    pub(super) rate_text: String,
    pub(super) envelope: Option<bool>,
    pub(super) units: Option<String>,
}

/// Parses `key=value` / `key~value` pairs of a comment line. A value runs up to the next
/// ` key=` token, so `units=ADC counts (12-bit) kind=raw_emg` gives `ADC counts (12-bit)`.
pub(super) fn parse_meta_comment(line: &str, meta: &mut Meta) {
    let body = line.trim_start().trim_start_matches('#').trim();
    // BioSPPy "Simple Text Format": `# Sampling Rate (Hz):= 1000.00`
    if let Some(pos) = body.find(":=") {
        if body[..pos].to_ascii_lowercase().contains("sampling rate") {
            if let Ok(v) = body[pos + 2..].trim().parse::<f64>() {
                meta.rate_hz = Some(v);
                meta.rate_text = quoted(body);
            }
        }
        return;
    }
    // Find key tokens: a word of [A-Za-z0-9_] at the start or after whitespace, followed by = or ~.
    let bytes = body.as_bytes();
    let mut keys: Vec<(usize, usize, usize)> = Vec::new(); // (key start, key end, value start)
    let mut i = 0;
    while i < bytes.len() {
        if i == 0 || bytes[i - 1].is_ascii_whitespace() {
            let mut j = i;
            while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
                j += 1;
            }
            if j > i && j < bytes.len() && (bytes[j] == b'=' || bytes[j] == b'~') {
                keys.push((i, j, j + 1));
                i = j + 1;
                continue;
            }
        }
        i += 1;
    }
    for (k, &(ks, ke, vs)) in keys.iter().enumerate() {
        let ve = keys.get(k + 1).map_or(bytes.len(), |n| n.0);
        let key = body[ks..ke].to_ascii_lowercase();
        let value = body[vs..ve].trim();
        let approx = bytes[ke] == b'~';
        match key.as_str() {
            "rate_hz" | "fs_hz" | "fs" | "sampling_rate" | "sample_rate" | "srate" => {
                if let Ok(v) = value.parse::<f64>() {
                    meta.rate_hz = Some(v);
                    meta.rate_approx = approx;
                    meta.rate_text =
                        quoted(&format!("{}{}{}", &body[ks..ke], &body[ke..vs], value));
                }
            }
            "kind" => {
                let v = value.to_ascii_lowercase();
                if v.contains("envelope") || v.contains("rms") {
                    meta.envelope = Some(true);
                } else if v.contains("raw") {
                    meta.envelope = Some(false);
                }
            }
            "units" | "unit" => {
                // Keep the unit itself, not the explanation in parentheses.
                let unit = value.split(" (").next().unwrap_or(value).trim();
                if !unit.is_empty() {
                    meta.units = Some(quoted(unit));
                }
            }
            _ => {}
        }
    }
}
