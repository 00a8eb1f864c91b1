//! The commands behind the CLI, as library functions: `analyze`, `simulate`, `demo`, `evaluate`.
//! `main.rs` only parses arguments and maps errors to exit codes.

use crate::config::AnalysisConfig;
use crate::error::OutputError;
use crate::evaluate::{score_channel, Score, SessionScore};
use crate::event::ContractionEvent;
use crate::frame::Role;
use crate::pipeline::{self, Pace, PipelineError, Processed, RunEnd, RunStart, Sink};
use crate::sidecar::Sidecar;
use crate::simulate::{SimConfig, SimError, SimulatedPatient};
use crate::sink::live::{LiveCue, LiveStatus};
use crate::sink::record::RecordingWriter;
use crate::sink::report::{ReportSink, ReportSource};
use crate::source::csv_file::CsvOptions;
use crate::source::Source;
use crate::truth::{write_truth_csv, TruthEvent};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Errors of the top-level commands.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Input(#[from] crate::error::InputError),
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error(transparent)]
    Simulation(#[from] SimError),
}

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

/// Collects every decided event (for callers that want them in memory as well).
#[derive(Default)]
pub struct EventCollector {
    events: std::sync::Arc<std::sync::Mutex<Vec<ContractionEvent>>>,
}

impl EventCollector {
    pub fn handle(&self) -> std::sync::Arc<std::sync::Mutex<Vec<ContractionEvent>>> {
        self.events.clone()
    }
}

impl Sink for EventCollector {
    fn start(&mut self, _: &RunStart) -> Result<(), OutputError> {
        Ok(())
    }
    fn block(&mut self, p: &Processed) -> Result<(), OutputError> {
        if !p.events.is_empty() {
            if let Ok(mut v) = self.events.lock() {
                v.extend(p.events.iter().cloned());
            }
        }
        Ok(())
    }
    fn finish(&mut self, _: &RunEnd) -> Result<(), OutputError> {
        Ok(())
    }
}

fn take_events(
    h: &std::sync::Arc<std::sync::Mutex<Vec<ContractionEvent>>>,
) -> Vec<ContractionEvent> {
    let mut v = h
        .lock()
        .map(|mut v| std::mem::take(&mut *v))
        .unwrap_or_default();
    v.sort_by(|a, b| a.onset_s.total_cmp(&b.onset_s));
    v
}

/// `knip analyze FILE --out DIR`: read a recording (knip's own or anybody's CSV) and write the
/// report folder.
pub fn analyze(
    input: &Path,
    opts: &CsvOptions,
    cfg: &AnalysisConfig,
    out_dir: &Path,
    markers: Vec<(f64, String)>,
) -> Result<AnalyzeOutcome, AppError> {
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
) -> Result<AnalyzeOutcome, AppError> {
    // CSV (knip's or anybody's) or EDF/BDF, by extension.
    let opened = crate::export::open_recording(input, opts)?;
    let source = opened.source;
    let mut warnings: Vec<String> = opened.warnings.clone();
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
            details: serde_json::json!({ "reader_warnings": opened.warnings, "sidecar": opened.sidecar }),
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
        Pace::Unpaced,
    )?;
    warnings.extend(end.warnings.iter().cloned());
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
            AppError::Input(crate::error::InputError::Format {
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

/// `knip simulate`: write a simulated session (recording, sidecar and truth) without analysing it.
pub fn simulate(
    sim: &SimConfig,
    out_csv: &Path,
    cfg: &AnalysisConfig,
) -> Result<SimulateOutcome, AppError> {
    let mut patient = SimulatedPatient::new(sim)?;
    let truth = patient.truth().to_vec();
    let mut sidecar = Sidecar::new("simulator", patient.spec(), cfg);
    sidecar.protocol = Some(sim.protocol.clone());
    sidecar.seed = Some(sim.seed);
    sidecar.started_at = Some(crate::export::now_rfc3339());
    sidecar.notes = Some(format!(
        "simulated patient; parameters: {}",
        serde_json::to_string(patient.params()).unwrap_or_default()
    ));
    if let Some(dir) = out_csv.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| OutputError::write(dir, e))?;
    }
    let mut writer = RecordingWriter::create(out_csv, &sidecar)?;
    let mut samples = 0u64;
    while let Some(block) = patient.next_block()? {
        samples += block.total_samples() as u64;
        writer.write_block(&block)?;
    }
    writer.finish()?;
    for p in [out_csv.to_path_buf(), out_csv.with_extension("json")] {
        crate::private_file::restrict(&p).map_err(|e| OutputError::write(&p, e))?;
    }
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

#[derive(Debug)]
pub struct SimulateOutcome {
    pub recording: PathBuf,
    pub sidecar: PathBuf,
    pub truth: PathBuf,
    pub samples: u64,
    pub duration_s: f64,
    pub truth_events: Vec<TruthEvent>,
}

/// `session.csv` → `session.truth.csv`.
pub fn truth_path_for(csv: &Path) -> PathBuf {
    let stem = csv
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "recording".into());
    csv.with_file_name(format!("{stem}.truth.csv"))
}

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

/// `knip demo`: a simulated patient through the live pipeline, with live status and a report.
pub fn demo(
    opts: &DemoOptions,
    cfg: &AnalysisConfig,
    out: Box<dyn Write + Send>,
) -> Result<DemoOutcome, AppError> {
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
    std::fs::create_dir_all(&opts.out_dir).map_err(|e| OutputError::write(&opts.out_dir, e))?;
    let recording_path = opts.out_dir.join("recording.csv");
    let mut sidecar = Sidecar::new("simulator", patient.spec(), cfg);
    sidecar.protocol = Some(opts.sim.protocol.clone());
    sidecar.seed = Some(opts.sim.seed);
    sidecar.started_at = Some(crate::export::now_rfc3339());
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
        return Err(AppError::Output(e));
    }
    for p in [
        recording_path.clone(),
        recording_path.with_extension("json"),
    ] {
        crate::private_file::restrict(&p).map_err(|e| OutputError::write(&p, e))?;
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

/// The protocols evaluation cycles through.
pub const EVALUATION_PROTOCOLS: [&str; 3] = ["identify", "strength", "mixed"];

/// Run `sessions` simulated sessions (seeds `first_seed..`) through the pipeline and score the
/// detector against their truth. Sessions run on `threads` worker threads.
pub fn evaluate(
    sessions: usize,
    first_seed: u64,
    cfg: &AnalysisConfig,
    threads: usize,
) -> Result<Vec<SessionScore>, AppError> {
    let jobs: Vec<(String, u64)> = (0..sessions)
        .map(|i| {
            (
                EVALUATION_PROTOCOLS[i % EVALUATION_PROTOCOLS.len()].to_string(),
                first_seed + i as u64,
            )
        })
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some((protocol, seed)) = jobs.get(i) else {
                    break;
                };
                let r = evaluate_one(protocol, *seed, cfg);
                if let Ok(mut v) = results.lock() {
                    v.push((i, r));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

fn evaluate_one(protocol: &str, seed: u64, cfg: &AnalysisConfig) -> Result<SessionScore, AppError> {
    let sim = SimConfig {
        protocol: protocol.to_string(),
        seed,
        ..SimConfig::default()
    };
    let patient = SimulatedPatient::new(&sim)?;
    let truth = patient.truth().to_vec();
    let duration_s = patient.duration_s();
    let snr_note = serde_json::to_string(patient.params()).unwrap_or_default();
    let collector = EventCollector::default();
    let events = collector.handle();
    pipeline::run(
        Box::new(patient),
        cfg,
        vec![Box::new(collector)],
        Pace::Unpaced,
    )?;
    let events = take_events(&events);
    Ok(SessionScore {
        protocol: protocol.to_string(),
        seed,
        duration_s,
        snr_note,
        pfm: score_channel(&truth, &events, Role::PfmEmg),
        pressure: score_channel(&truth, &events, Role::Pressure),
    })
}
