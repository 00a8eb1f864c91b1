//! Whole sub-blocks of the canceller's learning ([`super::Lms`]) in 256-bit vectors (AVX2).
//!
//! Sample by sample, each sample's subtraction waits for the sums of its lines, its learning
//! for its residual, and the next sub-block for the learning: a chain that the processor could
//! overlap only across a few samples, since a sample is some fifty instructions. Within a
//! sub-block the weights are fixed, so here the work goes stage by stage:
//! - the oscillators turn for the eight samples (the one chain from sample to sample);
//! - each sample's lines, `a·c + b·s` per lane, and their sums, for four samples at a time
//!   (the lanes turned into samples by a 4 × 4 transpose, then summed lane after lane, as
//!   sample by sample);
//! - the residuals, clipped, and the block's sums of their squares, in sample order;
//! - the learning, added up sample after sample.
//!
//! Every value goes through the same multiplications and additions, in the same order, as in
//! [`super::Lms::sample`] (no fused multiply-add), so the output and the state are the same
//! bits. Lanes past the canceller's `n` are zero here; they are never summed into a sample and
//! never written back. A sample whose residual is not finite adds a zero step to the learning,
//! which leaves its bits as they were (a sum that starts at +0 is never −0, and x + ±0 = x
//! for any other x).

use super::{Lanes, Lms, LANES, SUB_BLOCK};
use std::arch::x86_64::*;

/// Lanes to a vector.
const W: usize = 4;
/// Lanes in `K` vectors, at most.
const MAX_PADDED: usize = 8;

/// The first `N` of `v` in `K` vectors, the rest zero (read value by value, so that a load
/// never spans several recent stores).
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn load<const N: usize, const K: usize>(v: &[f64; LANES]) -> [__m256d; K] {
    let at = |j: usize| if j < N { v[j] } else { 0.0 };
    let mut out = [_mm256_setzero_pd(); K];
    for (k, o) in out.iter_mut().enumerate() {
        let j = k * W;
        *o = _mm256_set_pd(at(j + 3), at(j + 2), at(j + 1), at(j));
    }
    out
}

/// The first `N` lanes of `vectors` into `v`.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn store<const N: usize, const K: usize>(vectors: &[__m256d; K], v: &mut [f64; LANES]) {
    for (k, x) in vectors.iter().enumerate() {
        for (jj, x) in lanes(*x).into_iter().enumerate() {
            if let Some(v) = v.get_mut(k * W + jj).filter(|_| k * W + jj < N) {
                *v = x;
            }
        }
    }
}

#[inline(always)]
fn lanes(x: __m256d) -> [f64; W] {
    // SAFETY: a 256-bit vector is four f64, every bit pattern valid either way.
    unsafe { std::mem::transmute::<__m256d, [f64; W]>(x) }
}

/// Rows `r[m]` (sample `m`, one value per lane) into columns (lane `j`, one value per sample).
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn transpose(r: [__m256d; W]) -> [__m256d; W] {
    let t0 = _mm256_unpacklo_pd(r[0], r[1]);
    let t1 = _mm256_unpackhi_pd(r[0], r[1]);
    let t2 = _mm256_unpacklo_pd(r[2], r[3]);
    let t3 = _mm256_unpackhi_pd(r[2], r[3]);
    [
        _mm256_permute2f128_pd(t0, t2, 0x20),
        _mm256_permute2f128_pd(t1, t3, 0x20),
        _mm256_permute2f128_pd(t0, t2, 0x31),
        _mm256_permute2f128_pd(t1, t3, 0x31),
    ]
}

/// The per-sample path's `x.max(min).min(max)` for four values: below `min` becomes `min`,
/// then above `max` becomes `max`; a bound that is not a number clips nothing, as there (where
/// `x` equals a bound, a zero's sign may differ: its step is then ±0, which leaves the
/// learning's sums as they were).
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn clamp(x: __m256d, min: __m256d, max: __m256d) -> __m256d {
    let x = _mm256_blendv_pd(x, min, _mm256_cmp_pd(x, min, _CMP_LT_OQ));
    _mm256_blendv_pd(x, max, _mm256_cmp_pd(x, max, _CMP_GT_OQ))
}

/// The oscillators, lane by lane, at each sample of a sub-block.
type Turns<const K: usize> = [[__m256d; K]; SUB_BLOCK];

/// The oscillators `c`, `s`: their values at each of a sub-block's samples into `cs`, `ss`,
/// and turned on by the sub-block ([`Lanes::rotate`] at each sample).
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn turn<const K: usize>(
    osc: &mut [[__m256d; K]; 2],
    steps: &[[__m256d; K]; 2],
    turns: &mut [Turns<K>; 2],
) {
    let [c, s] = osc;
    let [cos_step, sin_step] = steps;
    let [at_c, at_s] = turns;
    for (at_c, at_s) in at_c.iter_mut().zip(at_s) {
        *at_c = *c;
        *at_s = *s;
        for k in 0..K {
            let turned_c = _mm256_sub_pd(
                _mm256_mul_pd(c[k], cos_step[k]),
                _mm256_mul_pd(s[k], sin_step[k]),
            );
            s[k] = _mm256_add_pd(
                _mm256_mul_pd(s[k], cos_step[k]),
                _mm256_mul_pd(c[k], sin_step[k]),
            );
            c[k] = turned_c;
        }
    }
}

/// What stays the same through a call: the lines' gains, the clip level and the step.
struct Fixed {
    gain: [__m256d; MAX_PADDED],
    clip: __m256d,
    min_clip: __m256d,
    step: __m256d,
}

/// One sub-block's lines subtracted from `xs` and learnt from, at the oscillators' values
/// `turns`: the weights `w` (`a`, `b`) move by the sub-block's learning, which starts from
/// `dw` (zero but at a call's first sub-block).
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn learn<const N: usize, const K: usize>(
    lms: &mut Lms,
    fixed: &Fixed,
    w: &mut [[__m256d; K]; 2],
    dw: [[__m256d; K]; 2],
    turns: &[Turns<K>; 2],
    xs: &mut [f64],
) {
    let zero = _mm256_setzero_pd();
    let abs_mask = _mm256_castsi256_pd(_mm256_set1_epi64x(i64::MAX));
    let infinity = _mm256_set1_pd(f64::INFINITY);
    let [cs, ss] = turns;
    let mut g = [zero; SUB_BLOCK / W];
    for (q, group) in xs.chunks_exact_mut(W).enumerate() {
        // Four samples' lines, then lane by lane into each sample's sums.
        let (mut est, mut removed) = (zero, zero);
        for k in 0..K {
            let mut rows = [zero; W];
            for (m, row) in rows.iter_mut().enumerate() {
                let i = q * W + m;
                *row = _mm256_add_pd(
                    _mm256_mul_pd(w[0][k], cs[i][k]),
                    _mm256_mul_pd(w[1][k], ss[i][k]),
                );
            }
            for (jj, v) in transpose(rows).into_iter().enumerate() {
                let j = k * W + jj;
                if j < N {
                    est = _mm256_add_pd(est, v);
                    removed = _mm256_add_pd(removed, _mm256_mul_pd(fixed.gain[j], v));
                }
            }
        }
        let x = _mm256_set_pd(group[3], group[2], group[1], group[0]);
        let e = _mm256_sub_pd(x, est);
        let finite = _mm256_cmp_pd(_mm256_and_pd(e, abs_mask), infinity, _CMP_LT_OQ);
        let clipped = clamp(e, fixed.min_clip, fixed.clip);
        g[q] = _mm256_and_pd(_mm256_mul_pd(fixed.step, clipped), finite);
        let power = lanes(_mm256_and_pd(_mm256_mul_pd(e, e), finite));
        let clipped_power = lanes(_mm256_and_pd(_mm256_mul_pd(clipped, clipped), finite));
        for m in 0..W {
            lms.power += power[m];
            lms.clipped_power += clipped_power[m];
        }
        lms.learnt += (_mm256_movemask_pd(finite) as u32).count_ones();
        let out = lanes(_mm256_blendv_pd(x, _mm256_sub_pd(x, removed), finite));
        group.copy_from_slice(&out);
    }
    let [mut da, mut db] = dw;
    for (i, (cs, ss)) in cs.iter().zip(ss).enumerate() {
        let g = _mm256_set1_pd(lanes(g[i / W])[i % W]);
        for k in 0..K {
            da[k] = _mm256_add_pd(da[k], _mm256_mul_pd(g, cs[k]));
            db[k] = _mm256_add_pd(db[k], _mm256_mul_pd(g, ss[k]));
        }
    }
    for k in 0..K {
        w[0][k] = _mm256_add_pd(w[0][k], da[k]);
        w[1][k] = _mm256_add_pd(w[1][k], db[k]);
    }
}

/// `samples` (whole sub-blocks, starting at a sub-block's start) through [`Lms::sample`] and
/// [`Lms::end_sub_block`] for the first `N` lanes of `l` (`N` at most `4 K`). The oscillators
/// of the next sub-block turn while this one learns: two chains, one from sample to sample and
/// one from sub-block to sub-block, side by side.
///
/// # Safety
/// The processor must have AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn sub_blocks<const N: usize, const K: usize>(
    lms: &mut Lms,
    l: &mut Lanes,
    samples: &mut [f64],
) {
    debug_assert!(N <= K * W && samples.len() % SUB_BLOCK == 0);
    let subs = samples.len() / SUB_BLOCK;
    if subs == 0 {
        return;
    }
    let mut osc = [load::<N, K>(&l.c), load::<N, K>(&l.s)];
    let steps = [load::<N, K>(&l.cos_step), load::<N, K>(&l.sin_step)];
    let mut w = [load::<N, K>(&l.a), load::<N, K>(&l.b)];
    let mut fixed = Fixed {
        gain: [_mm256_setzero_pd(); MAX_PADDED],
        clip: _mm256_set1_pd(lms.clip),
        min_clip: _mm256_set1_pd(-lms.clip),
        step: _mm256_set1_pd(lms.step),
    };
    for (j, g) in fixed.gain.iter_mut().enumerate().take(N) {
        *g = _mm256_set1_pd(l.gain[j]);
    }
    let zero = [[_mm256_setzero_pd(); K]; 2];
    let mut dw = [load::<N, K>(&lms.da), load::<N, K>(&lms.db)];
    let (mut even, mut odd) = ([[zero[0]; SUB_BLOCK]; 2], [[zero[0]; SUB_BLOCK]; 2]);
    turn(&mut osc, &steps, &mut even);
    for (k, xs) in samples.chunks_exact_mut(SUB_BLOCK).enumerate() {
        let (now, next) = if k % 2 == 0 {
            (&even, &mut odd)
        } else {
            (&odd, &mut even)
        };
        if k + 1 < subs {
            turn(&mut osc, &steps, next);
        }
        learn::<N, K>(lms, &fixed, &mut w, dw, now, xs);
        dw = zero;
    }
    store::<N, K>(&osc[0], &mut l.c);
    store::<N, K>(&osc[1], &mut l.s);
    store::<N, K>(&w[0], &mut l.a);
    store::<N, K>(&w[1], &mut l.b);
    (lms.da, lms.db) = ([0.0; LANES], [0.0; LANES]);
}
