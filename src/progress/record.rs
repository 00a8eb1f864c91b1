//! One training session's scores, as stored in the progress database.

use crate::error::InputError;
use crate::sidecar::Sidecar;
use crate::summary_table::SummaryTable;
use chrono::{DateTime, FixedOffset, Utc};
use std::path::Path;

/// A hold at least this long counts towards the goal of 30 squeezes a day (DOMAIN.md §1,
/// strength step: 5-s holds). The same threshold as the report's `holds_5s_or_longer`.
pub const VALID_SQUEEZE_HOLD_S: f64 = 5.0;

/// The scores of one session. Optional fields are `NULL` in the database when unknown (e.g.
/// %MVC without a calibration).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SessionRecord {
    /// Pseudonymous patient id (never a name).
    pub patient_id: String,
    /// Wall-clock start with the patient's UTC offset (decides which day the session counts for).
    pub started_at: DateTime<FixedOffset>,
    pub protocol: Option<String>,
    pub device: Option<String>,
    pub probe: Option<String>,
    pub posture: Option<String>,
    pub duration_s: f64,
    /// Every counted contraction on the pelvic-floor channel.
    pub contractions: u32,
    /// Holds of at least [`VALID_SQUEEZE_HOLD_S`]: what counts towards the daily goal.
    pub valid_squeezes: u32,
    /// Contractions shorter than 2 s (quick flicks).
    pub quick_flicks: u32,
    pub mean_hold_s: Option<f64>,
    pub longest_hold_s: Option<f64>,
    /// Mean peak of the contractions, in `peak_unit` (µV envelope or cmH2O above rest).
    pub mean_peak: Option<f64>,
    pub peak_unit: Option<String>,
    /// Maximal voluntary contraction from a calibration, in `peak_unit`; `None` without one.
    pub mvc: Option<f64>,
    /// Mean hold level as % of `mvc`; `None` without a calibration.
    pub mean_pct_mvc: Option<f64>,
    /// Contractions flagged for abdominal co-activation (index > 3; not validated).
    pub coactivated: Option<u32>,
    /// `coactivated / contractions`, 0–1.
    pub coactivation_rate: Option<f64>,
    /// Pelvic-floor rest level, in `rest_unit`.
    pub rest_level: Option<f64>,
    pub rest_unit: Option<String>,
    pub strains: u32,
    pub coughs: u32,
    /// Where the scores came from (a recording's path, `simulator strength seed 17`, ...).
    pub source: String,
    /// `knip <version>`.
    pub software: String,
}

impl SessionRecord {
    pub fn new(patient_id: &str, started_at: DateTime<FixedOffset>) -> Self {
        SessionRecord {
            patient_id: patient_id.to_string(),
            started_at,
            protocol: None,
            device: None,
            probe: None,
            posture: None,
            duration_s: 0.0,
            contractions: 0,
            valid_squeezes: 0,
            quick_flicks: 0,
            mean_hold_s: None,
            longest_hold_s: None,
            mean_peak: None,
            peak_unit: None,
            mvc: None,
            mean_pct_mvc: None,
            coactivated: None,
            coactivation_rate: None,
            rest_level: None,
            rest_unit: None,
            strains: 0,
            coughs: 0,
            source: String::new(),
            software: format!("knip {}", env!("CARGO_PKG_VERSION")),
        }
    }

    /// Fills the scores from a report's summary (`summary.csv` of `knip analyze`), using its
    /// pelvic-floor channel (EMG, else pressure). `mvc` (same unit as the channel) gives %MVC.
    pub fn fill_from_summary(&mut self, t: &SummaryTable, mvc: Option<f64>) {
        let count = |v: Option<f64>| v.map(|x| x.max(0.0).round() as u32).unwrap_or(0);
        self.duration_s = t.value("all", "duration").unwrap_or(0.0);
        let Some(ch) = t.primary_channel().map(str::to_string) else {
            return;
        };
        let ch = ch.as_str();
        self.contractions = count(t.value(ch, "contractions"));
        self.valid_squeezes = count(t.value(ch, "holds_5s_or_longer"));
        self.quick_flicks = self
            .contractions
            .saturating_sub(count(t.value(ch, "holds_2s_or_longer")));
        let some_if = |v: Option<f64>| v.filter(|_| self.contractions > 0);
        self.mean_hold_s = some_if(t.value(ch, "mean_hold"));
        self.longest_hold_s = some_if(t.value(ch, "longest_hold"));
        self.mean_peak = some_if(t.value(ch, "mean_peak"));
        self.peak_unit = t.unit(ch, "mean_peak").map(str::to_string);
        self.rest_level = t.value(ch, "rest_level");
        self.rest_unit = t.unit(ch, "rest_level").map(str::to_string);
        self.coactivated = t
            .value(ch, "coactivated_contractions")
            .map(|v| count(Some(v)));
        self.coactivation_rate = self
            .coactivated
            .filter(|_| self.contractions > 0)
            .map(|c| c as f64 / self.contractions as f64);
        let most = |m: &str| {
            t.rows
                .iter()
                .filter(|r| r.metric == m)
                .filter_map(|r| r.value.parse::<f64>().ok())
                .fold(0.0, f64::max)
        };
        // A cough is tagged on each channel it shows on: count it once.
        self.coughs = count(Some(most("coughs")));
        self.strains = count(Some(most("strains")));
        self.mvc = mvc.filter(|m| *m > 0.0);
        self.mean_pct_mvc = match (self.mvc, some_if(t.value(ch, "mean_hold_level"))) {
            (Some(m), Some(level)) => Some(100.0 * level / m),
            _ => None,
        };
    }

    /// The record of an analysed recording: scores from the report folder's `summary.csv`,
    /// metadata from the recording's sidecar (start time, protocol, device, probe, posture),
    /// else the file's modification time. No calibration in a plain analysis: %MVC stays empty.
    pub fn from_report(
        patient_id: &str,
        recording: &Path,
        report_dir: &Path,
        sidecar: Option<&Sidecar>,
    ) -> Result<SessionRecord, InputError> {
        let table = SummaryTable::read(&report_dir.join("summary.csv"))?;
        let started_at = sidecar
            .and_then(|s| s.started_at.as_deref())
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .or_else(|| {
                std::fs::metadata(recording)
                    .and_then(|m| m.modified())
                    .ok()
                    .map(|t| DateTime::<Utc>::from(t).fixed_offset())
            })
            .ok_or_else(|| InputError::Format {
                path: recording.to_path_buf(),
                message: "no start time (no sidecar started_at, no file time) for the progress \
                          record"
                    .into(),
            })?;
        let mut rec = SessionRecord::new(patient_id, started_at);
        if let Some(s) = sidecar {
            rec.protocol = s.protocol.clone();
            rec.device = Some(s.device.clone());
            rec.probe = s.probe.clone();
            rec.posture = s.posture.clone();
        }
        rec.source = std::fs::canonicalize(recording)
            .unwrap_or_else(|_| recording.to_path_buf())
            .display()
            .to_string();
        rec.fill_from_summary(&table, None);
        Ok(rec)
    }
}
