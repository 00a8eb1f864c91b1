//! Live use from a library: push blocks of samples as they arrive and get back the events
//! decided in that block. The filters', envelopes' and detectors' state is kept across pushes
//! (the same [`Processor`] as the pipeline), so what is decided does not depend on how the
//! samples are cut into blocks: pushing one sample at a time gives the events of an offline
//! analysis of the whole array.

use crate::config::AnalysisConfig;
use crate::error::InputError;
use crate::event::{ContractionEvent, OnsetNotice};
use crate::frame::StreamSpec;
use crate::pipeline::Processor;
use crate::source::memory::{blocks_for, lost_warnings};
use crate::source::plausible;

/// What one push decided.
#[derive(Debug, Clone, Default)]
pub struct Pushed {
    /// Events decided in this push, in decision order, with their final kind.
    pub events: Vec<ContractionEvent>,
    /// Onsets confirmed in this push (live feedback: a contraction has started).
    pub onsets: Vec<OnsetNotice>,
}

/// A stream of blocks pushed by the caller (see the module doc).
pub struct Stream {
    processor: Processor,
    max_abs: Vec<f64>,
    next: Vec<u64>,
    lost: Vec<u64>,
    finished: bool,
}

impl Stream {
    /// The chains of every channel of `spec`, designed once. A rate outside the plausible range
    /// or a stream without channels is refused.
    pub fn new(spec: &StreamSpec, cfg: &AnalysisConfig) -> Result<Self, InputError> {
        let refuse = |message: String| InputError::Format {
            path: "<stream>".into(),
            message,
        };
        if spec.channels.is_empty() {
            return Err(refuse("no channel given: give at least one".into()));
        }
        for ch in &spec.channels {
            crate::limits::SAMPLE_RATE_HZ
                .check(ch.rate_hz)
                .map_err(|e| refuse(format!("{}: sampling rate {e}", ch.name)))?;
        }
        let processor = Processor::new(spec, cfg)
            .map_err(|e| refuse(format!("cannot design the filters for this stream: {e}")))?;
        let n = spec.channels.len();
        Ok(Stream {
            processor,
            max_abs: spec
                .channels
                .iter()
                .map(|c| plausible::max_abs(&c.unit))
                .collect(),
            next: vec![0; n],
            lost: vec![0; n],
            finished: false,
        })
    }

    pub fn spec(&self) -> &StreamSpec {
        self.processor.spec()
    }

    /// The next samples of each channel (`parts[c]` for channel `c`; a channel may get none).
    /// Values that are not measurements (NaN, ±inf, beyond the unit's plausible bound) are lost
    /// samples, as in the file readers.
    pub fn push(&mut self, parts: &[&[f64]]) -> Result<Pushed, InputError> {
        let refuse = |message: String| InputError::Format {
            path: "<stream>".into(),
            message,
        };
        if self.finished {
            return Err(refuse(
                "the stream is finished; start a new one for more samples".into(),
            ));
        }
        if parts.len() != self.next.len() {
            return Err(refuse(format!(
                "{} blocks pushed for {} channels: push one block per channel (an empty one for \
                 a channel without new samples)",
                parts.len(),
                self.next.len()
            )));
        }
        let mut out = Pushed::default();
        for b in blocks_for(parts, &self.max_abs, &mut self.next, &mut self.lost) {
            let p = self.processor.process(b);
            out.events.extend(p.events);
            out.onsets.extend(p.onsets);
        }
        Ok(out)
    }

    /// End of the stream: the contractions still open are closed and every event still held is
    /// decided. Later pushes are refused.
    pub fn finish(&mut self) -> Pushed {
        if self.finished {
            return Pushed::default();
        }
        self.finished = true;
        let p = self.processor.finish();
        Pushed {
            events: p.events,
            onsets: p.onsets,
        }
    }

    /// The filter design's compromises and the values counted as lost so far.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = self.processor.warnings().to_vec();
        w.extend(lost_warnings(self.spec(), &self.lost));
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::{SimConfig, SimulatedPatient};
    use crate::source::Source;

    /// A simulated session's samples, whole, per channel.
    fn simulated(protocol: &str) -> (StreamSpec, Vec<Vec<f64>>) {
        let mut sim = SimulatedPatient::new(&SimConfig {
            protocol: protocol.into(),
            seed: 3,
            ..SimConfig::default()
        })
        .unwrap();
        let spec = sim.spec().clone();
        let mut signals = vec![Vec::new(); spec.channels.len()];
        while let Some(b) = sim.next_block().unwrap() {
            for (s, c) in signals.iter_mut().zip(b.chunks) {
                s.extend(c.samples);
            }
        }
        (spec, signals)
    }

    fn pushed_in(spec: &StreamSpec, signals: &[Vec<f64>], seconds: f64) -> Vec<ContractionEvent> {
        let mut s = Stream::new(spec, &AnalysisConfig::default()).unwrap();
        let mut events = Vec::new();
        let mut at = vec![0usize; signals.len()];
        let mut k = 1.0;
        while at.iter().zip(signals).any(|(&a, s)| a < s.len()) {
            let parts: Vec<&[f64]> = signals
                .iter()
                .zip(&spec.channels)
                .zip(at.iter_mut())
                .map(|((s, ch), a)| {
                    let end = ((k * seconds * ch.rate_hz).round() as usize).min(s.len());
                    let part = &s[*a..end];
                    *a = end;
                    part
                })
                .collect();
            events.extend(s.push(&parts).unwrap().events);
            k += 1.0;
        }
        events.extend(s.finish().events);
        events
    }

    #[test]
    fn events_do_not_depend_on_the_block_size() {
        let (spec, signals) = simulated("identify");
        let whole = pushed_in(&spec, &signals, 1e9);
        assert!(
            whole
                .iter()
                .filter(|e| e.kind == crate::event::EventKind::Contraction)
                .count()
                >= 3,
            "{whole:?}"
        );
        for seconds in [0.0005, 0.0485, 2.048] {
            let got = pushed_in(&spec, &signals, seconds);
            assert_eq!(got, whole, "blocks of {seconds} s");
        }
    }

    #[test]
    fn nan_is_a_gap_and_wrong_counts_are_refused() {
        let (spec, mut signals) = simulated("identify");
        signals[0][1000..1200].fill(f64::NAN);
        let mut s = Stream::new(&spec, &AnalysisConfig::default()).unwrap();
        let parts: Vec<&[f64]> = signals.iter().map(|v| &v[..]).collect();
        s.push(&parts).unwrap();
        let w = s.warnings().join("\n");
        assert!(w.contains("pfm_emg: 200 value(s) NaN"), "{w}");
        let e = s.push(&parts[..1]).unwrap_err().to_string();
        assert!(e.contains("1 blocks pushed for 3 channels"), "{e}");
        s.finish();
        let e = s.push(&parts).unwrap_err().to_string();
        assert!(e.contains("the stream is finished"), "{e}");
    }
}
