//! `knip devices`: the port list runs on any machine; `--probe` tells a text-line device and a
//! streaming Cyton apart from what arrives on a pseudo-terminal. And a BITalino (r)evolution
//! emulated on a pseudo-terminal: its commands, frames with garbage, a CRC error and sequence
//! gaps (modulo 16), decoded to µV.

use crate::serial_support;

use serial_support::*;
use std::io::Read;
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

/// `knip devices --probe` on a port that plays `device` (polled until the probe ends); the
/// probe's output and every byte the device received.
fn probe_silent(
    mut device: impl FnMut(&mut Plug) -> Vec<u8> + Send + 'static,
) -> (String, Vec<u8>) {
    let vp = VirtualPort::new();
    let mut plug = vp.plug();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let t = std::thread::spawn(move || {
        let mut received = Vec::new();
        while !stop2.load(std::sync::atomic::Ordering::SeqCst) {
            received.extend(device(&mut plug));
            std::thread::sleep(Duration::from_millis(5));
        }
        received
    });
    let o = Command::new(knip_bin())
        .args(["devices", "--probe", &vp.path(), "--listen-s", "0.3"])
        .output()
        .expect("run");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let received = t.join().expect("device thread");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (String::from_utf8_lossy(&o.stdout).to_string(), received)
}

#[test]
fn probe_asks_a_silent_port_and_recognises_a_bitalino() {
    let (out, received) = probe_silent(|plug| {
        let mut buf = [0u8; 64];
        let n = plug.master.read(&mut buf).unwrap_or(0);
        if buf[..n].contains(&0x07) {
            // A stale byte first, then the answer, as over a Bluetooth link.
            let _ = write_all(&mut plug.master, b"\x00");
            let _ = write_all(&mut plug.master, BITALINO_VERSION);
        }
        buf[..n].to_vec()
    });
    assert!(out.contains(": bitalino ("), "{out}");
    assert!(out.contains("BITalino_v5.2"), "{out}");
    assert_eq!(received, vec![0x07], "only the version command is sent");
}

#[test]
fn probe_of_a_port_that_stays_silent_says_so() {
    let (out, received) = probe_silent(|plug| {
        let mut buf = [0u8; 64];
        let n = plug.master.read(&mut buf).unwrap_or(0);
        buf[..n].to_vec()
    });
    assert!(out.contains("unknown format"), "{out}");
    assert!(
        out.contains("no answer to the BITalino version command"),
        "{out}"
    );
    assert_eq!(received, vec![0x07]);
}

#[test]
fn probe_of_a_missing_port_names_it_and_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = dir.path().join("ttyACM9");
    let o = Command::new(knip_bin())
        .args(["devices", "--probe", port.to_str().expect("utf-8")])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("ttyACM9") && err.contains("knip devices"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn probe_recognises_a_streaming_cyton() {
    let bytes: Vec<u8> = (0..500u64).flat_map(cyton_packet).collect();
    let out = probe_while(bytes);
    assert!(out.contains(": cyton ("), "{out}");
}

#[test]
fn bitalino_frames_with_garbage_a_bad_crc_and_sequence_gaps() {
    use knip::source::bitalino::{
        crc_ok, emg_uv, encode_frame, frame_bytes, plan_channels, BitalinoConfig,
    };
    use knip::source::link::{parse_channel_requests, LinkConfig, WireFormat};
    use knip::source::serial::{SerialOptions, SerialSource};
    use knip::source::Source;

    let vp = VirtualPort::new();
    let mut emu = BitalinoEmulator::new(vp.plug());
    let n = 2;
    let len = frame_bytes(n);
    let value = |k: u64, c: usize| ((k * 7 + c as u64 * 300) % 1024) as u32;
    let garbage = [0x21u8, 0x9C, 0x01, 0x47, 0xE5];
    // Frames 0..2000 at 1000 Hz. Lost on the wire: 1300..1303 (3), 1600..1620 (20, which a
    // 4-bit sequence number reads as 4). Frame 900 arrives with a flipped bit (CRC error);
    // garbage arrives before frame 500.
    let lost = |k: u64| (1300..1303).contains(&k) || (1600..1620).contains(&k);
    let frame = move |k: u64| encode_frame((k & 0x0F) as u8, 0b1010, &[value(k, 0), value(k, 1)]);
    let mut probe = garbage.to_vec();
    probe.extend(frame(500));
    assert!(
        !crc_ok(&probe[..len]),
        "the garbage must break the frame read across it"
    );
    let device = std::thread::spawn(move || {
        assert!(
            emu.wait_for_start(Duration::from_secs(5)),
            "no start command"
        );
        let t0 = Instant::now();
        let mut k = 0u64;
        while k < 2000 && emu.streaming() {
            sleep_until(t0, Duration::from_millis(k));
            let mut bytes = Vec::new();
            for j in k..k + 10 {
                if lost(j) {
                    continue;
                }
                if j == 500 {
                    bytes.extend(garbage);
                }
                let mut f = frame(j);
                if j == 900 {
                    f[0] ^= 0x08;
                }
                bytes.extend(f);
            }
            emu.write(&bytes);
            emu.poll_commands();
            k += 10;
        }
        let until = Instant::now() + Duration::from_secs(5);
        while emu.streaming() && Instant::now() < until {
            emu.poll_commands();
        }
        (
            emu.rate_hz,
            emu.analog.clone(),
            emu.streaming(),
            emu.commands.clone(),
        )
    });
    let (analog, requests) =
        plan_channels(&parse_channel_requests("pfm_emg:1,abd_emg:3").expect("parse"))
            .expect("plan");
    let mut link = LinkConfig::new(WireFormat::Bitalino(BitalinoConfig {
        rate_hz: 1000,
        analog,
    }));
    link.channels = requests;
    let mut source = SerialSource::open(&SerialOptions::new(&vp.path(), link)).expect("open");
    assert_eq!(source.device(), "PLUX BITalino_v5.2");
    let spec = source.spec().clone();
    assert_eq!(spec.channels.len(), 2);
    assert_eq!(spec.channels[0].rate_hz, 1000.0);
    assert_eq!(spec.channels[1].unit, "uV");
    let report = source.report();
    let mut got = std::collections::BTreeMap::new();
    let last_index = 1999 - 16;
    let safety = Instant::now() + Duration::from_secs(20);
    while !got.contains_key(&last_index) && Instant::now() < safety {
        match source.next_block() {
            Ok(Some(b)) => {
                for k in 0..b.chunks[0].samples.len() {
                    let row = (b.chunks[0].samples[k], b.chunks[1].samples[k]);
                    assert!(got
                        .insert(b.chunks[0].start_index + k as u64, row)
                        .is_none());
                }
            }
            Ok(None) => break,
            Err(e) => panic!("stream failed: {e}"),
        }
    }
    source.stop_handle().stop();
    drop(source);
    let (rate, inputs, still_streaming, commands) = device.join().expect("device");
    assert_eq!(rate, Some(1000));
    assert_eq!(inputs, vec![1, 3]);
    assert!(!still_streaming, "the host did not send the stop command");
    // stop, version, rate (1000 Hz), start A1+A3 in live mode, then stop when done.
    assert_eq!(&commands[..4], &[0x00, 0x07, 0xC3, 0b0001_0101]);
    assert_eq!(commands.last(), Some(&0x00));
    // Every frame that arrived whole is there, at its time; after the 20-frame gap (read as 4)
    // the samples sit 16 earlier, as the modulo-16 sequence says.
    let mut expected = std::collections::BTreeMap::new();
    for k in 0..2000u64 {
        if lost(k) || k == 900 {
            continue;
        }
        let idx = if k >= 1620 { k - 16 } else { k };
        expected.insert(idx, (emg_uv(value(k, 0), 10), emg_uv(value(k, 1), 10)));
    }
    assert_eq!(got.len(), expected.len());
    for (i, (a, b)) in &expected {
        let (x, y) = got.get(i).unwrap_or_else(|| panic!("index {i} missing"));
        assert!((x - a).abs() < 1e-9 && (y - b).abs() < 1e-9, "index {i}");
    }
    let r = report.lock().expect("report").clone();
    assert_eq!(r.stats.lost_samples, 1 + 3 + 4);
    assert_eq!(r.stats.crc_errors, 2);
    assert_eq!(r.stats.resyncs, 2);
    assert_eq!(r.stats.skipped_bytes, (garbage.len() + len) as u64);
    assert_eq!(r.gaps.len(), 3);
    assert_eq!(
        r.channel_map,
        vec![
            "A1 → pfm_emg (uV)".to_string(),
            "A3 → abd_emg (uV)".to_string()
        ]
    );
}

/// Without the `lsl` feature, `--lsl` says how to build it and exits 2 before doing anything.
#[cfg(not(feature = "lsl"))]
#[test]
fn lsl_without_the_feature_names_the_build_command() {
    let out = tempfile::tempdir().expect("out dir");
    for args in [
        vec![
            "record",
            "--port",
            "/dev/ttyKNIP-none",
            "--format",
            "line",
            "--lsl",
            "--out",
        ],
        vec!["session", "--simulate", "--lsl", "--plain", "--out"],
        vec!["replay", "nothing.csv", "--lsl", "--out"],
    ] {
        let o = Command::new(knip_bin())
            .args(&args)
            .arg(out.path().join("x"))
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("cargo build --release --features lsl"),
            "{args:?}: {stderr}"
        );
        assert!(!out.path().join("x").exists(), "{args:?} wrote output");
    }
}
