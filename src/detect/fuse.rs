//! Cross-channel decisions, made shortly after each per-channel event:
//! - a short burst seen on two or more channels within `cough_coincidence_ms` is a **cough**;
//!   a short burst on one channel alone is an **artifact**; neither ever counts;
//! - a pressure rise with no pelvic-floor EMG contraction under it is a **strain** (bearing down),
//!   when a pelvic-floor EMG channel exists to tell;
//! - every pelvic-floor contraction gets the abdominal channel's level over its hold and the
//!   co-activation index (ABD_rms − ABD_μ₀)/ABD_σ₀ (DOMAIN.md §5).
//!
//! Events are held only until every channel's stream has passed the event's decision time by
//! `settle_s`, so that partners on slower or more delayed channels are known. The caller decides
//! an event exactly when every channel has been processed up to (not including) its ready time
//! [`EventFuser::next_ready_s`] — never later with more samples known — so that what is decided
//! does not depend on how the stream was cut into blocks.

use crate::config::DetectorConfig;
use crate::detect::history::LevelHistory;
use crate::event::{ContractionEvent, EventKind, OnsetNotice};
use crate::frame::Role;
use std::collections::VecDeque;

/// Events of the last this many seconds are kept to find partners.
const RECENT_SPAN_S: f64 = 30.0;
/// Share of a pressure event that must be covered by pelvic-floor EMG activity for it to be a
/// squeeze rather than a strain.
const MIN_PFM_OVERLAP: f64 = 0.3;
/// Skip this much of the hold before measuring co-activation (DOMAIN.md §5: skip its first 1 s).
const COACTIVATION_SKIP_S: f64 = 1.0;

#[derive(Debug)]
pub struct EventFuser {
    cfg: DetectorConfig,
    roles: Vec<Role>,
    settle_s: f64,
    pending: Vec<ContractionEvent>,
    recent: VecDeque<ContractionEvent>,
    /// Onset time of the activity in progress on each channel.
    active_since: Vec<Option<f64>>,
    abd: Option<(usize, LevelHistory)>,
}

impl EventFuser {
    /// `roles[i]` is channel i's role; `abd_history` is the abdominal channel's envelope history
    /// (fed by the caller with [`EventFuser::push_abd_envelope`]).
    pub fn new(cfg: &DetectorConfig, roles: Vec<Role>, abd_history: Option<LevelHistory>) -> Self {
        let abd_channel = roles.iter().position(|r| *r == Role::AbdEmg);
        let n = roles.len();
        EventFuser {
            settle_s: cfg.cough_coincidence_ms / 1000.0 + cfg.offset_hold_ms / 1000.0 + 0.3,
            cfg: cfg.clone(),
            roles,
            pending: Vec::new(),
            recent: VecDeque::new(),
            active_since: vec![None; n],
            abd: abd_channel.zip(abd_history),
        }
    }

    /// How long after its decision an event may wait here, seconds of stream time.
    pub fn settle_s(&self) -> f64 {
        self.settle_s
    }

    pub fn abd_channel(&self) -> Option<usize> {
        self.abd.as_ref().map(|(c, _)| *c)
    }

    pub fn push_abd_envelope(&mut self, start_index: u64, envelope: &[f64]) {
        if let Some((_, h)) = self.abd.as_mut() {
            h.push(start_index, envelope);
        }
    }

    pub fn on_onset(&mut self, n: &OnsetNotice) {
        if let Some(slot) = self.active_since.get_mut(n.channel) {
            *slot = Some(n.onset_s);
        }
    }

    pub fn on_event(&mut self, e: ContractionEvent) {
        if let Some(slot) = self.active_since.get_mut(e.channel) {
            *slot = None;
        }
        self.pending.push(e);
    }

    /// The earliest time at which a held event may be decided: its detector's decision time plus
    /// `settle_s`. `None` when nothing is held.
    pub fn next_ready_s(&self) -> Option<f64> {
        self.pending
            .iter()
            .map(|e| e.decided_at_s + self.settle_s)
            .reduce(f64::min)
    }

    /// Decide every held event whose decision is at least `settle_s` behind `frontier_s` (the
    /// time up to which every channel has been processed). `abd_rest` is the abdominal
    /// detector's rest (μ₀, σ₀). Decided events are appended to `out` in the order they became
    /// ready (detector decision time), then in onset order.
    pub fn advance(
        &mut self,
        frontier_s: f64,
        abd_rest: Option<(f64, f64)>,
        out: &mut Vec<ContractionEvent>,
    ) {
        self.decide(
            |e, settle| e.decided_at_s + settle <= frontier_s,
            abd_rest,
            out,
        );
    }

    /// End of stream: decide everything still held.
    pub fn finish(&mut self, abd_rest: Option<(f64, f64)>, out: &mut Vec<ContractionEvent>) {
        self.decide(|_, _| true, abd_rest, out);
    }

    fn decide(
        &mut self,
        ready: impl Fn(&ContractionEvent, f64) -> bool,
        abd_rest: Option<(f64, f64)>,
        out: &mut Vec<ContractionEvent>,
    ) {
        let settle = self.settle_s;
        let first_out = out.len();
        // Classify against everything known, the other ready events included.
        for e in self.pending.iter().filter(|e| ready(e, settle)) {
            let mut e = e.clone();
            e.kind = self.classify(&e);
            if e.kind == EventKind::Contraction {
                self.measure_coactivation(&mut e, abd_rest);
            }
            out.push(e);
        }
        self.pending.retain(|e| !ready(e, settle));
        let decided = &mut out[first_out..];
        decided.sort_by(|a, b| {
            a.decided_at_s
                .total_cmp(&b.decided_at_s)
                .then(a.onset_s.total_cmp(&b.onset_s))
                .then(a.channel.cmp(&b.channel))
        });
        // Remember decided events (with their final kind) as partners for later ones.
        for e in decided.iter() {
            self.recent.push_back(e.clone());
        }
        // Forget by the latest decision of this batch (not by whatever `out` held before it).
        if let Some(latest) = decided.iter().map(|e| e.decided_at_s).reduce(f64::max) {
            let horizon = latest - RECENT_SPAN_S;
            while self.recent.front().is_some_and(|e| e.offset_s < horizon) {
                self.recent.pop_front();
            }
        }
    }

    fn partners<'a>(
        &'a self,
        e: &'a ContractionEvent,
    ) -> impl Iterator<Item = &'a ContractionEvent> {
        self.recent
            .iter()
            .chain(self.pending.iter())
            .filter(move |o| o.channel != e.channel)
    }

    fn classify(&self, e: &ContractionEvent) -> EventKind {
        let coincidence_s = self.cfg.cough_coincidence_ms / 1000.0;
        let is_short = |x: &ContractionEvent| x.burst_s() < self.cfg.min_contraction_s;
        // Two bursts of one cough start together: within the coincidence, or one while the
        // other was still rising (an EMG onset carried back through a quiet rest's noise can
        // lead the cough's pressure spike by more than the coincidence).
        let together = |a: &ContractionEvent, b: &ContractionEvent| {
            (a.onset_s - b.onset_s).abs() <= coincidence_s
                || (a.onset_s..=a.peak_time_s).contains(&b.onset_s)
                || (b.onset_s..=b.peak_time_s).contains(&a.onset_s)
        };
        // A cough's burst lasts a few tenths of a second on every channel; a heartbeat's QRS
        // on the abdominal channel (ECG bleed, 0.1 s) is not one.
        let cough_long = |x: &ContractionEvent| x.burst_s() >= COUGH_MIN_S;
        let cough_core =
            |x: &ContractionEvent| x.core_s < COUGH_CORE_FRACTION * self.cfg.min_contraction_s;
        let drawn_out =
            |x: &ContractionEvent| x.burst_s() < COUGH_TAIL_FACTOR * self.cfg.min_contraction_s;
        // How many other channels burst with `e` as a cough does, in a way `kind` accepts.
        let partner_channels = |e: &ContractionEvent, kind: &dyn Fn(&ContractionEvent) -> bool| {
            let mut channels: Vec<usize> = self
                .partners(e)
                .filter(|o| cough_long(o) && together(o, e) && kind(o))
                .map(|o| o.channel)
                .collect();
            channels.sort_unstable();
            channels.dedup();
            channels.len()
        };
        let short_partners = |e: &ContractionEvent| partner_channels(e, &is_short);
        if is_short(e) {
            return if short_partners(e) >= 1 {
                EventKind::Cough
            } else {
                EventKind::Artifact
            };
        }
        // A cough shows on every channel at once. A burst up to twice the shortest contraction
        // that starts with short bursts on two other channels is the same cough, drawn out by
        // its envelope's tail on a quiet rest (a quick flick does not make the abdomen and the
        // pressure both twitch briefly).
        if drawn_out(e) && short_partners(e) >= 2 {
            return EventKind::Cough;
        }
        // So is such a burst with one brief partner when its core (the time above half its
        // peak) is a cough's: a quick flick holds its level for the shortest contraction or
        // longer. A pressure spike inside a breath's swell is drawn out the same way; and an
        // EMG burst of any length whose detector found no hold after its core (a quiet rest's
        // floor kept it going) is that cough too.
        // The partner may be drawn out by its tail too, as long as its core is a cough's.
        let cough_partner = |e: &ContractionEvent| {
            partner_channels(e, &|o| is_short(o) || (drawn_out(o) && cough_core(o))) >= 1
        };
        if (drawn_out(e) || e.kind == EventKind::Artifact) && cough_core(e) && cough_partner(e) {
            return EventKind::Cough;
        }
        if e.role == Role::Pressure {
            if let Some(pfm) = self.roles.iter().position(|r| *r == Role::PfmEmg) {
                let mut covered: f64 = self
                    .partners(e)
                    .filter(|o| o.channel == pfm && !is_short(o))
                    .map(|o| overlap(e.onset_s, e.offset_s, o.onset_s, o.offset_s))
                    .sum();
                if let Some(since) = self.active_since[pfm] {
                    covered += overlap(e.onset_s, e.offset_s, since, f64::INFINITY);
                }
                if covered < MIN_PFM_OVERLAP * e.duration_s() {
                    return EventKind::Strain;
                }
            }
        }
        e.kind
    }

    fn measure_coactivation(&self, e: &mut ContractionEvent, abd_rest: Option<(f64, f64)>) {
        let Some((abd_channel, history)) = self.abd.as_ref() else {
            return;
        };
        if e.channel == *abd_channel || !e.role.is_pelvic_floor() {
            return;
        }
        let skip = COACTIVATION_SKIP_S.min(0.25 * e.duration_s());
        if let Some(mean) = history.mean_between(e.onset_s + skip, e.offset_s) {
            e.abd_mean = Some(mean);
            if let Some((mu, sd)) = abd_rest {
                if sd > 0.0 {
                    e.abd_index = Some((mean - mu) / sd);
                }
            }
        }
    }
}

/// How much longer than `min_contraction_s` a burst that starts with a cough on two other
/// channels may be and still be that cough.
pub(crate) const COUGH_TAIL_FACTOR: f64 = 2.0;

/// The shortest burst that can be a cough's partner, seconds: a simulated cough's EMG burst
/// lasts 0.2–0.35 s, a real one longer; an ECG beat on the abdominal channel 0.1 s.
pub(crate) const COUGH_MIN_S: f64 = 0.15;

/// The longest core (time above half its peak) of a cough's burst, as a fraction of
/// `min_contraction_s`.
pub(crate) const COUGH_CORE_FRACTION: f64 = 0.6;

fn overlap(a0: f64, a1: f64, b0: f64, b1: f64) -> f64 {
    (a1.min(b1) - a0.max(b0)).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(
        channel: usize,
        role: Role,
        onset_s: f64,
        offset_s: f64,
        kind: EventKind,
    ) -> ContractionEvent {
        ContractionEvent {
            channel,
            role,
            kind,
            onset_s,
            offset_s,
            peak: 10.0,
            peak_time_s: onset_s,
            mean: 8.0,
            cv_pct: 5.0,
            core_s: offset_s - onset_s,
            rise_s: 0.1,
            release_s: 0.1,
            rest_mean: 2.0,
            rest_sd: 0.5,
            abd_mean: None,
            abd_index: None,
            decided_at_s: offset_s + 0.15,
            onset_carried_s: 0.0,
        }
    }

    /// The kinds given to the pelvic-floor events, in order.
    fn pelvic_kinds(out: &[ContractionEvent]) -> Vec<EventKind> {
        out.iter()
            .filter(|e| e.role == Role::PfmEmg)
            .map(|e| e.kind)
            .collect()
    }

    #[test]
    fn coincident_short_bursts_are_coughs_and_lone_ones_artifacts() {
        let roles = vec![Role::PfmEmg, Role::AbdEmg, Role::Pressure];
        let mut f = EventFuser::new(&DetectorConfig::default(), roles, None);
        f.on_event(ev(0, Role::PfmEmg, 20.0, 20.3, EventKind::Artifact));
        f.on_event(ev(2, Role::Pressure, 20.05, 20.4, EventKind::Artifact));
        f.on_event(ev(1, Role::AbdEmg, 40.0, 40.2, EventKind::Artifact));
        let mut out = Vec::new();
        f.advance(45.0, None, &mut out);
        let kinds: Vec<_> = out.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            vec![EventKind::Cough, EventKind::Cough, EventKind::Artifact]
        );
    }

    #[test]
    fn a_cough_whose_pelvic_onset_leads_the_others_while_rising_is_still_one_cough() {
        // On a quiet rest the pelvic onset was carried back 0.2 s through rest noise: the
        // abdominal and pressure bursts start 0.2 s later, while the pelvic burst still rises
        // (its peak at 20.3 s). A burst starting after the other's peak is not the same cough.
        let roles = vec![Role::PfmEmg, Role::AbdEmg, Role::Pressure];
        let mut f = EventFuser::new(&DetectorConfig::default(), roles, None);
        let mut pfm = ev(0, Role::PfmEmg, 20.0, 20.55, EventKind::Contraction);
        pfm.peak_time_s = 20.3;
        f.on_event(pfm);
        f.on_event(ev(1, Role::AbdEmg, 20.2, 20.5, EventKind::Artifact));
        f.on_event(ev(2, Role::Pressure, 20.21, 20.5, EventKind::Artifact));
        let mut late = ev(0, Role::PfmEmg, 40.0, 40.55, EventKind::Contraction);
        late.peak_time_s = 40.1;
        f.on_event(late);
        f.on_event(ev(1, Role::AbdEmg, 40.2, 40.5, EventKind::Artifact));
        f.on_event(ev(2, Role::Pressure, 40.21, 40.5, EventKind::Artifact));
        let mut out = Vec::new();
        f.finish(None, &mut out);
        let pelvic = pelvic_kinds(&out);
        assert_eq!(pelvic, vec![EventKind::Cough, EventKind::Contraction]);
    }

    #[test]
    fn a_coughs_pressure_spike_on_a_breath_and_a_pelvic_burst_without_hold_are_that_cough() {
        // A cough at 20 s: the pressure spike (core 0.15 s) rode a breath's swell for 0.5 s,
        // the abdomen's burst was brief. At 40 s a pelvic burst (core 0.2 s) kept going 3 s by
        // a quiet rest's floor, which its detector found held nothing (an artifact), with a
        // brief abdominal burst: the cough too. A quick flick on the pressure (core 0.5 s) with
        // an abdominal twitch stays a contraction.
        let roles = vec![Role::PfmEmg, Role::AbdEmg, Role::Pressure];
        let mut f = EventFuser::new(&DetectorConfig::default(), roles, None);
        let mut spike = ev(2, Role::Pressure, 20.0, 20.5, EventKind::Contraction);
        spike.core_s = 0.15;
        f.on_event(spike);
        f.on_event(ev(1, Role::AbdEmg, 20.02, 20.3, EventKind::Artifact));
        f.on_event(ev(0, Role::PfmEmg, 19.9, 23.0, EventKind::Contraction));
        let mut tail = ev(0, Role::PfmEmg, 40.0, 43.0, EventKind::Artifact);
        tail.core_s = 0.2;
        f.on_event(tail);
        f.on_event(ev(1, Role::AbdEmg, 40.02, 40.3, EventKind::Artifact));
        let mut flick = ev(2, Role::Pressure, 60.0, 60.7, EventKind::Contraction);
        flick.core_s = 0.5;
        f.on_event(flick);
        f.on_event(ev(0, Role::PfmEmg, 60.0, 60.7, EventKind::Contraction));
        f.on_event(ev(1, Role::AbdEmg, 60.02, 60.3, EventKind::Artifact));
        let mut out = Vec::new();
        f.finish(None, &mut out);
        let kinds = |role: Role| -> Vec<EventKind> {
            out.iter()
                .filter(|e| e.role == role)
                .map(|e| e.kind)
                .collect()
        };
        assert_eq!(
            kinds(Role::Pressure),
            vec![EventKind::Cough, EventKind::Contraction]
        );
        assert_eq!(kinds(Role::PfmEmg)[1], EventKind::Cough);
    }

    #[test]
    fn a_pelvic_burst_with_a_coughs_core_and_one_brief_partner_is_that_cough() {
        // 0.7 s of pelvic burst whose core (above half its peak) is 0.2 s, with a brief
        // abdominal burst at the same time (the pressure saw the cough inside a longer swell):
        // the cough. A quick flick of the same length holds its level 0.5 s: a contraction,
        // even with an abdominal twitch.
        let roles = vec![Role::PfmEmg, Role::AbdEmg, Role::Pressure];
        let mut f = EventFuser::new(&DetectorConfig::default(), roles, None);
        let mut cough = ev(0, Role::PfmEmg, 20.0, 20.7, EventKind::Contraction);
        cough.core_s = 0.2;
        f.on_event(cough);
        f.on_event(ev(1, Role::AbdEmg, 20.05, 20.35, EventKind::Artifact));
        f.on_event(ev(2, Role::Pressure, 19.4, 20.6, EventKind::Contraction));
        let mut flick = ev(0, Role::PfmEmg, 40.0, 40.7, EventKind::Contraction);
        flick.core_s = 0.5;
        f.on_event(flick);
        f.on_event(ev(1, Role::AbdEmg, 40.05, 40.35, EventKind::Artifact));
        let mut out = Vec::new();
        f.finish(None, &mut out);
        let pelvic = pelvic_kinds(&out);
        assert_eq!(pelvic, vec![EventKind::Cough, EventKind::Contraction]);
    }

    #[test]
    fn a_cough_drawn_out_past_the_shortest_contraction_on_two_channels_is_still_a_cough() {
        // Held-out seed 12 (quiet rest): a 0.34-s cough came out as 0.54 s on the pelvic floor
        // and 0.52 s on the abdomen, both just over the shortest contraction (0.45 s), each
        // with a cough's core. Neither had a short partner, and the pelvic burst was counted
        // as a contraction. A quick flick with an abdominal burst as long holds its level on
        // the pelvic floor (core 0.45 s): still a contraction.
        let roles = vec![Role::PfmEmg, Role::AbdEmg, Role::Pressure];
        let mut f = EventFuser::new(&DetectorConfig::default(), roles, None);
        let mut pelvic = ev(0, Role::PfmEmg, 121.41, 121.95, EventKind::Contraction);
        pelvic.core_s = 0.15;
        pelvic.peak_time_s = 121.73;
        f.on_event(pelvic);
        let mut abd = ev(1, Role::AbdEmg, 121.6, 122.12, EventKind::Contraction);
        abd.core_s = 0.12;
        f.on_event(abd);
        let mut flick = ev(0, Role::PfmEmg, 140.0, 140.55, EventKind::Contraction);
        flick.core_s = 0.45;
        f.on_event(flick);
        let mut twitch = ev(1, Role::AbdEmg, 140.05, 140.57, EventKind::Contraction);
        twitch.core_s = 0.12;
        f.on_event(twitch);
        let mut out = Vec::new();
        f.finish(None, &mut out);
        assert_eq!(
            pelvic_kinds(&out),
            vec![EventKind::Cough, EventKind::Contraction]
        );
    }

    #[test]
    fn a_heartbeat_on_the_abdomen_does_not_make_a_quick_flick_a_cough() {
        // Simulated 60-min recording, 2184.9 s: a 0.6-s quick flick whose core is a cough's
        // length, and the ECG's QRS on the abdominal channel (0.09 s) within 20 ms of it. With
        // the mains cancelled the abdominal rest fell and every heartbeat became a short burst:
        // 3 of the 400 squeezes were taken for coughs. A heartbeat is not a cough's burst.
        let roles = vec![Role::PfmEmg, Role::AbdEmg, Role::Pressure];
        let mut f = EventFuser::new(&DetectorConfig::default(), roles, None);
        let mut flick = ev(0, Role::PfmEmg, 2184.88, 2185.48, EventKind::Contraction);
        flick.core_s = 0.25;
        f.on_event(flick);
        f.on_event(ev(1, Role::AbdEmg, 2184.9, 2184.99, EventKind::Artifact));
        // The same flick with a real cough's abdominal burst (0.3 s) is that cough.
        let mut cough = ev(0, Role::PfmEmg, 2200.0, 2200.6, EventKind::Contraction);
        cough.core_s = 0.25;
        f.on_event(cough);
        f.on_event(ev(1, Role::AbdEmg, 2200.02, 2200.32, EventKind::Artifact));
        let mut out = Vec::new();
        f.finish(None, &mut out);
        assert_eq!(
            pelvic_kinds(&out),
            vec![EventKind::Contraction, EventKind::Cough]
        );
    }

    #[test]
    fn a_pelvic_burst_drawn_out_by_its_tail_is_the_cough_the_other_channels_saw() {
        let roles = vec![Role::PfmEmg, Role::AbdEmg, Role::Pressure];
        let mut f = EventFuser::new(&DetectorConfig::default(), roles, None);
        // A cough at 20 s: short on the abdomen and the pressure, 0.6 s on the pelvic floor.
        f.on_event(ev(0, Role::PfmEmg, 20.0, 20.6, EventKind::Contraction));
        f.on_event(ev(1, Role::AbdEmg, 20.02, 20.35, EventKind::Artifact));
        f.on_event(ev(2, Role::Pressure, 20.03, 20.4, EventKind::Artifact));
        // A quick flick at 40 s with only a brief abdominal twitch: still a contraction.
        f.on_event(ev(0, Role::PfmEmg, 40.0, 40.6, EventKind::Contraction));
        f.on_event(ev(1, Role::AbdEmg, 40.02, 40.3, EventKind::Artifact));
        // Twice the shortest contraction or longer is a contraction, coughs or not.
        f.on_event(ev(0, Role::PfmEmg, 60.0, 61.0, EventKind::Contraction));
        f.on_event(ev(1, Role::AbdEmg, 60.02, 60.3, EventKind::Artifact));
        f.on_event(ev(2, Role::Pressure, 60.03, 60.4, EventKind::Artifact));
        let mut out = Vec::new();
        f.finish(None, &mut out);
        let pelvic = pelvic_kinds(&out);
        assert_eq!(
            pelvic,
            vec![
                EventKind::Cough,
                EventKind::Contraction,
                EventKind::Contraction
            ]
        );
    }

    #[test]
    fn pressure_without_pelvic_emg_is_a_strain_and_with_it_a_squeeze() {
        let roles = vec![Role::PfmEmg, Role::Pressure];
        let mut f = EventFuser::new(&DetectorConfig::default(), roles, None);
        f.on_event(ev(0, Role::PfmEmg, 10.0, 15.0, EventKind::Contraction));
        f.on_event(ev(1, Role::Pressure, 10.02, 15.1, EventKind::Contraction));
        f.on_event(ev(1, Role::Pressure, 30.0, 34.0, EventKind::Contraction));
        let mut out = Vec::new();
        // Not yet settled: nothing out.
        f.advance(15.1, None, &mut out);
        assert!(out.is_empty());
        f.finish(None, &mut out);
        let kinds: Vec<_> = out.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            vec![
                EventKind::Contraction,
                EventKind::Contraction,
                EventKind::Strain
            ]
        );
    }

    #[test]
    fn coactivation_index_comes_from_the_abdominal_history() {
        let roles = vec![Role::PfmEmg, Role::AbdEmg];
        let mut h = LevelHistory::new(100.0, 0.0, 0.05, 60.0);
        let abd: Vec<f64> = (0..2000)
            .map(|i| if (1000..1500).contains(&i) { 11.0 } else { 3.0 })
            .collect();
        h.push(0, &abd);
        let mut f = EventFuser::new(&DetectorConfig::default(), roles, Some(h));
        f.on_event(ev(0, Role::PfmEmg, 10.0, 15.0, EventKind::Contraction));
        let mut out = Vec::new();
        f.finish(Some((3.0, 1.0)), &mut out);
        assert!((out[0].abd_mean.unwrap() - 11.0).abs() < 1e-9);
        assert!((out[0].abd_index.unwrap() - 8.0).abs() < 1e-9);
    }
}
