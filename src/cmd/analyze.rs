//! `knip analyze FILE --out DIR`: the report folder of a recording, and its scores in the
//! patient's progress database.

use crate::cli::AnalyzeArgs;
use knip::source::csv_file::read_anomanor_markers;

pub fn run(a: AnalyzeArgs) -> anyhow::Result<()> {
    let AnalyzeArgs {
        file,
        out,
        force,
        columns,
        markers,
        patient,
        db,
        scoring,
        settings,
    } = a;
    let cfg = settings.config()?;
    let opts = columns.options();
    let markers = match markers {
        Some(p) => read_anomanor_markers(&p)?,
        None => Vec::new(),
    };
    let scoring = super::scoring_config(scoring.as_deref())?;
    let folder = knip::out_folder::prepare(&out, force)?;
    let o = folder.tidy_on_error(knip::analyze::analyze_scored(
        &file, &opts, &cfg, &scoring, &out, markers,
    ))?;
    for w in &o.warnings {
        eprintln!("warning: {w}");
    }
    let counted = o
        .events
        .iter()
        .filter(|e| e.kind == knip::event::EventKind::Contraction)
        .count();
    println!(
        "{}: {:.1} s analysed in {:.2} s; {counted} contractions; report in {}/",
        file.display(),
        o.end.end_time_s,
        o.end.elapsed.as_secs_f64(),
        o.out_dir.display()
    );
    let sidecar = knip::export::read_sidecar_beside(&file);
    if let Some(pid) = patient.or_else(|| sidecar.as_ref().and_then(|s| s.patient_id.clone())) {
        let path = super::db_path(db)?;
        let rec =
            knip::progress::SessionRecord::from_analysis(&pid, &file, &o.scores, sidecar.as_ref())?;
        let conn = knip::progress::open(&path)?;
        knip::progress::store(&conn, &rec)?;
        println!(
            "stored in {} for patient {pid}: {} valid squeezes, {} contractions",
            path.display(),
            rec.valid_squeezes,
            rec.contractions
        );
    }
    Ok(())
}
