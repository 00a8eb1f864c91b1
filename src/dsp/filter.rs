//! Butterworth filters as cascades of second-order sections, designed once per stream (the
//! coefficients come from `biquad`) and run causally with their state kept from sample to sample
//! and block to block.
//!
//! A cascade can start in the steady state of a constant input ([`Cascade::set_steady_state`],
//! as scipy's `sosfilt_zi` does), so a DC offset or a resting pressure gives no start-up
//! transient.

use biquad::{Coefficients, ToHertz, Type};

mod paired;

/// One second-order section in direct form II transposed, with its two state variables.
/// (Our own type rather than `biquad::DirectForm2Transposed` so the state can be set; the
/// arithmetic is the same, operation for operation.)
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Section {
    b0: f64,
    b1: f64,
    b2: f64,
    a1: f64,
    a2: f64,
    s1: f64,
    s2: f64,
}

impl Section {
    /// A section at rest (zero state) with normalised coefficients (a0 = 1).
    pub fn new(c: Coefficients<f64>) -> Self {
        Section {
            b0: c.b0,
            b1: c.b1,
            b2: c.b2,
            a1: c.a1,
            a2: c.a2,
            s1: 0.0,
            s2: 0.0,
        }
    }

    /// Filter one sample.
    #[inline(always)]
    pub fn run(&mut self, x: f64) -> f64 {
        let out = self.s1 + self.b0 * x;
        self.s1 = self.s2 + self.b1 * x - self.a1 * out;
        self.s2 = self.b2 * x - self.a2 * out;
        out
    }

    /// Gain at DC, (b0 + b1 + b2) / (1 + a1 + a2); 0 for a section with a pole at z = 1.
    pub fn dc_gain(&self) -> f64 {
        let g = (self.b0 + self.b1 + self.b2) / (1.0 + self.a1 + self.a2);
        if g.is_finite() {
            g
        } else {
            0.0
        }
    }

    /// Sets the state to the steady state for the constant input `x0` (as if `x0` had been the
    /// input forever) and returns the steady output G·x0.
    pub fn set_steady_state(&mut self, x0: f64) -> f64 {
        let y = self.dc_gain() * x0;
        self.s2 = self.b2 * x0 - self.a2 * y;
        self.s1 = y - self.b0 * x0;
        y
    }

    /// Zero state.
    pub fn reset(&mut self) {
        self.s1 = 0.0;
        self.s2 = 0.0;
    }

    /// The state (s1, s2).
    pub fn state(&self) -> (f64, f64) {
        (self.s1, self.s2)
    }
}

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

fn section(kind: Type<f64>, rate_hz: f64, corner_hz: f64, q: f64) -> Result<Section, DesignError> {
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
    Ok(Section::new(coeffs))
}

/// A chain of second-order sections applied one after the other.
#[derive(Debug, Clone, Default)]
pub struct Cascade {
    sections: Vec<Section>,
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
    /// section over the block) so that the sections' recursions overlap in the CPU pipeline;
    /// two at a time in one register where [`paired`] applies (the same bits). Otherwise the
    /// sections are copied to locals for the block and back after it, so that their state
    /// stays in registers rather than going through memory at every sample.
    pub fn process(&mut self, samples: &mut [f64]) {
        if paired::process(&mut self.sections, samples) {
            return;
        }
        match self.sections.as_mut_slice() {
            [] => {}
            [a] => {
                let mut la = *a;
                samples.iter_mut().for_each(|x| *x = la.run(*x));
                *a = la;
            }
            [a, b] => {
                let (mut la, mut lb) = (*a, *b);
                samples.iter_mut().for_each(|x| *x = lb.run(la.run(*x)));
                (*a, *b) = (la, lb);
            }
            [a, b, c, d] => {
                let (mut la, mut lb, mut lc, mut ld) = (*a, *b, *c, *d);
                samples
                    .iter_mut()
                    .for_each(|x| *x = ld.run(lc.run(lb.run(la.run(*x)))));
                (*a, *b, *c, *d) = (la, lb, lc, ld);
            }
            _ => samples.iter_mut().for_each(|x| *x = self.run_inline(*x)),
        }
    }

    /// [`Self::process`] for two cascades (two channels) over their blocks: side by side where
    /// they have as many sections and the blocks are as long (the same bits as each alone).
    pub fn process_two(
        a: &mut Cascade,
        a_samples: &mut [f64],
        b: &mut Cascade,
        b_samples: &mut [f64],
    ) {
        if !paired::process_two(&mut a.sections, a_samples, &mut b.sections, b_samples) {
            a.process(a_samples);
            b.process(b_samples);
        }
    }

    #[inline]
    fn run_inline(&mut self, x: f64) -> f64 {
        self.run(x)
    }

    /// Clear the state (zero state: a constant input then rings in as a step).
    pub fn reset(&mut self) {
        self.sections.iter_mut().for_each(Section::reset);
    }

    /// Sets every section to the steady state of the constant input `x0`, propagated through
    /// the cascade (each section's input is the previous one's steady output), as scipy's
    /// `sosfilt_zi(sos) * x0` does. Filtering then starts without a transient: a band-pass
    /// starts at 0 whatever the DC offset, a low-pass at `x0`. Returns the steady output.
    pub fn set_steady_state(&mut self, x0: f64) -> f64 {
        self.sections
            .iter_mut()
            .fold(x0, |x, s| s.set_steady_state(x))
    }

    /// Gain of the whole cascade at DC.
    pub fn dc_gain(&self) -> f64 {
        self.sections.iter().map(Section::dc_gain).product()
    }

    /// The sections, in order.
    pub fn sections(&self) -> &[Section] {
        &self.sections
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

    /// 3000 µV DC + a 60 Hz sine + deterministic saw-tooth "noise", at 2 kHz.
    fn dc_offset_signal(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| {
                3000.0
                    + 40.0 * (2.0 * std::f64::consts::PI * 60.0 * i as f64 / 2000.0).sin()
                    + ((i * 7919) % 113) as f64
                    - 56.0
            })
            .collect()
    }

    fn bandpass_20_450() -> Cascade {
        Cascade::butterworth_highpass(2000.0, 20.0, 4)
            .unwrap()
            .then(Cascade::butterworth_lowpass(2000.0, 450.0, 4).unwrap())
    }

    /// Reference: scipy 1.17.1,
    /// `sos = vstack([butter(4, 20, 'highpass', fs=2000, output='sos'),
    ///                butter(4, 450, 'lowpass', fs=2000, output='sos')])`,
    /// `sosfilt(sos, x, zi=sosfilt_zi(sos) * x[0])` on the signal of `dc_offset_signal`.
    /// (scipy designs its own sections; the output depends only on the transfer function and
    /// the steady-state start, so it must agree to rounding.)
    #[test]
    fn steady_state_start_matches_scipy_sosfilt_zi() {
        let mut x = dc_offset_signal(4000);
        let mut bp = bandpass_20_450();
        let first = x[0];
        assert!(bp.set_steady_state(first).abs() < 1e-9);
        bp.process(&mut x);
        let reference = [
            (0, -7.766_500_822_136_74e-12),
            (1, 1.025_732_031_324_313),
            (2, 6.370_175_492_733_385),
            (5, 42.338_683_783_037_496),
            (10, 47.070_764_579_412_284),
            (50, 17.960_587_797_821_667),
            (200, 54.089_594_409_371_955),
            (1000, 34.780_030_312_204_374),
            (3999, 18.387_570_064_148_257),
        ];
        for (i, want) in reference {
            assert!(
                (x[i] - want).abs() < 1e-6,
                "sample {i}: {} vs scipy {want}",
                x[i]
            );
        }
        // scipy: max |y| over the first 0.5 s is 101.76 with the steady-state start, 2599.7
        // from a zero state.
        let max = x[..1000].iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!((max - 101.756_104_367_417_66).abs() < 1e-6, "{max}");
        let mut zero_start = dc_offset_signal(4000);
        bandpass_20_450().process(&mut zero_start);
        assert!((zero_start[2] - 2_118.232_813_349_405).abs() < 1e-6);
        assert!((zero_start[1000] - x[1000]).abs() < 1e-6);
    }

    /// scipy: `butter(4, 10, fs=100, output='sos')`, `sosfilt_zi(sos) * 17` on
    /// 17 + 0.5·sin(2π·0.5·t).
    #[test]
    fn lowpass_starts_at_the_first_sample() {
        let mut p: Vec<f64> = (0..500)
            .map(|j| 17.0 + 0.5 * (2.0 * std::f64::consts::PI * 0.5 * j as f64 / 100.0).sin())
            .collect();
        let mut lp = Cascade::butterworth_lowpass(100.0, 10.0, 4).unwrap();
        assert!((lp.dc_gain() - 1.0).abs() < 1e-12);
        assert!((lp.set_steady_state(p[0]) - 17.0).abs() < 1e-12);
        lp.process(&mut p);
        for (i, want) in [
            (0, 17.000_000_000_000_007),
            (1, 17.000_075_768_143_464),
            (5, 17.015_366_615_658_483),
            (20, 17.240_476_883_192_766),
            (100, 17.063_022_196_333_08),
            (499, 17.078_571_221_570_15),
        ] {
            assert!((p[i] - want).abs() < 1e-9, "sample {i}: {} vs {want}", p[i]);
        }
    }

    #[test]
    fn steady_state_is_a_fixed_point_of_every_section() {
        let mut c = bandpass_20_450().then(Cascade::notch(2000.0, 50.0, 30.0).unwrap());
        c.set_steady_state(-1234.5);
        let before: Vec<(f64, f64)> = c.sections().iter().map(Section::state).collect();
        let y = c.run(-1234.5);
        assert!(y.abs() < 1e-9);
        for (s, b) in c.sections().iter().zip(&before) {
            assert!((s.state().0 - b.0).abs() < 1e-9 && (s.state().1 - b.1).abs() < 1e-9);
        }
    }

    /// Our section does what `biquad::DirectForm2Transposed` does, bit for bit.
    #[test]
    fn section_equals_the_biquad_crate() {
        use biquad::Biquad;
        let coeffs =
            Coefficients::<f64>::from_params(Type::HighPass, 2000.0.hz(), 20.0.hz(), 0.54).unwrap();
        let mut ours = Section::new(coeffs);
        let mut theirs = biquad::DirectForm2Transposed::<f64>::new(coeffs);
        for v in dc_offset_signal(500) {
            assert_eq!(ours.run(v).to_bits(), theirs.run(v).to_bits());
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
