//! Rest statistics that survive a contaminated calibration and follow the rest level.
//!
//! The detection signal (EMG envelope, smoothed pressure) is cut into half-second **segments**,
//! each summarised by its median and its upper spread (P84 − median, or 1.4826·MAD when larger).
//! Rest is estimated from segments, never from a single window's pooled samples, so a
//! contraction inside the calibration rest spoils only the segments it covers:
//!
//! * **EMG**: the rest level is the 40th percentile of the recent segments' medians (the last
//!   `rest_window_s` of rest), its spread the median spread of the segments up to it. A stretch
//!   of activity that the detector missed (a threshold set too high) occupies the upper segments
//!   and is ignored; a dip of the rest (the pelvic floor relaxing while the patient bears down)
//!   shorter than 40 % of the window does not pull the rest down. A rest that rose and stayed
//!   up (the last 3 s of rest segments all clearly above the estimate) is followed at once.
//! * **Pressure**: a *local* baseline — the median of the last `pressure_baseline_s` of rest
//!   segments — so it follows inflation creep, a wandering rest and slips between squeezes; its
//!   spread includes the between-segment variation (breathing), which decides false onsets.
//!
//! The detector re-starts the estimate from scratch when the signal stays clearly *below* it
//! (the first estimate held activity, or the probe slipped down), see `ChannelDetector`.

use std::collections::VecDeque;

/// Length of one rest segment, seconds.
pub const SEGMENT_S: f64 = 0.5;
/// Percentile of the recent segments' medians that is an EMG rest level.
pub const QUIET_SHARE: f64 = 0.4;
/// The last this many EMG rest segments (3 s of rest), all more than [`RISEN_SPREADS`] rest
/// spreads above the estimate, are the rest now.
pub const RISEN_SEGMENTS: usize = 6;
pub const RISEN_SPREADS: f64 = 2.0;
/// An EMG segment whose median is within this many rest spreads of the rest level is rest for
/// the regular bumps on it (ECG): a heartbeat lifts a segment's median by a fraction of that.
pub const BUMP_SEGMENT_SPREADS: f64 = 2.0;
/// Quantile of the rest segments' P99 rises that is the regular bumps' height: about half the
/// segments hold a heartbeat, and this takes the taller beats among them.
pub const BUMP_QUANTILE: f64 = 0.9;

/// What kind of signal the rest is tracked on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestKind {
    /// An EMG envelope: only ever *raised* by activity, so the quietest segments are rest.
    Envelope,
    /// Pressure: the local level between squeezes.
    Pressure,
}

/// One segment's summary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    /// Sample index of the segment's first value.
    pub start_index: u64,
    /// Sample index just after its last value.
    pub end_index: u64,
    pub median: f64,
    /// P84 − median or 1.4826·MAD, whichever is larger.
    pub spread: f64,
    /// P99 − median (regular bumps such as ECG bleed).
    pub p99_rise: f64,
}

impl Segment {
    /// Summarise `values` (thinned samples from `start_index` to `end_index`).
    pub fn of(values: &[f64], start_index: u64, end_index: u64) -> Option<Segment> {
        if values.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        let last = (v.len() - 1) as f64;
        let rank = |q: f64| (last * q).round() as usize;
        let [median, p84, p99] = order_statistics(&mut v, [rank(0.5), rank(0.8413), rank(0.99)]);
        let mut dev: Vec<f64> = v.iter().map(|x| (x - median).abs()).collect();
        let half = dev.len() / 2;
        let [mad] = order_statistics(&mut dev, [half]);
        let mad_sd = 1.4826 * mad;
        Some(Segment {
            start_index,
            end_index,
            median,
            spread: mad_sd.max(p84 - median).max(0.0),
            p99_rise: (p99 - median).max(0.0),
        })
    }
}

/// A rest estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RestEstimate {
    pub mean: f64,
    pub sd: f64,
    pub p99_rise: f64,
}

/// The values of `v` (not empty) at the given ranks (ascending, each `< v.len()`) of its sorted
/// order, as sorting would give them; `v` is reordered. Selection, not a sort: these run for
/// every half-second of rest of every channel.
fn order_statistics<const N: usize>(v: &mut [f64], ranks: [usize; N]) -> [f64; N] {
    // `f64::total_cmp`'s order is that of these integers (the sign bit kept, the other bits
    // flipped below zero), so the selections compare integers, one instruction each, rather
    // than calling `total_cmp` twice per comparison. The mapping is its own inverse.
    fn flip(bits: i64) -> i64 {
        bits ^ (((bits >> 63) as u64) >> 1) as i64
    }
    // SAFETY: `f64` and `i64` have the same size and alignment, and every bit pattern is a
    // valid `i64` (and back, a valid `f64`); `v` is borrowed mutably for the whole view's life.
    let keys = unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<i64>(), v.len()) };
    keys.iter_mut().for_each(|k| *k = flip(*k));
    let mut out = [0.0; N];
    // Each selection leaves the larger values after the rank selected: the next one looks there.
    let mut from = 0;
    for (o, &r) in out.iter_mut().zip(&ranks) {
        if r >= from {
            keys[from..].select_nth_unstable(r - from);
            from = r;
        }
        *o = f64::from_bits(flip(keys[r]) as u64);
    }
    keys.iter_mut().for_each(|k| *k = flip(*k));
    out
}

/// Median of `v` (not empty); `v` is reordered.
fn median_of(v: &mut [f64]) -> f64 {
    let n = v.len();
    let [upper] = order_statistics(v, [n / 2]);
    if n % 2 == 1 {
        upper
    } else {
        // The lower middle value is the largest of those before the upper one.
        let lower = v[..n / 2].iter().copied().fold(f64::NEG_INFINITY, |m, x| {
            if x.total_cmp(&m).is_gt() {
                x
            } else {
                m
            }
        });
        0.5 * (lower + upper)
    }
}

/// The rest estimate from `segments` (not empty).
pub fn estimate(kind: RestKind, segments: &[Segment]) -> Option<RestEstimate> {
    estimate_at(kind, segments, QUIET_SHARE)
}

/// [`estimate`] with the EMG rest level at percentile `share` of the segment medians.
pub fn estimate_at(kind: RestKind, segments: &[Segment], share: f64) -> Option<RestEstimate> {
    if segments.is_empty() {
        return None;
    }
    let chosen: Vec<Segment> = match kind {
        RestKind::Envelope => {
            // The `n` segments with the lowest medians, the earlier one first among equal
            // medians (as a stable sort by median would take them).
            let mut s: Vec<(usize, Segment)> = segments.iter().copied().enumerate().collect();
            let n = ((s.len() - 1) as f64 * share).round() as usize + 1;
            s.select_nth_unstable_by(n - 1, |(i, a), (j, b)| {
                a.median.total_cmp(&b.median).then(i.cmp(j))
            });
            s.truncate(n);
            s.into_iter().map(|(_, seg)| seg).collect()
        }
        RestKind::Pressure => segments.to_vec(),
    };
    let mut medians: Vec<f64> = chosen.iter().map(|s| s.median).collect();
    let mean = match kind {
        RestKind::Envelope => medians.iter().copied().fold(f64::MIN, f64::max),
        RestKind::Pressure => median_of(&mut medians),
    };
    let mut spreads: Vec<f64> = chosen.iter().map(|s| s.spread).collect();
    let within = median_of(&mut spreads);
    // Regular bumps (a heartbeat a second) are in about every other segment: the tall ones
    // among them, not their median. A bump lifts its segment's median a little, so the quietest
    // segments (the EMG rest level's) are mostly those without one: the bumps are looked for in
    // every segment whose median is still at rest.
    let bumps_from: Vec<&Segment> = match kind {
        RestKind::Envelope => segments
            .iter()
            .filter(|s| s.median <= mean + BUMP_SEGMENT_SPREADS * within)
            .collect(),
        RestKind::Pressure => chosen.iter().collect(),
    };
    let mut rises: Vec<f64> = bumps_from.iter().map(|s| s.p99_rise).collect();
    let tall = ((rises.len() - 1) as f64 * BUMP_QUANTILE).round() as usize;
    let [p99_rise] = order_statistics(&mut rises, [tall]);
    let sd = match kind {
        RestKind::Envelope => within,
        RestKind::Pressure => {
            // Slow variation between segments (breathing, wander) matters as much as noise.
            let mut dev: Vec<f64> = chosen.iter().map(|s| (s.median - mean).abs()).collect();
            within.max(1.4826 * median_of(&mut dev))
        }
    };
    Some(RestEstimate { mean, sd, p99_rise })
}

/// Cuts thinned rest samples into segments and keeps the last `capacity` of them.
#[derive(Debug, Clone)]
pub struct RestTracker {
    kind: RestKind,
    /// Thinned values per segment.
    segment_len: usize,
    /// Samples (at the channel rate) between two thinned values.
    step: u64,
    capacity: usize,
    current: Vec<f64>,
    current_start: u64,
    segments: VecDeque<Segment>,
}

impl RestTracker {
    /// `thinned_rate_hz`: rate of the values given to [`Self::push`]; `step`: channel samples
    /// per thinned value; `window_s`: how much rest the estimate looks back on.
    pub fn new(kind: RestKind, thinned_rate_hz: f64, step: u64, window_s: f64) -> Self {
        let segment_len = ((SEGMENT_S * thinned_rate_hz).round() as usize).max(1);
        let capacity = ((window_s / SEGMENT_S).round() as usize).max(1);
        RestTracker {
            kind,
            segment_len,
            step,
            capacity,
            current: Vec::with_capacity(segment_len),
            current_start: 0,
            segments: VecDeque::with_capacity(capacity + 1),
        }
    }

    pub fn kind(&self) -> RestKind {
        self.kind
    }

    pub fn segment_len(&self) -> usize {
        self.segment_len
    }

    /// Add one thinned rest value taken at sample `index`; returns true when a segment was
    /// completed (the estimate may have changed).
    pub fn push(&mut self, index: u64, value: f64) -> bool {
        if self.current.is_empty() {
            self.current_start = index;
        }
        self.current.push(value);
        if self.current.len() < self.segment_len {
            return false;
        }
        if let Some(s) = Segment::of(&self.current, self.current_start, index + self.step) {
            self.add_segment(s);
        }
        self.current.clear();
        true
    }

    /// Add a finished segment (e.g. from the calibration window).
    pub fn add_segment(&mut self, s: Segment) {
        self.segments.push_back(s);
        while self.segments.len() > self.capacity {
            self.segments.pop_front();
        }
    }

    /// Drop the partial segment in progress (rest was interrupted by activity).
    pub fn interrupt(&mut self) {
        self.current.clear();
    }

    /// Forget everything: the next estimate comes from what is pushed from now on.
    pub fn restart(&mut self) {
        self.current.clear();
        self.segments.clear();
    }

    pub fn estimate(&self) -> Option<RestEstimate> {
        let v: Vec<Segment> = self.segments.iter().copied().collect();
        let e = estimate(self.kind, &v)?;
        // EMG rest that rose and stayed up (a quiet rest's floor moves by tens of per cent over
        // tens of seconds): the quietest segments of the window are from before the rise, and
        // the estimate would follow only once they left it. When every one of the last
        // `RISEN_SEGMENTS` stands clearly above the estimate, those are the rest now.
        if self.kind == RestKind::Envelope && v.len() > RISEN_SEGMENTS {
            let recent = &v[v.len() - RISEN_SEGMENTS..];
            if recent
                .iter()
                .all(|s| s.median > e.mean + RISEN_SPREADS * e.sd)
            {
                return estimate(self.kind, recent);
            }
        }
        Some(e)
    }
}

/// Segments of `values`, thinned samples taken every `step` samples from `start_index`.
pub fn segments_of(
    values: &[f64],
    start_index: u64,
    step: u64,
    segment_len: usize,
) -> Vec<Segment> {
    if values.len() * 2 < segment_len {
        // Shorter than half a segment: one segment of what there is.
        let end = start_index + values.len() as u64 * step;
        return Segment::of(values, start_index, end).into_iter().collect();
    }
    values
        .chunks(segment_len.max(1))
        .enumerate()
        .filter(|(_, c)| c.len() * 2 >= segment_len || segment_len <= 1)
        .filter_map(|(k, c)| {
            let first = start_index + (k * segment_len) as u64 * step;
            Segment::of(c, first, first + c.len() as u64 * step)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(median: f64, spread: f64) -> Segment {
        Segment {
            start_index: 0,
            end_index: 1,
            median,
            spread,
            p99_rise: 2.0 * spread,
        }
    }

    /// Values from a few levels (many ties), seeded.
    fn tied_values(n: usize, seed: u64) -> Vec<f64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((x >> 40) % 7) as f64 * 0.5 + if (x >> 20) % 5 == 0 { 0.125 } else { 0.0 }
            })
            .collect()
    }

    #[test]
    fn selection_orders_zeros_infinities_and_nans_as_total_cmp_does() {
        let v = [
            0.0,
            -0.0,
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -1.5,
            2.5,
            f64::MIN_POSITIVE / 4.0,
            -f64::MIN_POSITIVE / 4.0,
            7.0,
            -7.0,
        ];
        let mut sorted = v.to_vec();
        sorted.sort_by(f64::total_cmp);
        let bits = |x: &[f64]| x.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for r in 0..v.len() {
            let mut w = v.to_vec();
            let [got] = order_statistics(&mut w, [r]);
            assert_eq!(got.to_bits(), sorted[r].to_bits(), "rank {r}");
            w.sort_by(f64::total_cmp);
            assert_eq!(bits(&w), bits(&sorted), "rank {r}: values changed");
        }
    }

    #[test]
    fn selected_ranks_are_the_sorted_values() {
        for n in 1..40 {
            for seed in 0..5 {
                let v = tied_values(n, seed);
                let mut sorted = v.clone();
                sorted.sort_by(f64::total_cmp);
                let ranks = [0, n / 3, n / 2, n / 2, n - 1];
                let mut selected = v.clone();
                let got = order_statistics(&mut selected, ranks);
                assert_eq!(got, ranks.map(|r| sorted[r]), "n {n} seed {seed}");
                // The values are only reordered.
                selected.sort_by(f64::total_cmp);
                assert_eq!(selected, sorted);
                let want = if n % 2 == 1 {
                    sorted[n / 2]
                } else {
                    0.5 * (sorted[n / 2 - 1] + sorted[n / 2])
                };
                assert_eq!(median_of(&mut v.clone()), want);
            }
        }
    }

    /// The estimate as it was computed with sorts (a stable sort by median picking the quiet
    /// segments): selection must give the same, ties included.
    #[test]
    fn rest_from_selection_equals_rest_from_sorting() {
        for n in 1..70 {
            for seed in 0..4 {
                let medians = tied_values(n, seed);
                let others = tied_values(n, seed + 100);
                let segments: Vec<Segment> = medians
                    .iter()
                    .zip(&others)
                    .enumerate()
                    .map(|(i, (&m, &o))| Segment {
                        start_index: i as u64,
                        end_index: i as u64 + 1,
                        median: m,
                        spread: o,
                        p99_rise: o * (i % 3) as f64,
                    })
                    .collect();
                let mut by_median = segments.clone();
                by_median.sort_by(|a, b| a.median.total_cmp(&b.median));
                let k = ((n - 1) as f64 * QUIET_SHARE).round() as usize + 1;
                by_median.truncate(k);
                let mut spreads: Vec<f64> = by_median.iter().map(|s| s.spread).collect();
                spreads.sort_by(f64::total_cmp);
                let within = if k % 2 == 1 {
                    spreads[k / 2]
                } else {
                    0.5 * (spreads[k / 2 - 1] + spreads[k / 2])
                };
                let mean = by_median.iter().map(|s| s.median).fold(f64::MIN, f64::max);
                // The bumps: over every segment at rest level, not only the quiet ones.
                let mut rises: Vec<f64> = segments
                    .iter()
                    .filter(|s| s.median <= mean + BUMP_SEGMENT_SPREADS * within)
                    .map(|s| s.p99_rise)
                    .collect();
                rises.sort_by(f64::total_cmp);
                let want = RestEstimate {
                    mean,
                    sd: within,
                    p99_rise: rises[((rises.len() - 1) as f64 * BUMP_QUANTILE).round() as usize],
                };
                assert_eq!(
                    estimate(RestKind::Envelope, &segments),
                    Some(want),
                    "n {n} seed {seed}"
                );
            }
        }
    }

    #[test]
    fn envelope_rest_ignores_a_contraction_covering_half_the_window() {
        let mut s: Vec<Segment> = (0..5).map(|_| seg(3.0, 0.3)).collect();
        s.extend((0..5).map(|_| seg(40.0, 6.0)));
        let e = estimate(RestKind::Envelope, &s).unwrap();
        assert_eq!((e.mean, e.sd), (3.0, 0.3));
    }

    #[test]
    fn pressure_spread_includes_slow_variation_between_segments() {
        let s: Vec<Segment> = (0..8)
            .map(|k| seg(20.0 + if k % 2 == 0 { 1.0 } else { -1.0 }, 0.1))
            .collect();
        let e = estimate(RestKind::Pressure, &s).unwrap();
        assert!((e.mean - 20.0).abs() < 1e-9);
        assert!((e.sd - 1.4826).abs() < 1e-9, "{}", e.sd);
    }

    #[test]
    fn tracker_keeps_its_window_and_restarts() {
        let mut t = RestTracker::new(RestKind::Envelope, 10.0, 1, 2.0);
        for i in 0..100u64 {
            t.push(i, if i < 50 { 10.0 } else { 2.0 });
        }
        // 4 segments of 5 values kept: all from the quiet part.
        assert_eq!(t.estimate().unwrap().mean, 2.0);
        t.restart();
        assert!(t.estimate().is_none());
    }

    /// Seed 506, quiet rest: the floor rose from 1.2 to 1.75 µV within half a minute, the
    /// estimate stayed at the quiet segments from before, and the envelope hovered at the offset
    /// threshold, so a cough's burst ran on for 1.7 s and was counted as a contraction.
    #[test]
    fn an_emg_rest_that_rose_and_stayed_up_is_followed() {
        // 20 s of rest in the window: 34 segments at 1.2, then the floor rises to 1.75.
        let tracker = |risen: usize, dip_at: Option<usize>| {
            let mut t = RestTracker::new(RestKind::Envelope, 200.0, 10, 20.0);
            for _ in 0..34 {
                t.add_segment(seg(1.2, 0.09));
            }
            for k in 0..risen {
                let m = if Some(k) == dip_at { 1.25 } else { 1.75 };
                t.add_segment(seg(m, 0.09));
            }
            t.estimate().unwrap().mean
        };
        assert_eq!(
            tracker(RISEN_SEGMENTS - 1, None),
            1.2,
            "not yet: 2.5 s of rest"
        );
        assert_eq!(
            tracker(RISEN_SEGMENTS, None),
            1.75,
            "3 s of rest all higher"
        );
        assert_eq!(tracker(12, None), 1.75);
        assert_eq!(
            tracker(RISEN_SEGMENTS, Some(3)),
            1.2,
            "one segment back at the old rest: it did not move"
        );
        // Pressure has its own local baseline and is left alone.
        let mut p = RestTracker::new(RestKind::Pressure, 200.0, 10, 20.0);
        for m in [1.2; 34].into_iter().chain([1.75; 6]) {
            p.add_segment(seg(m, 0.09));
        }
        assert_eq!(p.estimate().unwrap().mean, 1.2);
    }
}
