//! Analysing a recording in memory (arrays from a library caller, or any [`Source`]) without
//! writing a report folder: the same pipeline and scoring as `knip analyze`, and the rows of
//! `contractions.csv`, `events.csv`, `summary.csv` and the `batch.csv` fields built by the same
//! code that writes those files, so they are the same by construction.

use crate::config::AnalysisConfig;
use crate::error::{OutputError, RunError};
use crate::event::ContractionEvent;
use crate::frame::StreamSpec;
use crate::pipeline::{self, Pace, Processed, RunEnd, RunStart, Sink};
use crate::score::sink::ScoringSink;
use crate::score::{AnalysisScores, ScoringConfig};
use crate::sink::report::{contraction_rows, event_rows, report_summary, Summary};
use crate::source::memory::MemorySource;
use crate::source::Source;
use std::sync::{Arc, Mutex};

/// What an in-memory analysis found.
#[derive(Debug, Clone)]
pub struct ArrayAnalysis {
    pub spec: StreamSpec,
    /// Every event in onset order, as in `events.csv`.
    pub events: Vec<ContractionEvent>,
    pub scores: AnalysisScores,
    /// `contractions.csv` rows ([`crate::sink::report::CONTRACTION_COLUMNS`]).
    pub contraction_rows: Vec<[String; 15]>,
    /// `events.csv` rows ([`crate::sink::report::EVENT_COLUMNS`]).
    pub event_rows: Vec<[String; 12]>,
    /// `summary.csv` rows and the headline.
    pub summary: Summary,
    /// The `batch.csv` fields from `status` to `artifacts` ([`crate::batch::score_fields`]).
    pub batch_fields: Vec<String>,
    pub warnings: Vec<String>,
    pub end: RunEnd,
}

/// What the scoring sink left when the run finished.
type Finished = Arc<Mutex<Option<(Vec<ContractionEvent>, Summary)>>>;

/// The scoring sink of a report, keeping the events and the summary in memory.
struct MemoryReport {
    scoring: ScoringSink,
    spec: Option<StreamSpec>,
    out: Finished,
}

impl Sink for MemoryReport {
    fn start(&mut self, start: &RunStart) -> Result<(), OutputError> {
        self.spec = Some(start.spec.clone());
        self.scoring.start(start)
    }
    fn block(&mut self, p: &Processed) -> Result<(), OutputError> {
        self.scoring.block(p)
    }
    fn finish(&mut self, end: &RunEnd) -> Result<(), OutputError> {
        self.scoring.finish(end)?;
        let (Some(spec), Some(scores)) = (&self.spec, self.scoring.scores()) else {
            return Ok(());
        };
        let events: Vec<ContractionEvent> =
            self.scoring.events().iter().map(|e| e.0.clone()).collect();
        let summary = report_summary(spec, &self.scoring, &scores, &events, end);
        if let Ok(mut o) = self.out.lock() {
            *o = Some((events, summary));
        }
        Ok(())
    }
}

/// Runs `source` through the pipeline and scores it, in memory.
pub fn analyze_source(
    source: Box<dyn Source>,
    cfg: &AnalysisConfig,
    scoring: &ScoringConfig,
) -> Result<ArrayAnalysis, RunError> {
    let spec = source.spec().clone();
    let sink = MemoryReport {
        scoring: ScoringSink::new(scoring),
        spec: None,
        out: Arc::default(),
    };
    let scores = sink.scoring.handle();
    let out = sink.out.clone();
    let end = pipeline::run(source, cfg, vec![Box::new(sink)], Pace::Offline)?;
    let no_data = || {
        RunError::Input(crate::error::InputError::Format {
            path: "<arrays>".into(),
            message: "no data: the recording holds no channel to score".into(),
        })
    };
    let scores = scores
        .lock()
        .ok()
        .and_then(|mut s| s.take())
        .ok_or_else(no_data)?;
    let (events, summary) = out
        .lock()
        .ok()
        .and_then(|mut s| s.take())
        .ok_or_else(no_data)?;
    Ok(ArrayAnalysis {
        contraction_rows: contraction_rows(&spec, &scores),
        event_rows: event_rows(&spec, &events),
        batch_fields: crate::batch::score_fields(&scores),
        warnings: end.warnings.clone(),
        spec,
        events,
        scores,
        summary,
        end,
    })
}

/// Analyses `signals` (channel `c` of `spec` in `signals[c]`; NaN and implausible values are
/// lost samples, see [`MemorySource`]).
pub fn analyze_arrays(
    spec: StreamSpec,
    signals: Vec<Vec<f64>>,
    cfg: &AnalysisConfig,
    scoring: &ScoringConfig,
) -> Result<ArrayAnalysis, RunError> {
    let source = MemorySource::new(spec, signals)?;
    analyze_source(Box::new(source), cfg, scoring)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::csv_file::CsvOptions;

    /// The in-memory rows are the report's rows, and arrays read from the file give the same.
    #[test]
    fn same_rows_as_the_report_folder() {
        let dir = tempfile::tempdir().unwrap();
        let rec = dir.path().join("sim.csv");
        let sim = crate::simulate::SimConfig {
            protocol: "identify".into(),
            seed: 5,
            ..Default::default()
        };
        crate::simulate::write::write_session(&sim, &rec, &AnalysisConfig::default()).unwrap();
        let out = dir.path().join("report");
        let cfg = AnalysisConfig::default();
        crate::analyze::analyze(&rec, &CsvOptions::default(), &cfg, &out, Vec::new()).unwrap();
        let read_rows = |name: &str| -> Vec<Vec<String>> {
            let mut r = csv::Reader::from_path(out.join(name)).unwrap();
            r.records()
                .map(|x| x.unwrap().iter().map(String::from).collect())
                .collect()
        };
        let arrays = crate::arrays::read_recording(&rec, &CsvOptions::default()).unwrap();
        let a =
            analyze_arrays(arrays.spec, arrays.signals, &cfg, &ScoringConfig::default()).unwrap();
        let contractions: Vec<Vec<String>> =
            a.contraction_rows.iter().map(|r| r.to_vec()).collect();
        let events: Vec<Vec<String>> = a.event_rows.iter().map(|r| r.to_vec()).collect();
        assert!(contractions.len() >= 3, "{contractions:?}");
        assert_eq!(contractions, read_rows("contractions.csv"));
        assert_eq!(events, read_rows("events.csv"));
        let summary: Vec<Vec<String>> = a
            .summary
            .rows
            .iter()
            .map(|r| {
                vec![
                    r.channel.clone(),
                    r.metric.clone(),
                    r.value.clone(),
                    r.unit.clone(),
                ]
            })
            .collect();
        assert_eq!(summary, read_rows("summary.csv"));
    }
}
