//! Running a guided session end to end: a (simulated) source through the live pipeline into the
//! session runner, its views and the report writer; and scoring a simulated session against
//! the patient's truth.

use super::calibrate::Calibration;
use super::protocol::{PhaseKind, Protocol};
use super::run::{Controls, SessionResult, SessionRunner, SessionSetup, SessionSink, SessionView};
use super::score::ScoringConfig;
use crate::config::AnalysisConfig;
use crate::error::{InputError, OutputError};
use crate::frame::{Block, StreamSpec};
use crate::pipeline::{self, Pace, PipelineError};
use crate::simulate::{RepTruth, SimConfig, SimError, SimulatedPatient};
use crate::source::Source;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Simulation(#[from] SimError),
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error("the session produced no result (the pipeline stopped before it finished)")]
    NoResult,
}

/// A source that honours pause and quit, and paces itself (pause-aware) when asked.
pub struct ControlledSource {
    inner: Box<dyn Source>,
    controls: Arc<Controls>,
    speed: Option<f64>,
    started: Option<Instant>,
    paused_total: Duration,
}

impl ControlledSource {
    pub fn new(inner: Box<dyn Source>, controls: Arc<Controls>, speed: Option<f64>) -> Self {
        ControlledSource {
            inner,
            controls,
            speed,
            started: None,
            paused_total: Duration::ZERO,
        }
    }
}

impl Source for ControlledSource {
    fn spec(&self) -> &StreamSpec {
        self.inner.spec()
    }

    fn next_block(&mut self) -> Result<Option<Block>, InputError> {
        let t0 = *self.started.get_or_insert_with(Instant::now);
        while self.controls.paused.load(Ordering::SeqCst) {
            if self.controls.quit.load(Ordering::SeqCst) {
                return Ok(None);
            }
            let a = Instant::now();
            std::thread::sleep(Duration::from_millis(20));
            self.paused_total += a.elapsed();
        }
        if self.controls.quit.load(Ordering::SeqCst) {
            return Ok(None);
        }
        let Some(block) = self.inner.next_block()? else {
            return Ok(None);
        };
        if let Some(speed) = self.speed {
            let spec = self.inner.spec();
            let end_s = block
                .chunks
                .iter()
                .zip(&spec.channels)
                .map(|(c, ch)| c.end_index() as f64 / ch.rate_hz)
                .fold(0.0, f64::max);
            let due =
                Duration::from_secs_f64((end_s / speed.max(1e-3)).max(0.0)) + self.paused_total;
            let now = t0.elapsed();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        Ok(Some(block))
    }
}

/// Records every raw block to a knip recording before passing it on. A write failure stops
/// the recording, not the session; it is reported at the end.
pub struct RecordingSource {
    inner: Box<dyn Source>,
    writer: Option<crate::sink::record::RecordingWriter>,
    error: Arc<std::sync::Mutex<Option<OutputError>>>,
}

impl RecordingSource {
    pub fn new(
        inner: Box<dyn Source>,
        writer: crate::sink::record::RecordingWriter,
        error: Arc<std::sync::Mutex<Option<OutputError>>>,
    ) -> Self {
        RecordingSource {
            inner,
            writer: Some(writer),
            error,
        }
    }

    fn fail(&mut self, e: OutputError) {
        self.writer = None;
        if let Ok(mut slot) = self.error.lock() {
            slot.get_or_insert(e);
        }
    }
}

impl Source for RecordingSource {
    fn spec(&self) -> &StreamSpec {
        self.inner.spec()
    }

    fn next_block(&mut self) -> Result<Option<Block>, InputError> {
        let b = self.inner.next_block()?;
        match &b {
            Some(block) => {
                if let Some(w) = self.writer.as_mut() {
                    if let Err(e) = w.write_block(block) {
                        self.fail(e);
                    }
                }
            }
            None => {
                if let Some(w) = self.writer.take() {
                    if let Err(e) = w.finish() {
                        self.fail(e);
                    }
                }
            }
        }
        Ok(b)
    }
}

impl Drop for RecordingSource {
    /// Ended early (`q`): close the recording with what was written.
    fn drop(&mut self) {
        if let Some(w) = self.writer.take() {
            let _ = w.finish();
        }
    }
}

/// A simulated guided session.
pub struct SimulatedSession {
    pub setup: SessionSetup,
    pub sim: SimConfig,
    /// 1.0 = real time; `None` = as fast as possible.
    pub speed: Option<f64>,
}

/// What a simulated session produced, with the patient's truth.
pub struct SimulatedOutcome {
    pub result: SessionResult,
    pub truth: Vec<RepTruth>,
    pub patient: SimulatedPatient,
}

/// Run a simulated patient through the session. `extra` sinks (reports, recorder) run after the
/// session sink; `views` show it live.
pub fn run_simulated(
    s: &SimulatedSession,
    cfg: &AnalysisConfig,
    views: Vec<Box<dyn SessionView>>,
    controls: Arc<Controls>,
    wrap: impl FnOnce(SimulatedPatient) -> Box<dyn Source>,
) -> Result<SimulatedOutcome, SessionError> {
    let phases = s.setup.phases();
    let patient = SimulatedPatient::guided(&s.sim, &phases)?;
    let keep = SimulatedPatient::guided(&s.sim, &phases)?;
    let truth = patient.rep_truth().to_vec();
    let mut setup = s.setup.clone();
    setup.pressure_delay_s = super::run::pressure_delay_s(patient.spec(), cfg);
    let runner = SessionRunner::new(setup);
    let sink = SessionSink::new(runner, views, controls.clone());
    let handle = sink.result_handle();
    let source = ControlledSource::new(wrap(patient), controls, s.speed);
    pipeline::run(Box::new(source), cfg, vec![Box::new(sink)], Pace::Unpaced)?;
    let result = handle
        .lock()
        .ok()
        .and_then(|mut r| r.take())
        .ok_or(SessionError::NoResult)?;
    Ok(SimulatedOutcome {
        result,
        truth,
        patient: keep,
    })
}

/// Default simulator settings for sessions: 20-ms blocks for a responsive view.
pub fn session_sim(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        block_s: 0.02,
        ..SimConfig::default()
    }
}

/// Simulated PERFECT: E seconds, R, F.
pub type PerfectTruth = (f64, u32, u32);
/// Measured PERFECT: E seconds, R, F.
pub type PerfectMeasured = (Option<f64>, Option<u32>, Option<u32>);

/// How the scoring of one simulated session agreed with the patient's truth.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Agreement {
    pub protocol: String,
    pub seed: u64,
    /// Judged reps (pass/fail) compared, and how many verdicts agreed.
    pub verdicts: u32,
    pub verdicts_agree: u32,
    pub disagreements: Vec<String>,
    /// Co-activated reps left green, with their index.
    pub coact_misses: Vec<String>,
    /// Co-activation: true positives, false negatives, true negatives, false positives.
    pub coact_tp: u32,
    pub coact_fn: u32,
    pub coact_tn: u32,
    pub coact_fp: u32,
    pub strains: u32,
    pub strains_flagged: u32,
    /// Strength: (simulated failing rep, rep where the set ended).
    pub set_end: Option<(u32, u32)>,
    /// Knack: |measured − true| lead, seconds, per good knack.
    pub knack_errors_s: Vec<f64>,
    /// PERFECT: simulated (E s, R, F) and measured.
    pub perfect: Option<(PerfectTruth, PerfectMeasured)>,
    /// Endurance reps: (simulated hold s, measured seconds above the band's lower edge).
    pub endurance: Vec<(f64, Option<f64>)>,
}

/// Compare a session's reps with the patient's truth, rep by rep.
pub fn agreement(protocol: &str, seed: u64, out: &SimulatedOutcome) -> Agreement {
    let mut a = Agreement {
        protocol: protocol.into(),
        seed,
        ..Default::default()
    };
    for t in &out.truth {
        let Some(r) = out
            .result
            .reps
            .iter()
            .find(|r| r.phase == t.phase && r.rep == t.rep)
        else {
            continue;
        };
        let kind = out.result.phases[t.phase].kind;
        if matches!(kind, PhaseKind::Rest | PhaseKind::Mvc) {
            continue;
        }
        if let Some(v) = r.verdict {
            if v != super::score::Verdict::Info {
                a.verdicts += 1;
                if r.passed() == t.pass {
                    a.verdicts_agree += 1;
                } else {
                    a.disagreements.push(format!(
                        "{protocol} seed {seed} {} rep {}: truth {} ({}) vs {} ({}) hold {:?} target {}",
                        r.phase_name,
                        r.rep,
                        if t.pass { "pass" } else { "fail" },
                        t.outcome,
                        r.verdict.map_or("", |v| v.as_str()),
                        r.reason.map_or("", |v| v.as_str()),
                        r.hold_s.map(|h| (h * 100.0).round() / 100.0),
                        r.target_s
                    ));
                }
            }
        }
        if t.strain {
            a.strains += 1;
            if r.strain {
                a.strains_flagged += 1;
            }
        } else if t.squeeze_onset_s.is_some() && r.coact_flag.is_some() {
            match (t.coactivated, r.flagged()) {
                (true, true) => a.coact_tp += 1,
                (true, false) => {
                    a.coact_fn += 1;
                    a.coact_misses.push(format!(
                        "{protocol} seed {seed} {} rep {}: index {:?}, level {:.2} x pelvic",
                        r.phase_name,
                        r.rep,
                        r.abd_index.map(|x| (x * 100.0).round() / 100.0),
                        t.level_rel
                    ));
                }
                (false, false) => a.coact_tn += 1,
                (false, true) => a.coact_fp += 1,
            }
        }
        if kind == PhaseKind::Knack && t.pass {
            if let (Some(tc), Some(ts), Some(lead)) =
                (t.cough_onset_s, t.squeeze_onset_s, r.knack_lead_s)
            {
                a.knack_errors_s.push((lead - (tc - ts)).abs());
            }
        }
    }
    if out
        .result
        .phases
        .iter()
        .any(|p| p.kind == PhaseKind::MaxHold)
    {
        if let Some(g) = out.patient.guided_params() {
            let m = super::perfect::perfect(&out.result);
            a.perfect = Some((
                (g.perfect_e_s, g.perfect_r, g.perfect_f),
                (m.endurance_s, m.repetitions, m.fast),
            ));
        }
    }
    for t in out
        .truth
        .iter()
        .filter(|t| out.result.phases[t.phase].kind == PhaseKind::Endurance)
    {
        let measured = out
            .result
            .reps
            .iter()
            .find(|r| r.phase == t.phase && r.rep == t.rep)
            .and_then(|r| r.above_band_s);
        if let Some(h) = t.hold_s {
            a.endurance.push((h, measured));
        }
    }
    if let Some(t) = out.truth.iter().find(|t| {
        t.ends_set && t.phase == out.truth.iter().find(|x| x.ends_set).map_or(0, |x| x.phase)
    }) {
        let end = out
            .result
            .set_ends
            .iter()
            .find(|e| e.0 == t.phase)
            .map_or(0, |e| e.1);
        a.set_end = Some((t.rep, end));
    }
    a
}

/// Settings used by the evaluation and the README figures.
pub fn evaluate_session(
    protocol: &str,
    seed: u64,
    cfg: &AnalysisConfig,
) -> Result<Agreement, SessionError> {
    let p = Protocol::load(protocol).map_err(|e| {
        SessionError::Output(OutputError::Plot {
            path: PathBuf::from(protocol),
            message: e.to_string(),
        })
    })?;
    let s = SimulatedSession {
        setup: SessionSetup {
            scoring: ScoringConfig::default(),
            calibration: None::<Calibration>,
            done_today: 0,
            pressure_delay_s: 0.0,
            protocol: p,
        },
        sim: session_sim(seed),
        speed: None,
    };
    let out = run_simulated(&s, cfg, Vec::new(), Arc::new(Controls::default()), |p| {
        Box::new(p)
    })?;
    Ok(agreement(protocol, seed, &out))
}

/// Options of `knip session` / `knip demo` with a simulated patient.
#[derive(Debug, Clone)]
pub struct GuidedOptions {
    pub protocol: Protocol,
    pub seed: u64,
    pub speed: Option<f64>,
    pub out_dir: PathBuf,
    /// Full-screen live view (a terminal); otherwise one line per event.
    pub tui: bool,
    pub calibration: Option<Calibration>,
    pub done_today: u32,
    pub scoring: ScoringConfig,
}

/// Run a guided session with a simulated patient, live view, and write the reports.
pub fn run_guided(
    o: &GuidedOptions,
    cfg: &AnalysisConfig,
    out: Box<dyn std::io::Write + Send>,
) -> Result<(SimulatedOutcome, Vec<PathBuf>), SessionError> {
    let controls = Arc::new(Controls::default());
    let view: Box<dyn SessionView> = if o.tui {
        Box::new(crate::sink::tui::TuiView::new(controls.clone()))
    } else {
        Box::new(super::run::PlainView::new(out))
    };
    let s = SimulatedSession {
        setup: SessionSetup {
            protocol: o.protocol.clone(),
            calibration: o.calibration.clone(),
            scoring: o.scoring.clone(),
            done_today: o.done_today,
            pressure_delay_s: 0.0,
        },
        sim: session_sim(o.seed),
        speed: o.speed,
    };
    std::fs::create_dir_all(&o.out_dir).map_err(|e| OutputError::write(&o.out_dir, e))?;
    let recording = o.out_dir.join("recording.csv");
    let record_error = Arc::new(std::sync::Mutex::new(None));
    let rec_err = record_error.clone();
    let rec_path = recording.clone();
    let protocol_name = o.protocol.name.clone();
    let seed = o.seed;
    let mut setup_error = None;
    let outcome = run_simulated(&s, cfg, vec![view], controls, |p| {
        let truth = p.truth().to_vec();
        let mut sidecar = crate::sidecar::Sidecar::new("simulator", p.spec(), cfg);
        sidecar.protocol = Some(format!("session:{protocol_name}"));
        sidecar.seed = Some(seed);
        sidecar.notes = Some("simulated patient following a guided session".into());
        let truth_path = crate::truth::truth_path_for(&rec_path);
        if let Err(e) = crate::truth::write_truth_csv(&truth_path, &truth) {
            setup_error = Some(OutputError::write(&truth_path, e));
        }
        match crate::sink::record::RecordingWriter::create(&rec_path, &sidecar) {
            Ok(w) => Box::new(RecordingSource::new(Box::new(p), w, rec_err)),
            Err(e) => {
                setup_error = Some(e);
                Box::new(p)
            }
        }
    })?;
    if let Some(e) = setup_error.or_else(|| record_error.lock().ok().and_then(|mut e| e.take())) {
        return Err(SessionError::Output(e));
    }
    let title = format!(
        "knip session — {}, simulated patient seed {}",
        o.protocol.name, o.seed
    );
    let mut files =
        crate::sink::session_report::write_session_report(&o.out_dir, &outcome.result, &title)?;
    files.push(recording);
    let truth = o.out_dir.join("truth_reps.json");
    std::fs::write(
        &truth,
        serde_json::to_string_pretty(&serde_json::json!({
            "reps": outcome.truth,
            "patient": outcome.patient.params(),
            "guided": outcome.patient.guided_params(),
        }))
        .unwrap_or_default(),
    )
    .map_err(|e| OutputError::write(&truth, e))?;
    files.push(truth);
    Ok((outcome, files))
}
