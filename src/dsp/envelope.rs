//! Moving-RMS envelope at O(1) per sample.

/// Causal moving RMS over the last `window` samples. Keeps a running sum of squares; the sum
/// is replaced by an exact one once per window so rounding cannot drift over hours of signal.
#[derive(Debug, Clone)]
pub struct MovingRms {
    squares: Vec<f64>,
    pos: usize,
    filled: usize,
    sum: f64,
    /// The squares written since `pos` was last 0, summed in order: when `pos` comes round
    /// to 0 again it is the exact sum of the window (the sum of `squares` from slot 0 up, the
    /// same bits), kept up sample by sample rather than added up in one long chain then.
    fresh: f64,
}

/// What a sum of no `f64` is (the start of [`MovingRms::fresh`], as of `Iterator::sum`).
fn empty_sum() -> f64 {
    std::iter::empty::<f64>().sum()
}

impl MovingRms {
    /// `window` samples (at least 1).
    pub fn new(window: usize) -> Self {
        let window = window.max(1);
        MovingRms {
            squares: vec![0.0; window],
            pos: 0,
            filled: 0,
            sum: 0.0,
            fresh: empty_sum(),
        }
    }

    /// Window length for `window_ms` at `rate_hz`.
    pub fn for_rate(rate_hz: f64, window_ms: f64) -> Self {
        Self::new((rate_hz * window_ms / 1000.0).round() as usize)
    }

    pub fn window(&self) -> usize {
        self.squares.len()
    }

    /// Delay of the envelope behind the signal (half the window), in samples.
    pub fn delay_samples(&self) -> f64 {
        (self.squares.len() as f64 - 1.0) / 2.0
    }

    #[inline]
    pub fn push(&mut self, x: f64) -> f64 {
        let sq = x * x;
        let old = self.squares[self.pos];
        self.squares[self.pos] = sq;
        self.sum += sq - old;
        self.fresh += sq;
        self.pos += 1;
        if self.pos == self.squares.len() {
            self.pos = 0;
            // The exact sum once per window: no drift.
            self.sum = std::mem::replace(&mut self.fresh, empty_sum());
        }
        if self.filled < self.squares.len() {
            self.filled += 1;
        }
        (self.sum.max(0.0) / self.filled as f64).sqrt()
    }

    /// Envelope of a block: `out[i]` is the RMS ending at `input[i]`.
    pub fn process(&mut self, input: &[f64], out: &mut Vec<f64>) {
        out.clear();
        out.reserve(input.len());
        let mut rest = input;
        // Until the window has filled, sample by sample.
        while self.filled < self.squares.len() {
            let Some((&x, later)) = rest.split_first() else {
                return;
            };
            out.push(self.push(x));
            rest = later;
        }
        // Then a window at a time, up to each exact recomputation of the sum: the running sums
        // first, then their roots in a pass of their own (the roots of several samples at once).
        let inv_n = 1.0 / self.squares.len() as f64;
        let first_root = out.len();
        while !rest.is_empty() {
            let take = (self.squares.len() - self.pos).min(rest.len());
            let (now, later) = rest.split_at(take);
            let window = &mut self.squares[self.pos..self.pos + take];
            let (mut sum, mut fresh) = (self.sum, self.fresh);
            out.extend(now.iter().zip(window.iter_mut()).map(|(&x, slot)| {
                let sq = x * x;
                sum += sq - *slot;
                *slot = sq;
                fresh += sq;
                sum
            }));
            (self.sum, self.fresh) = (sum, fresh);
            self.pos += take;
            if self.pos == self.squares.len() {
                self.pos = 0;
                self.sum = std::mem::replace(&mut self.fresh, empty_sum());
            }
            rest = later;
        }
        roots(&mut out[first_root..], inv_n);
    }
}

/// Each running sum `v` made the RMS, `√(max(v, 0)·inv_n)`. With AVX (checked at run time)
/// four roots at a time, not two: the roots were half of the envelope's time. Square roots are
/// correctly rounded at any width, so the bits are the same.
fn roots(sums: &mut [f64], inv_n: f64) {
    #[inline(always)]
    fn each(sums: &mut [f64], inv_n: f64) {
        for v in sums {
            *v = (v.max(0.0) * inv_n).sqrt();
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx")]
        unsafe fn each_avx(sums: &mut [f64], inv_n: f64) {
            each(sums, inv_n)
        }
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: the processor has AVX.
            return unsafe { each_avx(sums, inv_n) };
        }
    }
    each(sums, inv_n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equals_brute_force_rms() {
        let x: Vec<f64> = (0..5000)
            .map(|i| ((i * 2654435761u64 as usize) % 1000) as f64 / 100.0 - 5.0)
            .collect();
        let w = 37;
        let mut m = MovingRms::new(w);
        for (i, &v) in x.iter().enumerate() {
            let got = m.push(v);
            let lo = (i + 1).saturating_sub(w);
            let win = &x[lo..=i];
            let want = (win.iter().map(|a| a * a).sum::<f64>() / win.len() as f64).sqrt();
            assert!((got - want).abs() < 1e-9, "sample {i}: {got} vs {want}");
        }
    }

    /// The moving RMS as it was before the window's sum was kept up sample by sample: the
    /// window's squares added up again at every wrap of the ring.
    struct AddedUpAtWraps(MovingRms);

    impl AddedUpAtWraps {
        fn push(&mut self, x: f64) -> f64 {
            let m = &mut self.0;
            let sq = x * x;
            m.sum += sq - m.squares[m.pos];
            m.squares[m.pos] = sq;
            m.pos += 1;
            if m.pos == m.squares.len() {
                m.pos = 0;
                m.sum = m.squares.iter().sum();
            }
            m.filled = (m.filled + 1).min(m.squares.len());
            (m.sum.max(0.0) / m.filled as f64).sqrt()
        }

        fn process(&mut self, input: &[f64], out: &mut Vec<f64>) {
            out.clear();
            let mut rest = input;
            while self.0.filled < self.0.squares.len() {
                let Some((&x, later)) = rest.split_first() else {
                    return;
                };
                out.push(self.push(x));
                rest = later;
            }
            let m = &mut self.0;
            let inv_n = 1.0 / m.squares.len() as f64;
            for &x in rest {
                let sq = x * x;
                m.sum += sq - m.squares[m.pos];
                m.squares[m.pos] = sq;
                out.push((m.sum.max(0.0) * inv_n).sqrt());
                m.pos += 1;
                if m.pos == m.squares.len() {
                    m.pos = 0;
                    m.sum = m.squares.iter().sum();
                }
            }
        }
    }

    #[test]
    fn the_sum_kept_up_is_the_sum_added_up_at_each_wrap_bit_for_bit() {
        // Bursts a million times the rest, so that the running sum's rounding shows.
        let x: Vec<f64> = (0..20_000)
            .map(|i| {
                let noise = ((i * 2654435761u64 as usize) % 1000) as f64 / 997.0 - 0.5;
                if (i / 1500) % 3 == 1 {
                    noise * 3.3e6
                } else {
                    noise * 1.7e-2
                }
            })
            .collect();
        for w in [1, 2, 37, 100] {
            for block in [1, 7, 100, 1024, 20_000] {
                let (mut now, mut before) = (MovingRms::new(w), AddedUpAtWraps(MovingRms::new(w)));
                let (mut got, mut want) = (Vec::new(), Vec::new());
                for (j, chunk) in x.chunks(block).enumerate() {
                    now.process(chunk, &mut got);
                    before.process(chunk, &mut want);
                    for (i, (a, b)) in want.iter().zip(&got).enumerate() {
                        let at = j * block + i;
                        assert_eq!(
                            a.to_bits(),
                            b.to_bits(),
                            "window {w}, blocks of {block}, sample {at}"
                        );
                    }
                    assert_eq!(got.len(), chunk.len());
                }
            }
            let (mut now, mut before) = (MovingRms::new(w), AddedUpAtWraps(MovingRms::new(w)));
            for (i, &v) in x.iter().enumerate() {
                assert_eq!(
                    now.push(v).to_bits(),
                    before.push(v).to_bits(),
                    "push, window {w}, sample {i}"
                );
            }
        }
    }

    #[test]
    fn sine_rms_is_amplitude_over_sqrt2() {
        let fs = 2000.0;
        let mut m = MovingRms::for_rate(fs, 50.0);
        assert_eq!(m.window(), 100);
        let mut last = 0.0;
        for i in 0..4000 {
            last = m.push(10.0 * (2.0 * std::f64::consts::PI * 100.0 * i as f64 / fs).sin());
        }
        assert!((last - 10.0 / std::f64::consts::SQRT_2).abs() < 1e-6);
    }
}
