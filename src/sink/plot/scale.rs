//! Value ranges and ticks: a robust range per panel (outliers and the filter's settling
//! left out), nice tick steps, and how values and times are printed.

#[allow(unused_imports)]
use super::*;

// ---------------------------------------------------------------------------------------------
// Value ranges

/// At least this much of the start of every trace is left out when a panel's y range is chosen:
/// the filters' settling and electrode settling at the start of a recording must not set the
/// scale. (The default chains settle in under 0.2 s; see `AppliedConditioning::settle_s`.)
pub const MIN_SETTLE_S: f64 = 0.5;

/// Fraction of the decimated buckets whose extremes may lie beyond the y range (clipped, drawn as
/// ticks on the panel's edge), at each end: a motion artefact or a cough spike does not flatten
/// the contractions.
pub(super) const RANGE_QUANTILE: f64 = 0.005;

/// The points after the first `settle_s` seconds of the trace, if they are at least half of
/// them (a recording shorter than twice the settle time is taken whole).
pub(super) fn settled(points: &[MinMaxPoint], settle_s: f64) -> Vec<&MinMaxPoint> {
    let finite: Vec<&MinMaxPoint> = points.iter().filter(|p| p.t_s.is_finite()).collect();
    let Some(t_first) = finite.iter().map(|p| p.t_s).reduce(f64::min) else {
        return finite;
    };
    let after: Vec<&MinMaxPoint> = finite
        .iter()
        .copied()
        .filter(|p| p.t_s >= t_first + settle_s)
        .collect();
    if 2 * after.len() >= finite.len() {
        after
    } else {
        finite
    }
}

/// Sorted finite values of the given field of the points.
pub(super) fn sorted_finite(points: &[&MinMaxPoint], field: fn(&MinMaxPoint) -> f64) -> Vec<f64> {
    let mut v: Vec<f64> = points
        .iter()
        .map(|p| field(p))
        .filter(|x| x.is_finite())
        .collect();
    v.sort_by(f64::total_cmp);
    v
}

pub(super) fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = (q * (sorted.len() - 1) as f64).round() as usize;
    Some(sorted[i.min(sorted.len() - 1)])
}

/// Robust range of a min/max trace after its first `settle_s` seconds: the `q`…`1-q` quantiles
/// of the bucket minima and maxima, so neither a start-up transient nor a single motion spike
/// flattens everything (what lies beyond is clipped).
pub(super) fn robust_range(points: &[MinMaxPoint], settle_s: f64, q: f64) -> Option<(f64, f64)> {
    let points = settled(points, settle_s);
    let lo = quantile(&sorted_finite(&points, |p| p.min), q)?;
    let hi = quantile(&sorted_finite(&points, |p| p.max), 1.0 - q)?;
    Some((lo.min(hi), hi.max(lo)))
}

/// Widens a range so it is never empty and leaves room at the top for the contraction numbers.
pub(super) fn pad_range(lo: f64, hi: f64) -> (f64, f64) {
    let (mut lo, mut hi) = (lo, hi);
    let span = hi - lo;
    if span.is_nan() || span <= 1e-12 * hi.abs().max(lo.abs()) || span < f64::MIN_POSITIVE {
        let d = if hi.abs() > 0.0 { hi.abs() * 0.1 } else { 1.0 };
        lo -= d;
        hi += d;
    }
    let span = hi - lo;
    (lo - 0.05 * span, hi + 0.16 * span)
}

/// The y ranges of a channel's panel: robust ranges of the envelope and the raw band after the
/// settle time ([`PlotChannel::settle_s`], at least [`MIN_SETTLE_S`]), widened to take in the
/// threshold and rest lines, with a margin. The raw band gets its own (right) axis when it
/// hardly overlaps the envelope's range (pressure).
pub fn panel_range(c: &PlotChannel) -> PanelRange {
    let settle_s = if c.settle_s.is_finite() {
        c.settle_s.max(MIN_SETTLE_S)
    } else {
        MIN_SETTLE_S
    };
    let raw = robust_range(&c.raw, settle_s, RANGE_QUANTILE);
    let env = robust_range(&c.envelope, settle_s, RANGE_QUANTILE).map(|(lo, hi)| {
        // Amplitudes read best from zero.
        if lo >= 0.0 {
            (0.0, hi)
        } else {
            (lo, hi)
        }
    });
    let lines = [c.onset_threshold, c.rest_level]
        .into_iter()
        .flatten()
        .chain(
            c.rest_steps
                .iter()
                .flat_map(|s| [s.rest, s.onset_threshold]),
        )
        .filter(|v| v.is_finite());
    let include_lines = |(lo, hi): (f64, f64)| {
        lines
            .clone()
            .fold((lo, hi), |(lo, hi), v| (lo.min(v), hi.max(v)))
    };
    match (env, raw) {
        (Some(e), Some(r)) => {
            let e = include_lines(e);
            let overlap = e.1.min(r.1) - e.0.max(r.0);
            let smaller = (e.1 - e.0).min(r.1 - r.0);
            if overlap >= 0.3 * smaller {
                let (lo, hi) = pad_range(e.0.min(r.0), e.1.max(r.1));
                PanelRange { lo, hi, raw: None }
            } else {
                let (lo, hi) = pad_range(e.0, e.1);
                PanelRange {
                    lo,
                    hi,
                    raw: Some(pad_range(r.0, r.1)),
                }
            }
        }
        (Some(only), None) | (None, Some(only)) => {
            let (lo, hi) = pad_range(include_lines(only).0, include_lines(only).1);
            PanelRange { lo, hi, raw: None }
        }
        (None, None) => {
            let mut v = lines.clone();
            match v.next() {
                Some(first) => {
                    let (lo, hi) = include_lines((first, first));
                    let (lo, hi) = pad_range(lo, hi);
                    PanelRange { lo, hi, raw: None }
                }
                None => PanelRange {
                    lo: 0.0,
                    hi: 1.0,
                    raw: None,
                },
            }
        }
    }
}

/// "Nice" tick positions (1, 2, 2.5, 5 × 10^k) covering `lo..=hi`, about `target` of them, with
/// the number of decimals their labels need.
pub(crate) fn nice_ticks(lo: f64, hi: f64, target: usize) -> (Vec<f64>, usize) {
    let span = hi - lo;
    if !span.is_finite() || span <= 0.0 {
        return (Vec::new(), 0);
    }
    let raw_step = span / target.max(1) as f64;
    let mag = 10f64.powf(raw_step.log10().floor());
    let mut step = mag * 10.0;
    for m in [1.0, 2.0, 2.5, 5.0] {
        if mag * m >= raw_step {
            step = mag * m;
            break;
        }
    }
    let decimals = decimals_for(step);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    let ticks = (first..=last).take(1000).map(|k| k as f64 * step).collect();
    (ticks, decimals)
}

/// Decimals needed to print multiples of `step` exactly (up to 9).
pub(super) fn decimals_for(step: f64) -> usize {
    (0..9)
        .find(|&d| {
            let scaled = step * 10f64.powi(d as i32);
            (scaled - scaled.round()).abs() < 1e-6 * scaled.abs().max(1.0)
        })
        .unwrap_or(9)
}

pub(crate) fn format_value(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    // No "-0".
    if s.trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        s.trim_start_matches('-').to_string()
    } else {
        s.replace('-', "−")
    }
}

/// Time ticks: a step from a fixed list (seconds, then whole minutes) giving at most ~16 ticks.
pub(super) fn time_ticks(t0: f64, t1: f64) -> (Vec<f64>, f64) {
    const STEPS: [f64; 20] = [
        0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0,
        600.0, 900.0, 1800.0, 3600.0, 7200.0,
    ];
    let span = t1 - t0;
    let step = STEPS
        .iter()
        .copied()
        .find(|s| span / s <= 16.0)
        .unwrap_or_else(|| (span / 16.0 / 3600.0).ceil() * 3600.0);
    let first = (t0 / step).ceil() as i64;
    let last = (t1 / step + 1e-9).floor() as i64;
    let ticks = (first..=last).take(1000).map(|k| k as f64 * step).collect();
    (ticks, step)
}

pub(super) fn format_time(t: f64, step: f64, minutes: bool) -> String {
    if minutes {
        let neg = t < 0.0;
        let total = t.abs().round() as u64;
        let (h, m, s) = (total / 3600, (total / 60) % 60, total % 60);
        let sign = if neg { "−" } else { "" };
        if h > 0 {
            format!("{sign}{h}:{m:02}:{s:02}")
        } else {
            format!("{sign}{m}:{s:02}")
        }
    } else {
        format_value(t, decimals_for(step))
    }
}
