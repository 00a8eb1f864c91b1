//! Parallel parsing of a large CSV file. The file is cut into chunks of bytes; worker threads each
//! read a chunk (positioned reads: no shared cursor) and parse its lines with the bulk row parser
//! ([`ParsedLines::parse`]); the reader takes the chunks back in file order.
//!
//! A line belongs to the chunk in which it starts. A worker reads a few bytes before its chunk
//! (to see whether a line starts right at the chunk's first byte) and some after it (for the end
//! of its last line). Lines the bulk parser declines are marked, not interpreted: the reader gives
//! them to the general path, which explains errors exactly as it does without workers. The
//! workers never decide anything about a row (time order, gaps); they only turn bytes into numbers.
//!
//! Chunks in flight are bounded, so memory does not grow with the file.

use super::csv_rows::{AtDeclined, ParsedLines, RowLayout, SKIP_FIELD};
use crossbeam_channel::{Receiver, Sender};
use std::collections::BTreeMap;
use std::fs::File;
use std::sync::Arc;

/// Bytes per chunk by default: big enough that handing chunks around costs nothing, small enough
/// that the chunks in flight stay a few MB.
pub(super) const DEFAULT_CHUNK_BYTES: usize = 1 << 19;
/// Bytes read past a chunk's end for its last line. A longer line is handed to the general path,
/// and the reader carries on without workers after it.
const SLACK_BYTES: usize = 1 << 14;
/// Chunks in flight per worker (being parsed, or parsed and waiting to be taken).
const AHEAD_PER_WORKER: usize = 2;
/// Chunks the kernel is asked to fetch ahead of the last one handed to a worker (8 MB with the
/// default chunks; see [`prefetch`]).
const PREFETCH_CHUNKS: u64 = 16;
/// More workers than this would wait on the reader (which checks and places every row) and only
/// add memory (about 1.5 MB each, with their chunks in flight).
const MAX_WORKERS: usize = 4;

/// The lines that start in one chunk, parsed.
#[derive(Debug, Default)]
pub(super) struct ParsedChunk {
    /// File offset of the chunk's first line; `None` when no line starts in the chunk (a line
    /// longer than a chunk runs through it).
    pub first: Option<u64>,
    /// The lines, starts counted from `first`.
    pub lines: ParsedLines,
    /// File offset just after the chunk's last line; `None` when that line runs past the bytes
    /// the worker read.
    pub end: Option<u64>,
}

/// Positioned read of exactly `buf.len()` bytes at `offset`.
#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    let mut done = 0;
    while done < buf.len() {
        match file.seek_read(&mut buf[done..], offset + done as u64) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Elsewhere the first chunk fails and the reader reads alone.
#[cfg(not(any(unix, windows)))]
fn read_exact_at(_file: &File, _buf: &mut [u8], _offset: u64) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// Asks the kernel to start reading `len` bytes of `file` from `offset` into the page cache, in
/// the background (`POSIX_FADV_WILLNEED`; a hint, so a failure changes nothing). A file that is
/// partly or wholly out of the cache (a recording read again hours later, a network drive, a
/// machine that trims its cache) is then fetched in large reads ahead of the workers, instead
/// of a worker waiting for the disk in the middle of a chunk (docs/performance.md, tenth round).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn prefetch(file: &File, offset: u64, len: u64) {
    use std::os::unix::io::AsRawFd;
    let (Ok(offset), Ok(len)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) else {
        return;
    };
    // SAFETY: posix_fadvise reads its integer arguments only; the descriptor is `file`'s, open
    // for the whole call.
    unsafe {
        libc::posix_fadvise(file.as_raw_fd(), offset, len, libc::POSIX_FADV_WILLNEED);
    }
}

/// Elsewhere the reads go as the system's own read-ahead takes them.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn prefetch(_file: &File, _offset: u64, _len: u64) {}

/// Where the chunks are: data from `data_start` to `file_len`, `chunk_bytes` each.
#[derive(Debug, Clone, Copy)]
struct ChunkPlan {
    data_start: u64,
    file_len: u64,
    chunk_bytes: u64,
}

impl ChunkPlan {
    fn count(&self) -> u64 {
        (self.file_len - self.data_start).div_ceil(self.chunk_bytes)
    }

    /// Where chunk `k` starts in the file (the file's end for `k` = [`Self::count`]).
    fn start_of(&self, k: u64) -> u64 {
        (self.data_start + k * self.chunk_bytes).min(self.file_len)
    }
}

impl ParsedChunk {
    /// Emptied for reuse, its memory kept.
    fn recycled(mut self, width: usize) -> ParsedChunk {
        self.first = None;
        self.end = None;
        self.lines.clear(width);
        self
    }
}

/// Reads and parses chunk `k` into `chunk` (empty), using `buf` for the bytes.
fn parse_chunk(
    file: &File,
    plan: ChunkPlan,
    k: u64,
    layout: &RowLayout,
    buf: &mut Vec<u8>,
    mut chunk: ParsedChunk,
) -> std::io::Result<ParsedChunk> {
    let lo = plan.data_start + k * plan.chunk_bytes;
    let hi = (lo + plan.chunk_bytes).min(plan.file_len);
    let is_last = hi == plan.file_len;
    // One byte before the chunk: is the chunk's first byte the start of a line?
    let read_from = if k == 0 { lo } else { lo - 1 };
    let read_to = if is_last {
        plan.file_len
    } else {
        (hi + SLACK_BYTES as u64).min(plan.file_len)
    };
    let n = (read_to - read_from) as usize;
    if buf.len() < n + 1 {
        buf.resize(n + 1, 0);
    }
    let buf = &mut buf[..n + 1];
    read_exact_at(file, &mut buf[..n], read_from)?;
    buf[n] = 0; // the sentinel
    let p = if k == 0 {
        0
    } else {
        match memchr::memchr(b'\n', &buf[..n]) {
            Some(i) => i + 1,
            None => return Ok(chunk),
        }
    };
    // Lines starting before `limit` are this chunk's (the last chunk's: all to the end).
    let limit = if is_last {
        n
    } else {
        (hi - read_from) as usize
    };
    if p >= limit {
        return Ok(chunk);
    }
    chunk.first = Some(read_from + p as u64);
    let end = chunk.lines.parse(
        buf,
        p,
        limit,
        usize::MAX,
        layout,
        AtDeclined::StepOver { at_eof: is_last },
    );
    chunk.end = end.map(|e| read_from + e as u64);
    Ok(chunk)
}

/// What the reader gets next from the workers.
pub(super) enum Next {
    /// The current chunk has lines left: [`ParallelFeed::chunk`] and [`ParallelFeed::cursor`].
    Lines,
    /// No more chunks (or the chunks do not join up, or a read failed): read on without
    /// workers from this offset — or, for `None`, from just after the line the general path
    /// read last.
    Done(Option<u64>),
}

/// Chunks parsed ahead by worker threads, handed out in file order.
pub(super) struct ParallelFeed {
    jobs: Sender<u64>,
    /// Chunks read, sent back to the workers for their memory.
    recycle: Sender<ParsedChunk>,
    results: Receiver<(u64, std::io::Result<ParsedChunk>)>,
    waiting: BTreeMap<u64, std::io::Result<ParsedChunk>>,
    in_flight_max: u64,
    next_job: u64,
    next_chunk: u64,
    n_chunks: u64,
    /// The chunk being read, and its next line.
    chunk: ParsedChunk,
    pub cursor: usize,
    /// Where the previous chunk's lines ended (the next chunk must start there).
    last_end: Option<u64>,
    /// The file and its chunks, and the chunks the kernel was asked to fetch ([`prefetch`]).
    file: Arc<File>,
    plan: ChunkPlan,
    prefetched: u64,
}

impl ParallelFeed {
    /// Starts `threads` workers (at most 4) on `file` from `data_start` (a line start) to its
    /// current end.
    /// `None` when there is too little to share out or a thread cannot be started: the caller
    /// reads on its own.
    pub fn start(
        file: &File,
        data_start: u64,
        layout: RowLayout,
        threads: usize,
        chunk_bytes: usize,
    ) -> Option<ParallelFeed> {
        if threads < 2 || layout.slots.is_empty() || layout.width == 0 {
            return None;
        }
        if layout
            .slots
            .iter()
            .any(|&s| s != SKIP_FIELD && s as usize >= layout.width)
        {
            return None;
        }
        let meta = file.metadata().ok()?;
        if !meta.is_file() {
            return None; // a pipe or a device: no positioned reads
        }
        let plan = ChunkPlan {
            data_start,
            file_len: meta.len(),
            chunk_bytes: chunk_bytes.max(1) as u64,
        };
        if plan.file_len <= data_start || plan.count() < 2 {
            return None;
        }
        let file = Arc::new(file.try_clone().ok()?);
        let layout = Arc::new(layout);
        let (jobs, job_rx) = crossbeam_channel::unbounded::<u64>();
        let (result_tx, results) = crossbeam_channel::unbounded();
        let (recycle, recycled) = crossbeam_channel::unbounded::<ParsedChunk>();
        let threads = threads.min(MAX_WORKERS);
        for i in 0..threads {
            let (file, layout, job_rx, result_tx, recycled) = (
                Arc::clone(&file),
                Arc::clone(&layout),
                job_rx.clone(),
                result_tx.clone(),
                recycled.clone(),
            );
            let spawned = std::thread::Builder::new()
                .name(format!("knip-csv-{i}"))
                .spawn(move || {
                    let mut buf = Vec::new();
                    for k in job_rx {
                        let chunk = recycled.try_recv().unwrap_or_default();
                        let chunk = chunk.recycled(layout.width);
                        // A bug here must not leave the reader waiting for this chunk forever.
                        let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            parse_chunk(&file, plan, k, &layout, &mut buf, chunk)
                        }))
                        .unwrap_or_else(|_| {
                            Err(std::io::Error::other("a CSV parsing thread failed"))
                        });
                        if result_tx.send((k, parsed)).is_err() {
                            break;
                        }
                    }
                });
            if spawned.is_err() {
                return None; // dropping the senders ends the workers already started
            }
        }
        let mut feed = ParallelFeed {
            jobs,
            recycle,
            results,
            waiting: BTreeMap::new(),
            in_flight_max: (threads * AHEAD_PER_WORKER) as u64,
            next_job: 0,
            next_chunk: 0,
            n_chunks: plan.count(),
            chunk: ParsedChunk::default(),
            cursor: 0,
            last_end: Some(data_start),
            file,
            plan,
            prefetched: 0,
        };
        feed.dispatch();
        Some(feed)
    }

    /// Keeps `in_flight_max` chunks ahead of the one being read.
    fn dispatch(&mut self) {
        while self.next_job < self.n_chunks && self.next_job < self.next_chunk + self.in_flight_max
        {
            if self.jobs.send(self.next_job).is_err() {
                return;
            }
            self.next_job += 1;
        }
        let ahead = (self.next_job + PREFETCH_CHUNKS).min(self.n_chunks);
        if ahead > self.prefetched {
            let from = self.plan.start_of(self.prefetched);
            prefetch(&self.file, from, self.plan.start_of(ahead) - from);
            self.prefetched = ahead;
        }
    }

    /// Chunk `k` when its worker is done with it; `None` if the workers are gone.
    fn take(&mut self, k: u64) -> Option<std::io::Result<ParsedChunk>> {
        loop {
            if let Some(c) = self.waiting.remove(&k) {
                return Some(c);
            }
            let (i, c) = self.results.recv().ok()?;
            self.waiting.insert(i, c);
        }
    }

    /// The chunk being read.
    pub fn chunk(&self) -> &ParsedChunk {
        &self.chunk
    }

    /// Makes sure the current chunk has a line left to read, taking the next chunk if need be.
    pub fn advance(&mut self) -> Next {
        while self.cursor >= self.chunk.lines.starts.len() {
            if self.chunk.first.is_some() {
                self.last_end = self.chunk.end;
            }
            let used = std::mem::take(&mut self.chunk);
            let _ = self.recycle.send(used); // workers gone: nothing to reuse
            self.cursor = 0;
            if self.next_chunk == self.n_chunks {
                return Next::Done(self.last_end);
            }
            let k = self.next_chunk;
            self.next_chunk += 1;
            self.dispatch();
            let chunk = match self.take(k) {
                Some(Ok(c)) => c,
                // A failed read: the reader carries on alone and meets the problem itself.
                _ => return Next::Done(self.last_end),
            };
            match chunk.first {
                None => {} // no line starts here: the next chunk must start where the last ended
                Some(first) if Some(first) == self.last_end => self.chunk = chunk,
                Some(_) => return Next::Done(self.last_end),
            }
        }
        Next::Lines
    }
}
