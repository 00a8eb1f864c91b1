//! One training session's scores, as stored in the progress database: from an analysed
//! recording's typed scores ([`SessionRecord::from_analysis`]) or from a guided session's result
//! ([`SessionRecord::from_session`]). Every record of a recording carries a key made from the
//! recording's content (SHA-256 of its bytes) and its start time, so storing it again — or a
//! copy under another name — replaces the one row instead of counting it twice.

use crate::error::InputError;
use crate::score::AnalysisScores;
use crate::session::calibrate::Calibration;
use crate::session::glazer::{self, GlazerRow};
use crate::session::perfect::{self, Perfect};
use crate::session::protocol::PhaseKind;
use crate::session::run::SessionResult;
use crate::sidecar::Sidecar;
use chrono::{DateTime, FixedOffset, Utc};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// `kind` of a record made by analysing a recording (`knip analyze`, `progress-fill`).
pub const KIND_ANALYSIS: &str = "analysis";
/// `kind` of a record made by a guided session (`knip session`).
pub const KIND_GUIDED: &str = "guided";

/// The scores of one session. Optional fields are `NULL` in the database when unknown (e.g.
/// %MVC without a calibration).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SessionRecord {
    /// Pseudonymous patient id (never a name).
    pub patient_id: String,
    /// Wall-clock start with the patient's UTC offset (decides which day the session counts for).
    pub started_at: DateTime<FixedOffset>,
    /// [`KIND_ANALYSIS`] or [`KIND_GUIDED`].
    pub kind: String,
    /// The recording's identity: `sha256:<hex of its bytes>` and, when the recording declares
    /// it, `@<start time>` ([`recording_key`]). `None` for sessions without a recording.
    pub recording_key: Option<String>,
    pub protocol: Option<String>,
    pub device: Option<String>,
    pub probe: Option<String>,
    pub posture: Option<String>,
    pub duration_s: f64,
    /// Every counted contraction on the pelvic-floor channel.
    pub contractions: u32,
    /// Valid strength holds (the one hold rule, [`crate::score::hold`]): what counts towards
    /// the daily goal. In a guided session, the hold reps that passed.
    pub valid_squeezes: u32,
    /// Guided sessions: squeezes attempted (reps of the squeeze phases with a contraction).
    pub reps_done: Option<u32>,
    /// Contractions shorter than an identification hold (quick flicks); in a guided session,
    /// the flick reps that passed.
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
    /// Mean peak as % of `mvc`; `None` without a calibration.
    pub peak_pct_mvc: Option<f64>,
    /// Contractions flagged for abdominal co-activation (amber or red, see
    /// [`crate::score::ScoringConfig`]; not validated).
    pub coactivated: Option<u32>,
    /// `coactivated / contractions`, 0–1.
    pub coactivation_rate: Option<f64>,
    /// Pelvic-floor rest level, in `rest_unit`.
    pub rest_level: Option<f64>,
    pub rest_unit: Option<String>,
    pub strains: u32,
    pub coughs: u32,
    /// Glazer assessment: its table.
    pub glazer: Option<Vec<GlazerRow>>,
    /// PERFECT assessment.
    pub perfect: Option<Perfect>,
    /// Where the scores came from (a recording's path, `simulator strength seed 17`, ...).
    pub source: String,
    /// `knip <version>`.
    pub software: String,
}

/// The identity of a recording for the progress database: `sha256:<hex>` of the file's bytes,
/// with `@<declared start>` appended when the recording declares its start time (its sidecar's
/// `started_at`). A copy of the file, under any name, has the same key.
pub fn recording_key(path: &Path, declared_start: Option<&str>) -> Result<String, InputError> {
    let open = |source| InputError::Open {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(open)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(open)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(match declared_start {
        Some(s) => format!("sha256:{hex}@{s}"),
        None => format!("sha256:{hex}"),
    })
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| s / n as f64)
}

impl SessionRecord {
    pub fn new(patient_id: &str, started_at: DateTime<FixedOffset>) -> Self {
        SessionRecord {
            patient_id: patient_id.to_string(),
            started_at,
            kind: KIND_ANALYSIS.to_string(),
            recording_key: None,
            protocol: None,
            device: None,
            probe: None,
            posture: None,
            duration_s: 0.0,
            contractions: 0,
            valid_squeezes: 0,
            reps_done: None,
            quick_flicks: 0,
            mean_hold_s: None,
            longest_hold_s: None,
            mean_peak: None,
            peak_unit: None,
            mvc: None,
            mean_pct_mvc: None,
            peak_pct_mvc: None,
            coactivated: None,
            coactivation_rate: None,
            rest_level: None,
            rest_unit: None,
            strains: 0,
            coughs: 0,
            glazer: None,
            perfect: None,
            source: String::new(),
            software: format!("knip {}", env!("CARGO_PKG_VERSION")),
        }
    }

    /// Fills the scores from an analysis's typed scores, using its pelvic-floor channel (EMG,
    /// else pressure). A calibration for that channel gives %MVC.
    pub fn fill_from_scores(&mut self, s: &AnalysisScores, cal: Option<&Calibration>) {
        self.duration_s = s.duration_s;
        self.coughs = s.coughs();
        self.strains = s.strains();
        let Some(c) = s.primary() else {
            return;
        };
        self.contractions = c.count();
        self.valid_squeezes = s.valid_holds();
        self.quick_flicks = s.quick_flicks();
        self.mean_hold_s = c.mean_hold_s();
        self.longest_hold_s = c.longest_hold_s();
        self.mean_peak = c.mean_peak();
        self.peak_unit = Some(c.unit.clone());
        self.rest_level = c.rest_level;
        self.rest_unit = c.rest_level.map(|_| c.unit.clone());
        self.coactivated = c.coactivated();
        self.coactivation_rate = self
            .coactivated
            .filter(|_| self.contractions > 0)
            .map(|n| n as f64 / self.contractions as f64);
        let cc = cal.and_then(|k| k.channel(c.role));
        self.mvc = cc.map(|k| k.mvc);
        self.mean_pct_mvc = cal.and_then(|k| s.mean_pct_mvc(k));
        self.peak_pct_mvc = cal.and_then(|k| s.peak_pct_mvc(k));
    }

    /// The record of an analysed recording: its typed scores (in memory, from the analysis),
    /// metadata from the recording's sidecar (start time, protocol, device, probe, posture),
    /// else the file's modification time; keyed by [`recording_key`]. No calibration in a
    /// plain analysis: %MVC stays empty.
    pub fn from_analysis(
        patient_id: &str,
        recording: &Path,
        scores: &AnalysisScores,
        sidecar: Option<&Sidecar>,
    ) -> Result<SessionRecord, InputError> {
        let declared = sidecar
            .and_then(|s| s.started_at.as_deref())
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok());
        let started_at = declared
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
        let declared_text = declared.map(|d| d.with_timezone(&Utc).to_rfc3339());
        let mut rec = SessionRecord::new(patient_id, started_at);
        rec.recording_key = Some(recording_key(recording, declared_text.as_deref())?);
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
        rec.fill_from_scores(scores, None);
        Ok(rec)
    }

    /// The record of a guided session: what its reps measured (valid holds, reps done, holds,
    /// %MVC), its assessments (Glazer table, PERFECT) and its calibration. `recording_key` is
    /// [`recording_key`] of the session's recording (or any stable id of it).
    pub fn from_session(
        patient_id: &str,
        r: &SessionResult,
        recording_key: &str,
        started_at: DateTime<FixedOffset>,
        device: &str,
    ) -> SessionRecord {
        let mut rec = SessionRecord::new(patient_id, started_at);
        rec.kind = KIND_GUIDED.to_string();
        rec.recording_key = Some(recording_key.to_string());
        rec.protocol = Some(r.protocol.name.clone());
        rec.device = Some(device.to_string());
        rec.source = format!("session {}", r.protocol.name);
        rec.duration_s = r.end_time_s - r.spec.as_ref().map_or(0.0, |s| s.start_time_s);
        let kind_of = |phase: usize| r.phases.get(phase).map(|p| p.kind);
        let squeezes: Vec<_> = r
            .reps
            .iter()
            .filter(|x| {
                !matches!(
                    kind_of(x.phase),
                    Some(PhaseKind::Rest | PhaseKind::Mvc) | None
                )
            })
            .collect();
        let holds: Vec<_> = r
            .reps
            .iter()
            .filter(|x| kind_of(x.phase) == Some(PhaseKind::Hold))
            .collect();
        rec.valid_squeezes = holds.iter().filter(|x| x.passed()).count() as u32;
        rec.reps_done = Some(squeezes.iter().filter(|x| x.onset_s.is_some()).count() as u32);
        rec.quick_flicks = r
            .reps
            .iter()
            .filter(|x| kind_of(x.phase) == Some(PhaseKind::Flick) && x.passed())
            .count() as u32;
        rec.contractions = r
            .events
            .iter()
            .filter(|e| {
                e.kind == crate::event::EventKind::Contraction
                    && Some(e.channel) == r.scoring_channel
            })
            .count() as u32;
        rec.mean_hold_s = mean(holds.iter().filter_map(|x| x.hold_s));
        rec.longest_hold_s = squeezes.iter().filter_map(|x| x.hold_s).reduce(f64::max);
        rec.mean_peak = mean(squeezes.iter().filter_map(|x| x.peak));
        let spec_ch = r
            .scoring_channel
            .and_then(|c| r.spec.as_ref().and_then(|s| s.channels.get(c)));
        rec.peak_unit = spec_ch.map(|c| c.unit.clone());
        let cal = spec_ch.and_then(|c| r.calibration.as_ref().and_then(|k| k.channel(c.role)));
        rec.mvc = cal.map(|c| c.mvc);
        rec.rest_level = cal.map(|c| c.rest_mean);
        rec.rest_unit = cal.map(|c| c.unit.clone());
        rec.mean_pct_mvc = mean(squeezes.iter().filter_map(|x| x.mean_pct_mvc));
        rec.peak_pct_mvc = mean(squeezes.iter().filter_map(|x| x.peak_pct_mvc));
        let flagged: Vec<_> = squeezes.iter().filter(|x| x.coact_flag.is_some()).collect();
        if !flagged.is_empty() {
            let n = flagged.iter().filter(|x| x.flagged()).count() as u32;
            rec.coactivated = Some(n);
            rec.coactivation_rate = Some(f64::from(n) / flagged.len() as f64);
        }
        rec.strains = r.reps.iter().filter(|x| x.strain).count() as u32;
        rec.coughs = r
            .events
            .iter()
            .filter(|e| e.kind == crate::event::EventKind::Cough && e.role.is_pelvic_floor())
            .map(|e| (e.onset_s * 2.0).round() as i64)
            .collect::<std::collections::BTreeSet<_>>()
            .len() as u32;
        rec.glazer = glazer::assessed(r);
        rec.perfect = perfect::assessed(r);
        rec
    }
}
