//! Small signal-generation helpers for the simulator: second-order sections designed from the
//! Audio-EQ-Cookbook formulas (our own, so that the simulated signals never change with a
//! dependency), a noise-shaping cascade normalised to unit output RMS, and table-driven sine
//! oscillators (no trigonometry per sample).

use std::f64::consts::PI;
use std::sync::OnceLock;

/// One second-order section, transposed direct form II.
#[derive(Debug, Clone, Copy)]
pub struct Biquad {
    b0: f64,
    b1: f64,
    b2: f64,
    a1: f64,
    a2: f64,
    z1: f64,
    z2: f64,
}

impl Biquad {
    fn from_normalised(b: [f64; 3], a: [f64; 3]) -> Self {
        Biquad {
            b0: b[0] / a[0],
            b1: b[1] / a[0],
            b2: b[2] / a[0],
            a1: a[1] / a[0],
            a2: a[2] / a[0],
            z1: 0.0,
            z2: 0.0,
        }
    }

    /// Cookbook low-pass at `f0` Hz (clamped below Nyquist).
    pub fn lowpass(fs: f64, f0: f64, q: f64) -> Self {
        let w0 = 2.0 * PI * f0.min(0.49 * fs) / fs;
        let (s, c) = w0.sin_cos();
        let alpha = s / (2.0 * q);
        Biquad::from_normalised(
            [(1.0 - c) / 2.0, 1.0 - c, (1.0 - c) / 2.0],
            [1.0 + alpha, -2.0 * c, 1.0 - alpha],
        )
    }

    /// Cookbook high-pass at `f0` Hz (clamped below Nyquist).
    pub fn highpass(fs: f64, f0: f64, q: f64) -> Self {
        let w0 = 2.0 * PI * f0.min(0.49 * fs) / fs;
        let (s, c) = w0.sin_cos();
        let alpha = s / (2.0 * q);
        Biquad::from_normalised(
            [(1.0 + c) / 2.0, -(1.0 + c), (1.0 + c) / 2.0],
            [1.0 + alpha, -2.0 * c, 1.0 - alpha],
        )
    }

    #[inline]
    pub fn run(&mut self, x: f64) -> f64 {
        let y = self.b0 * x + self.z1;
        self.z1 = self.b1 * x - self.a1 * y + self.z2;
        self.z2 = self.b2 * x - self.a2 * y;
        y
    }

    pub fn reset(&mut self) {
        self.z1 = 0.0;
        self.z2 = 0.0;
    }

    fn scale_numerator(&mut self, g: f64) {
        self.b0 *= g;
        self.b1 *= g;
        self.b2 *= g;
    }

    /// |H(e^{jω})|² at `f` Hz.
    pub fn power_response(&self, fs: f64, f: f64) -> f64 {
        let (s1, c1) = (2.0 * PI * f / fs).sin_cos();
        self.power_response_at(c1, s1)
    }

    /// |H(e^{jω})|² given cos ω and sin ω.
    fn power_response_at(&self, c1: f64, s1: f64) -> f64 {
        let c2 = 2.0 * c1 * c1 - 1.0;
        let s2 = 2.0 * s1 * c1;
        let nr = self.b0 + self.b1 * c1 + self.b2 * c2;
        let ni = -(self.b1 * s1 + self.b2 * s2);
        let dr = 1.0 + self.a1 * c1 + self.a2 * c2;
        let di = -(self.a1 * s1 + self.a2 * s2);
        (nr * nr + ni * ni) / (dr * dr + di * di)
    }
}

/// A high-pass followed by a low-pass (both Butterworth, Q = 1/√2), scaled so that unit-variance
/// white noise in gives unit-RMS band-limited noise out.
#[derive(Debug, Clone, Copy)]
pub struct NoiseShaper {
    hp: Biquad,
    lp: Biquad,
}

impl NoiseShaper {
    pub fn new(fs: f64, highpass_hz: f64, lowpass_hz: f64) -> Self {
        let mut shaper = NoiseShaper::unnormalised(fs, highpass_hz, lowpass_hz);
        // Output variance for unit white input = energy of the impulse response.
        let mut probe = shaper;
        let n = (fs * 2.0).max(8192.0) as usize;
        let mut energy = 0.0;
        for i in 0..n {
            let y = probe.run(if i == 0 { 1.0 } else { 0.0 });
            energy += y * y;
        }
        shaper.hp.scale_numerator(1.0 / energy.sqrt());
        shaper
    }

    /// The same filters without the unit-RMS scaling (enough for spectral shape questions).
    fn unnormalised(fs: f64, highpass_hz: f64, lowpass_hz: f64) -> Self {
        let q = std::f64::consts::FRAC_1_SQRT_2;
        NoiseShaper {
            hp: Biquad::highpass(fs, highpass_hz, q),
            lp: Biquad::lowpass(fs, lowpass_hz, q),
        }
    }

    #[inline]
    pub fn run(&mut self, x: f64) -> f64 {
        self.lp.run(self.hp.run(x))
    }

    pub fn reset(&mut self) {
        self.hp.reset();
        self.lp.reset();
    }

    /// Output power spectral shape |H(f)|².
    pub fn power_response(&self, fs: f64, f: f64) -> f64 {
        let (s1, c1) = (2.0 * PI * f / fs).sin_cos();
        self.hp.power_response_at(c1, s1) * self.lp.power_response_at(c1, s1)
    }

    /// Median frequency of the output spectrum for white input, Hz (the frequency that splits
    /// the output power 50/50), on a grid of 2000 bins up to Nyquist, interpolated in the bin.
    pub fn median_hz(&self, fs: f64) -> f64 {
        let n = 2000;
        let df = 0.5 * fs / n as f64;
        let p: Vec<f64> = (0..n)
            .map(|i| self.power_response(fs, (i as f64 + 0.5) * df))
            .collect();
        let total: f64 = p.iter().sum();
        let mut acc = 0.0;
        for (i, v) in p.iter().enumerate() {
            if acc + v >= 0.5 * total {
                return (i as f64 + (0.5 * total - acc) / v) * df;
            }
            acc += v;
        }
        0.5 * fs
    }
}

/// Corners of the activity noise shaper relative to its centre frequency `fc`: high-pass at
/// `ACTIVITY_HP_REL·fc`, low-pass at `ACTIVITY_LP_REL·fc` (moved below Nyquist if needed).
pub const ACTIVITY_HP_REL: f64 = 0.5;
pub const ACTIVITY_LP_REL: f64 = 1.6;

fn activity_at_fc(fs: f64, fc: f64) -> NoiseShaper {
    NoiseShaper::new(
        fs,
        ACTIVITY_HP_REL * fc,
        (ACTIVITY_LP_REL * fc).min(0.45 * fs),
    )
}

fn activity_median_at_fc(fs: f64, fc: f64) -> f64 {
    NoiseShaper::unnormalised(
        fs,
        ACTIVITY_HP_REL * fc,
        (ACTIVITY_LP_REL * fc).min(0.45 * fs),
    )
    .median_hz(fs)
}

/// Designs activity shapers by the median frequency of their output. The median is nearly
/// proportional to `fc`, but not quite (bilinear warping, the Nyquist clamp), so the mapping is
/// tabulated once per rate and inverted by interpolation.
#[derive(Debug, Clone)]
pub struct ActivityDesigner {
    fs: f64,
    /// (median Hz, fc Hz), increasing.
    table: Vec<(f64, f64)>,
}

impl ActivityDesigner {
    pub fn new(fs: f64) -> Self {
        let mut table = Vec::new();
        let mut fc = 15.0;
        while fc < 0.3 * fs && fc < 400.0 {
            table.push((activity_median_at_fc(fs, fc), fc));
            fc *= 1.25;
        }
        ActivityDesigner { fs, table }
    }

    /// The shaper whose output has median frequency `median_hz` (clamped to what the rate
    /// allows).
    pub fn shaper(&self, median_hz: f64) -> NoiseShaper {
        let t = &self.table;
        let k = t
            .partition_point(|&(m, _)| m < median_hz)
            .clamp(1, t.len() - 1);
        let (m0, f0) = t[k - 1];
        let (m1, f1) = t[k];
        let x = ((median_hz - m0) / (m1 - m0)).clamp(0.0, 1.0);
        activity_at_fc(self.fs, f0 * (f1 / f0).powf(x))
    }
}

const TABLE_BITS: u32 = 12;
const TABLE_LEN: usize = 1 << TABLE_BITS;

fn sine_table() -> &'static [f64] {
    static TABLE: OnceLock<Vec<f64>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0..=TABLE_LEN)
            .map(|i| (2.0 * PI * i as f64 / TABLE_LEN as f64).sin())
            .collect()
    })
}

/// sin(2π·`turns`) by table lookup with linear interpolation (error < 3·10⁻⁷).
#[inline]
pub fn sin_turns(turns: f64) -> f64 {
    let x = (turns - turns.floor()) * TABLE_LEN as f64;
    let i = (x as usize).min(TABLE_LEN - 1);
    let frac = x - i as f64;
    let t = sine_table();
    t[i] + (t[i + 1] - t[i]) * frac
}

/// Raised-cosine ramp 0 → 1 for `x` in [0, 1]: ½(1 − cos πx) = sin²(πx/2).
#[inline]
pub fn raised_cosine(x: f64) -> f64 {
    let s = sin_turns(0.25 * x.clamp(0.0, 1.0));
    s * s
}

/// A sine oscillator driven by a 64-bit phase accumulator and the sine table: exact frequency
/// and no amplitude drift however long it runs.
#[derive(Debug, Clone, Copy)]
pub struct Osc {
    phase: u64,
    inc: u64,
    amplitude: f64,
}

const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;

impl Osc {
    /// `phase_turns` is the starting phase in turns (0..1).
    pub fn new(fs: f64, freq_hz: f64, amplitude: f64, phase_turns: f64) -> Self {
        let inc = ((freq_hz / fs).rem_euclid(1.0) * TWO_POW_64) as u64;
        let phase = (phase_turns.rem_euclid(1.0) * TWO_POW_64) as u64;
        Osc {
            phase,
            inc,
            amplitude,
        }
    }

    #[inline]
    pub fn next_sample(&mut self) -> f64 {
        let t = sine_table();
        let i = (self.phase >> (64 - TABLE_BITS)) as usize;
        let frac = ((self.phase << TABLE_BITS) >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        self.phase = self.phase.wrapping_add(self.inc);
        self.amplitude * (t[i] + (t[i + 1] - t[i]) * frac)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sine_table_is_accurate() {
        for k in 0..1000 {
            let x = k as f64 * 0.001_37;
            assert!((sin_turns(x) - (2.0 * PI * x).sin()).abs() < 1e-6);
        }
        assert!(raised_cosine(0.0).abs() < 1e-12);
        assert!((raised_cosine(1.0) - 1.0).abs() < 1e-9);
        assert!((raised_cosine(0.5) - 0.5).abs() < 1e-6);
    }

    #[test]
    fn oscillator_tracks_exact_sine() {
        let fs = 2000.0;
        let mut o = Osc::new(fs, 50.0, 2.0, 0.25);
        for n in 0..100_000 {
            let want = 2.0 * (2.0 * PI * (50.0 * n as f64 / fs + 0.25)).sin();
            let got = o.next_sample();
            assert!((got - want).abs() < 1e-5, "n = {n}: {got} vs {want}");
        }
    }

    #[test]
    fn shaper_has_unit_rms_and_expected_band() {
        let fs = 2000.0;
        let mut s = NoiseShaper::new(fs, 20.0, 450.0);
        let mut r = crate::simulate::rng::Rng::seed_from(5);
        let n = 400_000;
        let mut p = 0.0;
        for _ in 0..n {
            let y = s.run(r.normal());
            p += y * y;
        }
        let rms = (p / n as f64).sqrt();
        assert!((rms - 1.0).abs() < 0.02, "rms {rms}");
        let m = s.median_hz(fs);
        assert!(m > 120.0 && m < 260.0, "median {m}");
    }

    #[test]
    fn activity_median_is_as_asked() {
        for fs in [500.0, 1000.0, 2000.0, 4000.0] {
            let d = ActivityDesigner::new(fs);
            for want in [44.0, 55.0, 90.0, 110.0] {
                let got = d.shaper(want).median_hz(fs);
                assert!((got - want).abs() < 0.01 * want, "fs {fs}: {got} vs {want}");
            }
        }
    }
}
