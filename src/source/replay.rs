//! Replaying a raw-byte log (`recording.raw`) through the same decoder and link logic as the live
//! session: the same bytes, in the same reads, with the same unplug and replug moments, give the
//! same blocks and therefore the same events. Paced by the recorded arrival times ÷ speed, or
//! as fast as possible.

use super::link::{LinkError, LinkSource, Transport, TransportEvent, TransportEventKind};
use super::rawlog::RawLogReader;
use std::path::Path;
use std::time::{Duration, Instant};

/// Plays back the records of a raw log.
pub struct ReplayTransport {
    reader: RawLogReader,
    name: String,
    speed: Option<f64>,
    started: Option<(Instant, f64)>,
}

impl ReplayTransport {
    /// `speed`: `Some(1.0)` = the original pace, `None` = as fast as possible.
    pub fn open(path: &Path, speed: Option<f64>) -> Result<ReplayTransport, LinkError> {
        let reader = RawLogReader::open(path)?;
        Ok(ReplayTransport {
            reader,
            name: path.display().to_string(),
            speed: speed.filter(|s| s.is_finite() && *s > 0.0),
            started: None,
        })
    }

    pub fn reader(&self) -> &RawLogReader {
        &self.reader
    }
}

impl Transport for ReplayTransport {
    fn next_event(&mut self) -> Result<TransportEvent, LinkError> {
        match self.reader.next_event()? {
            Some(e) => {
                if let Some(speed) = self.speed {
                    let (t0, h0) = *self.started.get_or_insert((Instant::now(), e.host_s));
                    let due = Duration::from_secs_f64(((e.host_s - h0) / speed).max(0.0));
                    let now = t0.elapsed();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                }
                Ok(e)
            }
            None => Ok(TransportEvent {
                host_s: f64::INFINITY,
                kind: TransportEventKind::End,
            }),
        }
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn torn_bytes(&self) -> u64 {
        self.reader.torn_bytes
    }
}

/// A raw log as a [`super::Source`], decoded with the settings stored in its header.
pub fn open_raw_replay(
    path: &Path,
    speed: Option<f64>,
) -> Result<LinkSource<ReplayTransport>, LinkError> {
    let transport = ReplayTransport::open(path, speed)?;
    let header = transport.reader().header().clone();
    let mut config = header.link.clone();
    // The live probe gave up after its timeout; a replay must never stop for that.
    config.probe_timeout_s = f64::INFINITY;
    LinkSource::start(transport, config, header.device, header.baud)
}

/// Whether `path` starts like a raw-byte log.
pub fn is_raw_log(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map(|_| magic == *super::rawlog::MAGIC.as_bytes())
        .unwrap_or(false)
}
