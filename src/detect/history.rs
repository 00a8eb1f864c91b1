//! A bounded, decimated history of a channel's envelope, for questions such as "how active was
//! the abdomen during this squeeze?" asked when the squeeze has ended.

/// Bucket means of an envelope at `bucket_s` resolution over the last `span_s` seconds.
#[derive(Debug, Clone)]
pub struct LevelHistory {
    bucket_samples: u64,
    rate_hz: f64,
    start_time_s: f64,
    /// Ring of bucket sums; bucket `b` (absolute number) lives at `b % capacity`.
    sums: Vec<f64>,
    counts: Vec<u32>,
    /// Absolute number of the bucket currently being filled.
    current: u64,
}

impl LevelHistory {
    pub fn new(rate_hz: f64, start_time_s: f64, bucket_s: f64, span_s: f64) -> Self {
        let bucket_samples = ((rate_hz * bucket_s).round() as u64).max(1);
        let capacity = ((span_s / bucket_s).ceil() as usize).max(2);
        LevelHistory {
            bucket_samples,
            rate_hz,
            start_time_s,
            sums: vec![0.0; capacity],
            counts: vec![0; capacity],
            current: 0,
        }
    }

    /// Add a chunk of envelope samples starting at `start_index`: one bucket at a time (the
    /// samples of a bucket are added in order, as one by one).
    pub fn push(&mut self, start_index: u64, values: &[f64]) {
        let cap = self.sums.len() as u64;
        let mut index = start_index;
        let mut rest = values;
        while !rest.is_empty() {
            let b = index / self.bucket_samples;
            let left_in_bucket = self.bucket_samples - index % self.bucket_samples;
            let (now, later) = rest.split_at((left_in_bucket as usize).min(rest.len()));
            while self.current < b {
                self.current += 1;
                let slot = (self.current % cap) as usize;
                self.sums[slot] = 0.0;
                self.counts[slot] = 0;
            }
            if b + cap > self.current {
                let slot = (b % cap) as usize;
                self.sums[slot] = now.iter().fold(self.sums[slot], |sum, v| sum + v);
                self.counts[slot] += now.len() as u32;
            } // else older than the history keeps
            index += now.len() as u64;
            rest = later;
        }
    }

    /// Mean level over `[from_s, to_s)` from the buckets still held; `None` when none are.
    pub fn mean_between(&self, from_s: f64, to_s: f64) -> Option<f64> {
        let cap = self.sums.len() as u64;
        let position =
            |t: f64| ((t - self.start_time_s) * self.rate_hz).max(0.0) / self.bucket_samples as f64;
        // Buckets overlapping the half-open span.
        let first = (position(from_s).floor() as u64).max((self.current + 1).saturating_sub(cap));
        let last = (position(to_s).ceil() as u64)
            .saturating_sub(1)
            .min(self.current);
        if last < first {
            return None;
        }
        let (mut sum, mut n) = (0.0, 0u64);
        for b in first..=last {
            let slot = (b % cap) as usize;
            sum += self.sums[slot];
            n += self.counts[slot] as u64;
        }
        (n > 0).then(|| sum / n as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_over_a_span_and_forgetting_old_buckets() {
        let mut h = LevelHistory::new(100.0, 0.0, 0.1, 3.0);
        let v: Vec<f64> = (0..500).map(|i| if i < 300 { 1.0 } else { 5.0 }).collect();
        h.push(0, &v[..250]);
        h.push(250, &v[250..]);
        assert!((h.mean_between(3.0, 4.99).unwrap() - 5.0).abs() < 1e-12);
        // 0–1 s is older than the 3 s kept.
        assert_eq!(h.mean_between(0.0, 1.0), None);
        let m = h.mean_between(2.5, 3.5).unwrap();
        assert!((m - 3.0).abs() < 1e-9, "{m}");
    }
}
