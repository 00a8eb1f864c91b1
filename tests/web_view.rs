//! The web screen (`--web`, `--web-lan`).
//!
//! Security (plain `cargo test`, no browser): foreign Host, foreign Origin, cross-site fetches,
//! missing or wrong pairing token are refused, on pages and on the state stream's handshake;
//! the token becomes an HttpOnly SameSite=Strict cookie; clinician-only things need the
//! clinician's token; no patient id on a page; no listener at all without `--web`, and only
//! 127.0.0.1 without `--web-lan`.
//!
//! In a real headless browser (Debian's `chromium`; `.ci/run` installs it and runs these with
//! `--ignored`; without a browser they fail): the patient's page follows the session (gauge,
//! cue, rep, today), its sound follows the level with ramped gain, the clinician's page shows
//! traces and the report's links; screenshots go to target/web-view/.

mod web_support;

use serde_json::Value;
use std::time::{Duration, Instant};
use web_support::{get, http, listening_sockets, Browser, Knip};

const SHORT: Duration = Duration::from_millis(1500);

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn loopback_screen_refuses_foreign_hosts_and_origins() {
    let dir = tmp();
    let out = dir.path().join("s");
    let k = Knip::start(
        &[
            "demo",
            "--protocol",
            "identify",
            "--speed",
            "1",
            "--plain",
            "--web",
            "--out",
            out.to_str().unwrap(),
        ],
        true,
    );
    let port = k.port;
    // Only on 127.0.0.1 (0100007F in /proc/net/tcp), and only one listener.
    let socks = listening_sockets(k.pid());
    assert_eq!(
        socks,
        vec![format!("0100007F:{port:04X}")],
        "listening: {socks:?}"
    );

    let ok = get(port, "/", "", SHORT);
    assert_eq!(ok.status, 200, "{ok:?}");
    assert!(ok.body.contains("id=\"gauge\""));
    let csp = ok.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert_eq!(ok.header("x-frame-options").as_deref(), Some("DENY"));
    let alias = http(
        port,
        &format!("GET / HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n"),
        SHORT,
    );
    assert_eq!(alias.status, 200);

    // The state stream answers with events on loopback.
    let ev = get(port, "/events", "", SHORT);
    assert_eq!(ev.status, 200);
    assert!(ev.head.contains("text/event-stream"), "{}", ev.head);
    assert!(ev.body.contains("data: {"), "{}", ev.body);

    // DNS rebinding: a foreign name, the right port.
    for path in ["/", "/events", "/clinician", "/assets/patient.js"] {
        let a = http(
            port,
            &format!(
                "GET {path} HTTP/1.1\r\nHost: attacker.example:{port}\r\nConnection: close\r\n\r\n"
            ),
            SHORT,
        );
        assert_eq!(a.status, 403, "{path}: {a:?}");
        assert!(
            !a.body.contains("data:") && !a.body.contains("<html"),
            "{path}: {}",
            a.body
        );
    }
    // Another port in Host, no Host at all.
    let a = http(
        port,
        &format!(
            "GET / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            port ^ 1
        ),
        SHORT,
    );
    assert_eq!(a.status, 403);
    let a = http(port, "GET / HTTP/1.0\r\n\r\n", SHORT);
    assert_eq!(a.status, 403, "{a:?}");

    // Cross-site: a foreign Origin on a page, on the stream's handshake, on a control.
    for path in ["/", "/events", "/events/clinician"] {
        let a = get(port, path, "Origin: http://attacker.example\r\n", SHORT);
        assert_eq!(a.status, 403, "{path}: {a:?}");
        assert!(!a.body.contains("data:"));
        let a = get(port, path, "Sec-Fetch-Site: cross-site\r\n", SHORT);
        assert_eq!(a.status, 403, "{path}: {a:?}");
    }
    let post = |origin: &str| {
        http(
            port,
            &format!(
                "POST /control/marker HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{origin}Content-Length: 4\r\nConnection: close\r\n\r\nnote"
            ),
            SHORT,
        )
    };
    assert_eq!(post("Origin: http://attacker.example\r\n").status, 403);
    assert_eq!(post("").status, 403, "a control without Origin");
    // The page's own Origin: the marker is placed.
    assert_eq!(
        post(&format!("Origin: http://127.0.0.1:{port}\r\n")).status,
        204
    );
    let t0 = Instant::now();
    loop {
        let c = get(port, "/events/clinician", "", SHORT);
        if c.body.contains("M1: note") {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "marker never shown: {}",
            c.body
        );
    }
    // Unknown files and the report before it exists.
    assert_eq!(get(port, "/assets/../Cargo.toml", "", SHORT).status, 404);
    assert_eq!(get(port, "/report/report.png", "", SHORT).status, 404);
}

#[test]
fn no_listener_without_web() {
    let dir = tmp();
    let out = dir.path().join("s");
    let mut k = Knip::start(
        &[
            "demo",
            "--protocol",
            "identify",
            "--speed",
            "2",
            "--plain",
            "--out",
            out.to_str().unwrap(),
        ],
        false,
    );
    // Wait until the session is under way (its first cue printed), then look at its sockets.
    let t0 = Instant::now();
    while !k.stdout_text().contains("baseline 1/1") {
        assert!(t0.elapsed() < Duration::from_secs(20), "no session output");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(listening_sockets(k.pid()), Vec::<String>::new());
    assert!(!k.stderr_text().contains("http://"));
    let _ = k.child.kill();
    let _ = k.wait(Duration::from_secs(10));
}

#[test]
fn lan_screen_needs_the_pairing_token_and_shows_no_patient_id() {
    let dir = tmp();
    let out = dir.path().join("s");
    let db = dir.path().join("p.sqlite");
    let patient_id = "PATIENT-7QX";
    let k = Knip::start(
        &[
            "session",
            "--simulate",
            "--protocol",
            "identify",
            "--speed",
            "1",
            "--plain",
            "--patient",
            patient_id,
            "--db",
            db.to_str().unwrap(),
            "--web-lan",
            "--out",
            out.to_str().unwrap(),
        ],
        true,
    );
    let port = k.port;
    let (patient, clinician) = k.tokens();
    assert_ne!(patient, clinician);
    assert!(
        k.stderr_text().contains('█') || k.stderr_text().contains('▀'),
        "a QR code"
    );
    // Every address of the machine (0.0.0.0), one listener.
    let socks = listening_sockets(k.pid());
    assert_eq!(socks, vec![format!("00000000:{port:04X}")], "{socks:?}");

    // Without a token: nothing, neither page, asset, stream nor control.
    for path in [
        "/",
        "/clinician",
        "/events",
        "/events/clinician",
        "/assets/patient.js",
    ] {
        let a = get(port, path, "", SHORT);
        assert_eq!(a.status, 401, "{path}: {a:?}");
        assert!(
            !a.body.contains("data:") && !a.body.contains("<html"),
            "{path}"
        );
    }
    // A wrong token, in the pairing address or as a cookie.
    let wrong = "0123456789abcdef0123456789abcdef";
    assert_eq!(
        get(port, &format!("/pair?t={wrong}"), "", SHORT).status,
        401
    );
    assert_eq!(
        get(port, &format!("/pair?t={}", &patient[..31]), "", SHORT).status,
        401
    );
    let a = get(
        port,
        "/events",
        &format!("Cookie: knip_token={wrong}\r\n"),
        SHORT,
    );
    assert_eq!(a.status, 401);
    // A foreign Host with the right token: refused (DNS rebinding).
    let a = http(
        port,
        &format!("GET / HTTP/1.1\r\nHost: knip.attacker.example:{port}\r\nCookie: knip_token={patient}\r\nConnection: close\r\n\r\n"),
        SHORT,
    );
    assert_eq!(a.status, 403);

    // The patient's token becomes a cookie; the next page has no token in its address.
    let p = get(port, &format!("/pair?t={patient}"), "", SHORT);
    assert_eq!(p.status, 200, "{p:?}");
    let cookie = p.header("set-cookie").unwrap_or_default();
    assert!(
        cookie.starts_with(&format!("knip_token={patient}")),
        "{cookie}"
    );
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(p.body.contains("url=/\""), "{}", p.body);
    let pc = format!("Cookie: knip_token={patient}\r\n");
    let page = get(port, "/", &pc, SHORT);
    assert_eq!(page.status, 200);
    let ev = get(port, "/events", &pc, Duration::from_millis(2500));
    assert_eq!(ev.status, 200);
    assert!(ev.body.contains("\"cue\""), "{}", ev.body);
    // The patient's cookie opens neither the clinician's page, stream, controls nor files.
    for path in ["/clinician", "/events/clinician", "/report/report.png"] {
        assert_eq!(get(port, path, &pc, SHORT).status, 403, "{path}");
    }
    let ctl = |cookie: &str, origin: &str| {
        http(
            port,
            &format!(
                "POST /control/pause HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: {origin}\r\nCookie: knip_token={cookie}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            ),
            SHORT,
        )
    };
    let here = format!("http://127.0.0.1:{port}");
    assert_eq!(ctl(&patient, &here).status, 403);
    assert_eq!(ctl(&clinician, "http://attacker.example").status, 403);
    // The clinician's token: the clinician's page and controls.
    let c = get(port, &format!("/pair?t={clinician}"), "", SHORT);
    assert!(c.body.contains("url=/clinician"), "{}", c.body);
    let cc = format!("Cookie: knip_token={clinician}\r\n");
    assert_eq!(get(port, "/clinician", &cc, SHORT).status, 200);
    let ce = get(port, "/events/clinician", &cc, Duration::from_millis(2500));
    assert!(ce.body.contains("\"tr\""), "{}", ce.body);
    assert_eq!(ctl(&clinician, &here).status, 204);
    let t0 = Instant::now();
    loop {
        let c = get(port, "/events/clinician", &cc, SHORT);
        if c.body.contains("\"paused\":true") {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "pause never shown");
    }
    // The patient id is on no page and in no stream.
    for (path, h) in [
        ("/", &pc),
        ("/events", &pc),
        ("/clinician", &cc),
        ("/events/clinician", &cc),
    ] {
        let a = get(port, path, h, SHORT);
        assert!(!a.body.contains(patient_id), "{path} shows the patient id");
    }
    for path in [
        "/assets/patient.js",
        "/assets/clinician.js",
        "/assets/common.js",
    ] {
        assert!(!get(port, path, &cc, SHORT).body.contains(patient_id));
    }
}

// ---- In a real browser ----------------------------------------------------------------------

/// One plain-view cue line: (device time, phase, rep, reps).
fn cue_lines(plain: &str) -> Vec<(f64, String, u32, u32)> {
    let mut v = Vec::new();
    for line in plain.lines() {
        let l = line.trim();
        let Some((clock, rest)) = l.split_once(' ') else {
            continue;
        };
        let Some((m, s)) = clock.split_once(':') else {
            continue;
        };
        let (Ok(m), Ok(s)) = (m.parse::<f64>(), s.parse::<f64>()) else {
            continue;
        };
        let Some((head, _)) = rest.split_once(": ") else {
            continue;
        };
        let Some((phase, nn)) = head.rsplit_once(' ') else {
            continue;
        };
        let Some((r, n)) = nn.split_once('/') else {
            continue;
        };
        if let (Ok(r), Ok(n)) = (r.parse(), n.parse()) {
            v.push((60.0 * m + s, phase.to_string(), r, n));
        }
    }
    v
}

/// Work seconds of each phase from the plain view's "— phase (n × 5.0 s) —" lines.
fn phase_work_s(plain: &str) -> std::collections::HashMap<String, f64> {
    let mut m = std::collections::HashMap::new();
    for line in plain.lines() {
        let Some(i) = line.find(" — ") else {
            continue;
        };
        let rest = &line[i + " — ".len()..];
        let Some((phase, tail)) = rest.split_once(" (") else {
            continue;
        };
        let Some(x) = tail.split('×').nth(1) else {
            continue;
        };
        if let Ok(w) = x
            .trim()
            .trim_end_matches(" —")
            .trim_end_matches(" s)")
            .trim()
            .parse()
        {
            m.insert(phase.to_string(), w);
        }
    }
    m
}

const WORK_WORDS: [&str; 5] = [
    "Squeeze",
    "Hold ",
    "Quick squeeze!",
    "Keep it up",
    "now cough",
];

#[test]
#[ignore = "needs chromium: .ci/run installs it and runs these"]
fn browser_patient_screen_follows_the_session_with_sound() {
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-view");
    std::fs::create_dir_all(&shots).unwrap();
    let dir = tmp();
    let out = dir.path().join("s");
    let mut k = Knip::start(
        &[
            "demo",
            "--protocol",
            "strength",
            "--speed",
            "4",
            "--plain",
            "--web",
            "--web-keep",
            "60",
            "--out",
            out.to_str().unwrap(),
        ],
        true,
    );
    let base = format!("http://127.0.0.1:{}", k.port);
    let mut b = Browser::launch();
    let p = b.open(&format!("{base}/"), 360, 740);
    let c = b.open(&format!("{base}/clinician"), 1280, 800);
    b.wait_for(
        &p,
        "window.knipState && window.knipState.cue",
        Duration::from_secs(20),
    );

    // Sound on, by a tap: the tone's gain rises by a ramp, not a jump.
    b.click(&p, "#sound");
    b.wait_for(
        &p,
        "window.knipAudio.on() && window.knipAudio.state() === 'running'",
        Duration::from_secs(10),
    );
    std::thread::sleep(Duration::from_millis(300));
    // Sound off: the gain falls by a ramp (a direct set would read 0 at once), then on again.
    let ramp = b.eval(
        &p,
        "new Promise((res) => { const v = [window.knipAudio.gain()]; document.getElementById('sound').click(); \
         const t = setInterval(() => { v.push(window.knipAudio.gain()); if (v.length >= 40) { clearInterval(t); res(v); } }, 5); })",
    );
    let ramp: Vec<f64> = ramp
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    let first = ramp[0];
    assert!(first > 0.01, "the tone was audible: {ramp:?}");
    assert!(ramp[1] > 0.2 * first, "no jump to silence: {ramp:?}");
    assert!(
        ramp.iter()
            .filter(|g| **g > 0.05 * first && **g < 0.8 * first)
            .count()
            >= 3,
        "the gain passes through intermediate values (a ramp): {ramp:?}"
    );
    assert!(
        *ramp.last().unwrap() < 0.1 * first,
        "and reaches silence: {ramp:?}"
    );
    b.click(&p, "#sound");
    b.wait_for(&p, "window.knipAudio.on()", Duration::from_secs(5));

    // Follow the session: DOM and audio read back together, every 150 ms.
    let probe = "(() => { const s = window.knipState || {}; const g = document.getElementById('gauge'); \
        const f = document.getElementById('fill'); return { t: s.t, cue: document.getElementById('cue').textContent, \
        work: document.getElementById('cue').className === 'work', rep: document.getElementById('rep').textContent, \
        today: document.getElementById('today').textContent, level: Number(g.dataset.level), \
        fill: parseFloat(f.style.width) / 100, band: !document.getElementById('band').hidden, \
        abd: document.getElementById('abd').textContent, verdict: document.getElementById('verdict').textContent, \
        finished: !!s.finished, hz: window.knipAudio.frequency(), target_hz: window.knipAudio.targetFrequency(), chimes: window.knipAudio.chimes() }; })()";
    let mut samples: Vec<Value> = Vec::new();
    let mut shot_phone = false;
    let mut shot_clin = false;
    let t0 = Instant::now();
    loop {
        let v = b.eval(&p, probe);
        let finished = v["finished"].as_bool().unwrap_or(false);
        let in_hold =
            v["cue"].as_str().unwrap_or("").starts_with("Hold") && v["band"] == Value::Bool(true);
        if !shot_phone && in_hold && v["level"].as_f64().unwrap_or(0.0) > 0.3 {
            b.screenshot(&p, &shots.join("patient-360.png"));
            b.viewport(&p, 1920, 1080);
            std::thread::sleep(Duration::from_millis(300));
            b.screenshot(&p, &shots.join("patient-1920.png"));
            b.viewport(&p, 360, 740);
            shot_phone = true;
        }
        if !shot_clin && in_hold && samples.len() > 40 {
            b.eval(&c, "fetch('/control/marker', {method: 'POST', body: 'patient coughed'}).then(r => r.status)");
            std::thread::sleep(Duration::from_millis(700));
            b.screenshot(&c, &shots.join("clinician-1280.png"));
            shot_clin = true;
        }
        samples.push(v);
        if finished {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(150),
            "the session did not finish"
        );
        std::thread::sleep(Duration::from_millis(150));
    }
    assert!(shot_phone && shot_clin, "screenshots taken during a hold");

    // The session's own account: the plain view's cue lines and phases.
    b.wait_for(
        &c,
        "document.querySelectorAll('#report-list a').length > 0",
        Duration::from_secs(30),
    );
    let plain = k.stdout_text();
    let cues = cue_lines(&plain);
    let work = phase_work_s(&plain);
    assert!(cues.len() >= 10, "cue lines in: {plain}");
    let (mut checked, mut work_levels, mut rest_levels) = (0, Vec::new(), Vec::new());
    for v in &samples {
        let Some(t) = v["t"].as_f64() else { continue };
        let cue = v["cue"].as_str().unwrap_or("");
        // The DOM shows what the state says: the bar's width is the level.
        let (level, fill) = (v["level"].as_f64().unwrap(), v["fill"].as_f64().unwrap());
        assert!((level - fill).abs() < 0.12, "bar {fill} for level {level}");
        if v["finished"].as_bool().unwrap() {
            continue;
        }
        // The slot in force at `t` by the session's own cue times.
        let Some(slot) = cues.iter().rev().find(|c| c.0 <= t + 1e-6) else {
            continue;
        };
        let next = cues
            .iter()
            .find(|c| c.0 > t)
            .map(|c| c.0)
            .unwrap_or(f64::INFINITY);
        let w = work[&slot.1];
        let since = t - slot.0;
        // Away from the edges (one block, a poll), the page must agree.
        let near_edge = since < 0.4 || (since - w).abs() < 0.4 || next - t < 0.4;
        if near_edge {
            continue;
        }
        assert_eq!(
            v["rep"].as_str().unwrap(),
            format!("rep {} of {}", slot.2, slot.3),
            "at {t:.2} s the session was in {slot:?}"
        );
        let in_work = since < w;
        let says_work = WORK_WORDS.iter().any(|x| cue.contains(x));
        if slot.1 != "baseline" {
            assert_eq!(
                says_work, in_work,
                "cue `{cue}` at {t:.2} s, {since:.2} s into {slot:?}"
            );
            assert_eq!(
                v["work"].as_bool().unwrap(),
                in_work,
                "work colour at {t:.2}"
            );
        }
        if let Some(n) = cue
            .strip_prefix("Hold ")
            .and_then(|x| x.trim_end_matches('…').parse::<f64>().ok())
        {
            let left = w - since;
            assert!(
                (n - left.ceil()).abs() <= 1.0,
                "`{cue}` with {left:.2} s left"
            );
        }
        if slot.1 == "strength" {
            if in_work && since > 1.5 {
                work_levels.push(level);
            } else if !in_work && since - w > 1.5 {
                rest_levels.push(level);
            }
        }
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} samples checked");
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    assert!(
        work_levels.len() > 10 && mean(&work_levels) > 2.0 * mean(&rest_levels) + 0.1,
        "the gauge rises in the holds: work {:.3} rest {:.3}",
        mean(&work_levels),
        mean(&rest_levels)
    );
    // "n of 30 today" ends where the session says.
    let valid = plain
        .lines()
        .find_map(|l| {
            l.strip_suffix(" valid holds of 30 today")
                .and_then(|x| x.trim().parse::<u32>().ok())
        })
        .expect("the session's count");
    let last_today = samples
        .iter()
        .rev()
        .find_map(|v| v["today"].as_str().map(String::from))
        .unwrap();
    assert_eq!(last_today, format!("{valid} of 30 today"));

    // The tone follows the level: higher squeeze, higher pitch (read back from the page's
    // oscillator), and chimes rang at targets and at "let go".
    let pairs: Vec<(f64, f64)> = samples
        .iter()
        .filter_map(|v| Some((v["level"].as_f64()?, v["hz"].as_f64()?)))
        .collect();
    let hi: Vec<f64> = pairs.iter().filter(|p| p.0 > 0.5).map(|p| p.1).collect();
    let lo: Vec<f64> = pairs.iter().filter(|p| p.0 < 0.15).map(|p| p.1).collect();
    assert!(
        hi.len() > 5 && lo.len() > 5,
        "levels seen: {} high {} low",
        hi.len(),
        lo.len()
    );
    assert!(
        mean(&hi) > mean(&lo) + 100.0,
        "pitch high {:.0} Hz, low {:.0} Hz",
        mean(&hi),
        mean(&lo)
    );
    let chimes = samples.last().unwrap()["chimes"].as_u64().unwrap();
    assert!(chimes >= 10, "chimes: {chimes}");

    // The clinician's page: the report's files, served; the marker in the session's markers.
    let status = b.eval(
        &c,
        "fetch(document.querySelector('#report-list a').href).then(r => r.status)",
    );
    assert_eq!(status, Value::from(200));
    b.screenshot(&c, &shots.join("clinician-end.png"));
    let markers = b.eval(&c, "document.getElementById('marker-list').textContent");
    assert!(
        markers.as_str().unwrap().contains("patient coughed"),
        "{markers}"
    );
    let session_json = std::fs::read_to_string(out.join("session.json")).unwrap();
    assert!(
        session_json.contains("patient coughed"),
        "the marker's note in session.json"
    );
    // No request left this machine: every resource the pages loaded came from knip.
    for s in [&p, &c] {
        let urls = b.eval(
            s,
            "performance.getEntriesByType('resource').map(e => e.name)",
        );
        for u in urls.as_array().unwrap() {
            assert!(
                u.as_str().unwrap().starts_with(&base),
                "external resource {u}"
            );
        }
    }
    let _ = k.child.kill();
    eprintln!("screenshots in {}", shots.display());
}

#[test]
fn replay_without_a_protocol_serves_gauge_and_traces() {
    let dir = tmp();
    let csv = dir.path().join("rec.csv");
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_knip"))
        .args([
            "simulate",
            "--protocol",
            "identify",
            "--seed",
            "3",
            "--out",
            csv.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let out = dir.path().join("r");
    let mut k = Knip::start(
        &[
            "replay",
            csv.to_str().unwrap(),
            "--speed",
            "4",
            "--plain",
            "--web",
            "--web-keep",
            "3",
            "--out",
            out.to_str().unwrap(),
        ],
        true,
    );
    let port = k.port;
    let ev = get(port, "/events", "", Duration::from_millis(2500));
    assert!(ev.body.contains("\"mode\":\"record\""), "{}", ev.body);
    let c = get(port, "/events/clinician", "", Duration::from_millis(2500));
    assert!(
        c.body
            .contains("\"names\":[\"pfm_emg\",\"abd_emg\",\"pressure\"]"),
        "{}",
        c.body
    );
    assert!(c.body.contains("\"tr\":[["), "{}", c.body);
    // A replay cannot be paused from the page.
    let a = http(
        port,
        &format!("POST /control/pause HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: http://127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
        SHORT,
    );
    assert_eq!(a.status, 409);
    // At the end the report's files are served to the clinician.
    let t0 = Instant::now();
    loop {
        let c = get(port, "/events/clinician", "", SHORT);
        if c.body.contains("report.png") {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "no report links");
    }
    let png = get(port, "/report/report.png", "", SHORT);
    assert_eq!(png.status, 200);
    assert_eq!(png.header("content-type").as_deref(), Some("image/png"));
    assert_eq!(get(port, "/report/..%2FCargo.toml", "", SHORT).status, 404);
    assert!(k.wait(Duration::from_secs(30)).success());
}
