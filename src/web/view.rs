//! What the pipeline hands to the web pages: [`WebView`] is a session view (the patient's
//! state after every block, built from the same [`LiveState`] as the terminal's), [`WebSink`] a
//! pipeline sink (decimated traces for the clinician, the block's arrival time, and for
//! `record`/`replay` the patient's gauge without a protocol). Both only publish into the
//! [`Hub`]: they never wait for a browser.

use super::hub::{Hub, TRACE_RATE_HZ};
use crate::error::OutputError;
use crate::event::EventKind;
use crate::frame::{Role, StreamSpec};
use crate::pipeline::{Processed, RunEnd, RunStart, Sink};
use crate::session::calibrate::Calibration;
use crate::session::run::{LiveState, SessionNote, SessionView};
use crate::session::score::Verdict;
use crate::sink::tui::GAUGE_MAX_PCT;
use crate::sink::words;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// States are published at most this often (a `--fast` run makes thousands of blocks a second;
/// a page needs no more than its screen's refresh).
const MIN_PUBLISH_GAP: Duration = Duration::from_millis(10);

fn wall_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// When the block being handed to the sinks arrived (wall clock, ms since 1970) and how much
/// device time it spans: set by [`WebSink`], read by [`WebView`] on the same thread.
#[derive(Debug, Default)]
pub struct Arrival {
    ms: AtomicU64,
    span_ms: AtomicU64,
}

impl Arrival {
    fn set(&self, ms: f64, span_ms: f64) {
        self.ms.store(ms.to_bits(), Ordering::Relaxed);
        self.span_ms.store(span_ms.to_bits(), Ordering::Relaxed);
    }
    fn get(&self) -> (f64, f64) {
        (
            f64::from_bits(self.ms.load(Ordering::Relaxed)),
            f64::from_bits(self.span_ms.load(Ordering::Relaxed)),
        )
    }
}

/// A gauge scale before calibration: the strongest level seen so far (as the terminal's bar).
#[derive(Debug, Default, Clone, Copy)]
struct RunningScale(f64);

impl RunningScale {
    fn frac(&mut self, level: f64) -> f64 {
        if level.is_finite() {
            self.0 = self.0.max(level * 1.1);
        }
        if self.0 > 0.0 {
            (level / self.0).clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

/// The web pages' view of a guided session.
pub struct WebView {
    hub: Arc<Hub>,
    arrival: Arc<Arrival>,
    calibration: Option<Calibration>,
    spec_roles: Vec<Role>,
    /// Device time of the stream's first sample (trace index 0).
    t0_s: f64,
    scale: RunningScale,
    markers: Vec<(f64, String)>,
    last_publish: Option<Instant>,
    /// The last state of the session (the runner hands a blank one at the very end).
    last: Option<LiveState>,
}

impl WebView {
    /// `calibration`: a saved one the session starts with (one measured in the session arrives
    /// with its note).
    pub fn new(hub: Arc<Hub>, arrival: Arc<Arrival>, calibration: Option<Calibration>) -> Self {
        WebView {
            hub,
            arrival,
            calibration,
            spec_roles: Vec::new(),
            t0_s: 0.0,
            scale: RunningScale::default(),
            markers: Vec::new(),
            last_publish: None,
            last: None,
        }
    }

    /// The roles of the stream's channels (for the thresholds drawn on their traces).
    pub fn with_roles(mut self, spec: &StreamSpec) -> Self {
        self.spec_roles = spec.channels.iter().map(|c| c.role).collect();
        self.t0_s = spec.start_time_s;
        self
    }

    fn take_notes(&mut self, notes: &[SessionNote]) {
        for n in notes {
            match n {
                SessionNote::Calibrated { channels, .. } => {
                    self.calibration = Some(Calibration {
                        channels: channels.clone(),
                        source: "this session".into(),
                    });
                }
                SessionNote::Marker { at_s, n } => {
                    let label = self
                        .hub
                        .marker_note(*n as u32)
                        .map_or_else(|| format!("M{n}"), |t| format!("M{n}: {t}"));
                    self.markers.push((*at_s, label));
                }
                _ => {}
            }
        }
    }

    fn publish(&mut self, live: &LiveState, force: bool) {
        let now = Instant::now();
        if !force && self.last_publish.is_some_and(|t| now - t < MIN_PUBLISH_GAP) {
            return;
        }
        self.last_publish = Some(now);
        let (arrival_ms, span_ms) = self.arrival.get();
        let patient = patient_json(live, &mut self.scale, arrival_ms, span_ms);
        let (can_control, can_end) = self.hub.abilities();
        let thresholds: Vec<_> = self
            .calibration
            .iter()
            .flat_map(|c| c.channels.iter())
            .filter_map(|k| {
                let ch = self.spec_roles.iter().position(|r| *r == k.role)?;
                let scoring = [Role::PfmEmg, Role::Pressure]
                    .into_iter()
                    .find(|r| self.spec_roles.contains(r));
                let band =
                    live.target_pct_mvc
                        .filter(|_| scoring == Some(k.role))
                        .map(|(lo, hi)| {
                            let at = |p: f64| k.rest_mean + p / 100.0 * (k.mvc - k.rest_mean);
                            [at(lo), at(hi)]
                        });
                Some(json!({"ch": ch, "rest": k.rest_mean, "mvc": k.mvc, "band": band}))
            })
            .collect();
        let clinician = json!({
            "protocol": live.protocol,
            "phase": live.phase_name,
            "phase_no": live.phase_no,
            "phases": live.phase_count,
            "level": live.level,
            "unit": live.unit,
            "pct_mvc": live.level_pct_mvc,
            "thresholds": thresholds,
            "markers": self.markers,
            "t0": self.t0_s,
            "can_control": can_control,
            "can_end": can_end,
            "paused": live.paused,
        });
        self.hub.publish(patient.to_string(), clinician.to_string());
    }
}

/// The patient's page state: words and fractions, nothing to interpret.
fn patient_json(
    live: &LiveState,
    scale: &mut RunningScale,
    arrival_ms: f64,
    span_ms: f64,
) -> serde_json::Value {
    let (gauge, band) = match live.level_pct_mvc {
        Some(p) => (
            (p / GAUGE_MAX_PCT).clamp(0.0, 1.0),
            live.target_pct_mvc
                .map(|(lo, hi)| [lo / GAUGE_MAX_PCT, hi / GAUGE_MAX_PCT]),
        ),
        None => (scale.frac(live.level), None),
    };
    let in_band = band.is_some_and(|[lo, hi]| gauge >= lo && gauge <= hi);
    let (verdict, verdict_ok) = match &live.last_rep {
        Some(r) => (
            words::patient_rep_message(r, &live.unit),
            Some(r.verdict != Some(Verdict::Fail)),
        ),
        None => (String::new(), None),
    };
    let cue = if live.paused {
        words::cue(&crate::session::run::Cue::Paused)
    } else {
        words::cue(&live.cue)
    };
    json!({
        "mode": "session",
        "arrival_ms": arrival_ms,
        "span_ms": span_ms,
        "t": live.time_s,
        "cue": cue,
        "instruction": words::instruction(&live.cue, &live.instruction),
        "work": live.in_work,
        "countdown": live.countdown_s.ceil(),
        "rep": live.rep,
        "reps": live.reps_in_phase,
        "today": live.valid_today,
        "goal": live.daily_goal,
        "gauge": gauge,
        "band": band,
        "in_band": in_band,
        "calibrating": live.calibrating,
        "abd": live.abd_warning,
        "verdict": verdict,
        "verdict_ok": verdict_ok,
        "paused": live.paused,
        "finished": live.finished,
        "sensor": live.device_message,
    })
}

impl SessionView for WebView {
    fn start(&mut self, live: &LiveState) -> Result<(), OutputError> {
        self.publish(live, true);
        Ok(())
    }

    fn update(&mut self, live: &LiveState, notes: &[SessionNote]) -> Result<(), OutputError> {
        self.take_notes(notes);
        let force = live.finished || !notes.is_empty();
        self.publish(live, force);
        self.last = Some(live.clone());
        Ok(())
    }

    fn finish(&mut self, live: &LiveState, notes: &[SessionNote]) -> Result<(), OutputError> {
        self.take_notes(notes);
        self.hub.set_finished();
        // The session's last state, finished, with the day's count the session ends on.
        let mut done = self.last.take().unwrap_or_else(|| live.clone());
        done.finished = true;
        done.paused = false;
        done.in_work = false;
        done.cue = crate::session::run::Cue::Done;
        for n in notes {
            if let SessionNote::ValidToday { valid, goal } = n {
                done.valid_today = *valid;
                done.daily_goal = *goal;
            }
        }
        self.publish(&done, true);
        Ok(())
    }
}

/// Per-channel means over `n` samples: the clinician's traces at [`TRACE_RATE_HZ`].
#[derive(Debug, Clone, Default)]
struct Decimator {
    every: usize,
    acc: f64,
    n: usize,
}

impl Decimator {
    fn push(&mut self, samples: &[f64], out: &mut Vec<f32>) {
        for &x in samples {
            if x.is_finite() {
                self.acc += x;
            }
            self.n += 1;
            if self.n >= self.every {
                out.push((self.acc / self.n as f64) as f32);
                self.acc = 0.0;
                self.n = 0;
            }
        }
    }
}

/// The pipeline side of the web view: traces, arrival times and (without a session) the
/// patient's gauge.
pub struct WebSink {
    hub: Arc<Hub>,
    arrival: Arc<Arrival>,
    /// `record`/`replay`: no session runner, so this sink publishes the patient's state.
    standalone: bool,
    decimators: Vec<Decimator>,
    spec: Option<StreamSpec>,
    bar_channel: Option<usize>,
    abd_channel: Option<usize>,
    scale: RunningScale,
    level: f64,
    abd_active: bool,
    squeezes: u32,
    last_event: String,
    last_frontier_s: f64,
    last_publish: Option<Instant>,
    buf: Vec<f32>,
}

impl WebSink {
    pub fn new(hub: Arc<Hub>, arrival: Arc<Arrival>, standalone: bool) -> Self {
        WebSink {
            hub,
            arrival,
            standalone,
            decimators: Vec::new(),
            spec: None,
            bar_channel: None,
            abd_channel: None,
            scale: RunningScale::default(),
            level: 0.0,
            abd_active: false,
            squeezes: 0,
            last_event: String::new(),
            last_frontier_s: 0.0,
            last_publish: None,
            buf: Vec::new(),
        }
    }

    fn publish_standalone(&mut self, finished: bool) {
        let now = Instant::now();
        if !finished && self.last_publish.is_some_and(|t| now - t < MIN_PUBLISH_GAP) {
            return;
        }
        self.last_publish = Some(now);
        let (arrival_ms, span_ms) = self.arrival.get();
        let gauge = self.scale.frac(self.level);
        let patient = json!({
            "mode": "record",
            "arrival_ms": arrival_ms,
            "span_ms": span_ms,
            "t": self.last_frontier_s,
            "cue": if finished { "Recording over".to_string() } else { String::new() },
            "gauge": gauge,
            "band": null,
            "abd": self.abd_active,
            "squeezes": self.squeezes,
            "verdict": self.last_event,
            "verdict_ok": true,
            "finished": finished,
        });
        let (_, can_end) = self.hub.abilities();
        let (unit, name) = self
            .bar_channel
            .and_then(|c| self.spec.as_ref()?.channels.get(c))
            .map(|c| (c.unit.clone(), c.name.clone()))
            .unwrap_or_default();
        let clinician = json!({
            "protocol": "recording",
            "phase": name,
            "level": self.level,
            "unit": unit,
            "thresholds": [],
            "markers": [],
            "can_control": false,
            "can_end": can_end,
            "paused": false,
        });
        self.hub.publish(patient.to_string(), clinician.to_string());
    }
}

impl Sink for WebSink {
    fn start(&mut self, start: &RunStart) -> Result<(), OutputError> {
        let spec = &start.spec;
        self.decimators = spec
            .channels
            .iter()
            .map(|c| Decimator {
                every: ((c.rate_hz / TRACE_RATE_HZ).round() as usize).max(1),
                ..Default::default()
            })
            .collect();
        self.hub.set_channels(
            spec.channels.iter().map(|c| c.name.clone()).collect(),
            spec.channels.iter().map(|c| c.unit.clone()).collect(),
        );
        self.bar_channel = spec
            .channel_index(Role::PfmEmg)
            .or_else(|| spec.channel_index(Role::Pressure));
        self.abd_channel = spec.channel_index(Role::AbdEmg);
        self.last_frontier_s = spec.start_time_s;
        self.spec = Some(spec.clone());
        if self.standalone {
            self.publish_standalone(false);
        }
        Ok(())
    }

    fn block(&mut self, p: &Processed) -> Result<(), OutputError> {
        let span_ms = (p.frontier_s - self.last_frontier_s).max(0.0) * 1000.0;
        self.last_frontier_s = self.last_frontier_s.max(p.frontier_s);
        self.arrival.set(wall_ms(), span_ms);
        for (c, chunk) in p.envelope.iter().enumerate() {
            let Some(d) = self.decimators.get_mut(c) else {
                continue;
            };
            self.buf.clear();
            d.push(&chunk.samples, &mut self.buf);
            self.hub.push_points(c, &self.buf);
            if Some(c) == self.bar_channel {
                if let Some(&x) = chunk.samples.last() {
                    self.level = x;
                }
            }
        }
        if self.standalone {
            for e in &p.events {
                if e.kind == EventKind::Contraction && Some(e.channel) == self.bar_channel {
                    self.squeezes += 1;
                    self.last_event = format!("Squeeze {} counted", self.squeezes);
                }
                if Some(e.channel) == self.abd_channel {
                    self.abd_active = false;
                }
            }
            for n in &p.onsets {
                if Some(n.channel) == self.abd_channel {
                    self.abd_active = true;
                }
            }
            self.publish_standalone(false);
        }
        Ok(())
    }

    fn finish(&mut self, _end: &RunEnd) -> Result<(), OutputError> {
        if self.standalone {
            self.hub.set_finished();
            self.publish_standalone(true);
        }
        Ok(())
    }
}
