//! The bulk path of the CSV reader: well-formed rows parsed straight out of the read buffer, one
//! pass over their bytes, no line search first, no field table, no allocation.
//!
//! A row qualifies when every field the reader wants is empty or `[+-]digits[.digits]` with at
//! most 15 significant digits, every other field holds no separator, and the row ends in `\n` or
//! `\r\n` after exactly the header's number of fields. Anything else — comments, blanks, quotes,
//! spaces, exponents, `nan`, a torn last line, a wrong field count — makes [`row_at`] return
//! `None`, and the reader's general path (which explains errors) takes that row. Whenever `row_at`
//! returns a row, the general path would have read the same values bit for bit (see the tests).
//!
//! The buffer handed in ends with a sentinel byte (0) after the bytes read, so scanning stops at
//! the end without a length check per byte.

/// A field [`row_at`] steps over without parsing.
pub(super) const SKIP_FIELD: u32 = u32::MAX;

/// Exact powers of ten up to 10^22, the largest that `f64` holds exactly.
pub(super) const EXACT_POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Most significant digits a mantissa may have for `m / 10^d` to be exact-then-rounded-once
/// (`m < 2^53`): Clinger's fast path.
const MAX_DIGITS: usize = 15;

/// Digits from `data[*i]` on, appended to `m`; `*i` ends at the first non-digit.
#[inline(always)]
fn digits(data: &[u8], i: &mut usize, m: &mut u64) {
    loop {
        let d = data[*i].wrapping_sub(b'0');
        if d >= 10 {
            return;
        }
        *m = m.wrapping_mul(10).wrapping_add(u64::from(d));
        *i += 1;
    }
}

/// `m / 10^frac` (exact operands: one rounding) with the sign bit set for `neg`.
#[inline(always)]
fn decimal(m: u64, frac: usize, neg: bool) -> f64 {
    // m < 2^53: the signed conversion (one instruction) is exact, like the unsigned one.
    let v = (m as i64) as f64 / EXACT_POW10[frac];
    // Branch-free sign: half the samples of a raw EMG are negative, at random.
    f64::from_bits(v.to_bits() | u64::from(neg) << 63)
}

/// `[+-]digits[.digits]` starting at `data[*i]`; `*i` ends at the byte after the number. `None`
/// for anything else (no digit, too many digits). `data` must end with a byte that is not a digit.
///
/// Where 17 bytes can be read from the number's first digit, the digits are found and combined
/// eight bytes at a time ([`number_swar`]): a per-byte loop mispredicts where each number ends
/// (raw EMG changes its number of digits at random), and that was most of the parse's time.
/// Both paths give the same mantissa and fraction length, so the same value bit for bit.
#[inline(always)]
pub(super) fn number_at(data: &[u8], i: &mut usize) -> Option<f64> {
    let first = data[*i];
    let neg = first == b'-';
    let p = *i + usize::from(neg | (first == b'+'));
    let (m, frac, end) = match number_swar(data, p) {
        Some(r) => r?,
        None => number_bytewise(data, p)?,
    };
    *i = end;
    // At most 15 digits, so frac < EXACT_POW10.len().
    Some(decimal(m, frac, neg))
}

/// The digits of `digits[.digits]` at `data[p]` as (mantissa, fraction digits, end), a byte
/// at a time; `None` when it is not a number [`number_at`] takes.
#[inline(always)]
fn number_bytewise(data: &[u8], p: usize) -> Option<(u64, usize, usize)> {
    let int_start = p;
    let mut p = p;
    let mut m = 0u64;
    digits(data, &mut p, &mut m);
    let mut n = p - int_start;
    let mut frac = 0;
    if data[p] == b'.' {
        p += 1;
        let frac_start = p;
        digits(data, &mut p, &mut m);
        frac = p - frac_start;
        n += frac;
    }
    if n == 0 || n > MAX_DIGITS {
        return None;
    }
    Some((m, frac, p))
}

/// Eight bytes from `data[p]`, little-endian (the first byte lowest).
#[inline(always)]
fn word_at(data: &[u8], p: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&data[p..p + 8]);
    u64::from_le_bytes(b)
}

/// How many of the word's bytes, from the first, are ASCII digits (8 when all are).
#[inline(always)]
fn leading_digits(w: u64) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let x = w.wrapping_sub(0x30 * ONES);
    // A byte is not a digit when x ≥ 10 (x + 0x76 sets its top bit) or it wrapped (top bit
    // set). A carry out of such a byte can only spoil the bytes after the first non-digit.
    let non_digit = (x | x.wrapping_add(0x76 * ONES)) & (0x80 * ONES);
    (non_digit.trailing_zeros() / 8) as usize
}

/// The value of the first `k` (0..=7) digits of `w` (the word of [`word_at`]).
#[inline(always)]
fn digits_value(w: u64, k: usize) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    // The k digits moved to the top bytes: the zero bytes below are leading zeros.
    let v = (w.wrapping_sub(0x30 * ONES) & (0x0F * ONES))
        .checked_shl((64 - 8 * k) as u32)
        .unwrap_or(0);
    let v = (v.wrapping_mul(10) + (v >> 8)) & 0x00FF_00FF_00FF_00FF;
    let v = (v.wrapping_mul(100) + (v >> 16)) & 0x0000_FFFF_0000_FFFF;
    (v.wrapping_mul(10_000) + (v >> 32)) & 0xFFFF_FFFF
}

/// The digits of `digits[.digits]` at `data[p]` as (mantissa, fraction digits, end), eight
/// bytes at a time: `Some(None)` when it is not a number [`number_at`] takes, `None` when this
/// way cannot tell (a part of eight digits or more, or too near the end of `data`).
#[inline(always)]
fn number_swar(data: &[u8], p: usize) -> Option<Option<(u64, usize, usize)>> {
    if p + 17 > data.len() {
        return None;
    }
    let w = word_at(data, p);
    let int_len = leading_digits(w);
    if int_len == 8 {
        return None;
    }
    let mut end = p + int_len;
    let mut m = digits_value(w, int_len);
    let mut frac = 0;
    if data[end] == b'.' {
        let f = word_at(data, end + 1);
        frac = leading_digits(f);
        if frac == 8 {
            return None;
        }
        m = m * EXACT_POW10_U64[frac] + digits_value(f, frac);
        end += 1 + frac;
    }
    let n = int_len + frac;
    if n == 0 || n > MAX_DIGITS {
        return Some(None);
    }
    Some(Some((m, frac, end)))
}

/// Powers of ten as integers, for joining the integer and fraction digits.
const EXACT_POW10_U64: [u64; 8] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000];

/// One row starting at `data[start]`: field `f` goes to `out[slots[f]]` unless it is
/// [`SKIP_FIELD`]; an empty field gives NaN (the caller decides what it means). Returns the index just after the row's `\n`, or `None` when the row needs the
/// general path. `data` must end with a 0 sentinel (after the bytes read).
#[inline]
pub(super) fn row_at(
    data: &[u8],
    start: usize,
    sep: u8,
    slots: &[u32],
    out: &mut [f64],
) -> Option<usize> {
    let mut i = start;
    let last = slots.len().checked_sub(1)?;
    for (f, &slot) in slots.iter().enumerate() {
        if slot == SKIP_FIELD {
            loop {
                let c = data[i];
                if c == sep || c == b'\n' || c == b'\r' || c == 0 {
                    break;
                }
                i += 1;
            }
        } else {
            let c = data[i];
            let v = if c == sep || c == b'\n' || c == b'\r' {
                f64::NAN // an empty cell: no sample of this channel on this row
            } else {
                number_at(data, &mut i)?
            };
            *out.get_mut(slot as usize)? = v;
        }
        let c = data[i];
        if f < last {
            if c != sep {
                return None;
            }
            i += 1;
        } else if c == b'\n' {
            return Some(i + 1);
        } else if c == b'\r' && data[i + 1] == b'\n' {
            return Some(i + 2);
        } else {
            return None;
        }
    }
    None
}

/// How rows are laid out: what [`row_at`] needs.
#[derive(Debug, Clone)]
pub(super) struct RowLayout {
    pub sep: u8,
    /// Per field: its slot among the values of a row, or [`SKIP_FIELD`].
    pub slots: Vec<u32>,
    /// Values per row.
    pub width: usize,
}

/// What [`ParsedLines::parse`] does at a line [`row_at`] declines.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum AtDeclined {
    /// Stop before it (the caller reads it with the general path next).
    Stop,
    /// Mark it and go on after its line end; `at_eof`: the bytes end the file (a last line
    /// without a line end is a line).
    StepOver { at_eof: bool },
}

/// Lines parsed into columns, for the reader to check and place a run at a time.
#[derive(Debug, Default)]
pub(super) struct ParsedLines {
    /// Start of each line, from where parsing began.
    pub starts: Vec<u32>,
    /// Per slot (0 the time, `k + 1` channel `k`), the value on each line; NaN for an empty cell.
    /// Meaningless for declined lines.
    pub columns: Vec<Vec<f64>>,
    /// Lines [`row_at`] declined: the general path reads them.
    pub declined: Vec<bool>,
    /// One row's values.
    row: Vec<f64>,
}

impl ParsedLines {
    /// Emptied for `width` values per row, its memory kept.
    pub fn clear(&mut self, width: usize) {
        self.starts.clear();
        self.declined.clear();
        self.columns.resize_with(width, Vec::new);
        self.columns.iter_mut().for_each(Vec::clear);
        self.row.resize(width, f64::NAN);
    }

    /// Parses the lines of `buf` (the bytes read, then the 0 sentinel) that start at `from` and
    /// after, before `limit`, at most `max_lines`. Returns where it stopped; `None` when a
    /// declined line (the last one marked) runs past the bytes read.
    pub fn parse(
        &mut self,
        buf: &[u8],
        from: usize,
        limit: usize,
        max_lines: usize,
        layout: &RowLayout,
        at_declined: AtDeclined,
    ) -> Option<usize> {
        let n = buf.len().saturating_sub(1); // the sentinel's index
        let mut p = from;
        while p < limit && self.starts.len() < max_lines {
            let parsed = row_at(buf, p, layout.sep, &layout.slots, &mut self.row);
            let next = match (parsed, at_declined) {
                (Some(next), _) => Some(next),
                (None, AtDeclined::Stop) => break,
                (None, AtDeclined::StepOver { at_eof }) => {
                    match memchr::memchr(b'\n', buf.get(p..n)?) {
                        Some(i) => Some(p + i + 1),
                        None if at_eof => Some(n), // the file's last line, without a line end
                        None => None,              // marked all the same: the general path reads it
                    }
                }
            };
            self.starts.push((p - from) as u32);
            self.declined.push(parsed.is_none());
            for (column, &v) in self.columns.iter_mut().zip(&self.row) {
                column.push(v);
            }
            p = next?;
        }
        Some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_sentinel(s: &str) -> Vec<u8> {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        v
    }

    #[test]
    fn numbers_are_bit_identical_to_the_standard_parser() {
        for s in [
            "0",
            "-0",
            "+1",
            "5.221515",
            "-10.03307",
            "3599.999500",
            "0.000500",
            "1.",
            ".5",
            "-.25",
            "123456789012345",
            "0.12345678901234",
            "99999.9999999999",
        ] {
            let data = with_sentinel(s);
            let mut i = 0;
            let v = number_at(&data, &mut i).unwrap_or_else(|| panic!("{s} declined"));
            let want: f64 = s.parse().expect("std parses");
            assert_eq!(v.to_bits(), want.to_bits(), "{s}");
            assert_eq!(i, s.len(), "{s} consumed");
        }
    }

    #[test]
    fn numbers_it_cannot_do_exactly_are_declined() {
        for s in [
            "",
            "-",
            "+",
            ".",
            "1234567890123456",
            "0.0000000000000001",
            "-.",
            "x1",
        ] {
            let data = with_sentinel(s);
            let mut i = 0;
            assert!(number_at(&data, &mut i).is_none(), "{s:?} accepted");
        }
        // It stops at anything that is not part of the number; the caller checks that byte.
        let data = with_sentinel("1e5");
        let mut i = 0;
        assert_eq!(number_at(&data, &mut i), Some(1.0));
        assert_eq!(data[i], b'e');
    }

    /// The byte loop alone: the reference.
    fn number_scalar(data: &[u8], i: &mut usize) -> Option<f64> {
        let first = data[*i];
        let neg = first == b'-';
        let (m, frac, end) = number_bytewise(data, *i + usize::from(neg | (first == b'+')))?;
        *i = end;
        Some(decimal(m, frac, neg))
    }

    #[test]
    fn the_eight_byte_path_reads_what_the_byte_loop_reads() {
        // Every shape of number (each part 0–16 digits, signs, a dot or not), followed by each
        // kind of byte that can end a field, at every distance from the end of the buffer.
        let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let enders: [&[u8]; 9] = [b",", b"\n", b"\r\n", b";", b"e5", b"x", b" ", b"\t", b"/"];
        let mut checked = 0;
        for int_len in 0..=16 {
            for frac_len in 0..=17 {
                for dot in [false, true] {
                    for sign in ["", "-", "+"] {
                        for ender in enders {
                            for _ in 0..4 {
                                let mut s = sign.as_bytes().to_vec();
                                (0..int_len).for_each(|_| s.push(b'0' + (next() % 10) as u8));
                                if dot {
                                    s.push(b'.');
                                }
                                (0..frac_len).for_each(|_| s.push(b'0' + (next() % 10) as u8));
                                s.extend_from_slice(ender);
                                let tail = (next() % 24) as usize;
                                let mut data = s.clone();
                                (0..tail).for_each(|_| data.push(b'7'));
                                data.push(0);
                                let (mut a, mut b) = (0, 0);
                                let got = number_at(&data, &mut a);
                                let want = number_scalar(&data, &mut b);
                                assert_eq!(
                                    got.map(f64::to_bits),
                                    want.map(f64::to_bits),
                                    "{:?}",
                                    String::from_utf8_lossy(&data)
                                );
                                if want.is_some() {
                                    assert_eq!(a, b, "{:?}", String::from_utf8_lossy(&data));
                                }
                                checked += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 10_000);
    }

    #[test]
    fn rows_are_read_with_their_line_ending_and_field_count() {
        let slots = [0, SKIP_FIELD, 1];
        let mut out = [f64::NAN; 2];
        let data = with_sentinel("0.5,abc,-2.25\n1,x,2\r\n");
        let next = row_at(&data, 0, b',', &slots, &mut out).expect("row 1");
        assert_eq!(out, [0.5, -2.25]);
        assert_eq!(&data[next..next + 1], b"1");
        let next = row_at(&data, next, b',', &slots, &mut out).expect("row 2 (CRLF)");
        assert_eq!(out, [1.0, 2.0]);
        assert_eq!(next, data.len() - 1);
        let data = with_sentinel("1,x,\n");
        assert!(row_at(&data, 0, b',', &slots, &mut out).is_some());
        assert!(out[1].is_nan(), "an empty cell is NaN");
        for bad in [
            "1,x\n",           // a field short
            "1,x,2,3\n",       // a field too many
            "1,x,2,\n",        // a trailing separator: the general path decides
            "1,x,2",           // no line ending: maybe torn
            "1,x, 2\n",        // a blank
            "1,x,2e3\n",       // an exponent
            "1,x,nan\n",       // text
            "# comment\n",     // a comment
            "\n",              // a blank line
            "1,x,2\r",         // a lone CR at the end
            "\"1\",x,2\n",     // quotes
            "1;x;2\n",         // another separator
            "1,x\n,2\n",       // a line break inside the row
            "1,x,1.5\u{0}2\n", // a NUL byte
        ] {
            let data = with_sentinel(bad);
            assert!(
                row_at(&data, 0, b',', &slots, &mut out).is_none(),
                "{bad:?} accepted"
            );
        }
    }
}
