//! Fatigue: the median frequency of pelvic-floor EMG (the frequency that splits spectral power
//! 50/50) falls as a muscle tires. Computed with `realfft` over 1-s Hann windows during holds;
//! the planner and buffers are made once, so each window costs one FFT and no allocation.

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};
use std::sync::Arc;

/// Length of one analysis window, seconds (DOMAIN.md §4: 1–4 s windows).
pub const WINDOW_S: f64 = 1.0;

/// Median frequency of fixed-length windows of one channel.
pub struct MedianFrequency {
    rate_hz: f64,
    fft: Arc<dyn RealToComplex<f64>>,
    window: Vec<f64>,
    input: Vec<f64>,
    spectrum: Vec<Complex<f64>>,
    scratch: Vec<Complex<f64>>,
}

impl std::fmt::Debug for MedianFrequency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MedianFrequency")
            .field("rate_hz", &self.rate_hz)
            .field("len", &self.window.len())
            .finish()
    }
}

impl MedianFrequency {
    /// Windows of `WINDOW_S` at `rate_hz`.
    pub fn new(rate_hz: f64) -> Self {
        let n = ((WINDOW_S * rate_hz).round() as usize).max(16);
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(n);
        let window = (0..n)
            .map(|i| {
                let x = std::f64::consts::PI * 2.0 * i as f64 / n as f64;
                0.5 - 0.5 * x.cos()
            })
            .collect();
        MedianFrequency {
            rate_hz,
            input: fft.make_input_vec(),
            spectrum: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            fft,
            window,
        }
    }

    /// Samples per window.
    pub fn len(&self) -> usize {
        self.window.len()
    }

    pub fn is_empty(&self) -> bool {
        self.window.is_empty()
    }

    /// Median frequency of `samples` (exactly [`len`](Self::len) of them), Hz; `None` for a
    /// silent window or a wrong length.
    pub fn median_hz(&mut self, samples: &[f64]) -> Option<f64> {
        if samples.len() != self.window.len() {
            return None;
        }
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        for ((x, s), w) in self.input.iter_mut().zip(samples).zip(&self.window) {
            *x = (s - mean) * w;
        }
        self.fft
            .process_with_scratch(&mut self.input, &mut self.spectrum, &mut self.scratch)
            .ok()?;
        let total: f64 = self.spectrum.iter().skip(1).map(|c| c.norm_sqr()).sum();
        if total.is_nan() || total <= 0.0 {
            return None;
        }
        let bin_hz = self.rate_hz / self.window.len() as f64;
        let mut acc = 0.0;
        for (k, c) in self.spectrum.iter().enumerate().skip(1) {
            let p = c.norm_sqr();
            if acc + p >= 0.5 * total {
                // Interpolate inside the bin.
                let frac = if p > 0.0 {
                    (0.5 * total - acc) / p
                } else {
                    0.0
                };
                return Some((k as f64 - 0.5 + frac) * bin_hz);
            }
            acc += p;
        }
        None
    }
}

/// Least-squares slope of `y` over `x`; `None` with fewer than 2 distinct x.
pub fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    Some(sxy / sxx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_two_equal_tones_lies_between_them() {
        let rate = 2000.0;
        let mut mf = MedianFrequency::new(rate);
        let tone = |f: f64| -> Vec<f64> {
            (0..mf_len(rate))
                .map(|i| (2.0 * std::f64::consts::PI * f * i as f64 / rate).sin())
                .collect()
        };
        let a = tone(60.0);
        assert!((mf.median_hz(&a).unwrap() - 60.0).abs() < 1.5);
        let b = tone(120.0);
        assert!((mf.median_hz(&b).unwrap() - 120.0).abs() < 1.5);
        // A lower tone twice as strong pulls the median down to it.
        let mix: Vec<f64> = a.iter().zip(&b).map(|(x, y)| 2.0 * x + y).collect();
        assert!((mf.median_hz(&mix).unwrap() - 60.0).abs() < 1.5);
        assert_eq!(mf.median_hz(&a[..10]), None);
        assert_eq!(mf.median_hz(&vec![0.0; mf_len(rate)]), None);
    }

    fn mf_len(rate: f64) -> usize {
        (WINDOW_S * rate).round() as usize
    }

    #[test]
    fn slope_of_a_line() {
        let pts: Vec<(f64, f64)> = (0..5).map(|i| (i as f64, 3.0 - 0.5 * i as f64)).collect();
        assert!((slope(&pts).unwrap() + 0.5).abs() < 1e-12);
        assert_eq!(slope(&pts[..1]), None);
    }
}
