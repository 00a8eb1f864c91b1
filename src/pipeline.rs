//! One pipeline for live sessions, replay and offline analysis:
//! `source → [processing: conditioning → detection → cross-channel fusion] → sinks`, each on its
//! own thread, joined by bounded `crossbeam-channel`s. Offline analysis is this same pipeline fed
//! from a file as fast as the CPU allows. Memory stays flat: blocks flow through and are dropped.

use crate::config::AnalysisConfig;
use crate::detect::{ChannelDetector, DetectorOutput, EventFuser, LevelHistory, RestReport};
use crate::dsp::condition::{AppliedConditioning, ChannelConditioner};
use crate::dsp::filter::DesignError;
use crate::error::{InputError, OutputError};
use crate::event::{ContractionEvent, OnsetNotice};
use crate::frame::{Block, ChannelChunk, Role, StreamSpec};
use crate::source::Source;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Bounded queue lengths (blocks): enough to absorb a slow disk for a moment, small enough that
/// memory stays flat.
const SOURCE_QUEUE_BLOCKS: usize = 16;
const SINK_QUEUE_BLOCKS: usize = 32;
/// Abdominal envelope history kept for co-activation, seconds and resolution.
const ABD_HISTORY_SPAN_S: f64 = 300.0;
const ABD_HISTORY_BUCKET_S: f64 = 0.02;

/// What processing one block produced.
#[derive(Debug, Clone, Default)]
pub struct Processed {
    /// Conditioned (filtered) samples per channel.
    pub filtered: Vec<ChannelChunk>,
    /// Detection signal per channel: EMG moving RMS, smoothed pressure.
    pub envelope: Vec<ChannelChunk>,
    /// Onsets confirmed in this block (live feedback).
    pub onsets: Vec<OnsetNotice>,
    /// Events decided in this block, with their final kind.
    pub events: Vec<ContractionEvent>,
    /// Every channel has been processed up to this device-clock time.
    pub frontier_s: f64,
}

impl Processed {
    /// The next channel's filtered samples and envelope, from sample `start_index`.
    fn push(&mut self, start_index: u64, filtered: Vec<f64>, envelope: Vec<f64>) {
        self.filtered.push(ChannelChunk {
            start_index,
            samples: filtered,
        });
        self.envelope.push(ChannelChunk {
            start_index,
            samples: envelope,
        });
    }
}

/// Per-channel state at the end of a run, for reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChannelOutcome {
    pub applied: AppliedConditioning,
    /// Rest mean and SD in force at the end (after re-baselining).
    pub rest_mean: Option<f64>,
    pub rest_sd: Option<f64>,
    pub onset_threshold: Option<f64>,
    pub offset_threshold: Option<f64>,
    /// Which rest the detector used and why.
    pub rest: RestReport,
    /// Mains lines the adaptive canceller learnt and took out, at the end of the stream.
    pub mains_removed: Vec<MainsLine>,
    /// Jumps of the mains' phase the canceller fitted: samples lost without a gap in the
    /// numbering, as far as the signal can tell.
    pub mains_phase_jumps: u64,
    pub samples: u64,
}

pub use crate::dsp::mains::MainsLine;

/// Mains this strong against the rest EMG (RMS over the rest envelope) is worth a warning.
pub const MAINS_WARN_FRACTION_OF_REST: f64 = 0.5;

/// Envelope samples of one channel that are conditioned but not yet given to the detector.
#[derive(Debug)]
struct Held {
    start_index: u64,
    values: Vec<f64>,
    /// How many of `values` the detector has had.
    fed: usize,
}

/// Conditioning, detection and fusion for a whole stream, block by block.
///
/// What is decided does not depend on how the stream is cut into blocks (live = offline): the
/// detectors see the envelopes in time slices, and a held event is decided exactly when every
/// channel has been processed up to its ready time ([`EventFuser::next_ready_s`]): the samples
/// of a channel that is ahead wait (in `held`) until the slowest channel has caught up. So the
/// fusion always sees the same state — partners, abdominal rest, activity in progress — whether
/// a block holds one sample or a minute.
pub struct Processor {
    spec: StreamSpec,
    conditioners: Vec<ChannelConditioner>,
    detectors: Vec<ChannelDetector>,
    fuser: EventFuser,
    warnings: Vec<String>,
    samples: Vec<u64>,
    /// Per channel, the index the next sample should have; a later one means samples were lost.
    next_index: Vec<Option<u64>>,
    outputs: Vec<DetectorOutput>,
    /// Per channel, envelope samples waiting for a decision on another channel (usually none).
    held: Vec<VecDeque<Held>>,
}

impl Processor {
    /// Design every channel's chain once, from its rate and role.
    pub fn new(spec: &StreamSpec, cfg: &AnalysisConfig) -> Result<Self, DesignError> {
        let mut warnings = Vec::new();
        let mut conditioners = Vec::new();
        let mut detectors = Vec::new();
        for (i, ch) in spec.channels.iter().enumerate() {
            let c = ChannelConditioner::design(ch, &cfg.conditioning, &mut warnings)?;
            let mut d = ChannelDetector::new(
                &cfg.detector,
                i,
                ch.role,
                ch.rate_hz,
                spec.start_time_s,
                c.applied().delay_s,
            );
            d.set_settle_s(c.applied().settle_s());
            detectors.push(d);
            conditioners.push(c);
        }
        let abd_history = spec.channel_index(Role::AbdEmg).map(|i| {
            LevelHistory::new(
                spec.channels[i].rate_hz,
                spec.start_time_s,
                ABD_HISTORY_BUCKET_S,
                ABD_HISTORY_SPAN_S,
            )
        });
        let roles = spec.channels.iter().map(|c| c.role).collect();
        Ok(Processor {
            spec: spec.clone(),
            conditioners,
            detectors,
            fuser: EventFuser::new(&cfg.detector, roles, abd_history),
            warnings,
            samples: vec![0; spec.channels.len()],
            next_index: vec![None; spec.channels.len()],
            outputs: Vec::new(),
            held: (0..spec.channels.len()).map(|_| VecDeque::new()).collect(),
        })
    }

    pub fn spec(&self) -> &StreamSpec {
        &self.spec
    }

    /// Compromises made while designing the chains (low rates, ...).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    pub fn detectors(&self) -> &[ChannelDetector] {
        &self.detectors
    }

    fn abd_rest(&self) -> Option<(f64, f64)> {
        self.fuser
            .abd_channel()
            .and_then(|c| self.detectors[c].rest())
    }

    /// Process one block; returns the conditioned signals and what was decided.
    pub fn process(&mut self, block: Block) -> Processed {
        let mut p = Processed {
            filtered: Vec::with_capacity(block.chunks.len()),
            envelope: Vec::with_capacity(block.chunks.len()),
            ..Default::default()
        };
        let mut chunks: Vec<ChannelChunk> = block.chunks;
        chunks.truncate(self.conditioners.len());
        for (i, chunk) in chunks.iter().enumerate() {
            let n = chunk.samples.len() as u64;
            if let Some(next) = self.next_index[i] {
                if chunk.start_index > next {
                    self.conditioners[i].skip_lost(chunk.start_index - next);
                }
            }
            self.next_index[i] = Some(chunk.start_index + n);
            self.samples[i] += n;
        }
        // Channels two at a time (their band-passes side by side where they can be), the
        // last one of an odd count alone.
        let mut chunks = chunks.into_iter();
        let mut conditioners = self.conditioners.iter_mut();
        while let (Some(first), Some(a)) = (chunks.next(), conditioners.next()) {
            let mut a_envelope = Vec::new();
            let second = chunks.next().zip(conditioners.next());
            let Some((second, b)) = second else {
                let filtered = a.process_owned(first.samples, &mut a_envelope);
                p.push(first.start_index, filtered, a_envelope);
                break;
            };
            let mut b_envelope = Vec::new();
            let (a_filtered, b_filtered) = ChannelConditioner::process_owned_two(
                (a, first.samples, &mut a_envelope),
                (b, second.samples, &mut b_envelope),
            );
            p.push(first.start_index, a_filtered, a_envelope);
            p.push(second.start_index, b_filtered, b_envelope);
        }
        let Processed {
            envelope,
            onsets,
            events,
            ..
        } = &mut p;
        self.detect(envelope, onsets, events);
        p.frontier_s = self.frontier_s();
        p
    }

    /// Give the detectors the held samples and then `new` (one chunk per channel, in channel
    /// order), in time slices: each slice ends at the next held event's ready time, or `settle`
    /// after the slowest channel's frontier (no event can be confirmed in a slice and become
    /// ready within it). When every channel has reached a ready time, the events ready then are
    /// decided, before any channel goes past it. What cannot be given yet is held.
    fn detect(
        &mut self,
        new: &[ChannelChunk],
        onsets: &mut Vec<OnsetNotice>,
        events: &mut Vec<ContractionEvent>,
    ) {
        let settle = self.fuser.settle_s();
        let mut cursor = vec![0usize; new.len()];
        loop {
            let reach = self.frontier_s() + settle;
            let target = self.fuser.next_ready_s().map_or(reach, |r| r.min(reach));
            let mut fed = false;
            for c in 0..self.detectors.len() {
                let chunk = new.get(c);
                let at = cursor.get_mut(c);
                fed |= self.feed_channel(c, target, chunk.zip(at));
            }
            self.route_outputs(onsets);
            let mut decided = false;
            if self.frontier_s() >= target {
                let before = events.len();
                let abd_rest = self.abd_rest();
                self.fuser.advance(target, abd_rest, events);
                decided = events.len() > before;
            }
            if !fed && !decided {
                break;
            }
        }
        for (c, (chunk, &at)) in new.iter().zip(&cursor).enumerate() {
            if let Some(held) = self.held.get_mut(c) {
                if at < chunk.samples.len() {
                    held.push_back(Held {
                        start_index: chunk.start_index + at as u64,
                        values: chunk.samples[at..].to_vec(),
                        fed: 0,
                    });
                }
            }
        }
    }

    /// Give channel `c`'s detector its held samples, then those of `chunk` from `*at`, up to
    /// (not including) device time `until_s`. Returns whether any sample was given.
    fn feed_channel(
        &mut self,
        c: usize,
        until_s: f64,
        chunk: Option<(&ChannelChunk, &mut usize)>,
    ) -> bool {
        let limit = self.detectors[c].first_index_at(until_s);
        let abd = self.fuser.abd_channel() == Some(c);
        let count = |start: u64, available: usize| {
            (limit.saturating_sub(start)).min(available as u64) as usize
        };
        let mut fed = false;
        while let Some(h) = self.held[c].front_mut() {
            let start = h.start_index + h.fed as u64;
            let n = count(start, h.values.len() - h.fed);
            let part = &h.values[h.fed..h.fed + n];
            self.detectors[c].process(start, part, &mut self.outputs);
            if abd {
                self.fuser.push_abd_envelope(start, part);
            }
            h.fed += n;
            fed |= n > 0;
            if h.fed < h.values.len() {
                // Still waiting: the new chunk comes after these.
                return fed;
            }
            self.held[c].pop_front();
        }
        if let Some((chunk, at)) = chunk {
            let start = chunk.start_index + *at as u64;
            let n = count(start, chunk.samples.len() - *at);
            let part = &chunk.samples[*at..*at + n];
            // Also for an empty part: a jump in the index (lost samples) is noted.
            self.detectors[c].process(start, part, &mut self.outputs);
            if abd {
                self.fuser.push_abd_envelope(start, part);
            }
            *at += n;
            fed |= n > 0;
        }
        fed
    }

    /// Onsets to the caller and the fuser, events to the fuser, in device-time order (per
    /// channel they already are; across channels, ties go by channel).
    fn route_outputs(&mut self, onsets: &mut Vec<OnsetNotice>) {
        let time = |o: &DetectorOutput| match o {
            DetectorOutput::Onset(n) => (n.decided_at_s, n.channel),
            DetectorOutput::Event(e) => (e.decided_at_s, e.channel),
        };
        self.outputs.sort_by(|a, b| {
            let (ta, ca) = time(a);
            let (tb, cb) = time(b);
            ta.total_cmp(&tb).then(ca.cmp(&cb))
        });
        for o in self.outputs.drain(..) {
            match o {
                DetectorOutput::Onset(n) => {
                    self.fuser.on_onset(&n);
                    onsets.push(n);
                }
                DetectorOutput::Event(e) => self.fuser.on_event(e),
            }
        }
    }

    fn frontier_s(&self) -> f64 {
        self.detectors
            .iter()
            .map(|d| d.frontier_s())
            .fold(f64::INFINITY, f64::min)
    }

    /// End of stream: close contractions in progress and decide everything held.
    pub fn finish(&mut self) -> Processed {
        let mut p = Processed::default();
        // Samples held back for a channel whose stream ended earlier: nothing more will come.
        for c in 0..self.detectors.len() {
            self.feed_channel(c, f64::INFINITY, None);
        }
        for d in self.detectors.iter_mut() {
            d.finish(&mut self.outputs);
        }
        self.route_outputs(&mut p.onsets);
        let abd_rest = self.abd_rest();
        self.fuser.finish(abd_rest, &mut p.events);
        p.frontier_s = self.frontier_s();
        p
    }

    pub fn outcome(&self) -> Vec<ChannelOutcome> {
        self.conditioners
            .iter()
            .zip(&self.detectors)
            .zip(&self.samples)
            .map(|((c, d), &n)| ChannelOutcome {
                applied: c.applied().clone(),
                rest_mean: d.rest().map(|r| r.0),
                rest_sd: d.rest().map(|r| r.1),
                onset_threshold: d.thresholds().map(|t| t.0),
                offset_threshold: d.thresholds().map(|t| t.1),
                rest: d.rest_report().clone(),
                mains_removed: c.mains_lines(),
                mains_phase_jumps: c.mains_phase_jumps(),
                samples: n,
            })
            .collect()
    }
}

/// What a sink is told when the stream starts.
#[derive(Debug, Clone)]
pub struct RunStart {
    pub spec: StreamSpec,
    pub warnings: Vec<String>,
}

/// What a sink is told when the stream has ended.
#[derive(Debug, Clone)]
pub struct RunEnd {
    pub channels: Vec<ChannelOutcome>,
    /// Everything the user must be told: the reader's warnings (wherever in the file they were
    /// found), the filter design's and the rest estimates'.
    pub warnings: Vec<String>,
    /// Device-clock end of the stream, seconds.
    pub end_time_s: f64,
    /// Wall time the run took.
    pub elapsed: Duration,
}

/// A consumer of processed blocks (report writer, live status, recorder, ...).
pub trait Sink: Send {
    fn start(&mut self, start: &RunStart) -> Result<(), OutputError>;
    fn block(&mut self, processed: &Processed) -> Result<(), OutputError>;
    fn finish(&mut self, end: &RunEnd) -> Result<(), OutputError>;
}

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error("cannot design the filters for this stream: {0}")]
    Design(#[from] DesignError),
    #[error("internal error: the {0} thread stopped unexpectedly")]
    Thread(&'static str),
}

/// How fast to feed the source.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// As fast as the source gives blocks (a live device paces itself). The sinks run on a
    /// thread of their own, so a slow display or disk never holds up the processing.
    Unpaced,
    /// A recording (or arrays) read whole: as fast as the CPU allows, and the sinks take each
    /// block on the processing thread right after it is processed, while its samples are
    /// still in that core's cache (handed to another thread, every line of them had to be
    /// fetched from the other core, and the buffers came back cold).
    Offline,
    /// Real time × this factor (1.0 = real time).
    RealTime(f64),
}

/// Processes every block of `blocks`, then the stream's end, handing each result to `emit`
/// (which says whether to go on: `false` when nobody takes them any more). Returns the
/// channels' outcome, or the stream's error (which drops `blocks`, so that the reader stops).
fn process_all(
    processor: &mut Processor,
    blocks: crossbeam_channel::Receiver<Result<Block, InputError>>,
    mut emit: impl FnMut(Processed) -> bool,
) -> Result<Vec<ChannelOutcome>, InputError> {
    for item in blocks {
        if !emit(processor.process(item?)) {
            return Ok(processor.outcome());
        }
    }
    emit(processor.finish());
    Ok(processor.outcome())
}

/// Run `source` through the pipeline into `sinks`. Returns the end-of-run summary.
pub fn run(
    mut source: Box<dyn Source>,
    cfg: &AnalysisConfig,
    mut sinks: Vec<Box<dyn Sink>>,
    pace: Pace,
) -> Result<RunEnd, PipelineError> {
    let started = Instant::now();
    let spec = source.spec().clone();
    let mut processor = Processor::new(&spec, cfg)?;
    let start = RunStart {
        spec: spec.clone(),
        warnings: processor.warnings().to_vec(),
    };
    for s in sinks.iter_mut() {
        s.start(&start)?;
    }

    let (block_tx, block_rx) =
        crossbeam_channel::bounded::<Result<Block, InputError>>(SOURCE_QUEUE_BLOCKS);

    std::thread::scope(|scope| {
        // Acquisition: read (or synthesise) blocks, paced if asked.
        // Returns the reader's warnings once the stream has ended: those found late in the
        // file too.
        let reader = scope.spawn(move || {
            let t0 = Instant::now();
            loop {
                let next = source.next_block();
                let stop = !matches!(next, Ok(Some(_)));
                let item = match next {
                    Ok(Some(block)) => {
                        if let Pace::RealTime(speed) = pace {
                            pace_block(&block, source.spec(), t0, speed);
                        }
                        Ok(block)
                    }
                    Ok(None) => break,
                    Err(e) => Err(e),
                };
                if block_tx.send(item).is_err() || stop {
                    break;
                }
            }
            source.reader_warnings()
        });

        // Sinks: on this thread. `deliver` hands them a processed block (after a sink's error,
        // no more: the run still reads to the end, and reports the error after it).
        let mut sink_error = None;
        let mut end_time_s = spec.start_time_s;
        let mut deliver = |p: &Processed| {
            end_time_s = end_time_s.max(p.frontier_s);
            if sink_error.is_none() {
                sink_error = sinks.iter_mut().find_map(|s| s.block(p).err());
            }
        };

        // Processing: conditioning, detection, fusion; on this thread too when offline.
        let processed = if pace == Pace::Offline {
            // (An input error drops `block_rx`, which stops the reader.)
            Ok(process_all(&mut processor, block_rx, |p| {
                deliver(&p);
                true
            }))
        } else {
            let (proc_tx, proc_rx) = crossbeam_channel::bounded::<Processed>(SINK_QUEUE_BLOCKS);
            let worker = scope
                .spawn(move || process_all(&mut processor, block_rx, |p| proc_tx.send(p).is_ok()));
            for p in proc_rx {
                deliver(&p);
            }
            worker.join()
        };
        let reader_warnings = reader
            .join()
            .map_err(|_| PipelineError::Thread("acquisition"))?;
        let channels = processed.map_err(|_| PipelineError::Thread("processing"))??;
        if let Some(e) = sink_error {
            return Err(PipelineError::Output(e));
        }
        let mut warnings = reader_warnings;
        warnings.extend(start.warnings.iter().cloned());
        warnings.extend(rest_warnings(&spec, &channels));
        warnings.extend(mains_warnings(&spec, &channels));
        let end = RunEnd {
            channels,
            warnings,
            end_time_s,
            elapsed: started.elapsed(),
        };
        for s in sinks.iter_mut() {
            s.finish(&end)?;
        }
        Ok(end)
    })
}

/// What a user must be told about the rest each channel used: a calibration span without a
/// clean rest, later re-estimates, probe slips.
pub fn rest_warnings(spec: &StreamSpec, channels: &[ChannelOutcome]) -> Vec<String> {
    let mut w = Vec::new();
    for (ch, o) in spec.channels.iter().zip(channels) {
        let r = &o.rest;
        if !r.clean && !r.note.is_empty() {
            w.push(format!("{}: {}", ch.name, r.note));
        }
        for c in &r.changes {
            w.push(format!(
                "{}: rest estimated again at {:.1} s ({:.2} → {:.2} {}): {}",
                ch.name, c.at_s, c.from_mean, c.to_mean, ch.unit, c.reason
            ));
        }
    }
    w
}

/// RMS of the mains lines taken out of a channel, and the strongest line's frequency.
pub fn mains_rms(lines: &[MainsLine]) -> Option<(f64, f64)> {
    let strongest = lines.iter().max_by(|a, b| a.peak.total_cmp(&b.peak))?;
    let rms = (lines.iter().map(|l| l.peak * l.peak / 2.0).sum::<f64>()).sqrt();
    Some((rms, strongest.hz))
}

/// Mains that was as strong as half the rest EMG on a channel: the canceller took it out, but
/// it says the electrodes' contact or the reference is poor, which a clinician can fix. And
/// jumps of the mains' phase: samples lost where the reader could not see it.
pub fn mains_warnings(spec: &StreamSpec, channels: &[ChannelOutcome]) -> Vec<String> {
    let mut w = Vec::new();
    for (ch, o) in spec.channels.iter().zip(channels) {
        if o.mains_phase_jumps > 0 {
            w.push(format!(
                "{}: the mains' phase jumped {} time(s): samples were probably lost without a gap \
                 in the numbering (a dropped line or packet); the mains canceller followed each \
                 jump, and events.csv may show a short artifact there. Check the cable and the \
                 port, and if the device can send a sample counter, declare it (`# seq=16`) so \
                 that lost samples are counted",
                ch.name, o.mains_phase_jumps
            ));
        }
        let (Some((rms, hz)), Some(rest)) = (mains_rms(&o.mains_removed), o.rest_mean) else {
            continue;
        };
        if rms.is_finite() && rms >= MAINS_WARN_FRACTION_OF_REST * rest {
            w.push(format!(
                "{}: mains interference of {rms:.1} {} RMS (strongest at {hz:.0} Hz) against a \
                 rest of {rest:.1} {}; it was cancelled, but check the skin contact of the \
                 electrodes and the reference electrode, and keep mains cables away from the leads",
                ch.name, ch.unit, ch.unit
            ));
        }
    }
    w
}

/// Sleep until the wall clock reaches the block's end on the device clock (÷ speed).
fn pace_block(block: &Block, spec: &StreamSpec, t0: Instant, speed: f64) {
    let end_s = block
        .chunks
        .iter()
        .zip(&spec.channels)
        .map(|(c, ch)| c.end_index() as f64 / ch.rate_hz)
        .fold(0.0, f64::max);
    let due = Duration::from_secs_f64((end_s / speed.max(1e-3)).max(0.0));
    let now = t0.elapsed();
    if due > now {
        std::thread::sleep(due - now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::{SimConfig, SimulatedPatient};
    use std::sync::{Arc, Mutex};

    /// What a sink was given: per block, its frontier and a digest of its events and samples;
    /// whether it was finished.
    #[derive(Debug, Default, PartialEq)]
    struct Seen {
        blocks: Vec<(u64, String, u64)>,
        finished: bool,
    }

    /// A sink that writes down what it is given, and fails at block `fail_at`.
    struct Recorder {
        seen: Arc<Mutex<Seen>>,
        fail_at: Option<usize>,
    }

    /// FNV-1a over the bits of every sample of `chunks`.
    fn digest(chunks: &[ChannelChunk]) -> u64 {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for v in chunks.iter().flat_map(|c| &c.samples) {
            h = (h ^ v.to_bits()).wrapping_mul(0x0100_0000_01b3);
        }
        h
    }

    impl Sink for Recorder {
        fn start(&mut self, _: &RunStart) -> Result<(), OutputError> {
            Ok(())
        }
        fn block(&mut self, p: &Processed) -> Result<(), OutputError> {
            let mut seen = self.seen.lock().expect("not poisoned");
            if Some(seen.blocks.len()) == self.fail_at {
                return Err(OutputError::write(
                    "/reports/p01/events.csv",
                    std::io::Error::other("No space left on device"),
                ));
            }
            let digest = digest(&p.filtered) ^ digest(&p.envelope).rotate_left(1);
            seen.blocks
                .push((p.frontier_s.to_bits(), format!("{:?}", p.events), digest));
            Ok(())
        }
        fn finish(&mut self, _: &RunEnd) -> Result<(), OutputError> {
            self.seen.lock().expect("not poisoned").finished = true;
            Ok(())
        }
    }

    /// A simulated patient whose stream breaks (an input error) after `blocks` blocks.
    struct Breaking {
        inner: SimulatedPatient,
        blocks: usize,
    }

    impl Source for Breaking {
        fn spec(&self) -> &StreamSpec {
            self.inner.spec()
        }
        fn next_block(&mut self) -> Result<Option<Block>, InputError> {
            if self.blocks == 0 {
                return Err(InputError::Format {
                    path: "session.csv".into(),
                    message: "line 9000: garbage".into(),
                });
            }
            self.blocks -= 1;
            self.inner.next_block()
        }
    }

    fn patient() -> SimulatedPatient {
        SimulatedPatient::new(&SimConfig {
            protocol: "identify".into(),
            seed: 3,
            ..SimConfig::default()
        })
        .expect("simulator")
    }

    /// Runs `source` at `pace` into a recorder failing at `fail_at`.
    fn run_at(
        source: Box<dyn Source>,
        pace: Pace,
        fail_at: Option<usize>,
    ) -> (Result<RunEnd, PipelineError>, Seen) {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let sink = Recorder {
            seen: seen.clone(),
            fail_at,
        };
        let end = run(
            source,
            &AnalysisConfig::default(),
            vec![Box::new(sink)],
            pace,
        );
        let seen = std::mem::take(&mut *seen.lock().expect("not poisoned"));
        (end, seen)
    }

    #[test]
    fn offline_the_sinks_are_given_what_they_are_given_on_their_own_thread() {
        let (threaded, by_thread) = run_at(Box::new(patient()), Pace::Unpaced, None);
        let (inline, by_inline) = run_at(Box::new(patient()), Pace::Offline, None);
        let (threaded, inline) = (threaded.expect("run"), inline.expect("run"));
        assert!(
            by_thread.blocks.len() > 100,
            "{} blocks",
            by_thread.blocks.len()
        );
        assert!(
            by_thread.blocks.iter().any(|b| b.1 != "[]"),
            "no event at all"
        );
        assert_eq!(by_thread, by_inline);
        assert!(by_inline.finished);
        assert_eq!(threaded.end_time_s.to_bits(), inline.end_time_s.to_bits());
        assert_eq!(threaded.warnings, inline.warnings);
        assert_eq!(
            format!("{:?}", threaded.channels),
            format!("{:?}", inline.channels)
        );
    }

    #[test]
    fn offline_a_failing_sink_or_a_broken_stream_ends_the_run_as_on_threads() {
        for pace in [Pace::Unpaced, Pace::Offline] {
            // A sink that fails: the run reads to the end, then reports the sink's error.
            let (end, seen) = run_at(Box::new(patient()), pace, Some(40));
            let e = end.expect_err("the sink failed");
            assert!(matches!(e, PipelineError::Output(_)), "{pace:?}: {e}");
            assert!(e.to_string().contains("/reports/p01/events.csv"), "{e}");
            assert_eq!(seen.blocks.len(), 40, "{pace:?}");
            assert!(!seen.finished, "{pace:?}: a failed sink is not finished");
            // A stream that breaks: its error, and no finish.
            let source = Box::new(Breaking {
                inner: patient(),
                blocks: 25,
            });
            let (end, seen) = run_at(source, pace, None);
            let e = end.expect_err("the stream broke");
            assert!(matches!(e, PipelineError::Input(_)), "{pace:?}: {e}");
            assert!(e.to_string().contains("garbage"), "{e}");
            assert!(
                seen.blocks.len() <= 25,
                "{pace:?}: {} blocks",
                seen.blocks.len()
            );
            assert!(!seen.finished, "{pace:?}");
        }
    }

    #[test]
    fn channels_two_at_a_time_give_the_bits_of_each_alone() {
        // Pairs of the same rate (band-passes side by side), a pair of different rates (one
        // after the other) and a channel left alone at the end of an odd count.
        use Role::{AbdEmg, PfmEmg, Pressure};
        for roles in [
            vec![PfmEmg, AbdEmg, Pressure],
            vec![Pressure, PfmEmg, AbdEmg],
        ] {
            let mut sim = SimulatedPatient::new(&SimConfig {
                protocol: "identify".into(),
                seed: 5,
                roles: roles.clone(),
                ..SimConfig::default()
            })
            .expect("simulator");
            let spec = sim.spec().clone();
            let cfg = AnalysisConfig::default();
            let mut processor = Processor::new(&spec, &cfg).expect("processor");
            let mut alone: Vec<ChannelConditioner> = spec
                .channels
                .iter()
                .map(|ch| ChannelConditioner::design(ch, &cfg.conditioning, &mut Vec::new()))
                .collect::<Result<_, _>>()
                .expect("conditioners");
            let mut blocks = 0;
            while let Some(block) = sim.next_block().expect("block") {
                let want: Vec<(Vec<f64>, Vec<f64>)> = block
                    .chunks
                    .iter()
                    .zip(&mut alone)
                    .map(|(chunk, c)| {
                        let mut envelope = Vec::new();
                        (
                            c.process_owned(chunk.samples.clone(), &mut envelope),
                            envelope,
                        )
                    })
                    .collect();
                let got = processor.process(block);
                for (c, (filtered, envelope)) in want.iter().enumerate() {
                    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(
                        bits(&got.filtered[c].samples),
                        bits(filtered),
                        "{roles:?}, {c}"
                    );
                    assert_eq!(
                        bits(&got.envelope[c].samples),
                        bits(envelope),
                        "{roles:?}, {c}"
                    );
                }
                blocks += 1;
            }
            assert!(blocks > 100, "{blocks} blocks");
        }
    }
}
