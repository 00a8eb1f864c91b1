//! Whole recordings as arrays, for library callers (the Python package): a file in any format
//! the command line reads, or a simulated session with its ground truth. Lost samples are NaN
//! at their place, so an array can be handed back to [`crate::analyze_arrays`] (which counts
//! NaN as lost, as the readers do) and gives the analysis of the file.

use crate::error::{InputError, RunError};
use crate::frame::StreamSpec;
use crate::simulate::{Cue, SimConfig, SimulatedPatient};
use crate::source::csv_file::CsvOptions;
use crate::source::Source;
use crate::truth::TruthEvent;
use std::path::Path;

/// Longest recording taken into memory, samples over all channels (2 GB of f64): beyond it a
/// file is analysed from disk (`knip analyze`), not read into arrays.
pub const MAX_SAMPLES_IN_MEMORY: u64 = 256 * 1024 * 1024;

/// A recording in memory: channel `c` of `spec` in `signals[c]`, NaN where a sample was lost.
#[derive(Debug, Clone)]
pub struct Recording {
    pub spec: StreamSpec,
    pub signals: Vec<Vec<f64>>,
    /// Markers the file carries (EDF annotations), `(time_s, label)`.
    pub markers: Vec<(f64, String)>,
    /// What the reader found that the user must be told.
    pub warnings: Vec<String>,
}

/// Every block of `source`, gaps as NaN. `what` names the source in the size-limit message.
pub fn drain(source: &mut dyn Source, what: &Path) -> Result<Vec<Vec<f64>>, InputError> {
    let mut signals = vec![Vec::new(); source.spec().channels.len()];
    let mut total = 0u64;
    while let Some(block) = source.next_block()? {
        for (s, chunk) in signals.iter_mut().zip(block.chunks) {
            let start = chunk.start_index;
            if start > s.len() as u64 {
                let gap = start - s.len() as u64;
                total += gap;
                if total > MAX_SAMPLES_IN_MEMORY {
                    break;
                }
                s.resize(start as usize, f64::NAN);
            }
            total += chunk.samples.len() as u64;
            s.extend(chunk.samples);
        }
        if total > MAX_SAMPLES_IN_MEMORY {
            return Err(InputError::Format {
                path: what.to_path_buf(),
                message: format!(
                    "more than {MAX_SAMPLES_IN_MEMORY} samples: too long to read into memory; \
                     analyse it from the file (knip analyze) or cut it"
                ),
            });
        }
    }
    Ok(signals)
}

/// Reads a recording (knip's own CSV, anybody's CSV, EDF/BDF) into arrays, with the same
/// options and the same messages as `knip analyze`.
pub fn read_recording(path: &Path, opts: &CsvOptions) -> Result<Recording, InputError> {
    let mut opened = crate::export::open_recording(path, opts)?;
    let signals = drain(opened.source.as_mut(), path)?;
    let mut warnings = opened.warnings;
    for w in opened.source.reader_warnings() {
        if !warnings.contains(&w) {
            warnings.push(w);
        }
    }
    Ok(Recording {
        spec: opened.source.spec().clone(),
        signals,
        markers: opened.markers,
        warnings,
    })
}

/// A simulated session in memory: the signals, what the patient really did and the cues.
#[derive(Debug, Clone)]
pub struct SimulatedRecording {
    pub recording: Recording,
    pub truth: Vec<TruthEvent>,
    pub cues: Vec<Cue>,
}

/// Simulates the session `sim` (the same samples `knip simulate` writes, before printing).
pub fn simulate_recording(sim: &SimConfig) -> Result<SimulatedRecording, RunError> {
    let mut patient = SimulatedPatient::new(sim)?;
    let signals = drain(&mut patient, Path::new("<simulator>"))?;
    Ok(SimulatedRecording {
        recording: Recording {
            spec: patient.spec().clone(),
            signals,
            markers: Vec::new(),
            warnings: Vec::new(),
        },
        truth: patient.truth().to_vec(),
        cues: patient.cues().to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_recording_with_its_gaps_as_nan() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.csv");
        std::fs::write(
            &p,
            "time_s,pfm_emg\n0.000,1\n0.001,2\n0.002,1e300\n0.003,4\n",
        )
        .unwrap();
        let r = read_recording(&p, &CsvOptions::default()).unwrap();
        assert_eq!(r.spec.channels.len(), 1);
        assert_eq!(r.spec.channels[0].rate_hz, 1000.0);
        let s = &r.signals[0];
        assert_eq!(s.len(), 4, "{s:?}");
        assert_eq!((s[0], s[1], s[3]), (1.0, 2.0, 4.0));
        assert!(
            s[2].is_nan(),
            "the implausible value is a lost sample: {s:?}"
        );
        assert!(!r.warnings.is_empty());
    }

    #[test]
    fn simulated_arrays_match_the_truth_and_length() {
        let sim = SimConfig {
            protocol: "identify".into(),
            seed: 2,
            ..Default::default()
        };
        let s = simulate_recording(&sim).unwrap();
        let p = SimulatedPatient::new(&sim).unwrap();
        assert_eq!(s.truth, p.truth());
        for (sig, ch) in s.recording.signals.iter().zip(&s.recording.spec.channels) {
            let want = (p.duration_s() * ch.rate_hz).round() as usize;
            assert!(sig.len().abs_diff(want) <= 1, "{} {want}", sig.len());
            assert!(sig.iter().all(|v| v.is_finite()));
        }
        let e = simulate_recording(&SimConfig {
            protocol: "nope".into(),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("unknown simulation protocol 'nope'"), "{e}");
    }
}
