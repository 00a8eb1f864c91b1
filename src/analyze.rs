//! Analysing a recording: read it (knip's own CSV, anybody's CSV, EDF/BDF), run the pipeline and
//! write the report folder.

use crate::config::AnalysisConfig;
use crate::error::RunError;
use crate::event::ContractionEvent;
use crate::pipeline::{self, Pace, RunEnd};
use crate::sink::collect::{take_events, EventCollector};
use crate::sink::report::{ReportSink, ReportSource};
use crate::source::csv_file::CsvOptions;
use std::path::{Path, PathBuf};

/// The outcome of an analysis: where the report went and what was found.
#[derive(Debug)]
pub struct AnalyzeOutcome {
    pub out_dir: PathBuf,
    pub files: Vec<PathBuf>,
    pub events: Vec<ContractionEvent>,
    pub end: RunEnd,
    pub warnings: Vec<String>,
    /// The typed scores the report was written from (holds, valid holds, co-activation, ...).
    pub scores: crate::score::AnalysisScores,
}

/// Reads a recording (knip's own or anybody's CSV, or EDF/BDF) and writes the report folder.
pub fn analyze(
    input: &Path,
    opts: &CsvOptions,
    cfg: &AnalysisConfig,
    out_dir: &Path,
    markers: Vec<(f64, String)>,
) -> Result<AnalyzeOutcome, RunError> {
    analyze_scored(
        input,
        opts,
        cfg,
        &crate::score::ScoringConfig::default(),
        out_dir,
        markers,
    )
}

/// [`analyze`] with scoring thresholds (`--scoring`).
pub fn analyze_scored(
    input: &Path,
    opts: &CsvOptions,
    cfg: &AnalysisConfig,
    scoring: &crate::score::ScoringConfig,
    out_dir: &Path,
    markers: Vec<(f64, String)>,
) -> Result<AnalyzeOutcome, RunError> {
    // CSV (knip's or anybody's) or EDF/BDF, by extension.
    let opened = crate::export::open_recording(input, opts)?;
    let source = opened.source;
    let derivations = source.derivations();
    let mut markers = markers;
    markers.extend(opened.markers);
    let name = input
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| input.display().to_string());
    let report = ReportSink::new(
        out_dir,
        ReportSource {
            input: input.display().to_string(),
            title: name,
            details: serde_json::json!({
                "sidecar": opened.sidecar,
                "format": opened.format,
                "derivations": derivations,
            }),
        },
        cfg,
    )
    .with_markers(markers)
    .with_scoring(scoring);
    let scores = report.scores_handle();
    let collector = EventCollector::default();
    let events = collector.handle();
    let end = pipeline::run(
        source,
        cfg,
        vec![Box::new(report), Box::new(collector)],
        Pace::Offline,
    )?;
    // The reader's warnings (also those found late in the file) are among the run's.
    let warnings = end.warnings.clone();
    let files = [
        "contractions.csv",
        "events.csv",
        "summary.csv",
        "session.json",
        "report.png",
    ]
    .iter()
    .map(|f| out_dir.join(f))
    .collect();
    let scores = scores
        .lock()
        .ok()
        .and_then(|mut s| s.take())
        .ok_or_else(|| {
            RunError::Input(crate::error::InputError::Format {
                path: input.to_path_buf(),
                message: "no data: the recording holds no channel to score".into(),
            })
        })?;
    Ok(AnalyzeOutcome {
        out_dir: out_dir.to_path_buf(),
        files,
        events: take_events(&events),
        end,
        warnings,
        scores,
    })
}
