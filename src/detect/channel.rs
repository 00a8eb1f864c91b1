//! The per-channel causal detector (Hodges & Bui double threshold with hysteresis).
//!
//! 1. **Calibrating**: the envelope of the calibration span (`calibration_s` after
//!    `calibration_skip_s`) is cut into half-second segments; rest (μ₀, σ₀) comes from its
//!    quietest segments ([`super::rest`]), and segments above the offset threshold are named as
//!    activity and left out. Everything before the end of the calibration is kept and, once rest
//!    is known, run through the detector: contractions inside or before the calibration span
//!    are found too (decided at the end of the calibration).
//! 2. **Rest**: an onset is confirmed when the envelope stays above
//!    `μ₀ + max(k·σ₀, floor)` for `onset_hold_ms`; the floor is `onset_min_rel`·μ₀ for EMG (a
//!    very quiet rest's k·σ₀ is smaller than drift and envelope noise) and `pressure_min_rise`
//!    for pressure. The reported onset is where the activity began: for an RMS envelope, from
//!    where it left rest the rise's excess amplitude over rest is followed on its line back to
//!    zero, and the window's half-window lag is taken off only for a rise slower than the window
//!    (a causal moving RMS starts rising the moment activity starts; see
//!    [`ChannelDetector::carried_back_along_rise`]); for pressure it is where the trace left
//!    μ₀ + σ₀ or stopped rising, minus the low-pass delay (then the foot of its rise).
//!    While at rest, μ₀ and σ₀ follow the rest level from the recent segments (a rest estimate
//!    spoiled by activity is replaced within seconds); when pressure stays clearly below its
//!    baseline (creep, the probe slipped down) the baseline starts again from the lower level.
//! 3. **Active**: an EMG contraction ends when the envelope stays below the offset threshold
//!    (2/3 of the way from rest to the onset threshold by default: hysteresis) for
//!    `offset_hold_ms`, or is back within `offset_fraction` of its own level (the running
//!    maximum of its half-second minimum, so a cough spike does not count) from rest; a pressure
//!    squeeze likewise, from the local baseline it rose from. So a rest that moved during a
//!    squeeze cannot merge it with the next one. A pressure step that rises
//!    faster than a squeeze and then stays flat is a probe slip: it becomes the new rest.
//!
//! The detector emits an [`OnsetNotice`] the moment an onset is confirmed and a
//! [`ContractionEvent`] the moment the offset is confirmed: never at the end of the file.

use super::rest::{self, RestKind, RestTracker, Segment};
use crate::config::DetectorConfig;
use crate::event::{ContractionEvent, EventKind, OnsetNotice};
use crate::frame::Role;
use serde::Serialize;
use std::collections::VecDeque;

/// Calibration and hold statistics are computed on the envelope thinned to about this rate.
const STATS_RATE_HZ: f64 = 200.0;
/// After a contraction ends, rest statistics are not updated for this long (release tail).
const REBASELINE_GUARD_S: f64 = 1.0;
/// An EMG onset above the onset threshold but within the rest's regular bumps (rest +
/// `rest_p99_margin` × their P99 rise) must hold this long: an ECG complex bleeding onto the
/// abdominal channel lasts under 0.12 s, so its 50-ms RMS bump under 0.2 s; a weak but real
/// co-activation holds for a second or more, s.
const BUMP_HOLD_S: f64 = 0.25;
/// Multiple of σ₀ that marks "left rest" when moving the onset back.
const BACKTRACK_K: f64 = 1.0;
/// EMG: below the relative offset level (but above the offset threshold) this long ends a
/// contraction, seconds.
const RELATIVE_OFFSET_HOLD_S: f64 = 1.0;
/// EMG: how far before the crossing of the onset threshold an onset may be placed, seconds.
const EMG_BACKTRACK_MAX_S: f64 = 0.2;
/// EMG: how far before where the envelope left rest an onset may be carried back along the
/// rise ([`ChannelDetector::carried_back_along_rise`]), seconds.
const EMG_RISE_CARRY_MAX_S: f64 = 0.15;
/// EMG: the rise's excess over rest must have grown by this factor from where the envelope left
/// rest to the onset's confirmation for its line to be followed back (less is a hover, not a
/// rise).
const EMG_RISE_MIN_GROWTH: f64 = 1.2;
/// EMG: halfway between leaving rest and the confirmation, a rise has climbed at least this share
/// of its excess over rest (a smooth start from zero climbs about 40 %, a line 50 %).
const EMG_RISE_MIDWAY_SHARE: f64 = 0.15;
/// EMG: the envelope's lag behind a rise (at most half the RMS window), in multiples of how far
/// the onset was carried back along it: a step shows at once on the window's leading edge, a
/// rise slower than the window shows half a window late.
const EMG_LAG_PER_CARRY: f64 = 4.0;
/// EMG: the line a rise is followed back on goes through where the envelope left rest and where
/// it stood this much later, seconds.
const EMG_RISE_SPAN_S: f64 = 0.03;
/// How much envelope before that reach shows the level an EMG rest sat at, when the walk back
/// found no rest within the reach (see `onset_index`), seconds.
const EMG_HELD_REST_S: f64 = 0.25;
/// How far above the level the envelope held before it an EMG contraction's hold must be, in
/// onset rises (see `emg_rest_moved`).
const EMG_MIN_RISE_OVER_HELD: f64 = 0.5;
/// How far above the rest in force (in onset rises) the envelope must have sat before an EMG
/// contraction for `emg_rest_moved` to ask whether it rose at all.
const EMG_MIN_DRIFT: f64 = 0.5;
/// The first rest estimate of a calibration span comes from this quietest share of its
/// segments (so activity over up to 80 % of the span is recognised).
const CALIBRATION_QUIET_SHARE: f64 = 0.2;
/// Pressure must stay below its baseline by the onset rise this long before the baseline is
/// estimated again from it, seconds.
const RECOVER_PRESSURE_S: f64 = 0.5;
/// At most this much signal before the end of the calibration is kept to be analysed once rest
/// is known, seconds.
const MAX_REPLAY_S: f64 = 600.0;
/// Pressure: a step whose 10–90 % rise takes at most this long, then flat for [`SLIP_FLAT_S`],
/// never back halfway down to the old rest and flat again at [`SLIP_DECIDE_S`], is a slip
/// ([`slip_step`]; voluntary squeezes take longer to rise, and a quick flick or a cough that
/// rises as fast comes back down within a second).
const SLIP_MAX_RISE_S: f64 = 0.1;
/// Pressure: how long a slip's new level holds flat before anything may rise on top of it (a
/// squeeze soon after the slip), seconds.
const SLIP_FLAT_S: f64 = 1.0;
/// Pressure: a first look at a slip's new level starts this long after the onset, and the level
/// is measured from half this long after the step reached 90 % of it, seconds.
const SLIP_SETTLED_S: f64 = 0.3;
/// Pressure: an episode still under this many onset rises above its baseline at
/// `SLIP_DECIDE_S` is the resting tone moving, not a squeeze.
const LOW_EPISODE_RISES: f64 = 2.0;
/// Pressure after a squeeze: flat this long above the onset threshold means the rest moved.
const SETTLE_FLAT_S: f64 = 0.4;
/// Pressure: a squeeze's release onto a rest that moved up falls within this long, seconds.
const RELEASE_FALL_S: f64 = 1.0;
const SLIP_DECIDE_S: f64 = 8.0;
/// Pressure: in an episode older than `SLIP_DECIDE_S`, the level (0.5-s moving minimum) rising
/// this many onset rises above the episode's level of a second before is a squeeze on top of a
/// rest that moved up.
const ON_TOP_RISES: f64 = 2.0;
/// Pressure: the final onset is the foot of the rise to the episode's level, where the rise over
/// [`FOOT_WINDOW_S`] falls below this share of its steepest.
const FOOT_SLOPE_SHARE: f64 = 0.05;
/// Pressure: ... and below this share of the rest's SD (which holds breathing): a breath
/// rising into a weak squeeze is not part of it.
const FOOT_REST_SHARE: f64 = 0.3;
/// Pressure: the window over which the rise's slope is measured, seconds.
const FOOT_WINDOW_S: f64 = 0.1;
/// Pressure: a weak squeeze that rises while a breath falls climbs in steps, stalling on its
/// way up. A stall ends the walk back to the foot only when the trace does not drop by
/// [`FOOT_STALL_DROP`] of the rise within this long before it, seconds.
const FOOT_STALL_S: f64 = 0.3;
/// Pressure: the drop before a stall, as a share of the squeeze's rise (and at least the rest's
/// SD, which holds breathing), that carries the walk back on through the stall.
const FOOT_STALL_DROP: f64 = 0.25;
/// How far the rest or the onset threshold moves, as a share of the onset rise, before the
/// report's plot draws them at a new level.
const REST_LEVEL_STEP: f64 = 0.05;
/// Pressure: an onset is also a rise of one onset rise above the lowest point of this last
/// span at rest, seconds. A weak squeeze that starts in a breath's trough may never stand an
/// onset rise above the baseline (the breathing's median); a breath moves the trace less than
/// that in a second, since the onset rise is three SDs of a rest that holds it.
const LOCAL_RISE_S: f64 = 1.0;
/// Pressure: envelope kept from before an onset, for the foot of the rise, seconds (a weak
/// squeeze that climbs slowly after its first step can cross its threshold over a second
/// after the step); never from before the last contraction's end.
const FOOT_BEFORE_S: f64 = 2.0;
/// EMG: an onset is moved past a hover only when the envelope first reached half of its level
/// more than this long after it, seconds (a squeeze's own rise takes at most 0.4 s).
const EMG_HOVER_MIN_S: f64 = 0.5;
/// EMG: the hover's level is taken up to this long before the envelope reached half its level.
const EMG_HOVER_GAP_S: f64 = 0.15;
/// Pressure: under the offset level but not back near the baseline (a breath's trough in a weak
/// squeeze) ends a contraction only after this long, seconds.
const PRESSURE_RELEASE_HOLD_S: f64 = 1.0;
/// Pressure: how far (rest SDs, which hold breathing) a breath can take a squeeze down.
const BREATH_REACH_SD: f64 = 3.0;
/// Width of the moving minimum whose running maximum is an episode's level (cough spikes inside
/// a squeeze are narrower and do not count).
const LEVEL_WINDOW_S: f64 = 0.5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Calibrating,
    Rest,
    Active,
}

/// What one sample step can produce.
#[derive(Debug, Clone, PartialEq)]
pub enum DetectorOutput {
    Onset(OnsetNotice),
    Event(ContractionEvent),
}

/// Which rest a channel used and why (written to `session.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RestReport {
    /// The calibration span searched, device seconds `[from, to]`.
    pub calibration_s: [f64; 2],
    /// Spans of it taken as rest.
    pub used_s: Vec<[f64; 2]>,
    /// Spans of it that held activity and were left out.
    pub excluded_s: Vec<[f64; 2]>,
    /// Whether at least half of the calibration span was quiet.
    pub clean: bool,
    /// Later re-estimates: the signal stayed below the rest in force, or a pressure slip.
    pub changes: Vec<RestChange>,
    /// Pressure episodes taken as probe slips (not contractions).
    pub slips: usize,
    /// Plain-words summary.
    pub note: String,
    /// The rest and onset threshold in force over time, for the report's plot: a new entry
    /// when either moved by [`REST_LEVEL_STEP`] of the onset rise (left out of `session.json`,
    /// which lists the re-estimates in `changes`).
    #[serde(skip)]
    pub levels: Vec<RestLevel>,
}

/// The rest and onset threshold in force from `from_s` (device seconds) on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RestLevel {
    pub from_s: f64,
    pub rest: f64,
    pub onset_threshold: f64,
}

/// A moment where rest was estimated again.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RestChange {
    pub at_s: f64,
    pub from_mean: f64,
    pub to_mean: f64,
    pub reason: String,
}

/// An onset as [`ChannelDetector::onset_index`] placed it.
#[derive(Debug, Clone, Copy)]
struct PlacedOnset {
    /// The sample the activity began at.
    index: u64,
    /// The envelope's lag behind the activity there, seconds: subtracted from its time.
    lag_s: f64,
    /// Where the trace left rest (`index` or later).
    left: u64,
}

#[derive(Debug, Clone)]
struct Active {
    onset_index: u64,
    /// The envelope's lag behind the activity at its onset, seconds: subtracted from the onset's
    /// time (the conditioning's delay, or less for an EMG rise faster than the RMS window).
    onset_lag_s: f64,
    /// Where the trace left rest (`onset_index` or later: the onset may be carried back along
    /// the rise from there).
    left_index: u64,
    peak: f64,
    peak_index: u64,
    /// Envelope thinned to STATS_RATE_HZ from the onset on.
    thinned: Vec<f64>,
    /// Pressure: the thinned envelope just before the onset (oldest first), as far as it was held.
    before: Vec<f64>,
    /// Pressure: every value from the onset on, to analyse the episode again when the rest
    /// moved under it.
    raw: Vec<f64>,
    /// Samples until the next one goes into `thinned`.
    thin_countdown: u64,
    baseline: f64,
    /// Moving minimum over LEVEL_WINDOW_S of `thinned` (monotonic queue of (thinned position,
    /// value)) and the running maximum of it: the episode's level.
    minq: VecDeque<(usize, f64)>,
    level: f64,
    /// Age (seconds) at which the episode is next checked for a slip or a moved rest.
    next_check_s: f64,
    /// Pressure: the episode's level at each thinned sample of the last second.
    levels: VecDeque<f64>,
    /// EMG: the level the envelope held just before the onset ([`ChannelDetector::held_level`]);
    /// NaN when nothing was held.
    pre_level: f64,
}

impl Active {
    fn push_thinned(&mut self, v: f64, level_len: usize) {
        let k = self.thinned.len();
        self.thinned.push(v);
        while self.minq.back().is_some_and(|&(_, b)| b >= v) {
            self.minq.pop_back();
        }
        self.minq.push_back((k, v));
        while self.minq.front().is_some_and(|&(j, _)| j + level_len <= k) {
            self.minq.pop_front();
        }
        if k + 1 >= level_len {
            if let Some(&(_, m)) = self.minq.front() {
                self.level = self.level.max(m);
            }
        }
    }
}

/// The last envelope values, for moving an onset back: a ring indexed by sample number.
#[derive(Debug, Clone)]
struct RecentRing {
    values: Vec<f64>,
    /// `values.len() - 1` (the length is a power of two).
    mask: usize,
    /// How many of the latest values count.
    span: u64,
    /// First sample index held since the last jump (values before it are not samples).
    first: u64,
}

impl RecentRing {
    fn new(span: u64) -> Self {
        let len = (span as usize + 1).next_power_of_two();
        RecentRing {
            values: vec![0.0; len],
            mask: len - 1,
            span,
            first: 0,
        }
    }

    #[inline]
    fn put(&mut self, index: u64, value: f64) {
        self.values[index as usize & self.mask] = value;
    }

    /// `values` as the samples from `index` on.
    #[inline]
    fn put_run(&mut self, index: u64, values: &[f64]) {
        for (k, &v) in values.iter().enumerate() {
            self.put(index + k as u64, v);
        }
    }

    /// The value at `index` when it is still held, given that `last` is the newest.
    fn get(&self, index: u64, last: u64) -> Option<f64> {
        (index >= self.oldest(last) && index <= last)
            .then(|| self.values[index as usize & self.mask])
    }

    /// The oldest index held, given that `last` is the newest.
    fn oldest(&self, last: u64) -> u64 {
        self.first.max((last + 1).saturating_sub(self.span))
    }

    /// `(index, value)` of the held samples up to and including `last`, newest first.
    fn newest_first(&self, last: u64) -> impl Iterator<Item = (u64, f64)> + '_ {
        (self.oldest(last)..=last)
            .rev()
            .map(move |i| (i, self.values[i as usize & self.mask]))
    }
}

/// Causal detector for one channel's envelope (EMG) or smoothed pressure.
#[derive(Debug, Clone)]
pub struct ChannelDetector {
    cfg: DetectorConfig,
    channel: usize,
    role: Role,
    rate_hz: f64,
    start_time_s: f64,
    /// Lag of the detection signal behind the input, seconds (from the conditioning: half the
    /// RMS window, or the low-pass group delay): subtracted from every reported time.
    delay_s: f64,
    /// Index of the next sample.
    index: u64,
    phase: Phase,
    stats_step: u64,
    /// Thinned values in the level's moving minimum ([`LEVEL_WINDOW_S`]).
    level_len: usize,
    calibration: Vec<f64>,
    calibration_start: u64,
    calibration_end: u64,
    /// Everything from `replay_from` to the end of the calibration, as runs of consecutive
    /// samples `(first index, values)`.
    replay: Vec<(u64, Vec<f64>)>,
    replay_from: u64,
    /// Outputs are decided no earlier than this sample (the end of the calibration).
    decided_floor: u64,
    replaying: bool,
    rest_mean: f64,
    rest_sd: f64,
    /// How far the rest's 99th percentile sat above its median: rest with regular bumps (ECG
    /// bleeding through on the abdominal channel) must not trigger onsets.
    rest_p99_rise: f64,
    on_threshold: f64,
    /// Above the onset threshold but under this one (rest + the regular bumps' margin), an
    /// onset must hold for [`BUMP_HOLD_S`]: a heartbeat's bump is briefer.
    bump_threshold: f64,
    bump_hold: u64,
    /// The envelope has been above `bump_threshold` since `above_since`.
    pending_bumped: bool,
    off_threshold: f64,
    tracker: RestTracker,
    /// Rest samples until the next thinned value goes to the tracker.
    rest_countdown: u64,
    guard_until: u64,
    /// The signal has been below rest by the onset rise since this sample; its thinned values.
    low_since: Option<u64>,
    low_values: Vec<f64>,
    recover_samples: u64,
    /// A contraction has ended and the signal is not yet back under the onset threshold.
    settling: bool,
    above_since: Option<u64>,
    /// No onset before this sample: the conditioning is still settling at the start
    /// ([`crate::dsp::condition::AppliedConditioning::settle_s`]).
    settle_until: u64,
    below_since: Option<u64>,
    below_rel_since: Option<u64>,
    /// EMG: the envelope has been at or above the relative offset level since this sample.
    above_rel_since: Option<u64>,
    /// Pressure: the last sample of a contraction that was back near its baseline.
    touched_rest: Option<u64>,
    /// Where the last contraction ended: the foot of the next one's rise is after it.
    last_offset: Option<u64>,
    /// Pressure at rest: monotonic queue of (sample, value) whose front is the lowest value of
    /// the last [`LOCAL_RISE_S`].
    rest_low: VecDeque<(u64, f64)>,
    /// The last `onset_backtrack_max_s` of envelope.
    recent: RecentRing,
    onset_hold: u64,
    offset_hold: u64,
    active: Option<Active>,
    report: RestReport,
}

impl ChannelDetector {
    /// No onset is taken from the first `settle_s` of the stream, while the conditioning
    /// settles.
    pub fn set_settle_s(&mut self, settle_s: f64) {
        self.settle_until = (settle_s.max(0.0) * self.rate_hz).round() as u64;
    }

    /// `delay_s` is the lag of the detection signal behind the input (from the conditioning);
    /// it is subtracted from every reported time.
    pub fn new(
        cfg: &DetectorConfig,
        channel: usize,
        role: Role,
        rate_hz: f64,
        start_time_s: f64,
        delay_s: f64,
    ) -> Self {
        let samples = |s: f64| (s * rate_hz).round().max(0.0) as u64;
        let stats_step = ((rate_hz / STATS_RATE_HZ).round() as u64).max(1);
        let calibration_start = samples(cfg.calibration_skip_s);
        let calibration_end = calibration_start + samples(cfg.calibration_s).max(1);
        let (kind, window_s) = if role == Role::Pressure {
            (RestKind::Pressure, cfg.pressure_baseline_s)
        } else {
            (RestKind::Envelope, cfg.rest_window_s)
        };
        let thinned_rate = rate_hz / stats_step as f64;
        let mut backtrack_s = cfg.onset_backtrack_max_s.max(4.0 * delay_s).max(0.2);
        if role == Role::Pressure {
            // Enough to find the foot of a squeeze's rise before the onset first placed.
            backtrack_s = backtrack_s.max(2.0 * FOOT_BEFORE_S);
        }
        let level_len = ((LEVEL_WINDOW_S * thinned_rate).round() as usize).max(1);
        ChannelDetector {
            cfg: cfg.clone(),
            channel,
            level_len,
            role,
            rate_hz,
            start_time_s,
            delay_s,
            index: 0,
            phase: Phase::Calibrating,
            stats_step,
            calibration: Vec::new(),
            calibration_start,
            calibration_end,
            replay: Vec::new(),
            replay_from: calibration_end.saturating_sub(samples(MAX_REPLAY_S)),
            decided_floor: 0,
            replaying: false,
            rest_mean: 0.0,
            rest_sd: 0.0,
            rest_p99_rise: 0.0,
            on_threshold: f64::INFINITY,
            bump_threshold: f64::INFINITY,
            bump_hold: samples(BUMP_HOLD_S).max(1),
            pending_bumped: false,
            off_threshold: f64::INFINITY,
            tracker: RestTracker::new(
                kind,
                thinned_rate,
                stats_step,
                window_s.max(rest::SEGMENT_S),
            ),
            rest_countdown: stats_step,
            guard_until: 0,
            low_since: None,
            low_values: Vec::new(),
            recover_samples: samples(RECOVER_PRESSURE_S).max(1),
            settling: false,
            above_since: None,
            settle_until: 0,
            below_since: None,
            below_rel_since: None,
            above_rel_since: None,
            touched_rest: None,
            last_offset: None,
            rest_low: VecDeque::new(),
            recent: RecentRing::new(samples(backtrack_s).max(1)),
            onset_hold: samples(cfg.onset_hold_ms / 1000.0).max(1),
            offset_hold: samples(cfg.offset_hold_ms / 1000.0).max(1),
            active: None,
            report: RestReport::default(),
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// Rest mean and SD in force, once calibrated.
    pub fn rest(&self) -> Option<(f64, f64)> {
        (self.phase != Phase::Calibrating).then_some((self.rest_mean, self.rest_sd))
    }

    /// Onset and offset thresholds in force, once calibrated.
    pub fn thresholds(&self) -> Option<(f64, f64)> {
        (self.phase != Phase::Calibrating).then_some((self.on_threshold, self.off_threshold))
    }

    /// Which rest was used and why.
    pub fn rest_report(&self) -> &RestReport {
        &self.report
    }

    /// Device-clock time of sample `index`.
    fn time_s(&self, index: u64) -> f64 {
        self.start_time_s + index as f64 / self.rate_hz
    }

    /// Time of the next sample to come: everything before it has been seen.
    pub fn frontier_s(&self) -> f64 {
        self.time_s(self.index)
    }

    /// Index of the first sample whose device time is at or after `t_s` (by the same formula as
    /// every reported time); `u64::MAX` when no sample is.
    pub fn first_index_at(&self, t_s: f64) -> u64 {
        let x = ((t_s - self.start_time_s) * self.rate_hz).ceil();
        if x.is_nan() || x >= (u64::MAX / 4) as f64 {
            return u64::MAX;
        }
        let mut k = x.max(0.0) as u64;
        // The division in `time_s` may round the other way than the product above.
        while k > 0 && self.time_s(k - 1) >= t_s {
            k -= 1;
        }
        while self.time_s(k) < t_s {
            k += 1;
        }
        k
    }

    /// Jump over lost samples: indices advance without data; a contraction in progress goes on.
    pub fn skip_to(&mut self, index: u64) {
        if index > self.index {
            self.index = index;
            self.above_since = None;
            self.low_since = None;
            self.low_values.clear();
            self.tracker.interrupt();
            self.recent.first = index;
        }
    }

    fn is_pressure(&self) -> bool {
        self.role == Role::Pressure
    }

    /// Rise above rest that confirms an onset.
    fn onset_rise(&self) -> f64 {
        let floor = if self.is_pressure() {
            self.cfg
                .pressure_min_rise
                .max(self.cfg.pressure_min_rel * self.rest_mean.abs())
        } else {
            self.cfg.onset_min_rel * self.rest_mean.abs()
        };
        (self.cfg.onset_k * self.rest_sd).max(floor)
    }

    /// Rise above rest that confirms an onset after the usual hold: EMG rest with regular bumps
    /// (ECG bleeding through on the abdominal channel) needs [`BUMP_HOLD_S`] under it.
    fn bump_rise(&self) -> f64 {
        let rise = self.onset_rise();
        if self.is_pressure() {
            rise
        } else {
            rise.max(self.cfg.rest_p99_margin * self.rest_p99_rise)
        }
    }

    /// Puts rest estimate `e` in force, from sample `from` on (for the report's lines).
    fn set_rest(&mut self, e: rest::RestEstimate, from: u64) {
        self.rest_mean = e.mean;
        // A perfectly constant rest (a synthetic or saturated channel) still needs a spread.
        self.rest_sd = e.sd.max(1e-6 * e.mean.abs()).max(1e-12);
        self.rest_p99_rise = e.p99_rise;
        let rise = self.onset_rise();
        self.on_threshold = self.rest_mean + rise;
        self.bump_threshold = self.rest_mean + self.bump_rise();
        let ratio = if self.cfg.onset_k > 0.0 {
            (self.cfg.offset_k / self.cfg.onset_k).clamp(0.0, 1.0)
        } else {
            1.0
        };
        self.off_threshold = self.rest_mean + rise * ratio;
        self.note_rest_level(rise, from);
    }

    /// The rest just estimated again is in force from sample `from` on (the end of the step
    /// that moved it), before the moment it could be estimated.
    fn rest_in_force_from(&mut self, from: u64) {
        let t = self.time_s(from) - self.delay_s;
        let levels = &mut self.report.levels;
        let Some(mut last) = levels.pop() else {
            return;
        };
        while levels.last().is_some_and(|l| l.from_s >= t) {
            levels.pop();
        }
        last.from_s = last.from_s.min(t);
        levels.push(last);
    }

    /// Keeps the rest and onset threshold now in force in [`RestReport::levels`].
    fn note_rest_level(&mut self, rise: f64, from: u64) {
        let level = RestLevel {
            from_s: self.time_s(from) - self.delay_s,
            rest: self.rest_mean,
            onset_threshold: self.on_threshold,
        };
        let levels = &mut self.report.levels;
        // A replay estimates rest again from an earlier moment: what followed is superseded.
        while levels.last().is_some_and(|l| l.from_s > level.from_s) {
            levels.pop();
        }
        let step = REST_LEVEL_STEP * rise;
        match levels.last_mut() {
            Some(last)
                if (last.rest - level.rest).abs() < step
                    && (last.onset_threshold - level.onset_threshold).abs() < step => {}
            Some(last) if (last.from_s - level.from_s).abs() < 1e-9 => *last = level,
            _ => levels.push(level),
        }
    }

    fn span_s(&self, s: &Segment) -> [f64; 2] {
        [self.time_s(s.start_index), self.time_s(s.end_index)]
    }

    fn finish_calibration(&mut self, out: &mut Vec<DetectorOutput>) {
        let values = std::mem::take(&mut self.calibration);
        let segments = rest::segments_of(
            &values,
            self.calibration_start,
            self.stats_step,
            self.tracker.segment_len(),
        );
        self.report.calibration_s = [
            self.time_s(self.calibration_start),
            self.time_s(self.calibration_end),
        ];
        // First the quietest fifth of the segments; then every segment below the offset
        // threshold they give is rest, the others held activity.
        let Some(first) = rest::estimate_at(RestKind::Envelope, &segments, CALIBRATION_QUIET_SHARE)
        else {
            self.phase = Phase::Rest;
            self.report.note = "no signal in the calibration span".into();
            return;
        };
        self.set_rest(first, self.index);
        let (quiet, busy): (Vec<Segment>, Vec<Segment>) = segments
            .iter()
            .partition(|s| s.median <= self.off_threshold);
        if let Some(e) = rest::estimate(self.tracker.kind(), &quiet) {
            self.set_rest(e, self.index);
        }
        for s in &quiet {
            self.tracker.add_segment(*s);
        }
        self.report.used_s = merge_spans(quiet.iter().map(|s| self.span_s(s)));
        self.report.excluded_s = merge_spans(busy.iter().map(|s| self.span_s(s)));
        self.report.clean = quiet.len() * 2 >= segments.len();
        let [from, to] = self.report.calibration_s;
        self.report.note = if busy.is_empty() {
            format!("rest from the calibration span {from:.1}–{to:.1} s, all quiet")
        } else {
            let spans: Vec<String> = self
                .report
                .excluded_s
                .iter()
                .map(|[a, b]| format!("{a:.1}–{b:.1} s"))
                .collect();
            format!(
                "rest from the quiet {:.1} s of the calibration span {from:.1}–{to:.1} s; activity at {} left out{}",
                quiet.len() as f64 * rest::SEGMENT_S,
                spans.join(", "),
                if self.report.clean {
                    ""
                } else {
                    " (under half of the span was quiet: no clean rest; rest keeps being estimated from the signal)"
                }
            )
        };
        self.phase = Phase::Rest;
        self.replay_calibration(out);
    }

    /// Run what came before the end of the calibration through the detector, now that rest is
    /// known. Its outputs are decided now, not back then.
    fn replay_calibration(&mut self, out: &mut Vec<DetectorOutput>) {
        for (first, values) in std::mem::take(&mut self.replay) {
            self.replay_values(first, &values, out);
        }
    }

    /// Run `values` (samples `first…`, up to the newest) through the detector again, with the
    /// rest now in force; the rest is not re-estimated from them. Outputs are decided now.
    fn replay_values(&mut self, first: u64, values: &[f64], out: &mut Vec<DetectorOutput>) {
        let next = self.index;
        self.decided_floor = self.decided_floor.max(next.saturating_sub(1));
        let was_replaying = std::mem::replace(&mut self.replaying, true);
        let first_held = self.recent.first;
        self.recent.first = first;
        self.above_since = None;
        for (k, &e) in values.iter().enumerate() {
            let idx = first + k as u64;
            self.recent.put(idx, e);
            match self.phase {
                Phase::Active => self.step_active(idx, e, out),
                _ => self.step_rest(idx, e, out),
            }
        }
        self.replaying = was_replaying;
        self.recent.first = first_held.max(self.recent.first);
        self.index = next;
    }

    /// Process a block of envelope values that starts at sample `start_index`; outputs are
    /// appended to `out` in time order.
    pub fn process(&mut self, start_index: u64, envelope: &[f64], out: &mut Vec<DetectorOutput>) {
        self.skip_to(start_index);
        let mut i = 0;
        while let Some(&e) = envelope.get(i) {
            let quiet = match self.phase {
                Phase::Rest => self.quiet_rest(&envelope[i..]),
                Phase::Active => self.quiet_emg_activity(&envelope[i..]),
                Phase::Calibrating => 0,
            };
            if quiet > 0 {
                i += quiet;
                continue;
            }
            self.step(e, out);
            i += 1;
        }
    }

    /// During an EMG contraction, the samples from the start of `envelope` that change nothing
    /// but the clock and the peak (none below an offset level, none at which a thinned value is
    /// taken) are taken at once, as [`Self::step`] would take them one by one. Returns how many.
    fn quiet_emg_activity(&mut self, envelope: &[f64]) -> usize {
        if self.is_pressure() {
            return 0;
        }
        let relative = self.relative_offset_level();
        let Some(a) = self.active.as_mut() else {
            return 0;
        };
        // The sample at which the countdown runs out takes a thinned value: not in the run.
        let most = envelope
            .len()
            .min(a.thin_countdown.saturating_sub(1) as usize);
        // Below either level starts (or continues) an offset: not in the run. (NaN is below
        // neither, as in `step_active`.)
        let floor = relative.map_or(self.off_threshold, |r| r.max(self.off_threshold));
        let run = &envelope[..most];
        let n = run.iter().position(|&e| e < floor).unwrap_or(most);
        if n == 0 {
            return 0;
        }
        self.recent.put_run(self.index, &run[..n]);
        for (k, &e) in run[..n].iter().enumerate() {
            if e > a.peak {
                a.peak = e;
                a.peak_index = self.index + k as u64;
            }
        }
        a.thin_countdown -= n as u64;
        self.above_relative_level(self.index, n as u64);
        self.index += n as u64;
        self.below_since = None;
        n
    }

    /// EMG: `n` samples from `first` on at or above the relative offset level (or with no such
    /// level yet). Back above it for the offset hold, the second below it starts again.
    fn above_relative_level(&mut self, first: u64, n: u64) {
        let since = *self.above_rel_since.get_or_insert(first);
        if first + n - since >= self.offset_hold {
            self.below_rel_since = None;
        }
    }

    /// At rest, the samples from the start of `envelope` that change nothing but the clock (none
    /// above the onset threshold, none at which a rest value is taken) are taken at once, as
    /// [`Self::step`] would take them one by one. Returns how many (0: take the next one alone).
    fn quiet_rest(&mut self, envelope: &[f64]) -> usize {
        // Pressure (a few hundred samples a second) is stepped one by one: its onset also
        // looks at the last second's lowest value.
        if self.settling || self.is_pressure() {
            return 0;
        }
        // The sample at which the countdown runs out takes a rest value: not in the run.
        let most = if self.replaying {
            envelope.len()
        } else {
            envelope
                .len()
                .min(self.rest_countdown.saturating_sub(1) as usize)
        };
        let threshold = self.on_threshold;
        let run = &envelope[..most];
        let n = run.iter().position(|&e| e > threshold).unwrap_or(most);
        if n == 0 {
            return 0;
        }
        self.recent.put_run(self.index, &run[..n]);
        self.index += n as u64;
        self.above_since = None;
        if !self.replaying {
            self.rest_countdown -= n as u64;
        }
        n
    }

    #[inline]
    fn step(&mut self, e: f64, out: &mut Vec<DetectorOutput>) {
        let idx = self.index;
        self.index += 1;
        self.recent.put(idx, e);
        match self.phase {
            Phase::Calibrating => {
                if idx >= self.replay_from {
                    match self.replay.last_mut() {
                        Some((first, v)) if *first + v.len() as u64 == idx => v.push(e),
                        _ => self.replay.push((idx, vec![e])),
                    }
                }
                if idx >= self.calibration_start
                    && (idx - self.calibration_start) % self.stats_step == 0
                {
                    self.calibration.push(e);
                }
                if idx + 1 >= self.calibration_end {
                    self.finish_calibration(out);
                }
            }
            Phase::Rest => self.step_rest(idx, e, out),
            Phase::Active => self.step_active(idx, e, out),
        }
    }

    fn step_rest(&mut self, idx: u64, e: f64, out: &mut Vec<DetectorOutput>) {
        if idx < self.settle_until {
            // The conditioning is still settling (filter start, mains being learnt).
            self.above_since = None;
            return;
        }
        let risen = self.is_pressure() && self.risen_from_low(idx, e).is_some();
        if self.settling && self.settle(idx, e) {
            return;
        }
        if e > self.on_threshold || risen {
            let since = *self.above_since.get_or_insert(idx);
            let bumped = risen || e > self.bump_threshold;
            self.pending_bumped = bumped || (self.pending_bumped && since < idx);
            let held = idx + 1 - since;
            if held >= self.onset_hold && (self.pending_bumped || held >= self.bump_hold) {
                self.pending_bumped = false;
                self.confirm_onset(idx, since, out);
                return;
            }
            if bumped {
                return;
            }
            // Within the bumps' band: rest for the statistics until it holds.
        } else {
            self.above_since = None;
        }
        if self.replaying {
            return;
        }
        self.rest_countdown -= 1;
        if self.rest_countdown > 0 {
            return;
        }
        self.rest_countdown = self.stats_step;
        // Pressure clearly below its baseline for a while (creep, a probe slipping down): the
        // baseline starts again from the lower level. (An EMG rest that was too high needs no
        // such rule: the quiet segments soon make up the tracker's lower 40 %.)
        if self.is_pressure() && e < self.rest_mean - self.onset_rise() {
            let since = *self.low_since.get_or_insert(idx);
            self.low_values.push(e);
            if idx + 1 - since >= self.recover_samples {
                self.restart_rest(
                    since,
                    idx,
                    "the pressure stayed below its baseline (creep or a probe slip)",
                    self.rest_mean,
                );
            }
            return;
        }
        self.low_since = None;
        self.low_values.clear();
        if idx >= self.guard_until && self.cfg.rest_window_s > 0.0 && self.tracker.push(idx, e) {
            if let Some(est) = self.tracker.estimate() {
                self.set_rest(est, idx);
            }
        }
    }

    /// Pressure at rest: takes `e` into the last [`LOCAL_RISE_S`] and returns its lowest value
    /// when `e` stands more than an onset rise above it.
    fn risen_from_low(&mut self, idx: u64, e: f64) -> Option<f64> {
        let span = (LOCAL_RISE_S * self.rate_hz).round() as u64;
        while self.rest_low.back().is_some_and(|&(_, v)| v >= e) {
            self.rest_low.pop_back();
        }
        self.rest_low.push_back((idx, e));
        while self.rest_low.front().is_some_and(|&(i, _)| i + span <= idx) {
            self.rest_low.pop_front();
        }
        let low = self.rest_low.front().map(|&(_, v)| v)?;
        (e - low > self.onset_rise()).then_some(low)
    }

    /// Start the rest estimate again from the thinned values held in `low_values` (taken from
    /// sample `since` on).
    /// `from_mean`: the rest in force before (the report's "from").
    fn restart_rest(&mut self, since: u64, idx: u64, reason: &str, from_mean: f64) {
        let values = std::mem::take(&mut self.low_values);
        self.low_since = None;
        self.tracker.restart();
        for s in rest::segments_of(&values, since, self.stats_step, self.tracker.segment_len()) {
            self.tracker.add_segment(s);
        }
        if let Some(est) = self.tracker.estimate() {
            self.set_rest(est, since);
        }
        let at_s = self.time_s(idx);
        self.report.changes.push(RestChange {
            at_s,
            from_mean,
            to_mean: self.rest_mean,
            reason: reason.to_string(),
        });
        // A replay can re-estimate rest at a moment before the last change: keep time order.
        self.report
            .changes
            .sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    }

    /// Where the activity that crossed the onset threshold at `since` began.
    fn onset_index(&self, idx: u64, since: u64) -> PlacedOnset {
        // "Left rest" is tied to the onset rise as well: on a very quiet rest σ₀ is smaller than
        // the envelope's own noise, which would carry the onset back through it.
        let margin = (BACKTRACK_K * self.rest_sd).max(self.onset_rise() / 6.0);
        // Pressure is smooth: also stop where it stops rising, so a breathing swell before the
        // squeeze is not taken as part of it. An EMG envelope is too rough for that rule.
        let smooth = self.is_pressure();
        // An envelope that has not been near rest for this long before the crossing was not
        // at rest: the onset is not carried back through rest noise further than this.
        let reach = if smooth {
            u64::MAX
        } else {
            (EMG_BACKTRACK_MAX_S * self.rate_hz).round() as u64
        };
        let left_rest = self.rest_mean + margin;
        let (onset, found) = self.walk_back(idx, since, left_rest, reach, smooth);
        if smooth {
            return self.placed_at(onset);
        }
        if found {
            return self.carried_back_along_rise(idx, onset, left_rest);
        }
        // The EMG envelope stayed above "left rest" for the whole reach. Either the activity
        // rose slowly (a weak squeeze's ramp: the envelope was at rest before the reach, and the
        // onset stays at the reach), or the rest it rose from sat higher than the rest in force
        // (a quiet rest's floor drifts by tens of per cent between estimates) and the walk went
        // through that rest's noise. Then "near rest" is the level the envelope held before the
        // reach (the lower fifth of its values there), plus the same margin.
        let low = self.held_level(idx, since.saturating_sub(reach));
        if low.is_nan() || low <= self.rest_mean + margin {
            return self.placed_at(onset);
        }
        self.placed_at(self.walk_back(idx, since, low + margin, reach, false).0)
    }

    /// An onset where the trace left rest, with the conditioning's delay as its lag.
    fn placed_at(&self, left: u64) -> PlacedOnset {
        PlacedOnset {
            index: left,
            lag_s: self.delay_s,
            left,
        }
    }

    /// EMG: the onset of a rise that left rest (crossed `left_rest` upwards) just before sample
    /// `left` and is confirmed at `idx`.
    ///
    /// A voluntary contraction's amplitude grows from zero over 0.1–0.4 s, and the part of it
    /// still under the rest's noise does not show: where the envelope leaves rest is some way
    /// into the rise, the further the slower the rise. So the onset is carried back along the
    /// rise: the excess amplitude over rest, √(envelope² − rest²), is followed on its line back
    /// to zero (at most [`EMG_RISE_CARRY_MAX_S`], never before the last contraction's end or
    /// the envelope held). The line goes through where the envelope crossed `left_rest` (placed
    /// between samples) and where it stood [`EMG_RISE_SPAN_S`] later, or at the confirmation
    /// when it had not grown by then: fixed points of the rise, so that the onset moves
    /// smoothly with the signal and does not depend on whether the envelope dipped under the
    /// onset threshold during the hold (a signal quantised a little differently, an EDF export
    /// read back, gives the same onset). A step reaches its level within the RMS window, so its
    /// line is steep and the onset stays near where it left rest.
    ///
    /// The lag subtracted is the envelope's lag behind that rise: half the RMS window for a rise
    /// slower than the window, less for a faster one ([`EMG_LAG_PER_CARRY`]). An envelope that
    /// hardly grew, or hovered and then jumped, keeps the onset where it left rest, half a
    /// window back.
    fn carried_back_along_rise(&self, idx: u64, left: u64, left_rest: f64) -> PlacedOnset {
        let rest = self.rest_mean;
        let excess = |v: f64| (v * v - rest * rest).max(0.0).sqrt();
        let Some(at_idx) = self.recent.get(idx, idx) else {
            return self.placed_at(left);
        };
        let (e_left, e_idx) = (excess(left_rest), excess(at_idx));
        let grew = e_idx > EMG_RISE_MIN_GROWTH * e_left; // false for NaN
        if idx <= left || !grew {
            return self.placed_at(left);
        }
        // A rise climbs all the way; an envelope that hovered after leaving rest and then
        // jumped (a cough after a restless rest) has no line to follow back.
        let climbed = match self.recent.get(left + (idx - left) / 2, idx) {
            Some(v) => excess(v) >= e_left + EMG_RISE_MIDWAY_SHARE * (e_idx - e_left),
            None => false,
        };
        if !climbed {
            return self.placed_at(left);
        }
        // Where the envelope crossed `left_rest`, in samples (from the sample before `left`,
        // which was at or under it).
        let crossed = match (left.checked_sub(1), self.recent.get(left, idx)) {
            (Some(before), Some(v)) => match self.recent.get(before, idx) {
                Some(u) if v > u => left as f64 - ((v - left_rest) / (v - u)).clamp(0.0, 1.0),
                _ => left as f64,
            },
            _ => left as f64,
        };
        // The line's second point.
        let later = left + (EMG_RISE_SPAN_S * self.rate_hz).round() as u64;
        let (t2, e2) = match self.recent.get(later, idx).map(excess) {
            Some(e) if later < idx && e > EMG_RISE_MIN_GROWTH * e_left => (later as f64, e),
            _ => (idx as f64, e_idx),
        };
        let carry =
            ((t2 - crossed) * e_left / (e2 - e_left)).min(EMG_RISE_CARRY_MAX_S * self.rate_hz);
        let earliest = self
            .recent
            .oldest(idx)
            .max(self.last_offset.map_or(0, |end| end + 1));
        let onset = (crossed - carry).max(earliest as f64).min(left as f64);
        let carried_s = (crossed - onset) / self.rate_hz;
        PlacedOnset {
            index: onset.round() as u64,
            lag_s: self.delay_s.min(EMG_LAG_PER_CARRY * carried_s),
            left,
        }
    }

    /// EMG: the level the envelope held in the [`EMG_HELD_REST_S`] before sample `before` (the
    /// lower fifth of what is still held of it); NaN for pressure or when nothing is held.
    fn held_level(&self, idx: u64, before: u64) -> f64 {
        if self.is_pressure() {
            return f64::NAN;
        }
        let span = (EMG_HELD_REST_S * self.rate_hz).round() as u64;
        let mut held: Vec<f64> = self
            .recent
            .newest_first(idx)
            .filter(|&(i, _)| i < before && before - i <= span)
            .map(|(_, v)| v)
            .collect();
        if held.is_empty() {
            return f64::NAN;
        }
        let k = held.len() / 5;
        *held.select_nth_unstable_by(k, f64::total_cmp).1
    }

    /// Walks back from the crossing at `since` while the signal stays above `threshold` (and,
    /// `smooth`, while it falls going back), at most `reach` samples. Returns the first sample
    /// of the walk's run and whether it ended at the threshold (not at the reach).
    fn walk_back(
        &self,
        idx: u64,
        since: u64,
        threshold: f64,
        reach: u64,
        smooth: bool,
    ) -> (u64, bool) {
        let mut onset = since;
        let mut later = f64::INFINITY;
        for (i, v) in self.recent.newest_first(idx) {
            if since.saturating_sub(i) > reach {
                return (onset, false);
            }
            if i >= since {
                later = v;
                continue;
            }
            if v <= threshold || (smooth && v > later) {
                return (onset, true);
            }
            onset = i;
            later = v;
        }
        // The held signal ends (the stream's start): as far back as it goes.
        (onset, true)
    }

    fn confirm_onset(&mut self, idx: u64, since: u64, out: &mut Vec<DetectorOutput>) {
        let placed = self.onset_index(idx, since);
        let (onset_index, onset_lag_s) = (placed.index, placed.lag_s);
        let mut active = Active {
            onset_index,
            onset_lag_s,
            left_index: placed.left,
            peak: f64::NEG_INFINITY,
            peak_index: onset_index,
            thinned: Vec::new(),
            before: Vec::new(),
            raw: Vec::new(),
            thin_countdown: 0,
            baseline: if self.is_pressure() {
                self.rest_mean
            } else {
                0.0
            },
            minq: VecDeque::new(),
            level: f64::NEG_INFINITY,
            levels: VecDeque::new(),
            next_check_s: SLIP_DECIDE_S,
            // Before where the trace left rest: the rise carried back from there is rest noise.
            pre_level: self.held_level(idx, placed.left),
        };
        // A pressure squeeze that rose from a breath's trough without reaching the onset
        // threshold: its baseline is that trough (and its offset floor is set from it).
        let at = self.recent.get(idx, idx).unwrap_or(f64::NAN);
        if self.is_pressure() && at <= self.on_threshold {
            if let Some(&(_, low)) = self.rest_low.front() {
                active.baseline = low.min(self.rest_mean);
            }
        }
        self.rest_low.clear();
        let level_len = self.level_len();
        let held: Vec<(u64, f64)> = self
            .recent
            .newest_first(idx)
            .take_while(|&(i, _)| i >= onset_index)
            .collect();
        if self.is_pressure() {
            active.raw = held.iter().rev().map(|&(_, v)| v).collect();
        }
        for &(i, v) in held.iter().rev() {
            if v > active.peak {
                active.peak = v;
                active.peak_index = i;
            }
            if (i - onset_index) % self.stats_step == 0 {
                active.push_thinned(v, level_len);
            }
        }
        // The next thinned sample: `stats_step` after the last one taken.
        active.thin_countdown = self.stats_step - (idx - onset_index) % self.stats_step;
        if self.is_pressure() {
            let most = (FOOT_BEFORE_S * self.rate_hz / self.stats_step as f64).ceil() as u64;
            active.before = (1..=most)
                .map_while(|k| {
                    let i = onset_index.checked_sub(k * self.stats_step)?;
                    if self.last_offset.is_some_and(|end| i <= end) {
                        return None;
                    }
                    self.recent.get(i, idx)
                })
                .collect();
            active.before.reverse();
        }
        self.active = Some(active);
        self.above_since = None;
        self.below_since = None;
        self.touched_rest = None;
        self.below_rel_since = None;
        self.above_rel_since = None;
        self.low_since = None;
        self.low_values.clear();
        self.tracker.interrupt();
        self.phase = Phase::Active;
        out.push(DetectorOutput::Onset(OnsetNotice {
            channel: self.channel,
            role: self.role,
            onset_s: self.time_s(onset_index) - onset_lag_s,
            decided_at_s: self.time_s(idx.max(self.decided_floor)),
        }));
    }

    /// Thinned values in the level's moving minimum (computed once: this is asked per sample).
    fn level_len(&self) -> usize {
        self.level_len
    }

    /// Back within `offset_fraction` of the episode's own level from rest (`None` before the
    /// level is known). For pressure the offset level is the higher of this and the offset
    /// threshold (a baseline that moved during a squeeze cannot keep it going into the next
    /// one); for EMG it ends a contraction only after `RELATIVE_OFFSET_HOLD_S`.
    fn relative_offset_level(&self) -> Option<f64> {
        let a = self.active.as_ref()?;
        let rest = if self.is_pressure() {
            a.baseline
        } else {
            self.rest_mean
        };
        a.level
            .is_finite()
            .then_some(rest + self.cfg.offset_fraction * (a.level - rest))
    }

    fn step_active(&mut self, idx: u64, e: f64, out: &mut Vec<DetectorOutput>) {
        let step = self.stats_step;
        let level_len = self.level_len();
        let mut thinned = false;
        let pressure = self.is_pressure();
        if let Some(a) = self.active.as_mut() {
            if e > a.peak {
                a.peak = e;
                a.peak_index = idx;
            }
            if pressure {
                a.raw.push(e);
            }
            a.thin_countdown -= 1;
            if a.thin_countdown == 0 {
                a.thin_countdown = step;
                a.push_thinned(e, level_len);
                thinned = true;
            }
        }
        if thinned
            && self.is_pressure()
            && (self.check_slip(idx, out) || self.check_squeeze_on_top(idx, out))
        {
            return;
        }
        if thinned && pressure {
            if let Some(since) = self.released_onto_moved_rest(idx) {
                self.end_contraction(since, idx, out);
                return;
            }
        }
        let relative = self.relative_offset_level();
        // The offset threshold stands as far above a pressure episode's own baseline (a
        // breath's trough it rose from) as above the rest. The rest does not move during an
        // episode, so this is the offset threshold itself for one that rose from the rest.
        let off_floor = match self.active.as_ref() {
            Some(a) if pressure => self.off_threshold - (self.rest_mean - a.baseline),
            _ => self.off_threshold,
        };
        let offset_level = match relative {
            Some(rel) if pressure => off_floor.max(rel),
            _ => off_floor,
        };
        if e < offset_level {
            let since = *self.below_since.get_or_insert(idx);
            let below = idx + 1 - since;
            // Pressure: a breath's trough takes a weak squeeze (level within
            // [`BREATH_REACH_SD`] rest SDs of its offset level) under that level for a moment
            // without the patient letting go. Back near the baseline (1 rest SD, which holds
            // breathing) is a release after the offset hold; above it, only after
            // [`PRESSURE_RELEASE_HOLD_S`].
            let released = match self.active.as_ref() {
                Some(a) if pressure && a.level - offset_level < BREATH_REACH_SD * self.rest_sd => {
                    if e <= a.baseline + BACKTRACK_K * self.rest_sd {
                        self.touched_rest = Some(idx);
                    }
                    self.touched_rest.is_some_and(|t| t >= since)
                        || below as f64 >= PRESSURE_RELEASE_HOLD_S * self.rate_hz
                }
                _ => true,
            };
            if below >= self.offset_hold && released {
                self.end_contraction(since, idx, out);
                return;
            }
        } else {
            self.below_since = None;
        }
        if !self.is_pressure() {
            // EMG whose rest rose during the contraction: back near rest but above the offset
            // threshold for a second ends it where it came down. The envelope's own noise on
            // that risen rest pokes over the level for a moment; only a return above it for the
            // offset hold starts the second again.
            match relative {
                Some(rel) if e < rel => {
                    self.above_rel_since = None;
                    let since = *self.below_rel_since.get_or_insert(idx);
                    if (idx + 1 - since) as f64 >= RELATIVE_OFFSET_HOLD_S * self.rate_hz {
                        self.end_contraction(since, idx, out);
                    }
                }
                _ => self.above_relative_level(idx, 1),
            }
        }
    }

    /// Pressure: decide every second from `SLIP_DECIDE_S` after the onset on whether the
    /// episode is a probe slip ([`slip_step`]) or the resting tone moving (still small), or end
    /// an episode that has lasted `pressure_max_active_s` (the rest moved). Either becomes the
    /// new rest; returns true then.
    fn check_slip(&mut self, idx: u64, out: &mut Vec<DetectorOutput>) -> bool {
        let dt = self.stats_step as f64 / self.rate_hz;
        let onset_rise = self.onset_rise();
        let Some(a) = self.active.as_mut() else {
            return false;
        };
        let age_s = a.thinned.len() as f64 * dt;
        let too_long = age_s >= self.cfg.pressure_max_active_s;
        if !too_long && age_s < a.next_check_s {
            return false;
        }
        a.next_check_s += 1.0;
        // The level over the last second and the rise to it.
        let tail = ((1.0 / dt).round() as usize).clamp(1, a.thinned.len());
        let last: Vec<f64> = a.thinned[a.thinned.len() - tail..].to_vec();
        let rise = upper_median(&last).unwrap_or(f64::NAN) - a.baseline;
        let step = slip_step(
            &a.thinned,
            a.baseline,
            dt,
            self.cfg.pressure_min_rise,
            self.rest_sd,
        );
        let slip = step.is_some();
        // A rise that stayed small for that long is the resting tone moving, not a squeeze.
        let small = rise < LOW_EPISODE_RISES * onset_rise;
        if !(slip || small || too_long) {
            return false;
        }
        let Some(a) = self.active.take() else {
            return false;
        };
        self.report.slips += usize::from(slip);
        let since = (idx + 1).saturating_sub(last.len() as u64 * self.stats_step);
        let reason = if slip {
            "the pressure stepped up faster than a squeeze and stayed (a probe slip)"
        } else {
            "the pressure stayed above its baseline, too long or too little for a squeeze (the rest moved)"
        };
        // The rest moved: the step up to the new level is the artifact, and what came after
        // it (squeezes on top of a slipped probe) is analysed again against the new rest. An
        // episode that only lasted too long stays what it was.
        let moved = if slip || small {
            let reached = match step {
                Some(reached) => reached,
                None => a
                    .thinned
                    .iter()
                    .position(|&v| v >= a.baseline + 0.9 * rise)
                    .unwrap_or(a.thinned.len()),
            };
            let step_end =
                a.onset_index + reached.min(a.thinned.len() - 1) as u64 * self.stats_step;
            Some((step_end, step_end + 1))
        } else {
            None
        };
        self.end_as_moved_rest(a, moved, (since, last), idx, reason, out);
        true
    }

    /// Ends episode `a` because the rest moved under it, at sample `idx`. With `moved` =
    /// `(step_end, replay_from)` the episode up to `step_end` is an artifact and its samples
    /// from `replay_from` on are analysed again against the new rest; without, the episode is
    /// kept whole as it was. Rest starts again from `rest` (first sample, thinned values).
    fn end_as_moved_rest(
        &mut self,
        mut a: Active,
        moved: Option<(u64, u64)>,
        rest: (u64, Vec<f64>),
        idx: u64,
        reason: &str,
        out: &mut Vec<DetectorOutput>,
    ) {
        let raw = std::mem::take(&mut a.raw);
        let after = moved
            .and_then(|(_, from)| raw.get(from.checked_sub(a.onset_index)? as usize..))
            .map(<[f64]>::to_vec)
            .unwrap_or_default();
        let mut ev = self.measure(a, moved.map_or(idx, |(end, _)| end), idx);
        if moved.is_some() {
            ev.kind = EventKind::Artifact;
        }
        out.push(DetectorOutput::Event(ev));
        self.phase = Phase::Rest;
        self.below_since = None;
        let from_mean = self.rest_mean;
        self.tracker.restart();
        let (since, values) = rest;
        self.low_values = values;
        self.restart_rest(since, idx, reason, from_mean);
        if let Some((end, _)) = moved {
            self.rest_in_force_from(end);
        }
        if !after.is_empty() {
            self.settling = false;
            self.replay_values(idx + 1 - after.len() as u64, &after, out);
        }
    }

    /// Pressure: a squeeze that rises on top of a long episode whose level had stayed up (the
    /// resting tone rose, or the probe moved, and later the patient squeezed). The episode up to
    /// the foot of the new rise is the rest that moved (an artifact); rest starts again from
    /// its last seconds, and the rise is analysed against it. Returns true then.
    fn check_squeeze_on_top(&mut self, idx: u64, out: &mut Vec<DetectorOutput>) -> bool {
        let step = self.stats_step;
        let dt = step as f64 / self.rate_hz;
        let lag = ((1.0 / dt).round() as usize).max(1);
        let onset_rise = self.onset_rise();
        let keep = ((self.cfg.pressure_baseline_s / dt).round() as usize).max(1);
        let Some(a) = self.active.as_mut() else {
            return false;
        };
        a.levels.push_back(a.level);
        if a.levels.len() > lag + 1 {
            a.levels.pop_front();
        }
        let n = a.thinned.len();
        if (n as f64) * dt < SLIP_DECIDE_S {
            return false;
        }
        let (Some(&before), Some(&(_, now))) = (a.levels.front(), a.minq.front()) else {
            return false;
        };
        if !(before.is_finite() && now - before >= ON_TOP_RISES * onset_rise) {
            return false;
        }
        // The foot of the new rise: after the last value, within 2 s, at the level before.
        let first = (n - 1).saturating_sub(((2.0 / dt).round() as usize).max(1));
        let foot = (first..n)
            .rev()
            .find(|&j| a.thinned[j] <= before)
            .map_or(first, |j| j + 1);
        let foot_index = a.onset_index + foot as u64 * step;
        let rest_values = a.thinned[foot.saturating_sub(keep)..foot].to_vec();
        let since = foot_index.saturating_sub(rest_values.len() as u64 * step);
        let Some(a) = self.active.take() else {
            return false;
        };
        self.end_as_moved_rest(
            a,
            Some((foot_index, foot_index)),
            (since, rest_values),
            idx,
            "the pressure had risen and stayed up (the rest moved), then a squeeze rose on top",
            out,
        );
        true
    }

    /// Pressure: a squeeze let go onto a rest that had moved up (a wandering resting tone, a
    /// rest first estimated in a dip) stays above its offset level. When the trace fell, within
    /// [`RELEASE_FALL_S`], by far more than breathing moves it (half the squeeze's rise, and two
    /// onset rises) from the episode's level and has been flat for [`SETTLE_FLAT_S`] since, the
    /// squeeze ended there: returns where the fall began. Settling then takes the flat level as
    /// the rest that moved.
    fn released_onto_moved_rest(&self, idx: u64) -> Option<u64> {
        let a = self.active.as_ref()?;
        let flat_n = (SETTLE_FLAT_S * self.rate_hz).round().max(1.0) as u64;
        let fall_n = (RELEASE_FALL_S * self.rate_hz).round().max(1.0) as u64;
        if idx < a.onset_index + flat_n + fall_n {
            return None;
        }
        let (mut lo, mut hi, mut sum) = (f64::INFINITY, f64::NEG_INFINITY, 0.0);
        let mut fall: Option<(u64, f64)> = None;
        for (i, v) in self.recent.newest_first(idx) {
            let back = idx - i;
            if back < flat_n {
                lo = lo.min(v);
                hi = hi.max(v);
                sum += v;
            } else if back < flat_n + fall_n {
                if fall.map_or(true, |(_, m)| v > m) {
                    fall = Some((i, v));
                }
            } else {
                break;
            }
        }
        let onset_rise = self.onset_rise();
        if hi - lo > (0.5 * onset_rise).max(2.0 * self.rest_sd) {
            return None;
        }
        let flat = sum / flat_n as f64;
        let big = (0.5 * (a.level - a.baseline)).max(2.0 * onset_rise);
        let (from, top) = fall?;
        if a.level - flat < big || top - flat < big {
            return None;
        }
        // An episode that began with a probe slip is released back to the rest it stepped up
        // to (a squeeze on top of the slip): the slip decision takes it.
        let dt = self.stats_step as f64 / self.rate_hz;
        let slipped = slip_start(
            &a.thinned,
            a.baseline,
            dt,
            self.cfg.pressure_min_rise,
            self.rest_sd,
        );
        slipped.is_none().then_some(from)
    }

    fn end_contraction(&mut self, since: u64, idx: u64, out: &mut Vec<DetectorOutput>) {
        let Some(mut a) = self.active.take() else {
            return;
        };
        let offset_index = self.offset_index(&a, since, idx);
        self.last_offset = Some(offset_index);
        if self.is_pressure() {
            self.move_onset_to_foot(&mut a);
        } else {
            self.move_emg_onset_past_hover(&mut a);
        }
        self.phase = Phase::Rest;
        self.below_since = None;
        self.below_rel_since = None;
        self.guard_until = idx + (REBASELINE_GUARD_S * self.rate_hz) as u64;
        self.settling = true;
        self.low_values.clear();
        out.push(DetectorOutput::Event(self.measure(a, offset_index, idx)));
    }

    /// After a contraction: no new onset until the signal is back under the offset threshold
    /// (so breathing around the onset threshold cannot start one). When it stops falling above
    /// it, the rest moved under the contraction (a wandering or
    /// slipped pressure baseline, an EMG rest that rose): rest starts again from there.
    /// Returns true while settling.
    fn settle(&mut self, idx: u64, e: f64) -> bool {
        if e <= self.off_threshold {
            self.settling = false;
            self.low_values.clear();
            return false;
        }
        self.rest_countdown -= 1;
        if self.rest_countdown > 0 {
            return true;
        }
        self.rest_countdown = self.stats_step;
        self.low_values.push(e);
        let span =
            ((SETTLE_FLAT_S * self.rate_hz / self.stats_step as f64).round() as usize).max(2);
        let n = self.low_values.len();
        if n >= span {
            let last = &self.low_values[n - span..];
            let (lo, hi) = last
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
                    (l.min(v), h.max(v))
                });
            if hi - lo <= (0.5 * self.onset_rise()).max(2.0 * self.rest_sd) || n * 4 >= span * 20 {
                self.low_values.drain(..n - span);
                let since = (idx + 1).saturating_sub(span as u64 * self.stats_step);
                let reason = if self.is_pressure() {
                    "the pressure came down from a squeeze but not to its baseline (the rest moved)"
                } else {
                    "the signal came down from a contraction but not to rest (the rest rose)"
                };
                self.restart_rest(since, idx, reason, self.rest_mean);
                self.settling = false;
            }
        }
        true
    }

    /// Pressure: the squeeze began at the foot of its rise to the episode's level. A baseline
    /// that drifted up to the onset threshold crossed it before the squeeze (a wandering rest),
    /// and a weak squeeze's noisy rise can stop the walk back from the crossing too soon; so
    /// once the episode is over, the onset becomes the foot: walking back from where the trace
    /// first reached half of its rise to where the rise over [`FOOT_WINDOW_S`] falls under
    /// [`FOOT_SLOPE_SHARE`] of its steepest and under [`FOOT_REST_SHARE`] of the rest's SD, on
    /// through stalls that the trace rose to from well lower ([`FOOT_STALL_DROP`]). The
    /// live onset notice keeps the first estimate. Nothing moves when the foot is not found in
    /// the envelope held.
    fn move_onset_to_foot(&self, a: &mut Active) {
        let rise = a.level - a.baseline;
        if !rise.is_finite() || rise <= 0.0 {
            return;
        }
        let dt = self.stats_step as f64 / self.rate_hz;
        let w = ((FOOT_WINDOW_S / dt).round() as usize).max(1);
        let o = a.before.len();
        let series = |j: usize| {
            if j < o {
                a.before[j]
            } else {
                a.thinned[j - o]
            }
        };
        let len = o + a.thinned.len();
        let half_level = a.baseline + 0.5 * rise;
        let Some(half) = self.half_rise(len, o, &series, half_level) else {
            return;
        };
        let top = (half..len)
            .find(|&j| series(j) >= a.baseline + 0.9 * rise)
            .unwrap_or(len - 1);
        let slope = |j: usize| series(j) - series(j - w);
        let steepest = (w.max(half.saturating_sub(2 * w))..=top)
            .map(slope)
            .fold(f64::NEG_INFINITY, f64::max);
        if steepest.is_nan() || steepest <= 0.0 {
            return;
        }
        let flat = (FOOT_SLOPE_SHARE * steepest).max(FOOT_REST_SHARE * self.rest_sd);
        let stall = ((FOOT_STALL_S / dt).round() as usize).max(1);
        let mut j = half;
        loop {
            while j >= w && slope(j) > flat {
                j -= 1;
            }
            // A stall inside the rise: the trace was well lower just before it (by more than
            // the rest's own spread, which holds breathing).
            let lower = series(j) - (FOOT_STALL_DROP * rise).max(self.rest_sd);
            match (j.saturating_sub(stall).max(w)..j)
                .rev()
                .find(|&i| series(i) <= lower)
            {
                Some(i) => j = i,
                None => break,
            }
        }
        if j < w || j >= len {
            return;
        }
        self.realign(a, j);
    }

    /// Where the trace first reached `half_level` to stay (for the level's window, so a cough
    /// spike before the squeeze is not its rise), searched from the first estimate `o` on and
    /// taken back through the run above it that it belongs to; the first crossing when no run
    /// is that long (a short contraction).
    fn half_rise(
        &self,
        len: usize,
        o: usize,
        series: &impl Fn(usize) -> f64,
        half_level: f64,
    ) -> Option<usize> {
        let need = self.level_len();
        let mut run_start = None;
        let mut first = None;
        let mut held = None;
        for j in o..len {
            if series(j) >= half_level {
                let start = *run_start.get_or_insert(j);
                first.get_or_insert(j);
                if j + 1 - start >= need {
                    held = Some(start);
                    break;
                }
            } else {
                run_start = None;
            }
        }
        let mut half = held.or(first)?;
        while half > 0 && series(half - 1) >= half_level {
            half -= 1;
        }
        Some(half)
    }

    /// EMG: an envelope that crossed the onset threshold on a rest that had risen (a quiet rest
    /// modulated by posture or breathing) can hover near the threshold for seconds before the
    /// squeeze. Once the contraction is over, when the envelope first reached half of its
    /// level more than [`EMG_HOVER_MIN_S`] after the onset placed, the onset moves to where it
    /// rose from the level it hovered at (its median before the rise), by the same "left rest"
    /// margin as [`Self::onset_index`].
    fn move_emg_onset_past_hover(&self, a: &mut Active) {
        let rise = a.level - self.rest_mean;
        if !rise.is_finite() || rise <= 0.0 || a.thinned.is_empty() {
            return;
        }
        let dt = self.stats_step as f64 / self.rate_hz;
        let series = |j: usize| a.thinned[j];
        let Some(half) = self.half_rise(a.thinned.len(), 0, &series, self.rest_mean + 0.5 * rise)
        else {
            return;
        };
        if (half as f64) * dt <= EMG_HOVER_MIN_S {
            return;
        }
        // The hover: from the onset placed to shortly before the rise.
        let end = half.saturating_sub((EMG_HOVER_GAP_S / dt).round() as usize);
        if end == 0 {
            return;
        }
        let Some(level) = upper_median(&a.thinned[..end]) else {
            return;
        };
        let left = level + (BACKTRACK_K * self.rest_sd).max(self.onset_rise() / 6.0);
        if left >= self.rest_mean + 0.5 * rise {
            return;
        }
        let mut j = half;
        while j > 0 && a.thinned[j - 1] > left {
            j -= 1;
        }
        if j == 0 {
            return;
        }
        self.realign(a, j);
    }

    /// Moves `a`'s onset to position `j` of its `before` + `thinned` series. A peak left
    /// before the new onset (a cough spike before the squeeze) is replaced by the highest
    /// thinned value after it.
    fn realign(&self, a: &mut Active, j: usize) {
        let o = a.before.len();
        let peak_pos =
            o + ((a.peak_index.saturating_sub(a.onset_index)) / self.stats_step) as usize;
        if j > peak_pos {
            let after = &a.thinned[(j - o).min(a.thinned.len())..];
            if let Some((k, &v)) = after.iter().enumerate().max_by(|x, y| x.1.total_cmp(y.1)) {
                a.peak = v;
                a.peak_index = a.onset_index + (j - o + k) as u64 * self.stats_step;
            }
        }
        if j >= o {
            a.thinned.drain(..j - o);
            a.onset_index += (j - o) as u64 * self.stats_step;
        } else {
            let mut moved: Vec<f64> = a.before[j..].to_vec();
            moved.append(&mut a.thinned);
            a.thinned = moved;
            a.onset_index -= (o - j) as u64 * self.stats_step;
        }
        a.before.clear();
        // Placed where the trace left the level it rose from: the conditioning's delay.
        a.onset_lag_s = self.delay_s;
        a.left_index = a.onset_index;
    }

    /// Where the activity that fell below the offset level at `since` ended: there for EMG; for
    /// pressure, forward to where the trace is back near its baseline or stops falling.
    fn offset_index(&self, a: &Active, since: u64, idx: u64) -> u64 {
        if self.is_pressure() {
            let near = a.baseline + BACKTRACK_K * self.rest_sd;
            let mut prev = f64::INFINITY;
            let mut at = since;
            for i in since..=idx {
                let Some(v) = self.recent.get(i, idx) else {
                    break;
                };
                if v >= prev {
                    break;
                }
                at = i;
                if v <= near {
                    break;
                }
                prev = v;
            }
            return at;
        }
        since
    }

    /// EMG: a "contraction" that began where the envelope already sat [`EMG_MIN_DRIFT`] onset
    /// rises or more above the rest in force, and whose hold (its median) is less than
    /// [`EMG_MIN_RISE_OVER_HELD`] onset rises above where it began, did not rise: a drifting floor crossed the threshold (a quiet rest
    /// moves by tens of per cent faster than its estimate follows). A squeeze, however weak,
    /// rises from where the envelope was.
    fn emg_rest_moved(&self, a: &Active, hold_level: f64) -> bool {
        if self.is_pressure() || a.pre_level.is_nan() || hold_level.is_nan() {
            return false;
        }
        let margin = EMG_MIN_RISE_OVER_HELD * self.onset_rise();
        // Only where the envelope had moved up from the rest in force: a burst from near rest
        // rose, however small against a noisy rest (a real jaw clench rose 0.4 onset rises
        // from a level 0.27 rises above its 75-µV rest: a contraction; 0.25 here lost it).
        if a.pre_level - self.rest_mean < EMG_MIN_DRIFT * self.onset_rise() {
            return false;
        }
        hold_level - a.pre_level < margin
    }

    /// A brief burst (its core, the time above half its peak, a cough's:
    /// [`crate::detect::fuse::COUGH_CORE_FRACTION`] of the shortest contraction) inside an
    /// episode of at least [`crate::detect::fuse::COUGH_TAIL_FACTOR`] shortest contractions that
    /// held no level of its own, kept going by something else: on EMG, a quiet
    /// rest's floor over the offset threshold (the hold's median under
    /// [`EMG_MIN_RISE_OVER_HELD`] onset rises above the rest, or above the level held before the
    /// onset when that was higher); on pressure, a breath's swell that the onset was walked back
    /// along (the episode's level, what it held for [`LEVEL_WINDOW_S`], under one onset rise).
    /// A squeeze that starts with a cough holds its own level.
    fn burst_without_hold(
        &self,
        a: &Active,
        duration_s: f64,
        core_s: f64,
        hold_level: f64,
    ) -> bool {
        let min_s = self.cfg.min_contraction_s;
        // Shorter episodes are all burst: the fuser's cough rules decide those.
        if hold_level.is_nan()
            || duration_s < super::fuse::COUGH_TAIL_FACTOR * min_s
            || core_s >= super::fuse::COUGH_CORE_FRACTION * min_s
        {
            return false;
        }
        if self.is_pressure() {
            return a.level - a.baseline < self.onset_rise();
        }
        let before = if a.pre_level.is_nan() {
            self.rest_mean
        } else {
            self.rest_mean.max(a.pre_level)
        };
        hold_level - before < EMG_MIN_RISE_OVER_HELD * self.onset_rise()
    }

    /// Build the event for a contraction from `a.onset_index` to `offset_index`.
    fn measure(&self, a: Active, offset_index: u64, decided_index: u64) -> ContractionEvent {
        let delay = self.delay_s;
        let onset_s = self.time_s(a.onset_index) - a.onset_lag_s;
        let offset_s = self.time_s(offset_index) - delay;
        let peak_time_s = self.time_s(a.peak_index) - delay;
        let duration_s = offset_s - onset_s;
        // The rules that tell a contraction from a brief burst measure from where the trace left
        // rest: carrying the onset back along the rise times it, it does not lengthen the burst.
        let left_s = self.time_s(a.left_index) - delay;
        let burst_s = offset_s - left_s;
        // The hold: skip the rise (1 s, or a quarter of short contractions) and the release.
        let skip_s = (0.25 * duration_s).min(1.0);
        let tail_s = (0.15 * duration_s).min(0.5);
        let dt = self.stats_step as f64 / self.rate_hz;
        let n = (((offset_index.saturating_sub(a.onset_index)) / self.stats_step + 1) as usize)
            .min(a.thinned.len());
        let (mut lo, mut hi) = (
            (skip_s / dt) as usize,
            n.saturating_sub((tail_s / dt) as usize),
        );
        if lo >= hi {
            (lo, hi) = (0, n);
        }
        let hold = &a.thinned[lo..hi];
        // EMG peaks and rests are envelope values; pressure's are above its baseline.
        let rest = if self.is_pressure() {
            a.baseline
        } else {
            self.rest_mean
        };
        let half = rest + 0.5 * (a.peak - rest);
        let core_s = a.thinned[..n].iter().filter(|&&v| v >= half).count() as f64 * dt;
        let (mean, cv_pct) = mean_cv(hold, a.baseline);
        // The level the hold kept (its median; NaN for no hold).
        let hold_level = upper_median(hold).unwrap_or(f64::NAN);
        let kind = if burst_s < self.cfg.min_contraction_s
            || self.emg_rest_moved(&a, hold_level)
            || self.burst_without_hold(&a, burst_s, core_s, hold_level)
        {
            EventKind::Artifact
        } else if self.role == Role::AbdEmg {
            EventKind::AbdominalActivity
        } else {
            EventKind::Contraction
        };
        ContractionEvent {
            channel: self.channel,
            role: self.role,
            kind,
            onset_s,
            offset_s,
            peak: a.peak - a.baseline,
            peak_time_s,
            mean,
            cv_pct,
            core_s,
            rise_s: peak_time_s - onset_s,
            release_s: offset_s - peak_time_s,
            rest_mean: self.rest_mean,
            rest_sd: self.rest_sd,
            abd_mean: None,
            abd_index: None,
            decided_at_s: self.time_s(decided_index.max(self.decided_floor)),
            onset_carried_s: left_s - onset_s,
        }
    }

    /// End of stream: a contraction still in progress is closed at the last sample.
    pub fn finish(&mut self, out: &mut Vec<DetectorOutput>) {
        if self.phase == Phase::Calibrating {
            self.finish_calibration(out);
        }
        if let Some(a) = self.active.take() {
            let last = self.index.saturating_sub(1);
            self.phase = Phase::Rest;
            out.push(DetectorOutput::Event(self.measure(a, last, last)));
        }
    }
}

/// Pressure: whether the episode `thinned` (values every `dt` s from its onset, rising from
/// `baseline`) began with a probe slip, and where its step reached 90 % of the new level: a
/// step of at least `min_rise` with a 10–90 % rise time within [`SLIP_MAX_RISE_S`], flat (within
/// 15 % of the step or 3 rest SDs) for [`SLIP_FLAT_S`], never back halfway down to `baseline`
/// since, and back at that level in the last second. Squeezes may have risen on top of the new
/// level and ended in between: a patient who goes on training after the probe moved is the
/// usual case.
fn slip_step(
    thinned: &[f64],
    baseline: f64,
    dt: f64,
    min_rise: f64,
    rest_sd: f64,
) -> Option<usize> {
    let (reached, level, tolerance) = slip_start(thinned, baseline, dt, min_rise, rest_sd)?;
    // Back at that level now: what rose on top since (squeezes) has come down again.
    let last_second = &thinned[thinned
        .len()
        .saturating_sub(((1.0 / dt).round() as usize).max(1))..];
    let back = last_second.iter().all(|v| (v - level).abs() <= tolerance);
    back.then_some(reached)
}

/// Pressure: the start of [`slip_step`]: a fast step, flat after it and never back halfway
/// down since. Returns where it reached 90 %, the level it stepped to and the tolerance around
/// that level.
fn slip_start(
    thinned: &[f64],
    baseline: f64,
    dt: f64,
    min_rise: f64,
    rest_sd: f64,
) -> Option<(usize, f64, f64)> {
    let samples = |s: f64| (s / dt).round() as usize;
    // A first look at the new level (the onset may lie before the step, on a breath), then
    // the level as it held from just after the step.
    let first = thinned.get(samples(SLIP_SETTLED_S)..samples(SLIP_SETTLED_S + SLIP_FLAT_S))?;
    let first_level = upper_median(first)?;
    let reached = thinned
        .iter()
        .position(|&v| v >= baseline + 0.9 * (first_level - baseline))?;
    let start = reached + samples(SLIP_SETTLED_S) / 2;
    let window = thinned.get(start..start + samples(SLIP_FLAT_S).max(1))?;
    let level = upper_median(window)?;
    let rise = level - baseline;
    if rise.is_nan() || rise < min_rise {
        return None;
    }
    let reached = thinned.iter().position(|&v| v >= baseline + 0.9 * rise)?;
    // The step's 10–90 % rise time, which does not depend on where the walk back put the
    // onset: from the last upward crossing of 10 % before the step reached 90 %, crossings
    // interpolated between samples.
    let crossing_s = |frac: f64| {
        let y = baseline + frac * rise;
        let j = (1..=reached).rev().find(|&j| thinned[j - 1] < y)?;
        let (a, b) = (thinned[j - 1], thinned[j]);
        Some((j as f64 - 1.0 + (y - a) / (b - a)) * dt)
    };
    let rise_time_s = match (crossing_s(0.1), crossing_s(0.9)) {
        (Some(t10), Some(t90)) => t90 - t10,
        // Already above 10 % where the episode starts: the rise was at most as long as this.
        _ => reached as f64 * dt,
    };
    let tolerance = (0.15 * rise).max(3.0 * rest_sd);
    let fast = rise_time_s <= SLIP_MAX_RISE_S;
    let held = window.iter().all(|v| (v - level).abs() <= tolerance);
    let stayed_up = thinned[reached..]
        .iter()
        .all(|&v| v >= baseline + 0.5 * rise);
    (fast && held && stayed_up).then_some((reached, level, tolerance))
}

/// The middle value of `values` (the upper of the two middle ones for an even count); `None`
/// when there are none.
fn upper_median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    let mid = v.len() / 2;
    (!v.is_empty()).then(|| *v.select_nth_unstable_by(mid, f64::total_cmp).1)
}

/// Join touching or overlapping spans.
fn merge_spans(spans: impl Iterator<Item = [f64; 2]>) -> Vec<[f64; 2]> {
    let mut out: Vec<[f64; 2]> = Vec::new();
    for [a, b] in spans {
        match out.last_mut() {
            Some(last) if a <= last[1] + 1e-9 => last[1] = last[1].max(b),
            _ => out.push([a, b]),
        }
    }
    out
}

fn mean_cv(values: &[f64], baseline: f64) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let n = values.len() as f64;
    let mean = values.iter().map(|v| v - baseline).sum::<f64>() / n;
    let var = values
        .iter()
        .map(|v| {
            let d = v - baseline - mean;
            d * d
        })
        .sum::<f64>()
        / n;
    let cv = if mean.abs() > 0.0 {
        100.0 * var.sqrt() / mean.abs()
    } else {
        0.0
    };
    (mean, cv)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(det: &mut ChannelDetector, env: &[f64]) -> Vec<DetectorOutput> {
        let mut out = Vec::new();
        for (i, chunk) in env.chunks(64).enumerate() {
            det.process((i * 64) as u64, chunk, &mut out);
        }
        det.finish(&mut out);
        out
    }

    /// A rest level of 3 with a ±0.2 ripple, and a trapezoid squeeze to 20 from 10 s to 15 s.
    fn synthetic(rate: f64) -> Vec<f64> {
        (0..(25.0 * rate) as usize)
            .map(|i| {
                let t = i as f64 / rate;
                let ripple = 0.2 * (t * 37.0).sin();
                let level = if (10.0..10.2).contains(&t) {
                    17.0 * (t - 10.0) / 0.2
                } else if (10.2..14.8).contains(&t) {
                    17.0
                } else if (14.8..15.0).contains(&t) {
                    17.0 * (15.0 - t) / 0.2
                } else {
                    0.0
                };
                3.0 + ripple + level
            })
            .collect()
    }

    #[test]
    fn finds_one_contraction_with_onset_and_offset_near_the_truth() {
        let rate = 1000.0;
        let mut det = default_detector(Role::PfmEmg, rate);
        let out = run(&mut det, &synthetic(rate));
        let events: Vec<_> = out
            .iter()
            .filter_map(|o| match o {
                DetectorOutput::Event(e) => Some(e),
                _ => None,
            })
            .collect();
        assert_eq!(events.len(), 1, "{out:?}");
        let e = events[0];
        assert_eq!(e.kind, EventKind::Contraction);
        assert!((e.onset_s - 10.0).abs() < 0.05, "onset {}", e.onset_s);
        assert!((e.offset_s - 15.0).abs() < 0.05, "offset {}", e.offset_s);
        assert!((e.peak - 20.2).abs() < 0.05);
        assert!((e.mean - 20.0).abs() < 0.3, "mean {}", e.mean);
        assert!(e.cv_pct < 2.0);
        // Decided after the offset hold, not at the end of the stream.
        assert!(e.decided_at_s > e.offset_s && e.decided_at_s < 15.5);
        // The onset notice came first, within the onset hold of the crossing.
        match &out[0] {
            DetectorOutput::Onset(n) => assert!(n.decided_at_s < 10.2),
            other => panic!("expected onset first, got {other:?}"),
        }
    }

    #[test]
    fn pressure_events_are_measured_above_the_tracked_baseline() {
        let rate = 100.0;
        let mut det = default_detector(Role::Pressure, rate);
        let env: Vec<f64> = synthetic(rate).iter().map(|v| v + 15.0).collect();
        let out = run(&mut det, &env);
        let e = out
            .iter()
            .find_map(|o| match o {
                DetectorOutput::Event(e) => Some(e.clone()),
                _ => None,
            })
            .expect("one event");
        assert!((e.peak - 17.2).abs() < 0.5, "peak above rest {}", e.peak);
    }

    #[test]
    fn short_bursts_are_not_contractions() {
        let rate = 1000.0;
        let mut env = vec![3.0; 20_000];
        for v in &mut env[10_000..10_150] {
            *v = 30.0;
        }
        let mut det = default_detector(Role::PfmEmg, rate);
        let out = run(&mut det, &env);
        let kinds: Vec<_> = out
            .iter()
            .filter_map(|o| match o {
                DetectorOutput::Event(e) => Some(e.kind),
                _ => None,
            })
            .collect();
        assert_eq!(kinds, vec![EventKind::Artifact]);
    }

    #[test]
    fn first_index_at_agrees_with_the_sample_times() {
        for (rate, start) in [(2000.0, 0.0), (100.0, 0.0), (7.69, 44.78), (34.81, 0.0)] {
            let det = ChannelDetector::new(
                &DetectorConfig::default(),
                0,
                Role::PfmEmg,
                rate,
                start,
                0.0,
            );
            for k in [0u64, 1, 2, 97, 4095, 123_457] {
                let t = det.time_s(k);
                assert_eq!(det.first_index_at(t), k, "rate {rate} index {k}");
                let between = 0.5 * (t + det.time_s(k + 1));
                assert_eq!(det.first_index_at(between), k + 1, "rate {rate} index {k}");
            }
            assert_eq!(det.first_index_at(start - 10.0), 0);
            assert_eq!(det.first_index_at(f64::INFINITY), u64::MAX);
        }
    }

    #[test]
    fn constant_input_never_triggers_and_never_panics() {
        let mut det = default_detector(Role::PfmEmg, 500.0);
        let out = run(&mut det, &vec![5.0; 10_000]);
        assert!(out.is_empty());
        assert!(det.rest().is_some());
    }

    /// A noisy envelope at `rate`: rest 3 ± 0.8 that drifts, a squeeze every 9 s (raised-cosine
    /// rise, levels 5–40, one barely above rest), a short spike after some of them, a raised tone
    /// after the strongest, seeded.
    fn noisy_session(rate: f64, seconds: f64, seed: u64) -> Vec<f64> {
        let mut x = seed;
        let mut uniform = move || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 11) as f64 / (1u64 << 53) as f64
        };
        let n = (seconds * rate) as usize;
        let mut level = 0.0;
        (0..n)
            .map(|i| {
                let t = i as f64 / rate;
                let k = (t / 9.0) as usize;
                let into = t - 9.0 * k as f64 - 2.0;
                let height = [30.0, 5.0, 12.0, 40.0, 1.5, 20.0][k % 6];
                let squeeze = if (0.0..4.0).contains(&into) {
                    let rise = (into / 0.6).min(1.0);
                    let fall = ((4.0 - into) / 0.3).min(1.0);
                    height * 0.5 * (1.0 - (std::f64::consts::PI * rise.min(fall)).cos())
                } else if k % 2 == 1 && (5.0..5.15).contains(&into) {
                    25.0
                } else if k % 6 == 3 && (4.0..6.5).contains(&into) {
                    // The strongest squeeze leaves the tone raised for a while.
                    5.0
                } else {
                    0.0
                };
                // A slow drift of the rest and fast envelope noise.
                level = 0.999 * level + 0.02 * (uniform() - 0.5);
                3.0 + level + 0.8 * (uniform() - 0.5) + squeeze * (0.9 + 0.2 * uniform())
            })
            .collect()
    }

    /// [`ChannelDetector::process`] takes quiet stretches at once; one [`ChannelDetector::step`]
    /// per sample is what it must equal.
    fn run_stepwise(det: &mut ChannelDetector, env: &[f64], block: usize) -> Vec<DetectorOutput> {
        let mut out = Vec::new();
        for (i, chunk) in env.chunks(block).enumerate() {
            det.skip_to((i * block) as u64);
            for &e in chunk {
                det.step(e, &mut out);
            }
        }
        det.finish(&mut out);
        out
    }

    #[test]
    fn quiet_stretches_taken_at_once_decide_exactly_what_single_steps_decide() {
        for (role, rate) in [
            (Role::PfmEmg, 2000.0),
            (Role::PfmEmg, 500.0),
            (Role::Pressure, 50.0),
        ] {
            for seed in 1..4 {
                let env = noisy_session(rate, 120.0, seed);
                for block in [1, 97, 4096] {
                    let mut bulk = default_detector(role, rate);
                    let mut out = Vec::new();
                    for (i, chunk) in env.chunks(block).enumerate() {
                        bulk.process((i * block) as u64, chunk, &mut out);
                    }
                    bulk.finish(&mut out);
                    let mut single = default_detector(role, rate);
                    let want = run_stepwise(&mut single, &env, block);
                    assert_eq!(
                        out, want,
                        "{role:?} at {rate} Hz, seed {seed}, blocks of {block}"
                    );
                    assert_eq!(bulk.rest(), single.rest());
                    assert_eq!(bulk.thresholds(), single.thresholds());
                    let found = events_of(&out)
                        .iter()
                        .filter(|e| e.kind == EventKind::Contraction)
                        .count();
                    assert!(
                        found >= 8,
                        "{role:?} seed {seed}: only {found} contractions"
                    );
                }
            }
        }
    }

    fn default_detector(role: Role, rate: f64) -> ChannelDetector {
        ChannelDetector::new(&DetectorConfig::default(), 0, role, rate, 0.0, 0.0)
    }

    fn events_of(out: &[DetectorOutput]) -> Vec<ContractionEvent> {
        out.iter()
            .filter_map(|o| match o {
                DetectorOutput::Event(e) => Some(e.clone()),
                _ => None,
            })
            .collect()
    }

    /// An EMG-like envelope: rest 3 ± ripple, squeezes at level 20 over `spans` (seconds).
    fn envelope_with(rate: f64, len_s: f64, spans: &[(f64, f64)]) -> Vec<f64> {
        (0..(len_s * rate) as usize)
            .map(|i| {
                let t = i as f64 / rate;
                let on = spans.iter().any(|&(a, b)| t >= a && t < b);
                3.0 + 0.3 * (t * 37.0).sin() + if on { 17.0 } else { 0.0 }
            })
            .collect()
    }

    #[test]
    fn a_squeeze_inside_the_calibration_is_left_out_of_rest_and_still_found() {
        let rate = 1000.0;
        let spans = [(1.0, 4.0), (10.0, 13.0), (20.0, 23.0)];
        let mut det = default_detector(Role::PfmEmg, rate);
        let out = run(&mut det, &envelope_with(rate, 30.0, &spans));
        let (mean, _) = det.rest().unwrap();
        assert!((mean - 3.0).abs() < 0.5, "rest {mean}");
        let r = det.rest_report();
        assert!(!r.clean, "{r:?}");
        assert!(
            r.excluded_s.iter().any(|&[a, b]| a <= 1.5 && b >= 3.5),
            "{r:?}"
        );
        let ev = events_of(&out);
        let onsets: Vec<f64> = ev
            .iter()
            .filter(|e| e.kind == EventKind::Contraction)
            .map(|e| e.onset_s)
            .collect();
        assert_eq!(onsets.len(), 3, "{ev:?}");
        for (o, (t, _)) in onsets.iter().zip(spans) {
            assert!((o - t).abs() < 0.06, "onset {o} for {t}");
        }
        // The one inside the calibration is decided when the calibration ends, not before.
        assert!(ev[0].decided_at_s >= 5.49, "{:?}", ev[0]);
    }

    #[test]
    fn contractions_before_a_marked_rest_are_found() {
        let rate = 500.0;
        let cfg = DetectorConfig {
            calibration_skip_s: 20.0,
            ..DetectorConfig::default()
        };
        let mut det = ChannelDetector::new(&cfg, 0, Role::PfmEmg, rate, 0.0, 0.0);
        let out = run(
            &mut det,
            &envelope_with(rate, 40.0, &[(5.0, 8.0), (30.0, 33.0)]),
        );
        let ev = events_of(&out);
        assert_eq!(ev.len(), 2, "{ev:?}");
        assert!((ev[0].onset_s - 5.0).abs() < 0.06 && (ev[1].onset_s - 30.0).abs() < 0.06);
    }

    #[test]
    fn a_pressure_slip_becomes_the_new_baseline_and_later_squeezes_count() {
        let rate = 50.0;
        let trace: Vec<f64> = (0..(80.0 * rate) as usize)
            .map(|i| {
                let t = i as f64 / rate;
                let slip = if t >= 20.0 { 6.0 } else { 0.0 };
                let squeeze = [(12.0, 15.0), (40.0, 45.0), (55.0, 60.0)]
                    .iter()
                    .any(|&(a, b)| t >= a && t < b);
                18.0 + 0.2 * (t * 2.0).sin() + slip + if squeeze { 12.0 } else { 0.0 }
            })
            .collect();
        let mut det = default_detector(Role::Pressure, rate);
        let out = run(&mut det, &trace);
        let squeezes: Vec<f64> = events_of(&out)
            .iter()
            .filter(|e| e.kind == EventKind::Contraction)
            .map(|e| e.onset_s)
            .collect();
        assert_eq!(squeezes.len(), 3, "{:?}", events_of(&out));
        for (o, t) in squeezes.iter().zip([12.0, 40.0, 55.0]) {
            assert!((o - t).abs() < 0.1, "onset {o} for {t}");
        }
        assert_eq!(det.rest_report().slips, 1, "{:?}", det.rest_report());
        let (mean, _) = det.rest().unwrap();
        assert!((mean - 24.0).abs() < 1.0, "baseline {mean}");
    }

    #[test]
    fn pressure_squeezes_on_a_rising_rest_are_not_merged() {
        let rate = 100.0;
        let spans = [(10.0, 14.0), (18.0, 22.0), (26.0, 30.0)];
        let trace: Vec<f64> = (0..(40.0 * rate) as usize)
            .map(|i| {
                let t = i as f64 / rate;
                // The rest climbs 6 cmH2O from 9 s to 25 s.
                let rest = 18.0 + 6.0 * ((t - 9.0) / 16.0).clamp(0.0, 1.0);
                let on = spans.iter().any(|&(a, b)| t >= a && t < b);
                rest + if on { 20.0 } else { 0.0 }
            })
            .collect();
        let mut det = default_detector(Role::Pressure, rate);
        let ev = events_of(&run(&mut det, &trace));
        let c: Vec<&ContractionEvent> = ev
            .iter()
            .filter(|e| e.kind == EventKind::Contraction)
            .collect();
        assert_eq!(c.len(), 3, "{ev:?}");
        for (e, (a, b)) in c.iter().zip(spans) {
            // On a rising rest the start of the rise is ambiguous by a little.
            assert!(
                (e.onset_s - a).abs() < 0.2 && (e.offset_s - b).abs() < 0.3,
                "{e:?}"
            );
        }
    }

    /// A squeeze rising 0.3 s from `rest(t)` to `rest(t) + amp` at each span.
    fn pressure_trace(
        rate: f64,
        len_s: f64,
        rest: impl Fn(f64) -> f64,
        spans: &[(f64, f64, f64)],
    ) -> Vec<f64> {
        (0..(len_s * rate) as usize)
            .map(|i| {
                let t = i as f64 / rate;
                let squeeze: f64 = spans
                    .iter()
                    .map(|&(a, b, amp)| {
                        let up = ((t - a) / 0.3).clamp(0.0, 1.0);
                        let down = ((b - t) / 0.3).clamp(0.0, 1.0);
                        amp * up.min(down)
                    })
                    .sum();
                rest(t) + 0.3 * (t * 2.0).sin() + squeeze
            })
            .collect()
    }

    fn contractions(out: &[DetectorOutput]) -> Vec<ContractionEvent> {
        events_of(out)
            .into_iter()
            .filter(|e| e.kind == EventKind::Contraction)
            .collect()
    }

    #[test]
    fn a_pressure_rest_drifting_up_to_the_threshold_does_not_start_the_squeeze_early() {
        // The rest climbs 5 cmH2O in the 3 s before each squeeze (over the onset threshold of
        // 3 cmH2O) and falls back after it: the crossing comes seconds before the squeeze.
        let rate = 100.0;
        let starts = [15.0, 35.0];
        let rest = |t: f64| {
            20.0 + starts
                .iter()
                .map(|&s| 5.0 * ((t - (s - 3.0)) / 3.0).clamp(0.0, 1.0) * f64::from(t < s + 8.0))
                .sum::<f64>()
        };
        let spans: Vec<(f64, f64, f64)> = starts.iter().map(|&s| (s, s + 5.0, 20.0)).collect();
        let mut det = default_detector(Role::Pressure, rate);
        let out = run(&mut det, &pressure_trace(rate, 50.0, rest, &spans));
        let c = contractions(&out);
        assert_eq!(c.len(), 2, "{:?}", events_of(&out));
        for (e, s) in c.iter().zip(starts) {
            assert!((e.onset_s - s).abs() < 0.1, "onset {} for {s}", e.onset_s);
        }
        // The live notice came at the early crossing; only the final onset moved.
        let notices: Vec<f64> = out
            .iter()
            .filter_map(|o| match o {
                DetectorOutput::Onset(n) => Some(n.onset_s),
                _ => None,
            })
            .collect();
        assert!(notices[0] < starts[0] - 0.5, "{notices:?}");
    }

    #[test]
    fn an_emg_envelope_hovering_over_the_threshold_before_a_squeeze_starts_it_at_its_rise() {
        // A quiet EMG rest (1 µV) that rises by 80 % for 3 s before each squeeze (a posture
        // change): the envelope crosses the onset threshold (rest + 0.75 × rest) and hovers
        // there; the squeeze itself rises to 10 µV.
        let rate = 2000.0;
        let starts = [15.0, 35.0];
        let env: Vec<f64> = (0..(50.0 * rate) as usize)
            .map(|i| {
                let t = i as f64 / rate;
                let hover = starts.iter().any(|&s| t >= s - 3.0 && t < s + 8.0);
                let squeeze = starts
                    .iter()
                    .map(|&s| {
                        let up = ((t - s) / 0.2).clamp(0.0, 1.0);
                        let down = ((s + 5.0 - t) / 0.2).clamp(0.0, 1.0);
                        9.0 * up.min(down)
                    })
                    .sum::<f64>();
                let rest = if hover { 1.9 } else { 1.0 };
                rest + 0.05 * (t * 37.0).sin() + squeeze
            })
            .collect();
        let mut det = default_detector(Role::PfmEmg, rate);
        let out = run(&mut det, &env);
        let c = contractions(&out);
        assert_eq!(c.len(), 2, "{:?}", events_of(&out));
        for (e, s) in c.iter().zip(starts) {
            assert!((e.onset_s - s).abs() < 0.1, "onset {} for {s}", e.onset_s);
            assert!(e.peak > 8.0, "the squeeze's peak: {}", e.peak);
        }
        // The live notice went out at the early crossing.
        let first_notice = out.iter().find_map(|o| match o {
            DetectorOutput::Onset(n) => Some(n.onset_s),
            _ => None,
        });
        assert!(
            first_notice.is_some_and(|n| n < starts[0] - 1.0),
            "{first_notice:?}"
        );
    }

    #[test]
    fn an_emg_onset_is_not_carried_back_through_a_rest_that_sat_higher_than_its_estimate() {
        // A quiet EMG rest (1 µV) that sits at 1.5 µV from 1 s before a sharp squeeze (under the
        // onset threshold, above "left rest"): the walk back from the crossing found no rest
        // within its 0.2-s reach and the onset went 0.2 s early (14.80 s). Near rest is the
        // level the envelope held before that reach. (Within half the 50-ms RMS window: the
        // onset is placed that much before where the envelope left rest.)
        let rate = 2000.0;
        let start = 15.0;
        let env: Vec<f64> = (0..(30.0 * rate) as usize)
            .map(|i| {
                let t = i as f64 / rate;
                let rest = if (start - 1.0..start + 6.0).contains(&t) {
                    1.5
                } else {
                    1.0
                };
                let up = ((t - start) / 0.03).clamp(0.0, 1.0);
                let down = ((start + 3.0 - t) / 0.03).clamp(0.0, 1.0);
                rest + 0.08 * (t * 37.0).sin() + 20.0 * up.min(down)
            })
            .collect();
        let mut det = default_detector(Role::PfmEmg, rate);
        let out = run(&mut det, &env);
        let c = contractions(&out);
        assert_eq!(c.len(), 1, "{:?}", events_of(&out));
        assert!(
            (c[0].onset_s - start).abs() < 0.05,
            "onset {} for a squeeze at {start}",
            c[0].onset_s
        );
    }

    #[test]
    fn a_quiet_emg_floor_drifting_over_the_threshold_is_not_a_contraction() {
        // A quiet rest (1 µV) whose floor creeps up to 1.85 µV over 6 s, past the onset
        // threshold (rest + 0.75 × rest), stays there 3 s and comes back: it rose from where
        // the envelope already was, so no contraction. A weak squeeze (to 2.4 µV, rising in
        // 0.3 s) from the plain rest later is one.
        let rate = 2000.0;
        let squeeze = 40.0;
        let env: Vec<f64> = (0..(60.0 * rate) as usize)
            .map(|i| {
                let t = i as f64 / rate;
                let drift =
                    0.85 * ((t - 12.0) / 6.0).clamp(0.0, 1.0) * ((24.0 - t) / 3.0).clamp(0.0, 1.0);
                let up = ((t - squeeze) / 0.3).clamp(0.0, 1.0);
                let down = ((squeeze + 4.0 - t) / 0.3).clamp(0.0, 1.0);
                1.0 + drift + 0.04 * (t * 37.0).sin() + 1.4 * up.min(down)
            })
            .collect();
        let mut det = default_detector(Role::PfmEmg, rate);
        let out = run(&mut det, &env);
        let c = contractions(&out);
        assert_eq!(c.len(), 1, "{:?}", events_of(&out));
        assert!((c[0].onset_s - squeeze).abs() < 0.25, "{}", c[0].onset_s);
    }

    #[test]
    fn a_cough_burst_on_a_quiet_rest_whose_floor_kept_it_going_held_nothing() {
        // A quiet rest (1 µV) whose floor has crept to 1.3 µV when a cough burst (60 µV,
        // 0.25 s) comes at 15 s; after it the floor sits at 1.6 µV (over the offset threshold,
        // under the onset threshold) for 3 s. One burst that held nothing of its own, not a
        // contraction. A squeeze that starts with a cough at 40 s holds its own level (6 µV for
        // 4 s): a contraction.
        let rate = 2000.0;
        let burst = |t: f64, at: f64| {
            let u = (t - at) / 0.25;
            if (0.0..1.0).contains(&u) {
                60.0 * (std::f64::consts::PI * u).sin()
            } else {
                0.0
            }
        };
        let env: Vec<f64> = (0..(60.0 * rate) as usize)
            .map(|i| {
                let t = i as f64 / rate;
                let creep = 0.3 * ((t - 10.0) / 5.0).clamp(0.0, 1.0);
                let after = 0.3 * ((t - 15.2) / 0.2).clamp(0.0, 1.0);
                let floor = if t < 18.0 {
                    1.0 + creep + after
                } else {
                    1.0 + 0.6 * ((21.0 - t) / 3.0).clamp(0.0, 1.0)
                };
                let up = ((t - 40.0) / 0.3).clamp(0.0, 1.0);
                let down = ((44.0 - t) / 0.3).clamp(0.0, 1.0);
                floor
                    + 0.04 * (t * 37.0).sin()
                    + burst(t, 15.0)
                    + burst(t, 40.0)
                    + 5.0 * up.min(down)
            })
            .collect();
        let mut det = default_detector(Role::PfmEmg, rate);
        let out = run(&mut det, &env);
        let c = contractions(&out);
        assert_eq!(c.len(), 1, "{:?}", events_of(&out));
        assert!((c[0].onset_s - 40.0).abs() < 0.25, "{:?}", c[0]);
        let first = events_of(&out);
        assert!(
            first
                .iter()
                .any(|e| (e.onset_s - 15.0).abs() < 0.2 && e.kind == EventKind::Artifact),
            "{first:?}"
        );
    }

    #[test]
    fn a_risen_quiet_floor_with_noise_poking_over_the_relative_level_does_not_join_two_squeezes() {
        // A quiet rest (1 µV); between two squeezes (6 µV, 20–24 s and 29–33 s) the floor sits
        // at 1.7 µV, over the offset threshold, and its noise pokes 20 ms over the relative
        // level (rest + 25 % of the squeeze's level) every 0.6 s. Two squeezes, not one of 13 s.
        let rate = 2000.0;
        let spans = [(20.0, 24.0), (29.0, 33.0)];
        let env: Vec<f64> = (0..(50.0 * rate) as usize)
            .map(|i| {
                let t = i as f64 / rate;
                let squeeze: f64 = spans
                    .iter()
                    .map(|&(a, b)| 5.0 * ((t - a) / 0.3).clamp(0.0, 1.0).min((b - t) / 0.3))
                    .fold(0.0, f64::max);
                let between = (24.0..29.0).contains(&t);
                let poke = between && (t - 24.0) % 0.6 < 0.02;
                let floor = if between { 1.7 } else { 1.0 };
                floor + 0.04 * (t * 37.0).sin() + if poke { 0.7 } else { 0.0 } + squeeze.max(0.0)
            })
            .collect();
        let mut det = default_detector(Role::PfmEmg, rate);
        let out = run(&mut det, &env);
        let c = contractions(&out);
        assert_eq!(c.len(), 2, "{:?}", events_of(&out));
        for (e, (a, b)) in c.iter().zip(spans) {
            assert!(
                (e.onset_s - a).abs() < 0.3 && (e.offset_s - b).abs() < 0.5,
                "{e:?}"
            );
        }
    }

    #[test]
    fn a_cough_spike_that_opened_a_pressure_episode_is_not_the_squeezes_rise() {
        // The rest wanders up by 3.5 cmH2O just before a cough (faster than the baseline
        // follows), so the episode the rise or the cough opens does not end; a squeeze follows
        // 3 s later. The cough is narrower than the level's 0.5-s window: the squeeze's onset
        // is the foot of its own rise, and its peak is the squeeze's, not the cough's.
        let rate = 100.0;
        let (cough, squeeze) = (20.0, 23.0);
        let rest = |t: f64| 20.0 + 3.5 * ((t - 18.0) / 1.5).clamp(0.0, 1.0);
        let mut trace = pressure_trace(rate, 40.0, rest, &[(squeeze, squeeze + 5.0, 18.0)]);
        for (i, v) in trace.iter_mut().enumerate() {
            let t = i as f64 / rate;
            if (cough..cough + 0.2).contains(&t) {
                *v += 80.0 * (std::f64::consts::PI * (t - cough) / 0.2).sin();
            }
        }
        let mut det = default_detector(Role::Pressure, rate);
        let out = run(&mut det, &trace);
        let c = contractions(&out);
        assert_eq!(c.len(), 1, "{:?}", events_of(&out));
        assert!(
            (c[0].onset_s - squeeze).abs() < 0.15,
            "onset {}",
            c[0].onset_s
        );
        assert!(c[0].peak < 30.0, "peak {} is the cough's", c[0].peak);
    }

    #[test]
    fn a_weak_squeeze_whose_rise_is_noisy_keeps_its_onset_at_the_foot() {
        // 5-cmH2O squeezes at 20 Hz in 0.1-cmH2O steps, with breathing of ±1.2 cmH2O.
        let rate = 20.0;
        let starts = [12.0, 25.0, 38.0];
        let spans: Vec<(f64, f64, f64)> = starts.iter().map(|&s| (s, s + 4.0, 5.0)).collect();
        let trace: Vec<f64> = pressure_trace(rate, 50.0, |t| 20.0 + 1.2 * (t * 1.5).sin(), &spans)
            .iter()
            .map(|v| (v * 10.0).round() / 10.0)
            .collect();
        let mut det = default_detector(Role::Pressure, rate);
        let out = run(&mut det, &trace);
        let c = contractions(&out);
        assert_eq!(c.len(), 3, "{:?}", events_of(&out));
        for (e, s) in c.iter().zip(starts) {
            assert!((e.onset_s - s).abs() < 0.1, "onset {} for {s}", e.onset_s);
        }
    }

    /// Pressure at 20 cmH2O with breathing of ±1.5 cmH2O at 0.25 Hz (troughs at 3 + 4k s), and
    /// squeezes of `amp` over `spans` with linear ramps of `ramp_s`.
    fn breathing_trace(
        rate: f64,
        len_s: f64,
        spans: &[(f64, f64)],
        amp: f64,
        ramp_s: f64,
    ) -> Vec<f64> {
        (0..(len_s * rate) as usize)
            .map(|i| {
                let t = i as f64 / rate;
                let squeeze: f64 = spans
                    .iter()
                    .map(|&(a, b)| amp * ((t - a) / ramp_s).clamp(0.0, 1.0).min((b - t) / ramp_s))
                    .fold(0.0, f64::max);
                20.0 + 1.5 * (2.0 * std::f64::consts::PI * 0.25 * t).sin() + squeeze.max(0.0)
            })
            .collect()
    }

    #[test]
    fn a_breath_in_a_weak_squeeze_does_not_split_it() {
        // Breathing moves the probe by ±1.5 cmH2O; a squeeze of 4.3 cmH2O on it dips under
        // its offset level at every trough of a breath (for ~0.5 s), without ever coming back
        // near the baseline: one squeeze each, not two or three.
        let rate = 50.0;
        let spans = [(20.0, 27.0), (40.0, 47.0)];
        let trace = breathing_trace(rate, 60.0, &spans, 4.3, 0.3);
        let mut det = default_detector(Role::Pressure, rate);
        let out = run(&mut det, &trace);
        let c = contractions(&out);
        assert_eq!(c.len(), 2, "{:?}", events_of(&out));
        for (e, (a, b)) in c.iter().zip(spans) {
            assert!(
                (e.onset_s - a).abs() < 1.0 && (e.offset_s - b).abs() < 1.0,
                "{e:?}"
            );
        }
    }

    #[test]
    fn a_weak_squeeze_that_crosses_its_threshold_late_starts_at_its_own_rise() {
        // A weak squeeze steps up 2.2 cmH2O (under the 3-cmH2O onset rise), then climbs slowly
        // (breathing in, or effort building) and crosses the threshold more than a second
        // later. Its onset is the foot of its step, which is held that long before the
        // crossing. A second squeeze climbs, stalls for 0.25 s and climbs again from there.
        let rate = 50.0;
        let (step, stalled) = (20.0, 40.0);
        let trace: Vec<f64> = (0..(60.0 * rate) as usize)
            .map(|i| {
                let t = i as f64 / rate;
                let ramp = |a: f64, s: f64| ((t - a) / s).clamp(0.0, 1.0);
                let first = if t < step + 8.0 {
                    2.2 * ramp(step, 0.15) + 1.8 * ramp(step + 0.15, 4.0)
                } else {
                    4.0 * (1.0 - ramp(step + 8.0, 0.3))
                };
                let second = if t < stalled + 6.0 {
                    2.0 * ramp(stalled, 0.1) + 2.5 * ramp(stalled + 0.35, 0.15)
                } else {
                    4.5 * (1.0 - ramp(stalled + 6.0, 0.3))
                };
                20.0 + 0.25 * (2.0 * std::f64::consts::PI * 7.0 * t).sin() + first + second
            })
            .collect();
        let mut det = default_detector(Role::Pressure, rate);
        let out = run(&mut det, &trace);
        let c = contractions(&out);
        assert_eq!(c.len(), 2, "{:?}", events_of(&out));
        for (e, a) in c.iter().zip([step, stalled]) {
            assert!((e.onset_s - a).abs() < 0.15, "true onset {a}: {e:?}");
        }
    }

    #[test]
    fn a_weak_flick_from_a_breaths_trough_is_found() {
        // Breathing moves the probe by ±1.5 cmH2O (the onset rise, 3 rest SDs, is 3.2 cmH2O).
        // A 3.6-cmH2O flick that starts at a breath's trough never stands an onset rise above
        // the baseline (the breathing's median), but it rises more than that in a fraction of a
        // second above where it started; breathing alone never does.
        let rate = 50.0;
        let starts = [23.0, 35.0, 47.0];
        let spans: Vec<(f64, f64)> = starts.iter().map(|&a| (a, a + 0.8)).collect();
        let trace = breathing_trace(rate, 60.0, &spans, 3.6, 0.1);
        let mut det = default_detector(Role::Pressure, rate);
        let out = run(&mut det, &trace);
        let c = contractions(&out);
        assert_eq!(c.len(), starts.len(), "{:?}", events_of(&out));
        for (e, a) in c.iter().zip(starts) {
            assert!(
                (e.onset_s - a).abs() < 0.15 && (e.offset_s - (a + 0.9)).abs() < 0.3,
                "true onset {a}: {e:?}"
            );
        }
    }

    #[test]
    fn squeezes_after_a_slip_inside_the_same_episode_are_analysed_again() {
        // The probe slips up 6 or 8 cmH2O at 15 s; a squeeze starts 2 s later, before the slip
        // can be judged: once the episode is known to be a moved rest, the squeeze is found in
        // it. (A step of 8 is more than a resting tone that stays small; the squeezes on top of
        // it once kept the episode going for 90 s, blind to everything in them.)
        for step_cmh2o in [6.0, 8.0] {
            slip_then_squeezes(step_cmh2o);
        }
    }

    fn slip_then_squeezes(step_cmh2o: f64) {
        let rate = 50.0;
        let rest = |t: f64| 18.0 + if t >= 15.0 { step_cmh2o } else { 0.0 };
        let spans = [(17.0, 22.0, 14.0), (27.0, 32.0, 14.0), (37.0, 42.0, 14.0)];
        let mut det = default_detector(Role::Pressure, rate);
        let out = run(&mut det, &pressure_trace(rate, 50.0, rest, &spans));
        let c = contractions(&out);
        assert_eq!(c.len(), 3, "step {step_cmh2o}: {:?}", events_of(&out));
        assert_eq!(det.rest_report().slips, 1, "{:?}", det.rest_report());
        for (e, (a, b, _)) in c.iter().zip(spans) {
            assert!(
                (e.onset_s - a).abs() < 0.15 && (e.offset_s - b).abs() < 0.4,
                "{e:?}"
            );
            assert!(
                (e.peak - 14.0).abs() < 1.5,
                "measured from the new rest: {e:?}"
            );
        }
        let artifacts: Vec<ContractionEvent> = events_of(&out)
            .into_iter()
            .filter(|e| e.kind == EventKind::Artifact)
            .collect();
        assert!(
            artifacts
                .iter()
                .any(|e| (e.onset_s - 15.0).abs() < 0.2 && e.offset_s < 17.0),
            "the step is the artifact: {artifacts:?}"
        );
        // Changes are reported in time order.
        let r = det.rest_report();
        assert!(
            r.changes.windows(2).all(|w| w[0].at_s <= w[1].at_s),
            "{r:?}"
        );
        // The rest in force over time (the report's lines): 18 until the slip, then the new
        // level, in time order.
        let levels = &r.levels;
        assert!(
            levels.windows(2).all(|w| w[0].from_s < w[1].from_s),
            "{levels:?}"
        );
        let at = |t: f64| {
            levels
                .iter()
                .rev()
                .find(|l| l.from_s <= t)
                .unwrap_or(&levels[0])
        };
        assert!((at(10.0).rest - 18.0).abs() < 0.5, "{levels:?}");
        assert!(
            (at(45.0).rest - (18.0 + step_cmh2o)).abs() < 0.5,
            "{levels:?}"
        );
        let moved = levels
            .iter()
            .find(|l| l.rest > 18.0 + step_cmh2o / 2.0)
            .map(|l| l.from_s);
        assert!(
            moved.is_some_and(|t| (15.0..17.5).contains(&t)),
            "moved at {moved:?}: {levels:?}"
        );
        for l in levels {
            assert!(l.onset_threshold > l.rest, "{l:?}");
        }
    }

    #[test]
    fn a_squeeze_on_top_of_a_resting_tone_that_rose_starts_at_its_own_rise() {
        // The resting tone rises 40 cmH2O over 4 s at 10 s and stays up, wobbling (anorectal
        // manometry); 20 s later the patient squeezes 60 cmH2O on top of it.
        let rate = 10.0;
        let rest =
            |t: f64| 80.0 + 40.0 * ((t - 10.0) / 4.0).clamp(0.0, 1.0) + 4.0 * (t * 0.9).sin();
        let spans = [(34.0, 40.0, 60.0)];
        let mut det = default_detector(Role::Pressure, rate);
        let out = run(&mut det, &pressure_trace(rate, 60.0, rest, &spans));
        let c = contractions(&out);
        assert_eq!(c.len(), 1, "{:?}", events_of(&out));
        assert!((c[0].onset_s - 34.0).abs() < 0.3, "{:?}", c[0]);
        assert!((c[0].offset_s - 40.0).abs() < 0.5, "{:?}", c[0]);
        assert!(
            det.rest_report()
                .changes
                .iter()
                .any(|ch| ch.reason.contains("on top")),
            "{:?}",
            det.rest_report()
        );
    }
}
