//! `knip devices`: the port list runs on any machine; `--probe` tells a text-line device and a
//! streaming Cyton apart from what arrives on a pseudo-terminal.

mod serial_support;

use serial_support::*;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn devices_lists_ports_without_failing() {
    let o = Command::new(knip_bin())
        .arg("devices")
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("format:") || text.contains("No serial ports found"),
        "{text}"
    );
}

fn probe_while(bytes: Vec<u8>) -> String {
    let vp = VirtualPort::new();
    let mut plug = vp.plug();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let device = std::thread::spawn(move || {
        let t0 = Instant::now();
        let mut k = 0;
        while !stop2.load(std::sync::atomic::Ordering::SeqCst) && k < 200 {
            sleep_until(t0, Duration::from_millis(10 * k as u64));
            let from = (k * bytes.len() / 200) % bytes.len().max(1);
            let to = ((k + 1) * bytes.len() / 200).min(bytes.len());
            if from < to && !write_all(&mut plug.master, &bytes[from..to]) {
                break;
            }
            k += 1;
        }
        plug
    });
    let o = Command::new(knip_bin())
        .args(["devices", "--probe", &vp.path(), "--listen-s", "0.7"])
        .output()
        .expect("run");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = device.join();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).to_string()
}

#[test]
fn probe_recognises_a_text_line_device() {
    let text: String = std::iter::once("# rate_hz=500\n".to_string())
        .chain((0..1000).map(|k| format!("{k},{}\n", 2 * k)))
        .collect();
    let out = probe_while(text.into_bytes());
    assert!(out.contains(": line ("), "{out}");
    assert!(out.contains("columns ch1,ch2"), "{out}");
}

#[test]
fn probe_recognises_a_streaming_cyton() {
    let bytes: Vec<u8> = (0..500u64).flat_map(cyton_packet).collect();
    let out = probe_while(bytes);
    assert!(out.contains(": cyton ("), "{out}");
}
