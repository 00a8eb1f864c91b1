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
//!
//! Where every field of a row is read (a time and two or three channels, the usual recording),
//! a row of up to 32 bytes is read whole from the bits of one 32-byte load (AVX2) or two 16-byte
//! loads (SSSE3) (`ssse3::row_by`): where its fields and its end are comes from bit masks, so the
//! next row's start does not wait on each number being read in turn. That took the parse from
//! 28–29 to 19 ns a row, and AVX2 with the row reader inlined from 386 to 303 instructions a row.

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

/// [`EXACT_POW10`], then the same negated: `m / -10^d` is `-(m / 10^d)` bit for bit (rounding
/// to nearest is symmetric, and `0 / -1` is `-0`), so the sign costs no instruction of its own.
static SIGNED_POW10: [f64; 46] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22, -1e0, -1e1, -1e2, -1e3, -1e4, -1e5, -1e6, -1e7, -1e8, -1e9,
    -1e10, -1e11, -1e12, -1e13, -1e14, -1e15, -1e16, -1e17, -1e18, -1e19, -1e20, -1e21, -1e22,
];

/// `m / 10^frac` (exact operands: one rounding), negative for `neg`.
#[inline(always)]
fn decimal(m: u64, frac: usize, neg: bool) -> f64 {
    // m < 2^53: the signed conversion (one instruction) is exact, like the unsigned one.
    // Branch-free sign: half the samples of a raw EMG are negative, at random.
    (m as i64) as f64 / SIGNED_POW10[frac + usize::from(neg) * EXACT_POW10.len()]
}

/// The digits of a number at `data[p]` as (mantissa, fraction digits, end): `Some(None)` when it
/// is not a number [`number_at`] takes, `None` when this way cannot tell (the byte-wise loop
/// then does).
type Digits = Option<Option<(u64, usize, usize)>>;

/// `[+-]digits[.digits]` starting at `data[*i]`; `*i` ends at the byte after the number. `None`
/// for anything else (no digit, too many digits). `data` must end with a byte that is not a digit.
///
/// Where 17 bytes can be read from the number's first digit, the digits are found and combined
/// eight bytes at a time ([`number_swar`]): a per-byte loop mispredicts where each number ends
/// (raw EMG changes its number of digits at random), and that was most of the parse's time.
/// Both paths give the same mantissa and fraction length, so the same value bit for bit. The
/// reader itself goes 16 bytes at a time where the processor can ([`ssse3::number`]); this
/// is what the tests hold each fast path to.
#[cfg(test)]
pub(super) fn number_at(data: &[u8], i: &mut usize) -> Option<f64> {
    number_at_by(data, i, number_swar)
}

/// [`number_at`] with `fast` trying the digits first ([`number_swar`], or 16 bytes at a time in
/// [`ssse3::number`]).
#[inline(always)]
fn number_at_by(data: &[u8], i: &mut usize, fast: impl Fn(&[u8], usize) -> Digits) -> Option<f64> {
    let first = data[*i];
    let neg = first == b'-';
    let p = *i + usize::from(neg | (first == b'+'));
    let (m, frac, end) = match fast(data, p) {
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

/// The digits of `digits[.digits]` at `data[p]`, eight bytes at a time (see [`Digits`]); this
/// way cannot tell when a part has eight digits or more, or near the end of `data`.
#[inline(always)]
fn number_swar(data: &[u8], p: usize) -> Digits {
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
/// [`SKIP_FIELD`]; an empty field gives NaN (the caller decides what it means). Returns the
/// index just after the row's `\n`, or `None` when the row needs the general path. `data` must
/// end with a 0 sentinel (after the bytes read).
#[cfg(test)]
pub(super) fn row_at(
    data: &[u8],
    start: usize,
    sep: u8,
    slots: &[u32],
    out: &mut [f64],
) -> Option<usize> {
    row_at_by(data, start, sep, slots, out, number_swar)
}

/// [`row_at`] with `fast` trying each number's digits first.
#[inline(always)]
fn row_at_by(
    data: &[u8],
    start: usize,
    sep: u8,
    slots: &[u32],
    out: &mut [f64],
    fast: impl Fn(&[u8], usize) -> Digits,
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
                number_at_by(data, &mut i, &fast)?
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

/// Numbers sixteen bytes at a time with SSSE3 (every x86-64 processor since 2006; checked at
/// run time): the digits found with one compare, gathered without the dot by one shuffle and
/// combined by three multiply-adds. The whole parse runs a third fewer instructions than with
/// [`number_swar`] (callgrind: 554 → 366 a row of three numbers) and takes 10 % less time; the
/// mantissa, fraction length and end are the same (tested against the byte-wise loop).
#[cfg(target_arch = "x86_64")]
mod ssse3 {
    use super::Digits;
    use std::arch::x86_64::*;

    /// Whether the processor has SSSE3 (the standard library caches the answer).
    pub(super) fn available() -> bool {
        std::arch::is_x86_feature_detected!("ssse3")
    }

    /// Per (integer digits `i`, fraction digits `f`), at `i * 16 + f`: the shuffle that puts the
    /// `i + f` digits of `digits.digits` (the dot at `i` left out) at the end of 16 bytes, with
    /// zeros (0x80: a zero byte) before them.
    static GATHER: [[u8; 16]; 256] = gather_table();

    const fn gather_table() -> [[u8; 16]; 256] {
        let mut t = [[0x80u8; 16]; 256];
        let mut i = 0;
        while i < 16 {
            let mut f = 0;
            while i + f < 16 {
                let n = i + f;
                let mut j = 0;
                while j < n {
                    t[i * 16 + f][16 - n + j] = (if j < i { j } else { j + 1 }) as u8;
                    j += 1;
                }
                f += 1;
            }
            i += 1;
        }
        t
    }

    /// The digits of `digits[.digits]` at `data[p]` (see [`Digits`]); this way cannot tell when
    /// the number does not end within 16 bytes, or near the end of `data`.
    ///
    /// # Safety
    /// The processor must have SSSE3 ([`available`]).
    #[target_feature(enable = "ssse3")]
    #[inline]
    pub(super) unsafe fn number(data: &[u8], p: usize) -> Digits {
        let window = data.get(p..p + 16)?;
        // SAFETY: `window` holds 16 bytes; the load is unaligned.
        let v = unsafe { _mm_loadu_si128(window.as_ptr().cast()) };
        let x = _mm_sub_epi8(v, _mm_set1_epi8(b'0' as i8));
        // A digit is a byte that is at most 9 after subtracting '0' (unsigned).
        let digit = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(9)), x);
        let not_digits = !(_mm_movemask_epi8(digit) as u32); // bits 16 and up set
        let int_len = not_digits.trailing_zeros() as usize;
        if int_len == 16 {
            return None;
        }
        let (mut frac, mut end) = (0, int_len);
        if window[int_len] == b'.' {
            frac = (not_digits >> (int_len + 1)).trailing_zeros() as usize;
            end = int_len + 1 + frac;
            if end >= 16 {
                return None; // the fraction may go on past the window
            }
        }
        let n = int_len + frac;
        if n == 0 || n > super::MAX_DIGITS {
            return Some(None);
        }
        Some(Some((mantissa(x, int_len, frac), frac, p + end)))
    }

    /// The value of the `int_len + frac` digits of `digits.digits` in `x` (16 bytes minus
    /// `'0'`, the number from the first), the dot left out; at most 15 digits.
    #[target_feature(enable = "ssse3")]
    #[inline]
    unsafe fn mantissa(x: __m128i, int_len: usize, frac: usize) -> u64 {
        let gather = &GATHER[int_len * 16 + frac];
        // SAFETY: 16 bytes, unaligned load.
        let gather = unsafe { _mm_loadu_si128(gather.as_ptr().cast()) };
        let d = _mm_shuffle_epi8(x, gather); // 16 digits, most significant first
        let d = _mm_maddubs_epi16(
            d,
            _mm_setr_epi8(10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1),
        );
        let d = _mm_madd_epi16(d, _mm_setr_epi16(100, 1, 100, 1, 100, 1, 100, 1));
        let d = _mm_packs_epi32(d, d); // four numbers of four digits (at most 9999)
        let d = _mm_madd_epi16(
            d,
            _mm_setr_epi16(10_000, 1, 10_000, 1, 10_000, 1, 10_000, 1),
        );
        let high = _mm_cvtsi128_si32(d) as u32;
        let low = _mm_cvtsi128_si32(_mm_srli_si128::<4>(d)) as u32;
        u64::from(high) * 100_000_000 + u64::from(low)
    }

    /// Whole rows read by [`row_by`] with [`classes`]; made only where the processor has SSSE3.
    #[derive(Clone, Copy)]
    pub(super) struct WholeRows(());

    impl WholeRows {
        /// # Safety
        /// The processor must have SSSE3 ([`available`]).
        pub(super) unsafe fn new() -> Self {
            WholeRows(())
        }
    }

    impl super::WholeRow for WholeRows {
        #[inline(always)]
        fn row<const W: usize>(self, data: &[u8], p: usize, sep: u8) -> Option<([f64; W], usize)> {
            // SAFETY: a `WholeRows` exists only where the processor has SSSE3 (`new`), and
            // this is inlined into code compiled for it (`parse_ssse3`).
            unsafe { row_by(data, p, |w| classes(w, sep)) }
        }
    }

    /// Whole rows read by [`row_by`] with [`classes_avx2`]; made only where the processor has AVX2 and the bit
    /// instructions that come with it ([`avx2_available`]).
    #[derive(Clone, Copy)]
    pub(super) struct WholeRowsAvx2(());

    impl WholeRowsAvx2 {
        /// # Safety
        /// The processor must have what [`avx2_available`] asks for.
        pub(super) unsafe fn new() -> Self {
            WholeRowsAvx2(())
        }
    }

    impl super::WholeRow for WholeRowsAvx2 {
        #[inline(always)]
        fn row<const W: usize>(self, data: &[u8], p: usize, sep: u8) -> Option<([f64; W], usize)> {
            // SAFETY: a `WholeRowsAvx2` exists only where the processor has AVX2 (`new`), and
            // this is inlined into code compiled for it (`parse_avx2`).
            unsafe { row_by(data, p, |w| classes_avx2(w, sep)) }
        }
    }

    /// Whether the processor has AVX2 and the bit instructions (BMI1, BMI2, LZCNT, POPCNT)
    /// that every AVX2 processor has: what [`super::ParsedLines::parse_avx2`] is compiled for.
    pub(super) fn avx2_available() -> bool {
        std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("bmi1")
            && std::arch::is_x86_feature_detected!("bmi2")
            && std::arch::is_x86_feature_detected!("lzcnt")
            && std::arch::is_x86_feature_detected!("popcnt")
    }

    /// The classes of a row's bytes: per byte of its first 32, as bits, a number's byte (digit
    /// or dot), a dot, a minus, the separator, `\n`.
    type Classes = [u32; 5];

    /// [`Classes`] from two 16-byte loads.
    #[target_feature(enable = "ssse3")]
    #[inline]
    unsafe fn classes(window: &[u8; 48], sep: u8) -> Classes {
        // SAFETY: `window` holds 48 bytes; the loads are unaligned.
        let (lo, hi) = unsafe {
            (
                _mm_loadu_si128(window.as_ptr().cast()),
                _mm_loadu_si128(window[16..].as_ptr().cast()),
            )
        };
        let bits = |m: [__m128i; 2]| {
            (_mm_movemask_epi8(m[0]) as u32) | (_mm_movemask_epi8(m[1]) as u32) << 16
        };
        let eq = |b: u8| {
            let b = _mm_set1_epi8(b as i8);
            [_mm_cmpeq_epi8(lo, b), _mm_cmpeq_epi8(hi, b)]
        };
        let digit = |v: __m128i| {
            let x = _mm_sub_epi8(v, _mm_set1_epi8(b'0' as i8));
            _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(9)), x)
        };
        let dot = eq(b'.');
        [
            bits([
                _mm_or_si128(digit(lo), dot[0]),
                _mm_or_si128(digit(hi), dot[1]),
            ]),
            bits(dot),
            bits(eq(b'-')),
            bits(eq(sep)),
            bits(eq(b'\n')),
        ]
    }

    /// [`Classes`] from one 32-byte load: half the instructions of [`classes`].
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn classes_avx2(window: &[u8; 48], sep: u8) -> Classes {
        // SAFETY: `window` holds 48 bytes; the load is unaligned.
        let v = unsafe { _mm256_loadu_si256(window.as_ptr().cast()) };
        let bits = |m: __m256i| _mm256_movemask_epi8(m) as u32;
        let eq = |b: u8| _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b as i8));
        let x = _mm256_sub_epi8(v, _mm256_set1_epi8(b'0' as i8));
        let digit = _mm256_cmpeq_epi8(_mm256_min_epu8(x, _mm256_set1_epi8(9)), x);
        let dot = eq(b'.');
        [
            bits(_mm256_or_si256(digit, dot)),
            bits(dot),
            bits(eq(b'-')),
            bits(eq(sep)),
            bits(eq(b'\n')),
        ]
    }

    /// A whole row of `W` fields at `data[p]`, from the bits of its first 32 bytes as
    /// `classify` gives them ([`classes`], [`classes_avx2`]): its values in field order and the
    /// index after its line end. `None` when this way cannot tell (the row is longer, it is near
    /// the end of `data`, or anything about it is unusual, such as a `+`):
    /// [`super::row_dense`] then reads it.
    ///
    /// The next row's start waits only on the line end's bit, not on each number's end in turn:
    /// the numbers of a row and of the rows after it are read side by side.
    ///
    /// # Safety
    /// Only inlined into code compiled for SSSE3 (it uses its instructions without being
    /// compiled for them itself, so that it is inlined: a call per row cost 15 instructions,
    /// and the values went through memory).
    #[inline(always)]
    unsafe fn row_by<const W: usize>(
        data: &[u8],
        p: usize,
        classify: impl Fn(&[u8; 48]) -> Classes,
    ) -> Option<([f64; W], usize)> {
        // 32 bytes for the row, 16 more for the digits of a number that starts at byte 31.
        let window: &[u8; 48] = data.get(p..p + 48)?.try_into().ok()?;
        let [num, dots, minus, seps, line_ends] = classify(window);
        let line_end = line_ends.trailing_zeros() as usize;
        if line_end == 0 || line_end >= 32 {
            return None;
        }
        let next = p + line_end + 1;
        // The row's bytes: up to the line end, or to its `\r` in a CRLF.
        let len = line_end - usize::from(window[line_end - 1] == b'\r');
        let inside = (1u32 << len) - 1;
        let mut seps = seps & inside;
        // Every byte of the row that is neither a number's nor a separator is a minus at the
        // start of a field.
        let minus = minus & (seps << 1 | 1);
        if !(num | seps) & inside != minus {
            return None;
        }
        let mut dots = dots & inside;
        let mut out = [f64::NAN; W];
        let mut field = 0; // the field's first byte
        for (f, value) in out.iter_mut().enumerate() {
            let end = if f + 1 < W {
                if seps == 0 {
                    return None; // a field short
                }
                let end = seps.trailing_zeros() as usize;
                seps &= seps - 1;
                end
            } else if seps != 0 {
                return None; // a field too many
            } else {
                len
            };
            let start = field;
            field = end + 1;
            if end == start {
                continue; // an empty cell: NaN
            }
            let neg = minus >> start & 1 != 0;
            let start = start + usize::from(neg);
            // The first dot not yet taken: this field's when before `end`; one before `start`
            // is a second dot of an earlier field.
            let dot = dots.trailing_zeros() as usize;
            if dot < start {
                return None;
            }
            let has_dot = dot < end;
            if has_dot {
                dots &= dots - 1;
            }
            let chars = end - start;
            let n = chars - usize::from(has_dot);
            if n.wrapping_sub(1) >= super::MAX_DIGITS {
                return None; // no digit, or too many
            }
            let int_len = if has_dot { dot - start } else { chars };
            let frac = n - int_len;
            let digits = window.get(start..start + 16)?;
            // SAFETY: `digits` holds 16 bytes; unaligned load.
            let v = unsafe { _mm_loadu_si128(digits.as_ptr().cast()) };
            let m = mantissa(_mm_sub_epi8(v, _mm_set1_epi8(b'0' as i8)), int_len, frac);
            *value = super::decimal(m, frac, neg);
        }
        if dots != 0 {
            return None; // a second dot in the last field
        }
        Some((out, next))
    }
}

/// A way to read a whole row of `W` fields at once, values in field order (see
/// `ssse3::row_by`): `None` when it cannot tell, and [`row_dense`] reads the row.
trait WholeRow: Copy {
    fn row<const W: usize>(self, data: &[u8], p: usize, sep: u8) -> Option<([f64; W], usize)>;
}

/// No whole rows: every row field by field.
#[derive(Clone, Copy)]
struct NoWholeRows;

impl WholeRow for NoWholeRows {
    #[inline(always)]
    fn row<const W: usize>(self, _: &[u8], _: usize, _: u8) -> Option<([f64; W], usize)> {
        None
    }
}

/// The layout's slots as an array when a row has `W` fields, `W` values, and every field is
/// read into a slot of its own.
fn dense_slots<const W: usize>(layout: &RowLayout) -> Option<[usize; W]> {
    let slots: &[u32; W] = layout.slots.as_slice().try_into().ok()?;
    if layout.width != W {
        return None;
    }
    let mut out = [0; W];
    let mut seen = [false; W];
    for (o, &s) in out.iter_mut().zip(slots) {
        let s = usize::try_from(s).ok().filter(|&s| s < W)?;
        if std::mem::replace(&mut seen[s], true) {
            return None;
        }
        *o = s;
    }
    Some(out)
}

/// One row of `W` fields, all read (see [`dense_slots`]): its values in field order and the
/// index after its line end, or `None` when [`row_at`] would decline it. Field by field what
/// [`row_at`] does, with the number tried first and an empty cell recognised when it fails.
#[inline(always)]
fn row_dense<const W: usize>(
    data: &[u8],
    start: usize,
    sep: u8,
    fast: impl Fn(&[u8], usize) -> Digits,
) -> Option<([f64; W], usize)> {
    let mut out = [f64::NAN; W];
    let mut i = start;
    for (f, value) in out.iter_mut().enumerate() {
        let v = match number_at_by(data, &mut i, &fast) {
            Some(v) => v,
            None => {
                // Not a number: an empty cell (no sample of this channel on this row), or the
                // general path's to read.
                let c = data[i];
                if c == sep || c == b'\n' || c == b'\r' {
                    f64::NAN
                } else {
                    return None;
                }
            }
        };
        *value = v;
        let c = data[i];
        if f + 1 < W {
            if c != sep {
                return None;
            }
            i += 1;
        } else if c == b'\n' {
            return Some((out, i + 1));
        } else if c == b'\r' && data[i + 1] == b'\n' {
            return Some((out, i + 2));
        }
    }
    None
}

/// Where the line at `buf[p]` (the bytes read, then the 0 sentinel) ends, for stepping over a
/// declined line: after its `\n`; for a last line without one, the sentinel's index when the
/// bytes end the file (`at_eof`), else `None` (the line is marked all the same, and the general
/// path reads it).
fn after_line(buf: &[u8], p: usize, at_eof: bool) -> Option<usize> {
    let n = buf.len().saturating_sub(1); // the sentinel's index
    match memchr::memchr(b'\n', buf.get(p..n)?) {
        Some(i) => Some(p + i + 1),
        None if at_eof => Some(n),
        None => None,
    }
}

/// Lines of [`ParsedLines::parse_dense`] waiting to join the columns.
const BATCH: usize = 64;

/// Up to [`BATCH`] lines: their starts, whether declined, and their values by field.
struct Batch<const W: usize> {
    len: usize,
    starts: [u32; BATCH],
    declined: [bool; BATCH],
    values: [[f64; BATCH]; W],
}

impl<const W: usize> Batch<W> {
    fn new() -> Self {
        Batch {
            len: 0,
            starts: [0; BATCH],
            declined: [false; BATCH],
            values: [[f64::NAN; BATCH]; W],
        }
    }

    /// Adds a line (`values` NaN for a declined one); true when the batch is full.
    #[inline(always)]
    fn push(&mut self, start: u32, values: Option<[f64; W]>) -> bool {
        let k = self.len % BATCH;
        self.starts[k] = start;
        self.declined[k] = values.is_none();
        let values = values.unwrap_or([f64::NAN; W]);
        for (column, v) in self.values.iter_mut().zip(values) {
            column[k] = v;
        }
        self.len = k + 1;
        self.len == BATCH
    }

    /// Moves the lines into `lines`' columns, field `f` into column `slots[f]`.
    fn flush(&mut self, lines: &mut ParsedLines, slots: &[usize; W]) {
        let k = self.len;
        lines.starts.extend_from_slice(&self.starts[..k]);
        lines.declined.extend_from_slice(&self.declined[..k]);
        for (&slot, values) in slots.iter().zip(&self.values) {
            if let Some(column) = lines.columns.get_mut(slot) {
                column.extend_from_slice(&values[..k]);
            }
        }
        self.len = 0;
    }
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

/// The arguments of [`ParsedLines::parse`], handed on to the way that reads the numbers.
#[derive(Clone, Copy)]
struct Job<'a> {
    buf: &'a [u8],
    from: usize,
    limit: usize,
    max_lines: usize,
    layout: &'a RowLayout,
    at_declined: AtDeclined,
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
        let job = Job {
            buf,
            from,
            limit,
            max_lines,
            layout,
            at_declined,
        };
        #[cfg(target_arch = "x86_64")]
        if ssse3::avx2_available() {
            // SAFETY: the processor has AVX2 and its bit instructions.
            return unsafe { self.parse_avx2(job) };
        }
        #[cfg(target_arch = "x86_64")]
        if ssse3::available() {
            // SAFETY: the processor has SSSE3.
            return unsafe { self.parse_ssse3(job) };
        }
        self.parse_by(job, number_swar, NoWholeRows)
    }

    /// [`Self::parse`] with the numbers read by [`ssse3::number`] and the whole rows' bytes
    /// classified 32 at a time ([`ssse3::WholeRowsAvx2`]).
    ///
    /// # Safety
    /// The processor must have what [`ssse3::avx2_available`] asks for.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,bmi1,bmi2,lzcnt,popcnt")]
    unsafe fn parse_avx2(&mut self, job: Job) -> Option<usize> {
        // SAFETY: this function runs only where the processor has AVX2 (which has SSSE3).
        self.parse_by(
            job,
            |data: &[u8], p: usize| unsafe { ssse3::number(data, p) },
            // SAFETY: the processor has AVX2.
            unsafe { ssse3::WholeRowsAvx2::new() },
        )
    }

    /// [`Self::parse`] with the numbers read by [`ssse3::number`].
    ///
    /// # Safety
    /// The processor must have SSSE3.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "ssse3")]
    unsafe fn parse_ssse3(&mut self, job: Job) -> Option<usize> {
        // SAFETY: this function runs only where the processor has SSSE3.
        self.parse_by(
            job,
            |data: &[u8], p: usize| unsafe { ssse3::number(data, p) },
            // SAFETY: the processor has SSSE3.
            unsafe { ssse3::WholeRows::new() },
        )
    }

    /// [`Self::parse`] with `fast` trying each number's digits first: rows whose every field is
    /// read ([`dense_slots`]) by [`Self::parse_dense`], others by [`Self::parse_general`].
    #[inline(always)]
    fn parse_by(
        &mut self,
        job: Job,
        fast: impl Fn(&[u8], usize) -> Digits,
        whole: impl WholeRow,
    ) -> Option<usize> {
        let layout = job.layout;
        if let Some(s) = dense_slots::<2>(layout) {
            return self.parse_dense(job, s, fast, whole);
        }
        if let Some(s) = dense_slots::<3>(layout) {
            return self.parse_dense(job, s, fast, whole);
        }
        if let Some(s) = dense_slots::<4>(layout) {
            return self.parse_dense(job, s, fast, whole);
        }
        self.parse_general(job, fast)
    }

    /// [`Self::parse`] for rows of `W` fields that are all read (field `f` into slot
    /// `slots[f]`): each row read whole where `whole` can (`ssse3::row_by`), else field by field
    /// ([`row_dense`]), and the lines gathered [`BATCH`] at a time before they join the
    /// columns, so that a line costs no vector growth check per value. The same lines, values
    /// and stop as [`Self::parse_general`] (tested).
    #[inline(always)]
    fn parse_dense<const W: usize>(
        &mut self,
        job: Job,
        slots: [usize; W],
        fast: impl Fn(&[u8], usize) -> Digits,
        whole: impl WholeRow,
    ) -> Option<usize> {
        let Job {
            buf,
            from,
            limit,
            max_lines,
            layout,
            at_declined,
        } = job;
        let sep = layout.sep;
        let mut batch = Batch::<W>::new();
        let mut p = from;
        let mut next = Some(p);
        while p < limit && self.starts.len() + batch.len < max_lines {
            let parsed = whole
                .row(buf, p, sep)
                .or_else(|| row_dense(buf, p, sep, &fast));
            next = match (parsed, at_declined) {
                (Some((_, next)), _) => Some(next),
                (None, AtDeclined::Stop) => break,
                (None, AtDeclined::StepOver { at_eof }) => after_line(buf, p, at_eof),
            };
            if batch.push((p - from) as u32, parsed.map(|(v, _)| v)) {
                batch.flush(self, &slots);
            }
            match next {
                Some(q) => p = q,
                None => break,
            }
        }
        batch.flush(self, &slots);
        next.map(|_| p)
    }

    /// [`Self::parse`] for any layout, a field at a time.
    #[inline(always)]
    fn parse_general(&mut self, job: Job, fast: impl Fn(&[u8], usize) -> Digits) -> Option<usize> {
        let Job {
            buf,
            from,
            limit,
            max_lines,
            layout,
            at_declined,
        } = job;
        let mut p = from;
        while p < limit && self.starts.len() < max_lines {
            let parsed = row_at_by(buf, p, layout.sep, &layout.slots, &mut self.row, &fast);
            let next = match (parsed, at_declined) {
                (Some(next), _) => Some(next),
                (None, AtDeclined::Stop) => break,
                (None, AtDeclined::StepOver { at_eof }) => after_line(buf, p, at_eof),
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

    type ReadNumber = fn(&[u8], &mut usize) -> Option<f64>;

    /// Each way of reading a number fast: eight bytes at a time, and 16 with SSSE3 (which the
    /// x86-64 machines these tests run on have: a failure, not a skip, where it is missing).
    fn fast_paths() -> Vec<(&'static str, ReadNumber)> {
        let mut paths: Vec<(&'static str, ReadNumber)> = vec![("eight bytes", number_at)];
        #[cfg(target_arch = "x86_64")]
        {
            assert!(ssse3::available(), "this x86-64 processor has no SSSE3");
            paths.push(("sixteen bytes (SSSE3)", |data, i| {
                // SAFETY: the processor has SSSE3 (asserted above).
                number_at_by(data, i, |data, p| unsafe { ssse3::number(data, p) })
            }));
        }
        paths
    }

    #[test]
    fn the_fast_paths_read_what_the_byte_loop_reads() {
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
                                let mut b = 0;
                                let want = number_scalar(&data, &mut b);
                                for (path, read) in fast_paths() {
                                    let mut a = 0;
                                    let got = read(&data, &mut a);
                                    assert_eq!(
                                        got.map(f64::to_bits),
                                        want.map(f64::to_bits),
                                        "{path}: {:?}",
                                        String::from_utf8_lossy(&data)
                                    );
                                    if want.is_some() {
                                        assert_eq!(
                                            a,
                                            b,
                                            "{path}: {:?}",
                                            String::from_utf8_lossy(&data)
                                        );
                                    }
                                    checked += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 10_000);
    }

    /// Rows of every kind — good, empty cells, CRLF, lone CRs, junk, a field short or too many,
    /// skipped fields holding anything, numbers too long for a 16-byte window, a last line
    /// without its end — parsed as the reader parses them (SSSE3 where the processor has it) and
    /// eight bytes at a time: the same lines, the same declined ones, the same values bit for
    /// bit, the same stop.
    #[test]
    fn rows_read_sixteen_bytes_at_a_time_are_the_rows_read_eight_at_a_time() {
        let mut seed = 0x2545_F491_4F6C_DD1D_u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let field = |next: &mut dyn FnMut(u64) -> u64| -> String {
            match next(12) {
                0 => String::new(),
                1 => ["abc", "1e5", " 2", "nan", "\"3\"", "1\r2", "-", ".", "+.5"]
                    [next(9) as usize]
                    .into(),
                _ => {
                    let mut f = String::new();
                    f.push_str(["", "-", "+"][next(3) as usize]);
                    let digits = |f: &mut String, n: u64, next: &mut dyn FnMut(u64) -> u64| {
                        (0..n).for_each(|_| f.push((b'0' + next(10) as u8) as char))
                    };
                    let long = next(10) == 0;
                    digits(&mut f, next(if long { 18 } else { 5 }), next);
                    if next(4) != 0 {
                        f.push('.');
                        digits(&mut f, next(if long { 18 } else { 8 }), next);
                    }
                    f
                }
            }
        };
        // Per layout, values a row has beyond the fields' slots (none in the reader's layouts).
        for (slots, unfilled) in [
            (vec![0, 1, 2], 0),
            (vec![0, SKIP_FIELD, 1], 0),
            (vec![0, 1, 2, 3, 4, 5], 0),
            (vec![0, 1], 0),
            (vec![1, 0, 2], 0),
            (vec![2, 0, 3, 1], 0),
            (vec![0, 2, 2], 0), // one slot twice (and one never): not a dense layout
            (vec![1, 0], 1),    // a slot no field fills: not a dense layout
        ] {
            let width = 1 + slots
                .iter()
                .filter(|&&s| s != SKIP_FIELD)
                .max()
                .unwrap_or(&0);
            let width = width as usize + unfilled;
            let layout = RowLayout {
                sep: b',',
                slots: slots.clone(),
                width,
            };
            for round in 0..60 {
                let mut text = String::new();
                for _ in 0..200 {
                    let n = match next(20) {
                        0 => slots.len() - 1,
                        1 => slots.len() + 1,
                        _ => slots.len(),
                    };
                    let fields: Vec<String> = (0..n).map(|_| field(&mut next)).collect();
                    text.push_str(&fields.join(","));
                    text.push_str(["\n", "\n", "\n", "\r\n", "\r"][next(5) as usize]);
                }
                if round % 2 == 1 {
                    text.pop(); // a last line without its end
                }
                let mut buf = text.into_bytes();
                buf.push(0);
                let limit = buf.len() - 1;
                for at_declined in [AtDeclined::Stop, AtDeclined::StepOver { at_eof: true }] {
                    let (mut fast, mut plain) = (ParsedLines::default(), ParsedLines::default());
                    fast.clear(width);
                    plain.clear(width);
                    // Every fourth round stops after a few lines (inside a batch or after it).
                    let max_lines = match round % 4 {
                        3 => [1, 63, 64, 65, 130][round / 4 % 5],
                        _ => usize::MAX,
                    };
                    let got = fast.parse(&buf, 0, limit, max_lines, &layout, at_declined);
                    let job = Job {
                        buf: &buf,
                        from: 0,
                        limit,
                        max_lines,
                        layout: &layout,
                        at_declined,
                    };
                    let want = plain.parse_general(job, number_swar);
                    assert_eq!(got, want);
                    // The SSSE3 path too (`parse` takes AVX2 where the processor has it).
                    #[cfg(target_arch = "x86_64")]
                    {
                        assert!(ssse3::available(), "this x86-64 processor has no SSSE3");
                        let mut sse = ParsedLines::default();
                        sse.clear(width);
                        // SAFETY: the processor has SSSE3 (asserted).
                        assert_eq!(unsafe { sse.parse_ssse3(job) }, want);
                        assert_eq!((&sse.starts, &sse.declined), (&fast.starts, &fast.declined));
                        let bits = |p: &ParsedLines| -> Vec<Vec<u64>> {
                            let c = p.columns.iter();
                            c.map(|c| c.iter().map(|v| v.to_bits()).collect()).collect()
                        };
                        assert_eq!(bits(&sse), bits(&fast));
                    }
                    assert_eq!(fast.starts, plain.starts);
                    assert_eq!(fast.declined, plain.declined);
                    if at_declined != AtDeclined::Stop && max_lines == usize::MAX {
                        assert!(fast.starts.len() >= 100, "{} lines", fast.starts.len());
                        // a lone CR ends no line
                    }
                    for (a, b) in fast.columns.iter().zip(&plain.columns) {
                        assert_eq!(a.len(), fast.starts.len());
                        assert_eq!(b.len(), plain.starts.len());
                    }
                    for (line, &declined) in plain.declined.iter().enumerate() {
                        if !declined {
                            for (a, b) in fast.columns.iter().zip(&plain.columns) {
                                assert_eq!(a[line].to_bits(), b[line].to_bits(), "line {line}");
                            }
                        }
                    }
                }
            }
        }
    }

    /// Whole rows read from the bits of 32 bytes give what the field-by-field reader gives,
    /// bit for bit, whenever they give anything, with the bytes classified 16 (SSSE3) or 32
    /// (AVX2) at a time; and they do take every well-formed row of at most 31 bytes without a
    /// `+` (else the fast way would silently not be used).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn whole_rows_are_the_rows_read_field_by_field() {
        assert!(
            ssse3::available() && ssse3::avx2_available(),
            "every x86-64 processor CI runs on has SSSE3 and AVX2"
        );
        // SAFETY: the processor has SSSE3 and AVX2 (asserted).
        let readers = unsafe { (ssse3::WholeRows::new(), ssse3::WholeRowsAvx2::new()) };
        let sse = readers.0;
        let mut seed = 0x1234_5678_9ABC_DEF1_u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let field = |next: &mut dyn FnMut(u64) -> u64| -> String {
            let mut f = String::new();
            match next(16) {
                0 => return f, // empty
                1 => f.push_str(
                    ["+", "x", " ", "\r", ".", "..", "1.2.3", "-", "--1"][next(9) as usize],
                ),
                _ => {
                    if next(3) == 0 {
                        f.push('-');
                    }
                    (0..next(6)).for_each(|_| f.push((b'0' + next(10) as u8) as char));
                    if next(5) != 0 {
                        f.push('.');
                        (0..next(9)).for_each(|_| f.push((b'0' + next(10) as u8) as char));
                    }
                }
            }
            f
        };
        type Readers = (ssse3::WholeRows, ssse3::WholeRowsAvx2);
        fn check<const W: usize>(
            row: &[u8],
            readers: Readers,
            taken: &mut usize,
            short: &mut usize,
        ) {
            let (sse, avx2) = readers;
            let mut data = row.to_vec();
            data.extend_from_slice(&[b'9'; 48]); // the next rows' bytes
            data.push(0);
            let slots: Vec<u32> = (0..W as u32).collect();
            let mut want = [f64::NAN; W];
            let want_next = row_at(&data, 0, b',', &slots, &mut want);
            let got = sse.row::<W>(&data, 0, b',');
            let got_avx2 = avx2.row::<W>(&data, 0, b',');
            let text = String::from_utf8_lossy(row);
            let bits = |r: Option<([f64; W], usize)>| r.map(|(v, n)| (v.map(f64::to_bits), n));
            assert_eq!(bits(got), bits(got_avx2), "{text:?}: AVX2");
            if let Some((values, next)) = got {
                assert_eq!(Some(next), want_next, "{text:?}");
                for (a, b) in values.iter().zip(&want) {
                    assert_eq!(a.to_bits(), b.to_bits(), "{text:?}");
                }
                *taken += 1;
            }
            let plain = !row.contains(&b'+') && row.len() <= 32;
            if want_next.is_some() && plain {
                assert!(got.is_some(), "{text:?} not taken whole");
                *short += 1;
            }
        }
        let (mut taken, mut short) = (0, 0);
        for _ in 0..60_000 {
            let w = 2 + next(3) as usize;
            let n = match next(12) {
                0 => w - 1,
                1 => w + 1,
                _ => w,
            };
            let fields: Vec<String> = (0..n).map(|_| field(&mut next)).collect();
            let mut row = fields.join(",");
            row.push_str(["\n", "\n", "\r\n", "\r", ""][next(5) as usize]);
            match w {
                2 => check::<2>(row.as_bytes(), readers, &mut taken, &mut short),
                3 => check::<3>(row.as_bytes(), readers, &mut taken, &mut short),
                _ => check::<4>(row.as_bytes(), readers, &mut taken, &mut short),
            }
        }
        assert!(
            short > 15_000 && taken >= short,
            "{short} short rows, {taken} taken"
        );
        // A recorder's row, a CRLF row, a row of empty cells.
        let mut data = b"0.000500,2.267999,-8.324065\n1,,-0\r\n,,\n".to_vec();
        data.extend_from_slice(&[0; 48]);
        let (row, next) = sse.row::<3>(&data, 0, b',').expect("taken whole");
        assert_eq!(row, [0.0005, 2.267999, -8.324065]);
        let (row, after) = sse.row::<3>(&data, next, b',').expect("CRLF");
        assert_eq!(
            (row[0], row[1].is_nan(), row[2].to_bits()),
            (1.0, true, (-0.0f64).to_bits())
        );
        let (row, _) = sse.row::<3>(&data, after, b',').expect("empty cells");
        assert!(row.iter().all(|v| v.is_nan()));
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
