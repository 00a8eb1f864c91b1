//! One pipeline for live sessions, replay and offline analysis:
//! `source → [processing: conditioning → detection → cross-channel fusion] → sinks`, each on its
//! own thread, joined by bounded `crossbeam-channel`s. Offline analysis is this same pipeline fed
//! from a file as fast as the CPU allows. Memory stays flat: blocks flow through and are dropped.

use crate::config::AnalysisConfig;
use crate::detect::{ChannelDetector, DetectorOutput, EventFuser, LevelHistory};
use crate::dsp::condition::{AppliedConditioning, ChannelConditioner};
use crate::dsp::filter::DesignError;
use crate::error::{InputError, OutputError};
use crate::event::{ContractionEvent, OnsetNotice};
use crate::frame::{Block, ChannelChunk, Role, StreamSpec};
use crate::source::Source;
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

/// Per-channel state at the end of a run, for reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChannelOutcome {
    pub applied: AppliedConditioning,
    /// Rest mean and SD in force at the end (after re-baselining).
    pub rest_mean: Option<f64>,
    pub rest_sd: Option<f64>,
    pub onset_threshold: Option<f64>,
    pub offset_threshold: Option<f64>,
    pub samples: u64,
}

/// Conditioning, detection and fusion for a whole stream, block by block.
pub struct Processor {
    spec: StreamSpec,
    conditioners: Vec<ChannelConditioner>,
    detectors: Vec<ChannelDetector>,
    fuser: EventFuser,
    warnings: Vec<String>,
    samples: Vec<u64>,
    outputs: Vec<DetectorOutput>,
}

impl Processor {
    /// Design every channel's chain once, from its rate and role.
    pub fn new(spec: &StreamSpec, cfg: &AnalysisConfig) -> Result<Self, DesignError> {
        let mut warnings = Vec::new();
        let mut conditioners = Vec::new();
        let mut detectors = Vec::new();
        for (i, ch) in spec.channels.iter().enumerate() {
            let c = ChannelConditioner::design(ch, &cfg.conditioning, &mut warnings)?;
            detectors.push(ChannelDetector::new(
                &cfg.detector,
                i,
                ch.role,
                ch.rate_hz,
                spec.start_time_s,
                c.applied().delay_s,
            ));
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
            outputs: Vec::new(),
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
        let abd = self.fuser.abd_channel();
        for (i, chunk) in block.chunks.into_iter().enumerate() {
            if i >= self.conditioners.len() {
                break;
            }
            let mut envelope = Vec::new();
            let n = chunk.samples.len() as u64;
            let filtered = self.conditioners[i].process_owned(chunk.samples, &mut envelope);
            self.detectors[i].process(chunk.start_index, &envelope, &mut self.outputs);
            if Some(i) == abd {
                self.fuser.push_abd_envelope(chunk.start_index, &envelope);
            }
            self.samples[i] += n;
            p.filtered.push(ChannelChunk {
                start_index: chunk.start_index,
                samples: filtered,
            });
            p.envelope.push(ChannelChunk {
                start_index: chunk.start_index,
                samples: envelope,
            });
        }
        self.route_outputs(&mut p);
        p.frontier_s = self.frontier_s();
        let abd_rest = self.abd_rest();
        self.fuser.advance(p.frontier_s, abd_rest, &mut p.events);
        p
    }

    fn route_outputs(&mut self, p: &mut Processed) {
        for o in self.outputs.drain(..) {
            match o {
                DetectorOutput::Onset(n) => {
                    self.fuser.on_onset(&n);
                    p.onsets.push(n);
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
        for d in self.detectors.iter_mut() {
            d.finish(&mut self.outputs);
        }
        self.route_outputs(&mut p);
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
    /// As fast as the CPU allows (offline analysis).
    Unpaced,
    /// Real time × this factor (1.0 = real time).
    RealTime(f64),
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
    let (proc_tx, proc_rx) = crossbeam_channel::bounded::<Processed>(SINK_QUEUE_BLOCKS);

    std::thread::scope(|scope| {
        // Acquisition: read (or synthesise) blocks, paced if asked.
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
        });

        // Processing: conditioning, detection, fusion.
        let worker = scope.spawn(
            move || -> Result<Vec<crate::pipeline::ChannelOutcome>, InputError> {
                for item in block_rx {
                    let block = item?;
                    let p = processor.process(block);
                    if proc_tx.send(p).is_err() {
                        return Ok(processor.outcome());
                    }
                }
                let tail = processor.finish();
                let _ = proc_tx.send(tail);
                Ok(processor.outcome())
            },
        );

        // Sinks, on this thread.
        let mut sink_error = None;
        let mut end_time_s = spec.start_time_s;
        for p in proc_rx {
            end_time_s = end_time_s.max(p.frontier_s);
            if sink_error.is_some() {
                continue;
            }
            for s in sinks.iter_mut() {
                if let Err(e) = s.block(&p) {
                    sink_error = Some(e);
                    break;
                }
            }
        }
        reader
            .join()
            .map_err(|_| PipelineError::Thread("acquisition"))?;
        let channels = worker
            .join()
            .map_err(|_| PipelineError::Thread("processing"))??;
        if let Some(e) = sink_error {
            return Err(PipelineError::Output(e));
        }
        let end = RunEnd {
            channels,
            warnings: start.warnings.clone(),
            end_time_s,
            elapsed: started.elapsed(),
        };
        for s in sinks.iter_mut() {
            s.finish(&end)?;
        }
        Ok(end)
    })
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
