//! `kill -9` while recording: at most the last second is missing, the CSV reads with
//! `knip analyze` (a torn last line is dropped), and the raw bytes replay.

use crate::serial_support;

use serial_support::*;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RATE_HZ: f64 = 1000.0;

#[test]
fn kill_9_loses_at_most_one_second_and_leaves_readable_files() {
    let vp = VirtualPort::new();
    let out = tempfile::tempdir().expect("out dir");
    let rec_dir = out.path().join("killed");
    let mut plug = vp.plug();
    // The device counts: sample k has the value k, so what is missing is plain to see.
    let sent = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (sent2, stop2) = (sent.clone(), stop.clone());
    let device = std::thread::spawn(move || {
        write_all(&mut plug.master, b"# rate_hz=1000\n");
        let t0 = Instant::now();
        let mut k = 0u64;
        while !stop2.load(Ordering::SeqCst) && k < 60_000 {
            sleep_until(t0, Duration::from_secs_f64(k as f64 / RATE_HZ));
            let text: String = (k..k + 10).map(|i| format!("pfm_emg:{i}\n")).collect();
            if !write_all(&mut plug.master, text.as_bytes()) {
                break;
            }
            k += 10;
            sent2.store(k, Ordering::SeqCst);
        }
        plug
    });
    let mut child = Command::new(knip_bin())
        .args([
            "record",
            "--port",
            &vp.path(),
            "--format",
            "line",
            "--plain",
            "--out",
        ])
        .arg(&rec_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn knip record");
    // Let it record for about 3 s of device time, then kill it without warning.
    while sent.load(Ordering::SeqCst) < 3000 {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL");
    let sent_at_kill = sent.load(Ordering::SeqCst);
    let _ = child.wait();
    stop.store(true, Ordering::SeqCst);
    let _plug = device.join().expect("device");

    // Complete lines on disk: consecutive values from 0; a torn last line is ignored here as
    // `knip analyze` does.
    let text = std::fs::read_to_string(rec_dir.join("recording.csv")).expect("csv");
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    let values: Vec<u64> = complete
        .lines()
        .skip(1)
        .map(|l| {
            l.split(',')
                .nth(1)
                .and_then(|v| v.parse().ok())
                .expect("value")
        })
        .collect();
    assert!(
        values.iter().enumerate().all(|(i, v)| *v == i as u64),
        "no hole in what was kept"
    );
    let kept = values.len() as u64;
    let lost = sent_at_kill - kept;
    println!(
        "kill -9 after {sent_at_kill} samples sent: {kept} on disk, {lost} lost ({:.3} s)",
        lost as f64 / RATE_HZ
    );
    assert!(lost as f64 <= RATE_HZ, "lost {lost} samples, more than 1 s");

    let analyzed = out.path().join("analyzed");
    let o = Command::new(knip_bin())
        .arg("analyze")
        .arg(rec_dir.join("recording.csv"))
        .arg("--out")
        .arg(&analyzed)
        .output()
        .expect("analyze");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let replayed = out.path().join("replayed");
    let o = Command::new(knip_bin())
        .arg("replay")
        .arg(rec_dir.join("recording.raw"))
        .args(["--fast", "--plain", "--out"])
        .arg(&replayed)
        .output()
        .expect("replay");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The raw log holds at least what the CSV holds.
    let link: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(replayed.join("link.json")).expect("link"))
            .expect("json");
    assert!(link["stats"]["samples"].as_u64().unwrap_or(0) + 1000 >= kept);
}
