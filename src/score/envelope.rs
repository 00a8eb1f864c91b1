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

/// The sum and the number of the finite values of `v`, in four running sums (one add chain
/// would wait on itself at every sample).
fn finite_sum(v: &[f64]) -> (f64, u32) {
    let mut sums = [0.0; 4];
    let mut counts = [0u32; 4];
    let mut quads = v.chunks_exact(4);
    for q in &mut quads {
        for l in 0..4 {
            let finite = q[l].is_finite();
            sums[l] += if finite { q[l] } else { 0.0 };
            counts[l] += u32::from(finite);
        }
    }
    for &x in quads.remainder() {
        let finite = x.is_finite();
        sums[0] += if finite { x } else { 0.0 };
        counts[0] += u32::from(finite);
    }
    (
        (sums[0] + sums[1]) + (sums[2] + sums[3]),
        counts.iter().sum(),
    )
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
        // Truncation is the floor for t ≥ 0 (and a single instruction, where `floor` is a call
        // on baseline x86-64); earlier times, and NaN, are bin 0.
        let x = t / BIN_S;
        if x > 0.0 {
            x as u64
        } else {
            0
        }
    }

    /// Adds samples starting at device time `start_s`, at `rate_hz`.
    pub fn push(&mut self, start_s: f64, rate_hz: f64, samples: &[f64]) {
        self.push_indexed(start_s, 0, rate_hz, samples);
    }

    /// [`Self::push`] of samples whose first is sample `start_index` of a channel whose sample
    /// 0 is at `origin_s`: each sample's time is computed from its own index, so the bins do
    /// not depend on how the stream is cut into blocks.
    pub fn push_indexed(&mut self, origin_s: f64, start_index: u64, rate_hz: f64, samples: &[f64]) {
        let time = |k: usize| origin_s + (start_index + k as u64) as f64 / rate_hz;
        let start_s = time(0);
        let n = samples.len();
        // Where bin `b` ends: the first sample whose bin is later. Sample times only grow, so
        // bins do too; the end is guessed from the bin's edge and then checked with the same
        // formula. Each bin's end is found from `b` alone, not from the bin before, so the CPU
        // works on several bins at once.
        let bin_end = |b: u64| {
            let edge = ((b + 1) as f64 * BIN_S - start_s) * rate_hz;
            let mut end = if edge.is_finite() && edge > 0.0 {
                // The ceiling of a positive number (`ceil` is a call on baseline x86-64).
                let whole = edge as usize;
                whole
                    .saturating_add(usize::from((whole as f64) < edge))
                    .min(n)
            } else {
                0
            };
            while end > 0 && Self::bin_of(time(end - 1)) > b {
                end -= 1;
            }
            while end < n && Self::bin_of(time(end)) <= b {
                end += 1;
            }
            end
        };
        let mut b = Self::bin_of(start_s);
        let mut k = 0;
        while k < n {
            let end = bin_end(b);
            if end > k {
                self.enter_bin(b, samples[k]);
                let (sum, count) = finite_sum(&samples[k..end]);
                self.acc += sum;
                self.n += count;
                k = end;
                b += 1;
            } else {
                // No sample in bin `b` (a rate below one sample a bin): on to the next one's.
                b = (b + 1).max(Self::bin_of(time(k)));
            }
        }
        self.trim();
    }

    /// Makes `b` the bin being filled; `first` is its first sample (the level a gap repeats
    /// when nothing was kept yet).
    fn enter_bin(&mut self, b: u64, first: f64) {
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
                let last = self.values.last().copied().unwrap_or(first);
                let missing = (b - end) as usize;
                self.values.extend(std::iter::repeat(last).take(missing));
            }
        }
        self.bin = Some(b);
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
    fn bins_match_the_per_sample_rule_at_awkward_rates_and_starts() {
        // Each sample belongs to bin floor(t / BIN_S) with t = start + k / rate; the run-wise
        // push must put every sample exactly there, including gaps and negative times.
        for (rate, start) in [
            (2000.0, 0.0),
            (2048.0, 0.0031),
            (512.0, 12.345_678),
            (333.3, -0.5),
            (20.0, 0.004),
            (7.0, 1.0),
            (100.0, 0.01),
            // Far from 0, where a bin's edge is guessed with the largest rounding errors.
            (2000.0, 1.0e8),
            (44_100.0, 7.3e6),
            // No time at all: every sample in bin 0 (the guesses are all wrong and walked).
            (2000.0, f64::NAN),
        ] {
            let n = 3000;
            let v: Vec<f64> = (0..n).map(|k| ((k * 7919) % 101) as f64).collect();
            let mut h = EnvelopeHistory::new(DEFAULT_KEEP_S);
            for (i, block) in v.chunks(97).enumerate() {
                let s = start + (i * 97) as f64 / rate;
                h.push(s, rate, block);
            }
            h.flush();
            let mut sums = std::collections::BTreeMap::<u64, (f64, f64)>::new();
            for (i, block) in v.chunks(97).enumerate() {
                let s = start + (i * 97) as f64 / rate;
                for (k, x) in block.iter().enumerate() {
                    let b = EnvelopeHistory::bin_of(s + k as f64 / rate);
                    let e = sums.entry(b).or_default();
                    e.0 += x;
                    e.1 += 1.0;
                }
            }
            let first = *sums.keys().next().expect("bins");
            assert_eq!(h.first_bin, first, "rate {rate} start {start}");
            let mut last = f64::NAN;
            for (i, got) in h.values.iter().enumerate() {
                let want = match sums.get(&(first + i as u64)) {
                    Some((s, n)) => s / n,
                    None => last, // a gap repeats the last level
                };
                assert_eq!(
                    got.to_bits(),
                    want.to_bits(),
                    "rate {rate} start {start} bin {i}"
                );
                last = want;
            }
            assert_eq!(
                first + h.values.len() as u64,
                sums.keys().last().expect("bins") + 1
            );
        }
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
