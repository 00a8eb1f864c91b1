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
    let paired = sections.len() / 2 * 2;
    let len = samples.len();
    if !cfg!(target_arch = "x86_64") || paired == 0 || paired > 2 * MAX_PAIRS || len < paired {
        return false;
    }
    let (pairs, single) = sections.split_at_mut(paired);
    // `last[j]`: what section `j` gave at the step before.
    let mut last = [0.0; 2 * MAX_PAIRS];
    for (n, &x) in samples[..paired - 1].iter().enumerate() {
        skewed_step(pairs, &mut last, x, 0..n + 1);
    }
    #[cfg(target_arch = "x86_64")]
    match paired / 2 {
        1 => steady::<1>(pairs, &mut last, samples),
        2 => steady::<2>(pairs, &mut last, samples),
        3 => steady::<3>(pairs, &mut last, samples),
        4 => steady::<4>(pairs, &mut last, samples),
        5 => steady::<5>(pairs, &mut last, samples),
        6 => steady::<6>(pairs, &mut last, samples),
        7 => steady::<7>(pairs, &mut last, samples),
        _ => steady::<8>(pairs, &mut last, samples),
    }
    for n in len..len + paired - 1 {
        skewed_step(pairs, &mut last, 0.0, n + 1 - len..paired);
        samples[n + 1 - paired] = last[paired - 1];
    }
    // An odd section out runs after the pairs, over the whole block.
    if let [s] = single {
        let mut ls = *s;
        samples.iter_mut().for_each(|x| *x = ls.run(*x));
        *s = ls;
    }
    true
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

#[cfg(test)]
mod tests {
    use super::super::Cascade;
    use super::*;

    /// A cascade of `k` sections with state (a band-pass, a low-pass, notches).
    fn cascade(k: usize) -> Cascade {
        let fs = 2000.0;
        let mut c = Cascade::new();
        let mut centre = 50.0;
        while c.len() < k {
            c = match c.len() {
                0 if k >= 2 => c.then(Cascade::butterworth_highpass(fs, 20.0, 2).unwrap()),
                1 if k >= 3 => c.then(Cascade::butterworth_lowpass(fs, 450.0, 2).unwrap()),
                _ => {
                    centre += 50.0;
                    c.then(Cascade::notch(fs, centre, 30.0).unwrap())
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
}
