//! Adaptive mains canceller: removes the 50-Hz and 60-Hz mains lines (fundamental, 3rd and 5th
//! harmonics) from band-passed EMG without the notch's cost.
//!
//! A notch removes a band of the EMG around each line, and its narrow band rings on after every
//! burst: a cough's share of that band goes on for 0.1–0.3 s after the cough (a Q-30 notch at
//! 60 Hz and its harmonics lengthened simulated cough bursts from 0.3 to 0.5 s). Here each line
//! is a sinusoid of its own whose amplitude and phase are learnt at rest by least mean squares
//! (Widrow's adaptive noise canceller, with the line's sine and cosine as the reference), and
//! subtracted. Four things make it safe to leave on:
//! - **It learns at rest, not in bursts.** Each sample teaches in proportion to
//!   (rest power / local power)²: the local power is the residual's over the last block
//!   (50 ms), the rest power a floor under it that falls quickly and rises slowly
//!   ([`FLOOR_RISE_TAU_S`]). In a contraction or a cough 20 times the rest, a sample teaches
//!   1/160 000 of what a rest sample does, so the EMG's own content near the lines is not learnt
//!   as mains and nothing is left ringing after the burst (a Q-30 notch at 60 Hz and its
//!   harmonics lengthened simulated cough bursts from 0.3 to 0.5 s). In a minute-long hold the
//!   floor rises to the hold's level and learning resumes.
//! - **The error that drives it is clipped** at [`CLIP_K`] times the rest's RMS, for the first
//!   samples of a spike, before the local power has risen.
//! - **The learning is slow** (time constant `conditioning.mains_cancel_tau_s` at rest, 0.25 s
//!   by default, longer in practice as rest samples teach a little less than fully): each
//!   line's band is about 1/(π·τ) ≈ 1 Hz wide, and a mains frequency 0.05 Hz off its nominal
//!   value is still followed (the line's phase turns slowly and the weights turn with it).
//! - **Only lines that stand out are taken out** ([`LINE_SHRINK_RATIO`]). Without mains the
//!   learnt lines are the EMG's own content in 1 Hz around them, about 0.2 % of the rest's
//!   power each; they are left in, so a channel without mains comes out nearly as it went in.

use std::f64::consts::PI;

#[cfg(target_arch = "x86_64")]
mod avx;

/// Mains frequencies cancelled, Hz (both, since a recording does not say where it was made).
pub const MAINS_HZ: [f64; 2] = [50.0, 60.0];
/// Harmonics of each mains frequency that are cancelled (mains interference is odd-harmonic).
pub const MAINS_HARMONICS: [f64; 3] = [1.0, 3.0, 5.0];
/// The error that drives the learning is clipped at this many rest RMS.
pub const CLIP_K: f64 = 2.5;
/// The rest floor follows the local power down with this time constant, seconds ...
pub const FLOOR_FALL_TAU_S: f64 = 0.2;
/// ... and up with this one: a minute-long hold becomes the floor after about this long.
pub const FLOOR_RISE_TAU_S: f64 = 30.0;
/// A learnt line is subtracted in proportion share / (share + this), where share is its power
/// over the rest's: a line as strong as 2 % of the rest is half taken out, one of 50 % almost
/// all of it. The EMG's own content near a line gives a learnt "line" of about 0.2 % of the
/// rest's power; it is left in, so that a channel without mains comes out as it went in.
pub const LINE_SHRINK_RATIO: f64 = 0.02;
/// A mains frequency is followed only while its fundamental carries this share of the rest's
/// power (below it the learnt phasor's turn is mostly the EMG's noise).
pub const TRACK_MIN_SHARE: f64 = 0.05;
/// The start measures the mains frequency only where the fundamental is at least as strong as
/// the rest EMG (a short fit's drift is noise below that); elsewhere the LMS finds it.
pub const START_TRACK_MIN_SHARE: f64 = 1.0;
/// Time constant of the frequency followed, seconds (the measured turns are averaged over it).
pub const TRACK_TAU_S: f64 = 0.5;
/// How far from 50 or 60 Hz a mains frequency may be followed, Hz (a sample clock 1 % off).
pub const TRACK_MAX_OFF_HZ: f64 = 0.6;
/// The lines are fitted by least squares over this much signal at the start (and at least
/// eight samples per weight), seconds.
const START_S: f64 = 0.2;
/// For this long after the start the lines and the mains frequency are learnt
/// [`ACQUIRE_SPEEDUP`] times faster, seconds: a recording whose clock makes 60 Hz look like
/// 59.92 Hz otherwise shows the mains coming back for its first second.
const ACQUIRE_S: f64 = 1.0;
const ACQUIRE_SPEEDUP: f64 = 5.0;
/// The least-squares start's prior: weights of a few thousand units are not held back.
const START_P: f64 = 1e8;

fn avx2_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Least-squares weights, in `x`, of the lanes `fit` picks among the first `n` (the other lanes
/// keep their weights and are taken out of `x` first); `x` is the block that ended just before
/// the oscillators' present state (sample `k` of `x` is `x.len() - k` turns back). Returns every
/// lane's weights and the residual's power; `None` when the lines cannot be told apart in it.
fn fit_lines(
    x: &[f64],
    lanes: &Lanes,
    n: usize,
    fit: &[bool],
) -> Option<([f64; LANES], [f64; LANES], f64)> {
    let picked: Vec<usize> = (0..n).filter(|&j| fit.get(j) == Some(&true)).collect();
    let m = 2 * picked.len();
    // Normal equations over the block, [c_j.., s_j..] of the picked lanes per sample, walking
    // back in time; the signal's energy too, for the residual.
    let mut gram = vec![0.0; m * m];
    let mut rhs = vec![0.0; m];
    let mut phi = vec![0.0; m];
    let mut energy = 0.0;
    let (mut c, mut s) = (lanes.c, lanes.s);
    for &x in x.iter().rev() {
        let mut others = 0.0;
        for j in 0..n {
            // One turn back: multiply by the conjugate of the step.
            let (cs, sn) = (lanes.cos_step[j], lanes.sin_step[j]);
            (c[j], s[j]) = (c[j] * cs + s[j] * sn, s[j] * cs - c[j] * sn);
            if fit.get(j) != Some(&true) {
                others += lanes.a[j] * c[j] + lanes.b[j] * s[j];
            }
        }
        let v = x - others;
        energy += v * v;
        for (k, &j) in picked.iter().enumerate() {
            phi[k] = c[j];
            phi[picked.len() + k] = s[j];
        }
        for r in 0..m {
            rhs[r] += phi[r] * v;
            // The upper triangle: the matrix is symmetric (mirrored below, the same bits).
            for q in r..m {
                gram[r * m + q] += phi[r] * phi[q];
            }
        }
    }
    for r in 0..m {
        for q in 0..r {
            gram[r * m + q] = gram[q * m + r];
        }
    }
    let projections = rhs.clone();
    let w = solve(&mut gram, &mut rhs, m)?;
    let (mut a, mut b) = (lanes.a, lanes.b);
    for (k, &j) in picked.iter().enumerate() {
        a[j] = w[k];
        b[j] = w[picked.len() + k];
    }
    // At the least-squares weights the residual's energy is the signal's less wᵀ·(Φᵀv).
    let explained: f64 = w.iter().zip(&projections).map(|(w, p)| w * p).sum();
    let power = (energy - explained).max(0.0) / x.len() as f64;
    power.is_finite().then_some((a, b, power))
}

/// Solves the `m`×`m` system `a · w = b` (row-major `a`) by Gaussian elimination with partial
/// pivoting; `None` when it is singular (for these fits: lines that cannot be told apart).
fn solve(a: &mut [f64], b: &mut [f64], m: usize) -> Option<Vec<f64>> {
    let scale = (0..m).map(|i| a[i * m + i].abs()).fold(0.0, f64::max);
    for col in 0..m {
        let pivot =
            (col..m).max_by(|&i, &k| a[i * m + col].abs().total_cmp(&a[k * m + col].abs()))?;
        let independent = a[pivot * m + col].abs() > 1e-9 * scale;
        if !independent {
            return None;
        }
        if pivot != col {
            for q in 0..m {
                a.swap(pivot * m + q, col * m + q);
            }
            b.swap(pivot, col);
        }
        for r in col + 1..m {
            let f = a[r * m + col] / a[col * m + col];
            for q in col..m {
                a[r * m + q] -= f * a[col * m + q];
            }
            b[r] -= f * b[col];
        }
    }
    let mut w = vec![0.0; m];
    for r in (0..m).rev() {
        let tail: f64 = (r + 1..m).map(|q| a[r * m + q] * w[q]).sum();
        w[r] = (b[r] - tail) / a[r * m + r];
    }
    w.iter().all(|v| v.is_finite()).then_some(w)
}

/// 0 well under `level`, 1 well over it, ½ at it: x² / (x² + level²).
fn smooth_step(x: f64, level: f64) -> f64 {
    let (x2, l2) = (x * x, level * level);
    if x2.is_finite() && x2 + l2 > 0.0 {
        x2 / (x2 + l2)
    } else {
        0.0
    }
}

/// Every this long the oscillators are renormalised, the subtracted share of each line is
/// updated and the mains frequency is followed, seconds.
const BLOCK_S: f64 = 0.05;
/// A block whose (clipped) residual is at least this share the lines' own frequencies is the
/// canceller being wrong, not a burst: the lines are fitted again to the block (see
/// [`MainsCanceller::refit_wrong_lines`]). Broadband EMG puts about 2 / (samples in a block)
/// of its power on each line; a line left behind by a jump of the mains' phase puts 0.8 or
/// more (0.81 when clipped to a square wave).
const LINE_ERROR_SHARE: f64 = 0.5;
/// ... and at least this many times what broadband residual puts on the lines by chance (so
/// that at low rates, few samples a block, chance does not pass for a line).
const LINE_ERROR_OVER_CHANCE: f64 = 4.0;
/// ... in a block at least this many times louder than the rest floor (a quiet block has
/// nothing worth fitting again);
const LINE_ERROR_LOUD: f64 = 4.0;
/// Fits in the first this many seconds of learning are part of learning (lines still settling
/// after the start, harmonics switched on, the frequency followed): not counted as jumps.
const JUMPS_COUNTED_AFTER_S: f64 = 10.0;
/// ... or this many times within [`FIT_FOLLOW_UP_S`] after such a fit;
const LINE_ERROR_LOUD_AFTER_FIT: f64 = 1.5;
/// After a fit, for this long, a jump inside the fitted block may still leave part of the line
/// behind: fits then are the same jump's (looked at closer, not counted again), seconds.
const FIT_FOLLOW_UP_S: f64 = 0.5;
/// ... whose strongest line's projection is at most this many times the line learnt (a jump
/// leaves up to twice the line, at half a turn; a burst is usually far larger than the line);
const LINE_ERROR_MAX_JUMP: f64 = 2.2;
/// ... and fitted again, the strongest line comes out this close to the size learnt (a jump
/// moves the phase, not the size), relative;
const LINE_ERROR_SAME_SIZE: f64 = 0.3;
/// ... and the fit leaves at most this share of the block's residual power, or no more than
/// this many times the rest floor.
const LINE_ERROR_LEFT: f64 = 0.3;
const LINE_ERROR_LEFT_FLOOR: f64 = 1.5;
/// Lanes of the per-sample state: [`MAINS_HZ`] × [`MAINS_HARMONICS`] lines at most (unused
/// lanes stay zero).
const LANES: usize = 6;
/// Lost samples up to this long are bridged by turning the oscillators on ([`MainsCanceller::skip`]);
/// after a longer gap the lines' phase is not known any more (the grid's frequency wanders by up
/// to ±0.1 Hz, 36° a second, faster than the canceller follows it), seconds.
const BRIDGE_MAX_S: f64 = 1.0;
/// The oscillators' rotation is set again when the frequency followed moves by this much, Hz
/// (a phase error of 0.4° after a second).
const STEP_RESOLUTION_HZ: f64 = 0.001;
/// A mains frequency's harmonics are learnt and cancelled once its fundamental carries this
/// share of the rest's power, and until it falls under [`FAMILY_OFF_SHARE`] (the EMG's own
/// content near a line learns to about 0.2 %).
pub const FAMILY_ON_SHARE: f64 = 0.01;
pub const FAMILY_OFF_SHARE: f64 = 0.004;
/// After the start, a fundamental must stand out for this many blocks in a row (0.5 s) before
/// its harmonics are learnt: mains is steady, while a burst's own content near a line lifts
/// the learnt line above [`FAMILY_ON_SHARE`] for a block or two (on the simulator's 60-minute
/// recording without 60-Hz mains, 60 Hz was switched on about 3 200 times in the hour on
/// its two EMG channels, each time learning its harmonics from the EMG).
const FAMILY_ON_BLOCKS: u32 = 10;
/// Samples per weight update (block LMS).
const SUB_BLOCK: usize = 8;

/// A line's oscillator's rotation per sample, (cos, sin), at fundamental `w` (radians per
/// sample).
fn steps(w: f64, line: &Line) -> (f64, f64) {
    let w = w * line.harmonic;
    (w.cos(), w.sin())
}

/// One mains line taken out of a channel (written to `session.json`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct MainsLine {
    /// Nominal frequency, Hz.
    pub hz: f64,
    /// Peak amplitude subtracted, in the channel's unit.
    pub peak: f64,
}

/// What a line is: its nominal frequency and which harmonic of which mains frequency.
#[derive(Debug, Clone, Copy)]
struct Line {
    hz: f64,
    family: usize,
    harmonic: f64,
}

/// The per-sample state of every line, lane by lane: the reference oscillator (cos and sin of
/// the line's phase now, and its rotation per sample), the learnt weights (the line is
/// `a·c + b·s`) and the share of it that is subtracted ([`LINE_SHRINK_RATIO`]).
#[derive(Debug, Clone, Copy, Default)]
struct Lanes {
    c: [f64; LANES],
    s: [f64; LANES],
    cos_step: [f64; LANES],
    sin_step: [f64; LANES],
    a: [f64; LANES],
    b: [f64; LANES],
    gain: [f64; LANES],
}

impl Lanes {
    /// The learnt line `j` as a phasor: its phase turns at the difference between the mains'
    /// frequency and the reference's.
    fn phasor(&self, j: usize) -> (f64, f64) {
        (self.a[j], -self.b[j])
    }

    #[inline(always)]
    fn rotate(&mut self, n: usize) {
        for j in 0..n.min(LANES) {
            let c = self.c[j] * self.cos_step[j] - self.s[j] * self.sin_step[j];
            self.s[j] = self.s[j] * self.cos_step[j] + self.c[j] * self.sin_step[j];
            self.c[j] = c;
        }
    }
}

/// The learning within a block: the step and clip level set for it, the sub-block's pending
/// learning, and the block's sums so far.
struct Lms {
    step: f64,
    clip: f64,
    da: [f64; LANES],
    db: [f64; LANES],
    power: f64,
    clipped_power: f64,
    learnt: u32,
}

impl Lms {
    /// One sample: subtract the lines, learn from the residual (clipped; a non-finite sample
    /// passes unchanged and teaches nothing), turn the oscillators on.
    #[inline(always)]
    fn sample<const N: usize>(&mut self, l: &mut Lanes, x: &mut f64) {
        let n = N.min(LANES);
        let (mut est, mut removed) = (0.0, 0.0);
        for j in 0..n {
            let v = l.a[j] * l.c[j] + l.b[j] * l.s[j];
            est += v;
            removed += l.gain[j] * v;
        }
        let e = *x - est;
        if e.is_finite() {
            let g = self.residual(e);
            for j in 0..n {
                self.da[j] += g * l.c[j];
                self.db[j] += g * l.s[j];
            }
            *x -= removed;
        }
        l.rotate(n);
    }

    /// A finite residual `e` counted in the block's sums; its step.
    #[inline(always)]
    fn residual(&mut self, e: f64) -> f64 {
        self.power += e * e;
        self.learnt += 1;
        // Not `clamp`, which panics on a clip level that is not a number (squares that
        // overflowed); these leave such a residual unclipped.
        let clipped = e.max(-self.clip).min(self.clip);
        self.clipped_power += clipped * clipped;
        self.step * clipped
    }

    /// The sub-block's learning, into the weights.
    #[inline(always)]
    fn end_sub_block<const N: usize>(&mut self, l: &mut Lanes) {
        for j in 0..N.min(LANES) {
            l.a[j] += self.da[j];
            l.b[j] += self.db[j];
        }
        (self.da, self.db) = ([0.0; LANES], [0.0; LANES]);
    }
}

/// A mains frequency as the recording sees it: the nominal 50 or 60 Hz times the ratio of the
/// device's real sample rate to its nominal one, and the grid's own ±0.1 Hz.
#[derive(Debug, Clone, Copy)]
struct Family {
    /// Fundamental, radians per sample: nominal and tracked.
    nominal_w: f64,
    w: f64,
    /// The frequency the oscillators' rotation was last set from.
    w_set: Option<f64>,
    /// Lane of the fundamental, and its phasor at the last tracking step.
    fundamental: Option<usize>,
    /// Its harmonics are learnt and cancelled ([`FAMILY_ON_SHARE`]).
    active: bool,
    /// Blocks in a row its inactive fundamental has stood out ([`FAMILY_ON_BLOCKS`]).
    standing_out: u32,
    last: Option<(f64, f64)>,
}

/// The canceller of one channel, with its state.
#[derive(Debug, Clone)]
pub struct MainsCanceller {
    /// The lines in lane order; the first `n_lanes` are processed at every sample.
    lines: Vec<Line>,
    /// The processor has AVX2 ([`Self::run_fastest`]).
    avx2: bool,
    lanes: Lanes,
    n_lanes: usize,
    families: Vec<Family>,
    rate_hz: f64,
    /// Step size at rest (unit-amplitude references: time constant 2/µ samples), and while
    /// acquiring ([`ACQUIRE_S`]).
    mu: f64,
    mu_acquire: f64,
    acquire_n: u64,
    /// Samples learnt from since the (re)start.
    n: u64,
    /// The residual's power over the last block, and the rest floor under it (its share per
    /// block of the way to the block's power, falling and rising); the clip level and the step
    /// (µ slowed by quiet²) they give, for the next block; this block's power so far.
    local_power: f64,
    floor_power: f64,
    floor_fall: f64,
    floor_rise: f64,
    clip: f64,
    step: f64,
    block_power: f64,
    block_samples: u32,
    /// This block's input, its residual's power clipped as the learning clips it, and the
    /// weights (with the sub-block's pending learning) at its start: what
    /// [`Self::refit_wrong_lines`] looks at.
    block_input: Vec<f64>,
    block_clipped_power: f64,
    block_start_a: [f64; LANES],
    block_start_b: [f64; LANES],
    /// Times the lines were fitted again to a block, and when the last fit was (samples learnt
    /// by then); jumps of the mains' phase seen once the lines were settled
    /// ([`JUMPS_COUNTED_AFTER_S`]).
    refits: u64,
    last_fit_n: Option<u64>,
    phase_jumps: u64,
    start_n: u64,
    /// The least-squares start: its weights (cosine, sine and their rates, per line), inverse
    /// correlation matrix (square; both empty after) and samples seen (for time).
    start_w: Vec<f64>,
    start_p: Vec<f64>,
    start_k: u64,
    /// Samples per block ([`BLOCK_S`]) and samples left in this one; samples left in this
    /// sub-block ([`SUB_BLOCK`]) and the learning it has gathered.
    block: u32,
    block_left: u32,
    sub_left: u32,
    da: [f64; LANES],
    db: [f64; LANES],
}

impl MainsCanceller {
    /// A canceller for the lines of [`MAINS_HZ`] × [`MAINS_HARMONICS`] below `max_hz`, at
    /// `rate_hz`; `None` when no line is below it. `tau_s` is the lines' time constant at rest.
    pub fn new(rate_hz: f64, max_hz: f64, tau_s: f64) -> Option<Self> {
        let mut lines: Vec<Line> = (0..MAINS_HZ.len())
            .flat_map(|f| MAINS_HARMONICS.iter().map(move |&h| (f, h)))
            .map(|(family, harmonic)| Line {
                hz: MAINS_HZ[family] * harmonic,
                family,
                harmonic,
            })
            .filter(|l| l.hz < max_hz && l.hz < 0.5 * rate_hz)
            .collect();
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if lines.is_empty() || lines.len() > LANES || !positive(tau_s) || !positive(rate_hz) {
            return None;
        }
        lines.sort_by(|x, y| x.hz.total_cmp(&y.hz));
        let families = MAINS_HZ
            .iter()
            .enumerate()
            .map(|(k, &f)| Family {
                nominal_w: 2.0 * PI * f / rate_hz,
                w: 2.0 * PI * f / rate_hz,
                w_set: None,
                fundamental: lines
                    .iter()
                    .position(|l| l.family == k && l.harmonic == 1.0),
                active: true,
                standing_out: 0,
                last: None,
            })
            .collect();
        let tau_samples = (tau_s * rate_hz).max(1.0);
        // Stable while µ·(number of lines) < 2; a time constant shorter than that allows is
        // not a canceller any more.
        let cap = 0.5 / lines.len() as f64;
        let mu = (2.0 / tau_samples).min(cap);
        let m = 4 * lines.len();
        let start_n = ((START_S * rate_hz).ceil() as u64).max(8 * m as u64);
        let block = (BLOCK_S * rate_hz).round().max(1.0) as u32;
        let mut c = MainsCanceller {
            lines,
            lanes: Lanes::default(),
            n_lanes: 0,
            avx2: avx2_available(),
            families,
            rate_hz,
            mu,
            mu_acquire: (ACQUIRE_SPEEDUP * mu).min(cap),
            acquire_n: (ACQUIRE_S * rate_hz).round() as u64,
            n: 0,
            local_power: 0.0,
            floor_power: 0.0,
            floor_fall: (BLOCK_S / FLOOR_FALL_TAU_S).min(1.0),
            floor_rise: (BLOCK_S / FLOOR_RISE_TAU_S).min(1.0),
            clip: 0.0,
            step: 0.0,
            block_power: 0.0,
            block_samples: 0,
            block_input: vec![0.0; block as usize],
            block_clipped_power: 0.0,
            block_start_a: [0.0; LANES],
            block_start_b: [0.0; LANES],
            refits: 0,
            last_fit_n: None,
            phase_jumps: 0,
            start_n,
            start_w: Vec::new(),
            start_p: Vec::new(),
            start_k: 0,
            block,
            block_left: block,
            sub_left: SUB_BLOCK as u32,
            da: [0.0; LANES],
            db: [0.0; LANES],
        };
        for j in 0..c.lines.len() {
            c.lanes.c[j] = 1.0;
        }
        c.set_steps();
        c.restart();
        Some(c)
    }

    /// How long after a (re)start the output still carries mains, seconds: the least-squares
    /// start, then the frequency settling while acquiring.
    pub fn settle_s(&self) -> f64 {
        self.start_n as f64 / self.rate_hz + 2.0 * TRACK_TAU_S / ACQUIRE_SPEEDUP
    }

    /// The frequencies cancelled, Hz, ascending.
    pub fn lines_hz(&self) -> Vec<f64> {
        let mut hz: Vec<f64> = self.lines.iter().map(|l| l.hz).collect();
        hz.sort_by(f64::total_cmp);
        hz
    }

    /// The mains frequency each family is followed at now, Hz: `(nominal, tracked)`.
    pub fn tracked_hz(&self) -> Vec<(f64, f64)> {
        self.families
            .iter()
            .map(|f| {
                let hz = |w: f64| w * self.rate_hz / (2.0 * PI);
                (hz(f.nominal_w).round(), hz(f.w))
            })
            .collect()
    }

    /// Each line's peak amplitude taken out now, in the signal's unit, by frequency.
    pub fn amplitudes(&self) -> Vec<MainsLine> {
        let l = &self.lanes;
        let mut a: Vec<MainsLine> = self
            .lines
            .iter()
            .enumerate()
            .map(|(j, line)| MainsLine {
                hz: line.hz,
                peak: l.gain[j] * l.a[j].hypot(l.b[j]),
            })
            .collect();
        a.sort_by(|x, y| x.hz.total_cmp(&y.hz));
        a
    }

    /// `n` samples were lost before the next one. The mains went on through them, so the
    /// oscillators turn on by `n` samples and the learnt lines keep their phase (lost samples
    /// teach nothing). After a gap longer than [`BRIDGE_MAX_S`] the lines' phase is not known
    /// any more, and the canceller learns again as at the start.
    pub fn skip(&mut self, n: u64) {
        if n as f64 > BRIDGE_MAX_S * self.rate_hz {
            self.restart();
            return;
        }
        let mut lost = [f64::NAN; 256];
        let mut left = n as usize;
        while left > 0 {
            let k = left.min(lost.len());
            lost[..k].fill(f64::NAN);
            self.process(&mut lost[..k]);
            left -= k;
        }
    }

    /// Learn again from the next sample, as at the start.
    fn restart(&mut self) {
        // Every line takes part in the start's fit.
        for f in &mut self.families {
            f.active = true;
            f.last = None;
        }
        self.arrange();
        let l = &mut self.lanes;
        (l.a, l.b, l.gain) = ([0.0; LANES], [0.0; LANES], [0.0; LANES]);
        let m = 4 * self.lines.len();
        self.start_w = vec![0.0; m];
        self.start_p = vec![0.0; m * m];
        for i in 0..m {
            self.start_p[i * m + i] = START_P;
        }
        self.start_k = 0;
        self.n = 0;
        self.last_fit_n = None;
        self.local_power = 0.0;
        self.floor_power = 0.0;
        self.clip = 0.0;
        self.step = 0.0;
        (self.block_power, self.block_samples) = (0.0, 0);
        (self.block_left, self.sub_left) = (self.block, SUB_BLOCK as u32);
        (self.da, self.db) = ([0.0; LANES], [0.0; LANES]);
        self.mark_block_start();
    }

    /// Where a block starts: its clipped power from zero, the weights it starts from.
    fn mark_block_start(&mut self) {
        self.block_clipped_power = 0.0;
        for j in 0..LANES {
            self.block_start_a[j] = self.lanes.a[j] + self.da[j];
            self.block_start_b[j] = self.lanes.b[j] + self.db[j];
        }
    }

    /// Cancel the lines from `samples`, in place. Non-finite samples pass unchanged and teach
    /// nothing.
    pub fn process(&mut self, samples: &mut [f64]) {
        let mut i = 0;
        while i < samples.len() {
            if self.n < self.start_n {
                samples[i] = self.run_start(samples[i]);
                i += 1;
                continue;
            }
            let k = (self.block_left as usize).min(samples.len() - i);
            // The lanes processed, as a constant, so that their loops unroll into vector code.
            let sub = &mut samples[i..i + k];
            let at = (self.block - self.block_left) as usize;
            if let Some(keep) = self.block_input.get_mut(at..at + k) {
                keep.copy_from_slice(sub);
            }
            match self.n_lanes {
                0..=2 => self.run_fastest::<2>(sub),
                3..=4 => self.run_fastest::<4>(sub),
                _ => self.run_fastest::<LANES>(sub),
            }
            i += k;
            self.block_left -= k as u32;
            if self.block_left == 0 {
                self.block_left = self.block;
                self.every_block();
            }
        }
    }

    /// Samples after the start: subtract the lines, and learn from the residual by least mean
    /// squares, clipped, and slowed in bursts. The weights move once per sub-block of
    /// [`SUB_BLOCK`] samples by the sum of the sub-block's steps (block LMS: the same learning
    /// within a fraction of a per cent at these step sizes, and each sample's subtraction no
    /// longer waits for the last sample's update).
    /// [`Self::run`] with 256-bit vectors where the processor has them (AVX2: four lanes per
    /// instruction instead of two). Only additions and multiplications are vectorised (no
    /// fused multiply-add), so the results are the same bits on every x86-64 machine.
    fn run_fastest<const N: usize>(&mut self, sub: &mut [f64]) {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is set only where the processor reports AVX2.
            unsafe { self.run_avx2::<N>(sub) };
            return;
        }
        self.run::<N>(sub, false);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn run_avx2<const N: usize>(&mut self, sub: &mut [f64]) {
        self.run::<N>(sub, true);
    }

    /// `avx2`: the processor has AVX2 (whole sub-blocks go through [`avx::sub_blocks`]).
    #[inline(always)]
    fn run<const N: usize>(&mut self, sub: &mut [f64], avx2: bool) {
        // Locals for the block, so that the oscillators stay in registers. Lanes past `N`
        // are not touched (those between `n_lanes` and `N` run with zero gain).
        let mut l = self.lanes;
        let mut lms = Lms {
            step: self.step,
            clip: self.clip,
            da: self.da,
            db: self.db,
            // Sums and counts carried on from the struct, in sample order, so that how the
            // stream is cut into blocks does not change a bit.
            power: self.block_power,
            clipped_power: self.block_clipped_power,
            learnt: self.block_samples,
        };
        let before = lms.learnt;
        let mut sub_left = self.sub_left as usize;
        // Sample by sample up to the next sub-block's start, whole sub-blocks, then sample by
        // sample again: the same operations on every accumulator in the same order either way.
        let head = if sub_left == SUB_BLOCK {
            0
        } else {
            sub_left.min(sub.len())
        };
        let (head, rest) = sub.split_at_mut(head);
        let (whole, tail) = rest.split_at_mut(rest.len() / SUB_BLOCK * SUB_BLOCK);
        for x in head.iter_mut() {
            lms.sample::<N>(&mut l, x);
            sub_left -= 1;
        }
        if sub_left == 0 {
            lms.end_sub_block::<N>(&mut l);
            sub_left = SUB_BLOCK;
        }
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            // SAFETY: `avx2` is true only where the processor has AVX2.
            unsafe {
                match N {
                    0..=2 => avx::sub_blocks::<2, 1>(&mut lms, &mut l, whole),
                    3..=4 => avx::sub_blocks::<4, 1>(&mut lms, &mut l, whole),
                    _ => avx::sub_blocks::<LANES, 2>(&mut lms, &mut l, whole),
                }
            }
        }
        if !avx2 {
            for xs in whole.chunks_exact_mut(SUB_BLOCK) {
                for x in xs {
                    lms.sample::<N>(&mut l, x);
                }
                lms.end_sub_block::<N>(&mut l);
            }
        }
        for x in tail {
            lms.sample::<N>(&mut l, x);
            sub_left -= 1;
        }
        (self.da, self.db, self.sub_left) = (lms.da, lms.db, sub_left as u32);
        self.lanes = l;
        self.n += u64::from(lms.learnt - before);
        (self.block_power, self.block_samples) = (lms.power, lms.learnt);
        self.block_clipped_power = lms.clipped_power;
    }

    /// The start: recursive least squares over every sample so far, each line with a phase
    /// that may drift linearly (its cosine and sine weights, and their rates of change). It is
    /// exact within a few cycles, so the mains is gone from the first tens of milliseconds
    /// rather than ringing out over the LMS's time constant (a start-up "burst" the detector
    /// would see); the drift is the mains frequency as this recording sees it, which the LMS
    /// then starts from. The output is the a-posteriori residual.
    fn run_start(&mut self, x: f64) -> f64 {
        let t = self.start_k as f64 / self.rate_hz;
        self.start_k += 1;
        let l = &self.lanes;
        let phi: Vec<f64> = (0..self.lines.len())
            .flat_map(|j| [l.c[j], l.s[j], t * l.c[j], t * l.s[j]])
            .collect();
        let w = &mut self.start_w;
        let e = x - w.iter().zip(&phi).map(|(a, b)| a * b).sum::<f64>();
        let mut out = x;
        if e.is_finite() {
            self.n += 1;
            let m = phi.len();
            let p = &mut self.start_p;
            let p_phi: Vec<f64> = (0..m)
                .map(|i| (0..m).map(|j| p[i * m + j] * phi[j]).sum())
                .collect();
            let denom = 1.0 + phi.iter().zip(&p_phi).map(|(a, b)| a * b).sum::<f64>();
            for (wi, pi) in w.iter_mut().zip(&p_phi) {
                *wi += pi / denom * e;
            }
            for i in 0..m {
                for j in 0..m {
                    p[i * m + j] -= p_phi[i] * p_phi[j] / denom;
                }
            }
            out = e / denom;
            if 2 * self.n > self.start_n {
                let k = (self.n - self.start_n / 2) as f64;
                self.local_power += (out * out - self.local_power) / k;
                self.floor_power = self.local_power;
            }
        }
        self.lanes.rotate(self.lines.len());
        if self.n == self.start_n {
            self.end_start(self.start_k as f64 / self.rate_hz);
        }
        out
    }

    /// The start is over at time `t`: the lines as they are at `t`, and each mains frequency
    /// from its fundamental's drift where the fundamental stands out.
    fn end_start(&mut self, t: f64) {
        let w = std::mem::take(&mut self.start_w);
        self.start_p = Vec::new();
        // Each line at the end of the fit where it stands out clearly (its drift is then the
        // mains frequency's); otherwise at the middle of the fit, where the fit is surest (a
        // straight line's end is four times as uncertain as its middle).
        let floor = self.floor_power.max(f64::MIN_POSITIVE);
        for (j, c) in w.chunks_exact(4).enumerate() {
            let (a, b) = (c[0] + c[2] * t / 2.0, c[1] + c[3] * t / 2.0);
            let trust = smooth_step((a * a + b * b) / 2.0 / floor, START_TRACK_MIN_SHARE);
            let at = t / 2.0 + trust * t / 2.0;
            self.lanes.a[j] = c[0] + c[2] * at;
            self.lanes.b[j] = c[1] + c[3] * at;
        }
        let max_off = 2.0 * PI * TRACK_MAX_OFF_HZ / self.rate_hz;
        for fam in &mut self.families {
            let Some(j) = fam.fundamental else {
                continue;
            };
            let (zr, zi) = self.lanes.phasor(j);
            let (dr, di) = (w[4 * j + 2], -w[4 * j + 3]);
            let power = zr * zr + zi * zi;
            let trust = smooth_step(power / 2.0 / floor, START_TRACK_MIN_SHARE);
            // z' = iΔω·z: Δω = Im(z' · conj z) / |z|², radians per second.
            let dw = trust * (di * zr - dr * zi) / power.max(f64::MIN_POSITIVE) / self.rate_hz;
            if dw.is_finite() {
                fam.w = fam.nominal_w + dw.clamp(-max_off, max_off);
            }
        }
        self.set_steps();
        for fam in &mut self.families {
            (fam.active, fam.standing_out) = (false, 0);
        }
        self.every_block();
        self.update_activity(FAMILY_ON_SHARE, true);
    }

    /// Every [`BLOCK_S`]: oscillators back to unit amplitude, the share of each line that is
    /// subtracted, the clip level, and the mains frequency followed.
    fn every_block(&mut self) {
        if let Some(residual_power) = self.refit_wrong_lines() {
            self.block_power = residual_power * self.block_samples as f64;
        }
        if self.block_samples > 0 {
            // The rest floor follows the block's power down quickly and up slowly.
            self.local_power = self.block_power / self.block_samples as f64;
            let to = self.local_power - self.floor_power;
            self.floor_power += to
                * if to < 0.0 {
                    self.floor_fall
                } else {
                    self.floor_rise
                };
        }
        (self.block_power, self.block_samples) = (0.0, 0);
        let quiet = (self.floor_power / self.local_power.max(f64::MIN_POSITIVE)).min(1.0);
        let mu = if self.n < self.acquire_n {
            self.mu_acquire
        } else {
            self.mu
        };
        self.step = mu * quiet * quiet;
        let floor = self.floor_power.max(f64::MIN_POSITIVE);
        let l = &mut self.lanes;
        for j in 0..self.n_lanes {
            // An oscillator's radius is 1 within rounding: no overflow for `hypot` to avoid
            // (a library call, a tenth of the canceller's time spent between samples).
            let r = (l.c[j] * l.c[j] + l.s[j] * l.s[j]).sqrt();
            l.c[j] /= r;
            l.s[j] /= r;
            let share = (l.a[j] * l.a[j] + l.b[j] * l.b[j]) / 2.0 / floor;
            l.gain[j] = if share.is_finite() {
                share / (share + LINE_SHRINK_RATIO)
            } else {
                0.0
            };
        }
        self.clip = CLIP_K * self.floor_power.sqrt();
        self.track_frequency();
        self.update_activity(FAMILY_OFF_SHARE, false);
        self.mark_block_start();
    }

    /// A block whose residual is mostly the lines themselves: the lines are not where the
    /// canceller has them any more. The mains' phase jumped (samples lost without a gap in the
    /// numbering: a text device without a counter, a dropped packet, a counter that wrapped
    /// unseen) or a strong hum came on at once. The learning cannot follow: the residual is
    /// loud, so it is slowed as in a burst, and a line left behind stood in the envelope for
    /// seconds as a "contraction". Here the lines are fitted again, by least squares, to the
    /// block's input, and learning goes on from there. Returns the block's residual power after
    /// the fit, or `None` when the block is not such a block (or the fit fails).
    ///
    /// The test costs nothing per sample beyond the clipped power: the block's learning (the
    /// weights' change over it, over the step) is each line's projection of the clipped
    /// residual, so the share of that residual on the lines is at hand.
    fn refit_wrong_lines(&mut self) -> Option<f64> {
        let n = self.n_lanes;
        let samples = self.block_samples as usize;
        let follow_up = self
            .last_fit_n
            .is_some_and(|at| (self.n.saturating_sub(at)) as f64 <= FIT_FOLLOW_UP_S * self.rate_hz);
        // (Each test is false for NaN: such a block is left alone.)
        let learning = self.step > 0.0 && self.block_clipped_power > 0.0;
        if n == 0 || samples != self.block as usize || !learning {
            return None;
        }
        let block_power = self.block_power / samples as f64;
        // Right after a fit the next blocks are looked at closely: a jump inside the block
        // fitted left part of the line behind, too quiet for a fresh look.
        let loud = if follow_up {
            LINE_ERROR_LOUD_AFTER_FIT
        } else {
            LINE_ERROR_LOUD
        };
        let is_loud = block_power > loud * self.floor_power;
        if !is_loud {
            return None;
        }
        // The strongest line learnt, as the block started: the one a jump shows most in.
        let l = &self.lanes;
        let power = |j: usize| {
            let (a, b) = (self.block_start_a[j], self.block_start_b[j]);
            a * a + b * b
        };
        let strongest = (0..n).max_by(|&i, &k| power(i).total_cmp(&power(k)))?;
        let learnt = self.block_start_a[strongest].hypot(self.block_start_b[strongest]);
        // A jump leaves at most twice the line (half a turn), and matters only for a line
        // that is loud against the rest.
        let line_matters = learnt * learnt > self.floor_power;
        if !line_matters {
            return None;
        }
        let projection = |j: usize| {
            let pc = (l.a[j] + self.da[j] - self.block_start_a[j]) / self.step;
            let ps = (l.b[j] + self.db[j] - self.block_start_b[j]) / self.step;
            (pc, ps)
        };
        let on_lines: f64 = (0..n)
            .map(|j| {
                let (pc, ps) = projection(j);
                pc * pc + ps * ps
            })
            .sum();
        let share = 2.0 * on_lines / (samples as f64 * self.block_clipped_power);
        let chance = 2.0 * n as f64 / samples as f64;
        let (pc, ps) = projection(strongest);
        let left_behind = 2.0 * pc.hypot(ps) / samples as f64;
        let looks_like_a_line = share >= LINE_ERROR_SHARE.max(LINE_ERROR_OVER_CHANCE * chance)
            && left_behind <= LINE_ERROR_MAX_JUMP * learnt;
        if !looks_like_a_line {
            return None;
        }
        // Only now the fit (most blocks never get here): a jump moves the lines' phase, not
        // their size, and leaves a block the lines explain. A burst near the mains frequency
        // can look like a line for 50 ms, but not like the same line at another phase.
        // The strongest line's mains frequency alone: its lines (odd harmonics) are told apart
        // over a block, 50 Hz from 60 Hz is not (half a cycle apart in 50 ms).
        let family = self.lines[strongest].family;
        let fit: Vec<bool> = (0..n).map(|j| self.lines[j].family == family).collect();
        let (a, b, residual_power) = fit_lines(&self.block_input, l, n, &fit)?;
        let fitted = a[strongest].hypot(b[strongest]);
        let same_line_moved = (fitted - learnt).abs() <= LINE_ERROR_SAME_SIZE * learnt
            && residual_power
                <= (LINE_ERROR_LEFT * block_power).max(LINE_ERROR_LEFT_FLOOR * self.floor_power);
        if !same_line_moved {
            return None;
        }
        let l = &mut self.lanes;
        l.a[..n].copy_from_slice(&a[..n]);
        l.b[..n].copy_from_slice(&b[..n]);
        (self.da, self.db) = ([0.0; LANES], [0.0; LANES]);
        // The phasors moved at once: not a frequency to follow.
        self.families.iter_mut().for_each(|f| f.last = None);
        self.refits += 1;
        self.last_fit_n = Some(self.n);
        if !follow_up && self.n as f64 > JUMPS_COUNTED_AFTER_S * self.rate_hz {
            self.phase_jumps += 1;
        }
        Some(residual_power)
    }

    /// Times the lines were fitted again to a block whose residual was mostly the lines.
    pub fn refits(&self) -> u64 {
        self.refits
    }

    /// Jumps of the mains' phase fitted once the lines had settled: samples lost without a
    /// gap in the numbering, as far as the signal can tell (for the report and a warning).
    pub fn phase_jumps(&self) -> u64 {
        self.phase_jumps
    }

    /// A mains frequency whose fundamental stands out ([`FAMILY_ON_SHARE`]) has its harmonics
    /// learnt and cancelled too; one whose fundamental fell under `off` has only its
    /// fundamental watched (harmonics of mains come with their fundamental). This keeps the
    /// per-sample work to the lines that can be there: two to four of six in most recordings.
    /// `at_once`: at the end of the start, a fundamental that stands out switches its
    /// harmonics on without waiting for [`FAMILY_ON_BLOCKS`] (the fit is exact there).
    fn update_activity(&mut self, off: f64, at_once: bool) {
        let floor = self.floor_power.max(f64::MIN_POSITIVE);
        let mut changed = false;
        for fam in &mut self.families {
            let Some(j) = fam.fundamental else {
                continue;
            };
            let (a, b) = (self.lanes.a[j], self.lanes.b[j]);
            let share = (a * a + b * b) / 2.0 / floor;
            let active = if fam.active {
                share >= off
            } else if share >= FAMILY_ON_SHARE {
                fam.standing_out += 1;
                at_once || fam.standing_out >= FAMILY_ON_BLOCKS
            } else {
                fam.standing_out = 0;
                false
            };
            if active {
                fam.standing_out = 0;
            }
            changed |= active != fam.active;
            fam.active = active;
        }
        if changed {
            self.arrange();
        }
    }

    /// Lanes in order: every fundamental, then the harmonics of the active mains frequencies
    /// (processed: the first `n_lanes`), then the others (weights cleared). A harmonic that
    /// comes back takes its phase from its fundamental's.
    fn arrange(&mut self) {
        let old_lines = self.lines.clone();
        let old = self.lanes;
        let families = &self.families;
        let rank = |l: &Line| {
            if l.harmonic == 1.0 {
                0
            } else if families[l.family].active {
                1
            } else {
                2
            }
        };
        let mut order: Vec<usize> = (0..old_lines.len()).collect();
        order.sort_by_key(|&i| (rank(&old_lines[i]), old_lines[i].family, i));
        let was_processed = |i: usize| i < self.n_lanes;
        let mut lanes = Lanes::default();
        for (j, &i) in order.iter().enumerate() {
            let line = old_lines[i];
            lanes.c[j] = old.c[i];
            lanes.s[j] = old.s[i];
            lanes.cos_step[j] = old.cos_step[i];
            lanes.sin_step[j] = old.sin_step[i];
            if rank(&line) < 2 && !was_processed(i) {
                // Its rotation was not kept up to date while it was not processed.
                if let Some(w) = families[line.family].w_set {
                    (lanes.cos_step[j], lanes.sin_step[j]) = steps(w, &line);
                }
            }
            if rank(&line) == 2 || !was_processed(i) {
                // Not learnt now, or not learnt until now: no weights; the phase again from
                // the fundamental's (z^h).
                (lanes.a[j], lanes.b[j], lanes.gain[j]) = (0.0, 0.0, 0.0);
                if let Some(f) = old_lines
                    .iter()
                    .position(|o| o.family == line.family && o.harmonic == 1.0)
                {
                    let theta = old.s[f].atan2(old.c[f]) * line.harmonic;
                    (lanes.s[j], lanes.c[j]) = theta.sin_cos();
                }
            } else {
                (lanes.a[j], lanes.b[j], lanes.gain[j]) = (old.a[i], old.b[i], old.gain[i]);
            }
        }
        self.lines = order.iter().map(|&i| old_lines[i]).collect();
        self.lanes = lanes;
        self.n_lanes = self.lines.iter().filter(|l| rank(l) < 2).count();
        for (k, fam) in self.families.iter_mut().enumerate() {
            fam.fundamental = self
                .lines
                .iter()
                .position(|l| l.family == k && l.harmonic == 1.0);
        }
    }

    /// Follow each mains frequency from how fast its fundamental's learnt phasor turns: a
    /// reference 0.08 Hz off (a 250-Hz amplifier whose clock runs 0.13 % fast) leaves a
    /// residual as large as the mains itself within 3 s wherever learning pauses for a burst.
    /// The turn is trusted as far as the fundamental stands out ([`TRACK_MIN_SHARE`]); the
    /// frequency moves to it with time constant [`TRACK_TAU_S`] (and back towards nominal as
    /// far as it is not trusted), within [`TRACK_MAX_OFF_HZ`].
    fn track_frequency(&mut self) {
        let floor = self.floor_power.max(f64::MIN_POSITIVE);
        let max_off = 2.0 * PI * TRACK_MAX_OFF_HZ / self.rate_hz;
        let block = self.block as f64;
        let tau = if self.n < self.acquire_n {
            TRACK_TAU_S / ACQUIRE_SPEEDUP
        } else {
            TRACK_TAU_S
        };
        let gain = (block / self.rate_hz / tau).min(1.0);
        for fam in &mut self.families {
            let Some(j) = fam.fundamental else {
                continue;
            };
            let now = self.lanes.phasor(j);
            let share = (now.0 * now.0 + now.1 * now.1) / 2.0 / floor;
            // A smooth weight, so that a recording and its copy at another precision are
            // followed alike.
            let trust = smooth_step(share, TRACK_MIN_SHARE);
            let turn = fam.last.map_or(0.0, |last| {
                // Phase turned since the last block: arg(now · conj(last)).
                (now.1 * last.0 - now.0 * last.1).atan2(now.0 * last.0 + now.1 * last.1)
            });
            let off = fam.w - fam.nominal_w;
            let off = off + gain * (trust * turn / block - (1.0 - trust) * off);
            if off.is_finite() {
                fam.w = fam.nominal_w + off.clamp(-max_off, max_off);
            }
            fam.last = Some(now);
        }
        self.set_steps();
    }

    /// The oscillators' rotation per sample from the frequencies followed, where a frequency
    /// moved by [`STEP_RESOLUTION_HZ`] or more since the rotation was last set.
    fn set_steps(&mut self) {
        let resolution = 2.0 * PI * STEP_RESOLUTION_HZ / self.rate_hz;
        for k in 0..self.families.len() {
            let fam = self.families[k];
            if fam.w_set.is_some_and(|w| (w - fam.w).abs() < resolution) {
                continue;
            }
            self.families[k].w_set = Some(fam.w);
            // The lanes processed now; the others get theirs when they are (`arrange`).
            for (j, line) in self.lines.iter().enumerate().take(self.n_lanes) {
                if line.family == k {
                    (self.lanes.cos_step[j], self.lanes.sin_step[j]) = steps(fam.w, line);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tau() -> f64 {
        crate::config::ConditioningConfig::default()
            .mains_cancel_tau_s
            .unwrap()
    }

    /// White noise from an LCG: sum of 12 uniforms, unit variance.
    fn noise(n: usize, seed: u64) -> Vec<f64> {
        let mut state = seed;
        let mut uniform = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        (0..n)
            .map(|_| (0..12).map(|_| uniform()).sum::<f64>())
            .collect()
    }

    fn rms(x: &[f64]) -> f64 {
        (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64).sqrt()
    }

    /// Mains of `hz` (peak `amp`, 3rd harmonic 0.45, 5th 0.1 of it) on noise of RMS `sd`.
    fn mains_on_noise(rate: f64, secs: f64, hz: f64, amp: f64, sd: f64) -> (Vec<f64>, Vec<f64>) {
        let n = (rate * secs) as usize;
        let emg: Vec<f64> = noise(n, 7).iter().map(|v| v * sd).collect();
        let x = emg
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let t = i as f64 / rate;
                let w = 2.0 * PI * hz * t;
                v + amp * ((w + 0.3).sin() + 0.45 * (3.0 * w + 1.1).sin() + 0.1 * (5.0 * w).sin())
            })
            .collect();
        (x, emg)
    }

    #[test]
    fn mains_is_removed_at_either_frequency_even_off_its_nominal_value() {
        for (rate, hz) in [
            (2000.0, 60.0),
            (2000.0, 50.03),
            (2000.0, 59.95),
            (512.0, 50.0),
        ] {
            let (mut x, emg) = mains_on_noise(rate, 10.0, hz, 3.6, 2.7);
            let mut m = MainsCanceller::new(rate, 0.45 * rate, tau()).unwrap();
            let before: Vec<f64> = x.iter().zip(&emg).map(|(a, b)| a - b).collect();
            m.process(&mut x);
            let tail = rate as usize * 2..x.len();
            let left: Vec<f64> = x[tail.clone()]
                .iter()
                .zip(&emg[tail.clone()])
                .map(|(a, b)| a - b)
                .collect();
            let (r_before, r_left) = (rms(&before[tail.clone()]), rms(&left));
            // Left: what the canceller did not remove plus the EMG it took away (each line's
            // 1-Hz band is a larger share of the EMG's band at 512 Hz).
            assert!(
                r_left < 0.25 * r_before,
                "{hz} Hz at {rate} Hz: mains RMS {r_before:.2} → {r_left:.2}"
            );
            // The frequency followed is the one put in.
            let (_, followed) = m.tracked_hz()[usize::from(hz.round() == 60.0)];
            assert!(
                (followed - hz).abs() < 0.02,
                "{hz} Hz followed at {followed:.3}"
            );
            let a = m.amplitudes();
            let fund = a
                .iter()
                .filter(|l| (l.hz - hz.round()).abs() < 1.0)
                .map(|l| l.peak)
                .next()
                .unwrap();
            assert!(
                (fund - 3.6).abs() < 0.6,
                "{hz} Hz: learnt {fund:.2} µV, put in 3.6"
            );
        }
    }

    #[test]
    fn emg_without_mains_passes_almost_untouched() {
        let rate = 2000.0;
        let emg: Vec<f64> = noise(rate as usize * 20, 11)
            .iter()
            .map(|v| v * 5.0)
            .collect();
        let mut x = emg.clone();
        MainsCanceller::new(rate, 450.0, tau())
            .unwrap()
            .process(&mut x);
        let tail = rate as usize..x.len();
        let removed: Vec<f64> = x[tail.clone()]
            .iter()
            .zip(&emg[tail.clone()])
            .map(|(a, b)| a - b)
            .collect();
        let share = rms(&removed) / rms(&emg[tail]);
        // Six lines of ~1.3 Hz out of 1000 Hz of white noise: about 10 % of the amplitude at
        // most, and no more than the lines' bandwidth accounts for.
        assert!(share < 0.12, "removed {share:.3} of the EMG");
    }

    /// Squeezes on a channel with 50-Hz mains and no 60-Hz mains: a burst's own content near
    /// 60 Hz lifts the learnt 60-Hz line over the switch-on share for a block or two. Its
    /// harmonics must not be switched on for that (on the 60-minute simulated recording they
    /// were, about 3 200 times in the hour on its two EMG channels), while the 50-Hz family stays on.
    #[test]
    fn bursts_do_not_switch_on_the_harmonics_of_a_mains_frequency_that_is_not_there() {
        let rate = 2000.0;
        let (mut x, _) = mains_on_noise(rate, 120.0, 50.0, 3.0, 2.5);
        let burst = noise(x.len(), 5);
        for (i, v) in x.iter_mut().enumerate() {
            let t = i as f64 / rate;
            if t > 2.0 && t % 8.0 < 3.0 {
                *v += 15.0 * burst[i];
            }
        }
        let mut m = MainsCanceller::new(rate, 450.0, tau()).unwrap();
        let (mut switched_on, mut was_on) = (0, false);
        for chunk in x.chunks_mut(100) {
            m.process(chunk);
            let on = m.families[1].active;
            switched_on += usize::from(on && !was_on);
            was_on = on;
        }
        assert!(
            m.families[0].active,
            "50 Hz and its harmonics are cancelled"
        );
        assert!(
            switched_on <= 2,
            "60-Hz harmonics switched on {switched_on} times in 2 minutes without 60-Hz mains"
        );
    }

    #[test]
    fn a_burst_leaves_no_ringing_behind() {
        // Rest with mains, then a 0.3-s burst 25 times the rest, then rest again. After the
        // burst the output must be back at rest level within 20 ms: a notch rings on.
        let rate = 2000.0;
        let (mut x, emg) = mains_on_noise(rate, 8.0, 60.0, 3.6, 2.7);
        let burst = noise(x.len(), 99);
        let (b0, b1) = (4 * rate as usize, (4.3 * rate) as usize);
        let mut truth = emg.clone();
        for i in b0..b1 {
            x[i] += 70.0 * burst[i];
            truth[i] += 70.0 * burst[i];
        }
        let mut m = MainsCanceller::new(rate, 450.0, tau()).unwrap();
        m.process(&mut x);
        let after = b1 + (0.02 * rate) as usize..b1 + (0.5 * rate) as usize;
        let before = (3.5 * rate) as usize..b0;
        let err_after = rms(&x[after.clone()]
            .iter()
            .zip(&truth[after.clone()])
            .map(|(a, b)| a - b)
            .collect::<Vec<_>>());
        let err_before = rms(&x[before.clone()]
            .iter()
            .zip(&truth[before])
            .map(|(a, b)| a - b)
            .collect::<Vec<_>>());
        // The output's level after the burst is the EMG's: what is left of the burst in the
        // learnt lines adds a few percent of the rest's power, under the envelope's own noise.
        let after_rms = rms(&x[after.clone()]);
        let emg_rms = rms(&truth[after.clone()]);
        assert!(
            (after_rms / emg_rms - 1.0).abs() < 0.05,
            "after the burst the output is at {after_rms:.2} µV, the EMG at {emg_rms:.2} µV \
             ({err_after:.2} µV off it; before the burst {err_before:.2})"
        );
        // The same burst through a Q-30 notch at 60 Hz and its odd harmonics rings on.
        let mut y: Vec<f64> = emg.clone();
        for i in b0..b1 {
            y[i] += 70.0 * burst[i];
        }
        let mut notch = crate::dsp::filter::Cascade::notch(rate, 60.0, 30.0).unwrap();
        for h in [180.0, 300.0] {
            notch = notch.then(crate::dsp::filter::Cascade::notch(rate, h, 30.0).unwrap());
        }
        notch.process(&mut y);
        let ring = b1 + (0.02 * rate) as usize..b1 + (0.1 * rate) as usize;
        let ring_err = rms(&y[ring.clone()]
            .iter()
            .zip(&truth[ring])
            .map(|(a, b)| a - b)
            .collect::<Vec<_>>());
        assert!(
            ring_err > 2.0 * err_after,
            "the notch rang {ring_err:.2} µV, the canceller {err_after:.2} µV"
        );
    }

    #[test]
    fn non_finite_samples_pass_and_teach_nothing() {
        let rate = 2000.0;
        let (mut x, _) = mains_on_noise(rate, 2.0, 50.0, 3.0, 2.0);
        x[100] = f64::NAN;
        let mut m = MainsCanceller::new(rate, 450.0, tau()).unwrap();
        m.process(&mut x);
        assert!(x[100].is_nan());
        assert!(x.iter().enumerate().all(|(i, v)| i == 100 || v.is_finite()));
        assert!(m.amplitudes().iter().any(|l| l.hz == 50.0 && l.peak > 2.5));
    }

    /// Lost samples: the mains went on through the gap, so after a short one the lines are
    /// cancelled at once (told of the gap, the oscillators turned on by it); not told, the
    /// canceller subtracts the lines at the wrong phase. After a long gap it learns again.
    #[test]
    fn a_short_gap_keeps_the_lines_phase_and_a_long_one_restarts_the_learning() {
        let rate = 2000.0;
        let (x, emg) = mains_on_noise(rate, 6.0, 50.0, 6.0, 2.0);
        let (gap0, gap1) = ((4.0 * rate) as usize, (4.3075 * rate) as usize); // 15⅜ cycles
        let after = gap1..gap1 + (0.1 * rate) as usize;
        let residual = |told: bool| {
            let mut m = MainsCanceller::new(rate, 450.0, tau()).unwrap();
            let mut before = x[..gap0].to_vec();
            m.process(&mut before);
            if told {
                m.skip((gap1 - gap0) as u64);
            }
            let mut y = x[after.clone()].to_vec();
            m.process(&mut y);
            let err: Vec<f64> = y
                .iter()
                .zip(&emg[after.clone()])
                .map(|(a, b)| a - b)
                .collect();
            rms(&err)
        };
        let (told, not_told) = (residual(true), residual(false));
        assert!(told < 0.5, "residual after the gap {told:.2}");
        assert!(not_told > 4.0 * told, "{not_told:.2} against {told:.2}");
        let mut m = MainsCanceller::new(rate, 450.0, tau()).unwrap();
        m.process(&mut x[..gap0].to_vec());
        assert!(m.amplitudes().iter().any(|l| l.hz == 50.0 && l.peak > 5.0));
        m.skip((2.0 * BRIDGE_MAX_S * rate) as u64);
        assert!(m.amplitudes().iter().all(|l| l.peak == 0.0));
    }

    /// Samples lost without a gap in the numbering (a text device without a counter): the
    /// mains' phase jumps. The lines are fitted again to the first block that is mostly line:
    /// from 0.1 s after the jump the output is the EMG again (left to the learning, a jump
    /// stood in the output for seconds: its loudness slowed the learning as a burst does).
    /// A burst is never fitted as lines.
    #[test]
    fn a_jump_of_the_mains_phase_is_fitted_again_at_once_and_bursts_are_not_lines() {
        for (rate, lost) in [(2000.0, 11), (2000.0, 27), (1000.0, 7)] {
            let (mut x, mut emg) = mains_on_noise(rate, 8.0, 50.0, 20.0, 3.0);
            let at = |s: f64| (s * rate) as usize;
            // Bursts 25 times the rest before and after the jump.
            let burst = noise(x.len(), 99);
            let bursts = [at(2.0)..at(2.5), at(6.0) - lost..at(6.5) - lost];
            // `lost` samples gone at 4 s, from the input and the truth alike.
            x.drain(at(4.0)..at(4.0) + lost);
            emg.drain(at(4.0)..at(4.0) + lost);
            for range in bursts.clone() {
                for i in range {
                    x[i] += 75.0 * burst[i];
                    emg[i] += 75.0 * burst[i];
                }
            }
            let mut m = MainsCanceller::new(rate, 0.45 * rate, tau()).unwrap();
            let mut y = x.clone();
            let mut fitted_in_bursts = 0;
            let mut from = 0;
            for range in bursts {
                m.process(&mut y[from..range.start]);
                let before = m.refits();
                m.process(&mut y[range.clone()]);
                fitted_in_bursts += m.refits() - before;
                from = range.end;
            }
            m.process(&mut y[from..]);
            assert_eq!(fitted_in_bursts, 0, "{rate} Hz: a burst fitted as lines");
            let err = |r: std::ops::Range<usize>| {
                let d: Vec<f64> = y[r.clone()]
                    .iter()
                    .zip(&emg[r])
                    .map(|(a, b)| a - b)
                    .collect();
                rms(&d)
            };
            let (after, before) = (err(at(4.1)..at(5.5)), err(at(3.0)..at(4.0)));
            assert!(
                after < 2.0 * before.max(0.3),
                "{rate} Hz, {lost} lost: {after:.2} µV off the EMG after the jump, {before:.2} before"
            );
        }
    }

    #[test]
    fn only_lines_below_the_low_pass_and_nyquist_are_cancelled() {
        let m = MainsCanceller::new(512.0, 230.4, tau()).unwrap();
        assert_eq!(m.lines_hz(), vec![50.0, 60.0, 150.0, 180.0]);
        let m = MainsCanceller::new(2000.0, 450.0, tau()).unwrap();
        assert_eq!(m.lines_hz(), vec![50.0, 60.0, 150.0, 180.0, 250.0, 300.0]);
        assert!(MainsCanceller::new(80.0, 36.0, tau()).is_none());
        assert!(MainsCanceller::new(2000.0, 450.0, 0.0).is_none());
    }

    /// The first sample whose bits differ.
    fn first_difference(a: &[f64], b: &[f64]) -> Option<usize> {
        a.iter()
            .zip(b)
            .position(|(p, q)| p.to_bits() != q.to_bits())
    }

    #[test]
    fn the_output_does_not_depend_on_how_the_stream_is_cut() {
        let rate = 2000.0;
        let (x, _) = mains_on_noise(rate, 20.0, 50.02, 3.0, 5.0);
        let mut whole = x.clone();
        MainsCanceller::new(rate, 450.0, tau())
            .unwrap()
            .process(&mut whole);
        for block in [1usize, 7, 97, 4096] {
            let mut cut = x.clone();
            let mut m = MainsCanceller::new(rate, 450.0, tau()).unwrap();
            for c in cut.chunks_mut(block) {
                m.process(c);
            }
            let first = first_difference(&whole, &cut);
            assert_eq!(
                first, None,
                "blocks of {block} samples differ from sample {first:?}"
            );
        }
        // And the 256-bit path gives the same bits as the portable one.
        let mut portable = x.clone();
        let mut m = MainsCanceller::new(rate, 450.0, tau()).unwrap();
        m.avx2 = false;
        m.process(&mut portable);
        let first = first_difference(&whole, &portable);
        assert_eq!(
            first, None,
            "AVX2 and portable differ from sample {first:?}"
        );
    }

    #[test]
    fn whole_sub_blocks_in_vectors_give_the_bits_of_one_sample_at_a_time() {
        // Streams that run with two, four and six lanes, with what changes the path through
        // a sub-block: bursts (clipped learning, slowed steps), samples that are not
        // numbers, a jump of the mains' phase (lines fitted again), a gap bridged.
        let rate = 2000.0;
        let (n, mut seeds) = ((rate * 12.0) as usize, 11..);
        let mut streams: Vec<(&str, Vec<f64>)> = Vec::new();
        streams.push(("no mains", noise(n, seeds.next().unwrap())));
        let (fifty, _) = mains_on_noise(rate, 12.0, 50.02, 20.0, 3.0);
        streams.push(("50 Hz", fifty.clone()));
        let (sixty, _) = mains_on_noise(rate, 12.0, 59.97, 4.0, 0.0);
        let both: Vec<f64> = fifty.iter().zip(&sixty).map(|(a, b)| a + b).collect();
        streams.push(("50 and 60 Hz", both));
        for (_, x) in &mut streams {
            for (i, v) in x.iter_mut().enumerate() {
                let t = i as f64 / rate;
                if (3.0..3.4).contains(&t) || (7.0..8.5).contains(&t) {
                    *v *= 25.0;
                }
                if i % 997 == 0 || (9.0..9.003).contains(&t) {
                    *v = f64::NAN;
                }
            }
            // Samples lost unseen: the mains' phase jumps.
            x.drain(20_000..20_011);
        }
        let mut lanes_seen = Vec::new();
        for (name, x) in &streams {
            let mut one = MainsCanceller::new(rate, 450.0, tau()).unwrap();
            one.avx2 = false;
            let mut by_one = x.clone();
            for (i, v) in by_one.chunks_mut(1).enumerate() {
                if i == 11_000 {
                    one.skip(37);
                }
                one.process(v);
            }
            for block in [8usize, 100, 203, 4096] {
                let mut m = MainsCanceller::new(rate, 450.0, tau()).unwrap();
                #[cfg(target_arch = "x86_64")]
                assert!(m.avx2, "the vector path needs a processor with AVX2");
                let mut cut = x.clone();
                let mut at = 0;
                for c in cut.chunks_mut(block) {
                    if (at..at + c.len()).contains(&11_000) {
                        let (before, after) = c.split_at_mut(11_000 - at);
                        m.process(before);
                        m.skip(37);
                        m.process(after);
                    } else {
                        m.process(c);
                    }
                    at += c.len();
                }
                let first = first_difference(&by_one, &cut);
                assert_eq!(
                    first, None,
                    "{name}, blocks of {block}: output differs at {first:?}"
                );
                let mut state = one.clone();
                state.avx2 = m.avx2;
                assert_eq!(
                    format!("{m:?}"),
                    format!("{state:?}"),
                    "{name}, blocks of {block}: state"
                );
                lanes_seen.push(m.n_lanes);
            }
            let refits = one.refits();
            assert!(
                refits > 0 || *name == "no mains",
                "{name}: the jump was not fitted"
            );
        }
        lanes_seen.sort();
        lanes_seen.dedup();
        assert_eq!(
            lanes_seen,
            [2, 4, 6],
            "lanes in use at the end of the streams"
        );
    }

    #[test]
    fn absurd_values_neither_panic_nor_leave_the_canceller_broken() {
        // Squares that overflow make the rest floor infinite or NaN for a while (and so the
        // clip level): no panic, and a few seconds later the output is the input again.
        let rate = 2000.0;
        let tone = |i: usize| 3.0 * (i as f64 * 0.37).sin();
        let mut outputs = Vec::new();
        for (avx2, burst) in [(true, 100), (true, 1000), (false, 100), (false, 1000)] {
            let mut m = MainsCanceller::new(rate, 450.0, tau()).unwrap();
            m.avx2 &= avx2;
            let x: Vec<f64> = (0..60_000)
                .map(|i| {
                    if (10_000..10_000 + burst).contains(&i) {
                        1e300 * tone(i)
                    } else {
                        tone(i)
                    }
                })
                .collect();
            let mut y = x.clone();
            for c in y.chunks_mut(97) {
                m.process(c);
            }
            let late = 30_000..60_000;
            assert!(
                y[late.clone()].iter().all(|v| v.is_finite()),
                "burst of {burst}: not finite"
            );
            let d: Vec<f64> = y[late.clone()]
                .iter()
                .zip(&x[late.clone()])
                .map(|(a, b)| a - b)
                .collect();
            assert!(
                rms(&d) < 0.1 * rms(&x[late]),
                "burst of {burst}: output off the input by {:.3} RMS",
                rms(&d)
            );
            outputs.push(y.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        }
        // The vectors and one sample at a time agree while the clip level is not a number too.
        assert!(
            outputs[0] == outputs[2],
            "burst of 100: vectors and portable differ"
        );
        assert!(
            outputs[1] == outputs[3],
            "burst of 1000: vectors and portable differ"
        );
    }
}
