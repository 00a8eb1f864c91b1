//! `knip devices`: the serial ports of this machine, what is known of each (USB vendor and
//! product id, manufacturer, product, serial number), and which wire format it probably speaks.
//! The guess comes from the USB ids (the OpenBCI dongle is an FTDI FT231X; Arduino, ESP32,
//! CH340 and CP210x boards print text lines); [`probe_port`] listens to a port to be sure.

use crate::source::bitalino::{version_line, CMD_VERSION};
use crate::source::cyton::{CytonConfig, CytonDecoder};
use crate::source::line::{LineConfig, LineDecoder};
use crate::source::link::LinkError;
use crate::source::wire::{LinkStats, Rows};
use serde::Serialize;
use std::io::Write;
use std::time::{Duration, Instant};

/// One serial port.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PortInfo {
    pub path: String,
    /// `usb`, `pci`, `bluetooth` or `unknown`.
    pub bus: String,
    pub vid: Option<u16>,
    pub pid: Option<u16>,
    pub manufacturer: Option<String>,
    pub product: Option<String>,
    pub serial_number: Option<String>,
    /// `line`, `cyton`, or `None` when nothing suggests either.
    pub likely_format: Option<&'static str>,
    /// Why that guess.
    pub reason: String,
}

/// Guess the wire format from USB ids and names.
pub fn guess_format(
    vid: u16,
    pid: u16,
    manufacturer: Option<&str>,
    product: Option<&str>,
) -> (Option<&'static str>, &'static str) {
    let text = format!("{} {}", manufacturer.unwrap_or(""), product.unwrap_or("")).to_lowercase();
    if text.contains("openbci") {
        return (Some("cyton"), "names OpenBCI");
    }
    match (vid, pid) {
        (0x0403, 0x6015) => (
            Some("cyton"),
            "FTDI FT231X, the chip of the OpenBCI dongle (other FTDI gadgets use it too)",
        ),
        (0x0403, _) => (Some("line"), "FTDI serial adapter"),
        (0x2341, _) | (0x2a03, _) => (Some("line"), "Arduino"),
        (0x1b4f, _) => (Some("line"), "SparkFun board"),
        (0x239a, _) => (Some("line"), "Adafruit board"),
        (0x303a, _) => (Some("line"), "Espressif ESP32"),
        (0x10c4, 0xea60) => (
            Some("line"),
            "Silicon Labs CP210x (ESP32 and Arduino clones)",
        ),
        (0x1a86, _) => (Some("line"), "WCH CH340/CH9102 (Arduino clones)"),
        (0x16c0, 0x0483) => (Some("line"), "Teensy"),
        (0x2e8a, _) => (Some("line"), "Raspberry Pi Pico"),
        _ => (None, "unknown USB device"),
    }
}

/// The serial ports the operating system lists.
pub fn list_ports() -> Result<Vec<PortInfo>, serialport::Error> {
    let mut ports: Vec<PortInfo> = serialport::available_ports()?
        .into_iter()
        .map(|p| match p.port_type {
            serialport::SerialPortType::UsbPort(u) => {
                let (likely_format, reason) = guess_format(
                    u.vid,
                    u.pid,
                    u.manufacturer.as_deref(),
                    u.product.as_deref(),
                );
                PortInfo {
                    path: p.port_name,
                    bus: "usb".into(),
                    vid: Some(u.vid),
                    pid: Some(u.pid),
                    manufacturer: u.manufacturer,
                    product: u.product,
                    serial_number: u.serial_number,
                    likely_format,
                    reason: reason.to_string(),
                }
            }
            other => PortInfo {
                path: p.port_name,
                bus: match other {
                    serialport::SerialPortType::PciPort => "pci",
                    serialport::SerialPortType::BluetoothPort => "bluetooth",
                    _ => "unknown",
                }
                .into(),
                vid: None,
                pid: None,
                manufacturer: None,
                product: None,
                serial_number: None,
                likely_format: None,
                reason: "not a USB device (a built-in UART?)".into(),
            },
        })
        .collect();
    ports.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(ports)
}

/// The table `knip devices` prints.
pub fn format_ports(ports: &[PortInfo]) -> String {
    if ports.is_empty() {
        return "No serial ports found. Plug the device in (a USB data cable, not a charging \
                cable) and run `knip devices` again.\n"
            .to_string();
    }
    let mut s = String::new();
    for p in ports {
        let ids = match (p.vid, p.pid) {
            (Some(v), Some(d)) => format!("{v:04x}:{d:04x}"),
            _ => "-".into(),
        };
        s.push_str(&format!(
            "{}\n  bus {}  id {}  manufacturer {}  product {}  serial {}\n  format: {} ({})\n",
            p.path,
            p.bus,
            ids,
            p.manufacturer.as_deref().unwrap_or("-"),
            p.product.as_deref().unwrap_or("-"),
            p.serial_number.as_deref().unwrap_or("-"),
            p.likely_format.unwrap_or("unknown"),
            p.reason
        ));
    }
    s
}

/// What listening to a port showed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeResult {
    pub path: String,
    pub bytes: u64,
    /// `line`, `cyton`, `bitalino`, or `None` (silent or unrecognised).
    pub format: Option<&'static str>,
    pub detail: String,
}

/// How long a silent port gets to answer the BITalino version command.
const VERSION_REPLY_WAIT: Duration = Duration::from_millis(600);

/// Open `path` and listen for `listen` without sending anything, and decide from what arrives.
/// A port that stays silent is then asked for its version with BITalino's one-byte version
/// command (`0x07`; a BITalino streams only once started, and answers `BITalino_v…`). A Cyton
/// is not asked (its `v` resets the board): a silent FTDI port may still be a Cyton.
pub fn probe_port(path: &str, baud: u32, listen: Duration) -> Result<ProbeResult, LinkError> {
    let mut port = crate::source::serial::open_port(path, baud)?;
    let bytes = listen_for(&mut *port, path, listen, |_| false)?;
    if !bytes.is_empty() {
        return Ok(classify(path, &bytes));
    }
    port.write_all(&[CMD_VERSION])
        .and_then(|()| port.flush())
        .map_err(|e| io_error(path, "write", e))?;
    let reply = listen_for(&mut *port, path, VERSION_REPLY_WAIT, |b| {
        version_line(b).is_some()
    })?;
    Ok(match version_line(&reply) {
        Some(version) => ProbeResult {
            path: path.to_string(),
            bytes: reply.len() as u64,
            format: Some("bitalino"),
            detail: format!(
                "answers the version command: {version} (it streams once started: \
                 --format bitalino)"
            ),
        },
        None => classify(path, &reply),
    })
}

/// A failed read or write on the port being probed (the device went away).
fn io_error(path: &str, what: &str, e: std::io::Error) -> LinkError {
    LinkError::Io {
        port: path.to_string(),
        message: format!("{what} failed: {e}. Is the device still plugged in?"),
    }
}

/// Bytes from `port` for up to `listen` (1 MB at most), or until `enough` says so.
fn listen_for(
    port: &mut dyn serialport::SerialPort,
    path: &str,
    listen: Duration,
    enough: impl Fn(&[u8]) -> bool,
) -> Result<Vec<u8>, LinkError> {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    let until = Instant::now() + listen;
    while Instant::now() < until && bytes.len() < 1 << 20 && !enough(&bytes) {
        match port.read(&mut buf) {
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => return Err(io_error(path, "read", e)),
        }
    }
    Ok(bytes)
}

/// Decide the format of a captured byte stream.
pub fn classify(path: &str, bytes: &[u8]) -> ProbeResult {
    let mut stats = LinkStats::default();
    let mut rows = Rows::default();
    let mut cyton = CytonDecoder::new(&CytonConfig::default());
    cyton.push(bytes, &mut rows, &mut stats);
    let packets = stats.packets;
    let mut line_stats = LinkStats::default();
    let mut line_rows = Rows::default();
    let mut line = LineDecoder::new(LineConfig::default());
    line.push(bytes, &mut line_rows, &mut line_stats);
    let (format, detail) = if packets >= 3 && packets * 33 * 2 >= bytes.len() as u64 {
        (Some("cyton"), format!("{packets} Cyton packets"))
    } else if line_rows.len() >= 3 {
        let cols = line
            .layout()
            .map(|l| {
                l.columns
                    .iter()
                    .map(|c| c.name.clone())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        let rate = line
            .layout()
            .and_then(|l| l.rate_hz)
            .map(|r| format!(", declares {r} Hz"))
            .unwrap_or_else(|| ", no rate declared (give --rate)".into());
        (
            Some("line"),
            format!("{} sample lines, columns {cols}{rate}", line_rows.len()),
        )
    } else if bytes.is_empty() {
        (
            None,
            "silent, and no answer to the BITalino version command (a Cyton streams only \
             after the `b` command; try --format cyton)"
                .into(),
        )
    } else {
        (
            None,
            format!("{} bytes, neither format recognised", bytes.len()),
        )
    };
    ProbeResult {
        path: path.to_string(),
        bytes: bytes.len() as u64,
        format,
        detail,
    }
}

/// A stable name for the device behind `port`: its USB identity (vendor:product, product name,
/// serial number) when the system tells it, so that what is kept per device (a patient's
/// calibration) follows the device, not the socket it happens to be plugged into. `None` for a
/// port the system does not list as USB (a pseudo-terminal, a plain UART).
pub fn device_identity(port: &str) -> Option<String> {
    let want = std::fs::canonicalize(port).ok()?;
    let p = list_ports().ok()?.into_iter().find(|p| {
        std::fs::canonicalize(&p.path)
            .map(|c| c == want)
            .unwrap_or(false)
    })?;
    let mut id = format!("USB {:04x}:{:04x}", p.vid?, p.pid?);
    if let Some(name) = p.product.as_ref().or(p.manufacturer.as_ref()) {
        id.push_str(&format!(" {name}"));
    }
    if let Some(sn) = &p.serial_number {
        id.push_str(&format!(" serial {sn}"));
    }
    Some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_from_ids() {
        assert_eq!(guess_format(0x0403, 0x6015, None, None).0, Some("cyton"));
        assert_eq!(guess_format(0x2341, 0x0043, None, None).0, Some("line"));
        assert_eq!(
            guess_format(0x1234, 0x1, Some("OpenBCI"), None).0,
            Some("cyton")
        );
        assert_eq!(guess_format(0x1234, 0x1, None, None).0, None);
    }

    #[test]
    fn classifies_captures() {
        let lines = b"x\n# rate_hz=500\n1,2\n3,4\n5,6\n";
        assert_eq!(classify("p", lines).format, Some("line"));
        let packets: Vec<u8> = (0..5u8)
            .flat_map(|c| crate::source::cyton::encode_packet(c, &[7; 8], 0xC0))
            .collect();
        assert_eq!(classify("p", &packets).format, Some("cyton"));
        assert_eq!(classify("p", b"").format, None);
    }
}
