//! Running a guided session end to end: a (simulated) source through the live pipeline into the
//! session runner, its views and the report writer; and scoring a simulated session against
//! the patient's truth.

use super::calibrate::Calibration;
use super::protocol::{PhaseKind, Protocol};
use super::run::{
    Controls, InterruptionCause, PauseMode, SessionResult, SessionRunner, SessionSetup,
    SessionSink, SessionView,
};
use super::score::ScoringConfig;
use crate::config::AnalysisConfig;
use crate::error::{InputError, OutputError};
use crate::frame::{Block, StreamSpec};
use crate::pipeline::{self, Pace, PipelineError};
use crate::sidecar::{GuidedSessionInfo, Sidecar};
use crate::simulate::{RepTruth, SimConfig, SimError, SimulatedPatient};
use crate::source::csv_file::CsvOptions;
use crate::source::link::{LinkError, LinkStatus, StopHandle};
use crate::source::serial::{SerialOptions, SerialSource};
use crate::source::Source;
use std::io::Write;
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
    /// The port or raw log (the message names it and says what to do).
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error(transparent)]
    Input(#[from] InputError),
    /// Writing the recording failed (full disk): the message names the file.
    #[error("{0}")]
    RecordingFailed(String),
}

impl SessionError {
    /// Bad input the user can act on (exit 2): a file that cannot be read, a bad option, a
    /// port that is missing or unplugged, a full disk under the recording.
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            SessionError::Input(_)
                | SessionError::Simulation(_)
                | SessionError::Link(_)
                | SessionError::RecordingFailed(_)
                | SessionError::Pipeline(PipelineError::Input(_))
        ) || matches!(self, SessionError::Output(o) if o.is_input_error())
    }
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

    fn reader_warnings(&self) -> Vec<String> {
        self.inner.reader_warnings()
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

    fn reader_warnings(&self) -> Vec<String> {
        self.inner.reader_warnings()
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
    setup.event_settle_s = super::run::event_settle_s(patient.spec(), cfg);
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
        setup: SessionSetup::new(p),
        sim: session_sim(seed),
        speed: None,
    };
    let out = run_simulated(&s, cfg, Vec::new(), Arc::new(Controls::default()), |p| {
        Box::new(p)
    })?;
    Ok(agreement(protocol, seed, &out))
}

/// Where a guided session's samples come from. Whatever the source, the session runs through
/// the same pipeline, runner, views and reports.
#[derive(Debug, Clone)]
pub enum SessionInput {
    /// A sensor on a serial port, recorded crash-safely as `knip record` does.
    Serial(SerialOptions),
    /// A recording played back: `recording.raw` decoded again exactly as live, or a CSV at its
    /// own times. `speed` 1 = real time, `None` = as fast as possible.
    Replay { path: PathBuf, speed: Option<f64> },
    /// The simulated patient, who follows the cues.
    Simulate { seed: u64, speed: Option<f64> },
}

impl SessionInput {
    fn pause_mode(&self) -> PauseMode {
        match self {
            SessionInput::Serial(_) => PauseMode::FreezeTimeline,
            _ => PauseMode::HoldSource,
        }
    }
}

/// Options of `knip session` (and `knip demo`, which is a simulated session).
#[derive(Debug, Clone)]
pub struct GuidedOptions {
    pub protocol: Protocol,
    pub input: SessionInput,
    pub out_dir: PathBuf,
    /// Full-screen live view (a terminal); otherwise one line per event.
    pub tui: bool,
    pub calibration: Option<Calibration>,
    /// Valid holds already done today (from the progress database), for "7 of 30 today".
    pub done_today: u32,
    pub scoring: ScoringConfig,
    /// Pseudonymous patient id, written to the sidecar.
    pub patient_id: Option<String>,
    /// User pauses of a recorded session, replayed on the device clock.
    pub scripted_pauses: Vec<(f64, f64)>,
    /// Shared with Ctrl-C: set, the session ends and the report is written.
    pub stop: Option<StopHandle>,
    /// Publish samples, cues, contractions and verdicts on Lab Streaming Layer.
    pub lsl: bool,
    /// The web screen (`--web`): one more view of the same session.
    pub web: Option<Arc<crate::web::WebServer>>,
}

/// What a guided session produced.
pub struct GuidedOutcome {
    pub result: SessionResult,
    /// Report files and the recording written.
    pub files: Vec<PathBuf>,
    /// The session's recording (`recording.csv` in the output folder; for a replay, the file
    /// played).
    pub recording: PathBuf,
    /// The device the samples came from (`simulator`, a USB device, or the replayed one's).
    pub device: String,
    /// The simulated patient's truth (simulated sessions only).
    pub truth: Option<(Vec<RepTruth>, SimulatedPatient)>,
    /// The serial link's counters and gaps (sensor sessions and raw replays).
    pub link: Option<crate::source::link::LinkReport>,
    pub warnings: Vec<String>,
}

/// Nothing recorded is overwritten: a sensor session needs a folder without a recording, no
/// session writes into a folder that holds a sensor's recording (`recording.raw`), and a replay
/// does not write its reports over those of the session it replays. (The simulator may replace
/// its own earlier simulated session: `knip demo` twice.)
fn check_out_dir(o: &GuidedOptions, own_recording: &std::path::Path) -> Result<(), SessionError> {
    let (_, raw, _) = crate::source::link::recording_paths(own_recording);
    let same_folder = |file: &std::path::Path| {
        let parent = file.parent().filter(|p| !p.as_os_str().is_empty());
        match (
            std::fs::canonicalize(parent.unwrap_or(std::path::Path::new("."))),
            std::fs::canonicalize(&o.out_dir),
        ) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    };
    let clash = match &o.input {
        SessionInput::Serial(_) if own_recording.exists() => Some("already holds a recording"),
        SessionInput::Replay { path, .. } if same_folder(path) => {
            Some("holds the recording being replayed and its reports")
        }
        _ if raw.exists() => Some("holds a sensor's recording"),
        _ => None,
    };
    match clash {
        Some(why) => Err(SessionError::Input(InputError::Format {
            path: o.out_dir.clone(),
            message: format!(
                "this folder {why}; choose another --out so that nothing is overwritten"
            ),
        })),
        None => Ok(()),
    }
}

/// The session as the sidecar keeps it, so that a replay gives the same repetitions.
fn session_info(
    o: &GuidedOptions,
    calibration: Option<&Calibration>,
    mode: PauseMode,
) -> GuidedSessionInfo {
    GuidedSessionInfo {
        protocol: o.protocol.clone(),
        scoring: o.scoring.clone(),
        calibration: calibration.cloned(),
        calibration_source: calibration
            .map_or_else(|| "this session".to_string(), |c| c.source.clone()),
        pause_mode: mode,
        pauses: Vec::new(),
        markers: Vec::new(),
        stopped_early: false,
    }
}

/// Run a guided session from any source with its live view, and write the reports (and, for
/// a sensor or the simulator, the recording) into `o.out_dir`. Without `o.calibration`,
/// `stored_calibration` is asked for one kept for the device (once the device is known: a
/// sensor's USB identity, `simulator`); a replay uses the recorded session's own.
pub fn run_guided(
    o: &GuidedOptions,
    cfg: &AnalysisConfig,
    out: Box<dyn std::io::Write + Send>,
    mut status_out: Box<dyn std::io::Write + Send>,
    stored_calibration: &dyn Fn(&str) -> Option<Calibration>,
) -> Result<GuidedOutcome, SessionError> {
    let controls = Arc::new(Controls {
        quit: o.stop.as_ref().map_or_else(Default::default, |s| s.flag()),
        ..Controls::default()
    });
    crate::private_file::create_dir(&o.out_dir).map_err(|e| OutputError::write(&o.out_dir, e))?;
    let mode = o.input.pause_mode();
    let mut setup = SessionSetup {
        protocol: o.protocol.clone(),
        calibration: o.calibration.clone(),
        scoring: o.scoring.clone(),
        done_today: o.done_today,
        pressure_delay_s: 0.0,
        pause_mode: mode,
        scripted_pauses: o.scripted_pauses.clone(),
        recorded_markers: Vec::new(),
        event_settle_s: 0.0,
    };
    let mut warnings = Vec::new();
    let mut truth = None;
    let mut link = None;
    let record_error = Arc::new(std::sync::Mutex::new(None));
    let own_recording = o.out_dir.join("recording.csv");
    check_out_dir(o, &own_recording)?;
    let (source, recording, device): (Box<dyn Source>, PathBuf, String) = match &o.input {
        SessionInput::Simulate { seed, speed } => {
            if setup.calibration.is_none() {
                setup.calibration = stored_calibration("simulator");
            }
            let sim = session_sim(*seed);
            let phases = setup.phases();
            let patient = SimulatedPatient::guided(&sim, &phases)?;
            truth = Some((
                patient.rep_truth().to_vec(),
                SimulatedPatient::guided(&sim, &phases)?,
            ));
            let mut sidecar = Sidecar::new("simulator", patient.spec(), cfg);
            sidecar.protocol = Some(format!("session:{}", o.protocol.name));
            sidecar.seed = Some(*seed);
            sidecar.patient_id = o.patient_id.clone();
            sidecar.started_at = Some(crate::sidecar::now_rfc3339());
            sidecar.notes = Some("simulated patient following a guided session".into());
            sidecar.session = Some(session_info(o, setup.calibration.as_ref(), mode));
            let truth_path = crate::truth::truth_path_for(&own_recording);
            crate::truth::write_truth_csv(&truth_path, patient.truth())
                .map_err(|e| OutputError::write(&truth_path, e))?;
            let writer = crate::sink::record::RecordingWriter::create(&own_recording, &sidecar)?;
            let recorded = RecordingSource::new(Box::new(patient), writer, record_error.clone());
            (
                Box::new(ControlledSource::new(
                    Box::new(recorded),
                    controls.clone(),
                    *speed,
                )),
                own_recording.clone(),
                "simulator".to_string(),
            )
        }
        SessionInput::Serial(serial) => {
            let mut source = SerialSource::open(serial)?;
            source.use_stop_handle(StopHandle::from_flag(controls.quit.clone()));
            source.heartbeat(Duration::from_millis(250));
            let spec = source.spec().clone();
            warnings.extend(crate::record_cmd::stream_warnings(
                &spec,
                Some(&serial.link.wire),
            ));
            let said = source.device().to_string();
            // Kept per device: its USB identity where the system tells it, else its own words.
            let device = crate::device::device_identity(&serial.port).unwrap_or(said.clone());
            if setup.calibration.is_none() {
                setup.calibration = stored_calibration(&device);
            }
            let mut sidecar = Sidecar::new(&said, &spec, cfg);
            sidecar.protocol = Some(format!("session:{}", o.protocol.name));
            sidecar.patient_id = o.patient_id.clone();
            sidecar.notes = Some(format!(
                "port {}, format {}, {} baud; guided session; raw bytes in recording.raw",
                serial.port,
                serial.link.wire.name(),
                serial.baud
            ));
            sidecar.session = Some(session_info(o, setup.calibration.as_ref(), mode));
            source.record_to(&own_recording, sidecar)?;
            let ctl = controls.clone();
            let tui = o.tui;
            source.on_status(move |s: &LinkStatus| {
                let note = match s {
                    LinkStatus::Unplugged { .. } => {
                        Some("Sensor unplugged — plug it back in; the exercise waits".to_string())
                    }
                    LinkStatus::Silent { .. } => {
                        Some("No signal from the sensor — is it on and plugged in?".into())
                    }
                    LinkStatus::Replugged { .. } => Some("Sensor back — starting again…".into()),
                    LinkStatus::Resumed { .. } | LinkStatus::DataAgain { .. } => None,
                    _ => ctl.device_note.lock().ok().and_then(|n| n.clone()),
                };
                if let Ok(mut n) = ctl.device_note.lock() {
                    *n = note;
                }
                if !tui {
                    let _ = writeln!(status_out, "{s}");
                    let _ = status_out.flush();
                }
            });
            link = Some(source.report());
            (Box::new(source), own_recording.clone(), device)
        }
        SessionInput::Replay { path, speed } => {
            if crate::source::replay::is_raw_log(path) {
                let s = crate::source::replay::open_raw_replay(path, *speed)?;
                warnings.extend(crate::record_cmd::stream_warnings(
                    Source::spec(&s),
                    Some(&s.config().wire),
                ));
                link = Some(s.report());
                let device = s
                    .report()
                    .lock()
                    .map(|r| r.device.clone())
                    .unwrap_or_default();
                // The raw transport paces itself from the recorded arrival times.
                (
                    Box::new(ControlledSource::new(Box::new(s), controls.clone(), None)),
                    path.clone(),
                    device,
                )
            } else {
                // Whatever `knip analyze` opens: a CSV (with its sidecar), EDF/BDF, a vendor export.
                let opened = crate::export::open_recording(path, &CsvOptions::default())?;
                warnings.extend(opened.warnings.iter().cloned());
                setup.recorded_markers = opened.user_markers();
                let device = opened
                    .sidecar
                    .map(|c| c.device)
                    .or(opened.format)
                    .unwrap_or_else(|| "file".into());
                (
                    Box::new(ControlledSource::new(
                        opened.source,
                        controls.clone(),
                        *speed,
                    )),
                    path.clone(),
                    device,
                )
            }
        }
    };
    let spec = source.spec().clone();
    setup.pressure_delay_s = super::run::pressure_delay_s(&spec, cfg);
    setup.event_settle_s = super::run::event_settle_s(&spec, cfg);
    let view: Box<dyn SessionView> = if o.tui {
        Box::new(crate::sink::tui::TuiView::new(controls.clone()))
    } else {
        Box::new(super::run::PlainView::new(out))
    };
    let mut views = vec![view];
    let mut sinks: Vec<Box<dyn crate::pipeline::Sink>> = Vec::new();
    let (source, lsl) = if o.lsl {
        let follow_host = match &o.input {
            SessionInput::Simulate { speed, .. } | SessionInput::Replay { speed, .. } => {
                *speed == Some(1.0)
            }
            SessionInput::Serial(_) => true,
        };
        let (s, p) = crate::sink::lsl::attach(source, &device, follow_host).map_err(|e| {
            SessionError::Output(OutputError::write("LSL", std::io::Error::other(e)))
        })?;
        views.push(Box::new(crate::sink::lsl::LslSessionView::new(p.clone())));
        sinks.push(Box::new(crate::sink::lsl::LslMarkerSink::new(p.clone())));
        (s, Some(p))
    } else {
        (source, None)
    };
    let mut first = 0;
    if let Some(w) = &o.web {
        // First in line: it stamps the block's arrival for the web view's latency figures.
        w.hub.set_controls(controls.clone());
        sinks.insert(0, Box::new(w.sink(false)));
        views.push(Box::new(w.session_view(setup.calibration.clone(), &spec)));
        first = 1;
    }
    let sink = SessionSink::new(SessionRunner::new(setup), views, controls.clone());
    let handle = sink.result_handle();
    sinks.insert(first, Box::new(sink));
    let run = pipeline::run(source, cfg, sinks, Pace::Unpaced);
    warnings.extend(lsl.as_ref().and_then(crate::sink::lsl::finish));
    let link = link.map(|l| l.lock().map(|g| g.clone()).unwrap_or_default());
    if let Some(e) = link.as_ref().and_then(|l| l.recording_error.clone()) {
        return Err(SessionError::RecordingFailed(e));
    }
    if let Some(e) = record_error.lock().ok().and_then(|mut e| e.take()) {
        return Err(SessionError::Output(e));
    }
    let end = run?;
    warnings.extend(end.warnings.iter().cloned());
    let result = handle
        .lock()
        .ok()
        .and_then(|mut r| r.take())
        .ok_or(SessionError::NoResult)?;
    let mut files = Vec::new();
    let replayed = matches!(o.input, SessionInput::Replay { .. });
    if !replayed {
        // What happened during the session, for its replay.
        let pauses: Vec<(f64, f64)> = result
            .interruptions
            .iter()
            .filter(|x| x.cause == InterruptionCause::Paused)
            .map(|x| (x.start_s, x.end_s))
            .collect();
        let markers = result.markers.clone();
        let stopped = result.stopped_early;
        crate::export::update_sidecar(&recording, |s| {
            if let Some(info) = s.session.as_mut() {
                info.pauses = pauses;
                info.markers = markers;
                info.stopped_early = stopped;
            }
            if let Some(l) = &link {
                s.lost_samples = l.stats.lost_samples;
            }
        })
        .map_err(|e| {
            SessionError::Output(OutputError::write(
                recording.with_extension("json"),
                std::io::Error::other(e.to_string()),
            ))
        })?;
    }
    let source_words = match &o.input {
        SessionInput::Simulate { seed, .. } => format!("simulated patient seed {seed}"),
        SessionInput::Serial(s) if device.contains(&s.port) => device.clone(),
        SessionInput::Serial(s) => format!("{device} on {}", s.port),
        SessionInput::Replay { path, .. } => format!("replay of {}", path.display()),
    };
    let title = format!("knip session — {}, {source_words}", o.protocol.name);
    files.extend(crate::sink::session_report::write_session_report(
        &o.out_dir, &result, &title,
    )?);
    if let Some(l) = &link {
        files.push(crate::record_cmd::write_link_json(&o.out_dir, l)?);
        warnings.extend(l.warnings.iter().cloned());
    }
    if !replayed {
        files.push(recording.clone());
    }
    if let Some((reps, patient)) = &truth {
        let p = o.out_dir.join("truth_reps.json");
        let text = serde_json::to_string_pretty(&serde_json::json!({
            "reps": reps,
            "patient": patient.params(),
            "guided": patient.guided_params(),
        }))
        .map_err(|e| OutputError::write(&p, std::io::Error::other(e)))?;
        crate::private_file::write(&p, text.as_bytes()).map_err(|e| OutputError::write(&p, e))?;
        files.push(p);
    }
    Ok(GuidedOutcome {
        result,
        files,
        recording,
        device,
        truth,
        link,
        warnings,
    })
}
