//! The session runner: turns the pipeline's output (envelopes, onsets, decided events) into
//! cues, per-repetition scores and the live state the patient sees. It is a plain struct fed
//! block by block ([`SessionRunner::push`]), so tests drive it without threads, and
//! [`SessionSink`] plugs it into [`crate::pipeline::run`] with views and the report writer.

use super::calibrate::{mean_sd, Calibration, ChannelCalibration};
use super::fatigue::{slope, MedianFrequency};
use super::protocol::{Phase, PhaseKind, Protocol};
use super::score::{Reason, RepScore, ScoringConfig, Verdict};
use super::timeline::{Slot, Timeline};
use crate::error::OutputError;
use crate::event::{ContractionEvent, EventKind};
use crate::frame::{Role, StreamSpec};
use crate::pipeline::{Processed, RunEnd, RunStart, Sink};
use crate::sink::decimate::TraceDecimator;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// Resolution of the envelope history kept for scoring and the report, seconds.
pub const HISTORY_BIN_S: f64 = 0.01;
/// Smoothing for hold statistics and MVC, bins (250 ms, DOMAIN.md §4).
const HOLD_SMOOTH_BINS: usize = crate::score::hold::SMOOTH_BINS;
/// A contraction belongs to the slot whose cue it follows; it may anticipate the cue by this.
const ANTICIPATION_S: f64 = 0.5;
/// Points kept per channel for the report's min/max trace.
const PLOT_POINTS: usize = 1800;
/// Seconds at the start of the relax part of a rep during which the cue says "Relax fully".
const RELAX_WORDS_S: f64 = 2.0;
/// A hole in the device clock at least this long (an unplugged sensor) interrupts the protocol.
pub const INTERRUPTION_MIN_S: f64 = 0.5;
/// After a pause or a lost signal the next cue comes at least this long after the resume, on
/// the phase's own cadence (so a patient keeping the rhythm stays in step).
pub const RESUME_LEAD_S: f64 = 2.0;

/// What a pause does to the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseMode {
    /// The source itself stops (the simulated patient, a file being replayed): the device
    /// clock stands still, so the protocol simply goes on where it was.
    #[default]
    HoldSource,
    /// A live sensor keeps streaming: the protocol stops on the device clock, the interrupted
    /// repetition is dropped, and it is done again after the resume.
    FreezeTimeline,
}

/// The big cue of the live view, decided by the runner; [`crate::sink::words::cue`] words it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Cue {
    /// Before the first block.
    #[default]
    Starting,
    /// A rest phase (baseline): relax, `n` seconds left.
    Relax {
        n: u32,
    },
    QuickSqueeze,
    /// The knack: squeeze first …
    KnackSqueeze,
    /// … then cough.
    KnackCough,
    KeepUp {
        n: u32,
    },
    /// The first second of a hold.
    Squeeze,
    Hold {
        n: u32,
    },
    /// After a quick flick.
    LetGo,
    /// The first seconds after a hold.
    RelaxFully,
    Rest {
        n: u32,
    },
    /// After a pause or a lost signal: `n` seconds to the repeated repetition's cue.
    GetReady {
        n: u32,
    },
    NoSignal,
    Paused,
    Done,
}

/// Something that happened in the session, for the one-line-per-event view and logs;
/// [`crate::sink::words::note`] words it.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionNote {
    Started {
        protocol: String,
    },
    PhaseStarts {
        at_s: f64,
        phase: String,
        reps: u32,
        work_s: f64,
    },
    Cue {
        at_s: f64,
        phase: String,
        rep: u32,
        reps: u32,
        instruction: String,
    },
    /// A repetition scored (or scored again with more evidence); `unit` of the scoring channel.
    Scored {
        at_s: f64,
        rep: Box<RepScore>,
        unit: String,
    },
    Calibrated {
        at_s: f64,
        channels: Vec<ChannelCalibration>,
    },
    SetOver {
        at_s: f64,
        reps_done: u32,
        reason: Reason,
    },
    Complete {
        at_s: f64,
    },
    Marker {
        at_s: f64,
        n: usize,
    },
    Paused {
        at_s: f64,
    },
    Resumed {
        at_s: f64,
    },
    /// The device link's words (an unplugged sensor).
    Device {
        at_s: f64,
        message: String,
    },
    SignalLost {
        at_s: f64,
        for_s: f64,
    },
    Interrupted {
        at_s: f64,
        phase: String,
        rep: u32,
    },
    GoingOn {
        at_s: f64,
        after_s: f64,
        next_cue_s: f64,
    },
    StoppedEarly {
        at_s: f64,
    },
    ValidToday {
        valid: u32,
        goal: u32,
    },
    ReportForWhatWasDone,
}

/// Why the protocol stood still.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InterruptionCause {
    /// Paused by the user (space).
    Paused,
    /// No samples: the sensor was unplugged or the link lost.
    SignalLost,
}

/// A stretch of device time during which the protocol stood still.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Interruption {
    pub start_s: f64,
    pub end_s: f64,
    pub cause: InterruptionCause,
}

/// How a session is set up.
#[derive(Debug, Clone)]
pub struct SessionSetup {
    pub protocol: Protocol,
    /// A saved calibration: the calibration phases are skipped.
    pub calibration: Option<Calibration>,
    pub scoring: ScoringConfig,
    /// Valid holds already done today (for "7 of 30 today").
    pub done_today: u32,
    /// Lag of the conditioned pressure behind the input (its low-pass), seconds: subtracted
    /// from cough times found on the pressure trace. See [`pressure_delay_s`].
    pub pressure_delay_s: f64,
    pub pause_mode: PauseMode,
    /// User pauses of a recorded session (device times, start and end), applied again when it
    /// is replayed so that the replay gives the same repetitions.
    pub scripted_pauses: Vec<(f64, f64)>,
    /// Markers of a recorded session or of an EDF file being replayed (device time, label):
    /// drawn and kept in the report with those dropped during the replay.
    pub recorded_markers: Vec<(f64, String)>,
    /// How long after its decision the pipeline hands an event on (the fusion's settle time):
    /// events are applied to the protocol at that device time, whatever the block size.
    pub event_settle_s: f64,
}

/// The pressure channel's conditioning delay for `spec` under `cfg` (0 without pressure).
pub fn pressure_delay_s(spec: &StreamSpec, cfg: &crate::config::AnalysisConfig) -> f64 {
    spec.channel_index(Role::Pressure)
        .and_then(|i| {
            let mut w = Vec::new();
            crate::dsp::condition::ChannelConditioner::design(
                &spec.channels[i],
                &cfg.conditioning,
                &mut w,
            )
            .ok()
            .map(|c| c.applied().delay_s)
        })
        .unwrap_or(0.0)
}

/// The fusion's settle time under `cfg`: how long after its decision the pipeline hands an
/// event on (see [`SessionSetup::event_settle_s`]).
pub fn event_settle_s(spec: &StreamSpec, cfg: &crate::config::AnalysisConfig) -> f64 {
    let roles = spec.channels.iter().map(|c| c.role).collect();
    crate::detect::EventFuser::new(&cfg.detector, roles, None).settle_s()
}

impl SessionSetup {
    pub fn new(protocol: Protocol) -> Self {
        SessionSetup {
            protocol,
            calibration: None,
            scoring: ScoringConfig::default(),
            done_today: 0,
            pressure_delay_s: 0.0,
            pause_mode: PauseMode::HoldSource,
            scripted_pauses: Vec::new(),
            recorded_markers: Vec::new(),
            event_settle_s: 0.0,
        }
    }

    /// The phases run: calibration first unless a saved calibration is given.
    pub fn phases(&self) -> Vec<Phase> {
        self.protocol.session_phases(self.calibration.is_none())
    }
}

/// Keys pressed in the live view, read by the source (pause, quit) and the runner (markers),
/// and what the device link has to say (an unplugged sensor).
#[derive(Debug, Default)]
pub struct Controls {
    pub paused: AtomicBool,
    /// Shared with a serial link's stop handle and Ctrl-C, so `q` ends the stream too.
    pub quit: Arc<AtomicBool>,
    pub marker_requests: AtomicU32,
    /// Notes given with markers (the web view's clinician), by marker number.
    pub marker_notes: Mutex<std::collections::HashMap<u32, String>>,
    /// Set while the sensor is away (the link's own words); `None` when samples flow.
    pub device_note: Mutex<Option<String>>,
}

/// What the live view shows. Rebuilt after every block.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LiveState {
    pub protocol: String,
    pub phase_name: String,
    pub phase_no: usize,
    pub phase_count: usize,
    pub phase_kind: Option<PhaseKind>,
    /// The instruction of the phase, as the protocol words it.
    pub instruction: String,
    /// The big cue.
    pub cue: Cue,
    pub in_work: bool,
    /// Seconds left in the current part (work or rest).
    pub countdown_s: f64,
    pub rep: u32,
    pub reps_in_phase: u32,
    pub valid_today: u32,
    pub daily_goal: u32,
    /// Current level (envelope), in `unit`, and as %MVC once calibrated.
    pub level: f64,
    pub unit: String,
    pub level_pct_mvc: Option<f64>,
    pub target_pct_mvc: Option<(f64, f64)>,
    pub abd_warning: bool,
    /// The latest repetition scored (the view words its verdict).
    pub last_rep: Option<RepScore>,
    pub time_s: f64,
    pub paused: bool,
    pub markers: usize,
    pub calibrating: bool,
    pub finished: bool,
    /// The device link's trouble (unplugged sensor), shown instead of the cue.
    pub device_message: Option<String>,
}

/// Envelope of one channel at 100 Hz (mean per 10-ms bin) for the whole session.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub values: Vec<f64>,
    acc: f64,
    n: u32,
    bin: u64,
}

impl History {
    fn push(&mut self, start_s: f64, rate_hz: f64, samples: &[f64]) {
        for (k, &v) in samples.iter().enumerate() {
            let t = start_s + k as f64 / rate_hz;
            let b = (t / HISTORY_BIN_S).floor().max(0.0) as u64;
            if b != self.bin && self.n > 0 {
                self.close();
            }
            while (self.values.len() as u64) < b {
                let last = self.values.last().copied().unwrap_or(v);
                self.values.push(last);
            }
            self.bin = b;
            if v.is_finite() {
                self.acc += v;
                self.n += 1;
            }
        }
    }

    fn close(&mut self) {
        if self.n > 0 {
            let m = self.acc / f64::from(self.n);
            if (self.values.len() as u64) == self.bin {
                self.values.push(m);
            }
        }
        self.acc = 0.0;
        self.n = 0;
    }

    fn idx(t: f64) -> usize {
        (t / HISTORY_BIN_S).floor().max(0.0) as usize
    }

    /// Values in `[from_s, to_s)`.
    pub fn slice(&self, from_s: f64, to_s: f64) -> &[f64] {
        let a = Self::idx(from_s).min(self.values.len());
        let b = Self::idx(to_s).min(self.values.len()).max(a);
        &self.values[a..b]
    }

    /// Moving average over `w` bins of `[from_s, to_s)` (centred), with the bin times.
    pub fn smoothed(&self, from_s: f64, to_s: f64, w: usize) -> Vec<(f64, f64)> {
        let a = Self::idx(from_s).min(self.values.len());
        let b = Self::idx(to_s).min(self.values.len()).max(a);
        let half = w / 2;
        (a..b)
            .map(|i| {
                let lo = i.saturating_sub(half);
                let hi = (i + half + 1).min(self.values.len());
                let s: f64 = self.values[lo..hi].iter().sum();
                (i as f64 * HISTORY_BIN_S, s / (hi - lo) as f64)
            })
            .collect()
    }

    pub fn latest(&self, bins: usize) -> Option<f64> {
        let n = self.values.len();
        if n == 0 {
            return None;
        }
        let lo = n.saturating_sub(bins.max(1));
        Some(self.values[lo..].iter().sum::<f64>() / (n - lo) as f64)
    }
}

/// Per-repetition working state.
#[derive(Debug, Clone)]
struct RepState {
    slot: Slot,
    score: RepScore,
    /// The contraction scored (on the scoring channel, or the other pelvic channel).
    primary: Option<ContractionEvent>,
    /// Finalized at the slot's end (later events may still refine it).
    closed: bool,
}

/// The whole outcome of a session, for reports.
#[derive(Debug, Clone)]
pub struct SessionResult {
    pub protocol: Protocol,
    pub phases: Vec<Phase>,
    pub reps: Vec<RepScore>,
    pub calibration: Option<Calibration>,
    pub calibration_source: String,
    pub events: Vec<ContractionEvent>,
    pub markers: Vec<(f64, String)>,
    /// Device times at which the session was paused (space).
    pub pauses: Vec<f64>,
    /// Where the protocol stood still (pauses of a live sensor, lost signal).
    pub interruptions: Vec<Interruption>,
    pub spec: Option<StreamSpec>,
    /// Envelope histories by channel (100 Hz).
    pub history: Vec<History>,
    /// Conditioned signal, min/max decimated, by channel.
    pub raw: Vec<TraceDecimator>,
    pub scoring_channel: Option<usize>,
    pub scoring: ScoringConfig,
    pub end_time_s: f64,
    /// (phase, rep, reason) where an `until_failure` set ended; `ok` when every rep was done.
    pub set_ends: Vec<(usize, u32, Reason)>,
    pub stopped_early: bool,
    pub done_today: u32,
    /// Median-frequency points (time, Hz) of every 1-s window inside contractions.
    pub median_points: Vec<(f64, f64)>,
    /// Per channel at the end of the stream: the conditioning applied (mains lines cancelled
    /// and how much was taken out), the rest and thresholds the detector used and why.
    pub channels: Vec<crate::pipeline::ChannelOutcome>,
    /// What the user was told at the end (the reader's, the rest estimates', strong mains).
    pub warnings: Vec<String>,
}

/// Drives a session from processed blocks.
pub struct SessionRunner {
    setup: SessionSetup,
    phases: Vec<Phase>,
    timeline: Timeline,
    spec: Option<StreamSpec>,
    pfm: Option<usize>,
    abd: Option<usize>,
    pressure: Option<usize>,
    score_ch: Option<usize>,
    history: Vec<History>,
    raw: Vec<TraceDecimator>,
    reps: Vec<RepState>,
    events: Vec<ContractionEvent>,
    calibration: Option<Calibration>,
    calibration_source: String,
    mf: Option<MedianFrequency>,
    mf_buf: Vec<f64>,
    /// Onset of the scoring-channel contraction in progress.
    active_onset_s: Option<f64>,
    median_points: Vec<(f64, f64)>,
    markers: Vec<(f64, String)>,
    /// Device times at which the session was paused.
    pauses: Vec<f64>,
    notes: Vec<SessionNote>,
    live: LiveState,
    frontier_s: f64,
    set_ends: Vec<(usize, u32, Reason)>,
    max_hold_s: Option<f64>,
    last_level: f64,
    last_abd: f64,
    stopped_early: bool,
    /// Protocol standing still since this device time, and why.
    frozen: Option<(f64, InterruptionCause)>,
    interruptions: Vec<Interruption>,
    /// Device time after each channel's last sample (to see holes in the clock).
    channel_end_s: Vec<Option<f64>>,
    /// Scripted pauses still to apply: (time, true = pause / false = resume).
    scripted: std::collections::VecDeque<(f64, bool)>,
}

/// Something that happens at a device time within a block, applied in time order.
enum Happening {
    Onset(usize),
    Event(usize),
    Lost(f64, f64),
    Pause,
    Resume,
}

impl SessionRunner {
    pub fn new(setup: SessionSetup) -> Self {
        let phases = setup.phases();
        let calibration = setup.calibration.clone();
        let calibration_source = calibration
            .as_ref()
            .map(|c| c.source.clone())
            .unwrap_or_else(|| "this session".into());
        let scripted = setup
            .scripted_pauses
            .iter()
            .flat_map(|&(a, b)| [(a, true), (b, false)])
            .collect();
        let live = LiveState {
            protocol: setup.protocol.name.clone(),
            phase_count: phases.len(),
            daily_goal: setup.protocol.daily_goal_reps,
            valid_today: setup.done_today,
            ..Default::default()
        };
        SessionRunner {
            timeline: Timeline::new(phases.clone(), 0.0),
            phases,
            setup,
            spec: None,
            pfm: None,
            abd: None,
            pressure: None,
            score_ch: None,
            history: Vec::new(),
            raw: Vec::new(),
            reps: Vec::new(),
            events: Vec::new(),
            calibration,
            calibration_source,
            mf: None,
            mf_buf: Vec::new(),
            active_onset_s: None,
            median_points: Vec::new(),
            markers: Vec::new(),
            pauses: Vec::new(),
            notes: Vec::new(),
            live,
            frontier_s: 0.0,
            set_ends: Vec::new(),
            max_hold_s: None,
            last_level: 0.0,
            last_abd: 0.0,
            stopped_early: false,
            frozen: None,
            interruptions: Vec::new(),
            channel_end_s: Vec::new(),
            scripted,
        }
    }

    pub fn live(&self) -> &LiveState {
        &self.live
    }

    /// What happened since the last call, for a plain (no terminal) view, taken once.
    pub fn take_notes(&mut self) -> Vec<SessionNote> {
        std::mem::take(&mut self.notes)
    }

    pub fn reps(&self) -> Vec<RepScore> {
        self.reps.iter().map(|r| r.score.clone()).collect()
    }

    /// The stream is known: pick channels, open the first slot.
    pub fn start(&mut self, spec: &StreamSpec) {
        self.pfm = spec.channel_index(Role::PfmEmg);
        self.abd = spec.channel_index(Role::AbdEmg);
        self.pressure = spec.channel_index(Role::Pressure);
        self.score_ch = self.pfm.or(self.pressure);
        self.history = vec![History::default(); spec.channels.len()];
        self.channel_end_s = vec![None; spec.channels.len()];
        self.raw = spec
            .channels
            .iter()
            .map(|c| TraceDecimator::new(c.rate_hz, spec.start_time_s, PLOT_POINTS))
            .collect();
        if let Some(p) = self.pfm {
            self.mf = Some(MedianFrequency::new(spec.channels[p].rate_hz));
        }
        self.live.unit = self
            .score_ch
            .map(|c| spec.channels[c].unit.clone())
            .unwrap_or_default();
        self.spec = Some(spec.clone());
        if let Some(s) = self.timeline.current() {
            self.open_slot(s);
        }
    }

    /// A marker at the current time (the `m` key).
    pub fn marker(&mut self, label: &str) {
        let t = self.frontier_s;
        self.markers.push((t, label.to_string()));
        self.live.markers = self.markers.len();
        self.notes.push(SessionNote::Marker {
            at_s: t,
            n: self.markers.len(),
        });
    }

    /// Space in the live view. With a live sensor the protocol stops on the device clock and
    /// the interrupted repetition is done again after the resume; otherwise the source stands
    /// still and this only notes the pause.
    pub fn set_paused(&mut self, paused: bool) {
        if self.live.paused != paused {
            if paused {
                self.pauses.push(self.frontier_s);
            }
            let at_s = self.frontier_s;
            self.notes.push(if paused {
                SessionNote::Paused { at_s }
            } else {
                SessionNote::Resumed { at_s }
            });
            if self.setup.pause_mode == PauseMode::FreezeTimeline {
                let t = self.frontier_s;
                if paused {
                    self.pause_at(t, InterruptionCause::Paused);
                } else if self
                    .frozen
                    .is_some_and(|f| f.1 == InterruptionCause::Paused)
                {
                    self.resume_at(t);
                }
            }
        }
        self.live.paused = paused;
    }

    /// What the device link says (an unplugged sensor), or `None` when samples flow.
    pub fn set_device_message(&mut self, message: Option<String>) {
        if self.live.device_message != message {
            if let Some(m) = &message {
                self.notes.push(SessionNote::Device {
                    at_s: self.frontier_s,
                    message: m.clone(),
                });
            }
            self.live.device_message = message;
        }
    }

    /// Stop the protocol at device time `t`: the repetition in progress is dropped unless its
    /// work part is over and scored.
    fn pause_at(&mut self, t: f64, cause: InterruptionCause) {
        if self.frozen.is_some() {
            return;
        }
        self.frozen = Some((t, cause));
        let Some(s) = self.timeline.current() else {
            return;
        };
        if let Some(i) = self.reps.iter().rposition(|r| r.slot == s) {
            let done = t >= s.work_end_s && self.reps[i].score.verdict.is_some();
            if !done {
                self.reps.remove(i);
                if t >= s.cue_s {
                    self.notes.push(SessionNote::Interrupted {
                        at_s: t,
                        phase: self.phases[s.phase].name.clone(),
                        rep: s.rep,
                    });
                }
            }
        }
    }

    /// The protocol goes on at device time `t`: the next cue comes on the phase's cadence, at
    /// least [`RESUME_LEAD_S`] later.
    fn resume_at(&mut self, t: f64) {
        let Some((since, cause)) = self.frozen.take() else {
            return;
        };
        self.interruptions.push(Interruption {
            start_s: since,
            end_s: t,
            cause,
        });
        let Some(s) = self.timeline.current() else {
            return;
        };
        let cycle = self.phases[s.phase].cycle_s().max(1e-3);
        let k = ((t + RESUME_LEAD_S - s.cue_s) / cycle).ceil().max(1.0);
        let cue = s.cue_s + k * cycle;
        self.notes.push(SessionNote::GoingOn {
            at_s: t,
            after_s: t - since,
            next_cue_s: cue,
        });
        match self.reps.iter().rposition(|r| r.slot == s) {
            // The repetition was done before the pause: its slot ends, the next one starts.
            Some(i) => self.finish_slot(i, s, cue),
            None => {
                if let Some(n) = self.timeline.restart(cue) {
                    self.open_slot(n);
                }
            }
        }
    }

    /// Device time `t` has been reached: slots that ended are closed (unless the protocol
    /// stands still).
    fn advance_to(&mut self, t: f64) {
        if t > self.frontier_s {
            self.frontier_s = t;
        }
        if self.frozen.is_none() {
            self.advance_timeline();
        }
    }

    /// A hole in the device clock in this block: (last time before, first time after).
    fn find_gap(&mut self, spec: &StreamSpec, p: &Processed) -> Option<(f64, f64)> {
        let mut gap = None;
        for (i, chunk) in p.envelope.iter().enumerate() {
            let (Some(ch), false) = (spec.channels.get(i), chunk.samples.is_empty()) else {
                continue;
            };
            let t0 = spec.time_s(i, chunk.start_index);
            if let Some(Some(end)) = self.channel_end_s.get(i) {
                if t0 - end >= INTERRUPTION_MIN_S && gap.is_none() {
                    gap = Some((*end, t0));
                }
            }
            if let Some(slot) = self.channel_end_s.get_mut(i) {
                *slot = Some(t0 + chunk.samples.len() as f64 / ch.rate_hz);
            }
        }
        gap
    }

    /// One processed block.
    pub fn push(&mut self, p: &Processed) {
        let Some(spec) = self.spec.clone() else {
            return;
        };
        // Once the protocol is over nothing more is scored: a live stream may run on a moment
        // longer than its replay, and must not change the result.
        if self.live.finished {
            return;
        }
        let gap = self.find_gap(&spec, p);
        for (i, chunk) in p.envelope.iter().enumerate() {
            let Some(ch) = spec.channels.get(i) else {
                continue;
            };
            let t0 = spec.time_s(i, chunk.start_index);
            if let Some(h) = self.history.get_mut(i) {
                h.push(t0, ch.rate_hz, &chunk.samples);
            }
            if let Some(&last) = chunk.samples.last() {
                if Some(i) == self.score_ch {
                    self.last_level = last;
                }
                if Some(i) == self.abd {
                    self.last_abd = last;
                }
            }
        }
        for (i, chunk) in p.filtered.iter().enumerate() {
            if let Some(d) = self.raw.get_mut(i) {
                d.push(chunk.start_index, &chunk.samples);
            }
        }
        // Onsets, events, a hole in the clock and scripted pauses, in device-time order: an
        // event counts at the time the pipeline hands it on, so a slot closes before or after
        // it (and the pelvic signal is cut into median-frequency windows) the same way whatever
        // the block size.
        let mut items: Vec<(f64, Happening)> = p
            .events
            .iter()
            .enumerate()
            .map(|(k, e)| {
                (
                    e.decided_at_s + self.setup.event_settle_s,
                    Happening::Event(k),
                )
            })
            .chain(
                p.onsets
                    .iter()
                    .enumerate()
                    .map(|(k, n)| (n.decided_at_s, Happening::Onset(k))),
            )
            .collect();
        let pfm_chunk = self.pfm.and_then(|i| p.filtered.get(i).map(|c| (i, c)));
        let mut fed = 0usize;
        if let Some((a, b)) = gap {
            items.push((a, Happening::Lost(a, b)));
        }
        while let Some(&(t, pause)) = self.scripted.front() {
            if t > p.frontier_s {
                break;
            }
            self.scripted.pop_front();
            items.push((
                t,
                if pause {
                    Happening::Pause
                } else {
                    Happening::Resume
                },
            ));
        }
        items.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (t, h) in items {
            if let Some((i, c)) = pfm_chunk {
                fed = self.feed_median_until(&spec, i, c, fed, t);
            }
            self.advance_to(t);
            match h {
                Happening::Onset(k) => {
                    let n = &p.onsets[k];
                    if Some(n.channel) == self.score_ch {
                        self.active_onset_s = Some(n.onset_s);
                        self.mf_buf.clear();
                    }
                }
                Happening::Event(k) => {
                    let e = &p.events[k];
                    self.events.push(e.clone());
                    if Some(e.channel) == self.score_ch && e.kind == EventKind::Contraction {
                        self.active_onset_s = None;
                    }
                    self.on_event(e);
                }
                Happening::Lost(a, b) => {
                    if self.frozen.is_none() {
                        self.notes.push(SessionNote::SignalLost {
                            at_s: a,
                            for_s: b - a,
                        });
                        self.pause_at(a, InterruptionCause::SignalLost);
                        self.advance_to(b);
                        self.resume_at(b);
                    }
                }
                Happening::Pause => self.pause_at(t, InterruptionCause::Paused),
                Happening::Resume => self.resume_at(t),
            }
        }
        if let Some((i, c)) = pfm_chunk {
            self.feed_median_until(&spec, i, c, fed, f64::INFINITY);
        }
        self.advance_to(p.frontier_s);
        self.update_live();
    }

    /// Feed the pelvic samples of `chunk` from index `from` up to (not including) device time
    /// `until_s`; returns the index reached.
    fn feed_median_until(
        &mut self,
        spec: &StreamSpec,
        ch: usize,
        chunk: &crate::frame::ChannelChunk,
        from: usize,
        until_s: f64,
    ) -> usize {
        let rate = spec.channels[ch].rate_hz;
        let t0 = spec.time_s(ch, chunk.start_index);
        let end = if until_s.is_finite() {
            (((until_s - t0) * rate).ceil().max(0.0) as usize).clamp(from, chunk.samples.len())
        } else {
            chunk.samples.len()
        };
        if end > from {
            self.feed_median(
                spec,
                ch,
                chunk.start_index + from as u64,
                &chunk.samples[from..end],
            );
        }
        end
    }

    fn feed_median(&mut self, spec: &StreamSpec, ch: usize, start: u64, samples: &[f64]) {
        let Some(onset) = self.active_onset_s else {
            return;
        };
        let Some(mf) = self.mf.as_mut() else {
            return;
        };
        let rate = spec.channels[ch].rate_hz;
        for (k, &x) in samples.iter().enumerate() {
            let t = spec.time_s(ch, start + k as u64);
            if t < onset + 1.0 {
                continue;
            }
            self.mf_buf.push(x);
            if self.mf_buf.len() == mf.len() {
                if let Some(m) = mf.median_hz(&self.mf_buf) {
                    self.median_points
                        .push((t - 0.5 * mf.len() as f64 / rate, m));
                }
                self.mf_buf.clear();
            }
        }
    }

    fn open_slot(&mut self, s: Slot) {
        let ph = &self.phases[s.phase];
        let score = RepScore {
            phase: s.phase,
            phase_name: ph.name.clone(),
            kind: format!("{:?}", ph.kind).to_lowercase(),
            rep: s.rep,
            cue_s: s.cue_s,
            target_s: self.target_s(ph),
            ..Default::default()
        };
        if s.rep == 1 {
            self.notes.push(SessionNote::PhaseStarts {
                at_s: s.cue_s,
                phase: ph.name.clone(),
                reps: ph.reps,
                work_s: ph.work_s,
            });
        }
        self.notes.push(SessionNote::Cue {
            at_s: s.cue_s,
            phase: ph.name.clone(),
            rep: s.rep,
            reps: ph.reps,
            instruction: ph.cue.clone(),
        });
        self.reps.push(RepState {
            slot: s,
            score,
            primary: None,
            closed: false,
        });
    }

    fn target_s(&self, ph: &Phase) -> f64 {
        if ph.hold_from_max_hold {
            self.max_hold_s.unwrap_or(ph.work_s).min(ph.work_s)
        } else {
            ph.work_s
        }
    }

    /// The repetition whose window holds `t`.
    fn rep_at(&self, t: f64) -> Option<usize> {
        self.reps
            .iter()
            .rposition(|r| t >= r.slot.cue_s - ANTICIPATION_S && t < r.slot.end_s - ANTICIPATION_S)
    }

    fn on_event(&mut self, e: &ContractionEvent) {
        let stood_still = self.frozen.is_some_and(|f| e.onset_s >= f.0)
            || self
                .interruptions
                .iter()
                .any(|x| e.onset_s >= x.start_s && e.onset_s < x.end_s);
        if stood_still {
            return;
        }
        let Some(i) = self.rep_at(e.onset_s) else {
            return;
        };
        let kind = self.phases[self.reps[i].slot.phase].kind;
        if !kind.is_contraction() {
            return;
        }
        let is_pelvic = e.kind == EventKind::Contraction && e.role.is_pelvic_floor();
        let on_score = Some(e.channel) == self.score_ch;
        let take = is_pelvic
            && match &self.reps[i].primary {
                None => true,
                Some(p) => {
                    // Prefer the scoring channel, then the longer contraction.
                    let p_score = Some(p.channel) == self.score_ch;
                    (on_score && !p_score)
                        || (on_score == p_score && e.duration_s() > p.duration_s())
                }
            };
        if take {
            self.reps[i].primary = Some(e.clone());
        }
        let refines = self.reps[i].primary.is_some() && e.kind == EventKind::AbdominalActivity;
        if take || e.kind == EventKind::Strain || refines {
            let announce = !self.reps[i].closed || take;
            self.score_rep(i, announce);
        }
    }

    /// Move through every slot that has ended.
    fn advance_timeline(&mut self) {
        while let Some(s) = self.timeline.current() {
            if self.frontier_s < s.end_s {
                break;
            }
            let Some(i) = self.reps.iter().rposition(|r| r.slot == s) else {
                break;
            };
            self.finish_slot(i, s, s.end_s);
        }
    }

    /// Close slot `s` (repetition `i`) and open the next one at `next_at_s`.
    fn finish_slot(&mut self, i: usize, s: Slot, next_at_s: f64) {
        self.close_rep(i);
        let ph = self.phases[s.phase].clone();
        let reason = self.reps[i].score.reason;
        let failed = self.reps[i].score.verdict == Some(Verdict::Fail)
            && reason.is_some_and(|r| r.ends_set());
        if ph.until_failure && failed {
            self.set_ends
                .push((s.phase, s.rep, reason.unwrap_or(Reason::Ok)));
            self.notes.push(SessionNote::SetOver {
                at_s: s.end_s,
                reps_done: s.rep - 1,
                reason: reason.unwrap_or(Reason::Ok),
            });
        } else if ph.until_failure && s.rep == ph.reps {
            self.set_ends.push((s.phase, s.rep, Reason::Ok));
        }
        if ph.kind == PhaseKind::Mvc && s.rep == ph.reps {
            self.calibrate();
        }
        match self.timeline.advance(failed, next_at_s) {
            Some(next) => self.open_slot(next),
            None => {
                self.live.finished = true;
                self.notes.push(SessionNote::Complete { at_s: s.end_s });
            }
        }
    }

    /// The end of a repetition's slot: score what was found, or say nothing was.
    fn close_rep(&mut self, i: usize) {
        self.reps[i].closed = true;
        let kind = self.phases[self.reps[i].slot.phase].kind;
        if kind == PhaseKind::Rest {
            self.score_rest(i);
            return;
        }
        if self.reps[i].score.verdict.is_none() {
            if self.active_onset_s.is_some() && kind == PhaseKind::Endurance {
                return;
            }
            self.score_rep(i, true);
        }
    }

    fn score_rest(&mut self, i: usize) {
        let s = self.reps[i].slot;
        let Some(c) = self.score_ch else {
            return;
        };
        let v = self.history[c].slice(s.cue_s + 1.0, s.work_end_s);
        let busy = self.events.iter().any(|e| {
            e.kind == EventKind::Contraction && e.onset_s >= s.cue_s && e.onset_s < s.end_s
        });
        let r = &mut self.reps[i].score;
        if let Some((m, sd)) = mean_sd(v) {
            r.rest_mean = Some(m);
            r.rest_cv_pct = (m > 0.0).then(|| 100.0 * sd / m);
        }
        r.verdict = Some(Verdict::Info);
        r.reason = Some(Reason::Ok);
        r.rest_busy = busy;
        let rep = Box::new(r.clone());
        self.notes.push(SessionNote::Scored {
            at_s: s.work_end_s,
            rep,
            unit: self.live.unit.clone(),
        });
    }

    fn calibrate(&mut self) {
        if self.calibration.is_some() {
            return;
        }
        let Some(spec) = self.spec.clone() else {
            return;
        };
        let base = self
            .reps
            .iter()
            .find(|r| self.phases[r.slot.phase].kind == PhaseKind::Rest)
            .map(|r| r.slot);
        let mvcs: Vec<Slot> = self
            .reps
            .iter()
            .filter(|r| self.phases[r.slot.phase].kind == PhaseKind::Mvc)
            .map(|r| r.slot)
            .collect();
        let Some(base) = base else {
            return;
        };
        let mut channels = Vec::new();
        for (i, ch) in spec.channels.iter().enumerate() {
            let Some((rest_mean, rest_sd)) =
                mean_sd(self.history[i].slice(base.cue_s + 1.0, base.work_end_s))
            else {
                continue;
            };
            let mvc = mvcs
                .iter()
                .flat_map(|s| self.history[i].smoothed(s.cue_s, s.end_s, HOLD_SMOOTH_BINS))
                .map(|p| p.1)
                .fold(f64::NEG_INFINITY, f64::max);
            if mvc.is_finite() && mvc > rest_mean {
                channels.push(ChannelCalibration {
                    role: ch.role,
                    unit: ch.unit.clone(),
                    rest_mean,
                    rest_sd,
                    mvc,
                });
            }
        }
        self.notes.push(SessionNote::Calibrated {
            at_s: self.frontier_s,
            channels: channels.clone(),
        });
        self.calibration = Some(Calibration {
            channels,
            source: "this session".into(),
        });
    }

    fn cal(&self, ch: usize) -> Option<&ChannelCalibration> {
        let role = self.spec.as_ref()?.channels.get(ch)?.role;
        self.calibration.as_ref()?.channel(role)
    }

    /// Score repetition `i` from what is known now.
    fn score_rep(&mut self, i: usize, announce: bool) {
        let slot = self.reps[i].slot;
        let ph = self.phases[slot.phase].clone();
        let cfg = self.setup.scoring.clone();
        let window = (slot.cue_s - ANTICIPATION_S, slot.end_s - ANTICIPATION_S);
        let in_window = |e: &&ContractionEvent| e.onset_s >= window.0 && e.onset_s < window.1;
        let strain = self
            .events
            .iter()
            .filter(in_window)
            .any(|e| e.kind == EventKind::Strain);
        let primary = self.reps[i].primary.clone();
        let mut r = RepScore {
            strain,
            ..self.reps[i].score.clone()
        };
        r.target_s = self.target_s(&ph);
        let Some(e) = primary else {
            r.verdict = Some(Verdict::Fail);
            r.reason = Some(if strain {
                Reason::Strain
            } else {
                Reason::Missing
            });
            self.finish_score(i, r, announce);
            return;
        };
        let ch = e.channel;
        let cal = self.cal(ch).cloned();
        // The rest the detector had in force for this rep, as `analyze` scores it (the
        // calibration's rest is an earlier estimate of the same rest; on a quiet rest without
        // mains the two differ by several per cent).
        let rest = e.rest_mean;
        let sm = self.history[ch].smoothed(e.onset_s, e.offset_s, HOLD_SMOOTH_BINS);
        let peak = crate::score::hold::smoothed_peak(&sm);
        // The one hold rule (crate::score::hold); PERFECT's E uses its own fall level.
        let fall_rel = if ph.kind == PhaseKind::MaxHold {
            cfg.perfect_fall_rel
        } else {
            crate::score::hold::HOLD_LEVEL_REL
        };
        let span = crate::score::hold::hold_span(&sm, rest, fall_rel);
        let (up, down) = (span.map(|s| s.up_s), span.map(|s| s.down_s));
        let hold = span.map_or(0.0, |s| s.hold_s());
        r.onset_s = Some(e.onset_s);
        r.cue_to_onset_s = Some(e.onset_s - slot.cue_s);
        r.offset_s = Some(e.offset_s);
        r.hold_s = Some(hold);
        r.peak = peak.is_finite().then_some(peak);
        r.release_s = Some(e.release_s);
        r.rise_s = Some(e.rise_s);
        if let (Some(a), Some(b)) = (up, down) {
            let vals: Vec<f64> = self.history[ch].slice((a + 1.0).min(b), b).to_vec();
            if let Some((m, sd)) = mean_sd(&vals) {
                r.cv_pct = (m > 0.0).then(|| 100.0 * sd / m);
                r.mean_pct_mvc = cal.as_ref().map(|c| c.pct_mvc(m));
            }
        }
        r.peak_pct_mvc = cal.as_ref().map(|c| c.pct_mvc(peak));
        if let (Some(c), Some((lo, _))) = (cal.as_ref(), ph.target_pct_mvc) {
            let above = self.history[ch]
                .smoothed(e.onset_s, e.offset_s, HOLD_SMOOTH_BINS)
                .iter()
                .filter(|p| c.pct_mvc(p.1) >= lo)
                .count();
            r.above_band_s = Some(above as f64 * HISTORY_BIN_S);
        }
        let next_cue = slot.end_s;
        r.returned_to_rest = (ph.rest_s > 0.0).then_some(e.offset_s <= next_cue);
        // Co-activation.
        let abd_lead_ms = crate::score::contraction::abd_lead_ms(&e, &self.events);
        r.abd_index = e.abd_index;
        r.abd_lead_ms = abd_lead_ms;
        // A knack's cough works the abdomen by design: no co-activation verdict there.
        r.coact_flag = crate::score::contraction::coact_flag(
            e.abd_index.filter(|_| ph.kind != PhaseKind::Knack),
            abd_lead_ms,
            &cfg,
        );
        // Fatigue: median frequency of the windows inside this contraction.
        let mf: Vec<(f64, f64)> = self
            .median_points
            .iter()
            .copied()
            .filter(|p| p.0 >= e.onset_s && p.0 <= e.offset_s)
            .collect();
        if !mf.is_empty() {
            r.median_hz = Some(mf.iter().map(|p| p.1).sum::<f64>() / mf.len() as f64);
            if mf.len() >= 3 {
                r.median_slope_hz_per_s = slope(&mf);
            }
        }
        // Knack: when was the cough?
        if ph.kind == PhaseKind::Knack {
            r.cough_onset_s = self.cough_onset(window, &e, &cfg);
            // The squeeze starts where the first pelvic channel saw it start: on weak EMG the
            // pressure rise is often found earlier, and the cough is timed on pressure too.
            let squeeze_onset_s = self
                .events
                .iter()
                .filter(|p| {
                    p.kind == EventKind::Contraction
                        && p.role.is_pelvic_floor()
                        && p.onset_s < e.offset_s
                        && p.offset_s > e.onset_s
                })
                .map(|p| p.onset_s)
                .fold(e.onset_s, f64::min);
            r.knack_lead_s = r.cough_onset_s.map(|c| c - squeeze_onset_s);
        }
        let first_peak = self
            .reps
            .iter()
            .find(|x| x.slot.phase == slot.phase && x.score.peak.is_some())
            .filter(|x| x.slot.rep < slot.rep)
            .and_then(|x| x.score.peak);
        let weak = ph.until_failure
            && first_peak.is_some_and(|f| peak - rest < cfg.fail_peak_rel * (f - rest));
        let (verdict, reason) = match ph.kind {
            PhaseKind::Mvc | PhaseKind::Rest => (Verdict::Info, Reason::Ok),
            PhaseKind::Hold => {
                if strain {
                    (Verdict::Fail, Reason::Strain)
                } else if !crate::score::hold::valid_hold(hold, r.target_s, &cfg) {
                    (Verdict::Fail, Reason::Short)
                } else if weak {
                    (Verdict::Fail, Reason::Weak)
                } else if r.returned_to_rest == Some(false) {
                    (Verdict::Fail, Reason::NoRest)
                } else {
                    (Verdict::Pass, Reason::Ok)
                }
            }
            PhaseKind::Flick if weak => (Verdict::Fail, Reason::Weak),
            PhaseKind::Flick | PhaseKind::Endurance => (Verdict::Pass, Reason::Ok),
            PhaseKind::MaxHold => {
                self.max_hold_s = Some(hold.min(ph.work_s));
                (Verdict::Pass, Reason::Ok)
            }
            PhaseKind::Knack => match r.knack_lead_s {
                Some(l) if l >= cfg.knack_min_lead_s && e.offset_s > e.onset_s + l + 0.3 => {
                    (Verdict::Pass, Reason::Ok)
                }
                _ => (Verdict::Fail, Reason::LateSqueeze),
            },
        };
        r.verdict = Some(verdict);
        r.reason = Some(reason);
        self.finish_score(i, r, announce);
    }

    fn finish_score(&mut self, i: usize, r: RepScore, announce: bool) {
        let was_pass = self.reps[i].score.passed();
        let counts = self.phases[r.phase].kind == PhaseKind::Hold;
        if counts && r.passed() && !was_pass {
            self.live.valid_today += 1;
        } else if counts && was_pass && !r.passed() {
            self.live.valid_today = self.live.valid_today.saturating_sub(1);
        }
        let changed = self.reps[i].score != r;
        if announce && changed && r.verdict.is_some() {
            self.live.last_rep = Some(r.clone());
            self.notes.push(SessionNote::Scored {
                at_s: self.frontier_s,
                rep: Box::new(r.clone()),
                unit: self.live.unit.clone(),
            });
        }
        self.reps[i].score = r;
    }

    /// Knack: the first cough event in the window, else the onset of the largest fast pressure
    /// jump inside the squeeze.
    fn cough_onset(
        &self,
        window: (f64, f64),
        e: &ContractionEvent,
        cfg: &ScoringConfig,
    ) -> Option<f64> {
        let ev = self
            .events
            .iter()
            .filter(|c| {
                c.kind == EventKind::Cough && c.onset_s >= window.0 && c.onset_s < e.offset_s
            })
            .map(|c| c.onset_s)
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.min(x))));
        if ev.is_some() {
            return ev;
        }
        let p = self.pressure?;
        let v = self.history[p].smoothed(e.onset_s, e.offset_s, 1);
        let (imax, &(tmax, vmax)) = v
            .iter()
            .enumerate()
            .max_by(|a, b| a.1 .1.total_cmp(&b.1 .1))?;
        // The level before the spike: the median of the 0.3 s ending 0.4 s before the peak.
        let before: Vec<f64> = v
            .iter()
            .filter(|q| q.0 >= tmax - 0.7 && q.0 < tmax - 0.4)
            .map(|q| q.1)
            .collect();
        let mut sorted = before.clone();
        sorted.sort_by(f64::total_cmp);
        let base = *sorted.get(sorted.len() / 2)?;
        if vmax - base < cfg.cough_min_jump_cmh2o {
            return None;
        }
        let thr = base + 0.1 * (vmax - base);
        let start = v[..imax]
            .iter()
            .rposition(|q| q.1 <= thr)
            .map_or(imax, |k| k + 1);
        Some(v[start].0 - self.pressure_delay_s())
    }

    /// The pressure low-pass delays the trace; the detector's own pressure events carry it.
    fn pressure_delay_s(&self) -> f64 {
        self.setup.pressure_delay_s
    }

    fn update_live(&mut self) {
        let t = self.frontier_s;
        self.live.time_s = t;
        if let Some(c) = self.score_ch {
            self.live.level = self.last_level;
            self.live.level_pct_mvc = self.cal(c).map(|k| k.pct_mvc(self.last_level));
        }
        self.live.abd_warning = match (self.abd, self.abd.and_then(|a| self.cal(a))) {
            (Some(a), Some(k)) => {
                let x = self.history[a].latest(10).unwrap_or(self.last_abd);
                x > k.rest_mean
                    + self.setup.scoring.abd_warning_k * k.rest_sd.max(0.05 * k.rest_mean)
            }
            _ => false,
        };
        self.live.calibrating = self.calibration.is_none();
        let Some(s) = self.timeline.current() else {
            self.live.cue = Cue::Done;
            self.live.in_work = false;
            self.live.countdown_s = 0.0;
            return;
        };
        let ph = &self.phases[s.phase];
        if self.frozen.is_some() || t < s.cue_s {
            self.live.phase_name = ph.name.clone();
            self.live.phase_no = s.phase + 1;
            self.live.phase_kind = Some(ph.kind);
            self.live.rep = s.rep;
            self.live.reps_in_phase = ph.reps;
            self.live.in_work = false;
            let (cue, left) = match self.frozen {
                Some((_, InterruptionCause::SignalLost)) => (Cue::NoSignal, 0.0),
                Some(_) => (Cue::Paused, 0.0),
                None => {
                    let left = s.cue_s - t;
                    let n = left.ceil().max(1.0) as u32;
                    (Cue::GetReady { n }, left)
                }
            };
            self.live.cue = cue;
            self.live.instruction = ph.cue.clone();
            self.live.countdown_s = left;
            return;
        }
        self.live.phase_name = ph.name.clone();
        self.live.phase_no = s.phase + 1;
        self.live.phase_kind = Some(ph.kind);
        self.live.instruction = ph.cue.clone();
        self.live.rep = s.rep;
        self.live.reps_in_phase = ph.reps;
        self.live.target_pct_mvc = ph.target_pct_mvc;
        let in_work = t < s.work_end_s;
        self.live.in_work = in_work;
        let left = if in_work {
            s.work_end_s - t
        } else {
            s.end_s - t
        };
        self.live.countdown_s = left.max(0.0);
        let elapsed = t - s.cue_s;
        let n = left.ceil().max(1.0) as u32;
        self.live.cue = match (ph.kind, in_work) {
            (PhaseKind::Rest, _) => Cue::Relax { n },
            (PhaseKind::Flick, true) => Cue::QuickSqueeze,
            (PhaseKind::Knack, true) if elapsed < 1.0 => Cue::KnackSqueeze,
            (PhaseKind::Knack, true) => Cue::KnackCough,
            (PhaseKind::Endurance, true) => Cue::KeepUp { n },
            (_, true) if elapsed < 1.0 => Cue::Squeeze,
            (_, true) => Cue::Hold { n },
            (PhaseKind::Flick, false) => Cue::LetGo,
            (_, false) if t - s.work_end_s < RELAX_WORDS_S => Cue::RelaxFully,
            (_, false) => Cue::Rest { n },
        };
    }

    /// Close the session (end of stream or `q`).
    /// The session's result. `stream`: the per-channel outcome and warnings at the end of the
    /// stream (`None` where the session was driven without the pipeline, as in tests).
    pub fn finish(
        mut self,
        end_time_s: f64,
        stopped_early: bool,
        stream: Option<&RunEnd>,
    ) -> SessionResult {
        self.frontier_s = self.frontier_s.max(end_time_s);
        self.stopped_early = stopped_early;
        if let Some((since, cause)) = self.frozen.take() {
            self.interruptions.push(Interruption {
                start_s: since,
                end_s: self.frontier_s,
                cause,
            });
        }
        // Score whatever is still open.
        let open: Vec<usize> = (0..self.reps.len())
            .filter(|&i| self.reps[i].score.verdict.is_none())
            .collect();
        for i in open {
            if self.reps[i].slot.end_s <= self.frontier_s + 1e-9 || self.reps[i].primary.is_some() {
                self.close_rep(i);
                if self.reps[i].score.verdict.is_none() {
                    self.score_rep(i, false);
                }
            }
        }
        if stopped_early {
            self.notes.push(SessionNote::StoppedEarly {
                at_s: self.frontier_s,
            });
        }
        self.live.finished = true;
        SessionResult {
            protocol: self.setup.protocol.clone(),
            phases: self.phases.clone(),
            reps: self
                .reps
                .iter()
                .filter(|r| r.score.verdict.is_some())
                .map(|r| r.score.clone())
                .collect(),
            calibration: self.calibration.clone(),
            calibration_source: self.calibration_source.clone(),
            events: self.events.clone(),
            markers: {
                let mut all = self.setup.recorded_markers.clone();
                all.extend(self.markers.iter().cloned());
                all.sort_by(|a, b| a.0.total_cmp(&b.0));
                all
            },
            pauses: self.pauses.clone(),
            interruptions: self.interruptions.clone(),
            spec: self.spec.clone(),
            history: std::mem::take(&mut self.history),
            raw: std::mem::take(&mut self.raw),
            scoring_channel: self.score_ch,
            scoring: self.setup.scoring.clone(),
            end_time_s: self.frontier_s,
            set_ends: self.set_ends.clone(),
            stopped_early,
            done_today: self.setup.done_today,
            median_points: std::mem::take(&mut self.median_points),
            channels: stream.map(|e| e.channels.clone()).unwrap_or_default(),
            warnings: stream.map(|e| e.warnings.clone()).unwrap_or_default(),
        }
    }
}

/// `m:ss.s` for the plain lines.
pub fn clock(t: f64) -> String {
    let m = (t / 60.0).floor();
    format!("{:>2}:{:04.1}", m as u64, t - 60.0 * m)
}

/// A way of showing the session as it happens.
pub trait SessionView: Send {
    fn start(&mut self, live: &LiveState) -> Result<(), OutputError>;
    /// After every block: the state and what happened since the last call.
    fn update(&mut self, live: &LiveState, notes: &[SessionNote]) -> Result<(), OutputError>;
    fn finish(&mut self, live: &LiveState, notes: &[SessionNote]) -> Result<(), OutputError>;
}

/// One line per event, for pipes, logs and `--plain`.
pub struct PlainView {
    out: Box<dyn std::io::Write + Send>,
    /// What was last said of each repetition (phase, rep): said again only when it changes.
    said: std::collections::HashMap<(usize, u32), String>,
}

impl PlainView {
    pub fn new(out: Box<dyn std::io::Write + Send>) -> Self {
        PlainView {
            out,
            said: std::collections::HashMap::new(),
        }
    }

    fn write(&mut self, notes: &[SessionNote]) -> Result<(), OutputError> {
        let mut any = false;
        for n in notes {
            if let SessionNote::Scored { rep, unit, .. } = n {
                let words = crate::sink::words::rep_message(rep, unit);
                if words.is_empty() || self.said.get(&(rep.phase, rep.rep)) == Some(&words) {
                    continue;
                }
                self.said.insert((rep.phase, rep.rep), words);
            }
            writeln!(self.out, "{}", crate::sink::words::note(n))
                .map_err(|e| OutputError::write("standard output", e))?;
            any = true;
        }
        if any {
            self.out
                .flush()
                .map_err(|e| OutputError::write("standard output", e))?;
        }
        Ok(())
    }
}

impl SessionView for PlainView {
    fn start(&mut self, live: &LiveState) -> Result<(), OutputError> {
        self.write(&[SessionNote::Started {
            protocol: live.protocol.clone(),
        }])
    }
    fn update(&mut self, _: &LiveState, notes: &[SessionNote]) -> Result<(), OutputError> {
        self.write(notes)
    }
    fn finish(&mut self, _: &LiveState, notes: &[SessionNote]) -> Result<(), OutputError> {
        self.write(notes)
    }
}

/// The session as a pipeline sink: runner, views, and the result handed back at the end.
pub struct SessionSink {
    runner: Option<SessionRunner>,
    views: Vec<Box<dyn SessionView>>,
    controls: Arc<Controls>,
    markers_seen: u32,
    result: Arc<Mutex<Option<SessionResult>>>,
}

impl SessionSink {
    pub fn new(
        runner: SessionRunner,
        views: Vec<Box<dyn SessionView>>,
        controls: Arc<Controls>,
    ) -> Self {
        SessionSink {
            runner: Some(runner),
            views,
            controls,
            markers_seen: 0,
            result: Arc::new(Mutex::new(None)),
        }
    }

    /// Where the result lands when the run finishes.
    pub fn result_handle(&self) -> Arc<Mutex<Option<SessionResult>>> {
        self.result.clone()
    }
}

impl Sink for SessionSink {
    fn start(&mut self, start: &RunStart) -> Result<(), OutputError> {
        let Some(r) = self.runner.as_mut() else {
            return Ok(());
        };
        r.start(&start.spec);
        r.update_live();
        let live = r.live().clone();
        let notes = r.take_notes();
        for v in self.views.iter_mut() {
            v.start(&live)?;
            v.update(&live, &notes)?;
        }
        Ok(())
    }

    fn block(&mut self, p: &Processed) -> Result<(), OutputError> {
        let Some(r) = self.runner.as_mut() else {
            return Ok(());
        };
        r.push(p);
        if r.live().finished {
            // The protocol is over: end the stream (a sensor streams on by itself).
            self.controls.quit.store(true, Ordering::SeqCst);
        }
        let asked = self.controls.marker_requests.load(Ordering::SeqCst);
        while self.markers_seen < asked {
            self.markers_seen += 1;
            let n = self.markers_seen;
            let note = self
                .controls
                .marker_notes
                .lock()
                .ok()
                .and_then(|m| m.get(&n).cloned());
            r.marker(&note.map_or_else(|| format!("M{n}"), |t| format!("M{n}: {t}")));
        }
        r.set_paused(self.controls.paused.load(Ordering::SeqCst));
        let note = self
            .controls
            .device_note
            .lock()
            .ok()
            .and_then(|n| n.clone());
        r.set_device_message(note);
        let notes = r.take_notes();
        let live = r.live().clone();
        for v in self.views.iter_mut() {
            v.update(&live, &notes)?;
        }
        Ok(())
    }

    fn finish(&mut self, end: &RunEnd) -> Result<(), OutputError> {
        let Some(r) = self.runner.take() else {
            return Ok(());
        };
        let stopped = self.controls.quit.load(Ordering::SeqCst) && !r.live().finished;
        let end_s = if r.live().finished {
            r.frontier_s
        } else {
            end.end_time_s
        };
        let result = r.finish(end_s, stopped, Some(end));
        let live = LiveState {
            finished: true,
            ..Default::default()
        };
        let mut notes = vec![SessionNote::ValidToday {
            valid: result
                .reps
                .iter()
                .filter(|x| x.passed() && x.kind == "hold")
                .count() as u32
                + result.done_today,
            goal: result.protocol.daily_goal_reps,
        }];
        if result.stopped_early {
            notes.push(SessionNote::ReportForWhatWasDone);
        }
        for v in self.views.iter_mut() {
            v.finish(&live, &notes)?;
        }
        if let Ok(mut slot) = self.result.lock() {
            *slot = Some(result);
        }
        Ok(())
    }
}
