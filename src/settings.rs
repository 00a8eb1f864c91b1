//! The analysis settings by name, for library callers (the Python package's keyword arguments):
//! the command line's options under their option names (`onset_k`, `notch`, ...), checked
//! against the same [`crate::limits`], and every other field of [`AnalysisConfig`] under its
//! own name. Defaults come from [`AnalysisConfig::default`], the one place they are set.

use crate::config::AnalysisConfig;
use crate::limits::{self, Limit};

/// Range for the settings the command line does not expose (rates, windows, factors): finite
/// and not negative, and never large enough to size anything absurd.
pub const ADVANCED: Limit<f64> = Limit {
    lo: 0.0,
    hi: 1e5,
    unit: "",
};

/// One setting: its name, what it means, its default and its plausible range.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingDoc {
    pub name: &'static str,
    /// Where it lives in [`AnalysisConfig`] (`detector.onset_k`).
    pub field: &'static str,
    pub help: &'static str,
    /// The default as JSON (`3.0`, `null`).
    pub default: String,
    pub range: String,
    /// One of the command line's options (`--onset-k`).
    pub cli: bool,
}

/// `(name, field, help, limit)`: the command line's settings first (their help is the option's).
const TABLE: &[(&str, &str, &str, Option<Limit<f64>>)] = &[
    (
        "notch",
        "conditioning.notch_hz",
        "Mains notch at 50 or 60 Hz (and harmonics); off (None) by default, as SENIAM advises.",
        Some(limits::NOTCH_HZ),
    ),
    (
        "calibration_s",
        "detector.calibration_s",
        "Length of the calibration rest, seconds.",
        Some(limits::CALIBRATION_S),
    ),
    (
        "calibration_start_s",
        "detector.calibration_skip_s",
        "Where the calibration rest starts, seconds after the recording starts (a marked rest).",
        Some(limits::CALIBRATION_START_S),
    ),
    (
        "onset_k",
        "detector.onset_k",
        "Onset threshold: rest mean + K x rest SD.",
        Some(limits::ONSET_K),
    ),
    (
        "min_contraction_s",
        "detector.min_contraction_s",
        "Shortest contraction, seconds (shorter bursts are coughs or artifacts).",
        Some(limits::MIN_CONTRACTION_S),
    ),
    (
        "envelope_ms",
        "conditioning.envelope_window_ms",
        "Moving-RMS window, ms.",
        Some(limits::ENVELOPE_MS),
    ),
    (
        "emg_highpass_hz",
        "conditioning.emg_highpass_hz",
        "EMG band-pass high-pass corner, Hz (SENIAM 10-20 Hz).",
        None,
    ),
    (
        "emg_lowpass_hz",
        "conditioning.emg_lowpass_hz",
        "EMG band-pass low-pass corner, Hz (moved below Nyquist, with a warning, under 1 kHz).",
        None,
    ),
    (
        "emg_filter_order",
        "conditioning.emg_filter_order",
        "Butterworth order of each side of the band-pass (even).",
        None,
    ),
    (
        "notch_q",
        "conditioning.notch_q",
        "Quality factor of each notch.",
        None,
    ),
    (
        "mains_cancel_tau_s",
        "conditioning.mains_cancel_tau_s",
        "Adaptive mains canceller (50/60 Hz, 3rd, 5th harmonics): time constant, s; None turns it off.",
        None,
    ),
    (
        "abd_ecg_highpass_hz",
        "conditioning.abd_ecg_highpass_hz",
        "High-pass on the abdominal channel against ECG bleed, Hz; None disables it.",
        None,
    ),
    (
        "pressure_lowpass_hz",
        "conditioning.pressure_lowpass_hz",
        "Pressure low-pass, Hz.",
        None,
    ),
    (
        "onset_min_rel",
        "detector.onset_min_rel",
        "EMG onset threshold at least rest mean x (1 + this).",
        None,
    ),
    (
        "pressure_min_rise",
        "detector.pressure_min_rise",
        "Pressure onset at least this many cmH2O above the local baseline.",
        None,
    ),
    (
        "pressure_min_rel",
        "detector.pressure_min_rel",
        "... and at least this fraction of the baseline itself.",
        None,
    ),
    (
        "offset_fraction",
        "detector.offset_fraction",
        "A contraction also ends when back within this fraction of its own level.",
        None,
    ),
    (
        "pressure_max_active_s",
        "detector.pressure_max_active_s",
        "A pressure episode longer than this is a new rest level, not a squeeze, seconds.",
        None,
    ),
    (
        "rest_p99_margin",
        "detector.rest_p99_margin",
        "EMG onset under rest + this factor x the rest's regular bumps (P99 - median, ECG bleed) must hold 0.25 s.",
        None,
    ),
    (
        "onset_hold_ms",
        "detector.onset_hold_ms",
        "The envelope must stay above the onset threshold this long, ms.",
        None,
    ),
    (
        "offset_k",
        "detector.offset_k",
        "Offset threshold: rest mean + K x rest SD (hysteresis).",
        None,
    ),
    (
        "offset_hold_ms",
        "detector.offset_hold_ms",
        "The envelope must stay below the offset threshold this long, ms.",
        None,
    ),
    (
        "cough_coincidence_ms",
        "detector.cough_coincidence_ms",
        "Short bursts on different channels within this window are a cough, ms.",
        None,
    ),
    (
        "rest_window_s",
        "detector.rest_window_s",
        "EMG rest statistics from the last this many seconds of rest (0 keeps the calibration's).",
        None,
    ),
    (
        "pressure_baseline_s",
        "detector.pressure_baseline_s",
        "Pressure baseline: median of the last this many seconds of rest.",
        None,
    ),
    (
        "onset_backtrack_max_s",
        "detector.onset_backtrack_max_s",
        "How far back the reported onset may move to where the envelope left rest, seconds.",
        None,
    ),
];

fn default_json() -> serde_json::Value {
    serde_json::to_value(AnalysisConfig::default()).unwrap_or_default()
}

fn field_of<'a>(v: &'a mut serde_json::Value, field: &str) -> Option<&'a mut serde_json::Value> {
    let (group, name) = field.split_once('.')?;
    v.get_mut(group)?.get_mut(name)
}

/// Every setting with its default (from [`AnalysisConfig::default`]) and range.
pub fn settings() -> Vec<SettingDoc> {
    let mut d = default_json();
    TABLE
        .iter()
        .map(|&(name, field, help, limit)| {
            let l = limit.unwrap_or(ADVANCED);
            SettingDoc {
                name,
                field,
                help,
                default: field_of(&mut d, field)
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
                range: format!("{}-{}", l.lo, l.hi),
                cli: limit.is_some(),
            }
        })
        .collect()
}

/// `cfg` with setting `name` set to `value` (`None`: off, for the settings that can be off).
/// The message names the setting and what it takes.
pub fn apply(
    cfg: &AnalysisConfig,
    name: &str,
    value: Option<f64>,
) -> Result<AnalysisConfig, String> {
    let Some(&(_, field, _, limit)) = TABLE.iter().find(|t| t.0 == name) else {
        let known: Vec<&str> = TABLE.iter().map(|t| t.0).collect();
        return Err(format!(
            "unknown setting '{}'; the settings are: {}",
            limits::excerpt(name, 40),
            known.join(", ")
        ));
    };
    let mut v = serde_json::to_value(cfg).map_err(|e| e.to_string())?;
    let slot = field_of(&mut v, field).ok_or_else(|| format!("{name}: no such field {field}"))?;
    let optional = default_json()
        .pointer(&format!("/{}", field.replace('.', "/")))
        .is_some_and(|d| d.is_null())
        || name == "abd_ecg_highpass_hz"
        || name == "mains_cancel_tau_s";
    *slot = match value {
        None if optional => serde_json::Value::Null,
        None => return Err(format!("{name} cannot be None: give a number")),
        Some(x) => {
            let x = limit
                .unwrap_or(ADVANCED)
                .check(x)
                .map_err(|e| format!("{name}: {e}"))?;
            if name == "notch" && x != 50.0 && x != 60.0 {
                return Err(format!(
                    "notch takes 50 or 60 (the mains frequency), not {x}"
                ));
            }
            if name == "emg_filter_order" {
                if x.fract() != 0.0 || !(2.0..=16.0).contains(&x) || x % 2.0 != 0.0 {
                    return Err(format!(
                        "{name}: {x} is not an even whole number from 2 to 16"
                    ));
                }
                serde_json::json!(x as u64)
            } else {
                serde_json::json!(x)
            }
        }
    };
    serde_json::from_value(v).map_err(|e| format!("{name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_names_a_field_with_its_default() {
        let docs = settings();
        assert_eq!(docs.len(), TABLE.len());
        for d in &docs {
            assert!(!d.default.is_empty(), "{} has no default", d.name);
        }
        let k = docs.iter().find(|d| d.name == "onset_k").unwrap();
        assert_eq!(
            k.default,
            AnalysisConfig::default().detector.onset_k.to_string() + ".0"
        );
        // Every field of the config is reachable by one name.
        let v = default_json();
        let fields: usize = ["conditioning", "detector"]
            .iter()
            .map(|g| v[g].as_object().unwrap().len())
            .sum();
        assert_eq!(fields, TABLE.len());
    }

    #[test]
    fn settings_are_applied_and_checked() {
        let c = apply(&AnalysisConfig::default(), "onset_k", Some(4.5)).unwrap();
        assert_eq!(c.detector.onset_k, 4.5);
        let c = apply(&c, "notch", Some(50.0)).unwrap();
        assert_eq!(c.conditioning.notch_hz, Some(50.0));
        let c = apply(&c, "notch", None).unwrap();
        assert_eq!(c.conditioning.notch_hz, None);
        let c = apply(&c, "emg_filter_order", Some(6.0)).unwrap();
        assert_eq!(c.conditioning.emg_filter_order, 6);
        let e = apply(&c, "onset_k", Some(1e9)).unwrap_err();
        assert!(
            e.starts_with("onset_k: 1e9 is outside the plausible range"),
            "{e}"
        );
        let e = apply(&c, "notch", Some(55.0)).unwrap_err();
        assert!(e.contains("50 or 60"), "{e}");
        let e = apply(&c, "onset_k", Some(f64::NAN)).unwrap_err();
        assert!(e.contains("outside"), "{e}");
        let e = apply(&c, "onsetk", Some(3.0)).unwrap_err();
        assert!(e.starts_with("unknown setting 'onsetk'"), "{e}");
        let e = apply(&c, "onset_k", None).unwrap_err();
        assert!(e.contains("cannot be None"), "{e}");
    }
}
