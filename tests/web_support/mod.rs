//! Helpers of the web screen's tests and benchmark: a knip child process with `--web`, a raw
//! HTTP/1.1 client over TCP, and a small synchronous Chrome DevTools Protocol client that
//! drives Debian's `chromium` headless (no download, no extra crate but tungstenite).
#![allow(dead_code)]

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A knip process serving the web screen; killed when dropped.
pub struct Knip {
    pub child: Child,
    pub port: u16,
    /// What it printed on standard error so far (the banner).
    pub stderr: Arc<Mutex<String>>,
    pub stdout: Arc<Mutex<String>>,
}

impl Knip {
    /// Start `knip ARGS` and wait until it prints the web screen's address (when `web`).
    pub fn start(args: &[&str], web: bool) -> Knip {
        let mut child = Command::new(env!("CARGO_BIN_EXE_knip"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("knip starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        let stdout = Arc::new(Mutex::new(String::new()));
        let (e, o) = (stderr.clone(), stdout.clone());
        let err = child.stderr.take().expect("stderr");
        let out = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut g = e.lock().unwrap();
                g.push_str(&line);
                g.push('\n');
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let mut g = o.lock().unwrap();
                g.push_str(&line);
                g.push('\n');
            }
        });
        let mut k = Knip {
            child,
            port: 0,
            stderr,
            stdout,
        };
        if web {
            let t0 = Instant::now();
            loop {
                let text = k.stderr.lock().unwrap().clone();
                if let Some(p) = port_in(&text) {
                    k.port = p;
                    break;
                }
                assert!(
                    t0.elapsed() < Duration::from_secs(30),
                    "knip printed no web address: {text}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        k
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn stdout_text(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// The pairing tokens printed with `--web-lan`: (patient, clinician).
    pub fn tokens(&self) -> (String, String) {
        let text = self.stderr_text();
        let toks: Vec<String> = text
            .split("pair?t=")
            .skip(1)
            .map(|s| s.chars().take_while(|c| c.is_ascii_hexdigit()).collect())
            .collect();
        assert_eq!(toks.len(), 2, "two pairing addresses in: {text}");
        (toks[0].clone(), toks[1].clone())
    }

    /// Wait for the process to end by itself.
    pub fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let t0 = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                return s;
            }
            assert!(t0.elapsed() < limit, "knip did not end within {limit:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Knip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn port_in(text: &str) -> Option<u16> {
    let i = text.find(":")?;
    let _ = i;
    for part in text.split("http://").skip(1) {
        let host_port: String = part.chars().take_while(|c| *c != '/').collect();
        if let Some((_, p)) = host_port.rsplit_once(':') {
            if let Ok(p) = p.parse() {
                return Some(p);
            }
        }
    }
    None
}

/// A raw HTTP/1.1 answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// Send `request` (everything but the final blank line is given by the caller) to
/// 127.0.0.1:`port` and read the answer for at most `read_for` (streams never end).
pub fn http(port: u16, request: &str, read_for: Duration) -> Answer {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let t0 = Instant::now();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    while t0.elapsed() < read_for {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => {
                // A complete non-streaming answer: stop early.
                let text = String::from_utf8_lossy(&buf);
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    if let Some(len) = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().to_string())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                    {
                        if body.len() >= len {
                            break;
                        }
                    }
                }
            }
        }
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Answer {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// `GET path` with extra header lines (each ending in \r\n).
pub fn get(port: u16, path: &str, headers: &str, read_for: Duration) -> Answer {
    http(
        port,
        &format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n{headers}\r\n"
        ),
        read_for,
    )
}

/// Sockets listening on TCP (v4 and v6) that process `pid` holds: their local addresses.
pub fn listening_sockets(pid: u32) -> Vec<String> {
    let mut inodes = std::collections::HashSet::new();
    if let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        for e in rd.flatten() {
            if let Ok(t) = std::fs::read_link(e.path()) {
                let t = t.to_string_lossy().to_string();
                if let Some(i) = t.strip_prefix("socket:[").and_then(|x| x.strip_suffix(']')) {
                    inodes.insert(i.to_string());
                }
            }
        }
    }
    let mut out = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() > 9 && f[3] == "0A" && inodes.contains(f[9]) {
                out.push(f[1].to_string());
            }
        }
    }
    out
}

// ---- Chrome DevTools Protocol -------------------------------------------------------------

/// The browser: Debian's `chromium` (or $CHROMIUM), headless.
pub struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    ws: tungstenite::WebSocket<TcpStream>,
    next_id: u64,
}

/// Where the browser is, or a clear failure (the browser tests never skip).
pub fn chromium_path() -> PathBuf {
    if let Ok(p) = std::env::var("CHROMIUM") {
        return PathBuf::from(p);
    }
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(out) = Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
        {
            let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if out.status.success() && !p.is_empty() {
                return PathBuf::from(p);
            }
        }
    }
    panic!("no chromium found: install Debian's `chromium` (.ci/run does) or set CHROMIUM");
}

impl Browser {
    pub fn launch() -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(chromium_path())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-background-timer-throttling",
                "--disable-renderer-backgrounding",
                "--disable-backgrounding-occluded-windows",
                "--hide-scrollbars",
                "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1",
                "about:blank",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium starts");
        let err = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if !sent {
                    if let Some(i) = line.find("ws://") {
                        let _ = tx.send(line[i..].trim().to_string());
                        sent = true;
                    }
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("chromium prints its DevTools address");
        let hostport = url
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let stream = TcpStream::connect(&hostport).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let (ws, _) = tungstenite::client(url.as_str(), stream).expect("DevTools handshake");
        Browser {
            child,
            _profile: profile,
            ws,
            next_id: 1,
        }
    }

    /// A command (on a page's session when `session` is given); its result.
    pub fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.ws
            .send(tungstenite::Message::text(msg.to_string()))
            .expect("send to chromium");
        loop {
            let m = self.ws.read().expect("read from chromium");
            let tungstenite::Message::Text(t) = m else {
                continue;
            };
            let v: Value = serde_json::from_str(t.as_str()).unwrap_or(Value::Null);
            if v["id"].as_u64() == Some(id) {
                if let Some(e) = v.get("error") {
                    panic!("{method} failed: {e}");
                }
                return v["result"].clone();
            }
        }
    }

    /// A new tab at `url`, `width`×`height` CSS pixels; its session id.
    pub fn open(&mut self, url: &str, width: u32, height: u32) -> String {
        let t = self.call(None, "Target.createTarget", json!({"url": "about:blank"}));
        let target = t["targetId"].as_str().unwrap().to_string();
        let a = self.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target, "flatten": true}),
        );
        let s = a["sessionId"].as_str().unwrap().to_string();
        self.call(Some(&s), "Page.enable", json!({}));
        self.call(Some(&s), "Runtime.enable", json!({}));
        self.viewport(&s, width, height);
        self.call(Some(&s), "Page.navigate", json!({"url": url}));
        s
    }

    pub fn viewport(&mut self, s: &str, width: u32, height: u32) {
        self.call(
            Some(s),
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600}),
        );
    }

    /// Evaluate `expr` in the page (promises awaited); its value.
    pub fn eval(&mut self, s: &str, expr: &str) -> Value {
        let r = self.call(
            Some(s),
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("page error in `{expr}`: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Wait until `expr` is true in the page.
    pub fn wait_for(&mut self, s: &str, expr: &str, limit: Duration) {
        let t0 = Instant::now();
        loop {
            if self.eval(s, &format!("!!({expr})")) == json!(true) {
                return;
            }
            assert!(t0.elapsed() < limit, "page never had `{expr}`");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A real click (a user gesture, as a tap) at the centre of the element `selector`.
    pub fn click(&mut self, s: &str, selector: &str) {
        let r = self.eval(
            s,
            &format!(
                "(() => {{ const r = document.querySelector('{selector}').getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
            ),
        );
        let (x, y) = (r[0].as_f64().unwrap(), r[1].as_f64().unwrap());
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                Some(s),
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            );
        }
    }

    /// A PNG of the tab.
    pub fn screenshot(&mut self, s: &str, path: &Path) {
        let r = self.call(Some(s), "Page.captureScreenshot", json!({"format": "png"}));
        let bytes = base64_decode(r["data"].as_str().unwrap());
        std::fs::write(path, bytes).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let Some(v) = val(c) else { continue };
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}
