//! A text-line device emulated on a pseudo-terminal at its real pace: every form of DEVICES.md §1,
//! garbage, counter gaps, an unplugged and replugged cable, a slow consumer; labels that map
//! themselves (`PFM:…,abd:…,mmHg:…`) and those that do not.

use crate::serial_support;

use knip::frame::Role;
use knip::source::line::LineConfig;
use knip::source::link::{GapCause, LinkConfig, LinkStatus, WireFormat};
use knip::source::serial::{SerialOptions, SerialSource};
use knip::source::Source;
use serial_support::*;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const RATE_HZ: f64 = 500.0;

fn line_options(path: &str, channels: &str) -> SerialOptions {
    let mut link = LinkConfig::new(WireFormat::Line(LineConfig::default()));
    link.channels = knip::source::link::parse_channel_requests(channels).expect("channels");
    SerialOptions::new(path, link)
}

/// Take blocks until `done` says so (or a generous safety limit); returns index → (pfm, abd).
fn collect(
    source: &mut SerialSource,
    mut done: impl FnMut(&BTreeMap<u64, (f64, f64)>) -> bool,
) -> BTreeMap<u64, (f64, f64)> {
    let mut got = BTreeMap::new();
    let safety = Instant::now() + Duration::from_secs(20);
    while !done(&got) && Instant::now() < safety {
        match source.next_block() {
            Ok(Some(b)) => {
                let (a, c) = (&b.chunks[0], &b.chunks[1]);
                assert_eq!(a.start_index, c.start_index);
                assert_eq!(a.samples.len(), c.samples.len());
                for (k, (x, y)) in a.samples.iter().zip(&c.samples).enumerate() {
                    assert!(
                        got.insert(a.start_index + k as u64, (*x, *y)).is_none(),
                        "index delivered twice"
                    );
                }
            }
            Ok(None) => break,
            Err(e) => panic!("stream failed: {e}"),
        }
    }
    got
}

#[test]
fn every_line_form_with_garbage_and_counter_gaps_at_real_pace() {
    let vp = VirtualPort::new();
    let mut plug = vp.plug();
    // What the device sends: a partial first line, a boot banner, headers, a blank line, then
    // 1.6 s of samples with a 16-bit counter that wraps, lines dropped, garbage and a NaN.
    let mut lines: Vec<String> = vec![
        "12,-98\n".into(),
        "Perineometer v1.2 booting...\n".into(),
        "# rate_hz=500\n".into(),
        "# seq=16\n".into(),
        "# channels=pfm_emg:uV,abd_emg:uV\n".into(),
        "\r\n".into(),
    ];
    let mut expected = BTreeMap::new();
    let n = 800u64;
    let first_seq = 65_300u64;
    for k in 0..n {
        let seq = (first_seq + k) % 65_536;
        if (300..305).contains(&k) || k == 700 {
            continue; // lost on the wire: the counter tells
        }
        match k {
            400 => lines.push(format!("{seq},nan,1\r\n")),
            500 => lines.push("\u{1}\u{7f}garbage#@!\u{3}\n".into()),
            600 => lines.push(format!("{seq}\t{}\t{}\r\n", k / 2, -(k as i64))),
            _ => lines.push(format!("{seq},{},{}\r\n", k as f64 * 0.5, -(k as f64))),
        }
        if k != 400 && k != 500 {
            let pfm = if k == 600 {
                (k / 2) as f64
            } else {
                k as f64 * 0.5
            };
            expected.insert(k, (pfm, -(k as f64)));
        }
    }
    let device = std::thread::spawn(move || {
        play_lines(&mut plug.master, &lines, RATE_HZ, 5, 1.0);
        plug
    });
    let mut source = SerialSource::open(&line_options(&vp.path(), "")).expect("open");
    let spec = source.spec().clone();
    assert_eq!(spec.channels.len(), 2);
    assert_eq!(spec.channels[0].role, Role::PfmEmg);
    assert_eq!(spec.channels[1].role, Role::AbdEmg);
    assert_eq!(spec.channels[0].rate_hz, RATE_HZ);
    let report = source.report();
    let got = collect(&mut source, |g| g.contains_key(&(n - 1)));
    let _plug = device.join().expect("device");
    source.stop_handle().stop();
    assert_eq!(got, expected, "every sample at its counter's index");
    let r = report.lock().expect("report").clone();
    assert_eq!(r.stats.partial_first_lines, 1);
    assert_eq!(r.stats.banner_lines, 1);
    assert_eq!(r.stats.header_lines, 3);
    assert_eq!(r.stats.nan_values, 1);
    assert_eq!(r.stats.malformed_lines, 1);
    // Lost: 5 + 1 dropped lines, line 500 (garbage), line 400 (NaN).
    assert_eq!(r.stats.lost_samples, 8);
    let wire_gaps: u64 = r
        .gaps
        .iter()
        .filter(|g| g.cause == GapCause::Wire)
        .map(|g| g.lost_samples)
        .sum();
    assert_eq!(wire_gaps, 8);
}

#[test]
fn unplug_is_noticed_and_replug_resumes_with_the_gap_marked() {
    let vp = VirtualPort::new();
    let plug = vp.plug();
    let status: Arc<Mutex<Vec<(Instant, LinkStatus)>>> = Arc::default();
    // 1 s of samples, unplug, 1.5 s later replug; the device restarts counting at 0 and
    // prints its banner again.
    let first: Vec<String> = std::iter::once("\n# rate_hz=500\n# seq=16\n".to_string())
        .chain((0..500u64).map(|k| format!("{k},{k},-{k}\n")))
        .collect();
    let second: Vec<String> = std::iter::once("partial\nBoot v1.2\n# rate_hz=500\n".to_string())
        .chain((0..500u64).map(|k| format!("{k},{},{}\n", 1000 + k, -1000 - (k as i64))))
        .collect();
    let (unplugged_tx, unplugged_rx) = std::sync::mpsc::channel::<Instant>();
    let vp = Arc::new(vp);
    let vp2 = vp.clone();
    let device = std::thread::spawn(move || {
        let mut plug = plug;
        play_lines(&mut plug.master, &first, RATE_HZ, 5, 1.0);
        std::thread::sleep(Duration::from_millis(100));
        vp2.unplug(plug);
        let t = Instant::now();
        let _ = unplugged_tx.send(t);
        std::thread::sleep(Duration::from_millis(1500));
        let mut plug = vp2.plug();
        play_lines(&mut plug.master, &second, RATE_HZ, 5, 1.0);
        plug
    });
    let mut source =
        SerialSource::open(&line_options(&vp.path(), "pfm_emg,abd_emg")).expect("open");
    let s2 = status.clone();
    source.on_status(move |s| s2.lock().expect("status").push((Instant::now(), s.clone())));
    let report = source.report();
    let got = collect(&mut source, |g| g.values().any(|v| v.0 == 1499.0));
    let _plug = device.join().expect("device");
    source.stop_handle().stop();
    let unplugged_at = unplugged_rx.recv().expect("unplug time");

    // Samples before the unplug keep their indices exactly.
    for k in 0..500u64 {
        assert_eq!(got.get(&k), Some(&(k as f64, -(k as f64))), "sample {k}");
    }
    // After the replug (the partial line dropped, banner and header skipped): all 500,
    // consecutive, after a gap of about the time spent unplugged.
    let after: Vec<(&u64, &(f64, f64))> = got.range(500..).collect();
    assert_eq!(after.len(), 500);
    let first_after = *after[0].0;
    for (i, (idx, v)) in after.iter().enumerate() {
        assert_eq!(**idx, first_after + i as u64);
        assert_eq!(v.0, 1000.0 + i as f64);
    }
    // Unplugged ≈ 0.1 s of silence + 1.5 s + reopen; the estimate uses host time, so allow
    // the write pacing and reopen polling slack (not a timing test: the bound is 2 s wide).
    let gap = first_after - 500;
    assert!(
        (700..1700).contains(&gap),
        "gap of {gap} samples ({:.2} s)",
        gap as f64 / RATE_HZ
    );
    let r = report.lock().expect("report").clone();
    assert_eq!(r.stats.disconnects, 1);
    assert_eq!(r.stats.reconnects, 1);
    let unplugged: Vec<_> = r
        .gaps
        .iter()
        .filter(|g| g.cause == GapCause::Unplugged)
        .collect();
    assert_eq!(unplugged.len(), 1);
    assert_eq!(unplugged[0].start_index, 500);
    assert_eq!(unplugged[0].lost_samples, gap);
    assert_eq!(r.stats.lost_while_unplugged, gap);
    // The unplug was told to the user before the device came back (which was 1.5 s later):
    // noticed within 1 s.
    let statuses = status.lock().expect("status").clone();
    let told = statuses
        .iter()
        .find(|(_, s)| matches!(s, LinkStatus::Unplugged { .. }))
        .map(|(t, _)| *t)
        .expect("an Unplugged status");
    let back = statuses
        .iter()
        .find(|(_, s)| matches!(s, LinkStatus::Replugged { .. }))
        .map(|(t, _)| *t)
        .expect("a Replugged status");
    assert!(told < back);
    assert!(told.duration_since(unplugged_at) < Duration::from_secs(1));
    assert!(statuses.iter().any(
        |(_, s)| matches!(s, LinkStatus::Resumed { lost_samples, .. } if *lost_samples == gap)
    ));
}

#[test]
fn a_slow_consumer_loses_nothing_and_the_recording_does_not_wait_for_it() {
    let vp = VirtualPort::new();
    let mut plug = vp.plug();
    let n = 1000u64;
    let lines: Vec<String> = std::iter::once("# rate_hz=500\n".to_string())
        .chain((0..n).map(|k| format!("pfm_emg:{k}\n")))
        .collect();
    let device = std::thread::spawn(move || {
        play_lines(&mut plug.master, &lines, RATE_HZ, 10, 1.0);
        plug
    });
    let mut source = SerialSource::open(&line_options(&vp.path(), "")).expect("open");
    assert_eq!(source.spec().channels.len(), 1);
    let dir = tempfile::tempdir().expect("dir");
    let csv = dir.path().join("slow.csv");
    let sidecar = knip::sidecar::Sidecar::new(
        "test",
        source.spec(),
        &knip::config::AnalysisConfig::default(),
    );
    source.record_to(&csv, sidecar).expect("record");
    let report = source.report();
    // Take one block, then stall while the device sends everything (2 s at its pace).
    let first = source.next_block().expect("block").expect("some");
    let _plug = device.join().expect("device");
    // The reading thread kept reading and recording although nobody consumed.
    let deadline = Instant::now() + Duration::from_secs(10);
    while report.lock().expect("r").stats.samples < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(report.lock().expect("r").stats.samples, n);
    let mut values: Vec<f64> = first.chunks[0].samples.clone();
    let mut next = first.chunks[0].end_index();
    while values.len() < n as usize {
        let b = source.next_block().expect("block").expect("some");
        assert_eq!(b.chunks[0].start_index, next, "no gap, no reordering");
        next = b.chunks[0].end_index();
        values.extend(&b.chunks[0].samples);
    }
    // The first line is a header (a `#` line is never taken for a partial one).
    let expected: Vec<f64> = (0..n).map(|k| k as f64).collect();
    assert_eq!(values, expected);
    // Blocks piled up while nobody consumed (how many depends on how the lines arrived: a loaded
    // machine reads them in fewer, larger reads).
    assert!(report.lock().expect("r").max_queued_blocks > 1);
    drop(source); // stops the thread and closes the recording
    let rows = read_csv(&csv);
    assert_eq!(rows[0], vec!["time_s", "pfm_emg"]);
    assert_eq!(rows.len() as u64, n + 1);
    assert_eq!(rows[1][1], "0");
}

/// Run `knip record` on a text-line device that plays `lines` at 500 Hz; returns the output.
fn record_lines(
    vp: &VirtualPort,
    lines: Vec<String>,
    rec_dir: &std::path::Path,
    extra: &[&str],
) -> std::process::Output {
    let mut plug = vp.plug();
    let device = std::thread::spawn(move || {
        play_lines(&mut plug.master, &lines, RATE_HZ, 20, 1.0);
        plug
    });
    let o = std::process::Command::new(knip_bin())
        .args(["record", "--port", &vp.path(), "--format", "line"])
        .args(extra)
        .args(["--plain", "--out"])
        .arg(rec_dir)
        .output()
        .expect("run knip record");
    let _ = device.join();
    o
}

#[test]
fn labelled_lines_map_themselves_and_the_mapping_is_printed_and_stored() {
    let vp = VirtualPort::new();
    let out = tempfile::tempdir().expect("out dir");
    let rec_dir = out.path().join("labels");
    // Labels in any case; pressure in mmHg, converted to cmH2O.
    let mut lines = vec!["# rate_hz=500\n".to_string()];
    lines.extend((0..800).map(|k| format!("PFM:{},abd:{},mmHg:{}\n", k % 97, -(k % 13), k % 50)));
    let o = record_lines(&vp, lines, &rec_dir, &["--duration", "1"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("Channels: PFM → pfm_emg (uV), from its label; abd → abd_emg (uV)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("mmHg → pressure (mmHg × 1.359510 → cmH2O), from its label"),
        "{stderr}"
    );
    let rows = read_csv(&rec_dir.join("recording.csv"));
    assert_eq!(rows[0], vec!["time_s", "PFM", "abd", "mmHg"]);
    assert_eq!(rows.len() - 1, 500);
    for (k, row) in rows[1..].iter().enumerate() {
        let p: f64 = row[3].parse().expect("pressure");
        assert!(
            (p - (k % 50) as f64 * 1.35951).abs() < 1e-4,
            "row {k}: {row:?}"
        );
        let e: f64 = row[1].parse().expect("pfm");
        assert_eq!(e, (k % 97) as f64);
    }
    // Stored: the sidecar says which label is which role, in knip's units; link.json the note.
    let sidecar: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(rec_dir.join("recording.json")).expect("sidecar"),
    )
    .expect("json");
    let ch = &sidecar["channels"];
    assert_eq!(ch[0]["name"], "PFM");
    assert_eq!(ch[0]["role"], "pfm_emg");
    assert_eq!(ch[2]["name"], "mmHg");
    assert_eq!(ch[2]["role"], "pressure");
    assert_eq!(ch[2]["unit"], "cmH2O");
    let link: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(rec_dir.join("link.json")).expect("link.json"),
    )
    .expect("json");
    assert_eq!(link["channel_map"].as_array().map(|a| a.len()), Some(3));
}

#[test]
fn ambiguous_or_unknown_labels_still_need_channels() {
    let vp = VirtualPort::new();
    let out = tempfile::tempdir().expect("out dir");
    let mut lines = vec!["# rate_hz=500\n".to_string()];
    lines.extend((0..600).map(|k| format!("emg:{k},pfm:{k}\n")));
    let o = record_lines(&vp, lines, &out.path().join("a"), &["--duration", "1"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("emg and pfm all mean pfm_emg"), "{stderr}");
    assert!(stderr.contains("labels seen: emg, pfm"), "{stderr}");
    assert!(stderr.contains("--channels pfm_emg,abd_emg"), "{stderr}");

    let vp = VirtualPort::new();
    let mut lines = vec!["# rate_hz=500\n".to_string()];
    lines.extend((0..600).map(|k| format!("left:{k},right:{k}\n")));
    let o = record_lines(
        &vp,
        lines.clone(),
        &out.path().join("b"),
        &["--duration", "1"],
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("(left, right)"), "{stderr}");
    assert!(stderr.contains("--channels pfm_emg,abd_emg"), "{stderr}");
    // The command it names works.
    let vp = VirtualPort::new();
    let rec = out.path().join("c");
    let o = record_lines(
        &vp,
        lines,
        &rec,
        &["--duration", "1", "--channels", "pfm_emg,abd_emg"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows = read_csv(&rec.join("recording.csv"));
    assert_eq!(rows[0], vec!["time_s", "pfm_emg", "abd_emg"]);
}

/// A real device through the whole pipeline: raw EMG on a DC offset of 3000 µV, unplugged for
/// 1.5 s and plugged back with the offset 400 µV higher (an electrode reseated). The samples
/// resume after a marked gap, and no burst is reported where they resume: the filters start
/// again from the first sample after the gap.
#[test]
fn a_replug_at_another_dc_level_shows_no_burst_in_the_analysis() {
    use knip::config::AnalysisConfig;
    use knip::pipeline::{self, Pace};
    use knip::sink::collect::{take_events, EventCollector};
    let vp = VirtualPort::new();
    let plug = vp.plug();
    let mut rng = knip::simulate::rng::Rng::seed_from(11);
    let mut line = |k: u64, dc: f64| {
        let pfm = dc + 5.0 * rng.normal();
        let abd = -dc + 5.0 * rng.normal();
        format!("{},{pfm:.2},{abd:.2}\n", k % 65536)
    };
    let first: Vec<String> = std::iter::once("# rate_hz=500\n# seq=16\n".to_string())
        .chain((0..1500u64).map(|k| line(k, 3000.0)))
        .collect();
    let second: Vec<String> = std::iter::once("Boot v1.2\n# rate_hz=500\n# seq=16\n".to_string())
        .chain((0..1000u64).map(|k| line(k, 3400.0)))
        .collect();
    let vp = Arc::new(vp);
    let vp2 = vp.clone();
    let device = std::thread::spawn(move || {
        let mut plug = plug;
        play_lines(&mut plug.master, &first, RATE_HZ, 5, 1.0);
        std::thread::sleep(Duration::from_millis(100));
        vp2.unplug(plug);
        std::thread::sleep(Duration::from_millis(1500));
        let mut plug = vp2.plug();
        play_lines(&mut plug.master, &second, RATE_HZ, 5, 1.0);
        std::thread::sleep(Duration::from_millis(300));
        plug
    });
    let source = SerialSource::open(&line_options(&vp.path(), "pfm_emg,abd_emg")).expect("open");
    let stop = source.stop_handle();
    let report = source.report();
    let mut cfg = AnalysisConfig::default();
    cfg.detector.calibration_s = 2.0;
    let collector = EventCollector::default();
    let events = collector.handle();
    let run = std::thread::spawn(move || {
        pipeline::run(
            Box::new(source),
            &cfg,
            vec![Box::new(collector)],
            Pace::Unpaced,
        )
    });
    let _plug = device.join().expect("device");
    stop.stop();
    let end = run.join().expect("pipeline thread").expect("pipeline runs");
    let r = report.lock().expect("report").clone();
    assert_eq!(r.stats.reconnects, 1, "the device came back");
    let gap = r
        .gaps
        .iter()
        .find(|g| g.cause == GapCause::Unplugged)
        .expect("the gap is marked");
    assert_eq!(gap.start_index, 1500);
    // Both parts were analysed: the stream ran past the gap.
    let resumed_s = (gap.start_index + gap.lost_samples) as f64 / RATE_HZ;
    assert!(end.end_time_s > resumed_s + 1.5, "{end:?}");
    let events = take_events(&events);
    assert!(
        events.is_empty(),
        "rest with a DC step across the gap (resumed at {resumed_s:.2} s): {events:?}"
    );
}

/// A text device without a sample counter that drops lines (a real device on a pty, 2 kHz,
/// 20 µV of mains on a 3-µV rest, two squeezes; 13 and 29 lines lost in the rests). The reader
/// cannot see such a loss; the mains' phase jumps where the lines resume. The analysis still
/// finds the two squeezes on time and whole, counts both jumps and says what to do.
#[test]
fn lines_lost_unseen_from_a_device_without_a_counter_are_counted_not_contractions() {
    use knip::config::AnalysisConfig;
    use knip::event::EventKind;
    use knip::pipeline::{self, Pace};
    use knip::sink::collect::{take_events, EventCollector};
    let rate = 2000.0;
    let vp = VirtualPort::new();
    let plug = vp.plug();
    let mut rng = knip::simulate::rng::Rng::seed_from(5);
    let squeezes = [(10.0, 13.0), (20.0, 23.0)];
    let drops = [(16.0, 13usize), (26.0, 29usize)];
    let mut lines = vec!["# rate_hz=2000\n".to_string()];
    let mut lost = 0;
    let mut onsets = Vec::new();
    let mut i = 0usize;
    while i < (30.0 * rate) as usize {
        let t = i as f64 / rate;
        if let Some(&(_, n)) = drops.iter().find(|&&(d, _)| i == (d * rate) as usize) {
            lost += n;
            i += n;
            continue;
        }
        if squeezes.iter().any(|&(on, _)| i == (on * rate) as usize) {
            onsets.push(t - lost as f64 / rate);
        }
        let burst = squeezes.iter().any(|&(on, off)| (on..off).contains(&t));
        let mains = 20.0 * (std::f64::consts::TAU * 50.0 * t + 0.3).sin();
        let v = 1500.0 + mains + 3.0 * rng.normal() + if burst { 25.0 * rng.normal() } else { 0.0 };
        lines.push(format!("{v:.2}\n"));
        i += 1;
    }
    let device = std::thread::spawn(move || {
        let mut plug = plug;
        play_lines(&mut plug.master, &lines, rate, 100, 10.0);
        std::thread::sleep(Duration::from_millis(300));
        plug
    });
    let source = SerialSource::open(&line_options(&vp.path(), "pfm_emg")).expect("open");
    let stop = source.stop_handle();
    let report = source.report();
    let collector = EventCollector::default();
    let events = collector.handle();
    let cfg = AnalysisConfig::default();
    let run = std::thread::spawn(move || {
        pipeline::run(
            Box::new(source),
            &cfg,
            vec![Box::new(collector)],
            Pace::Unpaced,
        )
    });
    let _plug = device.join().expect("device");
    stop.stop();
    let end = run.join().expect("pipeline thread").expect("pipeline runs");
    let r = report.lock().expect("report").clone();
    assert!(
        r.gaps.is_empty(),
        "no counter: the loss cannot be seen ({:?})",
        r.gaps
    );
    let events = take_events(&events);
    let contractions: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::Contraction)
        .collect();
    assert_eq!(contractions.len(), 2, "{events:?}");
    for (c, &t0) in contractions.iter().zip(&onsets) {
        assert!(
            (c.onset_s - t0).abs() < 0.1,
            "onset {:.2} s, true {t0:.2} s",
            c.onset_s
        );
        assert!(c.offset_s - c.onset_s < 3.5, "ran on: {c:?}");
    }
    assert_eq!(end.channels[0].mains_phase_jumps, 2, "{:?}", end.warnings);
    assert!(
        end.warnings
            .iter()
            .any(|w| w.contains("phase jumped 2 time(s)")),
        "{:?}",
        end.warnings
    );
}
