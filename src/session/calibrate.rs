//! Calibration: each channel's rest baseline (mean and SD over the baseline phase, its first
//! second skipped) and maximal voluntary contraction (the best of the MVC squeezes, on the
//! 250-ms smoothed envelope), so levels can be shown as %MVC. Saved as `calibration.json` and
//! reusable with `--calibration FILE` to skip the calibration phases.

use crate::frame::Role;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One channel's calibration, in the channel's envelope unit (µV RMS, cmH2O).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelCalibration {
    pub role: Role,
    pub unit: String,
    pub rest_mean: f64,
    pub rest_sd: f64,
    /// Best maximal squeeze (envelope peak, 250-ms smoothed).
    pub mvc: f64,
}

impl ChannelCalibration {
    /// Level as %MVC above rest: `(x − rest) / (MVC − rest) × 100`. Subtracting the rest keeps a
    /// noisy rest floor from reading as a third of a squeeze on weak EMG.
    pub fn pct_mvc(&self, x: f64) -> f64 {
        let span = self.mvc - self.rest_mean;
        if span > 0.0 {
            100.0 * (x - self.rest_mean) / span
        } else {
            0.0
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Calibration {
    pub channels: Vec<ChannelCalibration>,
    /// Where it came from: `this session` or the file it was loaded from.
    #[serde(default)]
    pub source: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    #[error("cannot read calibration {path}: {message}; run a session without --calibration to make one")]
    Read { path: String, message: String },
    #[error("cannot write calibration {path}: {message}")]
    Write { path: String, message: String },
}

impl Calibration {
    pub fn channel(&self, role: Role) -> Option<&ChannelCalibration> {
        self.channels.iter().find(|c| c.role == role)
    }

    pub fn load(path: &Path) -> Result<Calibration, CalibrationError> {
        let err = |message: String| CalibrationError::Read {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let mut c: Calibration = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
        if c.channels.is_empty() {
            return Err(err("it holds no channel".into()));
        }
        if let Some(bad) = c
            .channels
            .iter()
            .find(|c| !(c.mvc.is_finite() && c.rest_mean.is_finite() && c.mvc > c.rest_mean))
        {
            return Err(err(format!(
                "channel {} has MVC {} not above its rest {}",
                bad.role, bad.mvc, bad.rest_mean
            )));
        }
        c.source = path.display().to_string();
        Ok(c)
    }

    pub fn save(&self, path: &Path) -> Result<(), CalibrationError> {
        let text = serde_json::to_string_pretty(self).map_err(|e| CalibrationError::Write {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        // A patient's levels: owner-only, and whole or not at all (a temporary file renamed).
        crate::private_file::write(path, text.as_bytes()).map_err(|e| CalibrationError::Write {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }
}

/// Mean and SD of `values` (population SD).
pub fn mean_sd(values: &[f64]) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let m = values.iter().sum::<f64>() / n;
    let v = values.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n;
    Some((m, v.sqrt()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pct_mvc_is_above_rest() {
        let c = ChannelCalibration {
            role: Role::PfmEmg,
            unit: "uV".into(),
            rest_mean: 4.0,
            rest_sd: 1.0,
            mvc: 44.0,
        };
        assert_eq!(c.pct_mvc(4.0), 0.0);
        assert_eq!(c.pct_mvc(24.0), 50.0);
        assert_eq!(c.pct_mvc(44.0), 100.0);
    }

    #[test]
    fn save_load_round_trip_and_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cal.json");
        let c = Calibration {
            channels: vec![ChannelCalibration {
                role: Role::Pressure,
                unit: "cmH2O".into(),
                rest_mean: 0.0,
                rest_sd: 0.3,
                mvc: 35.0,
            }],
            source: String::new(),
        };
        c.save(&p).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "a patient's calibration is its owner's alone");
        }
        let back = Calibration::load(&p).unwrap();
        assert_eq!(back.channels, c.channels);
        std::fs::write(&p, "{\"channels\": []}").unwrap();
        assert!(Calibration::load(&p).is_err());
        assert!(Calibration::load(&dir.path().join("missing.json")).is_err());
    }
}
