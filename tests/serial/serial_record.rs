//! `knip record` end to end on an emulated text-line device (pseudo-terminal), with an unplug in
//! the middle; `knip replay` of its raw bytes reproduces the session's events exactly; a full
//! disk stops the recording with a clear message and keeps what was written; a port that does
//! not exist gets a message that says what to do.

use crate::serial_support;

use serial_support::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RATE_HZ: f64 = 1000.0;

/// Deterministic noise in [-1, 1).
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

/// EMG-like lines (µV): rest noise ~5, contractions of 60 during `squeezes` (seconds), a
/// quiet abdominal channel. The device counter starts at `seq0`.
fn emg_lines(
    from_s: f64,
    to_s: f64,
    squeezes: &[(f64, f64)],
    seq0: u64,
    rng: &mut Lcg,
) -> Vec<String> {
    let n0 = (from_s * RATE_HZ) as u64;
    let n1 = (to_s * RATE_HZ) as u64;
    (n0..n1)
        .enumerate()
        .map(|(i, k)| {
            let t = k as f64 / RATE_HZ;
            let amp = if squeezes.iter().any(|&(a, b)| t >= a && t < b) {
                60.0
            } else {
                5.0
            };
            let pfm = amp * rng.next() * 1.7;
            let abd = 4.0 * rng.next() * 1.7;
            format!("{},{pfm:.2},{abd:.2}\n", (seq0 + i as u64) % 65_536)
        })
        .collect()
}

fn run_ok(args: &[&str]) -> String {
    let out = Command::new(knip_bin())
        .args(args)
        .output()
        .expect("run knip");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "knip {args:?} failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).to_string() + &stderr
}

fn interrupt(pid: u32) {
    let ok = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok);
}

fn summary_value(dir: &Path, channel: &str, metric: &str) -> Option<String> {
    read_csv(&dir.join("summary.csv"))
        .into_iter()
        .find(|r| r.len() >= 3 && r[0] == channel && r[1] == metric)
        .map(|r| r[2].clone())
}

#[test]
fn record_with_an_unplug_then_replay_the_raw_bytes_exactly() {
    let vp = std::sync::Arc::new(VirtualPort::new());
    let out = tempfile::tempdir().expect("out dir");
    let rec_dir = out.path().join("session");
    let squeezes = [(7.0, 10.0), (14.0, 17.0)];
    let mut rng = Lcg(7);
    let header = "# rate_hz=1000\n# seq=16\n# channels=pfm_emg:uV,abd_emg:uV\n".to_string();
    let mut first = vec![header.clone()];
    first.extend(emg_lines(0.0, 12.0, &squeezes, 0, &mut rng));
    let mut second = vec!["x\nBoot\n".to_string(), header];
    second.extend(emg_lines(12.0, 19.0, &squeezes, 40_000, &mut rng));
    let plug = vp.plug();
    let vp2 = vp.clone();
    // Four times real time keeps the test short; the recorder does not care.
    let device = std::thread::spawn(move || {
        let mut plug = plug;
        play_lines(&mut plug.master, &first, RATE_HZ, 20, 4.0);
        std::thread::sleep(Duration::from_millis(100));
        vp2.unplug(plug);
        std::thread::sleep(Duration::from_millis(600));
        let mut plug = vp2.plug();
        play_lines(&mut plug.master, &second, RATE_HZ, 20, 4.0);
        std::thread::sleep(Duration::from_millis(300));
        plug
    });
    let child = Command::new(knip_bin())
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
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn knip record");
    let pid = child.id();
    let _plug = device.join().expect("device");
    interrupt(pid);
    let o = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&o.stderr);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "record failed: {stderr}\n{stdout}");
    assert!(stderr.contains("device gone"), "{stderr}");
    assert!(stderr.contains("marked as lost"), "{stderr}");

    // The recording: CSV + sidecar with the lost samples, raw bytes, the gap list.
    let sidecar: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(rec_dir.join("recording.json")).expect("sidecar"),
    )
    .expect("json");
    // The sidecar counts samples over all channels, summary.csv per channel.
    let lost_all = sidecar["lost_samples"].as_u64().expect("lost_samples");
    assert_eq!(lost_all % 2, 0);
    let lost = lost_all / 2;
    assert!(lost > 100, "the unplug gap is counted: {lost}");
    let gaps = read_csv(&rec_dir.join("recording.gaps.csv"));
    assert_eq!(gaps[0][4], "cause");
    assert!(gaps.iter().any(|g| g[4] == "unplugged"));
    let rows = read_csv(&rec_dir.join("recording.csv"));
    assert_eq!(rows[0], vec!["time_s", "pfm_emg", "abd_emg"]);
    // 19 s sent; the first line after the replug is dropped as possibly partial only when it
    // is not a header: here the partial `x` is, so every sample line is there.
    assert_eq!(rows.len() - 1, 19_000);
    // The report: lost samples in summary.csv, two squeezes.
    assert_eq!(
        summary_value(&rec_dir, "pfm_emg", "lost_samples").as_deref(),
        Some(lost.to_string().as_str())
    );
    assert_eq!(
        summary_value(&rec_dir, "pfm_emg", "contractions").as_deref(),
        Some("2")
    );

    // Replaying the raw bytes reproduces the events and contractions byte for byte.
    let replay_dir = out.path().join("replay-raw");
    let text = run_ok(&[
        "replay",
        &rec_dir.join("recording.raw").display().to_string(),
        "--fast",
        "--plain",
        "--out",
        &replay_dir.display().to_string(),
    ]);
    assert!(text.contains("raw replay"), "{text}");
    for f in ["events.csv", "contractions.csv", "summary.csv"] {
        let a = std::fs::read_to_string(rec_dir.join(f)).expect("live file");
        let b = std::fs::read_to_string(replay_dir.join(f)).expect("replay file");
        assert!(!a.is_empty());
        assert_eq!(
            a, b,
            "{f} differs between the live session and its raw replay"
        );
    }
    // Paced replay (the recorded arrival times ÷ 20) gives the same events.
    let paced_dir = out.path().join("replay-paced");
    run_ok(&[
        "replay",
        &rec_dir.join("recording.raw").display().to_string(),
        "--speed",
        "20",
        "--plain",
        "--out",
        &paced_dir.display().to_string(),
    ]);
    assert_eq!(
        std::fs::read_to_string(rec_dir.join("events.csv")).expect("live"),
        std::fs::read_to_string(paced_dir.join("events.csv")).expect("paced")
    );
    // The decoded CSV replays too, at the original times (gap included), and analyses.
    let csv_dir = out.path().join("replay-csv");
    run_ok(&[
        "replay",
        &rec_dir.join("recording.csv").display().to_string(),
        "--fast",
        "--plain",
        "--out",
        &csv_dir.display().to_string(),
    ]);
    assert_eq!(
        summary_value(&csv_dir, "pfm_emg", "contractions").as_deref(),
        Some("2")
    );
    assert_eq!(
        summary_value(&csv_dir, "pfm_emg", "lost_samples").as_deref(),
        Some(lost.to_string().as_str())
    );
}

#[test]
fn a_full_disk_stops_the_recording_with_a_clear_message_and_keeps_what_was_written() {
    let vp = VirtualPort::new();
    let out = tempfile::tempdir().expect("out dir");
    let rec_dir = out.path().join("full");
    std::fs::create_dir_all(&rec_dir).expect("dir");
    let mut plug = vp.plug();
    let mut rng = Lcg(3);
    let mut lines = vec!["# rate_hz=1000\n# channels=pfm_emg,abd_emg\n".to_string()];
    lines.extend(emg_lines(0.0, 10.0, &[], 0, &mut rng).into_iter().map(|l| {
        // No counter column here.
        l.split_once(',').map(|x| x.1.to_string()).unwrap_or(l)
    }));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let device = std::thread::spawn(move || {
        let t0 = Instant::now();
        for (k, chunk) in lines.chunks(20).enumerate() {
            if stop2.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            sleep_until(t0, Duration::from_secs_f64(k as f64 * 20.0 / RATE_HZ / 4.0));
            if !write_all(&mut plug.master, chunk.concat().as_bytes()) {
                break;
            }
        }
        plug
    });
    // A file-size limit makes writes fail like a full disk (EFBIG instead of ENOSPC); the
    // signal it raises is ignored so the write returns the error.
    let script = format!(
        "trap '' XFSZ; ulimit -f 64; exec '{}' record --port '{}' --format line --plain --out '{}'",
        knip_bin().display(),
        vp.path(),
        rec_dir.display()
    );
    let o = Command::new("sh")
        .args(["-c", &script])
        .output()
        .expect("run knip record");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _plug = device.join().expect("device");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "the recording must fail: {stderr}");
    assert!(stderr.contains("cannot write"), "{stderr}");
    assert!(stderr.contains("recording."), "names the file: {stderr}");
    assert!(stderr.contains("Check free disk space"), "{stderr}");
    assert_eq!(
        o.status.code(),
        Some(2),
        "a full disk is something the user can fix: {stderr}"
    );
    // What was written is kept and readable.
    let csv = rec_dir.join("recording.csv");
    let size = std::fs::metadata(&csv).map(|m| m.len()).unwrap_or(0);
    assert!(size > 1000, "kept {size} bytes");
    let analyzed = out.path().join("analyzed");
    run_ok(&[
        "analyze",
        &csv.display().to_string(),
        "--out",
        &analyzed.display().to_string(),
    ]);
}

#[test]
fn a_missing_port_says_what_to_do() {
    let out = tempfile::tempdir().expect("out dir");
    let o = Command::new(knip_bin())
        .args([
            "record",
            "--port",
            "/dev/ttyKNIP-none",
            "--format",
            "cyton",
            "--out",
        ])
        .arg(out.path())
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("/dev/ttyKNIP-none"), "{stderr}");
    assert!(stderr.contains("knip devices"), "{stderr}");
}

#[test]
fn record_a_cyton_for_a_set_duration() {
    let vp = VirtualPort::new();
    let out = tempfile::tempdir().expect("out dir");
    let rec_dir = out.path().join("cyton");
    let mut emu = CytonEmulator::new(vp.plug());
    let device = std::thread::spawn(move || {
        assert!(emu.wait_for_start(Duration::from_secs(10)), "no `b`");
        let t0 = Instant::now();
        let mut k = 0u64;
        // Up to 4 s at 250 Hz in 16 ms clumps, until the host sends `s`.
        while emu.streaming() && k < 1000 {
            sleep_until(t0, Duration::from_secs_f64(k as f64 / 250.0));
            let clump: Vec<u8> = (k..k + 4).flat_map(cyton_packet).collect();
            emu.write(&clump);
            emu.poll_commands();
            k += 4;
        }
        k
    });
    let o = Command::new(knip_bin())
        .args([
            "record",
            "--port",
            &vp.path(),
            "--format",
            "cyton",
            "--duration",
            "2",
            "--plain",
            "--out",
        ])
        .arg(&rec_dir)
        .output()
        .expect("run knip record");
    let sent = device.join().expect("device");
    let stderr = String::from_utf8_lossy(&o.stderr);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("the Cyton streams 250 Hz"), "{stderr}");
    assert!(stdout.contains("modulo 256"), "{stdout}");
    assert!(
        sent < 1000,
        "the host stopped the board (`s`) after the duration"
    );
    let rows = read_csv(&rec_dir.join("recording.csv"));
    assert_eq!(rows[0], vec!["time_s", "pfm_emg", "abd_emg"]);
    assert_eq!(rows.len() - 1, 500, "2 s at 250 Hz");
    assert_eq!(rows[500][0], "1.996000");
}

// ---------------------------------------------------------------------------------------------
// Guided sessions with a sensor: the same runner, verdicts and reports as the simulator.

/// The simulated patient's samples for `phases`, all channels at `rate_hz`, as text lines of
/// an emulated device (`counter,pfm_emg,abd_emg,pressure`), and the patient's rep truth.
fn guided_patient_lines(
    phases: &[knip::session::protocol::Phase],
    seed: u64,
    rate_hz: f64,
) -> (Vec<String>, Vec<knip::simulate::RepTruth>) {
    use knip::source::Source;
    let sim = knip::simulate::SimConfig {
        seed,
        emg_rate_hz: rate_hz,
        pressure_rate_hz: rate_hz,
        block_s: 0.1,
        ..Default::default()
    };
    let mut patient = knip::simulate::SimulatedPatient::guided(&sim, phases).expect("patient");
    let truth = patient.rep_truth().to_vec();
    let names: Vec<String> = patient
        .spec()
        .channels
        .iter()
        .map(|c| format!("{}:{}", c.role, c.unit))
        .collect();
    let mut lines = vec![format!(
        "# rate_hz={rate_hz}\n# seq=16\n# channels={}\n",
        names.join(",")
    )];
    let mut k = 0u64;
    while let Some(b) = patient.next_block().expect("block") {
        let n = b.chunks[0].samples.len();
        for i in 0..n {
            let v: Vec<String> = b
                .chunks
                .iter()
                .map(|c| format!("{:.3}", c.samples[i]))
                .collect();
            lines.push(format!("{},{}\n", k % 65_536, v.join(",")));
            k += 1;
        }
    }
    (lines, truth)
}

fn rep_rows(dir: &Path) -> Vec<(String, u32, String)> {
    let rows = read_csv(&dir.join("reps.csv"));
    let col = |name: &str| {
        rows[0]
            .iter()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("reps.csv has no {name} column"))
    };
    let (p, r, v) = (col("phase"), col("rep"), col("verdict"));
    rows[1..]
        .iter()
        .map(|x| (x[p].clone(), x[r].parse().expect("rep"), x[v].clone()))
        .collect()
}

#[test]
fn guided_session_on_a_text_line_device_scores_the_patient_and_its_raw_replay_agrees() {
    let protocol = knip::session::protocol::Protocol::load("identify").expect("identify");
    let phases = protocol.session_phases(true);
    let (lines, truth) = guided_patient_lines(&phases, 3, RATE_HZ);
    let vp = std::sync::Arc::new(VirtualPort::new());
    let out = tempfile::tempdir().expect("out dir");
    let dir = out.path().join("session");
    let plug = vp.plug();
    // The device clock is the sample counter: ten times real time changes nothing but the
    // test's length.
    let device = std::thread::spawn(move || {
        let mut plug = plug;
        play_lines(&mut plug.master, &lines, RATE_HZ, 50, 10.0);
        std::thread::sleep(Duration::from_millis(500));
        plug
    });
    let db = out.path().join("progress.sqlite");
    let o = Command::new(knip_bin())
        .args([
            "session",
            "--port",
            &vp.path(),
            "--format",
            "line",
            "--protocol",
            "identify",
            "--plain",
            "--patient",
            "P7",
            "--out",
        ])
        .arg(&dir)
        .arg("--db")
        .arg(&db)
        .output()
        .expect("run knip session");
    let _plug = device.join().expect("device");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "session failed: {stderr}\n{stdout}");
    assert!(stdout.contains("session complete"), "{stdout}");
    // The protocol ended the stream by itself: not "stopped early".
    assert!(!stdout.contains("stopped early"), "{stdout}");

    // Every judged rep agrees with what the simulated patient did.
    let reps = rep_rows(&dir);
    let mut judged = 0;
    for t in &truth {
        let name = &phases[t.phase].name;
        if !matches!(
            phases[t.phase].kind,
            knip::session::protocol::PhaseKind::Hold
        ) {
            continue;
        }
        let got = reps
            .iter()
            .find(|r| &r.0 == name && r.1 == t.rep)
            .unwrap_or_else(|| panic!("{name} rep {} missing from reps.csv", t.rep));
        let want = if t.pass { "pass" } else { "fail" };
        assert_eq!(got.2, want, "{name} rep {}: truth {}", t.rep, t.outcome);
        judged += 1;
    }
    assert_eq!(judged, 10);
    // The session is in the patient's history: "n of 30 today" counts its valid holds.
    let valid = truth
        .iter()
        .filter(|t| phases[t.phase].kind == knip::session::protocol::PhaseKind::Hold && t.pass)
        .count();
    assert!(
        stdout.contains(&format!("{valid} of 30 today")),
        "{valid} valid: {stdout}"
    );

    // The recording is complete and says how the session was run.
    let sidecar: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("recording.json")).expect("sidecar"),
    )
    .expect("json");
    assert_eq!(sidecar["session"]["protocol"]["name"], "identify");
    assert_eq!(sidecar["session"]["calibration_source"], "this session");
    for f in ["recording.csv", "recording.raw", "link.json", "report.png"] {
        assert!(dir.join(f).exists(), "{f} missing");
    }

    // `knip replay` of the raw bytes is the same session: the same reps, byte for byte.
    let replay_dir = out.path().join("replay");
    let text = run_ok(&[
        "session",
        "--replay",
        &dir.join("recording.raw").display().to_string(),
        "--fast",
        "--plain",
        "--patient",
        "P7",
        "--db",
        &db.display().to_string(),
        "--out",
        &replay_dir.display().to_string(),
    ]);
    assert!(text.contains("session complete"), "{text}");
    // Stored once: the replay is the same recording, so today's count does not grow.
    assert!(text.contains(&format!("{valid} of 30 today")), "{text}");
    assert_eq!(
        std::fs::read_to_string(dir.join("reps.csv")).expect("live reps"),
        std::fs::read_to_string(replay_dir.join("reps.csv")).expect("replayed reps"),
        "reps.csv differs between the live session and its raw replay"
    );
}

/// Rhythmic squeezes of a patient who keeps the protocol's cadence on their own clock:
/// `work_s` squeezes every `cycle_s` from `first_cue_s` on (a little after each cue).
fn rhythmic_squeezes(first_cue_s: f64, cycle_s: f64, work_s: f64, to_s: f64) -> Vec<(f64, f64)> {
    let mut v = Vec::new();
    let mut cue = first_cue_s;
    while cue < to_s {
        v.push((cue + 0.3, cue + 0.3 + work_s + 0.2));
        cue += cycle_s;
    }
    v
}

#[test]
fn an_unplug_mid_set_stops_the_protocol_and_the_interrupted_rep_is_done_again() {
    let out = tempfile::tempdir().expect("out dir");
    let protocol = out.path().join("short.toml");
    std::fs::write(
        &protocol,
        "name = \"short\"\ndescription = \"five 2-s holds\"\nkind = \"training\"\n\
         [[phase]]\nname = \"holds\"\nkind = \"hold\"\ncue = \"Squeeze and hold\"\n\
         reps = 5\nwork_s = 2.0\nrest_s = 2.0\n",
    )
    .expect("protocol");
    let calibration = out.path().join("calibration.json");
    std::fs::write(
        &calibration,
        r#"{"channels":[{"role":"pfm_emg","unit":"uV","rest_mean":5.0,"rest_sd":1.0,"mvc":60.0}],"source":"test"}"#,
    )
    .expect("calibration");
    // The session starts with a 6-s baseline, then a cue every 4 s. The patient keeps the
    // rhythm while the cable is out, so the cues after the resume (on the same cadence) meet
    // their squeezes.
    let squeezes = rhythmic_squeezes(6.0, 4.0, 2.0, 60.0);
    let mut rng = Lcg(11);
    let header = "# rate_hz=1000\n# seq=16\n# channels=pfm_emg:uV,abd_emg:uV\n".to_string();
    let unplug_s = 15.0; // during the third hold (cue at 14 s)
    let away_s = 1.5;
    let mut first = vec![header.clone()];
    first.extend(emg_lines(0.0, unplug_s, &squeezes, 0, &mut rng));
    let back_s = unplug_s + away_s;
    let mut second = vec!["Boot\n".to_string(), header];
    second.extend(emg_lines(back_s, 40.0, &squeezes, 0, &mut rng));
    let vp = std::sync::Arc::new(VirtualPort::new());
    let plug = vp.plug();
    let vp2 = vp.clone();
    // Real time: the length of an unplug is measured on the host clock.
    let device = std::thread::spawn(move || {
        let mut plug = plug;
        play_lines(&mut plug.master, &first, RATE_HZ, 20, 1.0);
        vp2.unplug(plug);
        std::thread::sleep(Duration::from_secs_f64(away_s));
        let mut plug = vp2.plug();
        play_lines(&mut plug.master, &second, RATE_HZ, 20, 1.0);
        plug
    });
    let dir = out.path().join("session");
    let child = Command::new(knip_bin())
        .args([
            "session",
            "--port",
            &vp.path(),
            "--format",
            "line",
            "--plain",
        ])
        .arg("--protocol")
        .arg(&protocol)
        .arg("--calibration")
        .arg(&calibration)
        .arg("--out")
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn knip session");
    let o = child.wait_with_output().expect("wait");
    let _plug = device.join().expect("device");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "session failed: {stderr}\n{stdout}");
    assert!(stderr.contains("device gone"), "{stderr}");
    assert!(stdout.contains("holds 3 interrupted"), "{stdout}");
    assert!(stdout.contains("session complete"), "{stdout}");
    // Five holds, each once, all good: the third one again after the resume.
    let reps: Vec<_> = rep_rows(&dir)
        .into_iter()
        .filter(|r| r.0 == "holds")
        .collect();
    assert_eq!(
        reps.iter().map(|r| r.1).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5],
        "{stdout}"
    );
    assert!(reps.iter().all(|r| r.2 == "pass"), "{reps:?}\n{stdout}");
    // The gap is in the report: one interruption for the lost signal, about as long as the
    // cable was out (estimated from the host clock: loose bounds, not a timing test).
    let session: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("session.json")).expect("session.json"),
    )
    .expect("json");
    let gaps = session["interruptions"].as_array().expect("interruptions");
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0]["cause"], "signal_lost");
    let len = gaps[0]["end_s"].as_f64().expect("end") - gaps[0]["start_s"].as_f64().expect("start");
    assert!((0.8..4.0).contains(&len), "gap {len} s");
    let start = gaps[0]["start_s"].as_f64().expect("start");
    assert!((start - unplug_s).abs() < 0.5, "gap starts at {start}");
    // The third hold's cue comes after the gap, on the 4-s cadence.
    let rows = read_csv(&dir.join("reps.csv"));
    let cue_col = rows[0].iter().position(|c| c == "cue_s").expect("cue_s");
    let third = rows
        .iter()
        .find(|r| r[0] == "holds" && r[2] == "3")
        .expect("third hold");
    let cue: f64 = third[cue_col].parse().expect("cue");
    assert!(
        cue > start + len,
        "rep 3 cued at {cue}, before the gap ended"
    );
    let summary = std::fs::read_to_string(dir.join("session_summary.csv")).expect("summary");
    assert!(summary.contains("interruptions,1,count"), "{summary}");
    assert!(
        ((cue - 6.0) / 4.0 - ((cue - 6.0) / 4.0).round()).abs() < 1e-6,
        "cue {cue}"
    );
}

#[test]
fn a_second_session_the_same_day_reads_n_of_30_from_the_database_and_its_calibration() {
    let out = tempfile::tempdir().expect("out");
    let db = out.path().join("progress.sqlite");
    let first = out.path().join("first");
    let run = |dir: &Path, seed: &str| {
        run_ok(&[
            "session",
            "--simulate",
            "--seed",
            seed,
            "--fast",
            "--plain",
            "--protocol",
            "identify",
            "--patient",
            "P9",
            "--db",
            &db.display().to_string(),
            "--out",
            &dir.display().to_string(),
        ])
    };
    let count = |text: &str| -> u32 {
        let line = text
            .lines()
            .find(|l| l.contains("of 30 today") && l.starts_with("Stored"))
            .unwrap_or_else(|| panic!("no count: {text}"));
        line.split(": ")
            .nth(1)
            .and_then(|x| x.split(' ').next())
            .and_then(|n| n.parse().ok())
            .expect("count")
    };
    let passes = |dir: &Path| {
        rep_rows(dir)
            .iter()
            .filter(|r| r.0 == "identify" && r.2 == "pass")
            .count() as u32
    };
    let t1 = run(&first, "4");
    let n1 = count(&t1);
    assert_eq!(n1, passes(&first), "{t1}");
    assert!(t1.contains("mvc 1/3"), "the first session calibrates: {t1}");
    let second = out.path().join("second");
    let t2 = run(&second, "5");
    // The calibration measured in the first session is offered for the same device...
    assert!(
        t2.contains("Using the calibration kept for patient P9"),
        "{t2}"
    );
    assert!(!t2.contains("mvc 1/3"), "{t2}");
    // ... and the day's count goes on from the database.
    assert_eq!(count(&t2), n1 + passes(&second), "{t2}");
}
