//! Streaming speed: a 2-channel 2 kHz recording. The default test streams 5 minutes of it; the
//! ignored one the full 60 minutes (7.2 M rows): `cargo test --release --test csv_input_speed --
//! --ignored --nocapture`.

use knip::source::csv_file::{CsvOptions, CsvSource};
use knip::source::Source;
use std::io::Write;
use std::time::Instant;

fn stream_minutes(minutes: u64, max_s: f64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.csv");
    let rows = minutes * 60 * 2000;
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        writeln!(w, "# rate_hz=2000 units=uV\ntime_s,pfm_emg,abd_emg").unwrap();
        for i in 0..rows {
            let t = i as f64 / 2000.0;
            writeln!(
                w,
                "{t:.6},{:.4},{:.4}",
                (i % 97) as f64 * 0.731,
                (i % 89) as f64 * -0.37
            )
            .unwrap();
        }
    }
    let size = std::fs::metadata(&path).unwrap().len();
    let t0 = Instant::now();
    let mut src = CsvSource::open(&path, &CsvOptions::default()).unwrap();
    let mut n = 0u64;
    let mut sum = 0.0;
    while let Some(b) = src.next_block().unwrap() {
        n += b.chunks[0].samples.len() as u64;
        sum += b.chunks[1].samples.iter().sum::<f64>();
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{rows} rows, {:.0} MB in {secs:.2} s ({:.1} M rows/s), checksum {sum:.1}",
        size as f64 / 1e6,
        rows as f64 / secs / 1e6
    );
    assert_eq!(n, rows);
    assert_eq!(src.spec().channels[0].rate_hz, 2000.0);
    assert!(src.warnings().is_empty(), "{:?}", src.warnings());
    assert!(secs < max_s, "streaming took {secs:.2} s, limit {max_s} s");
}

#[test]
fn five_minutes_at_2khz_streams_fast() {
    // 600 000 rows; generous limit for a shared, busy 2-core machine.
    stream_minutes(5, 5.0);
}

#[test]
#[ignore = "writes a 200 MB file; run by hand with --release --ignored"]
fn sixty_minutes_at_2khz_streams_in_a_few_seconds() {
    stream_minutes(60, 10.0);
}
