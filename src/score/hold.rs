//! The one rule for a hold: how long the 250-ms-smoothed envelope stays above half the way from
//! rest to its peak (DOMAIN.md §4), and whether that is long enough for a target.

use super::config::ScoringConfig;

/// Envelope history resolution, seconds (10-ms bins).
pub const BIN_S: f64 = 0.01;
/// Smoothing of the envelope for holds and MVC: 25 bins = 250 ms (DOMAIN.md §4), centred.
pub const SMOOTH_BINS: usize = 25;
/// The hold lasts while the smoothed level is at or above rest + this × (peak − rest).
pub const HOLD_LEVEL_REL: f64 = 0.5;

/// Where a hold starts and ends on the smoothed envelope.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HoldSpan {
    /// First bin at or above the level, seconds.
    pub up_s: f64,
    /// Last bin at or above the level, seconds.
    pub down_s: f64,
    /// Highest smoothed level.
    pub peak: f64,
}

impl HoldSpan {
    pub fn hold_s(&self) -> f64 {
        if self.down_s > self.up_s {
            self.down_s - self.up_s
        } else {
            0.0
        }
    }
}

/// The highest smoothed level (−∞ for no points).
pub fn smoothed_peak(smoothed: &[(f64, f64)]) -> f64 {
    smoothed
        .iter()
        .map(|p| p.1)
        .fold(f64::NEG_INFINITY, f64::max)
}

/// The span above `rest + level_rel · (peak − rest)` of `smoothed` (time, level) points; `None`
/// when there are no points.
pub fn hold_span(smoothed: &[(f64, f64)], rest: f64, level_rel: f64) -> Option<HoldSpan> {
    let peak = smoothed_peak(smoothed);
    if !peak.is_finite() {
        return None;
    }
    let level = rest + level_rel * (peak - rest);
    let up = smoothed.iter().find(|p| p.1 >= level).map(|p| p.0)?;
    let down = smoothed.iter().rev().find(|p| p.1 >= level).map(|p| p.0)?;
    Some(HoldSpan {
        up_s: up,
        down_s: down,
        peak,
    })
}

/// Hold duration, seconds: time the smoothed envelope (`(time_s, level)` points over the
/// contraction, smoothed over [`SMOOTH_BINS`]) stays above half the way from `rest` to its peak.
pub fn hold_s(smoothed: &[(f64, f64)], rest: f64) -> f64 {
    hold_span(smoothed, rest, HOLD_LEVEL_REL).map_or(0.0, |s| s.hold_s())
}

/// Is a hold of `hold_s` valid for a target of `target_s`? At least the target minus the
/// configured tolerance.
pub fn valid_hold(hold_s: f64, target_s: f64, cfg: &ScoringConfig) -> bool {
    hold_s >= target_s - cfg.hold_tolerance_s
}

/// Centred moving average over `w` bins of `values[a..b]`, where `values[0]` is bin
/// `first_bin` (bin `k` starts at `k · BIN_S`); windows are cut at the ends of `values`.
pub fn moving_average(
    values: &[f64],
    first_bin: u64,
    a: usize,
    b: usize,
    w: usize,
) -> Vec<(f64, f64)> {
    let b = b.min(values.len());
    let a = a.min(b);
    let half = w / 2;
    (a..b)
        .map(|i| {
            let lo = i.saturating_sub(half);
            let hi = (i + half + 1).min(values.len());
            let s: f64 = values[lo..hi].iter().sum();
            ((first_bin + i as u64) as f64 * BIN_S, s / (hi - lo) as f64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trapezoid: rest 1, ramps of `ramp_s`, plateau 11 for `plateau_s`, in 10-ms bins.
    fn squeeze(ramp_s: f64, plateau_s: f64) -> Vec<f64> {
        let n = |s: f64| (s / BIN_S).round() as usize;
        let mut v = vec![1.0; n(1.0)];
        v.extend((0..n(ramp_s)).map(|k| 1.0 + 10.0 * k as f64 / n(ramp_s) as f64));
        v.extend(vec![11.0; n(plateau_s)]);
        v.extend((0..n(ramp_s)).map(|k| 11.0 - 10.0 * k as f64 / n(ramp_s) as f64));
        v.extend(vec![1.0; n(1.0)]);
        v
    }

    #[test]
    fn hold_is_the_time_above_half_the_peak() {
        let v = squeeze(0.4, 4.4);
        let sm = moving_average(&v, 0, 0, v.len(), SMOOTH_BINS);
        let h = hold_s(&sm, 1.0);
        // Half-way up each 0.4-s ramp: plateau + 2 × 0.2 s.
        assert!((h - 4.8).abs() < 0.03, "hold {h}");
        let cfg = ScoringConfig::default();
        assert!(valid_hold(h, 5.0, &cfg));
        assert!(!valid_hold(h, 5.1, &cfg));
        let strict = ScoringConfig {
            hold_tolerance_s: 0.0,
            ..cfg
        };
        assert!(!valid_hold(h, 5.0, &strict));
    }

    #[test]
    fn no_points_is_no_hold() {
        assert_eq!(hold_s(&[], 0.0), 0.0);
        assert_eq!(hold_span(&[], 0.0, 0.5), None);
    }

    #[test]
    fn moving_average_cuts_windows_at_the_ends() {
        let v = [0.0, 3.0, 6.0];
        let sm = moving_average(&v, 100, 0, 3, 3);
        assert_eq!(sm.len(), 3);
        assert!((sm[0].0 - 1.0).abs() < 1e-12);
        assert_eq!(sm[0].1, 1.5);
        assert_eq!(sm[1].1, 3.0);
        assert_eq!(sm[2].1, 4.5);
    }
}
