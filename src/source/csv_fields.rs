//! Splitting a line of delimited text into fields, and a field into a number: the dialect
//! (separator, comment and end-of-data lines, quotes, a decimal comma beside `;`) and the fast
//! decimal parser. Used by the CSV reader's general path; the bulk row parser (`csv_rows.rs`)
//! gives bit-identical numbers.

use crate::source::csv_rows::EXACT_POW10;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Sep {
    Byte(u8),
    Whitespace,
}

/// A field of a row, as a value.
pub(super) enum Cell {
    Num(f64),
    Empty,
    Bad,
}

/// What a non-data line is.
pub(super) enum LineKind {
    Blank,
    Comment,
    EndOfData,
    Data,
}

pub(super) fn classify(line: &[u8]) -> LineKind {
    let t = line.trim_ascii_start();
    match t.first() {
        None => LineKind::Blank,
        Some(b'#') => LineKind::Comment,
        Some(b'A') if t.trim_ascii_end() == b"Annotations:" => LineKind::EndOfData,
        _ => LineKind::Data,
    }
}

pub(super) fn detect_sep(line: &[u8]) -> Sep {
    for b in [b'\t', b';', b','] {
        if line.contains(&b) {
            return Sep::Byte(b);
        }
    }
    Sep::Whitespace
}

/// Splits `line` into field byte ranges (into a reused vector: no allocation once it has grown).
pub(super) fn split_fields(line: &[u8], sep: Sep, out: &mut Vec<(usize, usize)>) {
    out.clear();
    match sep {
        Sep::Byte(b) => {
            let mut start = 0;
            for (i, &c) in line.iter().enumerate() {
                if c == b {
                    out.push((start, i));
                    start = i + 1;
                }
            }
            out.push((start, line.len()));
        }
        Sep::Whitespace => {
            let mut start = None;
            for (i, &c) in line.iter().enumerate() {
                let ws = c == b' ' || c == b'\t';
                match (ws, start) {
                    (true, Some(s)) => {
                        out.push((s, i));
                        start = None;
                    }
                    (false, None) => start = Some(i),
                    _ => {}
                }
            }
            if let Some(s) = start {
                out.push((s, line.len()));
            }
        }
    }
}

/// Number of fields of a row, not counting one empty field after a trailing separator
/// (`1,2,` against a header of two columns).
pub(super) fn field_count(line: &[u8], fields: &[(usize, usize)], expected: usize) -> usize {
    match fields.last() {
        Some(&(s, e)) if fields.len() == expected + 1 && line[s..e].trim_ascii().is_empty() => {
            expected
        }
        _ => fields.len(),
    }
}

/// Digits after the decimal point of a printed number; `None` with an exponent.
pub(super) fn printed_decimals(raw: &[u8]) -> Option<usize> {
    let f = trim_field(raw);
    if f.iter().any(|c| matches!(c, b'e' | b'E')) {
        return None;
    }
    Some(
        f.iter()
            .position(|&c| c == b'.' || c == b',')
            .map_or(0, |p| f.len() - p - 1),
    )
}

/// A field without surrounding blanks and double quotes.
pub(super) fn trim_field(f: &[u8]) -> &[u8] {
    let f = f.trim_ascii();
    if f.len() >= 2 && f[0] == b'"' && f[f.len() - 1] == b'"' {
        f[1..f.len() - 1].trim_ascii()
    } else {
        f
    }
}

/// Fast path for the numbers recordings are made of: `[+-]digits[.digits]` with at most 15
/// significant digits (and at most 22 after the point). The digits form an integer `m < 2^53` and
/// `10^d` is exact, so `m / 10^d` is one correctly rounded division: bit for bit what
/// `str::parse::<f64>` returns (Clinger's fast path). Anything else (exponents, `inf`, long
/// mantissas, stray bytes) returns `None` and goes to the standard parser.
#[inline]
pub(super) fn parse_plain_decimal(f: &[u8]) -> Option<f64> {
    let (neg, digits) = match f.first()? {
        b'-' => (true, &f[1..]),
        b'+' => (false, &f[1..]),
        _ => (false, f),
    };
    let mut m: u64 = 0;
    let mut n_digits = 0usize;
    let mut frac_digits = 0usize;
    let mut seen_point = false;
    for &c in digits {
        match c {
            b'0'..=b'9' => {
                m = m * 10 + u64::from(c - b'0');
                n_digits += 1;
                if seen_point {
                    frac_digits += 1;
                }
                if n_digits > 15 {
                    return None;
                }
            }
            b'.' if !seen_point => seen_point = true,
            _ => return None,
        }
    }
    if n_digits == 0 || frac_digits >= EXACT_POW10.len() {
        return None;
    }
    let v = m as f64 / EXACT_POW10[frac_digits];
    Some(if neg { -v } else { v })
}

pub(super) fn parse_cell(raw: &[u8], sep: Sep) -> Cell {
    let f = trim_field(raw);
    if f.is_empty() {
        return Cell::Empty;
    }
    let parsed = parse_plain_decimal(f).or_else(|| {
        std::str::from_utf8(f)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
    });
    match parsed {
        Some(v) => Cell::Num(v),
        None if sep == Sep::Byte(b';') && f.len() < 64 && f.contains(&b',') => {
            // Decimal comma, as European spreadsheets write it beside `;` separators.
            let mut tmp = [0u8; 64];
            tmp[..f.len()].copy_from_slice(f);
            for c in &mut tmp[..f.len()] {
                if *c == b',' {
                    *c = b'.';
                }
            }
            match std::str::from_utf8(&tmp[..f.len()])
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
            {
                Some(v) => Cell::Num(v),
                None => Cell::Bad,
            }
        }
        None => Cell::Bad,
    }
}

/// A number (including `nan`/`inf`: a row of them is data, not a header).
pub(super) fn is_numeric(raw: &[u8], sep: Sep) -> bool {
    matches!(parse_cell(raw, sep), Cell::Num(_))
}

/// A finite number: a column that can be a channel.
pub(super) fn is_finite_number(raw: &[u8], sep: Sep) -> bool {
    matches!(parse_cell(raw, sep), Cell::Num(v) if v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_decimal_path_is_bit_identical_to_the_standard_parser() {
        let fixed = [
            "0",
            "-0",
            "-0.0",
            "+1.5",
            "5.221515",
            "-10.03307",
            "0.000500",
            "3622.9995",
            "1.",
            ".5",
            "999999999999999",
            "123456789.012345",
            "0.1",
            "0.3",
            "2.675",
            "-3.0000001",
        ];
        for s in fixed {
            let want: f64 = s.parse().unwrap();
            let got = parse_plain_decimal(s.as_bytes()).unwrap_or(want);
            assert_eq!(got.to_bits(), want.to_bits(), "{s}");
        }
        // Pseudo-random decimals with up to 15 significant digits and various point positions.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let digits = (x % 15 + 1) as u32;
            let m = (x >> 8) % 10u64.pow(digits);
            let point = ((x >> 40) % (u64::from(digits) + 1)) as usize;
            let s = format!("{m:0width$}", width = digits as usize);
            let s = format!(
                "{}{}.{}",
                if x & 1 == 1 { "-" } else { "" },
                &s[..point],
                &s[point..]
            );
            let want: f64 = s.parse().unwrap();
            let got = parse_plain_decimal(s.as_bytes()).expect(&s);
            assert_eq!(got.to_bits(), want.to_bits(), "{s}");
        }
    }

    #[test]
    fn bulk_row_parser_agrees_with_the_field_parser() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let pieces = [
            "",
            "-",
            ".",
            "0",
            "-0.0",
            "7",
            "12.5",
            "-10.03307",
            "3622.999500",
            "123456789",
            "12345678.9",
            "0.12345678",
            "1e3",
            " 4",
            "x",
            "+2.25",
            "5.",
            ".75",
            "99999999999.9999",
        ];
        for _ in 0..100_000 {
            let n = (next() % 4 + 1) as usize;
            let fields: Vec<String> = (0..n)
                .map(|_| {
                    let r = next();
                    if r % 3 == 0 {
                        pieces[(r >> 8) as usize % pieces.len()].to_string()
                    } else {
                        let digits = ((r >> 8) % 12 + 1) as u32;
                        let m = (r >> 16) % 10u64.pow(digits);
                        let s = format!("{m:0w$}", w = digits as usize);
                        let point = ((r >> 40) % u64::from(digits + 1)) as usize;
                        format!(
                            "{}{}.{}",
                            if r & 8 == 0 { "-" } else { "" },
                            &s[..point],
                            &s[point..]
                        )
                    }
                })
                .collect();
            let line = fields.join(",");
            // Other bytes after the line, as in the reader's buffer, and the 0 sentinel.
            let buf = format!("{line}\n98765432\0");
            let slots: Vec<u32> = (0..n as u32).collect();
            let mut out = vec![0.0; n];
            let got = crate::source::csv_rows::row_at(buf.as_bytes(), 0, b',', &slots, &mut out);
            assert!(got.is_none() || got == Some(line.len() + 1), "{line}");
            let got = got.is_some();
            let want: Option<Vec<f64>> = fields
                .iter()
                .map(|f| {
                    if f.is_empty() {
                        Some(f64::NAN)
                    } else {
                        parse_plain_decimal(f.as_bytes())
                    }
                })
                .collect();
            match want {
                Some(w) => {
                    assert!(got, "{line}");
                    for (a, b) in out.iter().zip(&w) {
                        assert!(
                            a.to_bits() == b.to_bits() || a.is_nan() && b.is_nan(),
                            "{line}"
                        );
                    }
                }
                None => assert!(!got, "{line}"),
            }
        }
    }

    #[test]
    fn fast_decimal_path_declines_what_it_cannot_do_exactly() {
        for s in [
            "1e3",
            "inf",
            "nan",
            "1.2.3",
            "-",
            "",
            "1,5",
            "12345678901234567",
            "0x10",
            " 1",
        ] {
            assert_eq!(parse_plain_decimal(s.as_bytes()), None, "{s}");
        }
    }
}
