//! `knip simulate --out FILE.csv`: a simulated session on disk (recording, sidecar, truth), and
//! optionally as EDF+/BDF+.

use crate::cli::{SimulateArgs, UsageError};
use knip::config::AnalysisConfig;
use knip::export::{export, ExportOptions};
use knip::frame::Role;
use knip::simulate::SimConfig;
use knip::sink::edf::EdfFormat;
use knip::source::csv_file::CsvOptions;

fn parse_roles(names: &[String]) -> Result<Vec<Role>, UsageError> {
    names
        .iter()
        .map(|n| {
            Role::from_column_name(n.trim()).ok_or_else(|| {
                UsageError(format!(
                    "--channels: unknown channel '{n}': use pfm_emg, abd_emg and/or pressure"
                ))
            })
        })
        .collect()
}

pub fn run(a: SimulateArgs) -> anyhow::Result<()> {
    let SimulateArgs {
        protocol,
        seed,
        out,
        force,
        channels,
        emg_rate,
        pressure_rate,
        probe,
        posture,
        patient,
        edf,
        conditions,
    } = a;
    let conditions = knip::simulate::parse_conditions(&conditions)
        .map_err(|e| UsageError(format!("--condition: {e}")))?;
    let sim = SimConfig {
        protocol,
        seed,
        emg_rate_hz: emg_rate,
        pressure_rate_hz: pressure_rate,
        roles: parse_roles(&channels)?,
        conditions,
        ..SimConfig::default()
    };
    let edf_format =
        match &edf {
            Some(edf) => Some(EdfFormat::from_path(edf).ok_or_else(|| {
                UsageError(format!("--edf {}: name it .edf or .bdf", edf.display()))
            })?),
            None => None,
        };
    // A bad setting is named before any file is looked at.
    drop(knip::simulate::SimulatedPatient::new(&sim)?);
    knip::out_folder::prepare_simulated_recording(&out, force)?;
    if let Some(e) = &edf {
        knip::out_folder::prepare_file(e, force)?;
    }
    let o = knip::simulate::write::write_session(&sim, &out, &AnalysisConfig::default())?;
    println!(
        "wrote {} ({} samples, {:.1} s), {} and {} ({} true events)",
        o.recording.display(),
        o.samples,
        o.duration_s,
        o.sidecar.display(),
        o.truth.display(),
        o.truth_events.len()
    );
    if probe.is_some() || posture.is_some() || patient.is_some() {
        knip::export::update_sidecar(&o.recording, |s| {
            s.probe = probe;
            s.posture = posture;
            s.patient_id = patient;
        })?;
    }
    if let (Some(edf), Some(format)) = (edf, edf_format) {
        let e = export(
            &o.recording,
            &CsvOptions::default(),
            &AnalysisConfig::default(),
            &edf,
            &ExportOptions {
                format,
                start: None,
                markers: Vec::new(),
                patient_code: None,
            },
        )?;
        println!(
            "wrote {} ({}, {} annotations)",
            e.edf.path.display(),
            e.edf.format.name(),
            e.edf.annotations
        );
    }
    Ok(())
}
