//! The cue timeline of a guided session: which phase and repetition is due when.
//!
//! One state machine serves the live session runner and the simulated patient, so both agree
//! on when each cue comes. Repetitions follow each other at a fixed cadence (`work_s + rest_s`);
//! a phase marked `until_failure` ends at the end of the first failed repetition's slot, and
//! the next phase starts right then.

use super::protocol::Phase;

/// One repetition's place on the device clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slot {
    /// Index into the session's phases.
    pub phase: usize,
    /// 1-based repetition within the phase.
    pub rep: u32,
    /// The cue ("squeeze now").
    pub cue_s: f64,
    /// End of the work window (the "relax" cue).
    pub work_end_s: f64,
    /// End of the rest after it: the next cue.
    pub end_s: f64,
}

/// Walks through the phases slot by slot.
#[derive(Debug, Clone)]
pub struct Timeline {
    phases: Vec<Phase>,
    current: Option<Slot>,
}

impl Timeline {
    /// A timeline whose first cue is at `start_s`.
    pub fn new(phases: Vec<Phase>, start_s: f64) -> Self {
        let current = phases.first().map(|p| slot(p, 0, 1, start_s));
        Timeline { phases, current }
    }

    pub fn phases(&self) -> &[Phase] {
        &self.phases
    }

    /// The slot in progress; `None` once the session is over.
    pub fn current(&self) -> Option<Slot> {
        self.current
    }

    /// Move on from the current slot. `failed` says the repetition failed; in an
    /// `until_failure` phase that ends the phase. `at_s` is when the next slot starts (normally
    /// the current slot's end).
    pub fn advance(&mut self, failed: bool, at_s: f64) -> Option<Slot> {
        let cur = self.current?;
        let ph = &self.phases[cur.phase];
        let phase_over = cur.rep >= ph.reps || (failed && ph.until_failure);
        self.current = if !phase_over {
            Some(slot(ph, cur.phase, cur.rep + 1, at_s))
        } else {
            self.phases
                .get(cur.phase + 1)
                .map(|p| slot(p, cur.phase + 1, 1, at_s))
        };
        self.current
    }

    /// Run the current repetition again, its cue at `at_s` (after a pause or a lost signal).
    pub fn restart(&mut self, at_s: f64) -> Option<Slot> {
        let cur = self.current?;
        self.current = Some(slot(&self.phases[cur.phase], cur.phase, cur.rep, at_s));
        self.current
    }

    /// Nominal end of the whole session if every slot runs its full course.
    pub fn nominal_end_s(&self) -> f64 {
        let Some(cur) = self.current else {
            return 0.0;
        };
        let mut t = cur.end_s;
        let ph = &self.phases[cur.phase];
        t += f64::from(ph.reps - cur.rep) * ph.cycle_s();
        for p in &self.phases[cur.phase + 1..] {
            t += f64::from(p.reps) * p.cycle_s();
        }
        t
    }
}

fn slot(p: &Phase, phase: usize, rep: u32, cue_s: f64) -> Slot {
    Slot {
        phase,
        rep,
        cue_s,
        work_end_s: cue_s + p.work_s,
        end_s: cue_s + p.cycle_s(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::protocol::Protocol;

    #[test]
    fn strength_set_ends_at_the_failed_rep_and_flicks_follow() {
        let p = Protocol::load("strength").unwrap();
        let mut t = Timeline::new(p.phases.clone(), 0.0);
        let mut n = 0;
        while let Some(s) = t.current() {
            if s.phase == 1 {
                break;
            }
            n += 1;
            let end = s.end_s;
            t.advance(s.rep == 12, end);
        }
        assert_eq!(n, 12);
        let s = t.current().unwrap();
        assert_eq!((s.phase, s.rep), (1, 1));
        assert!((s.cue_s - 120.0).abs() < 1e-9);
    }

    #[test]
    fn without_failure_every_rep_runs() {
        let p = Protocol::load("glazer").unwrap();
        let total = Timeline::new(p.phases.clone(), 5.0).nominal_end_s();
        let mut t = Timeline::new(p.phases, 5.0);
        let mut slots = 0;
        let mut end = 0.0;
        while let Some(s) = t.current() {
            slots += 1;
            end = s.end_s;
            t.advance(true, s.end_s);
        }
        assert_eq!(slots, 1 + 5 + 5 + 1 + 1);
        assert!((end - total).abs() < 1e-9);
    }
}
