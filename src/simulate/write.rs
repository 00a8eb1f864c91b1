//! Writing a simulated session to disk: the recording, its sidecar and the ground truth.

use super::{SimConfig, SimulatedPatient};
use crate::config::AnalysisConfig;
use crate::error::{OutputError, RunError};
use crate::sidecar::Sidecar;
use crate::sink::record::RecordingWriter;
use crate::source::Source;
use crate::truth::{truth_path_for, write_truth_csv, TruthEvent};
use std::path::{Path, PathBuf};

/// What [`write_session`] wrote.
#[derive(Debug)]
pub struct SimulateOutcome {
    pub recording: PathBuf,
    pub sidecar: PathBuf,
    pub truth: PathBuf,
    pub samples: u64,
    pub duration_s: f64,
    pub truth_events: Vec<TruthEvent>,
}

/// Writes a simulated session (recording `out_csv`, its sidecar and `.truth.csv`) without
/// analysing it.
pub fn write_session(
    sim: &SimConfig,
    out_csv: &Path,
    cfg: &AnalysisConfig,
) -> Result<SimulateOutcome, RunError> {
    let mut patient = SimulatedPatient::new(sim)?;
    let truth = patient.truth().to_vec();
    let mut sidecar = Sidecar::new("simulator", patient.spec(), cfg);
    sidecar.protocol = Some(sim.protocol.clone());
    sidecar.seed = Some(sim.seed);
    sidecar.started_at = Some(crate::sidecar::now_rfc3339());
    sidecar.notes = Some(format!(
        "simulated patient; parameters: {}",
        serde_json::to_string(patient.params()).unwrap_or_default()
    ));
    if let Some(dir) = out_csv.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::private_file::create_dir(dir).map_err(|e| OutputError::write(dir, e))?;
    }
    let mut writer = RecordingWriter::create(out_csv, &sidecar)?;
    let mut samples = 0u64;
    while let Some(block) = patient.next_block()? {
        samples += block.total_samples() as u64;
        writer.write_block(&block)?;
    }
    writer.finish()?;
    let truth_path = truth_path_for(out_csv);
    write_truth_csv(&truth_path, &truth).map_err(|e| OutputError::write(&truth_path, e))?;
    Ok(SimulateOutcome {
        recording: out_csv.to_path_buf(),
        sidecar: out_csv.with_extension("json"),
        truth: truth_path,
        samples,
        duration_s: patient.duration_s(),
        truth_events: truth,
    })
}
