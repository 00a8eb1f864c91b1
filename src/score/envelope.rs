//! A bounded history of a channel's envelope in 10-ms bins (mean per bin), for scoring holds
//! after the detector has decided an event. Memory stays flat: only the last
//! [`EnvelopeHistory::capacity_s`] seconds are kept.

use super::hold::{moving_average, BIN_S};

/// Seconds of envelope kept per channel by default (longer than any hold a protocol asks for).
pub const DEFAULT_KEEP_S: f64 = 600.0;

/// Envelope of one channel in [`BIN_S`] bins, the last `capacity` bins kept.
#[derive(Debug, Clone)]
pub struct EnvelopeHistory {
    /// `values[0]` is bin `first_bin`.
    values: Vec<f64>,
    first_bin: u64,
    capacity: usize,
    /// Bin being filled: its index, sum and count.
    bin: Option<u64>,
    acc: f64,
    n: u32,
}

impl EnvelopeHistory {
    pub fn new(keep_s: f64) -> Self {
        EnvelopeHistory {
            values: Vec::new(),
            first_bin: 0,
            capacity: ((keep_s / BIN_S).ceil() as usize).max(1),
            bin: None,
            acc: 0.0,
            n: 0,
        }
    }

    pub fn capacity_s(&self) -> f64 {
        self.capacity as f64 * BIN_S
    }

    fn bin_of(t: f64) -> u64 {
        (t / BIN_S).floor().max(0.0) as u64
    }

    /// Adds samples starting at device time `start_s`, at `rate_hz`.
    pub fn push(&mut self, start_s: f64, rate_hz: f64, samples: &[f64]) {
        for (k, &v) in samples.iter().enumerate() {
            let b = Self::bin_of(start_s + k as f64 / rate_hz);
            if self.bin.is_some_and(|cur| cur != b) {
                self.close();
            }
            if self.bin.is_none() && self.values.is_empty() {
                self.first_bin = b;
            }
            // Bins without samples (gaps) repeat the last level.
            let end = self.first_bin + self.values.len() as u64;
            if b > end {
                if b - end > self.capacity as u64 {
                    self.values.clear();
                    self.first_bin = b;
                } else {
                    let last = self.values.last().copied().unwrap_or(v);
                    let missing = (b - end) as usize;
                    self.values.extend(std::iter::repeat(last).take(missing));
                }
            }
            self.bin = Some(b);
            if v.is_finite() {
                self.acc += v;
                self.n += 1;
            }
        }
        self.trim();
    }

    fn close(&mut self) {
        if let Some(b) = self.bin {
            if self.n > 0 && self.first_bin + self.values.len() as u64 == b {
                self.values.push(self.acc / f64::from(self.n));
            }
        }
        self.acc = 0.0;
        self.n = 0;
        self.bin = None;
    }

    fn trim(&mut self) {
        if self.values.len() > 2 * self.capacity {
            let drop = self.values.len() - self.capacity;
            self.values.drain(..drop);
            self.first_bin += drop as u64;
        }
    }

    /// Closes the bin being filled (end of stream).
    pub fn flush(&mut self) {
        self.close();
    }

    /// Device time up to which whole bins are kept, seconds.
    pub fn end_s(&self) -> f64 {
        (self.first_bin + self.values.len() as u64) as f64 * BIN_S
    }

    /// Centred moving average over `w` bins of the bins in `[from_s, to_s)`, with bin times.
    pub fn smoothed(&self, from_s: f64, to_s: f64, w: usize) -> Vec<(f64, f64)> {
        let rel = |t: f64| Self::bin_of(t).saturating_sub(self.first_bin) as usize;
        moving_average(&self.values, self.first_bin, rel(from_s), rel(to_s), w)
    }

    /// Bins kept now (for memory tests).
    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::hold::BIN_S;

    #[test]
    fn bins_are_means_and_memory_is_bounded() {
        let mut h = EnvelopeHistory::new(10.0);
        // 2 kHz for 60 s, value = second index.
        let rate = 2000.0;
        for block in 0..600 {
            let start = block as f64 * 0.1;
            let v: Vec<f64> = (0..200)
                .map(|k| (start + k as f64 / rate).floor())
                .collect();
            h.push(start, rate, &v);
        }
        h.flush();
        assert!(h.len() <= 2000, "{} bins kept", h.len());
        let sm = h.smoothed(55.0, 55.5, 1);
        assert_eq!(sm.len(), 50);
        assert!((sm[0].0 - 55.0).abs() < 1e-9);
        assert!(sm.iter().all(|p| p.1 == 55.0));
        assert!((h.end_s() - 60.0).abs() < 1e-9);
    }

    #[test]
    fn agrees_with_the_session_history() {
        // The guided session's History and this one give the same smoothed points.
        let rate = 500.0;
        let v: Vec<f64> = (0..5000).map(|k| ((k as f64) * 0.01).sin() + 2.0).collect();
        let mut h = EnvelopeHistory::new(DEFAULT_KEEP_S);
        h.push(0.0, rate, &v);
        h.flush();
        // The session history's bins: mean of the samples whose time falls in each bin.
        let mut sums = std::collections::BTreeMap::<u64, (f64, f64)>::new();
        for (k, x) in v.iter().enumerate() {
            let b = (k as f64 / rate / BIN_S).floor() as u64;
            let e = sums.entry(b).or_default();
            e.0 += x;
            e.1 += 1.0;
        }
        let bins: Vec<f64> = sums.values().map(|(s, n)| s / n).collect();
        let mut s = crate::session::run::History::default();
        s.values = bins;
        let a = h.smoothed(2.0, 7.0, 25);
        let b = s.smoothed(2.0, 7.0, 25);
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert!((x.0 - y.0).abs() < 1e-9 && (x.1 - y.1).abs() < 1e-9);
        }
    }
}
