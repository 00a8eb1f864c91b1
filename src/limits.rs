//! Plausible ranges for the numbers a user gives knip on the command line, in one place.
//! Nothing is sized from a number outside them: a rate of 1e12 Hz or a calibration of 1e12 s
//! would otherwise ask for terabytes. A value outside its range is a usage error (exit 2) that
//! names the option and the range.

use std::fmt::Display;
use std::str::FromStr;

/// The closed range `lo..=hi` a number must lie in, and its unit for messages.
#[derive(Debug, Clone, Copy)]
pub struct Limit<T> {
    pub lo: T,
    pub hi: T,
    pub unit: &'static str,
}

/// How a number of some type is printed in a message (short: `1e300`, not 301 digits).
pub trait MessageNumber: FromStr + PartialOrd + Display + Copy {
    fn in_message(self) -> String {
        self.to_string()
    }
}

impl MessageNumber for f64 {
    fn in_message(self) -> String {
        shown_number(self)
    }
}

impl MessageNumber for u32 {}

impl MessageNumber for usize {}

impl<T: MessageNumber> Limit<T> {
    /// `text` as a number inside the range (NaN and infinities are outside every range).
    pub fn parse(&self, text: &str) -> Result<T, String> {
        let v: T = text
            .trim()
            .parse()
            .map_err(|_| format!("`{}` is not a number", shown(text)))?;
        self.check(v)
    }

    /// `v` (read from a header, a sidecar or a raw log) if it lies inside the range.
    pub fn check(&self, v: T) -> Result<T, String> {
        if v >= self.lo && v <= self.hi {
            Ok(v)
        } else {
            Err(format!(
                "{} is outside the plausible range {}–{}{}",
                v.in_message(),
                self.lo.in_message(),
                self.hi.in_message(),
                if self.unit.is_empty() {
                    String::new()
                } else {
                    format!(" {}", self.unit)
                }
            ))
        }
    }
}

/// At most 40 characters of what the user typed, control characters escaped.
fn shown(text: &str) -> String {
    excerpt(text, 40)
}

/// At most `max_chars` characters of `text` (`…` after a longer one), control characters
/// escaped (`\u{1b}`, `\n`): the one way a message quotes what came from a file or the user, so
/// that a column name holding `ESC ]0;…` cannot retitle the terminal and a 50 MB line does not
/// become a 50 MB message.
pub fn excerpt(text: &str, max_chars: usize) -> String {
    let mut s = String::new();
    for c in text.chars().take(max_chars) {
        if c.is_control() {
            s.extend(c.escape_default());
        } else {
            s.push(c);
        }
    }
    if text.chars().nth(max_chars).is_some() {
        s.push('…');
    }
    s
}

/// `text` whole, control characters escaped: for names that come from outside (file names in a
/// batch folder, a child's last words) on their way to the terminal.
pub fn terminal_safe(text: &str) -> String {
    excerpt(text, usize::MAX)
}

/// [`excerpt`] of bytes read from a file (invalid UTF-8 shown as `�`).
pub fn excerpt_bytes(bytes: &[u8], max_chars: usize) -> String {
    // Four bytes per character at most: no need to decode more.
    let cut = &bytes[..bytes.len().min(max_chars.saturating_mul(4) + 4)];
    let text = String::from_utf8_lossy(cut);
    let mut s = excerpt(&text, max_chars);
    if cut.len() < bytes.len() && !s.ends_with('…') {
        s.push('…');
    }
    s
}

/// A number read from a file or typed by a user, for a message: at most 6 significant digits,
/// in exponent form when very large or small, so `1e300` prints as `1e300`, not 301 digits.
pub fn shown_number(v: f64) -> String {
    let trimmed = |s: String| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if v == 0.0 || !v.is_finite() || (1e-4..1e9).contains(&v.abs()) {
        let decimals = (5.0 - v.abs().log10().floor()).clamp(0.0, 9.0) as usize;
        trimmed(format!("{v:.decimals$}"))
    } else {
        let s = format!("{v:.5e}");
        match s.split_once('e') {
            Some((m, e)) => format!("{}e{e}", trimmed(m.to_string())),
            None => s,
        }
    }
}

/// Sampling rate of a recording or a device, Hz (pressure loggers at 1 Hz to 100 kHz EMG).
pub const SAMPLE_RATE_HZ: Limit<f64> = Limit {
    lo: 0.1,
    hi: 100_000.0,
    unit: "Hz",
};
/// Simulated EMG rate, Hz (the band-pass needs 100 Hz at least).
pub const SIM_EMG_RATE_HZ: Limit<f64> = Limit {
    lo: 100.0,
    hi: 20_000.0,
    unit: "Hz",
};
/// Simulated pressure rate, Hz.
pub const SIM_PRESSURE_RATE_HZ: Limit<f64> = Limit {
    lo: 1.0,
    hi: 20_000.0,
    unit: "Hz",
};
/// Playback speed, × real time.
pub const SPEED: Limit<f64> = Limit {
    lo: 0.01,
    hi: 10_000.0,
    unit: "× real time",
};
/// Moving-RMS window, ms.
pub const ENVELOPE_MS: Limit<f64> = Limit {
    lo: 1.0,
    hi: 10_000.0,
    unit: "ms",
};
/// Calibration rest, seconds (longer than any rest a protocol asks for).
pub const CALIBRATION_S: Limit<f64> = Limit {
    lo: 0.1,
    hi: 600.0,
    unit: "s",
};
/// Where a marked calibration rest starts, seconds into the recording (a week).
pub const CALIBRATION_START_S: Limit<f64> = Limit {
    lo: 0.0,
    hi: 604_800.0,
    unit: "s",
};
/// Onset threshold multiple of the rest SD.
pub const ONSET_K: Limit<f64> = Limit {
    lo: 0.01,
    hi: 100.0,
    unit: "× rest SD",
};
/// Shortest contraction, seconds.
pub const MIN_CONTRACTION_S: Limit<f64> = Limit {
    lo: 0.0,
    hi: 600.0,
    unit: "s",
};
/// Mains notch, Hz (the value itself must be 50 or 60; this keeps the message plain).
pub const NOTCH_HZ: Limit<f64> = Limit {
    lo: 1.0,
    hi: 1_000.0,
    unit: "Hz",
};
/// How long `record` records, seconds (a week).
pub const RECORD_S: Limit<f64> = Limit {
    lo: 0.01,
    hi: 604_800.0,
    unit: "s",
};
/// How long knip waits for an unplugged device, seconds (a day).
pub const RECONNECT_S: Limit<f64> = Limit {
    lo: 0.0,
    hi: 86_400.0,
    unit: "s",
};
/// How long `devices` listens to each port, seconds.
pub const LISTEN_S: Limit<f64> = Limit {
    lo: 0.01,
    hi: 600.0,
    unit: "s",
};
/// Cyton channel gain.
pub const GAIN: Limit<f64> = Limit {
    lo: 0.01,
    hi: 10_000.0,
    unit: "",
};
/// Serial line speed, baud.
pub const BAUD: Limit<u32> = Limit {
    lo: 300,
    hi: 12_000_000,
    unit: "baud",
};
/// Simulated days of training (ten years).
pub const DAYS: Limit<u32> = Limit {
    lo: 1,
    hi: 3_650,
    unit: "days",
};
/// Sessions `evaluate` simulates.
pub const SESSIONS: Limit<usize> = Limit {
    lo: 1,
    hi: 100_000,
    unit: "sessions",
};
/// Worker threads or jobs.
pub const THREADS: Limit<usize> = Limit {
    lo: 1,
    hi: 1_024,
    unit: "threads",
};

/// Longest guided session a protocol file may describe, seconds (calibration not counted): the
/// programme's sessions last minutes (Glazer about 6, a strength set to fatigue under 10); two
/// hours leaves room for any protocol a clinic writes and stops a typo from asking for days.
pub const PROTOCOL_TOTAL_S: f64 = 7200.0;

/// Phases a protocol file may have.
pub const PROTOCOL_PHASES: usize = 50;

/// Characters in a protocol's name, description, phase name or cue (a cue is read from 2 m).
pub const PROTOCOL_TEXT_CHARS: usize = 120;

/// A protocol's daily goal of valid holds (the programme's is 30).
pub const DAILY_GOAL_REPS: Limit<u32> = Limit {
    lo: 1,
    hi: 1000,
    unit: "holds",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_inside_pass_and_the_rest_are_named_with_the_range() {
        assert_eq!(SAMPLE_RATE_HZ.parse("2000"), Ok(2000.0));
        assert_eq!(SAMPLE_RATE_HZ.parse(" 0.1 "), Ok(0.1));
        // A number read from a file is named short, whatever its size.
        let e = SAMPLE_RATE_HZ.check(1e300).unwrap_err();
        assert!(e.starts_with("1e300 is outside") && e.len() < 60, "{e}");
        for bad in ["1e12", "1e300", "0", "-5", "NaN", "inf", "-inf"] {
            let e = SAMPLE_RATE_HZ.parse(bad).unwrap_err();
            assert!(e.contains("0.1–100000 Hz"), "{bad}: {e}");
        }
        assert!(SAMPLE_RATE_HZ
            .parse("fast")
            .unwrap_err()
            .contains("not a number"));
        assert_eq!(DAYS.parse("3650"), Ok(3650));
        assert!(DAYS.parse("100000000").unwrap_err().contains("1–3650 days"));
        assert!(DAYS.parse("99999999999999999999").is_err());
        // What the user typed is echoed short and with control characters escaped.
        let e = ENVELOPE_MS
            .parse(&format!("\u{1b}]0;x{}", "9".repeat(100)))
            .unwrap_err();
        assert!(!e.contains('\u{1b}') && e.len() < 120, "{e}");
    }

    #[test]
    fn numbers_in_messages_stay_short() {
        for (v, want) in [
            (1e300, "1e300"),
            (-1.5e300, "-1.5e300"),
            (1e-300, "1e-300"),
            (2000.0, "2000"),
            (0.0005, "0.0005"),
            (123456.789, "123457"),
            (3.25, "3.25"),
            (-7.0, "-7"),
            (0.0, "0"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "inf"),
        ] {
            assert_eq!(shown_number(v), want, "{v:e}");
        }
    }

    #[test]
    fn excerpts_are_short_and_escape_control_characters() {
        assert_eq!(excerpt("Druck µ", 40), "Druck µ");
        assert_eq!(excerpt("\u{1b}]0;owned\u{7}", 40), "\\u{1b}]0;owned\\u{7}");
        assert_eq!(excerpt("abcdef", 3), "abc…");
        assert_eq!(excerpt("abc", 3), "abc");
        assert_eq!(
            terminal_safe("a/\u{1b}]0;x\u{7}.csv"),
            "a/\\u{1b}]0;x\\u{7}.csv"
        );
        let long = vec![b'x'; 50_000_000];
        let e = excerpt_bytes(&long, 60);
        assert_eq!(e.chars().count(), 61, "{e}");
        assert_eq!(excerpt_bytes(b"t\0i\0", 40), "t\\u{0}i\\u{0}");
    }
}
