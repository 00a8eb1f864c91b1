//! `knip export FILE --out FILE.edf`: a recording as EDF+/BDF+ with annotations.

use crate::cli::{ExportArgs, UsageError};
use knip::export::{export, parse_start, read_markers, ExportOptions};
use knip::sink::edf::EdfFormat;

pub fn run(a: ExportArgs) -> anyhow::Result<()> {
    let ExportArgs {
        file,
        format,
        out,
        force,
        start,
        markers,
        patient,
        columns,
        settings,
    } = a;
    let cfg = settings.config()?;
    let format = match format {
        Some(f) => EdfFormat::parse(&f)
            .ok_or_else(|| UsageError(format!("--format {f}: use edf or bdf")))?,
        None => EdfFormat::from_path(&out).ok_or_else(|| {
            UsageError(format!(
                "{}: give --format edf|bdf or an .edf/.bdf file name",
                out.display()
            ))
        })?,
    };
    let start = match start {
        Some(s) => Some(parse_start(&s).ok_or_else(|| {
            UsageError(format!(
                "--start {s}: use RFC 3339, e.g. 2026-11-27T09:30:00Z"
            ))
        })?),
        None => None,
    };
    knip::out_folder::prepare_file(&out, force)?;
    let markers = match markers {
        Some(p) => read_markers(&p)?,
        None => Vec::new(),
    };
    let o = export(
        &file,
        &columns.options(),
        &cfg,
        &out,
        &ExportOptions {
            format,
            start,
            markers,
            patient_code: patient,
        },
    )?;
    for w in &o.warnings {
        eprintln!("warning: {w}");
    }
    println!(
        "wrote {} ({}, {} records of {} s, {} annotations, {} lost samples filled)",
        o.edf.path.display(),
        o.edf.format.name(),
        o.edf.records,
        o.edf.record_duration_s,
        o.edf.annotations,
        o.edf.lost_samples
    );
    Ok(())
}
