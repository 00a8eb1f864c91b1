//! The state hub between the pipeline and the web server: the pipeline thread publishes the
//! latest state into a `tokio::sync::watch` slot (never waits for a browser: a slow viewer
//! simply skips to the newest state) and appends decimated trace points to a short ring; each
//! viewer's stream reads from there at its own pace.

use crate::session::run::Controls;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// Trace points per channel sent to the clinician's page, per second.
pub const TRACE_RATE_HZ: f64 = 50.0;
/// Seconds of trace kept for a page that connects (or falls behind).
pub const TRACE_KEEP_S: f64 = 30.0;

/// One published state: the patient's JSON and what only the clinician sees.
#[derive(Debug, Clone, Default)]
pub struct Frame {
    pub seq: u64,
    /// What the patient's page shows (no patient id, no numbers to interpret).
    pub patient: String,
    /// Thresholds, markers, the session's controls, report files: the clinician's page only.
    pub clinician: String,
}

/// Decimated envelope traces of every channel (the last [`TRACE_KEEP_S`]).
#[derive(Debug, Default)]
pub struct Traces {
    pub names: Vec<String>,
    pub units: Vec<String>,
    /// Per channel: absolute index of the first point kept, and the points.
    pub points: Vec<(u64, VecDeque<f32>)>,
}

impl Traces {
    fn cap() -> usize {
        (TRACE_RATE_HZ * TRACE_KEEP_S) as usize
    }

    /// Absolute index after the newest point of each channel.
    pub fn ends(&self) -> Vec<u64> {
        self.points
            .iter()
            .map(|(a, v)| a + v.len() as u64)
            .collect()
    }

    /// The points of each channel from `from[c]` on, as JSON (`[[start, [v, …]], …]`).
    pub fn json_since(&self, from: &[u64]) -> String {
        let mut s = String::from("[");
        for (c, (first, v)) in self.points.iter().enumerate() {
            if c > 0 {
                s.push(',');
            }
            let end = first + v.len() as u64;
            let a = from.get(c).copied().unwrap_or(0).clamp(*first, end);
            s.push_str(&format!("[{a},["));
            for (k, x) in v.iter().skip((a - first) as usize).enumerate() {
                if k > 0 {
                    s.push(',');
                }
                s.push_str(&format_point(*x));
            }
            s.push_str("]]");
        }
        s.push(']');
        s
    }
}

/// A trace value with 4 significant digits (a page draws, it does not compute).
fn format_point(x: f32) -> String {
    if !x.is_finite() {
        return "0".into();
    }
    let a = x.abs();
    let decimals = if a >= 1000.0 {
        0
    } else if a >= 100.0 {
        1
    } else if a >= 10.0 {
        2
    } else {
        3
    };
    format!("{x:.decimals$}")
}

/// What a clinician's page asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Pause,
    Resume,
    End,
    Marker(String),
}

/// Shared between the pipeline (publisher) and the server (readers).
#[derive(Debug)]
pub struct Hub {
    tx: watch::Sender<Arc<Frame>>,
    pub traces: Mutex<Traces>,
    /// The session's keys (pause, end, markers); `None` for record/replay.
    controls: Mutex<Option<Arc<Controls>>>,
    /// What ends a record/replay run (its stop handle), when it has one.
    stop: Mutex<Option<Arc<AtomicBool>>>,
    /// The report folder and the files in it, once written (served to the clinician).
    report: Mutex<Option<(PathBuf, Vec<String>)>>,
    finished: AtomicBool,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            tx: watch::Sender::new(Arc::new(Frame::default())),
            traces: Mutex::new(Traces::default()),
            controls: Mutex::new(None),
            stop: Mutex::new(None),
            report: Mutex::new(None),
            finished: AtomicBool::new(false),
        }
    }
}

impl Hub {
    pub fn new() -> Arc<Self> {
        Arc::new(Hub::default())
    }

    /// Publish a new state (the pipeline thread; never waits for a reader).
    pub fn publish(&self, patient: String, clinician: String) {
        let seq = self.tx.borrow().seq + 1;
        self.tx.send_replace(Arc::new(Frame {
            seq,
            patient,
            clinician,
        }));
    }

    pub fn subscribe(&self) -> watch::Receiver<Arc<Frame>> {
        self.tx.subscribe()
    }

    pub fn latest(&self) -> Arc<Frame> {
        self.tx.borrow().clone()
    }

    /// Viewers connected now.
    pub fn viewers(&self) -> usize {
        self.tx.receiver_count()
    }

    /// The channels of the stream (called once at its start).
    pub fn set_channels(&self, names: Vec<String>, units: Vec<String>) {
        if let Ok(mut t) = self.traces.lock() {
            t.points = vec![(0, VecDeque::new()); names.len()];
            t.names = names;
            t.units = units;
        }
    }

    /// Append decimated points of channel `c`.
    pub fn push_points(&self, c: usize, values: &[f32]) {
        if values.is_empty() {
            return;
        }
        if let Ok(mut t) = self.traces.lock() {
            if let Some((first, v)) = t.points.get_mut(c) {
                v.extend(values.iter().copied());
                while v.len() > Traces::cap() {
                    v.pop_front();
                    *first += 1;
                }
            }
        }
    }

    pub fn set_controls(&self, c: Arc<Controls>) {
        if let Ok(mut g) = self.controls.lock() {
            *g = Some(c);
        }
    }

    pub fn set_stop(&self, flag: Arc<AtomicBool>) {
        if let Ok(mut g) = self.stop.lock() {
            *g = Some(flag);
        }
    }

    /// What the clinician's page may offer: (pause/resume/marker, end).
    pub fn abilities(&self) -> (bool, bool) {
        let session = self.controls.lock().map(|g| g.is_some()).unwrap_or(false);
        let stop = self.stop.lock().map(|g| g.is_some()).unwrap_or(false);
        let live = !self.finished.load(Ordering::SeqCst);
        (session && live, (session || stop) && live)
    }

    /// Carry out a clinician's command; false when this run cannot do it.
    pub fn command(&self, c: &Command) -> bool {
        if self.finished.load(Ordering::SeqCst) {
            return false;
        }
        let controls = self.controls.lock().ok().and_then(|g| g.clone());
        match (c, controls) {
            (Command::Pause, Some(k)) => k.paused.store(true, Ordering::SeqCst),
            (Command::Resume, Some(k)) => k.paused.store(false, Ordering::SeqCst),
            (Command::End, Some(k)) => {
                k.quit.store(true, Ordering::SeqCst);
                k.paused.store(false, Ordering::SeqCst);
            }
            (Command::Marker(note), Some(k)) => {
                // The note is in place before the request is seen (the session reads the
                // count first, then reads the note under this lock).
                let Ok(mut notes) = k.marker_notes.lock() else {
                    return false;
                };
                let n = k.marker_requests.fetch_add(1, Ordering::SeqCst) + 1;
                if !note.is_empty() {
                    notes.insert(n, note.clone());
                }
            }
            (Command::End, None) => match self.stop.lock().ok().and_then(|g| g.clone()) {
                Some(f) => f.store(true, Ordering::SeqCst),
                None => return false,
            },
            _ => return false,
        }
        true
    }

    /// The note given with marker `n`.
    pub fn marker_note(&self, n: u32) -> Option<String> {
        let c = self.controls.lock().ok()?.clone()?;
        let notes = c.marker_notes.lock().ok()?;
        notes.get(&n).cloned()
    }

    pub fn set_finished(&self) {
        self.finished.store(true, Ordering::SeqCst);
    }

    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::SeqCst)
    }

    /// The report is written: its files become links on the clinician's page.
    pub fn set_report(&self, dir: PathBuf, files: Vec<String>) {
        if let Ok(mut g) = self.report.lock() {
            *g = Some((dir, files));
        }
        // Wake the pages so that they show the links.
        let f = self.latest();
        self.publish(f.patient.clone(), f.clinician.clone());
    }

    pub fn report(&self) -> Option<(PathBuf, Vec<String>)> {
        self.report.lock().ok()?.clone()
    }
}
