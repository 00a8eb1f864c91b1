//! Feedback latency: from a block of samples entering the pipeline (conditioning, detection,
//! fusion) through the session runner to the live view redrawn (ratatui, 80×24). Criterion
//! times one 20-ms block of the strength session (2 kHz EMG × 2, 100 Hz pressure) in the middle
//! of a hold; a custom loop over a whole session prints p50/p99 of every block. The block
//! itself adds its length (20 ms, worst case for its first sample) on top of these figures.

use criterion::{criterion_group, criterion_main, Criterion};
use knip::config::AnalysisConfig;
use knip::frame::Block;
use knip::pipeline::Processor;
use knip::session::drive::session_sim;
use knip::session::protocol::Protocol;
use knip::session::run::{SessionRunner, SessionSetup};
use knip::simulate::SimulatedPatient;
use knip::source::Source;
use ratatui::backend::{CrosstermBackend, TestBackend};
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};
use std::time::Instant;

fn blocks() -> (SimulatedPatient, Vec<Block>) {
    let setup = SessionSetup::new(Protocol::load("strength").expect("built-in"));
    let mut p = SimulatedPatient::guided(&session_sim(1), &setup.phases()).expect("sim");
    let spec_p = SimulatedPatient::guided(&session_sim(1), &setup.phases()).expect("sim");
    let mut v = Vec::new();
    while let Ok(Some(b)) = p.next_block() {
        v.push(b);
    }
    (spec_p, v)
}

fn latency(c: &mut Criterion) {
    let (patient, blocks) = blocks();
    let cfg = AnalysisConfig::default();
    let setup = SessionSetup::new(Protocol::load("strength").expect("built-in"));
    // Whole session, block by block: percentiles of process + score + redraw.
    let mut proc = Processor::new(patient.spec(), &cfg).expect("design");
    let mut runner = SessionRunner::new(setup.clone());
    runner.start(patient.spec());
    let mut term = Terminal::new(TestBackend::new(80, 24)).expect("backend");
    // The real backend's escape-code encoding too (into memory, as a terminal would receive it).
    let mut real = Terminal::with_options(
        CrosstermBackend::new(std::io::sink()),
        TerminalOptions {
            viewport: Viewport::Fixed(Rect::new(0, 0, 80, 24)),
        },
    )
    .expect("crossterm backend");
    let mut us_real: Vec<f64> = Vec::with_capacity(blocks.len());
    let mut us: Vec<f64> = Vec::with_capacity(blocks.len());
    for b in blocks.iter().cloned() {
        let t = Instant::now();
        let p = proc.process(b);
        runner.push(&p);
        term.draw(|f| knip::sink::tui::draw(f, runner.live()))
            .expect("draw");
        us.push(t.elapsed().as_secs_f64() * 1e6);
        let t = Instant::now();
        real.draw(|f| knip::sink::tui::draw(f, runner.live()))
            .expect("draw");
        us_real.push(t.elapsed().as_secs_f64() * 1e6);
    }
    us_real.sort_by(f64::total_cmp);
    println!(
        "session_latency: crossterm encoding of each redraw p50 {:.0} µs, p99 {:.0} µs",
        us_real[us_real.len() / 2],
        us_real[((us_real.len() - 1) as f64 * 0.99).round() as usize]
    );
    us.sort_by(f64::total_cmp);
    let q = |x: f64| us[((us.len() - 1) as f64 * x).round() as usize];
    println!(
        "session_latency: {} blocks of 20 ms; process+score+redraw p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
        us.len(),
        q(0.5),
        q(0.99),
        q(1.0)
    );

    // Criterion: one block mid-hold (strength rep 1, t ≈ 43 s), state restored each time.
    let k = (43.0 / 0.02) as usize;
    let mut proc = Processor::new(patient.spec(), &cfg).expect("design");
    let mut runner = SessionRunner::new(setup);
    runner.start(patient.spec());
    for b in blocks[..k].iter().cloned() {
        let p = proc.process(b);
        runner.push(&p);
    }
    let block = blocks[k].clone();
    c.bench_function("block_to_redraw_20ms", |bch| {
        bch.iter(|| {
            let p = proc.process(block.clone());
            runner.push(&p);
            term.draw(|f| knip::sink::tui::draw(f, runner.live()))
                .expect("draw");
        })
    });
}

criterion_group!(benches, latency);
criterion_main!(benches);
