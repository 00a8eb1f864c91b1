//! Ground truth of a simulated session: every contraction, cough and strain the simulated patient
//! made, with the times the simulator used. Written beside a simulated recording as
//! `FILE.truth.csv` and read back by the evaluation.

use crate::error::InputError;
use crate::frame::Role;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What the simulated patient did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TruthKind {
    /// A held voluntary contraction.
    Squeeze,
    /// A short (≈ 1 s) maximal contraction.
    QuickFlick,
    /// A cough: a short spike on every channel.
    Cough,
    /// Bearing down: pressure and abdominal EMG up, pelvic-floor EMG down.
    Strain,
    /// Abdominal co-activation during a squeeze (on the abdominal channel).
    Coactivation,
}

impl TruthKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TruthKind::Squeeze => "squeeze",
            TruthKind::QuickFlick => "quick_flick",
            TruthKind::Cough => "cough",
            TruthKind::Strain => "strain",
            TruthKind::Coactivation => "coactivation",
        }
    }

    pub fn parse(s: &str) -> Option<TruthKind> {
        [
            TruthKind::Squeeze,
            TruthKind::QuickFlick,
            TruthKind::Cough,
            TruthKind::Strain,
            TruthKind::Coactivation,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// Squeezes and quick flicks are the contractions a detector must find and count.
    pub fn is_contraction(self) -> bool {
        matches!(self, TruthKind::Squeeze | TruthKind::QuickFlick)
    }
}

/// One true event on one channel. `onset_s` is where the activity starts to rise above rest,
/// `offset_s` where it is back at rest (the end of the release ramp).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthEvent {
    pub role: Role,
    pub onset_s: f64,
    pub offset_s: f64,
    pub kind: TruthKind,
    /// Level of the activity above rest: µV RMS for EMG, cmH2O for pressure.
    pub amplitude: f64,
    /// Repetition number within the protocol (1-based), 0 where it does not apply (coughs).
    pub rep: u32,
}

/// Where the truth of a simulated recording goes: `session.csv` → `session.truth.csv`.
pub fn truth_path_for(csv: &Path) -> PathBuf {
    let stem = csv
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "recording".into());
    csv.with_file_name(format!("{stem}.truth.csv"))
}

pub const TRUTH_HEADER: &str = "channel,onset_s,offset_s,kind,amplitude,rep";

/// Writes `events` as `FILE.truth.csv` ([`TRUTH_HEADER`]).
/// Writes the truth table at `path` (owner-only, through a temporary file; an existing file is
/// never replaced).
pub fn write_truth_csv(path: &Path, events: &[TruthEvent]) -> std::io::Result<()> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(TRUTH_HEADER.split(','))?;
    for e in events {
        out.write_record([
            e.role.column_name().to_string(),
            format!("{:.4}", e.onset_s),
            format!("{:.4}", e.offset_s),
            e.kind.as_str().to_string(),
            format!("{:.3}", e.amplitude),
            e.rep.to_string(),
        ])?;
    }
    let bytes = out.into_inner().map_err(|e| e.into_error())?;
    crate::private_file::write_new(path, &bytes)
}

pub fn read_truth_csv(path: &Path) -> Result<Vec<TruthEvent>, InputError> {
    let text = std::fs::read_to_string(path).map_err(|source| InputError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let mut events = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i as u64 + 1;
        if i == 0 || line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |message: String| InputError::Parse {
            path: path.to_path_buf(),
            line: line_no,
            message,
        };
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < 6 {
            return Err(bad(format!(
                "expected 6 fields ({TRUTH_HEADER}), found {}",
                f.len()
            )));
        }
        let role = Role::from_column_name(f[0])
            .ok_or_else(|| bad(format!("unknown channel '{}'", f[0])))?;
        let num = |s: &str, what: &str| {
            s.trim()
                .parse::<f64>()
                .map_err(|_| bad(format!("{what} '{s}' is not a number")))
        };
        let kind = TruthKind::parse(f[3]).ok_or_else(|| bad(format!("unknown kind '{}'", f[3])))?;
        events.push(TruthEvent {
            role,
            onset_s: num(f[1], "onset_s")?,
            offset_s: num(f[2], "offset_s")?,
            kind,
            amplitude: num(f[4], "amplitude")?,
            rep: f[5]
                .trim()
                .parse()
                .map_err(|_| bad(format!("rep '{}' is not a whole number", f[5])))?,
        });
    }
    Ok(events)
}
