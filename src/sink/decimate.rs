//! Streaming min/max decimation of one channel with flat memory, for plots of recordings of any
//! length.
//!
//! The length of a live stream is not known in advance, so [`TraceDecimator`] starts with one
//! sample per bucket and, whenever a sample would fall beyond `max_points` buckets, merges
//! neighbouring pairs and doubles the bucket size. Memory stays `O(max_points)` however long the
//! recording, and every sample stays represented: each bucket's min and max are exact.
//!
//! Buckets are laid out on the device clock (the sample index), not on the order samples arrive:
//! lost samples leave empty buckets that [`TraceDecimator::points`] skips, so a gap never shifts
//! the times of what follows.

/// One bucket of a decimated trace: the exact minimum and maximum of the samples in it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinMaxPoint {
    /// Device-clock time of the start of the bucket, seconds.
    pub t_s: f64,
    pub min: f64,
    pub max: f64,
}

/// Streaming min/max decimator for one channel. See the module documentation.
///
/// `push` allocates nothing; the work per sample is a compare against the running min and max.
#[derive(Debug, Clone)]
pub struct TraceDecimator {
    rate_hz: f64,
    start_time_s: f64,
    max_points: usize,
    /// log2 of the number of samples per bucket.
    shift: u32,
    /// Sample index of bucket 0's first sample: the first index ever pushed.
    origin: Option<u64>,
    /// Per bucket; an empty bucket holds `+inf` / `-inf`.
    mins: Vec<f64>,
    maxs: Vec<f64>,
    /// Number of buckets in use (one past the highest bucket that received a sample).
    used: usize,
    len_samples: u64,
}

impl TraceDecimator {
    /// A decimator for a channel sampled at `rate_hz` whose sample index 0 is at `start_time_s`
    /// on the device clock, keeping at most `max_points` buckets (at least 2 are kept).
    ///
    /// `rate_hz` must be positive and finite, or the bucket times are not finite.
    pub fn new(rate_hz: f64, start_time_s: f64, max_points: usize) -> Self {
        let max_points = max_points.max(2);
        TraceDecimator {
            rate_hz,
            start_time_s,
            max_points,
            shift: 0,
            origin: None,
            mins: vec![f64::INFINITY; max_points],
            maxs: vec![f64::NEG_INFINITY; max_points],
            used: 0,
            len_samples: 0,
        }
    }

    /// Adds a run of consecutive samples of the channel, `samples[0]` having index `start_index`.
    ///
    /// Runs normally follow each other; a jump forward (lost samples) leaves a gap. NaN samples
    /// are ignored (they count in [`len_samples`](Self::len_samples) but not in min/max).
    /// Samples before the first index ever pushed are ignored.
    pub fn push(&mut self, start_index: u64, samples: &[f64]) {
        if samples.is_empty() {
            return;
        }
        let origin = *self.origin.get_or_insert(start_index);
        let (mut rel, mut samples) = if start_index >= origin {
            (start_index - origin, samples)
        } else {
            let skip = origin - start_index;
            if skip >= samples.len() as u64 {
                return;
            }
            (0, &samples[skip as usize..])
        };
        self.len_samples += samples.len() as u64;

        // Grow the buckets once for the whole run, so the loop below never merges.
        let last_rel = rel.saturating_add(samples.len() as u64 - 1);
        while (last_rel >> self.shift) >= self.max_points as u64 {
            self.merge_pairs();
        }
        let shift = self.shift;
        let last_bucket = (last_rel >> shift) as usize;
        self.used = self.used.max(last_bucket + 1);

        while !samples.is_empty() {
            let bucket = (rel >> shift) as usize;
            let bucket_end = ((bucket as u64) + 1) << shift;
            let take = (bucket_end - rel).min(samples.len() as u64) as usize;
            let (run, rest) = samples.split_at(take);
            let (lo, hi) = min_max(run);
            if lo < self.mins[bucket] {
                self.mins[bucket] = lo;
            }
            if hi > self.maxs[bucket] {
                self.maxs[bucket] = hi;
            }
            rel += take as u64;
            samples = rest;
        }
    }

    /// The decimated trace in time order, including the partially filled last bucket. Buckets
    /// with no (non-NaN) samples, e.g. inside a gap, are left out.
    pub fn points(&self) -> Vec<MinMaxPoint> {
        let Some(origin) = self.origin else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(self.used);
        for k in 0..self.used {
            let (min, max) = (self.mins[k], self.maxs[k]);
            if min > max {
                continue;
            }
            let index = origin as f64 + ((k as u64) << self.shift) as f64;
            out.push(MinMaxPoint {
                t_s: self.start_time_s + index / self.rate_hz,
                min,
                max,
            });
        }
        out
    }

    /// Number of samples pushed (gaps not counted).
    pub fn len_samples(&self) -> u64 {
        self.len_samples
    }

    /// Current number of samples per bucket (a power of two).
    pub fn samples_per_point(&self) -> u64 {
        1u64 << self.shift
    }

    /// Merges buckets `2i` and `2i+1` into `i` and doubles the bucket size.
    fn merge_pairs(&mut self) {
        let n = self.used.div_ceil(2);
        for i in 0..n {
            let (a, b) = (2 * i, 2 * i + 1);
            let (mut lo, mut hi) = (self.mins[a], self.maxs[a]);
            if b < self.used {
                lo = lo.min(self.mins[b]);
                hi = hi.max(self.maxs[b]);
            }
            self.mins[i] = lo;
            self.maxs[i] = hi;
        }
        self.mins[n..].fill(f64::INFINITY);
        self.maxs[n..].fill(f64::NEG_INFINITY);
        self.used = n;
        self.shift += 1;
    }
}

/// Min and max of a run, ignoring NaN; `(+inf, -inf)` if there is nothing else.
/// Four independent lanes so the compiler can keep them in vector registers.
#[inline]
fn min_max(run: &[f64]) -> (f64, f64) {
    let mut lo = [f64::INFINITY; 4];
    let mut hi = [f64::NEG_INFINITY; 4];
    let chunks = run.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        for j in 0..4 {
            lo[j] = if c[j] < lo[j] { c[j] } else { lo[j] };
            hi[j] = if c[j] > hi[j] { c[j] } else { hi[j] };
        }
    }
    for (j, &x) in tail.iter().enumerate() {
        lo[j] = if x < lo[j] { x } else { lo[j] };
        hi[j] = if x > hi[j] { x } else { hi[j] };
    }
    let l = lo[0].min(lo[1]).min(lo[2].min(lo[3]));
    let h = hi[0].max(hi[1]).max(hi[2].max(hi[3]));
    (l, h)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64*: enough randomness for property tests, no dependency.
    struct Rng(u64);
    impl Rng {
        fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn uniform(&mut self) -> f64 {
            (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next_u64() % n
        }
    }

    /// Brute force: the min/max over each bucket of `bucket` samples, given (index, value) pairs.
    fn brute(samples: &[(u64, f64)], origin: u64, bucket: u64) -> Vec<(u64, f64, f64)> {
        let mut out = std::collections::BTreeMap::<u64, (f64, f64)>::new();
        for &(i, v) in samples {
            if v.is_nan() {
                continue;
            }
            let b = out.entry((i - origin) / bucket).or_insert((v, v));
            b.0 = b.0.min(v);
            b.1 = b.1.max(v);
        }
        let out: Vec<(u64, f64, f64)> = out.into_iter().map(|(k, (l, h))| (k, l, h)).collect();
        out
    }

    fn check_against_brute(seed: u64, len: usize, max_points: usize, with_gaps: bool) {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let rate = 250.0;
        let start = 12.5;
        let origin = rng.below(1000);
        let mut dec = TraceDecimator::new(rate, start, max_points);
        let mut all: Vec<(u64, f64)> = Vec::new();
        let mut index = origin;
        let mut pushed = 0;
        let mut buf = Vec::new();
        while pushed < len {
            let n = (1 + rng.below(97) as usize).min(len - pushed);
            buf.clear();
            for _ in 0..n {
                let v = if rng.below(500) == 0 {
                    f64::NAN
                } else {
                    (rng.uniform() - 0.5) * 200.0
                };
                buf.push(v);
            }
            dec.push(index, &buf);
            for (j, &v) in buf.iter().enumerate() {
                all.push((index + j as u64, v));
            }
            index += n as u64;
            pushed += n;
            if with_gaps && rng.below(5) == 0 {
                index += rng.below(300);
            }
        }
        assert_eq!(dec.len_samples(), len as u64);
        let bucket = dec.samples_per_point();
        let expect = brute(&all, origin, bucket);
        let got = dec.points();
        assert!(got.len() <= max_points, "seed {seed} len {len}");
        assert_eq!(got.len(), expect.len(), "seed {seed} len {len}");
        for (g, e) in got.iter().zip(&expect) {
            let t = start + (origin + e.0 * bucket) as f64 / rate;
            assert!(
                (g.t_s - t).abs() < 1e-9,
                "seed {seed} len {len}: {} vs {t}",
                g.t_s
            );
            assert_eq!(g.min, e.1, "seed {seed} len {len}");
            assert_eq!(g.max, e.2, "seed {seed} len {len}");
        }
        // The bucket is the smallest power of two that fits: not coarser than needed.
        if let Some(&(last_i, _)) = all.last() {
            let span = last_i - origin + 1;
            assert!(span.div_ceil(bucket) <= max_points as u64);
            if bucket > 1 {
                assert!(span.div_ceil(bucket / 2) > max_points as u64);
            }
        }
    }

    #[test]
    fn exact_min_max_against_brute_force() {
        for seed in 1..=6 {
            for &len in &[
                0, 1, 2, 3, 7, 8, 9, 63, 64, 65, 100, 257, 1000, 4099, 20_000,
            ] {
                for &max_points in &[2, 3, 10, 64, 4000] {
                    check_against_brute(seed, len, max_points, false);
                }
            }
        }
    }

    #[test]
    fn exact_min_max_with_gaps() {
        for seed in 10..=16 {
            for &len in &[1, 5, 100, 999, 5000, 30_000] {
                for &max_points in &[2, 7, 50, 1000] {
                    check_against_brute(seed, len, max_points, true);
                }
            }
        }
    }

    #[test]
    fn memory_stays_bounded() {
        let mut dec = TraceDecimator::new(2000.0, 0.0, 4000);
        let chunk: Vec<f64> = (0..1000).map(|i| (i as f64 * 0.01).sin()).collect();
        for c in 0..10_000u64 {
            dec.push(c * 1000, &chunk);
        }
        assert_eq!(dec.len_samples(), 10_000_000);
        assert!(dec.points().len() <= 4000);
        assert!(dec.points().len() > 2000);
        assert_eq!(dec.mins.capacity(), 4000);
        assert_eq!(dec.maxs.capacity(), 4000);
        let p = dec.points();
        let lo = p.iter().map(|p| p.min).fold(f64::INFINITY, f64::min);
        let hi = p.iter().map(|p| p.max).fold(f64::NEG_INFINITY, f64::max);
        assert!(lo < -0.999 && hi > 0.999);
    }

    #[test]
    fn gap_does_not_shift_times() {
        let mut dec = TraceDecimator::new(100.0, 5.0, 1000);
        dec.push(0, &[1.0; 100]);
        // 50 samples lost (0.5 s), then more data.
        dec.push(150, &[2.0; 100]);
        let p = dec.points();
        assert_eq!(p.len(), 200);
        assert_eq!(p[0].t_s, 5.0);
        assert!((p[99].t_s - 5.99).abs() < 1e-12);
        assert!((p[100].t_s - 6.5).abs() < 1e-12);
        assert_eq!(p[100].min, 2.0);
        assert!((p[199].t_s - 7.49).abs() < 1e-12);
    }

    #[test]
    fn first_index_sets_origin_and_earlier_samples_are_ignored() {
        let mut dec = TraceDecimator::new(10.0, 0.0, 4);
        dec.push(30, &[1.0, 2.0]);
        dec.push(28, &[9.0, 9.0, 3.0]);
        let p = dec.points();
        assert_eq!(p[0].t_s, 3.0);
        assert_eq!(p[0].max, 3.0);
        assert_eq!(dec.len_samples(), 3);
    }

    #[test]
    fn empty_and_nan_only() {
        let dec = TraceDecimator::new(1000.0, 0.0, 100);
        assert!(dec.points().is_empty());
        let mut dec = TraceDecimator::new(1000.0, 0.0, 100);
        dec.push(0, &[f64::NAN; 10]);
        assert!(dec.points().is_empty());
        assert_eq!(dec.len_samples(), 10);
    }
}
