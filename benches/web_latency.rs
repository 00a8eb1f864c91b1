//! The web screen's latency and cost (a benchmark, not a test): a simulated guided session in
//! real time (`knip demo --protocol strength --speed 1 --web`), watched by 0, 1 and 5 headless
//! chromium tabs on the patient's page.
//!
//! Latency: from a block's arrival at knip's sinks (wall clock, stamped by the web sink) to the
//! page's DOM update (performance.timeOrigin + now, same host clock), p50 and p99; "with the
//! block" adds the block's own span (its oldest sample waited that long: 50 ms at speed 1).
//! Cost: knip's CPU time (user + system, /proc/PID/stat) per second of session.
//!
//! `cargo bench --bench web_latency`; KNIP_WEB_BENCH_S sets each measured stretch (default
//! 300 s = 5 minutes; the 0-viewer stretch is a fifth of it). Needs chromium.

#[path = "../tests/web_support/mod.rs"]
mod web_support;

use std::time::{Duration, Instant};
use web_support::{Browser, Knip};

fn cpu_s(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let i = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
    v[i]
}

fn run(viewers: usize, seconds: u64) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s");
    let k = Knip::start(
        &[
            "demo",
            "--protocol",
            "strength",
            "--speed",
            "1",
            "--plain",
            "--web",
            "--out",
            out.to_str().unwrap(),
        ],
        true,
    );
    let url = format!("http://127.0.0.1:{}/", k.port);
    let mut b = if viewers > 0 {
        Some(Browser::launch())
    } else {
        None
    };
    let mut tabs = Vec::new();
    if let Some(b) = b.as_mut() {
        for _ in 0..viewers {
            tabs.push(b.open(&url, 800, 600));
        }
        for t in &tabs {
            b.wait_for(
                t,
                "window.knipState && window.knipState.cue",
                Duration::from_secs(30),
            );
            b.eval(t, "window.knipLatency.dom = []; window.knipLatency.frame = []; window.knipLatency.span = []; 1");
        }
    }
    let (c0, t0) = (cpu_s(k.pid()), Instant::now());
    std::thread::sleep(Duration::from_secs(seconds));
    let (c1, wall) = (cpu_s(k.pid()), t0.elapsed().as_secs_f64());
    let (mut dom, mut frame, mut with_block) = (Vec::new(), Vec::new(), Vec::new());
    if let Some(b) = b.as_mut() {
        for t in &tabs {
            let v = b.eval(t, "window.knipLatency");
            let arr = |k: &str| -> Vec<f64> {
                v[k].as_array()
                    .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
                    .unwrap_or_default()
            };
            let (d, f, s) = (arr("dom"), arr("frame"), arr("span"));
            with_block.extend(d.iter().zip(&s).map(|(a, b)| a + b));
            dom.extend(d);
            frame.extend(f);
        }
    }
    let n = dom.len();
    println!(
        "{viewers} viewer(s), {wall:.0} s: knip CPU {:.2} % of one core ({:.2} s); updates received {n} ({:.1}/s per viewer)",
        100.0 * (c1 - c0) / wall,
        c1 - c0,
        n as f64 / wall / viewers.max(1) as f64
    );
    if n > 0 {
        println!(
            "  arrival → DOM updated: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; → next frame drawn: p50 {:.1} ms, p99 {:.1} ms; with the block: p50 {:.1} ms, p99 {:.1} ms",
            pct(&mut dom.clone(), 50.0),
            pct(&mut dom.clone(), 99.0),
            pct(&mut dom, 100.0),
            pct(&mut frame.clone(), 50.0),
            pct(&mut frame, 99.0),
            pct(&mut with_block.clone(), 50.0),
            pct(&mut with_block, 99.0),
        );
    }
}

fn main() {
    // `cargo test --benches` runs this with --bench absent: nothing to do then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let s: u64 = std::env::var("KNIP_WEB_BENCH_S")
        .ok()
        .and_then(|x| x.parse().ok())
        .unwrap_or(300);
    run(0, (s / 5).max(10));
    run(1, s);
    run(5, s);
}
