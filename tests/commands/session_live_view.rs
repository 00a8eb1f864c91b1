//! The live view: screens at known moments of a simulated session (ratatui `TestBackend`),
//! and the real binary in a pseudo-terminal it opens itself, where `m` drops a marker and `q` ends
//! the session with its report written.

use knip::config::AnalysisConfig;
use knip::pipeline::Processor;
use knip::session::drive::session_sim;
use knip::session::protocol::Protocol;
use knip::session::run::{LiveState, SessionRunner, SessionSetup};
use knip::simulate::SimulatedPatient;
use knip::source::Source;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

/// Live states of the strength session (seed 1) at the given device times.
fn states_at(times: &[f64]) -> Vec<LiveState> {
    let setup = SessionSetup::new(Protocol::load("strength").unwrap());
    let mut patient = SimulatedPatient::guided(&session_sim(1), &setup.phases()).unwrap();
    let mut proc = Processor::new(patient.spec(), &AnalysisConfig::default()).unwrap();
    let mut runner = SessionRunner::new(setup);
    runner.start(patient.spec());
    let mut out = Vec::new();
    let mut k = 0;
    while let Some(block) = patient.next_block().unwrap() {
        let p = proc.process(block);
        runner.push(&p);
        while k < times.len() && p.frontier_s >= times[k] {
            out.push(runner.live().clone());
            k += 1;
        }
        if k == times.len() {
            break;
        }
    }
    out
}

fn screen(live: &LiveState) -> String {
    let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
    t.draw(|f| knip::sink::tui::draw(f, live)).unwrap();
    let buf = t.backend().buffer().clone();
    (0..24)
        .map(|y| {
            (0..80)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn check_snapshot(name: &str, text: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, text).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        text,
        want,
        "screen differs from {} (UPDATE_SNAPSHOTS=1 to accept):\n{text}",
        path.display()
    );
}

#[test]
fn screens_at_known_moments() {
    // 3.0 s into strength rep 1 (cue at 40 s): holding. 47.5 s: relaxing after a good hold.
    // 73.0 s: rep 4, which the patient does with her abdomen working (red in the report).
    let s = states_at(&[5.0, 43.0, 47.5, 73.0]);
    let hold = screen(&s[1]);
    assert!(hold.contains("H O L D   2 …"), "{hold}");
    assert!(hold.contains("0 of 30 today"), "{hold}");
    assert!(hold.contains("rep 1 of 30"), "{hold}");
    assert!(hold.contains("target 50–100 %"), "{hold}");
    assert!(hold.contains("Tummy soft"), "{hold}");
    assert!(hold.contains("█"), "gauge filled while squeezing:\n{hold}");
    check_snapshot("strength_hold.txt", &hold);

    let relax = screen(&s[2]);
    assert!(relax.contains("R E S T   3 …"), "{relax}");
    assert!(relax.contains("Let go and breathe"), "{relax}");
    assert!(relax.contains("Good hold — 5."), "{relax}");
    assert!(relax.contains("1 of 30 today"), "{relax}");
    check_snapshot("strength_relax.txt", &relax);

    let abd = screen(&s[3]);
    assert!(abd.contains("TUMMY IS WORKING"), "{abd}");
    check_snapshot("strength_abdomen.txt", &abd);

    let calib = screen(&s[0]);
    assert!(calib.contains("calibrating"), "{calib}");
    // Every line fits 80 columns.
    for l in [&hold, &relax, &abd, &calib] {
        assert!(l.lines().all(|x| x.chars().count() <= 80));
    }
}

/// A pseudo-terminal of 80 × 24 whose slave end becomes the child's controlling terminal and its
/// stdin, stdout and stderr, as a terminal emulator does. Returns the master end.
fn spawn_in_pty(cmd: &mut std::process::Command) -> (std::process::Child, std::fs::File) {
    use std::os::fd::FromRawFd;
    use std::os::unix::process::CommandExt;
    let (mut master, mut slave) = (-1, -1);
    let size = libc::winsize {
        ws_row: 24,
        ws_col: 80,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two descriptors this function then owns; no name buffer is passed.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened and are owned here.
    let (master, slave) = unsafe {
        libc::fcntl(master, libc::F_SETFD, libc::FD_CLOEXEC);
        (
            std::fs::File::from_raw_fd(master),
            std::fs::File::from_raw_fd(slave),
        )
    };
    cmd.stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().unwrap();
    // The parent's copies of the slave end are closed with `cmd`'s stdio once the command is
    // dropped, so a read on the master ends (EIO) when the child exits.
    (child, master)
}

#[test]
fn real_binary_in_a_pseudo_terminal_marks_and_quits_cleanly() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_knip"));
    cmd.args([
        "session",
        "--simulate",
        "--protocol",
        "strength",
        "--speed",
        "5",
        "--out",
    ])
    .arg(&out)
    .env("TERM", "xterm-256color")
    .env("COLUMNS", "80")
    .env("LINES", "24");
    let (mut child, master) = spawn_in_pty(&mut cmd);
    drop(cmd);
    let mut keys = master.try_clone().unwrap();
    // Collect the screen output on a thread, so keys are sent only once the view is up (the
    // alternate screen is entered after raw mode is on).
    let screen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let mut stdout = master;
    let sink = screen.clone();
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let shown = |s: &str| String::from_utf8_lossy(&screen.lock().unwrap()).contains(s);
    let send = |keys: &mut std::fs::File, k: &[u8]| {
        let _ = keys.write_all(k);
        let _ = keys.flush();
    };
    let mut step = 0;
    let mut status = None;
    for _ in 0..600 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        if let Some(s) = child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        // Once the view is up: marker, pause, resume, then quit (repeated until it ends).
        // Keys are spaced out so the session sees each state for a few frames.
        match step {
            0 if shown("\u{1b}[?1049h") => {
                send(&mut keys, b"m");
                step = 1;
            }
            1..=4 => step += 1,
            5 => {
                send(&mut keys, b" ");
                step = 6;
            }
            6..=9 => step += 1,
            10 => {
                send(&mut keys, b" ");
                step = 11;
            }
            11 => send(&mut keys, b"q"),
            _ => {}
        }
    }
    let status = match status {
        Some(s) => s,
        None => {
            let _ = child.kill();
            panic!("the session did not end on q (step {step})");
        }
    };
    reader.join().unwrap();
    let output = screen.lock().unwrap().clone();
    let text = String::from_utf8_lossy(&output).to_string();
    assert!(status.success(), "{text}");
    assert!(
        text.contains("of 30 today"),
        "the live view was drawn: {text}"
    );
    assert!(text.contains("\u{1b}[?1049h"), "alternate screen entered");
    assert!(
        text.contains("\u{1b}[?1049l"),
        "alternate screen left (terminal restored)"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("session.json")).unwrap()).unwrap();
    assert_eq!(
        json["stopped_early"],
        true,
        "step {step}, {} bytes of screen",
        output.len()
    );
    assert!(
        !json["markers"].as_array().unwrap().is_empty(),
        "m dropped a marker"
    );
    assert!(out.join("report.png").exists() && out.join("reps.csv").exists());
}

#[test]
fn an_unplugged_sensor_and_the_wait_for_the_next_cue_are_shown() {
    let s = states_at(&[43.0]);
    let mut away = s[0].clone();
    away.device_message =
        Some("Sensor unplugged — plug it back in; the exercise waits".to_string());
    let text = screen(&away);
    assert!(text.contains("C H E C K   T H E   S E N S O R"), "{text}");
    assert!(text.contains("Sensor unplugged"), "{text}");
    assert!(
        !text.contains("H O L D"),
        "the cue is not shown while the sensor is away:\n{text}"
    );
    // After the resume the runner says how long until the repeated rep's cue.
    let mut wait = s[0].clone();
    wait.cue = knip::session::run::Cue::GetReady { n: 3 };
    wait.in_work = false;
    let text = screen(&wait);
    assert!(text.contains("G E T   R E A D Y   3 …"), "{text}");
}
