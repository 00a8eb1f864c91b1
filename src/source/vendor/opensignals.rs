//! BITalino / PLUX OpenSignals text files: `# OpenSignals Text File Format`, then `# {JSON}` with
//! one entry per device (`sampling rate`, `column`, `label`, `sensor`, `resolution`, `device`),
//! then `# EndOfHeader`, then tab-separated rows `nSeq, I1, I2, O1, O2, A1, …` of raw ADC values.
//!
//! - `nSeq` counts samples modulo 16: a jump is lost samples.
//! - A channel whose sensor is `EMG` on a BITalino is converted to µV with the BITalino
//!   (r)evolution EMG transfer function: EMG(mV) = (ADC / 2^n − 1/2) · VCC / G_EMG with VCC =
//!   3300 mV (3.3 V), G_EMG = 1009, n = the channel's resolution from the header (10 bits for
//!   A1–A4, 6 for A5–A6): a range of ±1.64 mV, so µV = (ADC / 2^n − 1/2) · 3.3 V / 1009 · 10⁶.
//!   Other sensors (and `RAW`) stay in ADC counts, and knip says so.

use super::Layout;
use crate::limits::{excerpt, SAMPLE_RATE_HZ};
use crate::source::csv_fields::Sep;
use serde_json::Value;

/// nSeq counts modulo this.
const NSEQ_MODULUS: u64 = 16;

fn err(what: &str) -> String {
    format!("OpenSignals header: {what}")
}

pub(super) fn layout(head: &[String]) -> Result<Layout, String> {
    let json_line = head
        .iter()
        .skip(1)
        .find(|l| l.trim_start().starts_with("# {"))
        .ok_or_else(|| err("no JSON line (\"# {…}\") after the first line"))?;
    let end = head
        .iter()
        .position(|l| l.trim() == "# EndOfHeader")
        .ok_or_else(|| err("no \"# EndOfHeader\" line in the first lines"))?;
    let json: Value = serde_json::from_str(json_line.trim_start().trim_start_matches('#').trim())
        .map_err(|e| err(&format!("the JSON line does not parse ({e})")))?;
    let devices = json
        .as_object()
        .ok_or_else(|| err("the JSON line is not an object of devices"))?;
    if devices.len() != 1 {
        return Err(err(&format!(
            "{} devices in one file; knip reads files of one device (export each device \
             separately in OpenSignals)",
            devices.len()
        )));
    }
    let Some((mac, dev)) = devices.iter().next() else {
        return Err(err("no device"));
    };
    let strings = |key: &str| -> Result<Vec<String>, String> {
        dev.get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string())
                    })
                    .collect()
            })
            .ok_or_else(|| err(&format!("device {}: no \"{key}\" list", excerpt(mac, 40))))
    };
    let columns = strings("column")?;
    let sensors = strings("sensor").unwrap_or_default();
    let resolution: Vec<u32> = dev
        .get("resolution")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|v| v.as_u64().unwrap_or(0) as u32).collect())
        .unwrap_or_default();
    let rate_hz = dev
        .get("sampling rate")
        .and_then(Value::as_f64)
        .ok_or_else(|| err("no \"sampling rate\""))?;
    SAMPLE_RATE_HZ
        .check(rate_hz)
        .map_err(|e| err(&format!("sampling rate: {e}")))?;
    let device = dev
        .get("device")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_string();
    let bitalino = device.starts_with("bitalino");
    // The analog channels are the last columns, one per sensor.
    let n_analog = sensors.len().min(columns.len());
    let first_analog = columns.len() - n_analog;
    let mut units = vec![String::new(); columns.len()];
    let mut gain = vec![1.0; columns.len()];
    let mut offset = vec![0.0; columns.len()];
    let mut emg = Vec::new();
    let mut counts = Vec::new();
    for (k, sensor) in sensors.iter().enumerate().take(n_analog) {
        let col = first_analog + k;
        let bits = resolution.get(col).copied().unwrap_or(0);
        if sensor.to_ascii_uppercase().starts_with("EMG") {
            emg.push(col);
        }
        if sensor.to_ascii_uppercase().starts_with("EMG") && bitalino && (1..=16).contains(&bits) {
            // µV = (ADC / 2^n − 1/2) · VCC / G: the board's transfer function, one place.
            (gain[col], offset[col]) = crate::source::bitalino::emg_uv_linear(bits);
            units[col] = "uV".into();
        } else {
            units[col] = "ADC counts".into();
            counts.push(format!("{} ({sensor})", columns[col]));
        }
    }
    let mut warnings = Vec::new();
    if !counts.is_empty() {
        warnings.push(format!(
            "OpenSignals: {} stored as raw ADC counts (the header's sensor is not a BITalino \
             EMG sensor, so there is no transfer function to µV); amplitudes are relative",
            counts.join(", ")
        ));
    }
    let counter = columns
        .iter()
        .position(|c| c == "nSeq")
        .map(|i| (i, NSEQ_MODULUS));
    Ok(Layout {
        dialect: format!("OpenSignals ({device}, {rate_hz} Hz)"),
        sep: Sep::Byte(b'\t'),
        names: columns,
        units,
        gain,
        offset,
        rate_hz,
        rate_from_stamps: false,
        counter,
        emg,
        header_lines: end as u64 + 1,
        drop_zero_row: false,
        warnings,
    })
}
