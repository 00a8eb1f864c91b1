//! Lab Streaming Layer outlet (`--lsl`): the samples as they come from the source, and a string
//! marker stream for contractions, cues and verdicts, for LabRecorder, OpenViBE, MNE-LSL, ….
//!
//! Streams: `knip EMG` (type `EMG`, the EMG channels), `knip Pressure` (type `Pressure`, when the
//! stream has a pressure channel) and `knip Markers` (type `Markers`, one string channel,
//! irregular rate). Each sample stream describes its channels in `<desc><channels>` with
//! `label`, `unit` and `type`, as the XDF meta-data conventions say.
//!
//! Time: every sample is stamped from the device clock (its index and nominal rate), mapped to
//! LSL's clock: `lsl_time = device_time + offset`, where `offset` starts as LSL's `local_clock()`
//! at the first block minus the device time of its last sample, and then follows the smallest
//! such difference seen in each 10-s window, moving at most 0.5 ms per second (500 ppm): the
//! device's crystal and the host's drift apart slowly, while USB delivery only adds delay. When
//! the source is not paced (`--fast`), device time runs faster than the host's and the offset is
//! kept fixed.
//!
//! Publishing never blocks the pipeline: messages go over a bounded channel to the outlet's own
//! thread; when it is full they are dropped and counted ([`LslPublisher::dropped_samples`]).
//!
//! The `lsl` crate builds liblsl with cmake, so this is a cargo feature: without it,
//! [`LslPublisher::start`] returns [`LslError::NotBuilt`].

use crate::error::OutputError;
use crate::event::EventKind;
use crate::frame::{Block, Role, StreamSpec};
use crate::pipeline::{Processed, RunEnd, RunStart, Sink};
use crate::source::Source;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Messages waiting for the outlet thread, at most.
pub const QUEUE: usize = 1024;
/// Incomplete rows kept waiting for a channel, at most.
pub const MAX_PENDING_ROWS: usize = 100_000;
/// Window over which the smallest host − device difference is taken, s.
pub const DRIFT_WINDOW_S: f64 = 10.0;
/// Fastest the clock offset may move, s per s (500 ppm).
pub const MAX_SLEW: f64 = 5e-4;

#[derive(Debug, thiserror::Error)]
pub enum LslError {
    #[error(
        "--lsl needs knip built with Lab Streaming Layer support: cargo build --release \
         --features lsl (it builds liblsl, which needs cmake and a C++ compiler; on glibc 2.34 or \
         later set CXXFLAGS=-DPTHREAD_STACK_MIN=16384)"
    )]
    NotBuilt,
    #[error("Lab Streaming Layer: {0}")]
    Lsl(String),
    #[error("--lsl: {0}")]
    Stream(String),
}

/// One sample stream: which stream channels feed it.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamPlan {
    pub name: String,
    pub kind: String,
    pub rate_hz: f64,
    /// Indices into the stream's channels.
    pub channels: Vec<usize>,
    /// (label, unit, type) per channel.
    pub described: Vec<(String, String, String)>,
}

/// The EMG stream and, when present, the pressure stream for `spec`.
pub fn plan_streams(spec: &StreamSpec) -> Result<Vec<StreamPlan>, LslError> {
    let mut plans = Vec::new();
    for (kind, is_it) in [
        ("EMG", (|r: Role| r.is_emg()) as fn(Role) -> bool),
        ("Pressure", |r: Role| r == Role::Pressure),
    ] {
        let chans: Vec<usize> = (0..spec.channels.len())
            .filter(|&i| is_it(spec.channels[i].role))
            .collect();
        let Some(&first) = chans.first() else {
            continue;
        };
        let rate_hz = spec.channels[first].rate_hz;
        if chans.iter().any(|&i| spec.channels[i].rate_hz != rate_hz) {
            return Err(LslError::Stream(format!(
                "the {kind} channels have different rates; an LSL stream has one"
            )));
        }
        plans.push(StreamPlan {
            name: format!("knip {kind}"),
            kind: kind.to_string(),
            rate_hz,
            described: chans
                .iter()
                .map(|&i| {
                    let c = &spec.channels[i];
                    (
                        c.name.clone(),
                        c.unit.clone(),
                        c.role.column_name().to_string(),
                    )
                })
                .collect(),
            channels: chans,
        });
    }
    if plans.is_empty() {
        return Err(LslError::Stream(
            "the stream has no channel to publish".into(),
        ));
    }
    Ok(plans)
}

/// Rows of one stream put together from per-channel chunks (channels of one stream share a
/// rate but their chunks need not line up).
#[derive(Debug, Default)]
struct RowAssembler {
    width: usize,
    rows: std::collections::BTreeMap<u64, Vec<Option<f64>>>,
    next: u64,
}

impl RowAssembler {
    fn add(&mut self, pos: usize, start_index: u64, samples: &[f64]) {
        for (k, &v) in samples.iter().enumerate() {
            let i = start_index + k as u64;
            if i < self.next {
                continue;
            }
            self.rows.entry(i).or_insert_with(|| vec![None; self.width])[pos] = Some(v);
        }
        // A channel that stopped delivering must not make the others pile up.
        while self.rows.len() > MAX_PENDING_ROWS {
            self.rows.pop_first();
        }
    }

    /// Complete rows in order; rows left incomplete behind a complete one are dropped (a gap).
    fn take(&mut self, out: &mut Vec<(u64, Vec<f64>)>) {
        let last_complete = self
            .rows
            .iter()
            .rev()
            .find(|(_, r)| r.iter().all(Option::is_some))
            .map(|(i, _)| *i);
        let Some(last) = last_complete else {
            return;
        };
        let rest = self.rows.split_off(&(last + 1));
        for (i, r) in std::mem::replace(&mut self.rows, rest) {
            if r.iter().all(Option::is_some) {
                out.push((i, r.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect()));
            }
        }
        self.next = last + 1;
    }
}

/// Maps device time to LSL time (see the module documentation).
#[derive(Debug, Clone)]
pub struct ClockMap {
    offset: Option<f64>,
    follow_host: bool,
    window_start: f64,
    window_min: f64,
}

impl ClockMap {
    pub fn new(follow_host: bool) -> Self {
        ClockMap {
            offset: None,
            follow_host,
            window_start: 0.0,
            window_min: f64::INFINITY,
        }
    }

    /// A block whose last sample is at `device_s` arrived at LSL time `host_s`.
    pub fn observe(&mut self, device_s: f64, host_s: f64) {
        let diff = host_s - device_s;
        match self.offset {
            None => {
                self.offset = Some(diff);
                self.window_start = host_s;
            }
            Some(o) if self.follow_host => {
                self.window_min = self.window_min.min(diff);
                let span = host_s - self.window_start;
                if span >= DRIFT_WINDOW_S {
                    let step = (self.window_min - o).clamp(-MAX_SLEW * span, MAX_SLEW * span);
                    self.offset = Some(o + step);
                    self.window_start = host_s;
                    self.window_min = f64::INFINITY;
                }
            }
            Some(_) => {}
        }
    }

    pub fn to_lsl(&self, device_s: f64) -> f64 {
        device_s + self.offset.unwrap_or(0.0)
    }
}

#[cfg_attr(not(feature = "lsl"), allow(dead_code))]
enum Msg {
    Samples {
        stream: usize,
        /// Device time of each row and its values.
        rows: Vec<(f64, Vec<f64>)>,
        /// Device time of the last sample of the block and LSL time it arrived.
        seen: (f64, f64),
    },
    Marker {
        device_s: f64,
        text: String,
    },
}

/// The outlets, fed from the pipeline without ever blocking it.
pub struct LslPublisher {
    tx: Option<crossbeam_channel::Sender<Msg>>,
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
    dropped: Arc<AtomicU64>,
    plans: Vec<StreamPlan>,
    assemblers: Vec<RowAssembler>,
    start_time_s: f64,
    now: fn() -> f64,
}

impl LslPublisher {
    /// Create the outlets for `spec` (device `source_id`). `follow_host`: the source is paced
    /// by a device or in real time, so the clock mapping follows the host's clock.
    pub fn start(
        spec: &StreamSpec,
        source_id: &str,
        follow_host: bool,
    ) -> Result<LslPublisher, LslError> {
        let plans = plan_streams(spec)?;
        let (tx, rx) = crossbeam_channel::bounded::<Msg>(QUEUE);
        let (ready_tx, ready_rx) = crossbeam_channel::bounded::<Result<(), String>>(1);
        let plans2 = plans.clone();
        let source_id = source_id.to_string();
        let thread = std::thread::Builder::new()
            .name("knip-lsl".into())
            .spawn(move || backend::run(plans2, source_id, follow_host, rx, ready_tx))
            .map_err(|e| LslError::Lsl(e.to_string()))?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(if e == backend::NOT_BUILT {
                    LslError::NotBuilt
                } else {
                    LslError::Lsl(e)
                });
            }
            Err(_) => return Err(LslError::Lsl("the outlet thread stopped".into())),
        }
        Ok(LslPublisher {
            tx: Some(tx),
            thread: Some(thread),
            dropped: Arc::new(AtomicU64::new(0)),
            assemblers: plans
                .iter()
                .map(|p| RowAssembler {
                    width: p.channels.len(),
                    ..RowAssembler::default()
                })
                .collect(),
            plans,
            start_time_s: spec.start_time_s,
            now: backend::local_clock,
        })
    }

    /// Samples dropped because the outlet thread fell behind.
    pub fn dropped_samples(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn send(&self, m: Msg) {
        let Some(tx) = self.tx.as_ref() else {
            return;
        };
        if let Err(crossbeam_channel::TrySendError::Full(m)) = tx.try_send(m) {
            let n = match m {
                Msg::Samples { rows, .. } => rows.len() as u64,
                Msg::Marker { .. } => 1,
            };
            self.dropped.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Publish the samples of a block (as the source gave them).
    pub fn block(&mut self, b: &Block) {
        let host_s = (self.now)();
        for s in 0..self.plans.len() {
            for (pos, &c) in self.plans[s].channels.iter().enumerate() {
                if let Some(ch) = b.chunks.get(c) {
                    self.assemblers[s].add(pos, ch.start_index, &ch.samples);
                }
            }
            let mut indexed = Vec::new();
            self.assemblers[s].take(&mut indexed);
            let rate_hz = self.plans[s].rate_hz;
            let rows: Vec<(f64, Vec<f64>)> = indexed
                .into_iter()
                .map(|(i, r)| (self.start_time_s + i as f64 / rate_hz, r))
                .collect();
            if let Some(&(device_s, _)) = rows.last() {
                self.send(Msg::Samples {
                    stream: s,
                    rows,
                    seen: (device_s, host_s),
                });
            }
        }
    }

    /// A marker at device time `device_s`.
    pub fn marker(&self, device_s: f64, text: String) {
        self.send(Msg::Marker { device_s, text });
    }

    /// Close the outlets; returns the number of samples dropped.
    pub fn finish(&mut self) -> u64 {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.dropped_samples()
    }
}

impl Drop for LslPublisher {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Whether this knip was built with the `lsl` feature.
pub const BUILT: bool = cfg!(feature = "lsl");

/// The publisher shared by the source tap, the marker sink and a session view.
pub type SharedPublisher = Arc<std::sync::Mutex<LslPublisher>>;

/// For `--lsl`: create the outlets for `source`'s stream and wrap it so that every block is
/// published. Add [`LslMarkerSink::new`] of the returned publisher to the pipeline's sinks.
pub fn attach(
    source: Box<dyn Source>,
    source_id: &str,
    follow_host: bool,
) -> Result<(Box<dyn Source>, SharedPublisher), LslError> {
    let p = LslPublisher::start(source.spec(), source_id, follow_host)?;
    let shared = Arc::new(std::sync::Mutex::new(p));
    Ok((Box::new(LslTap::new(source, shared.clone())), shared))
}

/// Close the outlets; a warning when samples or markers had to be dropped.
pub fn finish(p: &SharedPublisher) -> Option<String> {
    let dropped = p.lock().map(|mut p| p.finish()).unwrap_or(0);
    (dropped > 0).then(|| {
        format!("LSL: {dropped} samples/markers were dropped because the outlet fell behind")
    })
}

/// A source that publishes every block it hands on.
pub struct LslTap {
    inner: Box<dyn Source>,
    publisher: Arc<std::sync::Mutex<LslPublisher>>,
}

impl LslTap {
    pub fn new(inner: Box<dyn Source>, publisher: Arc<std::sync::Mutex<LslPublisher>>) -> Self {
        LslTap { inner, publisher }
    }
}

impl Source for LslTap {
    fn spec(&self) -> &StreamSpec {
        self.inner.spec()
    }
    fn next_block(&mut self) -> Result<Option<Block>, crate::error::InputError> {
        let b = self.inner.next_block()?;
        if let Some(b) = &b {
            if let Ok(mut p) = self.publisher.lock() {
                p.block(b);
            }
        }
        Ok(b)
    }
    fn reader_warnings(&self) -> Vec<String> {
        self.inner.reader_warnings()
    }
}

/// A pipeline sink that publishes contraction onsets and decided events as markers.
pub struct LslMarkerSink {
    publisher: Arc<std::sync::Mutex<LslPublisher>>,
    names: Vec<String>,
}

impl LslMarkerSink {
    pub fn new(publisher: Arc<std::sync::Mutex<LslPublisher>>) -> Self {
        LslMarkerSink {
            publisher,
            names: Vec::new(),
        }
    }
}

impl Sink for LslMarkerSink {
    fn start(&mut self, start: &RunStart) -> Result<(), OutputError> {
        self.names = start.spec.channels.iter().map(|c| c.name.clone()).collect();
        Ok(())
    }
    fn block(&mut self, p: &Processed) -> Result<(), OutputError> {
        let Ok(publisher) = self.publisher.lock() else {
            return Ok(());
        };
        let name = |c: usize| self.names.get(c).cloned().unwrap_or_default();
        for o in &p.onsets {
            publisher.marker(o.onset_s, format!("onset {}", name(o.channel)));
        }
        for e in &p.events {
            if e.kind == EventKind::Contraction {
                publisher.marker(e.offset_s, format!("offset {}", name(e.channel)));
            }
            publisher.marker(
                e.onset_s,
                format!(
                    "{} {} onset={:.3} offset={:.3} peak={:.3}",
                    e.kind.as_str(),
                    name(e.channel),
                    e.onset_s,
                    e.offset_s,
                    e.peak
                ),
            );
        }
        Ok(())
    }
    fn finish(&mut self, _end: &RunEnd) -> Result<(), OutputError> {
        Ok(())
    }
}

/// The marker text for a guided session's note, if it is one to publish (cues, verdicts).
pub fn session_marker(note: &crate::session::run::SessionNote) -> Option<(f64, String)> {
    use crate::session::run::SessionNote as N;
    match note {
        N::Cue {
            at_s,
            phase,
            rep,
            reps,
            instruction,
        } => Some((*at_s, format!("cue {phase} {rep}/{reps}: {instruction}"))),
        N::Scored { at_s, rep, .. } => Some((
            *at_s,
            format!(
                "verdict {} rep {}: {}",
                rep.phase_name,
                rep.rep,
                rep.verdict
                    .map(|v| format!("{v:?}").to_lowercase())
                    .unwrap_or_else(|| "none".into())
            ),
        )),
        N::PhaseStarts { at_s, phase, .. } => Some((*at_s, format!("phase {phase}"))),
        N::Complete { at_s } => Some((*at_s, "session complete".into())),
        _ => None,
    }
}

/// A guided-session view that publishes cues and verdicts as markers.
pub struct LslSessionView {
    publisher: Arc<std::sync::Mutex<LslPublisher>>,
}

impl LslSessionView {
    pub fn new(publisher: Arc<std::sync::Mutex<LslPublisher>>) -> Self {
        LslSessionView { publisher }
    }
    fn publish(&self, notes: &[crate::session::run::SessionNote]) {
        if let Ok(p) = self.publisher.lock() {
            for n in notes {
                if let Some((at, text)) = session_marker(n) {
                    p.marker(at, text);
                }
            }
        }
    }
}

impl crate::session::run::SessionView for LslSessionView {
    fn start(&mut self, _live: &crate::session::run::LiveState) -> Result<(), OutputError> {
        Ok(())
    }
    fn update(
        &mut self,
        _live: &crate::session::run::LiveState,
        notes: &[crate::session::run::SessionNote],
    ) -> Result<(), OutputError> {
        self.publish(notes);
        Ok(())
    }
    fn finish(
        &mut self,
        _live: &crate::session::run::LiveState,
        notes: &[crate::session::run::SessionNote],
    ) -> Result<(), OutputError> {
        self.publish(notes);
        Ok(())
    }
}

#[cfg(not(feature = "lsl"))]
mod backend {
    use super::{Msg, StreamPlan};
    pub const NOT_BUILT: &str = "not built";
    pub fn local_clock() -> f64 {
        0.0
    }
    pub fn run(
        _plans: Vec<StreamPlan>,
        _source_id: String,
        _follow_host: bool,
        _rx: crossbeam_channel::Receiver<Msg>,
        ready: crossbeam_channel::Sender<Result<(), String>>,
    ) -> Result<(), String> {
        let _ = ready.send(Err(NOT_BUILT.into()));
        Err(NOT_BUILT.into())
    }
}

#[cfg(feature = "lsl")]
mod backend {
    use super::{ClockMap, Msg, StreamPlan};
    use lsl::ExPushable;
    pub const NOT_BUILT: &str = "not built";
    pub fn local_clock() -> f64 {
        lsl::local_clock()
    }

    fn outlet(plan: &StreamPlan, source_id: &str) -> Result<lsl::StreamOutlet, String> {
        let mut info = lsl::StreamInfo::new(
            &plan.name,
            &plan.kind,
            plan.channels.len() as u32,
            plan.rate_hz,
            lsl::ChannelFormat::Double64,
            &format!("{source_id} {}", plan.kind),
        )
        .map_err(|e| format!("{e:?}"))?;
        let mut desc = info.desc();
        desc.append_child_value("manufacturer", "knip");
        let mut chans = desc.append_child("channels");
        for (label, unit, kind) in &plan.described {
            let mut c = chans.append_child("channel");
            c.append_child_value("label", label);
            c.append_child_value("unit", unit);
            c.append_child_value("type", kind);
        }
        lsl::StreamOutlet::new(&info, 0, 360).map_err(|e| format!("{e:?}"))
    }

    pub fn run(
        plans: Vec<StreamPlan>,
        source_id: String,
        follow_host: bool,
        rx: crossbeam_channel::Receiver<Msg>,
        ready: crossbeam_channel::Sender<Result<(), String>>,
    ) -> Result<(), String> {
        let made: Result<Vec<lsl::StreamOutlet>, String> =
            plans.iter().map(|p| outlet(p, &source_id)).collect();
        let markers = lsl::StreamInfo::new(
            "knip Markers",
            "Markers",
            1,
            0.0,
            lsl::ChannelFormat::String,
            &format!("{source_id} Markers"),
        )
        .map_err(|e| format!("{e:?}"))
        .and_then(|i| lsl::StreamOutlet::new(&i, 0, 360).map_err(|e| format!("{e:?}")));
        let (outlets, markers) = match (made, markers) {
            (Ok(o), Ok(m)) => (o, m),
            (Err(e), _) | (_, Err(e)) => {
                let _ = ready.send(Err(e.clone()));
                return Err(e);
            }
        };
        let _ = ready.send(Ok(()));
        let mut clock = ClockMap::new(follow_host);
        for m in rx {
            match m {
                Msg::Samples { stream, rows, seen } => {
                    clock.observe(seen.0, seen.1);
                    for (device_s, row) in rows {
                        let t = clock.to_lsl(device_s);
                        let _ = outlets[stream].push_sample_ex(&row, t, true);
                    }
                }
                Msg::Marker { device_s, text } => {
                    let t = clock.to_lsl(device_s);
                    let _ = markers.push_sample_ex(&vec![text], t, true);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{ChannelChunk, ChannelSpec};

    #[test]
    fn streams_are_planned_by_role_with_labels_and_units() {
        let mut p = ChannelSpec::new(Role::Pressure, 50.0);
        p.name = "mmHg".into();
        let spec = StreamSpec {
            channels: vec![
                ChannelSpec::new(Role::PfmEmg, 1000.0),
                p,
                ChannelSpec::new(Role::AbdEmg, 1000.0),
            ],
            start_time_s: 0.0,
        };
        let plans = plan_streams(&spec).expect("plan");
        assert_eq!(plans.len(), 2);
        assert_eq!(plans[0].kind, "EMG");
        assert_eq!(plans[0].channels, vec![0, 2]);
        assert_eq!(plans[1].rate_hz, 50.0);
        assert_eq!(
            plans[1].described[0],
            ("mmHg".into(), "cmH2O".into(), "pressure".into())
        );
    }

    #[test]
    fn rows_assemble_across_unaligned_chunks_and_gaps() {
        let mut a = RowAssembler {
            width: 2,
            ..RowAssembler::default()
        };
        let mut out = Vec::new();
        a.add(0, 0, &[1.0, 2.0, 3.0]);
        a.add(1, 0, &[10.0, 20.0]);
        a.take(&mut out);
        assert_eq!(out, vec![(0, vec![1.0, 10.0]), (1, vec![2.0, 20.0])]);
        // Row 2 never completes on channel 1: dropped once row 3 is complete.
        a.add(1, 3, &[40.0]);
        a.add(0, 3, &[4.0]);
        out.clear();
        a.take(&mut out);
        assert_eq!(out, vec![(3, vec![4.0, 40.0])]);
        let _ = ChannelChunk {
            start_index: 0,
            samples: vec![],
        };
    }

    #[test]
    fn the_clock_follows_the_fastest_arrivals_within_the_slew_limit() {
        let mut c = ClockMap::new(true);
        c.observe(0.0, 100.05); // first block arrived 50 ms late
        assert!((c.to_lsl(1.0) - 101.05).abs() < 1e-12);
        // Later blocks arrive with 1 ms of delay: the offset moves down, at most 500 ppm.
        for k in 1..=30 {
            let d = k as f64;
            c.observe(d, 100.0 + d + 0.001);
        }
        let o = c.to_lsl(0.0) - 100.0;
        assert!(
            (0.05 - 30.0 * MAX_SLEW - 1e-9..0.05 - 0.01).contains(&o),
            "{o}"
        );
        for k in 31..=300 {
            let d = k as f64;
            c.observe(d, 100.0 + d + 0.001);
        }
        let o = c.to_lsl(0.0) - 100.0;
        assert!((o - 0.001).abs() < 1e-9, "{o}");
        let mut fixed = ClockMap::new(false);
        fixed.observe(0.0, 5.0);
        fixed.observe(100.0, 6.0);
        assert_eq!(fixed.to_lsl(100.0), 105.0);
    }

    #[cfg(not(feature = "lsl"))]
    #[test]
    fn without_the_feature_lsl_says_how_to_build_it() {
        let spec = StreamSpec {
            channels: vec![ChannelSpec::new(Role::PfmEmg, 1000.0)],
            start_time_s: 0.0,
        };
        let e = LslPublisher::start(&spec, "x", false)
            .err()
            .expect("not built");
        assert!(e.to_string().contains("--features lsl"), "{e}");
    }
}
