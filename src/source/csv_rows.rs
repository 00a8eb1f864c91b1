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
#[inline(always)]
pub(super) fn number_at(data: &[u8], i: &mut usize) -> Option<f64> {
    let first = data[*i];
    let neg = first == b'-';
    let mut p = *i + usize::from(neg | (first == b'+'));
    let int_start = p;
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
    *i = p;
    // n ≤ 15, so frac < EXACT_POW10.len().
    Some(decimal(m, frac, neg))
}

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
