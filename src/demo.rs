//! `knip demo` on a protocol the guided sessions do not know: a simulated patient through the
//! live pipeline, with live status, a recording and a report, scored against the simulated truth.

use crate::config::AnalysisConfig;
use crate::error::{OutputError, RunError};
use crate::evaluate::{score_channel, Score};
use crate::event::ContractionEvent;
use crate::frame::Role;
use crate::pipeline::{self, Pace, RunEnd};
use crate::sidecar::Sidecar;
use crate::simulate::{SimConfig, SimulatedPatient};
use crate::sink::collect::{take_events, EventCollector};
use crate::sink::live::{LiveCue, LiveStatus};
use crate::sink::record::RecordingWriter;
use crate::sink::report::{ReportSink, ReportSource};
use crate::source::Source;
use crate::truth::write_truth_csv;
use std::io::Write;
use std::path::PathBuf;

/// A source wrapper that records every raw block before passing it on (the recorder must see
/// raw samples, which sinks do not).
struct Recording<S: Source> {
    inner: S,
    writer: Option<RecordingWriter>,
    /// A write failure (full disk, ...): recording stops, the session goes on, and the caller
    /// reports it with the path of what was kept.
    error: std::sync::Arc<std::sync::Mutex<Option<OutputError>>>,
}

impl<S: Source> Recording<S> {
    fn fail(&mut self, e: OutputError) {
        self.writer = None;
        if let Ok(mut slot) = self.error.lock() {
            slot.get_or_insert(e);
        }
    }
}

impl<S: Source> Source for Recording<S> {
    fn spec(&self) -> &crate::frame::StreamSpec {
        self.inner.spec()
    }
    fn next_block(&mut self) -> Result<Option<crate::frame::Block>, crate::error::InputError> {
        let b = self.inner.next_block()?;
        match (&b, self.writer.as_mut()) {
            (Some(block), Some(w)) => {
                if let Err(e) = w.write_block(block) {
                    self.fail(e);
                }
            }
            (None, Some(_)) => {
                if let Some(w) = self.writer.take() {
                    if let Err(e) = w.finish() {
                        self.fail(e);
                    }
                }
            }
            _ => {}
        }
        Ok(b)
    }
}

/// Options of `knip demo`.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub sim: SimConfig,
    /// 1.0 = real time; `None` = as fast as possible.
    pub speed: Option<f64>,
    pub out_dir: PathBuf,
    /// Draw the in-place level bar (a terminal).
    pub bar: bool,
}

/// A simulated patient through the live pipeline, with live status and a report.
pub fn demo(
    opts: &DemoOptions,
    cfg: &AnalysisConfig,
    out: Box<dyn Write + Send>,
) -> Result<DemoOutcome, RunError> {
    let patient = SimulatedPatient::new(&opts.sim)?;
    let truth = patient.truth().to_vec();
    let cues: Vec<LiveCue> = patient
        .cues()
        .iter()
        .map(|c| LiveCue {
            time_s: c.time_s,
            text: c.text.clone(),
        })
        .collect();
    crate::private_file::create_dir(&opts.out_dir)
        .map_err(|e| OutputError::write(&opts.out_dir, e))?;
    let recording_path = opts.out_dir.join("recording.csv");
    let mut sidecar = Sidecar::new("simulator", patient.spec(), cfg);
    sidecar.protocol = Some(opts.sim.protocol.clone());
    sidecar.seed = Some(opts.sim.seed);
    sidecar.started_at = Some(crate::sidecar::now_rfc3339());
    let writer = RecordingWriter::create(&recording_path, &sidecar)?;
    let truth_path = opts.out_dir.join("recording.truth.csv");
    write_truth_csv(&truth_path, &truth).map_err(|e| OutputError::write(&truth_path, e))?;
    let record_error = std::sync::Arc::new(std::sync::Mutex::new(None));
    let source = Recording {
        inner: patient,
        writer: Some(writer),
        error: record_error.clone(),
    };
    let report = ReportSink::new(
        &opts.out_dir,
        ReportSource {
            input: "simulator".into(),
            title: format!(
                "simulated patient, protocol {}, seed {}",
                opts.sim.protocol, opts.sim.seed
            ),
            details: serde_json::json!({
                "protocol": opts.sim.protocol,
                "seed": opts.sim.seed,
                "recording": recording_path,
                "truth": truth_path,
            }),
        },
        cfg,
    );
    let live = LiveStatus::new(out, opts.bar, cues);
    let collector = EventCollector::default();
    let events = collector.handle();
    let pace = match opts.speed {
        Some(s) => Pace::RealTime(s),
        None => Pace::Unpaced,
    };
    let end = pipeline::run(
        Box::new(source),
        cfg,
        vec![Box::new(live), Box::new(report), Box::new(collector)],
        pace,
    )?;
    if let Some(e) = record_error.lock().ok().and_then(|mut e| e.take()) {
        return Err(RunError::Output(e));
    }
    let events = take_events(&events);
    let mut score = Score::default();
    for role in [Role::PfmEmg, Role::Pressure] {
        score.add(&score_channel(&truth, &events, role));
    }
    Ok(DemoOutcome {
        out_dir: opts.out_dir.clone(),
        recording: recording_path,
        events,
        end,
        score,
    })
}

#[derive(Debug)]
pub struct DemoOutcome {
    pub out_dir: PathBuf,
    pub recording: PathBuf,
    pub events: Vec<ContractionEvent>,
    pub end: RunEnd,
    /// How the detector did against the simulated truth.
    pub score: Score,
}
