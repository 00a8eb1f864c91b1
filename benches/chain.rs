//! Throughput of the conditioning + detection chain, stage by stage and whole, in samples per
//! second on one core. Input: a simulated 2-channel (pelvic + abdominal EMG) 2 kHz session held in
//! memory, so only the processing is timed.
//!
//! Also the ends of `knip analyze`: CSV parsing (file → blocks) and report writing (processed
//! blocks → report folder, PNG included), per sample of the recording.
//!
//! Run: `cargo bench --bench chain` (one group: `cargo bench --bench chain -- csv`). The filter
//! cascade's ceiling is worked out in docs/performance.md.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use knip::config::AnalysisConfig;
use knip::detect::ChannelDetector;
use knip::dsp::envelope::MovingRms;
use knip::dsp::filter::Cascade;
use knip::frame::{Block, Role};
use knip::pipeline::{Processed, Processor, RunEnd, RunStart, Sink};
use knip::simulate::{SimConfig, SimulatedPatient};
use knip::sink::report::{ReportSink, ReportSource};
use knip::source::csv_file::{CsvOptions, CsvSource};
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

    // References for the cascade's ceiling (docs/performance.md), each a chain of dependent
    // operations, one per input sample: a 64-bit integer multiply and rotate (3 + 1 cycles on x86
    // cores since 2006: the clock; the rotate keeps the compiler from regrouping the multiplies),
    // f64 adds and f64 multiplies (their latencies on this core).
    g.bench_function("ref_dependent_imul_rotate_chain", |b| {
        b.iter(|| {
            let mut x = black_box(0x9E37_79B9_7F4A_7C15u64);
            let k = black_box(0xD1B5_4A32_D192_ED03u64);
            for _ in 0..pfm.len() {
                x = x.wrapping_mul(k).rotate_left(7);
            }
            black_box(x)
        })
    });
    g.bench_function("ref_dependent_fadd_chain", |b| {
        b.iter(|| {
            let mut x = black_box(0.0f64);
            let step = black_box(1e-9f64);
            for _ in 0..pfm.len() {
                x += step;
            }
            black_box(x)
        })
    });
    g.bench_function("ref_dependent_fmul_chain", |b| {
        b.iter(|| {
            let mut x = black_box(1.0f64);
            let k = black_box(1.000_000_001f64);
            for _ in 0..pfm.len() {
                x *= k;
            }
            black_box(x)
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
    // `Processor::process` takes its block by value: the copies are made outside the timing.
    g.bench_function("condition_detect_fuse_2ch_2khz", |b| {
        b.iter_batched(
            || blocks.clone(),
            |owned| {
                let mut p = Processor::new(&spec, &cfg).unwrap();
                let mut n = 0;
                for block in owned {
                    n += p.process(block).events.len();
                }
                n += p.finish().events.len();
                black_box(n)
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn io(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("mixed.csv");
    let cfg = AnalysisConfig::default();
    knip::simulate::write::write_session(
        &SimConfig {
            protocol: "mixed".into(),
            seed: 7,
            roles: vec![Role::PfmEmg, Role::AbdEmg],
            emg_rate_hz: RATE_HZ,
            ..SimConfig::default()
        },
        &csv,
        &cfg,
    )
    .expect("simulated recording");
    let read_all = || {
        let mut src = CsvSource::open(&csv, &CsvOptions::default()).expect("open");
        let mut blocks = Vec::new();
        while let Some(b) = src.next_block().expect("block") {
            blocks.push(b);
        }
        (src.spec().clone(), blocks)
    };
    let (spec, blocks) = read_all();
    let total: usize = blocks.iter().map(|b| b.total_samples()).sum();
    let mut g = c.benchmark_group("io");
    g.throughput(Throughput::Elements(total as u64));
    g.sample_size(10);
    // The reader alone (one core), then with two worker threads parsing ahead (what `analyze`
    // does on this machine; samples/s for the whole read, not per core).
    for (name, threads) in [
        ("csv_parse_2ch_2khz", 1),
        ("csv_parse_2ch_2khz_2_threads", 2),
    ] {
        let opts = CsvOptions {
            read_threads: threads,
            ..CsvOptions::default()
        };
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut src = CsvSource::open(black_box(&csv), &opts).expect("open");
                assert_eq!(src.is_parallel(), threads > 1);
                let mut n = 0;
                while let Some(block) = src.next_block().expect("block") {
                    n += block.total_samples();
                }
                black_box(n)
            })
        });
    }

    let mut p = Processor::new(&spec, &cfg).expect("processor");
    let mut processed: Vec<Processed> = blocks.into_iter().map(|b| p.process(b)).collect();
    processed.push(p.finish());
    let outcome = p.outcome();
    let report_dir = dir.path().join("report");
    g.bench_function("report_writing_incl_png", |b| {
        b.iter(|| {
            let mut sink = ReportSink::new(
                &report_dir,
                ReportSource {
                    input: "bench".into(),
                    title: "bench".into(),
                    details: serde_json::Value::Null,
                },
                &cfg,
            );
            sink.start(&RunStart {
                spec: spec.clone(),
                warnings: Vec::new(),
            })
            .expect("start");
            for p in &processed {
                sink.block(p).expect("block");
            }
            sink.finish(&RunEnd {
                channels: outcome.clone(),
                warnings: Vec::new(),
                end_time_s: processed.last().map_or(0.0, |p| p.frontier_s),
                elapsed: std::time::Duration::ZERO,
            })
            .expect("finish");
        })
    });
    g.finish();
}

criterion_group!(benches, stages, io);
criterion_main!(benches);
