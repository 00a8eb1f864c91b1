//! A device link: bytes from a [`Transport`] (a serial port, or a raw-byte log being replayed)
//! decoded into [`Block`]s with device-clock sample indices, gaps marked, and optionally recorded.
//!
//! Everything here depends only on the sequence of transport events and the host times they
//! carry, so replaying a raw-byte log gives the very same blocks as the live session did.
//!
//! Time: sample indices come from the decoder (counters, line slots) and never from arrival
//! time. The one exception is an unplugged cable: the device's counter restarts when it comes
//! back, so the length of that gap is estimated from the host times of the last sample before
//! and the first after (rounded to whole samples; at least one sample is counted lost). Samples
//! delivered before a gap never move.

use super::bitalino::BitalinoDecoder;
use super::cyton::CytonDecoder;
use super::line::LineDecoder;
pub use super::link_config::{parse_channel_requests, ChannelRequest, LinkConfig, WireFormat};
pub use super::link_record::{recording_paths, Gap, GapCause, LinkRecorder, RECORD_FLUSH_EVERY_S};
use super::rawlog::RawHeader;
pub use super::transport_event::{TransportEvent, TransportEventKind};
use super::wire::{Layout, LinkStats, Rows};
use super::Source;
use crate::error::{InputError, OutputError};
use crate::frame::{Block, ChannelChunk, ChannelSpec, Role, SignalKind, StreamSpec};
use crate::sidecar::Sidecar;
use serde::Serialize;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// No data for this long on an open port is reported (cable out, device off).
pub const SILENCE_REPORT_S: f64 = 1.0;

/// A byte source. `next_event` returns within about 0.25 s even when nothing happens (a
/// replugged Cyton's restart handshake can take up to 3.5 s).
pub trait Transport: Send {
    fn next_event(&mut self) -> Result<TransportEvent, LinkError>;
    /// The port path or file, for messages.
    fn name(&self) -> &str;
    /// Called once when the link ends (stop a streaming board).
    fn close(&mut self) {}
    /// Bytes of a torn last record dropped (replayed logs).
    fn torn_bytes(&self) -> u64 {
        0
    }
    /// Conditions met since the last call that the user must be told (damaged time stamps in
    /// a replayed log).
    fn take_warnings(&mut self) -> Vec<String> {
        Vec::new()
    }
}

/// Why a link cannot start or go on. Every message names the port (or file) and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("{port}: cannot open the serial port: {message}. {hint}")]
    Open {
        port: String,
        message: String,
        hint: String,
    },
    #[error("{port}: no {format} samples within {waited_s:.1} s ({bytes} bytes received). Is the device on and streaming, and are --format and --baud right?")]
    NoSamples {
        port: String,
        format: &'static str,
        waited_s: f64,
        bytes: u64,
    },
    #[error("{port}: {message}")]
    Channels { port: String, message: String },
    #[error("{port}: {message}")]
    Io { port: String, message: String },
    #[error(transparent)]
    RawLog(#[from] super::rawlog::RawLogError),
}

impl LinkError {
    fn into_input(self, name: &str) -> InputError {
        InputError::Format {
            path: PathBuf::from(name),
            message: match self {
                LinkError::Channels { message, .. } | LinkError::Io { message, .. } => message,
                other => other.to_string(),
            },
        }
    }
}

/// Something the user should be told while the link runs.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkStatus {
    /// No bytes for [`SILENCE_REPORT_S`] on an open port.
    Silent {
        port: String,
        for_s: f64,
    },
    /// Bytes arrive again after a reported silence.
    DataAgain {
        port: String,
    },
    /// The port went away; the link waits for it on the same path.
    Unplugged {
        port: String,
        reason: String,
        at_device_s: f64,
    },
    /// The port is back; samples resume after a marked gap.
    Replugged {
        port: String,
        after_s: f64,
    },
    /// Samples resumed after an unplug; this many were lost (estimated from host time).
    Resumed {
        port: String,
        lost_samples: u64,
        gap_s: f64,
    },
    /// The recording stopped (full disk, ...); what was written is kept.
    RecordingStopped {
        message: String,
    },
    /// Waiting for the device was given up, or a stop was requested.
    Ending {
        reason: String,
    },
    Warning(String),
}

impl std::fmt::Display for LinkStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkStatus::Silent { port, for_s } => write!(
                f,
                "{port}: no data for {for_s:.1} s — is the cable in and the device on?"
            ),
            LinkStatus::DataAgain { port } => write!(f, "{port}: data again"),
            LinkStatus::Unplugged {
                port,
                reason,
                at_device_s,
            } => write!(
                f,
                "{port}: device gone at {at_device_s:.2} s ({reason}). Waiting for it to come \
                 back on {port}; press Ctrl-C to stop and write the report."
            ),
            LinkStatus::Replugged { port, after_s } => {
                write!(f, "{port}: device back after {after_s:.1} s")
            }
            LinkStatus::Resumed {
                port,
                lost_samples,
                gap_s,
            } => write!(
                f,
                "{port}: samples resume; gap of {gap_s:.2} s ({lost_samples} samples) marked as lost"
            ),
            LinkStatus::RecordingStopped { message } => write!(f, "recording stopped: {message}"),
            LinkStatus::Ending { reason } => write!(f, "{reason}"),
            LinkStatus::Warning(w) => write!(f, "warning: {w}"),
        }
    }
}

/// What the link has seen so far; shared with the caller while the link runs elsewhere.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LinkReport {
    pub port: String,
    pub format: String,
    pub device: String,
    pub stats: LinkStats,
    pub gaps: Vec<Gap>,
    pub warnings: Vec<String>,
    /// Set when recording failed (full disk, ...): the message, naming the file.
    pub recording_error: Option<String>,
    /// Why the stream ended.
    pub ended_by: Option<String>,
    /// Most blocks waiting for the consumer at once (a slow consumer).
    pub max_queued_blocks: usize,
    /// Bytes of a torn last record dropped when replaying a raw log.
    pub torn_bytes: u64,
    /// How the stream's channels were chosen from the device's columns (see
    /// [`ChannelMap::notes`]).
    pub channel_map: Vec<String>,
}

/// Lets another thread end the stream cleanly (Ctrl-C): the link returns end-of-stream at the
/// next event, within about 0.25 s.
#[derive(Debug, Clone, Default)]
pub struct StopHandle(Arc<AtomicBool>);

impl StopHandle {
    /// A handle on an existing flag (e.g. one `signal_hook::flag::register` sets).
    pub fn from_flag(flag: Arc<AtomicBool>) -> Self {
        StopHandle(flag)
    }
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
    /// The flag itself (for `signal_hook::flag::register`).
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.0.clone()
    }
}

enum Decoder {
    Line(LineDecoder),
    Cyton(CytonDecoder),
    Bitalino(BitalinoDecoder),
}

impl Decoder {
    fn new(wire: &WireFormat) -> Self {
        match wire {
            WireFormat::Line(c) => Decoder::Line(LineDecoder::new(c.clone())),
            WireFormat::Cyton(c) => Decoder::Cyton(CytonDecoder::new(c)),
            WireFormat::CytonDaisy(c) => Decoder::Cyton(CytonDecoder::new_daisy(c)),
            WireFormat::Bitalino(c) => Decoder::Bitalino(BitalinoDecoder::new(c)),
        }
    }
    fn push(&mut self, bytes: &[u8], rows: &mut Rows, stats: &mut LinkStats) {
        match self {
            Decoder::Line(d) => d.push(bytes, rows, stats),
            Decoder::Cyton(d) => d.push(bytes, rows, stats),
            Decoder::Bitalino(d) => d.push(bytes, rows, stats),
        }
    }
    fn reset_link(&mut self) {
        match self {
            Decoder::Line(d) => d.reset_link(),
            Decoder::Cyton(d) => d.reset_link(),
            Decoder::Bitalino(d) => d.reset_link(),
        }
    }
    /// Known once a sample has been seen (always for a Cyton).
    fn layout(&self) -> Option<&Layout> {
        match self {
            Decoder::Line(d) => d.layout(),
            Decoder::Cyton(d) => Some(d.layout()),
            Decoder::Bitalino(d) => Some(d.layout()),
        }
    }
    fn take_warnings(&mut self) -> Vec<String> {
        match self {
            Decoder::Line(d) => d.take_warnings(),
            Decoder::Cyton(_) | Decoder::Bitalino(_) => Vec::new(),
        }
    }
}

/// Which decoded column feeds each stream channel, the factor to knip's unit, and the stream's
/// description.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelMap {
    pub columns: Vec<usize>,
    /// Values of column `columns[k]` are multiplied by `scales[k]` (mmHg → cmH2O, mV → µV).
    pub scales: Vec<f64>,
    pub spec: StreamSpec,
    /// How each channel was chosen, said once to the user and kept in `link.json`:
    /// `pfm → pfm_emg (uV)`, `p → pressure (mmHg × 1.35951 → cmH2O)`.
    pub notes: Vec<String>,
}

/// Which decoded column feeds each stream channel, and the stream's description. Without
/// `--channels`, columns whose labels say what they are (see [`super::line::label_meaning`])
/// map themselves; a single unlabelled column is pelvic-floor EMG; a board's first two channels
/// are pelvic floor and abdominal.
pub fn map_channels(
    port: &str,
    wire: &WireFormat,
    layout: &Layout,
    requests: &[ChannelRequest],
) -> Result<ChannelMap, LinkError> {
    use super::line::{factor_to_knip_unit, label_meaning};
    let err = |message: String| LinkError::Channels {
        port: port.to_string(),
        message,
    };
    let names: Vec<&str> = layout.columns.iter().map(|c| c.name.as_str()).collect();
    let listed = names.join(", ");
    let n = names.len();
    let mut picks: Vec<(usize, Role)> = Vec::new();
    let mut by_label = false;
    if requests.is_empty() {
        for (i, c) in layout.columns.iter().enumerate() {
            if let Some((r, _)) = label_meaning(&c.name) {
                picks.push((i, r));
            }
        }
        let mut ambiguous: Vec<String> = Vec::new();
        for (k, (_, r)) in picks.iter().enumerate() {
            if picks[..k].iter().any(|(_, o)| o == r) {
                let same: Vec<&str> = picks
                    .iter()
                    .filter(|(_, o)| o == r)
                    .map(|(i, _)| names[*i])
                    .collect();
                ambiguous.push(format!("{} all mean {r}", same.join(" and ")));
            }
        }
        if !ambiguous.is_empty() {
            ambiguous.dedup();
            return Err(err(format!(
                "the device's labels are ambiguous ({}; labels seen: {listed}); say which is \
                 which with --channels, e.g. --channels {}",
                ambiguous.join("; "),
                suggest_channels(n)
            )));
        }
        by_label = !picks.is_empty();
        if picks.is_empty() {
            match wire {
                WireFormat::Cyton(_) | WireFormat::CytonDaisy(_) | WireFormat::Bitalino(_) => {
                    picks = vec![(0, Role::PfmEmg)];
                    if n > 1 {
                        picks.push((1, Role::AbdEmg));
                    }
                }
                WireFormat::Line(_) if n == 1 => picks = vec![(0, Role::PfmEmg)],
                WireFormat::Line(_) => {
                    return Err(err(format!(
                        "the device sends {n} columns ({listed}) and their labels do not say \
                         which is which; say it with --channels, e.g. --channels {} (in column \
                         order) or --channels pfm_emg:1,pressure:3. Labels that map themselves: \
                         pfm, pfm_emg, pelvic, emg; abd, abd_emg, abdominal; p, pres, pressure, \
                         cmh2o, mmhg",
                        suggest_channels(n)
                    )))
                }
            }
        }
    } else {
        for (k, r) in requests.iter().enumerate() {
            let col = r.column.unwrap_or(k + 1);
            if col == 0 || col > n {
                return Err(err(format!(
                    "--channels asks for column {col} for {} but the device sends {n} columns \
                     ({listed})",
                    r.role
                )));
            }
            picks.push((col - 1, r.role));
        }
    }
    for (k, (_, r)) in picks.iter().enumerate() {
        if picks[..k].iter().any(|(_, o)| o == r) {
            return Err(err(format!(
                "channel role {r} is given twice in --channels"
            )));
        }
    }
    let rate_hz = layout.rate_hz.ok_or_else(|| {
        err(
            "the device does not declare its sampling rate (a `# rate_hz=` header line); \
             give it with --rate HZ"
                .to_string(),
        )
    })?;
    let mut channels = Vec::new();
    let mut scales = Vec::new();
    let mut notes = Vec::new();
    for &(col, role) in &picks {
        let column = &layout.columns[col];
        let mut c = ChannelSpec::new(role, rate_hz);
        // The device's unit: declared in a header, or implied by the label itself (`mmhg`).
        let unit = column
            .unit
            .clone()
            .or_else(|| label_meaning(&column.name).and_then(|(_, u)| u.map(str::to_string)));
        let mut scale = 1.0;
        let mut how = c.unit.clone();
        if let Some(u) = unit {
            match factor_to_knip_unit(role, &u) {
                Some(f) if f != 1.0 => {
                    scale = f;
                    how = format!("{u} × {f:.6} → {}", c.unit);
                }
                Some(_) => {}
                None => {
                    how = u.clone();
                    c.unit = u;
                }
            }
        }
        if column.name != role.column_name() && by_label {
            c.name = column.name.clone();
        }
        c.kind = SignalKind::Raw;
        notes.push(format!(
            "{} → {role} ({how}){}",
            column.name,
            if by_label { ", from its label" } else { "" }
        ));
        channels.push(c);
        scales.push(scale);
    }
    if by_label {
        for (i, name) in names.iter().enumerate() {
            if !picks.iter().any(|(c, _)| *c == i) {
                notes.push(format!("{name}: not used (give --channels to use it)"));
            }
        }
    }
    Ok(ChannelMap {
        columns: picks.iter().map(|p| p.0).collect(),
        scales,
        spec: StreamSpec {
            channels,
            start_time_s: 0.0,
        },
        notes,
    })
}

/// `pfm_emg,abd_emg,pressure` cut to `n` columns (at least one).
fn suggest_channels(n: usize) -> String {
    ["pfm_emg", "abd_emg", "pressure"][..n.clamp(1, 3)].join(",")
}

/// A decoded device stream over any transport; implements [`Source`] directly (blocking in
/// `next_block` on the transport). For a live port, [`super::serial::SerialSource`] runs this
/// on its own thread so a slow consumer never holds back reading or recording.
pub struct LinkSource<T: Transport> {
    transport: T,
    config: LinkConfig,
    decoder: Decoder,
    spec: StreamSpec,
    columns: Vec<usize>,
    /// Factor to knip's unit per channel (see [`ChannelMap::scales`]).
    scales: Vec<f64>,
    rate_hz: f64,
    rows: Rows,
    queue: VecDeque<Block>,
    /// Next expected absolute sample index.
    next_abs: u64,
    /// Absolute index of relative index 0 in the current link epoch (`None` until its first
    /// sample).
    epoch_offset: Option<u64>,
    epoch: u32,
    last_row_host_s: f64,
    last_data_host_s: f64,
    unplugged_at_s: Option<f64>,
    silent_reported: bool,
    max_index: Option<u64>,
    ended: bool,
    stop: StopHandle,
    stats: LinkStats,
    report: Arc<Mutex<LinkReport>>,
    status: Option<StatusCallback>,
    recorder: Option<LinkRecorder>,
    /// Events seen before recording started (the probe), for the raw log.
    early: Option<Vec<TransportEvent>>,
    device: String,
    baud: u32,
}

/// Tells the user about the link (called on the reading thread).
type StatusCallback = Box<dyn FnMut(&LinkStatus) + Send>;

/// Events kept from before recording starts, at most (then the raw log cannot start).
const MAX_EARLY_EVENTS: usize = 100_000;

impl<T: Transport> LinkSource<T> {
    /// Reads from `transport` until the stream's layout is known (the first sample for a
    /// text-line device) and builds the stream's channels.
    pub fn start(
        transport: T,
        config: LinkConfig,
        device: String,
        baud: u32,
    ) -> Result<Self, LinkError> {
        let name = transport.name().to_string();
        let mut link = LinkSource {
            decoder: Decoder::new(&config.wire),
            transport,
            spec: StreamSpec {
                channels: Vec::new(),
                start_time_s: 0.0,
            },
            columns: Vec::new(),
            scales: Vec::new(),
            rate_hz: 1.0,
            rows: Rows::default(),
            queue: VecDeque::new(),
            next_abs: 0,
            epoch_offset: None,
            epoch: 0,
            last_row_host_s: 0.0,
            last_data_host_s: 0.0,
            unplugged_at_s: None,
            silent_reported: false,
            max_index: None,
            ended: false,
            stop: StopHandle::default(),
            stats: LinkStats::default(),
            report: Arc::new(Mutex::new(LinkReport {
                port: name.clone(),
                format: config.wire.name().to_string(),
                device: device.clone(),
                ..LinkReport::default()
            })),
            status: None,
            recorder: None,
            early: Some(Vec::new()),
            config,
            device,
            baud,
        };
        // Probe: until the decoder knows the columns.
        let mut pending: Vec<TransportEvent> = Vec::new();
        loop {
            let e = link.transport.next_event()?;
            let host_s = e.host_s;
            if let TransportEventKind::Data(b) = &e.kind {
                let mut rows = Rows::default();
                let mut stats = LinkStats::default();
                link.decoder.push(b, &mut rows, &mut stats);
                link.stats.bytes += b.len() as u64;
                pending.push(e);
                if !rows.is_empty()
                    || matches!(link.decoder, Decoder::Cyton(_) | Decoder::Bitalino(_))
                {
                    break;
                }
            } else if matches!(e.kind, TransportEventKind::End) {
                return Err(link.no_samples(host_s));
            } else {
                pending.push(e);
            }
            if host_s >= link.config.probe_timeout_s || link.stop.is_stopped() {
                return Err(link.no_samples(host_s));
            }
        }
        let layout = link
            .decoder
            .layout()
            .cloned()
            .ok_or_else(|| link.no_samples(0.0))?;
        let ChannelMap {
            columns,
            scales,
            spec,
            notes,
        } = map_channels(&name, &link.config.wire, &layout, &link.config.channels)?;
        link.scales = scales;
        if let Ok(mut r) = link.report.lock() {
            r.channel_map = notes;
        }
        link.rate_hz = spec.channels.first().map_or(1.0, |c| c.rate_hz);
        link.max_index = link
            .config
            .duration_s
            .map(|d| (d * link.rate_hz).round().max(0.0) as u64);
        link.columns = columns;
        link.spec = spec;
        // Decode the probe again, for real, from a fresh decoder: the same bytes give the same
        // rows as a replay will.
        link.decoder = Decoder::new(&link.config.wire);
        link.stats = LinkStats::default();
        for e in pending {
            link.handle(e);
        }
        Ok(link)
    }

    fn no_samples(&self, waited_s: f64) -> LinkError {
        LinkError::NoSamples {
            port: self.transport.name().to_string(),
            format: self.config.wire.name(),
            waited_s,
            bytes: self.stats.bytes,
        }
    }

    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Share a stop flag made elsewhere (e.g. registered for Ctrl-C before opening).
    pub fn use_stop_handle(&mut self, stop: StopHandle) {
        self.stop = stop;
    }

    /// Counters, gaps and warnings so far (updated after every transport event).
    pub fn report(&self) -> Arc<Mutex<LinkReport>> {
        self.report.clone()
    }

    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// Tell the user about unplugs, silences, gaps, recording failures.
    pub fn on_status(&mut self, f: impl FnMut(&LinkStatus) + Send + 'static) {
        self.status = Some(Box::new(f));
    }

    /// Record from the first sample on: decoded samples to `csv_path` (+ `.json` sidecar),
    /// the bytes to `.raw`, lost runs to `.gaps.csv`. Must be called before the first block is
    /// taken.
    pub fn record_to(&mut self, csv_path: &Path, mut sidecar: Sidecar) -> Result<(), OutputError> {
        let early = self.early.take().ok_or_else(|| {
            OutputError::write(
                csv_path,
                std::io::Error::other("recording must start before the first block is read"),
            )
        })?;
        sidecar.channels = self.spec.channels.clone();
        sidecar.start_time_s = self.spec.start_time_s;
        // The first sample is about now: the wall-clock start of every device recording.
        if sidecar.started_at.is_none() {
            sidecar.started_at = Some(crate::sidecar::now_rfc3339());
        }
        if sidecar.device.is_empty() {
            sidecar.device = self.device.clone();
        }
        let header = RawHeader {
            software: format!("knip {}", env!("CARGO_PKG_VERSION")),
            port: self.transport.name().to_string(),
            baud: self.baud,
            link: self.config.clone(),
            device: self.device.clone(),
        };
        let mut rec = LinkRecorder::create(csv_path, &sidecar, &header, &early)?;
        // Blocks decoded during the probe, not yet handed out.
        for b in &self.queue {
            rec.csv.write_block(b)?;
        }
        if let Ok(r) = self.report.lock() {
            for g in &r.gaps {
                rec.gap(g)?;
            }
        }
        self.recorder = Some(rec);
        Ok(())
    }

    fn tell(&mut self, s: LinkStatus) {
        if let Some(f) = self.status.as_mut() {
            f(&s);
        }
        if let LinkStatus::Warning(w) = &s {
            if let Ok(mut r) = self.report.lock() {
                r.warnings.push(w.clone());
            }
        }
    }

    fn fail_recording(&mut self, e: OutputError) {
        self.recorder = None;
        let message = format!(
            "{e} Recording stopped; everything received until now is in the files already written."
        );
        if let Ok(mut r) = self.report.lock() {
            r.recording_error.get_or_insert(message.clone());
        }
        self.tell(LinkStatus::RecordingStopped { message });
        // A session without its recording would be lost data: end the stream cleanly.
        self.end("the recording failed".to_string());
    }

    fn end(&mut self, why: String) {
        if !self.ended {
            self.ended = true;
            if let Ok(mut r) = self.report.lock() {
                r.ended_by.get_or_insert(why);
            }
        }
    }

    /// Handle one transport event: decode, assemble blocks, mark gaps, record.
    fn handle(&mut self, e: TransportEvent) {
        if let Some(early) = self.early.as_mut() {
            if early.len() < MAX_EARLY_EVENTS {
                early.push(e.clone());
            }
        }
        if let Some(rec) = self.recorder.as_mut() {
            if let Err(err) = rec.raw.append(&e) {
                let path = rec.raw.path().to_path_buf();
                self.fail_recording(OutputError::write(path, err));
                return;
            }
        }
        let port = self.transport.name().to_string();
        for w in self.transport.take_warnings() {
            self.tell(LinkStatus::Warning(format!("{port}: {w}")));
        }
        match e.kind {
            TransportEventKind::Data(bytes) => {
                self.stats.bytes += bytes.len() as u64;
                self.last_data_host_s = e.host_s;
                if std::mem::take(&mut self.silent_reported) {
                    self.tell(LinkStatus::DataAgain { port: port.clone() });
                }
                self.rows.clear();
                let mut rows = std::mem::take(&mut self.rows);
                self.decoder.push(&bytes, &mut rows, &mut self.stats);
                self.assemble(&rows, e.host_s);
                self.rows = rows;
                for w in self.decoder.take_warnings() {
                    self.tell(LinkStatus::Warning(format!("{port}: {w}")));
                }
            }
            TransportEventKind::Idle => {
                let quiet_s = e.host_s - self.last_data_host_s;
                if self.unplugged_at_s.is_none()
                    && !self.silent_reported
                    && quiet_s >= SILENCE_REPORT_S
                {
                    self.silent_reported = true;
                    self.tell(LinkStatus::Silent {
                        port,
                        for_s: quiet_s,
                    });
                } else if let (Some(at), Some(limit)) =
                    (self.unplugged_at_s, self.config.reconnect_timeout_s)
                {
                    if e.host_s - at >= limit {
                        let reason = format!(
                            "{port}: the device did not come back within {limit:.0} s; ending the \
                             session"
                        );
                        self.tell(LinkStatus::Ending {
                            reason: reason.clone(),
                        });
                        self.end(reason);
                    }
                }
            }
            TransportEventKind::Unplugged(reason) => {
                self.stats.disconnects += 1;
                self.unplugged_at_s = Some(e.host_s);
                self.decoder.reset_link();
                self.epoch_offset = None;
                self.epoch += 1;
                let at_device_s = self.next_abs as f64 / self.rate_hz;
                self.tell(LinkStatus::Unplugged {
                    port,
                    reason,
                    at_device_s,
                });
            }
            TransportEventKind::Replugged => {
                self.stats.reconnects += 1;
                let after_s = self.unplugged_at_s.map_or(0.0, |t| e.host_s - t);
                self.unplugged_at_s = None;
                self.last_data_host_s = e.host_s;
                self.tell(LinkStatus::Replugged { port, after_s });
            }
            TransportEventKind::End => {
                let torn = self.transport.torn_bytes();
                if let Ok(mut r) = self.report.lock() {
                    r.torn_bytes = torn;
                }
                self.end("end of input".to_string());
            }
        }
        if let Ok(mut r) = self.report.lock() {
            r.stats = self.stats.clone();
            r.max_queued_blocks = r.max_queued_blocks.max(self.queue.len());
        }
        if let Some(rec) = self.recorder.as_mut() {
            if let Err(err) = rec.flush_if_due() {
                self.fail_recording(err);
            }
        }
    }

    /// Turn decoded rows (relative indices) into blocks of consecutive absolute indices.
    fn assemble(&mut self, rows: &Rows, host_s: f64) {
        let n_ch = self.columns.len();
        let mut block: Option<Block> = None;
        for k in 0..rows.len() {
            let rel = rows.indices[k];
            let mut unplug_gap = false;
            let offset = match self.epoch_offset {
                Some(o) => o,
                None => {
                    let first_abs = if self.next_abs == 0 {
                        0
                    } else {
                        // After an unplug: the device clock restarted; estimate the gap.
                        unplug_gap = true;
                        let dt = (host_s - self.last_row_host_s).max(0.0);
                        (self.next_abs - 1) + ((dt * self.rate_hz).round() as u64).max(1)
                    };
                    let o = first_abs.saturating_sub(rel);
                    self.epoch_offset = Some(o);
                    o
                }
            };
            let abs = offset + rel;
            if abs < self.next_abs {
                // Cannot happen with strictly increasing relative indices; never go back.
                continue;
            }
            if self.max_index.is_some_and(|m| abs >= m) {
                self.end("the requested duration was reached".to_string());
                break;
            }
            if abs > self.next_abs {
                let lost = abs - self.next_abs;
                let cause = if unplug_gap {
                    self.stats.lost_samples += lost;
                    self.stats.lost_while_unplugged += lost;
                    self.tell(LinkStatus::Resumed {
                        port: self.transport.name().to_string(),
                        lost_samples: lost,
                        gap_s: lost as f64 / self.rate_hz,
                    });
                    GapCause::Unplugged
                } else {
                    GapCause::Wire
                };
                let g = Gap {
                    start_index: self.next_abs,
                    lost_samples: lost,
                    start_s: self.spec.start_time_s + self.next_abs as f64 / self.rate_hz,
                    end_s: self.spec.start_time_s + abs as f64 / self.rate_hz,
                    cause,
                };
                if let Some(rec) = self.recorder.as_mut() {
                    if let Err(err) = rec.gap(&g) {
                        self.fail_recording(err);
                    }
                }
                if let Ok(mut r) = self.report.lock() {
                    r.gaps.push(g);
                }
                if let Some(b) = block.take() {
                    self.enqueue(b);
                }
            }
            let b = block.get_or_insert_with(|| Block {
                chunks: (0..n_ch)
                    .map(|_| ChannelChunk {
                        start_index: abs,
                        samples: Vec::new(),
                    })
                    .collect(),
            });
            let row = rows.row(k);
            for ((chunk, &col), &scale) in b.chunks.iter_mut().zip(&self.columns).zip(&self.scales)
            {
                chunk
                    .samples
                    .push(row.get(col).copied().unwrap_or(f64::NAN) * scale);
            }
            self.next_abs = abs + 1;
            self.last_row_host_s = host_s;
        }
        if let Some(b) = block {
            self.enqueue(b);
        }
    }

    /// A block is recorded the moment it is complete, before anyone consumes it.
    fn enqueue(&mut self, b: Block) {
        if let Some(rec) = self.recorder.as_mut() {
            if let Err(e) = rec.csv.write_block(&b) {
                self.fail_recording(e);
            }
        }
        self.queue.push_back(b);
    }

    /// The next block, waiting on the transport. `Ok(None)` once stopped, ended or out of input.
    pub fn next_block_or_end(&mut self) -> Result<Option<Block>, LinkError> {
        self.early = None;
        loop {
            if let Some(b) = self.queue.pop_front() {
                return Ok(Some(b));
            }
            if self.stop.is_stopped() && !self.ended {
                let reason = "stopped on request".to_string();
                self.end(reason);
            }
            if self.ended {
                self.finish_recording();
                self.transport.close();
                return Ok(None);
            }
            let e = match self.transport.next_event() {
                Ok(e) => e,
                Err(err) => {
                    self.end(err.to_string());
                    self.finish_recording();
                    self.transport.close();
                    return Err(err);
                }
            };
            self.handle(e);
        }
    }

    fn finish_recording(&mut self) {
        if let Some(rec) = self.recorder.take() {
            if let Err(e) = rec.finish() {
                let message = e.to_string();
                if let Ok(mut r) = self.report.lock() {
                    r.recording_error.get_or_insert(message.clone());
                }
                self.tell(LinkStatus::RecordingStopped { message });
            }
        }
    }

    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }
}

impl<T: Transport> Source for LinkSource<T> {
    fn spec(&self) -> &StreamSpec {
        &self.spec
    }
    fn next_block(&mut self) -> Result<Option<Block>, InputError> {
        let name = self.transport.name().to_string();
        self.next_block_or_end().map_err(|e| e.into_input(&name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::line::LineConfig;

    /// Plays a fixed list of events, then idles (host time advancing 0.1 s per idle).
    struct Script {
        events: VecDeque<TransportEvent>,
        now_s: f64,
    }

    impl Transport for Script {
        fn next_event(&mut self) -> Result<TransportEvent, LinkError> {
            Ok(self.events.pop_front().unwrap_or_else(|| {
                self.now_s += 0.1;
                TransportEvent {
                    host_s: self.now_s,
                    kind: TransportEventKind::Idle,
                }
            }))
        }
        fn name(&self) -> &str {
            "script"
        }
    }

    fn data(host_s: f64, text: &str) -> TransportEvent {
        TransportEvent {
            host_s,
            kind: TransportEventKind::Data(text.as_bytes().to_vec()),
        }
    }

    fn start(events: Vec<TransportEvent>, cfg: impl FnOnce(&mut LinkConfig)) -> LinkSource<Script> {
        let mut config = LinkConfig::new(WireFormat::Line(LineConfig::default()));
        cfg(&mut config);
        let now_s = events.last().map_or(0.0, |e| e.host_s);
        LinkSource::start(
            Script {
                events: events.into(),
                now_s,
            },
            config,
            "test".into(),
            115_200,
        )
        .expect("start")
    }

    fn drain(link: &mut LinkSource<Script>) -> Vec<(u64, f64)> {
        let mut out = Vec::new();
        while let Ok(Some(b)) = link.next_block_or_end() {
            let c = &b.chunks[0];
            out.extend(
                c.samples
                    .iter()
                    .enumerate()
                    .map(|(k, v)| (c.start_index + k as u64, *v)),
            );
        }
        out
    }

    #[test]
    fn duration_stops_at_the_exact_sample() {
        let mut text = String::from("# rate_hz=10\n");
        for k in 0..50 {
            text.push_str(&format!("{k}\n"));
        }
        let mut link = start(vec![data(0.0, &text)], |c| c.duration_s = Some(2.0));
        let got = drain(&mut link);
        assert_eq!(got.len(), 20);
        assert_eq!(got[19], (19, 19.0));
        let r = link.report();
        let ended = r.lock().map(|r| r.ended_by.clone()).ok().flatten();
        assert_eq!(ended.as_deref(), Some("the requested duration was reached"));
    }

    #[test]
    fn reconnect_timeout_ends_the_stream_cleanly() {
        let events = vec![
            data(0.0, "# rate_hz=10\n1\n2\n"),
            TransportEvent {
                host_s: 0.2,
                kind: TransportEventKind::Unplugged("gone".into()),
            },
        ];
        let mut link = start(events, |c| c.reconnect_timeout_s = Some(1.0));
        let statuses = Arc::new(Mutex::new(Vec::new()));
        let s2 = statuses.clone();
        link.on_status(move |s| s2.lock().expect("status").push(s.clone()));
        let got = drain(&mut link);
        assert_eq!(got, vec![(0, 1.0), (1, 2.0)]);
        let st = statuses.lock().expect("status").clone();
        assert!(matches!(st[0], LinkStatus::Unplugged { .. }));
        assert!(st.iter().any(
            |s| matches!(s, LinkStatus::Ending { reason } if reason.contains("did not come back"))
        ));
        // Silence is not reported while unplugged (the unplug was).
        assert!(!st.iter().any(|s| matches!(s, LinkStatus::Silent { .. })));
    }

    #[test]
    fn silence_is_reported_once_after_a_second() {
        let mut link = start(vec![data(0.0, "# rate_hz=10\n1\n")], |c| {
            c.duration_s = Some(10.0)
        });
        let statuses = Arc::new(Mutex::new(Vec::new()));
        let s2 = statuses.clone();
        link.on_status(move |s| s2.lock().expect("status").push(s.clone()));
        let stop = link.stop_handle();
        assert!(matches!(link.next_block_or_end(), Ok(Some(_))));
        // 30 idle events = 3 s of host time, then stop.
        for _ in 0..30 {
            link.handle(TransportEvent {
                host_s: link.transport.now_s + 0.1,
                kind: TransportEventKind::Idle,
            });
            link.transport.now_s += 0.1;
        }
        stop.stop();
        assert!(matches!(link.next_block_or_end(), Ok(None)));
        let st = statuses.lock().expect("status").clone();
        let silent: Vec<f64> = st
            .iter()
            .filter_map(|s| match s {
                LinkStatus::Silent { for_s, .. } => Some(*for_s),
                _ => None,
            })
            .collect();
        assert_eq!(silent.len(), 1);
        assert!(silent[0] >= SILENCE_REPORT_S && silent[0] < SILENCE_REPORT_S + 0.15);
    }

    #[test]
    fn channel_requests_parse_and_map() {
        let r = parse_channel_requests("pfm_emg:3, abd_emg").expect("parse");
        assert_eq!(r[0].column, Some(3));
        assert_eq!(r[1].column, None);
        assert!(parse_channel_requests("emg").is_err());
        assert!(parse_channel_requests("pfm_emg:0").is_err());
        let layout = Layout {
            columns: (1..=3)
                .map(|i| crate::source::wire::Column {
                    name: format!("ch{i}"),
                    unit: None,
                })
                .collect(),
            rate_hz: Some(100.0),
        };
        let wire = WireFormat::Line(LineConfig::default());
        let m = map_channels("p", &wire, &layout, &r).expect("map");
        assert_eq!(m.columns, vec![2, 1]);
        assert_eq!(m.spec.channels[0].role, Role::PfmEmg);
        let err = map_channels("p", &wire, &layout, &[]).expect_err("ambiguous");
        assert!(err.to_string().contains("--channels"));
        let no_rate = Layout {
            rate_hz: None,
            ..layout
        };
        let err = map_channels("p", &wire, &no_rate, &r).expect_err("no rate");
        assert!(err.to_string().contains("--rate"));
    }
}
