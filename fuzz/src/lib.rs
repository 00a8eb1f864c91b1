//! What the fuzz targets share: the input as a file the readers open by path, a source read to
//! its end with every sample touched, and a transport that plays bytes to a device link.

use knip::source::link::{LinkError, Transport, TransportEvent, TransportEventKind};
use knip::source::wire::{LinkStats, Rows};
use knip::source::Source;
use std::path::PathBuf;

/// Writes `data` to `name` in a folder of this process (in memory under `/dev/shm` when there
/// is one) and returns its path. The same path is reused for every input.
pub fn input_file(name: &str, data: &[u8]) -> PathBuf {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("knip-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("fuzz scratch folder");
    let path = dir.join(name);
    std::fs::write(&path, data).expect("fuzz input file");
    path
}

/// Reads `source` to its end (or its first error) and checks what it gives: every block has
/// one chunk per channel of the spec, and each channel's indices only move forward. Returns
/// the number of samples, so that every value is looked at.
pub fn drain(source: &mut dyn Source) -> u64 {
    let channels = source.spec().channels.len();
    let mut next_index = vec![0u64; channels];
    let mut samples = 0u64;
    let mut checksum = 0.0f64;
    while let Ok(Some(block)) = source.next_block() {
        assert_eq!(
            block.chunks.len(),
            channels,
            "a block without one chunk per channel"
        );
        for (chunk, next) in block.chunks.iter().zip(next_index.iter_mut()) {
            if chunk.samples.is_empty() {
                continue;
            }
            assert!(
                chunk.start_index >= *next,
                "channel index went back: {} after {}",
                chunk.start_index,
                next
            );
            *next = chunk.end_index();
            for &v in &chunk.samples {
                checksum += if v.is_finite() { v } else { 0.0 };
            }
            samples += chunk.samples.len() as u64;
        }
    }
    std::hint::black_box(checksum);
    samples
}

/// Feeds `data` to a decoder's `push` in reads of `read_len` bytes; after every read the rows
/// must be whole rows with strictly rising indices. Returns the decoder's counters.
pub fn decode_in_reads(
    data: &[u8],
    read_len: usize,
    mut push: impl FnMut(&[u8], &mut Rows, &mut LinkStats),
) -> LinkStats {
    let mut rows = Rows::default();
    let mut stats = LinkStats::default();
    for read in data.chunks(read_len.max(1)) {
        push(read, &mut rows, &mut stats);
        assert_eq!(rows.values.len(), rows.width * rows.indices.len());
        assert!(rows.indices.windows(2).all(|w| w[0] < w[1]));
    }
    stats
}

/// Plays bytes to a device link as a serial port would deliver them: cut into reads, with
/// host times, optionally an unplug and replug in the middle, then the end.
pub struct BytesTransport {
    events: std::collections::VecDeque<TransportEvent>,
    now_s: f64,
}

impl BytesTransport {
    /// `data` cut into reads of `read_len` bytes, `step_s` of host time apart; with
    /// `unplug_s`, the cable is out for that long after half of the reads.
    pub fn new(data: &[u8], read_len: usize, step_s: f64, unplug_s: Option<f64>) -> Self {
        let mut events = std::collections::VecDeque::new();
        let reads: Vec<&[u8]> = data.chunks(read_len.max(1)).collect();
        let half = reads.len() / 2;
        let mut now_s = 0.0;
        for (i, read) in reads.iter().enumerate() {
            if i == half {
                if let Some(out_s) = unplug_s {
                    events.push_back(TransportEvent {
                        host_s: now_s,
                        kind: TransportEventKind::Unplugged("fuzz: cable out".into()),
                    });
                    now_s += out_s;
                    events.push_back(TransportEvent {
                        host_s: now_s,
                        kind: TransportEventKind::Replugged,
                    });
                }
            }
            now_s += step_s;
            events.push_back(TransportEvent {
                host_s: now_s,
                kind: TransportEventKind::Data(read.to_vec()),
            });
        }
        BytesTransport { events, now_s }
    }
}

impl Transport for BytesTransport {
    fn next_event(&mut self) -> Result<TransportEvent, LinkError> {
        Ok(self.events.pop_front().unwrap_or(TransportEvent {
            host_s: self.now_s,
            kind: TransportEventKind::End,
        }))
    }

    fn name(&self) -> &str {
        "fuzz-port"
    }
}

/// A few bits of setting taken from the end of the input (so that the files of the corpus
/// stay whole, real files): returns the byte at `len - 1 - k`, or 0.
pub fn knob(data: &[u8], k: usize) -> u8 {
    data.len().checked_sub(1 + k).map_or(0, |i| data[i])
}
