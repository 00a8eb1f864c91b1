//! Throughput of the conditioning + detection chain, stage by stage and whole, in samples per
//! second on one core. Input: a simulated 2-channel (pelvic + abdominal EMG) 2 kHz session held in
//! memory, so only the processing is timed.
//!
//! Run: `cargo bench --bench chain`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use knip::config::AnalysisConfig;
use knip::detect::ChannelDetector;
use knip::dsp::envelope::MovingRms;
use knip::dsp::filter::Cascade;
use knip::frame::{Block, Role};
use knip::pipeline::Processor;
use knip::simulate::{SimConfig, SimulatedPatient};
use knip::source::Source;
use std::hint::black_box;

const RATE_HZ: f64 = 2000.0;

fn simulated_blocks() -> (knip::frame::StreamSpec, Vec<Block>) {
    let mut sim = SimulatedPatient::new(&SimConfig {
        protocol: "mixed".into(),
        seed: 7,
        roles: vec![Role::PfmEmg, Role::AbdEmg],
        emg_rate_hz: RATE_HZ,
        block_s: 0.1,
        ..SimConfig::default()
    })
    .expect("simulator");
    let spec = sim.spec().clone();
    let mut blocks = Vec::new();
    while let Ok(Some(b)) = sim.next_block() {
        blocks.push(b);
    }
    (spec, blocks)
}

fn one_channel(blocks: &[Block]) -> Vec<f64> {
    blocks
        .iter()
        .flat_map(|b| b.chunks[0].samples.iter().copied())
        .collect()
}

fn stages(c: &mut Criterion) {
    let (spec, blocks) = simulated_blocks();
    let pfm = one_channel(&blocks);
    let cfg = AnalysisConfig::default();
    let mut g = c.benchmark_group("stage");
    g.throughput(Throughput::Elements(pfm.len() as u64));
    g.sample_size(20);

    g.bench_function("filter_cascade_bp20_450_order4", |b| {
        let mut f = Cascade::butterworth_highpass(RATE_HZ, 20.0, 4)
            .unwrap()
            .then(Cascade::butterworth_lowpass(RATE_HZ, 450.0, 4).unwrap());
        let mut buf = pfm.clone();
        b.iter(|| {
            buf.copy_from_slice(&pfm);
            f.process(black_box(&mut buf));
            black_box(buf[buf.len() - 1])
        })
    });

    g.bench_function("envelope_moving_rms_50ms", |b| {
        let mut m = MovingRms::for_rate(RATE_HZ, 50.0);
        let mut out = Vec::with_capacity(pfm.len());
        b.iter(|| {
            m.process(black_box(&pfm), &mut out);
            black_box(out[out.len() - 1])
        })
    });

    let mut env = Vec::new();
    MovingRms::for_rate(RATE_HZ, 50.0).process(&pfm, &mut env);
    g.bench_function("detector", |b| {
        let mut outputs = Vec::new();
        b.iter(|| {
            let mut d = ChannelDetector::new(&cfg.detector, 0, Role::PfmEmg, RATE_HZ, 0.0, 0.0);
            outputs.clear();
            d.process(0, black_box(&env), &mut outputs);
            black_box(outputs.len())
        })
    });
    g.finish();

    let total: usize = blocks.iter().map(|b| b.total_samples()).sum();
    let mut g = c.benchmark_group("chain");
    g.throughput(Throughput::Elements(total as u64));
    g.sample_size(10);
    g.bench_function("condition_detect_fuse_2ch_2khz", |b| {
        b.iter(|| {
            let mut p = Processor::new(&spec, &cfg).unwrap();
            let mut n = 0;
            for block in &blocks {
                n += p.process(block.clone()).events.len();
            }
            n += p.finish().events.len();
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
