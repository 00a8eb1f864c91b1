//! An OpenBCI Cyton emulated on a pseudo-terminal: soft reset and start/stop commands, 33-byte
//! packets at 250 Hz in the 16 ms clumps of the dongle's FTDI latency timer, garbage, torn
//! packets, counter gaps (modulo 256), channel selection, unplug and replug.

use crate::serial_support;

use knip::frame::Role;
use knip::source::cyton::{uv_per_count, CytonConfig};
use knip::source::link::{parse_channel_requests, GapCause, LinkConfig, WireFormat};
use knip::source::serial::{SerialOptions, SerialSource};
use knip::source::Source;
use serial_support::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Packets per write: 16 ms of 250 Hz.
const CLUMP: usize = 4;

fn cyton_options(path: &str, channels: &str) -> SerialOptions {
    let mut link = LinkConfig::new(WireFormat::Cyton(CytonConfig::default()));
    link.channels = parse_channel_requests(channels).expect("channels");
    SerialOptions::new(path, link)
}

/// Stream `items` (packets or garbage) at 250 Hz packet pace, in clumps; returns when done.
fn stream(emu: &mut CytonEmulator, items: &[Vec<u8>]) {
    let t0 = Instant::now();
    for (k, clump) in items.chunks(CLUMP).enumerate() {
        sleep_until(t0, Duration::from_secs_f64((k * CLUMP) as f64 / 250.0));
        emu.poll_commands();
        let bytes: Vec<u8> = clump.concat();
        emu.write(&bytes);
    }
}

fn collect(
    source: &mut SerialSource,
    until: impl Fn(&BTreeMap<u64, Vec<f64>>) -> bool,
) -> BTreeMap<u64, Vec<f64>> {
    let mut got = BTreeMap::new();
    let safety = Instant::now() + Duration::from_secs(20);
    while !until(&got) && Instant::now() < safety {
        match source.next_block() {
            Ok(Some(b)) => {
                for k in 0..b.chunks[0].samples.len() {
                    let idx = b.chunks[0].start_index + k as u64;
                    let row: Vec<f64> = b.chunks.iter().map(|c| c.samples[k]).collect();
                    assert!(got.insert(idx, row).is_none());
                }
            }
            Ok(None) => break,
            Err(e) => panic!("stream failed: {e}"),
        }
    }
    got
}

#[test]
fn cyton_packets_with_garbage_and_counter_gaps_keep_exact_times() {
    let vp = VirtualPort::new();
    let mut emu = CytonEmulator::new(vp.plug());
    // Packet k carries counter k mod 256. Lost on the wire: 100..110, 300, 420 (torn), and a
    // run of 254 (the longest a 1-byte counter still tells: one more and the counter comes
    // back to the same value).
    let n = 900u64;
    let mut items: Vec<Vec<u8>> = Vec::new();
    let mut expected = BTreeMap::new();
    let scale = uv_per_count(24.0);
    for k in 0..n {
        if (100..110).contains(&k) || k == 300 || (500..754).contains(&k) {
            continue;
        }
        if k == 200 {
            // A brown-out burst full of fake headers and footers.
            items.push(vec![
                0xA0, 0xC0, 0xA0, 0x00, 0xA0, 0xC6, 0x13, 0xA0, 0xA0, 0xFF, 0xC1,
            ]);
            items.push(vec![0x55; 40]);
        }
        if k == 420 {
            items.push(cyton_packet(k)[..20].to_vec());
            continue;
        }
        items.push(cyton_packet(k).to_vec());
        let c = cyton_counts(k);
        expected.insert(k, vec![c[2] as f64 * scale, c[4] as f64 * scale]);
    }
    let device = std::thread::spawn(move || {
        assert!(
            emu.wait_for_start(Duration::from_secs(5)),
            "host never sent `b`"
        );
        stream(&mut emu, &items);
        // The host sends `s` when it stops.
        let until = Instant::now() + Duration::from_secs(5);
        while emu.streaming() && Instant::now() < until {
            emu.poll_commands();
        }
        emu.streaming()
    });
    let mut source =
        SerialSource::open(&cyton_options(&vp.path(), "pfm_emg:3,abd_emg:5")).expect("open");
    assert!(
        source.device().contains("Firmware: v3.1.2"),
        "{}",
        source.device()
    );
    let spec = source.spec().clone();
    assert_eq!(spec.channels[0].role, Role::PfmEmg);
    assert_eq!(spec.channels[1].role, Role::AbdEmg);
    assert_eq!(spec.channels[0].rate_hz, 250.0);
    assert_eq!(spec.channels[0].unit, "uV");
    let report = source.report();
    let got = collect(&mut source, |g| g.contains_key(&(n - 1)));
    source.stop_handle().stop();
    drop(source);
    let still_streaming = device.join().expect("device");
    assert!(
        !still_streaming,
        "the host did not send `s` when it stopped"
    );

    assert_eq!(got.len(), expected.len());
    for (k, v) in &expected {
        let g = got.get(k).unwrap_or_else(|| panic!("packet {k} missing"));
        assert!(
            (g[0] - v[0]).abs() < 1e-9 && (g[1] - v[1]).abs() < 1e-9,
            "packet {k}"
        );
    }
    let r = report.lock().expect("report").clone();
    assert_eq!(r.stats.lost_samples, 10 + 1 + 1 + 254);
    assert!(r.stats.resyncs >= 2, "{:?}", r.stats);
    let wire: Vec<(u64, u64)> = r
        .gaps
        .iter()
        .filter(|g| g.cause == GapCause::Wire)
        .map(|g| (g.start_index, g.lost_samples))
        .collect();
    assert_eq!(wire, vec![(100, 10), (300, 1), (420, 1), (500, 254)]);
}

#[test]
fn a_gap_of_256_packets_or_more_is_invisible_as_documented() {
    // Not a pty test: the decoder alone. 255 lost packets bring the counter back to the same
    // value, which reads as a duplicate; 299 lost read as 43. Reports state this limit.
    use knip::source::cyton::CytonDecoder;
    use knip::source::wire::{LinkStats, Rows};
    let mut d = CytonDecoder::new(&CytonConfig::default());
    let mut rows = Rows::default();
    let mut stats = LinkStats::default();
    let ks: Vec<u64> = vec![0, 1, 2, 302, 303, 304];
    let bytes: Vec<u8> = ks.iter().flat_map(|&k| cyton_packet(k)).collect();
    d.push(&bytes, &mut rows, &mut stats);
    assert_eq!(rows.indices, vec![0, 1, 2, 46, 47, 48]);
    assert_eq!(stats.lost_samples, 43);
}

#[test]
fn cyton_unplug_and_replug_restarts_streaming_and_marks_the_gap() {
    let vp = std::sync::Arc::new(VirtualPort::new());
    let plug = vp.plug();
    let vp2 = vp.clone();
    let device = std::thread::spawn(move || {
        let mut emu = CytonEmulator::new(plug);
        assert!(emu.wait_for_start(Duration::from_secs(5)));
        let first: Vec<Vec<u8>> = (0..250u64).map(|k| cyton_packet(k).to_vec()).collect();
        stream(&mut emu, &first);
        std::thread::sleep(Duration::from_millis(50));
        vp2.unplug(emu.plug);
        std::thread::sleep(Duration::from_millis(1000));
        // Back on the same path; the board needs its start command again.
        let mut emu = CytonEmulator::new(vp2.plug());
        assert!(
            emu.wait_for_start(Duration::from_secs(5)),
            "no restart after replug"
        );
        let second: Vec<Vec<u8>> = (1000..1250u64).map(|k| cyton_packet(k).to_vec()).collect();
        stream(&mut emu, &second);
        emu
    });
    let mut source = SerialSource::open(&cyton_options(&vp.path(), "")).expect("open");
    let report = source.report();
    let scale = uv_per_count(24.0);
    let last = cyton_counts(1249)[0] as f64 * scale;
    let got = collect(&mut source, |g| {
        g.values().any(|v| (v[0] - last).abs() < 1e-9)
    });
    source.stop_handle().stop();
    let _emu = device.join().expect("device");
    for k in 0..250u64 {
        let v = got.get(&k).unwrap_or_else(|| panic!("sample {k}"));
        assert!((v[0] - cyton_counts(k)[0] as f64 * scale).abs() < 1e-9);
    }
    let after: Vec<u64> = got.range(250..).map(|(k, _)| *k).collect();
    // The first packet after the replug waits for a second to confirm it (searching), so all
    // 250 arrive, consecutive.
    assert_eq!(after.len(), 250);
    assert!(after.windows(2).all(|w| w[1] == w[0] + 1));
    let r = report.lock().expect("report").clone();
    assert_eq!(r.stats.disconnects, 1);
    assert_eq!(r.stats.reconnects, 1);
    let gap = r
        .gaps
        .iter()
        .find(|g| g.cause == GapCause::Unplugged)
        .expect("unplug gap");
    assert_eq!(gap.start_index, 250);
    assert_eq!(gap.lost_samples, after[0] - 250);
    // ~1 s unplugged + the reopen poll + the restart handshake, at 250 Hz.
    assert!((200..700).contains(&gap.lost_samples), "{gap:?}");
}

/// A guided session with a Cyton: the simulated patient's EMG (pelvic floor on board channel 1,
/// abdomen on 2) as 24-bit counts in 33-byte packets; knip soft-resets the board, starts it,
/// runs the protocol on the packet counter's clock, stops the board when the protocol is over,
/// and every judged rep agrees with what the patient did.
#[test]
fn guided_session_on_a_cyton_scores_the_simulated_patient() {
    use knip::session::protocol::{PhaseKind, Protocol};
    use std::process::Command;
    let protocol = Protocol::load("identify").expect("identify");
    let phases = protocol.session_phases(true);
    let sim = knip::simulate::SimConfig {
        seed: 5,
        emg_rate_hz: 250.0,
        pressure_rate_hz: 250.0,
        roles: vec![Role::PfmEmg, Role::AbdEmg],
        block_s: 0.1,
        ..Default::default()
    };
    let mut patient = knip::simulate::SimulatedPatient::guided(&sim, &phases).expect("patient");
    let truth = patient.rep_truth().to_vec();
    let scale = uv_per_count(24.0);
    let mut packets: Vec<Vec<u8>> = Vec::new();
    while let Some(b) = patient.next_block().expect("block") {
        for i in 0..b.chunks[0].samples.len() {
            let mut counts = [0i32; knip::source::cyton::CHANNELS];
            counts[0] = (b.chunks[0].samples[i] / scale).round() as i32;
            counts[1] = (b.chunks[1].samples[i] / scale).round() as i32;
            let k = packets.len() as u64;
            packets.push(knip::source::cyton::encode_packet(k as u8, &counts, 0xC0).to_vec());
        }
    }
    let vp = VirtualPort::new();
    let out = tempfile::tempdir().expect("out");
    let dir = out.path().join("cyton-session");
    let mut emu = CytonEmulator::new(vp.plug());
    let child = Command::new(knip_bin())
        .args([
            "session",
            "--port",
            &vp.path(),
            "--format",
            "cyton",
            "--channels",
            "pfm_emg:1,abd_emg:2",
            "--protocol",
            "identify",
            "--plain",
            "--out",
        ])
        .arg(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn knip session");
    assert!(
        emu.wait_for_start(Duration::from_secs(10)),
        "knip never started the board"
    );
    // Eight times the board's pace: the counter is the clock, not the arrival time.
    let t0 = Instant::now();
    for (k, clump) in packets.chunks(CLUMP * 8).enumerate() {
        sleep_until(t0, Duration::from_secs_f64((k * CLUMP) as f64 / 250.0));
        emu.poll_commands();
        if !emu.streaming() {
            break;
        }
        emu.write(&clump.concat());
    }
    // knip stops the board once the protocol is over.
    let until = Instant::now() + Duration::from_secs(10);
    while emu.streaming() && Instant::now() < until {
        emu.poll_commands();
    }
    assert!(!emu.streaming(), "knip did not stop the board");
    let o = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "session failed: {stderr}\n{stdout}");
    assert!(stdout.contains("session complete"), "{stdout}");
    assert!(
        stderr.contains("250 Hz"),
        "the low rate is warned about: {stderr}"
    );
    let rows = read_csv(&dir.join("reps.csv"));
    let col = |n: &str| rows[0].iter().position(|c| c == n).expect("column");
    let (pc, rc, vc) = (col("phase"), col("rep"), col("verdict"));
    let mut judged = 0;
    for t in truth
        .iter()
        .filter(|t| phases[t.phase].kind == PhaseKind::Hold)
    {
        let row = rows
            .iter()
            .find(|r| r[pc] == phases[t.phase].name && r[rc] == t.rep.to_string())
            .unwrap_or_else(|| panic!("rep {} missing: {stdout}", t.rep));
        assert_eq!(
            row[vc],
            if t.pass { "pass" } else { "fail" },
            "rep {}: truth {}",
            t.rep,
            t.outcome
        );
        judged += 1;
    }
    assert_eq!(judged, 10);
}

fn daisy_options(path: &str, channels: &str) -> SerialOptions {
    let mut link = LinkConfig::new(WireFormat::CytonDaisy(CytonConfig::default()));
    link.channels = parse_channel_requests(channels).expect("channels");
    SerialOptions::new(path, link)
}

#[test]
fn cyton_daisy_pairs_odd_and_even_packets_and_counts_a_missing_one_exactly() {
    let vp = VirtualPort::new();
    let mut emu = CytonEmulator::with_banner(vp.plug(), DAISY_BANNER);
    // Packet k carries counter k mod 256: odd = board channels 1–8, even = Daisy 9–16. Lost on
    // the wire: 101 (a board packet), 250 (a Daisy packet) and 400–403 (two whole pairs).
    let n = 700u64;
    let lost = |k: u64| k == 101 || k == 250 || (400..404).contains(&k);
    let mut items: Vec<Vec<u8>> = Vec::new();
    for k in 0..n {
        if k == 300 {
            items.push(vec![0xA0, 0x11, 0xC0, 0xA0, 0x55]);
        }
        if !lost(k) {
            items.push(cyton_packet(k).to_vec());
        }
    }
    let scale = uv_per_count(24.0);
    let mut expected = BTreeMap::new();
    for odd in (1..n - 1).step_by(2) {
        if !lost(odd) && !lost(odd + 1) {
            // pfm_emg = board channel 3 (odd packet), abd_emg = Daisy channel 12 (even, 4th).
            let v = vec![
                cyton_counts(odd)[2] as f64 * scale,
                cyton_counts(odd + 1)[3] as f64 * scale,
            ];
            expected.insert((odd - 1) / 2, v);
        }
    }
    let device = std::thread::spawn(move || {
        assert!(emu.wait_for_start(Duration::from_secs(5)), "no `b`");
        stream(&mut emu, &items);
        let until = Instant::now() + Duration::from_secs(5);
        while emu.streaming() && Instant::now() < until {
            emu.poll_commands();
        }
        emu.streaming()
    });
    let mut source =
        SerialSource::open(&daisy_options(&vp.path(), "pfm_emg:3,abd_emg:12")).expect("open");
    assert!(source.device().contains("Daisy"), "{}", source.device());
    let spec = source.spec().clone();
    assert_eq!(spec.channels[0].rate_hz, 125.0);
    let report = source.report();
    let last = *expected.keys().last().expect("pairs");
    let got = collect(&mut source, |g| g.contains_key(&last));
    source.stop_handle().stop();
    drop(source);
    assert!(!device.join().expect("device"), "no `s` at the end");
    assert_eq!(got.len(), expected.len());
    for (k, v) in &expected {
        let g = got.get(k).unwrap_or_else(|| panic!("pair {k} missing"));
        assert!(
            (g[0] - v[0]).abs() < 1e-9 && (g[1] - v[1]).abs() < 1e-9,
            "pair {k}"
        );
    }
    let r = report.lock().expect("report").clone();
    // (101,102), (249,250), (399,400), (401,402), (403,404): five 16-channel samples.
    assert_eq!(r.stats.lost_samples, 5);
    let wire: Vec<(u64, u64)> = r
        .gaps
        .iter()
        .map(|g| (g.start_index, g.lost_samples))
        .collect();
    assert_eq!(wire, vec![(50, 1), (124, 1), (199, 3)]);
}

#[test]
fn a_board_whose_daisy_does_not_match_the_format_is_refused() {
    let vp = VirtualPort::new();
    let mut emu = CytonEmulator::with_banner(vp.plug(), DAISY_BANNER);
    let device = std::thread::spawn(move || {
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            emu.poll_commands();
        }
    });
    let err = SerialSource::open(&cyton_options(&vp.path(), ""))
        .err()
        .expect("a Daisy board read as a plain Cyton must fail");
    let _ = device.join();
    let text = err.to_string();
    assert!(
        text.contains("Daisy") && text.contains("--format cyton-daisy"),
        "{text}"
    );
}
