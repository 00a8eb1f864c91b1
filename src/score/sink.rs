//! A pipeline sink that scores a recording as it streams: it keeps a bounded envelope history
//! per channel, measures each contraction's hold once the envelope around it is in, and at the
//! end computes the [`AnalysisScores`].

use super::config::ScoringConfig;
use super::envelope::{EnvelopeHistory, DEFAULT_KEEP_S};
use super::hold::{hold_s, BIN_S, SMOOTH_BINS};
use super::session::AnalysisScores;
use crate::error::OutputError;
use crate::event::{ContractionEvent, EventKind};
use crate::frame::StreamSpec;
use crate::pipeline::{Processed, RunEnd, RunStart, Sink};
use std::sync::{Arc, Mutex};

/// The smoothing window reaches this far past a contraction's offset, seconds.
const SMOOTH_REACH_S: f64 = (SMOOTH_BINS / 2 + 1) as f64 * BIN_S;

/// Shared slot the scores land in at the end of the run.
pub type ScoresHandle = Arc<Mutex<Option<AnalysisScores>>>;

/// Scores events into [`AnalysisScores`] (see the module doc).
pub struct ScoringSink {
    cfg: ScoringConfig,
    spec: Option<StreamSpec>,
    history: Vec<EnvelopeHistory>,
    /// Every decided event with its hold (contractions, once measured).
    events: Vec<(ContractionEvent, Option<f64>)>,
    /// Indices into `events` of contractions whose hold is still to be measured.
    pending: Vec<usize>,
    next_index: Vec<Option<u64>>,
    lost_samples: Vec<u64>,
    /// Gaps in the stream: (channel, start_s, end_s).
    gaps: Vec<(usize, f64, f64)>,
    scores: ScoresHandle,
}

impl ScoringSink {
    pub fn new(cfg: &ScoringConfig) -> Self {
        ScoringSink {
            cfg: cfg.clone(),
            spec: None,
            history: Vec::new(),
            events: Vec::new(),
            pending: Vec::new(),
            next_index: Vec::new(),
            lost_samples: Vec::new(),
            gaps: Vec::new(),
            scores: Arc::new(Mutex::new(None)),
        }
    }

    /// Where the scores are put when the run finishes.
    pub fn handle(&self) -> ScoresHandle {
        self.scores.clone()
    }

    /// The scores once the run has finished.
    pub fn scores(&self) -> Option<AnalysisScores> {
        self.scores.lock().ok().and_then(|s| s.clone())
    }

    /// Every event so far, by decision order, with measured holds.
    pub fn events(&self) -> &[(ContractionEvent, Option<f64>)] {
        &self.events
    }

    pub fn lost_samples(&self) -> &[u64] {
        &self.lost_samples
    }

    pub fn gaps(&self) -> &[(usize, f64, f64)] {
        &self.gaps
    }

    fn measure(&mut self, force: bool) {
        let history = &self.history;
        let events = &mut self.events;
        self.pending.retain(|&k| {
            let e = &events[k].0;
            let Some(h) = history.get(e.channel) else {
                return false;
            };
            if !force && h.end_s() < e.offset_s + SMOOTH_REACH_S {
                return true;
            }
            let sm = h.smoothed(e.onset_s, e.offset_s, SMOOTH_BINS);
            events[k].1 = Some(hold_s(&sm, e.rest_mean));
            false
        });
    }
}

impl Sink for ScoringSink {
    fn start(&mut self, start: &RunStart) -> Result<(), OutputError> {
        let n = start.spec.channels.len();
        self.history = vec![EnvelopeHistory::new(DEFAULT_KEEP_S); n];
        self.next_index = vec![None; n];
        self.lost_samples = vec![0; n];
        self.spec = Some(start.spec.clone());
        Ok(())
    }

    fn block(&mut self, p: &Processed) -> Result<(), OutputError> {
        let Some(spec) = &self.spec else {
            return Ok(());
        };
        for (i, c) in p.filtered.iter().enumerate() {
            if c.samples.is_empty() {
                continue;
            }
            if let Some(next) = self.next_index.get(i).copied().flatten() {
                if c.start_index > next {
                    self.lost_samples[i] += c.start_index - next;
                    self.gaps
                        .push((i, spec.time_s(i, next), spec.time_s(i, c.start_index)));
                }
            }
            if let Some(n) = self.next_index.get_mut(i) {
                *n = Some(c.end_index());
            }
        }
        for (i, c) in p.envelope.iter().enumerate() {
            if let (Some(h), Some(ch)) = (self.history.get_mut(i), spec.channels.get(i)) {
                h.push_indexed(spec.start_time_s, c.start_index, ch.rate_hz, &c.samples);
            }
        }
        for e in &p.events {
            if e.kind == EventKind::Contraction {
                self.pending.push(self.events.len());
            }
            self.events.push((e.clone(), None));
        }
        self.measure(false);
        Ok(())
    }

    fn finish(&mut self, end: &RunEnd) -> Result<(), OutputError> {
        let Some(spec) = self.spec.clone() else {
            return Ok(());
        };
        for h in &mut self.history {
            h.flush();
        }
        self.measure(true);
        self.events
            .sort_by(|a, b| a.0.onset_s.total_cmp(&b.0.onset_s));
        let scores = AnalysisScores::compute(
            &spec,
            &self.events,
            &end.channels,
            &self.lost_samples,
            end.end_time_s - spec.start_time_s,
            &self.cfg,
        );
        if let Ok(mut s) = self.scores.lock() {
            *s = Some(scores);
        }
        Ok(())
    }
}
