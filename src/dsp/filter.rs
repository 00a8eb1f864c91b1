//! Butterworth filters as cascades of second-order sections (`biquad`), designed once per stream
//! and run causally with their state kept from sample to sample and block to block.

use biquad::{Biquad, Coefficients, DirectForm2Transposed, ToHertz, Type};

/// Why a filter could not be designed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DesignError {
    #[error("corner frequency {corner_hz} Hz is not between 0 and the Nyquist frequency {nyquist_hz} Hz")]
    OutsideNyquist { corner_hz: f64, nyquist_hz: f64 },
    #[error("Butterworth order must be even and at least 2, got {0}")]
    BadOrder(usize),
}

/// The quality factors of the second-order sections of an even-order Butterworth filter:
/// Q_k = 1 / (2 cos((2k − 1)π / (2N))), k = 1 … N/2.
pub fn butterworth_qs(order: usize) -> Result<Vec<f64>, DesignError> {
    if order < 2 || order % 2 != 0 {
        return Err(DesignError::BadOrder(order));
    }
    let n = order as f64;
    Ok((1..=order / 2)
        .map(|k| {
            let theta = (2.0 * k as f64 - 1.0) * std::f64::consts::PI / (2.0 * n);
            1.0 / (2.0 * theta.cos())
        })
        .collect())
}

fn section(
    kind: Type<f64>,
    rate_hz: f64,
    corner_hz: f64,
    q: f64,
) -> Result<DirectForm2Transposed<f64>, DesignError> {
    let nyquist_hz = rate_hz / 2.0;
    if !(corner_hz > 0.0 && corner_hz < nyquist_hz) {
        return Err(DesignError::OutsideNyquist {
            corner_hz,
            nyquist_hz,
        });
    }
    let coeffs =
        Coefficients::<f64>::from_params(kind, rate_hz.hz(), corner_hz.hz(), q).map_err(|_| {
            DesignError::OutsideNyquist {
                corner_hz,
                nyquist_hz,
            }
        })?;
    Ok(DirectForm2Transposed::<f64>::new(coeffs))
}

/// A chain of second-order sections applied one after the other.
#[derive(Debug, Clone, Default)]
pub struct Cascade {
    sections: Vec<DirectForm2Transposed<f64>>,
    /// Group delay at the pass band's centre, seconds (for reporting event times without the
    /// filter's lag).
    delay_s: f64,
}

impl Cascade {
    pub fn new() -> Self {
        Self::default()
    }

    /// Butterworth high-pass of even `order` at `corner_hz`.
    pub fn butterworth_highpass(
        rate_hz: f64,
        corner_hz: f64,
        order: usize,
    ) -> Result<Self, DesignError> {
        let sections = butterworth_qs(order)?
            .into_iter()
            .map(|q| section(Type::HighPass, rate_hz, corner_hz, q))
            .collect::<Result<_, _>>()?;
        Ok(Cascade {
            sections,
            delay_s: 0.0,
        })
    }

    /// Butterworth low-pass of even `order` at `corner_hz`. Its group delay near DC,
    /// Σ 1/(ω_c·Q_k)... is recorded as `delay_s` (exact for the analogue prototype).
    pub fn butterworth_lowpass(
        rate_hz: f64,
        corner_hz: f64,
        order: usize,
    ) -> Result<Self, DesignError> {
        let qs = butterworth_qs(order)?;
        // Group delay at DC of an analogue 2nd-order low-pass section is 1/(Q·ω_c).
        let omega_c = 2.0 * std::f64::consts::PI * corner_hz;
        let delay_s = qs.iter().map(|q| 1.0 / (q * omega_c)).sum();
        let sections = qs
            .into_iter()
            .map(|q| section(Type::LowPass, rate_hz, corner_hz, q))
            .collect::<Result<_, _>>()?;
        Ok(Cascade { sections, delay_s })
    }

    /// A notch of quality `q` at `centre_hz`.
    pub fn notch(rate_hz: f64, centre_hz: f64, q: f64) -> Result<Self, DesignError> {
        Ok(Cascade {
            sections: vec![section(Type::Notch, rate_hz, centre_hz, q)?],
            delay_s: 0.0,
        })
    }

    /// Append another cascade after this one.
    pub fn then(mut self, other: Cascade) -> Self {
        self.sections.extend(other.sections);
        self.delay_s += other.delay_s;
        self
    }

    pub fn len(&self) -> usize {
        self.sections.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sections.is_empty()
    }

    pub fn delay_s(&self) -> f64 {
        self.delay_s
    }

    /// Filter one sample.
    #[inline]
    pub fn run(&mut self, x: f64) -> f64 {
        let mut v = x;
        for s in self.sections.iter_mut() {
            v = s.run(v);
        }
        v
    }

    /// Filter a block in place. Sections are applied sample by sample (not section by
    /// section over the block) so that the sections' recursions overlap in the CPU pipeline.
    pub fn process(&mut self, samples: &mut [f64]) {
        match self.sections.as_mut_slice() {
            [] => {}
            [a] => samples.iter_mut().for_each(|x| *x = a.run(*x)),
            [a, b] => samples.iter_mut().for_each(|x| *x = b.run(a.run(*x))),
            [a, b, c, d] => samples
                .iter_mut()
                .for_each(|x| *x = d.run(c.run(b.run(a.run(*x))))),
            _ => samples.iter_mut().for_each(|x| *x = self.run_inline(*x)),
        }
    }

    #[inline]
    fn run_inline(&mut self, x: f64) -> f64 {
        self.run(x)
    }

    /// Clear the state (e.g. after a gap in the stream).
    pub fn reset(&mut self) {
        self.sections.iter_mut().for_each(|s| s.reset_state());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Steady-state gain of `cascade` for a sine at `freq_hz`, measured by filtering.
    fn gain(mut cascade: Cascade, rate_hz: f64, freq_hz: f64) -> f64 {
        let n = (rate_hz * 4.0) as usize;
        let mut x: Vec<f64> = (0..n)
            .map(|i| (2.0 * std::f64::consts::PI * freq_hz * i as f64 / rate_hz).sin())
            .collect();
        cascade.process(&mut x);
        let tail = &x[n / 2..];
        let rms = (tail.iter().map(|v| v * v).sum::<f64>() / tail.len() as f64).sqrt();
        rms * std::f64::consts::SQRT_2
    }

    #[test]
    fn butterworth_qs_match_the_textbook_values() {
        let q = butterworth_qs(4).unwrap();
        assert!((q[0] - 0.541_196).abs() < 1e-5 && (q[1] - 1.306_563).abs() < 1e-5);
        assert!((butterworth_qs(2).unwrap()[0] - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-12);
        assert!(butterworth_qs(3).is_err());
    }

    #[test]
    fn highpass_is_3db_down_at_the_corner_and_flat_in_band() {
        let fs = 2000.0;
        let hp = Cascade::butterworth_highpass(fs, 20.0, 4).unwrap();
        assert!((gain(hp.clone(), fs, 20.0) - std::f64::consts::FRAC_1_SQRT_2).abs() < 0.02);
        assert!((gain(hp.clone(), fs, 100.0) - 1.0).abs() < 0.01);
        // 4th order: 24 dB per octave; at 5 Hz (two octaves down) about -48 dB.
        assert!(gain(hp, fs, 5.0) < 0.006);
    }

    #[test]
    fn lowpass_rolls_off_and_reports_its_delay() {
        let fs = 2000.0;
        let lp = Cascade::butterworth_lowpass(fs, 450.0, 4).unwrap();
        assert!((gain(lp.clone(), fs, 450.0) - std::f64::consts::FRAC_1_SQRT_2).abs() < 0.03);
        assert!(gain(lp.clone(), fs, 900.0) < 0.05);
        let lp10 = Cascade::butterworth_lowpass(100.0, 10.0, 4).unwrap();
        // 4th-order Butterworth: DC group delay = 2.6131 / ω_c.
        let expected = 2.613_126 / (2.0 * std::f64::consts::PI * 10.0);
        assert!((lp10.delay_s() - expected).abs() < 1e-4);
    }

    #[test]
    fn notch_removes_mains_and_keeps_neighbours() {
        let fs = 2000.0;
        let n = Cascade::notch(fs, 50.0, 30.0).unwrap();
        assert!(gain(n.clone(), fs, 50.0) < 0.01);
        assert!(gain(n, fs, 80.0) > 0.95);
    }

    #[test]
    fn block_processing_equals_sample_processing_across_block_boundaries() {
        let fs = 1000.0;
        let make = || {
            Cascade::butterworth_highpass(fs, 20.0, 4)
                .unwrap()
                .then(Cascade::butterworth_lowpass(fs, 300.0, 4).unwrap())
                .then(Cascade::notch(fs, 50.0, 30.0).unwrap())
        };
        let x: Vec<f64> = (0..3000)
            .map(|i| ((i * 7919) % 113) as f64 - 56.0)
            .collect();
        let mut one = make();
        let by_sample: Vec<f64> = x.iter().map(|&v| one.run(v)).collect();
        let mut blocks = make();
        let mut by_block = x.clone();
        for chunk in by_block.chunks_mut(97) {
            blocks.process(chunk);
        }
        for (a, b) in by_sample.iter().zip(&by_block) {
            assert!((a - b).abs() < 1e-9);
        }
    }

    #[test]
    fn corners_beyond_nyquist_are_refused() {
        assert!(matches!(
            Cascade::butterworth_lowpass(250.0, 450.0, 4),
            Err(DesignError::OutsideNyquist { .. })
        ));
    }
}
