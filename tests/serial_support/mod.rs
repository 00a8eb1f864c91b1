//! Emulated serial devices on pseudo-terminal pairs, for tests without hardware.
//!
//! The code under test opens a stable path (a symlink in a temp folder, like udev's
//! `/dev/serial/by-id/…`) that points at the slave end; the test plays the device on the master
//! end. Unplugging closes the master and removes the link; replugging makes a new pair and
//! points the link at its slave, so the device comes back "on the same path".
#![allow(dead_code)]

use knip::source::cyton::{encode_packet, CHANNELS};
use serialport::{SerialPort, TTYPort};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A plugged-in emulated device: the master end and the slave kept open (so the kernel keeps
/// the pair alive while the code under test reopens the slave).
pub struct Plug {
    pub master: TTYPort,
    _slave: TTYPort,
}

pub struct VirtualPort {
    pub dir: tempfile::TempDir,
    pub link: PathBuf,
}

impl VirtualPort {
    pub fn new() -> VirtualPort {
        let dir = tempfile::tempdir().expect("temp dir");
        let link = dir.path().join("ttyKNIP0");
        VirtualPort { dir, link }
    }

    pub fn path(&self) -> String {
        self.link.display().to_string()
    }

    /// Plug a device in: a new pty pair behind the link.
    pub fn plug(&self) -> Plug {
        let (mut master, slave) = TTYPort::pair().expect("pty pair");
        // `knip` runs as a child process in some tests: it must not inherit the master end,
        // or the pair never closes when the test pulls the cable.
        for fd in [master.as_raw_fd(), slave.as_raw_fd()] {
            // SAFETY: fcntl on descriptors this function owns.
            unsafe {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
            }
        }
        master
            .set_timeout(Duration::from_millis(20))
            .expect("timeout");
        let name = slave.name().expect("slave name");
        let _ = std::fs::remove_file(&self.link);
        std::os::unix::fs::symlink(&name, &self.link).expect("symlink");
        Plug {
            master,
            _slave: slave,
        }
    }

    /// Pull the cable: the link disappears, the pair closes.
    pub fn unplug(&self, plug: Plug) {
        let _ = std::fs::remove_file(&self.link);
        drop(plug);
    }
}

impl Default for VirtualPort {
    fn default() -> Self {
        Self::new()
    }
}

/// Sleep until `t0 + at`.
pub fn sleep_until(t0: Instant, at: Duration) {
    let now = t0.elapsed();
    if at > now {
        std::thread::sleep(at - now);
    }
}

/// Write all of `bytes`, retrying while the pty is full; gives up after 2 s without progress
/// (nobody reads any more) and returns false.
pub fn write_all(port: &mut TTYPort, mut bytes: &[u8]) -> bool {
    let mut stuck_since = Instant::now();
    while !bytes.is_empty() {
        match port.write(bytes) {
            Ok(n) => {
                bytes = &bytes[n..];
                stuck_since = Instant::now();
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                if stuck_since.elapsed() > Duration::from_secs(2) {
                    return false;
                }
            }
            Err(_) => return false,
        }
    }
    true
}

/// Play text lines at `rate_hz`, `per_write` lines per write, paced in real time × `speed`.
pub fn play_lines(
    port: &mut TTYPort,
    lines: &[String],
    rate_hz: f64,
    per_write: usize,
    speed: f64,
) {
    let t0 = Instant::now();
    for (k, chunk) in lines.chunks(per_write.max(1)).enumerate() {
        let at = Duration::from_secs_f64((k * per_write) as f64 / rate_hz / speed);
        sleep_until(t0, at);
        let text: String = chunk.concat();
        if !write_all(port, text.as_bytes()) {
            return;
        }
    }
}

/// An emulated OpenBCI Cyton behind a pty master: answers `v` with its banner and `$$$`,
/// streams after `b` until `s`.
pub struct CytonEmulator {
    pub plug: Plug,
    streaming: bool,
    buf: [u8; 64],
    banner: &'static [u8],
}

pub const CYTON_BANNER: &[u8] =
    b"OpenBCI V3 8-16 channel\nOn Board ADS1299 Device ID: 0x3E\nLIS3DH Device ID: 0x33\nFirmware: v3.1.2\n$$$";
/// What a Cyton with the Daisy module answers to `v`.
pub const DAISY_BANNER: &[u8] =
    b"OpenBCI V3 8-16 channel\nOn Board ADS1299 Device ID: 0x3E\nOn Daisy ADS1299 Device ID: 0x3E\nLIS3DH Device ID: 0x33\nFirmware: v3.1.2\n$$$";

impl CytonEmulator {
    pub fn new(plug: Plug) -> Self {
        Self::with_banner(plug, CYTON_BANNER)
    }

    /// A board that answers `v` with `banner` (e.g. [`DAISY_BANNER`]).
    pub fn with_banner(plug: Plug, banner: &'static [u8]) -> Self {
        CytonEmulator {
            plug,
            streaming: false,
            buf: [0; 64],
            banner,
        }
    }

    /// Handle commands from the host until it asks to stream (or `timeout`).
    pub fn wait_for_start(&mut self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            self.poll_commands();
            if self.streaming {
                return true;
            }
        }
        false
    }

    /// Read and answer pending commands.
    pub fn poll_commands(&mut self) {
        match self.plug.master.read(&mut self.buf) {
            Ok(n) => {
                for i in 0..n {
                    match self.buf[i] {
                        b'v' => {
                            self.streaming = false;
                            let _ = write_all(&mut self.plug.master, self.banner);
                        }
                        b'b' => self.streaming = true,
                        b's' => self.streaming = false,
                        _ => {}
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => {}
        }
    }

    pub fn streaming(&self) -> bool {
        self.streaming
    }

    pub fn write(&mut self, bytes: &[u8]) {
        let _ = write_all(&mut self.plug.master, bytes);
    }
}

/// An emulated BITalino (r)evolution behind a pty master: answers the version command, takes
/// the rate and the live-mode channel mask, stops on `0x00`.
pub struct BitalinoEmulator {
    pub plug: Plug,
    streaming: bool,
    /// Rate set by the host, Hz.
    pub rate_hz: Option<u32>,
    /// Inputs in the start command, 1-based.
    pub analog: Vec<u8>,
    /// Every command byte received, in order.
    pub commands: Vec<u8>,
    buf: [u8; 64],
}

pub const BITALINO_VERSION: &[u8] = b"BITalino_v5.2\n";

impl BitalinoEmulator {
    pub fn new(plug: Plug) -> Self {
        BitalinoEmulator {
            plug,
            streaming: false,
            rate_hz: None,
            analog: Vec::new(),
            commands: Vec::new(),
            buf: [0; 64],
        }
    }

    pub fn wait_for_start(&mut self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            self.poll_commands();
            if self.streaming {
                return true;
            }
        }
        false
    }

    /// Read and answer pending commands (the byte meanings of `bitalino.py`).
    pub fn poll_commands(&mut self) {
        if let Ok(n) = self.plug.master.read(&mut self.buf) {
            for i in 0..n {
                let b = self.buf[i];
                self.commands.push(b);
                if b == 0x00 || b == 0xFF {
                    self.streaming = false;
                } else if b == 0x07 && !self.streaming {
                    let _ = write_all(&mut self.plug.master, b"\0junk\n");
                    let _ = write_all(&mut self.plug.master, BITALINO_VERSION);
                } else if b & 0x3F == 0x03 && !self.streaming {
                    self.rate_hz = Some([1, 10, 100, 1000][(b >> 6) as usize]);
                } else if b & 0x03 == 0x01 && !self.streaming {
                    self.analog = (1..=6u8).filter(|a| b & (1 << (a + 1)) != 0).collect();
                    self.streaming = true;
                }
            }
        }
    }

    pub fn streaming(&self) -> bool {
        self.streaming
    }

    pub fn write(&mut self, bytes: &[u8]) {
        let _ = write_all(&mut self.plug.master, bytes);
    }
}

/// Channel values of packet `k` (counts), distinct per channel and packet.
pub fn cyton_counts(k: u64) -> [i32; CHANNELS] {
    std::array::from_fn(|c| {
        ((k as i32 * 37) % 100_000) * if c % 2 == 0 { 1 } else { -1 } + c as i32
    })
}

pub fn cyton_packet(k: u64) -> [u8; 33] {
    encode_packet(k as u8, &cyton_counts(k), 0xC0)
}

/// The `knip` binary built for these tests.
pub fn knip_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_knip"))
}

/// Read a CSV into rows of strings (header included).
pub fn read_csv(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| l.split(',').map(|s| s.to_string()).collect())
        .collect()
}
