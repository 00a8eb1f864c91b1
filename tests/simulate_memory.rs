//! A one-hour simulated session streams in flat memory: the simulator never holds the signal.
//! (Alone in its own test binary, because it counts every allocation of the process.)

use knip::simulate::{SimConfig, SimulatedPatient};
use knip::source::Source;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn an_hour_streams_in_flat_memory() {
    let mut p = SimulatedPatient::new(&SimConfig {
        protocol: "long".to_string(),
        seed: 7,
        ..SimConfig::default()
    })
    .unwrap();
    assert!(p.duration_s() >= 3600.0);
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let mut samples = 0u64;
    let mut sum = 0.0;
    while let Some(block) = p.next_block().unwrap() {
        samples += block.total_samples() as u64;
        sum += block.chunks[0].samples.iter().sum::<f64>();
    }
    assert!(sum.is_finite());
    let expected: u64 = p
        .spec()
        .channels
        .iter()
        .map(|c| (p.duration_s() * c.rate_hz - 1e-6).ceil() as u64)
        .sum();
    assert_eq!(samples, expected);
    let grew = PEAK.load(Ordering::Relaxed) - base;
    let whole_signal = samples as usize * std::mem::size_of::<f64>();
    // A block is ~4 kB; allow generous slack for the per-contraction filter design.
    assert!(
        grew < 256 * 1024,
        "peak memory grew by {grew} bytes while streaming (whole signal: {whole_signal} bytes)"
    );
}
