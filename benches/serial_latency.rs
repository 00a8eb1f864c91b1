//! Latency from a byte arriving on the serial port to the contraction onset leaving the
//! detector.
//!
//! Two parts:
//! 1. criterion: the CPU cost of one read's worth of bytes (10 text lines = 10 ms at 1 kHz; one
//!    16 ms clump of 4 Cyton packets) through decoder → block → conditioning → detection.
//! 2. end to end over a pseudo-terminal (printed after criterion): an emulated 1 kHz text-line
//!    device writes one line per millisecond around each squeeze onset; the time from writing
//!    the line that holds the deciding sample to the onset notice reaching a pipeline sink is
//!    measured for every squeeze; p50/p99/max are printed. The envelope window and the onset
//!    hold are device time and do not count: this is the software's delay beyond them.
//!
//! Run: `cargo bench --bench serial_latency` (about a minute; `-- --quick` for the criterion
//! part's quick mode).

use criterion::{criterion_group, Criterion, Throughput};
use knip::config::AnalysisConfig;
use knip::error::OutputError;
use knip::frame::{Block, ChannelChunk, ChannelSpec, Role, StreamSpec};
use knip::pipeline::{self, Pace, Processed, Processor, RunEnd, RunStart, Sink};
use knip::source::cyton::{encode_packet, CytonConfig, CytonDecoder};
use knip::source::line::{LineConfig, LineDecoder};
use knip::source::link::{LinkConfig, WireFormat};
use knip::source::serial::{SerialOptions, SerialSource};
use knip::source::wire::{LinkStats, Rows};
use serialport::{SerialPort, TTYPort};
use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

const RATE_HZ: f64 = 1000.0;

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
}

fn warm_processor(spec: &StreamSpec, rng: &mut Lcg) -> Processor {
    let mut p = Processor::new(spec, &AnalysisConfig::default()).expect("processor");
    // Calibrate on 7 s of rest so the detector is live.
    let n = (7.0 * spec.channels[0].rate_hz) as usize;
    let samples: Vec<f64> = (0..n).map(|_| 5.0 * rng.next()).collect();
    let _ = p.process(Block {
        chunks: spec
            .channels
            .iter()
            .map(|_| ChannelChunk {
                start_index: 0,
                samples: samples.clone(),
            })
            .collect(),
    });
    p
}

fn chunk_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("bytes_to_detector");
    // Text lines: 10 lines of one channel.
    {
        let spec = StreamSpec {
            channels: vec![ChannelSpec::new(Role::PfmEmg, RATE_HZ)],
            start_time_s: 0.0,
        };
        let mut rng = Lcg(1);
        let mut proc_ = warm_processor(&spec, &mut rng);
        let mut dec = LineDecoder::new(LineConfig {
            rate_hz: Some(RATE_HZ),
            ..LineConfig::default()
        });
        let mut rows = Rows::default();
        let mut stats = LinkStats::default();
        dec.push(b"# start\n", &mut rows, &mut stats);
        let text: String = (0..10)
            .map(|_| format!("{:.2}\n", 5.0 * rng.next()))
            .collect();
        let bytes = text.into_bytes();
        let mut next = 7000u64;
        g.throughput(Throughput::Elements(10));
        g.bench_function("line_10_lines", |b| {
            b.iter(|| {
                rows.clear();
                dec.push(black_box(&bytes), &mut rows, &mut stats);
                let block = Block {
                    chunks: vec![ChannelChunk {
                        start_index: next,
                        samples: rows.values.clone(),
                    }],
                };
                next += rows.len() as u64;
                black_box(proc_.process(block))
            })
        });
    }
    // Cyton: one 16 ms clump of 4 packets, 2 channels used.
    {
        let spec = StreamSpec {
            channels: vec![
                ChannelSpec::new(Role::PfmEmg, 250.0),
                ChannelSpec::new(Role::AbdEmg, 250.0),
            ],
            start_time_s: 0.0,
        };
        let mut rng = Lcg(2);
        let mut proc_ = warm_processor(&spec, &mut rng);
        let mut dec = CytonDecoder::new(&CytonConfig::default());
        let mut rows = Rows::default();
        let mut stats = LinkStats::default();
        let mut counter = 0u8;
        let mut next = 1750u64;
        g.throughput(Throughput::Elements(4));
        g.bench_function("cyton_4_packets", |b| {
            b.iter(|| {
                let bytes: Vec<u8> = (0..4)
                    .flat_map(|_| {
                        counter = counter.wrapping_add(1);
                        encode_packet(counter, &[200; 8], 0xC0)
                    })
                    .collect();
                rows.clear();
                dec.push(black_box(&bytes), &mut rows, &mut stats);
                let n = rows.len();
                let col = |c: usize| (0..n).map(|k| rows.row(k)[c]).collect::<Vec<f64>>();
                let block = Block {
                    chunks: vec![
                        ChannelChunk {
                            start_index: next,
                            samples: col(0),
                        },
                        ChannelChunk {
                            start_index: next,
                            samples: col(1),
                        },
                    ],
                };
                next += n as u64;
                black_box(proc_.process(block))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, chunk_benches);

/// Sends each onset notice with the instant it reached the sinks.
struct OnsetProbe(crossbeam_channel::Sender<(f64, Instant)>);

impl Sink for OnsetProbe {
    fn start(&mut self, _: &RunStart) -> Result<(), OutputError> {
        Ok(())
    }
    fn block(&mut self, p: &Processed) -> Result<(), OutputError> {
        let now = Instant::now();
        for o in &p.onsets {
            let _ = self.0.send((o.decided_at_s, now));
        }
        Ok(())
    }
    fn finish(&mut self, _: &RunEnd) -> Result<(), OutputError> {
        Ok(())
    }
}

fn write_all(port: &mut TTYPort, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        match port.write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("device write: {e}"),
        }
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// End-to-end latency over a pty.
fn pty_latency(trials: usize) {
    let (mut master, slave) = TTYPort::pair().expect("pty");
    master
        .set_timeout(Duration::from_millis(50))
        .expect("timeout");
    let path = slave.name().expect("slave name");
    let mut rng = Lcg(9);
    let line = |v: f64| format!("pfm_emg:{v:.2}\n");
    // Calibration rest, written at once.
    let mut k: u64 = 0;
    let mut text = String::from("# rate_hz=1000\n");
    for _ in 0..7000 {
        text.push_str(&line(5.0 * rng.next()));
        k += 1;
    }
    let writer = std::thread::spawn(move || {
        write_all(&mut master, text.as_bytes());
        master
    });
    let source = SerialSource::open(&SerialOptions::new(
        &path,
        LinkConfig::new(WireFormat::Line(LineConfig::default())),
    ))
    .expect("open pty");
    let stop = source.stop_handle();
    let (tx, rx) = crossbeam_channel::unbounded();
    let cfg = AnalysisConfig::default();
    let pipe = std::thread::spawn(move || {
        pipeline::run(
            Box::new(source),
            &cfg,
            vec![Box::new(OnsetProbe(tx))],
            Pace::Unpaced,
        )
    });
    let mut master = writer.join().expect("writer");
    std::thread::sleep(Duration::from_millis(300));
    let mut written: std::collections::HashMap<u64, Instant> = Default::default();
    for _ in 0..trials {
        // Rest 1.5 s at once, squeeze: the first 300 ms one line per ms, the rest at once.
        let mut burst = String::new();
        for _ in 0..1500 {
            burst.push_str(&line(5.0 * rng.next()));
            k += 1;
        }
        write_all(&mut master, burst.as_bytes());
        std::thread::sleep(Duration::from_millis(50));
        let t0 = Instant::now();
        for i in 0..300u64 {
            // Sleep, not spin: the pipeline's threads need the cores.
            let due = Duration::from_micros(i * 1000);
            let now = t0.elapsed();
            if due > now {
                std::thread::sleep(due - now);
            }
            // The clock starts before the write: the write call is part of the path.
            let sent = Instant::now();
            write_all(&mut master, line(60.0 * rng.next()).as_bytes());
            written.insert(k, sent);
            k += 1;
        }
        let mut rest = String::new();
        for _ in 0..700 {
            rest.push_str(&line(60.0 * rng.next()));
            k += 1;
        }
        write_all(&mut master, rest.as_bytes());
    }
    let mut tail = String::new();
    for _ in 0..1500 {
        tail.push_str(&line(5.0 * rng.next()));
    }
    write_all(&mut master, tail.as_bytes());
    std::thread::sleep(Duration::from_millis(300));
    stop.stop();
    let _ = pipe.join();
    let mut lat_ms = Vec::new();
    let mut unmatched = 0;
    for (decided_at_s, at) in rx.try_iter() {
        let idx = (decided_at_s * RATE_HZ).round() as u64;
        match written.get(&idx) {
            Some(w) => lat_ms.push(at.duration_since(*w).as_secs_f64() * 1000.0),
            None => unmatched += 1,
        }
    }
    lat_ms.sort_by(|a, b| a.total_cmp(b));
    if lat_ms.is_empty() {
        println!("pty latency: no onset decided inside the paced windows ({unmatched} outside)");
        return;
    }
    println!(
        "pty byte→onset latency beyond the envelope window, {} squeezes ({} onsets outside the \
         paced windows): p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        lat_ms.len(),
        unmatched,
        percentile(&lat_ms, 0.5),
        percentile(&lat_ms, 0.99),
        lat_ms[lat_ms.len() - 1]
    );
    drop(slave);
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    let trials = std::env::var("KNIP_LATENCY_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(150);
    pty_latency(trials);
}
