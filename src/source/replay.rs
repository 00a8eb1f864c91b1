//! Replaying a raw-byte log (`recording.raw`) through the same decoder and link logic as the live
//! session: the same bytes, in the same reads, with the same unplug and replug moments, give the
//! same blocks and therefore the same events. Paced by the recorded arrival times ÷ speed, or
//! as fast as possible.

use super::link::{LinkError, LinkSource, Transport, TransportEvent, TransportEventKind};
use super::rawlog::RawLogReader;
use std::path::Path;
use std::time::{Duration, Instant};

/// A jump of the recorded host clock between two records longer than this (a day: longer than
/// knip waits for an unplugged device) is not a pause but a damaged time stamp.
pub const MAX_HOST_JUMP_S: f64 = 86_400.0;
/// What such a jump is replayed as.
const DAMAGED_JUMP_AS_S: f64 = 1.0;

/// Plays back the records of a raw log.
pub struct ReplayTransport {
    reader: RawLogReader,
    name: String,
    speed: Option<f64>,
    started: Option<(Instant, f64)>,
    /// The previous record's host time as recorded, and the seconds taken out of the host clock
    /// after damaged jumps (so that a replay never waits for them).
    prev_host_s: Option<f64>,
    removed_s: f64,
    warnings: Vec<String>,
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
            prev_host_s: None,
            removed_s: 0.0,
            warnings: Vec::new(),
        })
    }

    pub fn reader(&self) -> &RawLogReader {
        &self.reader
    }
}

impl Transport for ReplayTransport {
    fn next_event(&mut self) -> Result<TransportEvent, LinkError> {
        match self.reader.next_event()? {
            Some(mut e) => {
                e.host_s = self.host_time(e.host_s);
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

    fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }
}

impl ReplayTransport {
    /// The host time a record is replayed at: as recorded, less the damaged jumps before it.
    fn host_time(&mut self, recorded_s: f64) -> f64 {
        if let Some(prev) = self.prev_host_s {
            let jump = recorded_s - prev;
            if jump > MAX_HOST_JUMP_S {
                self.removed_s += jump - DAMAGED_JUMP_AS_S;
                self.warnings.push(format!(
                    "the recorded host time jumps by {jump:.0} s (more than a day) at {prev:.3} s: \
                     a damaged time stamp, replayed as a {DAMAGED_JUMP_AS_S} s pause"
                ));
            }
        }
        self.prev_host_s = Some(recorded_s);
        recorded_s - self.removed_s
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
