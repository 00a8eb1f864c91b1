//! A cascade's sections two at a time, in the two lanes of one SSE2 register.
//!
//! One section's recursion (add, multiply, add per sample) leaves most of the CPU idle, and the
//! sections of a cascade depend on each other only forwards. So section `k` runs on sample
//! `n − k` while section 0 takes sample `n`: each step, every section's input is the output the
//! section before it gave one step earlier, and sections `2p` and `2p + 1` share a register.
//! Each lane does exactly the operations of [`Section::run`] (multiplies and adds, no fused
//! multiply-add), so the output is the same bit for bit as running each sample through every
//! section in turn.
//!
//! The first `k − 1` steps (the sections filling) and the last `k − 1` (draining) run one
//! section at a time in the same skewed order.

use super::Section;

/// Sections run in pairs, at most (more fall back to one sample at a time).
const MAX_PAIRS: usize = 8;

/// Runs `sections` over `samples` in place; `false` (nothing done) where this way does not
/// apply: fewer than two sections, more than `2 × MAX_PAIRS`, a block shorter than the
/// cascade, or a processor other than x86-64.
pub(super) fn process(sections: &mut [Section], samples: &mut [f64]) -> bool {
    let Some((pairs, single)) = split(sections, samples.len()) else {
        return false;
    };
    let mut last = fill(pairs, samples);
    #[cfg(target_arch = "x86_64")]
    match pairs.len() / 2 {
        1 => steady::<1>(pairs, &mut last, samples),
        2 => steady::<2>(pairs, &mut last, samples),
        3 => steady::<3>(pairs, &mut last, samples),
        4 => steady::<4>(pairs, &mut last, samples),
        5 => steady::<5>(pairs, &mut last, samples),
        6 => steady::<6>(pairs, &mut last, samples),
        7 => steady::<7>(pairs, &mut last, samples),
        _ => steady::<8>(pairs, &mut last, samples),
    }
    drain(pairs, &mut last, single, samples);
    true
}

/// Two cascades with as many sections each (two channels), over blocks of the same length: as
/// [`process`] on each, side by side in the two halves of 256-bit registers (AVX, checked at
/// run time), so that the two channels' chains overlap; the same bits as each alone. `false`
/// (nothing done) where this way does not apply: then each goes on its own.
pub(super) fn process_two(
    a: &mut [Section],
    a_samples: &mut [f64],
    b: &mut [Section],
    b_samples: &mut [f64],
) -> bool {
    let len = a_samples.len();
    if a.len() != b.len() || b_samples.len() != len || !avx_available() {
        return false;
    }
    let (Some((a_pairs, a_single)), Some((b_pairs, b_single))) = (split(a, len), split(b, len))
    else {
        return false;
    };
    let mut a_last = fill(a_pairs, a_samples);
    let mut b_last = fill(b_pairs, b_samples);
    #[cfg(target_arch = "x86_64")]
    {
        let (a, b) = (
            (&mut *a_pairs, &mut a_last[..], &mut a_samples[..]),
            (&mut *b_pairs, &mut b_last[..], &mut b_samples[..]),
        );
        // SAFETY: `avx_available` checked that the processor has AVX.
        unsafe {
            match a.0.len() / 2 {
                1 => steady_two::<1>(a, b),
                2 => steady_two::<2>(a, b),
                3 => steady_two::<3>(a, b),
                4 => steady_two::<4>(a, b),
                5 => steady_two::<5>(a, b),
                6 => steady_two::<6>(a, b),
                7 => steady_two::<7>(a, b),
                _ => steady_two::<8>(a, b),
            }
        }
    }
    drain(a_pairs, &mut a_last, a_single, a_samples);
    drain(b_pairs, &mut b_last, b_single, b_samples);
    true
}

fn avx_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The sections in pairs and the odd one out, where [`process`] applies to a block of `len`.
fn split(sections: &mut [Section], len: usize) -> Option<(&mut [Section], &mut [Section])> {
    let paired = sections.len() / 2 * 2;
    let applies =
        cfg!(target_arch = "x86_64") && paired > 0 && paired <= 2 * MAX_PAIRS && len >= paired;
    applies.then(|| sections.split_at_mut(paired))
}

/// The first `2P − 1` steps (the sections filling), one section at a time; `last[j]`: what
/// section `j` gave at the step before.
fn fill(pairs: &mut [Section], samples: &[f64]) -> [f64; 2 * MAX_PAIRS] {
    let mut last = [0.0; 2 * MAX_PAIRS];
    for (n, &x) in samples[..pairs.len() - 1].iter().enumerate() {
        skewed_step(pairs, &mut last, x, 0..n + 1);
    }
    last
}

/// The last `2P − 1` steps (the sections draining), then the odd section out over the whole
/// block.
fn drain(pairs: &mut [Section], last: &mut [f64], single: &mut [Section], samples: &mut [f64]) {
    let (paired, len) = (pairs.len(), samples.len());
    for n in len..len + paired - 1 {
        skewed_step(pairs, last, 0.0, n + 1 - len..paired);
        samples[n + 1 - paired] = last[paired - 1];
    }
    if let [s] = single {
        let mut ls = *s;
        samples.iter_mut().for_each(|x| *x = ls.run(*x));
        *s = ls;
    }
}

/// One step of the skewed order, for the sections in `active` only: section `j` takes what
/// section `j − 1` gave at the step before (section 0 takes `x`). Run from the last section
/// back, so that each reads `last` before it is overwritten.
fn skewed_step(sections: &mut [Section], last: &mut [f64], x: f64, active: std::ops::Range<usize>) {
    for j in active.rev() {
        let input = if j == 0 { x } else { last[j - 1] };
        last[j] = sections[j].run(input);
    }
}

/// The steps where every section has a sample: step `n` reads sample `n` and gives the
/// cascade's output for sample `n + 1 − 2P`.
#[cfg(target_arch = "x86_64")]
fn steady<const P: usize>(sections: &mut [Section], last: &mut [f64], samples: &mut [f64]) {
    use std::arch::x86_64::*;
    let k = 2 * P;
    // SAFETY: SSE2 is part of every x86-64 processor; the loads and stores below are of
    // registers and of values read through checked indexing.
    unsafe {
        let lanes = |f: fn(&Section) -> f64, p: usize| {
            _mm_set_pd(f(&sections[2 * p + 1]), f(&sections[2 * p]))
        };
        let mut b0 = [_mm_setzero_pd(); P];
        let (mut b1, mut b2, mut a1, mut a2) = (b0, b0, b0, b0);
        let (mut s1, mut s2, mut prev) = (b0, b0, b0);
        for p in 0..P {
            b0[p] = lanes(|s| s.b0, p);
            b1[p] = lanes(|s| s.b1, p);
            b2[p] = lanes(|s| s.b2, p);
            a1[p] = lanes(|s| s.a1, p);
            a2[p] = lanes(|s| s.a2, p);
            s1[p] = lanes(|s| s.s1, p);
            s2[p] = lanes(|s| s.s2, p);
            prev[p] = _mm_set_pd(last[2 * p + 1], last[2 * p]);
        }
        for n in k - 1..samples.len() {
            let mut input = prev;
            input[0] = _mm_unpacklo_pd(_mm_set_sd(samples[n]), prev[0]);
            for p in 1..P {
                // Lane 0: what section 2p − 1 gave; lane 1: what section 2p gave.
                input[p] = _mm_shuffle_pd::<0b01>(prev[p - 1], prev[p]);
            }
            for p in 0..P {
                let x = input[p];
                let out = _mm_add_pd(s1[p], _mm_mul_pd(b0[p], x));
                s1[p] = _mm_sub_pd(
                    _mm_add_pd(s2[p], _mm_mul_pd(b1[p], x)),
                    _mm_mul_pd(a1[p], out),
                );
                s2[p] = _mm_sub_pd(_mm_mul_pd(b2[p], x), _mm_mul_pd(a2[p], out));
                prev[p] = out;
            }
            samples[n + 1 - k] = _mm_cvtsd_f64(_mm_unpackhi_pd(prev[P - 1], prev[P - 1]));
        }
        for p in 0..P {
            let mut pair = [[0.0; 2]; 3];
            _mm_storeu_pd(pair[0].as_mut_ptr(), s1[p]);
            _mm_storeu_pd(pair[1].as_mut_ptr(), s2[p]);
            _mm_storeu_pd(pair[2].as_mut_ptr(), prev[p]);
            for lane in 0..2 {
                let s = &mut sections[2 * p + lane];
                (s.s1, s.s2) = (pair[0][lane], pair[1][lane]);
                last[2 * p + lane] = pair[2][lane];
            }
        }
    }
}

/// [`steady`] for two cascades at once: lanes 0–1 of each register are sections `2p`, `2p + 1`
/// of the first, lanes 2–3 the same sections of the second; each lane does exactly the
/// operations of [`Section::run`].
///
/// # Safety
/// The processor must have AVX.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn steady_two<const P: usize>(
    a: (&mut [Section], &mut [f64], &mut [f64]),
    b: (&mut [Section], &mut [f64], &mut [f64]),
) {
    use std::arch::x86_64::*;
    let k = 2 * P;
    let (a_sections, a_last, a_samples) = a;
    let (b_sections, b_last, b_samples) = b;
    let len = a_samples.len().min(b_samples.len());
    let mut b0 = [_mm256_setzero_pd(); P];
    let (mut b1, mut b2, mut a1, mut a2) = (b0, b0, b0, b0);
    let (mut s1, mut s2, mut prev) = (b0, b0, b0);
    for p in 0..P {
        let (x0, x1) = (&a_sections[2 * p], &a_sections[2 * p + 1]);
        let (y0, y1) = (&b_sections[2 * p], &b_sections[2 * p + 1]);
        b0[p] = _mm256_set_pd(y1.b0, y0.b0, x1.b0, x0.b0);
        b1[p] = _mm256_set_pd(y1.b1, y0.b1, x1.b1, x0.b1);
        b2[p] = _mm256_set_pd(y1.b2, y0.b2, x1.b2, x0.b2);
        a1[p] = _mm256_set_pd(y1.a1, y0.a1, x1.a1, x0.a1);
        a2[p] = _mm256_set_pd(y1.a2, y0.a2, x1.a2, x0.a2);
        s1[p] = _mm256_set_pd(y1.s1, y0.s1, x1.s1, x0.s1);
        s2[p] = _mm256_set_pd(y1.s2, y0.s2, x1.s2, x0.s2);
        prev[p] = _mm256_set_pd(
            b_last[2 * p + 1],
            b_last[2 * p],
            a_last[2 * p + 1],
            a_last[2 * p],
        );
    }
    for n in k - 1..len {
        let mut input = prev;
        // Lane 0 (2): this step's sample; lane 1 (3): what section 0 gave.
        let x = _mm256_set_pd(0.0, b_samples[n], 0.0, a_samples[n]);
        input[0] = _mm256_unpacklo_pd(x, prev[0]);
        for p in 1..P {
            // Lane 0 (2): what section 2p − 1 gave; lane 1 (3): what section 2p gave.
            input[p] = _mm256_shuffle_pd::<0b0101>(prev[p - 1], prev[p]);
        }
        for p in 0..P {
            let x = input[p];
            let out = _mm256_add_pd(s1[p], _mm256_mul_pd(b0[p], x));
            s1[p] = _mm256_sub_pd(
                _mm256_add_pd(s2[p], _mm256_mul_pd(b1[p], x)),
                _mm256_mul_pd(a1[p], out),
            );
            s2[p] = _mm256_sub_pd(_mm256_mul_pd(b2[p], x), _mm256_mul_pd(a2[p], out));
            prev[p] = out;
        }
        let outs = _mm256_unpackhi_pd(prev[P - 1], prev[P - 1]);
        a_samples[n + 1 - k] = _mm256_cvtsd_f64(outs);
        b_samples[n + 1 - k] = _mm_cvtsd_f64(_mm256_extractf128_pd::<1>(outs));
    }
    for p in 0..P {
        let mut quad = [[0.0; 4]; 3];
        _mm256_storeu_pd(quad[0].as_mut_ptr(), s1[p]);
        _mm256_storeu_pd(quad[1].as_mut_ptr(), s2[p]);
        _mm256_storeu_pd(quad[2].as_mut_ptr(), prev[p]);
        let [q1, q2, q_last] = quad;
        for (lane, ((&s1, &s2), &out)) in q1.iter().zip(&q2).zip(&q_last).enumerate() {
            let j = 2 * p + lane % 2;
            let (s, last) = if lane < 2 {
                (&mut a_sections[j], &mut a_last[j])
            } else {
                (&mut b_sections[j], &mut b_last[j])
            };
            (s.s1, s.s2) = (s1, s2);
            *last = out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Cascade;
    use super::*;

    /// A cascade of `k` sections with state (a band-pass, a low-pass, notches).
    fn cascade(k: usize) -> Cascade {
        designed(k, 2000.0, [20.0, 450.0, 50.0, 30.0])
    }

    /// A cascade of `k` sections at `fs`: a high-pass and a low-pass at the first two
    /// frequencies, then notches at 2, 3, 4, … times the third, of Q the fourth.
    fn designed(k: usize, fs: f64, [high, low, step, q]: [f64; 4]) -> Cascade {
        let mut c = Cascade::new();
        let mut centre = step;
        while c.len() < k {
            c = match c.len() {
                0 if k >= 2 => c.then(Cascade::butterworth_highpass(fs, high, 2).unwrap()),
                1 if k >= 3 => c.then(Cascade::butterworth_lowpass(fs, low, 2).unwrap()),
                _ => {
                    centre += step;
                    c.then(Cascade::notch(fs, centre, q).unwrap())
                }
            };
        }
        c
    }

    #[test]
    fn paired_sections_give_the_bits_of_one_section_at_a_time() {
        let x: Vec<f64> = (0..2500)
            .map(|i| ((i * 7919) % 113) as f64 - 56.0 + 3000.0 * f64::from(i > 700))
            .collect();
        for k in 1..=2 * MAX_PAIRS + 1 {
            for block in [1, 2, 3, 5, 16, 17, 97, 2500] {
                let mut one = cascade(k);
                let want: Vec<f64> = x.iter().map(|&v| one.run(v)).collect();
                let mut paired = cascade(k);
                let mut got = x.clone();
                let mut used = false;
                for chunk in got.chunks_mut(block) {
                    let done = process(&mut paired.sections, chunk);
                    used |= done;
                    if !done {
                        chunk.iter_mut().for_each(|v| *v = paired.run(*v));
                    }
                }
                let expect_used = cfg!(target_arch = "x86_64")
                    && (2..=2 * MAX_PAIRS + 1).contains(&k)
                    && block >= k / 2 * 2;
                assert_eq!(used, expect_used, "{k} sections, blocks of {block}");
                for (i, (a, b)) in want.iter().zip(&got).enumerate() {
                    assert_eq!(
                        a.to_bits(),
                        b.to_bits(),
                        "{k} sections, blocks of {block}, sample {i}"
                    );
                }
                assert_eq!(one.sections, paired.sections, "{k} sections: state after");
            }
        }
    }

    /// A second cascade of `k` sections, of other corners (so that lanes mixed up between the
    /// two show).
    fn other_cascade(k: usize) -> Cascade {
        designed(k, 4000.0, [10.0, 200.0, 70.0, 20.0])
    }

    #[test]
    fn two_cascades_side_by_side_give_the_bits_of_each_alone() {
        let x: Vec<f64> = (0..2500)
            .map(|i| ((i * 7919) % 113) as f64 - 56.0 + 3000.0 * f64::from(i > 700))
            .collect();
        let y: Vec<f64> = (0..2500)
            .map(|i| ((i * 104_729) % 97) as f64 * 0.5 - 2000.0 * f64::from(i > 1300))
            .collect();
        #[cfg(target_arch = "x86_64")]
        assert!(
            avx_available(),
            "the two-channel path needs a processor with AVX"
        );
        for k in 1..=2 * MAX_PAIRS + 1 {
            for block in [1, 2, 3, 5, 16, 17, 97, 2500] {
                let (mut one_a, mut one_b) = (cascade(k), other_cascade(k));
                let want_a: Vec<f64> = x.iter().map(|&v| one_a.run(v)).collect();
                let want_b: Vec<f64> = y.iter().map(|&v| one_b.run(v)).collect();
                let (mut a, mut b) = (cascade(k), other_cascade(k));
                let (mut got_a, mut got_b) = (x.clone(), y.clone());
                let mut used = false;
                for (ca, cb) in got_a.chunks_mut(block).zip(got_b.chunks_mut(block)) {
                    let done = process_two(&mut a.sections, ca, &mut b.sections, cb);
                    used |= done;
                    if !done {
                        ca.iter_mut().for_each(|v| *v = a.run(*v));
                        cb.iter_mut().for_each(|v| *v = b.run(*v));
                    }
                }
                let expect_used = cfg!(target_arch = "x86_64")
                    && (2..=2 * MAX_PAIRS + 1).contains(&k)
                    && block >= k / 2 * 2;
                assert_eq!(used, expect_used, "{k} sections, blocks of {block}");
                for (name, want, got) in [("first", &want_a, &got_a), ("second", &want_b, &got_b)] {
                    let first = want
                        .iter()
                        .zip(got.iter())
                        .position(|(w, g)| w.to_bits() != g.to_bits());
                    assert_eq!(first, None, "{name}: {k} sections, blocks of {block}");
                }
                assert_eq!(
                    one_a.sections, a.sections,
                    "{k} sections: first state after"
                );
                assert_eq!(
                    one_b.sections, b.sections,
                    "{k} sections: second state after"
                );
            }
        }
        // Cascades of different lengths, or blocks of different lengths: not side by side.
        let (mut a, mut b) = (cascade(4), other_cascade(6));
        let (mut xa, mut xb) = (x.clone(), y.clone());
        assert!(!process_two(
            &mut a.sections,
            &mut xa,
            &mut b.sections,
            &mut xb
        ));
        let mut b = other_cascade(4);
        assert!(!process_two(
            &mut a.sections,
            &mut xa,
            &mut b.sections,
            &mut xb[..100]
        ));
        assert_eq!((xa, xb), (x, y), "nothing done where it does not apply");
    }
}
