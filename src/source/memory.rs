//! Samples already in memory (arrays handed over by a library caller, e.g. the Python package)
//! as a [`Source`].
//!
//! Lost samples follow the readers' rule: a value that is not finite (NaN, ±inf) or beyond
//! [`plausible::max_abs`] of the channel's unit is not a measurement; it is left out and the
//! next sample starts a new chunk at its own index, so the pipeline sees a gap exactly as it
//! does for an empty cell in a knip recording or a garbage value in a file.

use crate::error::InputError;
use crate::frame::{Block, ChannelChunk, StreamSpec};
use crate::source::plausible;
use crate::source::Source;
use std::collections::VecDeque;

/// Device time each block of a [`MemorySource`] covers, seconds (the decisions do not depend on
/// it: see [`crate::pipeline::Processor`]).
pub const MEMORY_BLOCK_S: f64 = 0.5;

/// The runs of measurements in `samples` (whose first sample has index `start_index`), each a
/// chunk at its own index; values that are not measurements (see the module doc) are left out.
/// Returns the chunks and how many values were left out.
pub fn measured_runs(samples: &[f64], start_index: u64, max_abs: f64) -> (Vec<ChannelChunk>, u64) {
    let mut runs = Vec::new();
    let mut lost = 0u64;
    let mut i = 0usize;
    while i < samples.len() {
        let ok = |v: f64| v.is_finite() && v.abs() <= max_abs;
        if !ok(samples[i]) {
            lost += 1;
            i += 1;
            continue;
        }
        let start = i;
        while i < samples.len() && ok(samples[i]) {
            i += 1;
        }
        runs.push(ChannelChunk {
            start_index: start_index + start as u64,
            samples: samples[start..i].to_vec(),
        });
    }
    (runs, lost)
}

/// The blocks that carry `parts` (one slice per channel, channel `c` starting at index
/// `next[c]`) to the pipeline, gaps included; `next` is moved past them and `lost` counts the
/// values left out per channel. A channel with several runs takes several blocks (the others'
/// chunks are then empty, at their next index).
pub fn blocks_for(
    parts: &[&[f64]],
    max_abs: &[f64],
    next: &mut [u64],
    lost: &mut [u64],
) -> Vec<Block> {
    let mut runs: Vec<VecDeque<ChannelChunk>> = Vec::with_capacity(parts.len());
    for (c, part) in parts.iter().enumerate() {
        let (r, l) = measured_runs(part, next[c], max_abs[c]);
        lost[c] += l;
        next[c] += part.len() as u64;
        runs.push(r.into());
    }
    let n_blocks = runs.iter().map(|r| r.len()).max().unwrap_or(0).max(1);
    (0..n_blocks)
        .map(|_| Block {
            chunks: runs
                .iter_mut()
                .zip(next.iter())
                .map(|(r, &at)| {
                    r.pop_front().unwrap_or(ChannelChunk {
                        start_index: at,
                        samples: Vec::new(),
                    })
                })
                .collect(),
        })
        .collect()
}

/// How many values of each channel were left out, as warnings (empty when none).
pub fn lost_warnings(spec: &StreamSpec, lost: &[u64]) -> Vec<String> {
    spec.channels
        .iter()
        .zip(lost)
        .filter(|(_, &n)| n > 0)
        .map(|(ch, n)| {
            format!(
                "{}: {n} value(s) NaN, infinite or beyond {} counted as lost samples",
                ch.name,
                plausible::describe(&ch.unit)
            )
        })
        .collect()
}

/// Arrays in memory as a stream of blocks of [`MEMORY_BLOCK_S`] each.
pub struct MemorySource {
    spec: StreamSpec,
    signals: Vec<Vec<f64>>,
    max_abs: Vec<f64>,
    next: Vec<u64>,
    lost: Vec<u64>,
    queued: VecDeque<Block>,
    block_no: u64,
}

impl MemorySource {
    /// `signals[c]` holds channel `c` of `spec`, sample 0 at `spec.start_time_s`. Refused (with
    /// what to do) when the counts differ or a rate is not a plausible rate.
    pub fn new(spec: StreamSpec, signals: Vec<Vec<f64>>) -> Result<Self, InputError> {
        let refuse = |message: String| InputError::Format {
            path: "<arrays>".into(),
            message,
        };
        if spec.channels.is_empty() {
            return Err(refuse("no channel given: give at least one array".into()));
        }
        if signals.len() != spec.channels.len() {
            return Err(refuse(format!(
                "{} arrays for {} channels: give one array per channel",
                signals.len(),
                spec.channels.len()
            )));
        }
        for ch in &spec.channels {
            crate::limits::SAMPLE_RATE_HZ
                .check(ch.rate_hz)
                .map_err(|e| refuse(format!("{}: sampling rate {e}", ch.name)))?;
        }
        if !spec.start_time_s.is_finite() {
            return Err(refuse(
                "the start time must be a finite number of seconds".into(),
            ));
        }
        let n = spec.channels.len();
        Ok(MemorySource {
            max_abs: spec
                .channels
                .iter()
                .map(|c| plausible::max_abs(&c.unit))
                .collect(),
            spec,
            signals,
            next: vec![0; n],
            lost: vec![0; n],
            queued: VecDeque::new(),
            block_no: 0,
        })
    }
}

impl Source for MemorySource {
    fn spec(&self) -> &StreamSpec {
        &self.spec
    }

    fn next_block(&mut self) -> Result<Option<Block>, InputError> {
        loop {
            if let Some(b) = self.queued.pop_front() {
                return Ok(Some(b));
            }
            let done = self
                .signals
                .iter()
                .zip(&self.next)
                .all(|(s, &at)| at >= s.len() as u64);
            if done {
                return Ok(None);
            }
            self.block_no += 1;
            let until_s = self.block_no as f64 * MEMORY_BLOCK_S;
            let parts: Vec<&[f64]> = self
                .signals
                .iter()
                .zip(&self.spec.channels)
                .zip(&self.next)
                .map(|((s, ch), &at)| {
                    let end = ((until_s * ch.rate_hz).ceil() as usize).min(s.len());
                    let from = (at as usize).min(end);
                    &s[from..end]
                })
                .collect();
            let blocks = blocks_for(&parts, &self.max_abs, &mut self.next, &mut self.lost);
            self.queued.extend(blocks);
        }
    }

    fn reader_warnings(&self) -> Vec<String> {
        lost_warnings(&self.spec, &self.lost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{ChannelSpec, Role};

    #[test]
    fn runs_skip_values_that_are_not_measurements() {
        let v = [1.0, f64::NAN, f64::NAN, 2.0, 3.0, 2e6, f64::INFINITY, 4.0];
        let (runs, lost) = measured_runs(&v, 10, 1e6);
        assert_eq!(lost, 4);
        let got: Vec<(u64, Vec<f64>)> = runs
            .into_iter()
            .map(|c| (c.start_index, c.samples))
            .collect();
        assert_eq!(
            got,
            vec![(10, vec![1.0]), (13, vec![2.0, 3.0]), (17, vec![4.0])]
        );
    }

    #[test]
    fn source_gives_every_sample_once_at_its_index() {
        let spec = StreamSpec {
            channels: vec![
                ChannelSpec::new(Role::PfmEmg, 1000.0),
                ChannelSpec::new(Role::Pressure, 100.0),
            ],
            start_time_s: 0.0,
        };
        let emg: Vec<f64> = (0..2345).map(|i| i as f64).collect();
        let mut pressure: Vec<f64> = (0..234).map(|i| i as f64).collect();
        pressure[50] = f64::NAN;
        let mut src = MemorySource::new(spec, vec![emg, pressure]).unwrap();
        let mut seen = [Vec::new(), Vec::new()];
        while let Some(b) = src.next_block().unwrap() {
            for (c, chunk) in b.chunks.iter().enumerate() {
                for (k, v) in chunk.samples.iter().enumerate() {
                    assert_eq!(*v, (chunk.start_index + k as u64) as f64);
                    seen[c].push(*v);
                }
            }
        }
        assert_eq!(seen[0].len(), 2345);
        assert_eq!(seen[1].len(), 233);
        assert!(!seen[1].contains(&50.0));
        let w = src.reader_warnings();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("pressure: 1 value(s)"), "{w:?}");
    }

    #[test]
    fn bad_rate_and_count_are_refused() {
        let spec = StreamSpec {
            channels: vec![ChannelSpec::new(Role::PfmEmg, 0.0)],
            start_time_s: 0.0,
        };
        let e = MemorySource::new(spec.clone(), vec![vec![1.0]])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("sampling rate"), "{e}");
        let mut ok = spec;
        ok.channels[0].rate_hz = 1000.0;
        let e = MemorySource::new(ok, vec![]).err().unwrap().to_string();
        assert!(e.contains("0 arrays for 1 channels"), "{e}");
    }
}
