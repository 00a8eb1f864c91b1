//! The line reader under the CSV reader: lines found in place in one buffer, counted (1-based)
//! and with their byte offsets, bounded in length, from a file, a pipe or stdin (`-`).
//!
//! Nothing here grows with the input: a line longer than [`MAX_LINE_BYTES`] is an error naming
//! the line (`/dev/zero` or a 50 MB line stop at once instead of filling the memory), and bytes
//! are kept for reading again only from the offset the caller marked (the prescan of the first
//! rows, which a pipe cannot seek back to).

use crate::error::InputError;
use crate::limits::excerpt_bytes;
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Bytes read from the file at a time (the buffer grows only for a longer line).
const READ_CHUNK: usize = 1 << 18;
/// The longest line read: far more than any row of samples (a header of 10 000 columns), far
/// less than the memory of the smallest machine.
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// Characters of a line quoted in a message.
pub const QUOTED_CHARS: usize = 60;

/// A line reader that counts lines (1-based) and bytes (for seeking back). Lines are found in
/// place in one large buffer (no copy per line, no allocation once the buffer is full size).
pub(super) struct Lines {
    path: PathBuf,
    pub(super) inner: File,
    /// A regular file (it can be read at any offset; a pipe or a device cannot).
    pub(super) seekable: bool,
    data: Vec<u8>,
    /// File offset of `data[0]`.
    base: u64,
    /// Start of the bytes not yet returned as lines, and end of the bytes read.
    pub(super) pos: usize,
    pub(super) filled: usize,
    eof: bool,
    /// The current line: `data[cur.0..cur.1]`.
    cur: (usize, usize),
    /// Number of the current line.
    pub(super) line_no: u64,
    /// Byte offset of the start of the next line.
    pub(super) offset: u64,
    /// The current line ended with `\n` (a line without one is the last, possibly torn, line).
    pub(super) terminated: bool,
    /// Bytes from this file offset on stay in the buffer (to be read again after a prescan).
    keep_from: Option<u64>,
}

impl Lines {
    /// Opens `path` (`-`: standard input).
    pub(super) fn open(path: &Path) -> Result<Lines, InputError> {
        let open_err = |source| InputError::Open {
            path: path.to_path_buf(),
            source,
        };
        let file = if path == Path::new("-") {
            File::open("/dev/stdin").map_err(open_err)?
        } else {
            File::open(path).map_err(open_err)?
        };
        let seekable = file.metadata().map(|m| m.is_file()).unwrap_or(false);
        Ok(Lines {
            path: path.to_path_buf(),
            inner: file,
            seekable,
            base: 0,
            // One byte more than is read: a 0 sentinel after the bytes read ends every scan.
            data: vec![0; READ_CHUNK + 1],
            pos: 0,
            filled: 0,
            eof: false,
            cur: (0, 0),
            line_no: 0,
            offset: 0,
            terminated: true,
            keep_from: None,
        })
    }

    /// The buffer up to the bytes read, with the 0 sentinel after them (unread lines start at
    /// `pos`).
    #[inline]
    pub(super) fn buffer_with_sentinel(&self) -> &[u8] {
        &self.data[..=self.filled]
    }

    /// The current line without its line ending.
    #[inline]
    pub(super) fn line(&self) -> &[u8] {
        &self.data[self.cur.0..self.cur.1]
    }

    /// Keeps the bytes from `offset` on in the buffer until called again with `None`.
    pub(super) fn keep_from(&mut self, offset: Option<u64>) {
        self.keep_from = offset;
    }

    fn read_error(&self, source: std::io::Error) -> InputError {
        InputError::Read {
            path: self.path.clone(),
            line: self.line_no + 1,
            source,
        }
    }

    fn too_long(&self, rest: &[u8]) -> InputError {
        InputError::Parse {
            path: self.path.clone(),
            line: self.line_no + 1,
            message: format!(
                "the line is longer than {MAX_LINE_BYTES} bytes: not a CSV recording? (it starts \
                 \"{}\")",
                excerpt_bytes(rest, QUOTED_CHARS)
            ),
        }
    }

    /// Moves to the next line; `false` at end of file.
    pub(super) fn next(&mut self) -> Result<bool, InputError> {
        loop {
            let rest = &self.data[self.pos..self.filled];
            let newline = memchr::memchr(b'\n', rest);
            if newline.unwrap_or(rest.len()) > MAX_LINE_BYTES {
                return Err(self.too_long(rest));
            }
            if let Some(i) = newline {
                let s = self.pos;
                self.pos = s + i + 1;
                self.set_line(s, s + i, true)?;
                return Ok(true);
            }
            if self.eof {
                if self.pos < self.filled {
                    let (s, e) = (self.pos, self.filled);
                    self.pos = e;
                    self.set_line(s, e, false)?;
                    return Ok(true);
                }
                return Ok(false);
            }
            // Drop the bytes already returned, except those kept for reading again.
            let keep = match self.keep_from {
                Some(k) if k >= self.base => ((k - self.base) as usize).min(self.pos),
                Some(_) => 0,
                None => self.pos,
            };
            self.data.copy_within(keep..self.filled, 0);
            self.base += keep as u64;
            self.filled -= keep;
            self.pos -= keep;
            self.cur = (0, 0);
            let room = self.data.len() - 1;
            if self.filled == room {
                self.data.resize(room * 2 + 1, 0);
            }
            let room = self.data.len() - 1;
            let read = std::io::Read::read(&mut self.inner, &mut self.data[self.filled..room]);
            match read {
                Ok(0) => self.eof = true,
                Ok(n) => self.filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.read_error(e)),
            }
            self.data[self.filled] = 0;
        }
    }

    fn set_line(&mut self, mut s: usize, mut e: usize, terminated: bool) -> Result<(), InputError> {
        self.offset += (e - s) as u64 + u64::from(terminated);
        if self.line_no == 0 {
            let first = &self.data[s..e];
            if first.starts_with(&[0xFF, 0xFE]) || first.starts_with(&[0xFE, 0xFF]) || {
                // UTF-16 without a byte-order mark: every other byte of ASCII text is 0.
                let head = &first[..first.len().min(64)];
                head.len() >= 4 && head.iter().filter(|&&b| b == 0).count() * 3 >= head.len()
            } {
                return Err(InputError::Format {
                    path: self.path.clone(),
                    message: "the file is UTF-16 text (or binary): save it as UTF-8 (in a \
                              spreadsheet: \"CSV UTF-8\") and read it again"
                        .to_string(),
                });
            }
            if first.starts_with(&[0xEF, 0xBB, 0xBF]) {
                s += 3;
            }
        }
        self.line_no += 1;
        self.terminated = terminated;
        if e > s && self.data[e - 1] == b'\r' {
            e -= 1;
        }
        self.cur = (s, e);
        Ok(())
    }

    /// Moves to the line starting at byte `offset`, whose predecessor is line `line_no`. Within
    /// the bytes already read (or kept) this costs nothing; elsewhere the file must be seekable.
    pub(super) fn seek_to(&mut self, offset: u64, line_no: u64) -> Result<(), InputError> {
        self.cur = (0, 0);
        self.offset = offset;
        self.line_no = line_no;
        if offset >= self.base && offset <= self.base + self.filled as u64 {
            self.pos = (offset - self.base) as usize;
            return Ok(());
        }
        if let Err(e) = self.inner.seek(SeekFrom::Start(offset)) {
            return Err(self.read_error(e));
        }
        self.base = offset;
        self.pos = 0;
        self.filled = 0;
        self.data[0] = 0;
        self.eof = false;
        Ok(())
    }
}
