//! Serial ports: opening (with messages that say what to do), the Cyton start-up commands,
//! unplug detection and reopening the same path, and [`SerialSource`], the [`Source`] for a
//! port.
//!
//! ```no_run
//! use knip::source::serial::{SerialOptions, SerialSource};
//! use knip::source::link::{LinkConfig, WireFormat};
//! use knip::source::line::LineConfig;
//! let opts = SerialOptions::new("/dev/ttyACM0", LinkConfig::new(WireFormat::Line(LineConfig::default())));
//! let source = SerialSource::open(&opts)?; // reads until the stream's channels are known
//! let stop = source.stop_handle();         // stop.stop() ends the stream cleanly
//! // knip::pipeline::run(Box::new(source), &cfg, sinks, knip::pipeline::Pace::Unpaced)
//! # Ok::<(), knip::source::link::LinkError>(())
//! ```
//!
//! The port is read on its own thread: decoding and recording never wait for the consumer, so a
//! slow consumer cannot make the kernel drop bytes (blocks queue up instead, counted in
//! [`LinkReport::max_queued_blocks`]).

use super::bitalino::{self, BitalinoConfig};
use super::cyton;
use super::link::{
    LinkConfig, LinkError, LinkReport, LinkSource, LinkStatus, StopHandle, Transport,
    TransportEvent, TransportEventKind, WireFormat,
};
use super::Source;
use crate::error::{InputError, OutputError};
use crate::frame::{Block, StreamSpec};
use crate::sidecar::Sidecar;
use serialport::SerialPort;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest a read waits for bytes.
pub const READ_TIMEOUT: Duration = Duration::from_millis(50);
/// How often an unplugged port's path is tried again.
pub const REOPEN_EVERY: Duration = Duration::from_millis(200);
/// How long a Cyton has to answer the soft reset.
pub const CYTON_RESET_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a BITalino has to answer the version command.
pub const BITALINO_VERSION_TIMEOUT: Duration = Duration::from_secs(3);
/// Pause before each BITalino command (`bitalino.py` waits 0.1 s too).
pub const BITALINO_COMMAND_GAP: Duration = Duration::from_millis(100);
pub const DEFAULT_BAUD: u32 = 115_200;

/// Where and how to open a device.
#[derive(Debug, Clone)]
pub struct SerialOptions {
    pub port: String,
    pub baud: u32,
    pub link: LinkConfig,
}

impl SerialOptions {
    pub fn new(port: &str, link: LinkConfig) -> Self {
        SerialOptions {
            port: port.to_string(),
            baud: DEFAULT_BAUD,
            link,
        }
    }
}

/// Opens `path` for reading and writing; the error names the port and says what to do.
pub(crate) fn open_port(path: &str, baud: u32) -> Result<Box<dyn SerialPort>, LinkError> {
    // `open()` (not `open_native()`): the same code opens COM ports on Windows.
    serialport::new(path, baud)
        .timeout(READ_TIMEOUT)
        .open()
        .map_err(|e| {
            let text = e.to_string();
            let lower = text.to_ascii_lowercase();
            let hint = if !Path::new(path).exists() {
                "No such port: is the device plugged in? `knip devices` lists the ports."
            } else if lower.contains("permission") {
                "Permission denied: add yourself to the `dialout` group (sudo usermod -aG dialout \
                 $USER, then log in again)."
            } else if lower.contains("busy") || lower.contains("resource temporarily") {
                "The port is in use by another program (a serial monitor, the OpenBCI GUI): \
                 close it and try again."
            } else {
                "Check the path with `knip devices` and the --baud rate."
            };
            LinkError::Open {
                port: path.to_string(),
                message: text,
                hint: hint.to_string(),
            }
        })
}

/// Read and drop what is in flight for 100 ms (after a stop command).
fn drain(port: &mut Box<dyn SerialPort>) -> std::io::Result<()> {
    let _ = port.clear(serialport::ClearBuffer::Input);
    let mut buf = [0u8; 4096];
    let drain_until = Instant::now() + Duration::from_millis(100);
    while Instant::now() < drain_until {
        match port.read(&mut buf) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => break,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Stop a streaming BITalino, ask its version, set the rate and start live mode on the
/// configured inputs. Returns its version string (`BITalino_v5.2`).
fn bitalino_start(
    port: &mut Box<dyn SerialPort>,
    path: &str,
    config: &BitalinoConfig,
) -> Result<String, LinkError> {
    let io = |e: std::io::Error| LinkError::Io {
        port: path.to_string(),
        message: format!("cannot send commands to the BITalino: {e}"),
    };
    config.check().map_err(|message| LinkError::Io {
        port: path.to_string(),
        message,
    })?;
    let rate = bitalino::cmd_rate(config.rate_hz).unwrap_or(0xC3);
    let send = |port: &mut Box<dyn SerialPort>, b: u8| {
        std::thread::sleep(BITALINO_COMMAND_GAP);
        port.write_all(&[b])
    };
    send(port, bitalino::CMD_STOP).map_err(io)?;
    std::thread::sleep(BITALINO_COMMAND_GAP);
    drain(port).map_err(io)?;
    send(port, bitalino::CMD_VERSION).map_err(io)?;
    let mut reply: Vec<u8> = Vec::new();
    let mut buf = [0u8; 256];
    let deadline = Instant::now() + BITALINO_VERSION_TIMEOUT;
    let version = loop {
        if let Some(version) = bitalino::version_line(&reply) {
            break version;
        }
        if Instant::now() > deadline {
            return Err(LinkError::Io {
                port: path.to_string(),
                message: format!(
                    "the BITalino did not answer the version command (0x07) within {} s ({} \
                     bytes came back). Is it switched on, paired (Bluetooth: bind it to \
                     /dev/rfcomm0 first), and is this its port? For a text-line device use \
                     --format line.",
                    BITALINO_VERSION_TIMEOUT.as_secs(),
                    reply.len()
                ),
            });
        }
        match port.read(&mut buf) {
            Ok(n) => reply.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => return Err(io(e)),
        }
        if reply.len() > 4096 {
            reply.drain(..reply.len() - 64);
        }
    };
    send(port, rate).map_err(io)?;
    send(port, bitalino::cmd_start(&config.analog)).map_err(io)?;
    Ok(format!("PLUX {version}"))
}

/// Send the commands that make the device stream, per wire format. Returns what the device
/// said about itself.
fn start_device(
    port: &mut Box<dyn SerialPort>,
    path: &str,
    wire: &WireFormat,
) -> Result<String, LinkError> {
    match wire {
        WireFormat::Line(_) => Ok(format!("text-line device on {path}")),
        WireFormat::Cyton(_) | WireFormat::CytonDaisy(_) => {
            let said = cyton_start(port, path)?;
            let has_daisy = said.contains("Daisy");
            let want_daisy = matches!(wire, WireFormat::CytonDaisy(_));
            if has_daisy != want_daisy {
                let _ = port.write_all(&[cyton::CMD_STOP]);
                return Err(LinkError::Io {
                    port: path.to_string(),
                    message: if has_daisy {
                        format!(
                            "the board reports a Daisy module ({said}): its packets alternate \
                             between channels 1–8 and 9–16. Use --format cyton-daisy."
                        )
                    } else {
                        format!(
                            "--format cyton-daisy, but the board reports no Daisy module \
                             ({said}). Use --format cyton, or seat the Daisy and reset the board."
                        )
                    },
                });
            }
            Ok(said)
        }
        WireFormat::Bitalino(c) => bitalino_start(port, path, c),
    }
}

/// Stop a streaming Cyton, soft-reset it, and start streaming. Returns its reset reply.
fn cyton_start(port: &mut Box<dyn SerialPort>, path: &str) -> Result<String, LinkError> {
    let io = |e: std::io::Error| LinkError::Io {
        port: path.to_string(),
        message: format!("cannot send commands to the Cyton: {e}"),
    };
    port.write_all(&[cyton::CMD_STOP]).map_err(io)?;
    std::thread::sleep(Duration::from_millis(100));
    // Drain what was in flight.
    drain(port).map_err(io)?;
    let mut buf = [0u8; 4096];
    port.write_all(&[cyton::CMD_SOFT_RESET]).map_err(io)?;
    let mut reply = Vec::new();
    let deadline = Instant::now() + CYTON_RESET_TIMEOUT;
    while !reply.ends_with(cyton::RESET_REPLY_END) {
        if Instant::now() > deadline {
            return Err(LinkError::Io {
                port: path.to_string(),
                message: format!(
                    "the Cyton did not answer the soft reset `v` within {} s ({} bytes came \
                     back). Is the board switched on (PC), the dongle plugged in, and is this \
                     the dongle's port? For a text-line device use --format line.",
                    CYTON_RESET_TIMEOUT.as_secs(),
                    reply.len()
                ),
            });
        }
        match port.read(&mut buf) {
            Ok(n) => reply.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => return Err(io(e)),
        }
        if reply.len() > 1 << 16 {
            reply.drain(..reply.len() - 64);
        }
    }
    port.write_all(&[cyton::CMD_START]).map_err(io)?;
    let text = String::from_utf8_lossy(&reply)
        .replace("$$$", "")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    Ok(format!("OpenBCI Cyton ({text})"))
}

/// A serial port as a [`Transport`]: reads with a short timeout, reports an unplug on a read
/// error, and reopens the same path (re-sending a board's start commands) when it is back.
pub struct PortTransport {
    path: String,
    baud: u32,
    wire: WireFormat,
    port: Option<Box<dyn SerialPort>>,
    t0: Instant,
    next_try: Instant,
    buf: Vec<u8>,
    device: String,
}

impl PortTransport {
    pub fn open(path: &str, baud: u32, wire: &WireFormat) -> Result<PortTransport, LinkError> {
        let mut port = open_port(path, baud)?;
        let device = start_device(&mut port, path, wire)?;
        Ok(PortTransport {
            path: path.to_string(),
            baud,
            wire: wire.clone(),
            port: Some(port),
            t0: Instant::now(),
            next_try: Instant::now(),
            buf: vec![0u8; 4096],
            device,
        })
    }

    /// What the device said about itself.
    pub fn device(&self) -> &str {
        &self.device
    }

    fn now_s(&self) -> f64 {
        self.t0.elapsed().as_secs_f64()
    }
}

impl Transport for PortTransport {
    fn next_event(&mut self) -> Result<TransportEvent, LinkError> {
        let kind = if let Some(port) = self.port.as_mut() {
            match port.read(&mut self.buf) {
                Ok(0) => {
                    self.port = None;
                    TransportEventKind::Unplugged("the port closed".to_string())
                }
                Ok(n) => TransportEventKind::Data(self.buf[..n].to_vec()),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::Interrupted
                    ) =>
                {
                    TransportEventKind::Idle
                }
                Err(e) => {
                    self.port = None;
                    self.next_try = Instant::now() + REOPEN_EVERY;
                    TransportEventKind::Unplugged(e.to_string())
                }
            }
        } else {
            let now = Instant::now();
            if now < self.next_try {
                std::thread::sleep(self.next_try - now);
            }
            self.next_try = Instant::now() + REOPEN_EVERY;
            match open_port(&self.path, self.baud) {
                Ok(mut port) => {
                    let started = start_device(&mut port, &self.path, &self.wire).map(|_| ());
                    match started {
                        Ok(()) => {
                            self.port = Some(port);
                            TransportEventKind::Replugged
                        }
                        Err(_) => TransportEventKind::Idle,
                    }
                }
                Err(_) => TransportEventKind::Idle,
            }
        };
        Ok(TransportEvent {
            host_s: self.now_s(),
            kind,
        })
    }

    fn name(&self) -> &str {
        &self.path
    }

    fn close(&mut self) {
        let stop = match self.wire {
            WireFormat::Line(_) => None,
            WireFormat::Cyton(_) | WireFormat::CytonDaisy(_) => Some(cyton::CMD_STOP),
            WireFormat::Bitalino(_) => Some(bitalino::CMD_STOP),
        };
        if let (Some(b), Some(p)) = (stop, self.port.as_mut()) {
            let _ = p.write_all(&[b]);
        }
    }
}

type Item = Result<Block, LinkError>;

/// The [`Source`] for a device on a serial port. Open it, optionally start a recording, hand
/// it to [`crate::pipeline::run`]. Dropping it stops the reading thread and closes the
/// recording properly.
pub struct SerialSource {
    spec: StreamSpec,
    port: String,
    device: String,
    stop: StopHandle,
    report: Arc<Mutex<LinkReport>>,
    link: Option<LinkSource<PortTransport>>,
    rx: Option<crossbeam_channel::Receiver<Item>>,
    worker: Option<std::thread::JoinHandle<()>>,
    recording: Option<PathBuf>,
    /// Hand on an empty block after this long without samples (see [`Self::heartbeat`]).
    heartbeat: Option<std::time::Duration>,
    /// Index after each channel's last sample handed on.
    next_index: Vec<u64>,
}

impl SerialSource {
    /// Opens the port (for a Cyton: stop, soft reset, start streaming) and reads until the
    /// stream's channels are known: the first sample line of a text device. Fails with a
    /// message naming the port and what to do.
    pub fn open(opts: &SerialOptions) -> Result<SerialSource, LinkError> {
        let transport = PortTransport::open(&opts.port, opts.baud, &opts.link.wire)?;
        let device = transport.device().to_string();
        let link = LinkSource::start(transport, opts.link.clone(), device.clone(), opts.baud)?;
        Ok(SerialSource {
            spec: link.spec().clone(),
            port: opts.port.clone(),
            device,
            stop: link.stop_handle(),
            report: link.report(),
            link: Some(link),
            rx: None,
            worker: None,
            recording: None,
            heartbeat: None,
            next_index: Vec::new(),
        })
    }

    /// While no samples arrive (an unplugged sensor), hand on an empty block every `every`, so
    /// that a live view downstream keeps drawing (and can say what is wrong). The blocks carry
    /// no samples: nothing downstream counts them.
    pub fn heartbeat(&mut self, every: std::time::Duration) {
        self.heartbeat = Some(every);
    }

    /// Ends the stream cleanly from any thread (Ctrl-C): `next_block` returns `None` soon after.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Share a stop flag made elsewhere (registered for Ctrl-C, a UI's stop button).
    pub fn use_stop_handle(&mut self, stop: StopHandle) {
        if let Some(l) = self.link.as_mut() {
            l.use_stop_handle(stop.clone());
        }
        self.stop = stop;
    }

    /// Counters, gaps, warnings; live while the stream runs.
    pub fn report(&self) -> Arc<Mutex<LinkReport>> {
        self.report.clone()
    }

    pub fn device(&self) -> &str {
        &self.device
    }

    pub fn port(&self) -> &str {
        &self.port
    }

    /// Called on the reading thread for unplugs, silences, gaps and recording failures.
    pub fn on_status(&mut self, f: impl FnMut(&LinkStatus) + Send + 'static) {
        if let Some(l) = self.link.as_mut() {
            l.on_status(f);
        }
    }

    /// Record everything from the first sample: `csv_path` (+ `.json`, `.raw`, `.gaps.csv`).
    /// Call before the stream starts.
    pub fn record_to(&mut self, csv_path: &Path, sidecar: Sidecar) -> Result<(), OutputError> {
        match self.link.as_mut() {
            Some(l) => {
                l.record_to(csv_path, sidecar)?;
                self.recording = Some(csv_path.to_path_buf());
                Ok(())
            }
            None => Err(OutputError::write(
                csv_path,
                std::io::Error::other("the stream has already started"),
            )),
        }
    }

    fn start_thread(&mut self) {
        let Some(mut link) = self.link.take() else {
            return;
        };
        let (tx, rx) = crossbeam_channel::unbounded::<Item>();
        let report = self.report.clone();
        let stop = self.stop.clone();
        self.worker = Some(std::thread::spawn(move || loop {
            match link.next_block_or_end() {
                Ok(Some(b)) => {
                    if tx.send(Ok(b)).is_err() {
                        // Nobody listens any more: finish the recording properly.
                        stop.stop();
                        while let Ok(Some(_)) = link.next_block_or_end() {}
                        break;
                    }
                    if let Ok(mut r) = report.lock() {
                        r.max_queued_blocks = r.max_queued_blocks.max(tx.len());
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    break;
                }
            }
        }));
        self.rx = Some(rx);
    }
}

impl Source for SerialSource {
    fn spec(&self) -> &StreamSpec {
        &self.spec
    }

    fn next_block(&mut self) -> Result<Option<Block>, InputError> {
        if self.rx.is_none() {
            self.start_thread();
        }
        let Some(rx) = self.rx.as_ref() else {
            return Ok(None);
        };
        let received = match self.heartbeat {
            Some(every) => match rx.recv_timeout(every) {
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    let n = self.spec.channels.len();
                    self.next_index.resize(n, 0);
                    return Ok(Some(Block {
                        chunks: self
                            .next_index
                            .iter()
                            .map(|&i| crate::frame::ChannelChunk {
                                start_index: i,
                                samples: Vec::new(),
                            })
                            .collect(),
                    }));
                }
                Ok(item) => Ok(item),
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    Err(crossbeam_channel::RecvError)
                }
            },
            None => rx.recv(),
        };
        match received {
            Ok(Ok(b)) => {
                self.next_index.resize(b.chunks.len(), 0);
                for (n, c) in self.next_index.iter_mut().zip(&b.chunks) {
                    *n = c.end_index();
                }
                Ok(Some(b))
            }
            Ok(Err(e)) => Err(InputError::Format {
                path: PathBuf::from(&self.port),
                message: e.to_string(),
            }),
            Err(_) => {
                // The reading thread ended: wait for it, so the recording is closed.
                if let Some(w) = self.worker.take() {
                    let _ = w.join();
                }
                Ok(None)
            }
        }
    }
}

impl Drop for SerialSource {
    fn drop(&mut self) {
        self.stop.stop();
        self.rx = None;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
        // Never started: close a recording that was begun.
        if let Some(mut l) = self.link.take() {
            while let Ok(Some(_)) = l.next_block_or_end() {}
        }
    }
}
