//! The patient's screen in a browser (`--web`, `--web-lan`): knip serves the patient's view
//! (gauge, cue, counts, abdomen, verdict, sound) and the clinician's (traces, thresholds,
//! markers, pause/resume/end, report links) from the same live state as the terminal view.
//! See docs/web-view.md for the screens and the security model.
//!
//! - [`hub`]: the latest-state slot and trace ring the pipeline publishes into;
//! - [`view`]: the session view and pipeline sink that publish;
//! - [`server`]: axum on its own tokio thread; [`auth`]: Host/Origin/token checks.

pub mod auth;
pub mod hub;
pub mod server;
pub mod view;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;

/// How the web screen is served.
#[derive(Debug, Clone, Copy, Default)]
pub struct WebOptions {
    /// Reachable from other devices on the network (with pairing tokens); else 127.0.0.1 only.
    pub lan: bool,
    /// 0: a free port chosen by the system.
    pub port: u16,
}

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("cannot serve the web screen on port {port}: {source} (choose another --web-port, or leave it out for a free one)")]
    Bind { port: u16, source: std::io::Error },
    #[error("cannot start the web server: {0}")]
    Start(std::io::Error),
}

/// A running web server; stopped when dropped.
pub struct WebServer {
    pub hub: Arc<hub::Hub>,
    pub arrival: Arc<view::Arrival>,
    pub addr: SocketAddr,
    pub lan: bool,
    tokens: Option<auth::Tokens>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for WebServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebServer")
            .field("addr", &self.addr)
            .field("lan", &self.lan)
            .finish_non_exhaustive()
    }
}

impl WebServer {
    /// Bind and start serving (nothing is shown until the pipeline publishes).
    pub fn start(opts: &WebOptions) -> Result<Self, WebError> {
        let ip = if opts.lan {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        };
        let listener = TcpListener::bind((ip, opts.port)).map_err(|source| WebError::Bind {
            port: opts.port,
            source,
        })?;
        listener.set_nonblocking(true).map_err(WebError::Start)?;
        let addr = listener.local_addr().map_err(WebError::Start)?;
        let tokens = if opts.lan {
            Some(auth::Tokens::new().map_err(WebError::Start)?)
        } else {
            None
        };
        let hub = hub::Hub::new();
        let state = server::AppState {
            hub: hub.clone(),
            tokens: tokens.clone(),
            port: addr.port(),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(WebError::Start)?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("knip-web".into())
            .spawn(move || {
                rt.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let app = server::router(state);
                    let serve = Box::pin(async move {
                        let _ = axum::serve(listener, app).await;
                    });
                    let _ = futures_util::future::select(serve, rx).await;
                });
            })
            .map_err(WebError::Start)?;
        Ok(WebServer {
            hub,
            arrival: Arc::new(view::Arrival::default()),
            addr,
            lan: opts.lan,
            tokens,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The address a browser on this computer opens (the clinician's, without `--web-lan`).
    pub fn local_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.addr.port())
    }

    /// What to print on the terminal: the addresses, and with `--web-lan` the patient's QR code
    /// and the clinician's own address (tokens are per session; the clinician's is printed only
    /// here, never shown on a page).
    pub fn banner(&self) -> String {
        let port = self.addr.port();
        match &self.tokens {
            None => format!(
                "Web screen (this computer only): patient {0}  clinician {0}clinician\n",
                self.local_url()
            ),
            Some(t) => {
                let host = lan_address()
                    .map(|ip| ip.to_string())
                    .unwrap_or_else(|| "THIS-COMPUTER'S-ADDRESS".into());
                let patient = format!("http://{host}:{port}/pair?t={}", t.patient);
                let clinician = format!("http://{host}:{port}/pair?t={}", t.clinician);
                format!(
                    "Web screen on the network. Patient's screen (tablet or phone on this \
                     network): scan the code or open\n  {patient}\n{}\nClinician (keep this \
                     one to yourself): {clinician}\n",
                    qr_text(&patient)
                )
            }
        }
    }

    /// The pairing addresses on loopback (for tests and the benchmark): (patient, clinician).
    pub fn pairing_urls_loopback(&self) -> Option<(String, String)> {
        let t = self.tokens.as_ref()?;
        let port = self.addr.port();
        Some((
            format!("http://127.0.0.1:{port}/pair?t={}", t.patient),
            format!("http://127.0.0.1:{port}/pair?t={}", t.clinician),
        ))
    }

    /// The view a guided session adds to its views.
    pub fn session_view(
        &self,
        calibration: Option<crate::session::calibrate::Calibration>,
        spec: &crate::frame::StreamSpec,
    ) -> view::WebView {
        view::WebView::new(self.hub.clone(), self.arrival.clone(), calibration).with_roles(spec)
    }

    /// The pipeline sink (traces; `standalone`: also the patient's gauge for record/replay).
    pub fn sink(&self, standalone: bool) -> view::WebSink {
        view::WebSink::new(self.hub.clone(), self.arrival.clone(), standalone)
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The address other devices on the network reach this computer at: the source address of the
/// default route (a UDP socket is connected, which sends nothing), if there is one.
fn lan_address() -> Option<IpAddr> {
    let s = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    // TEST-NET-1 (RFC 5737): only the route is looked up; no packet is sent.
    s.connect((Ipv4Addr::new(192, 0, 2, 1), 9)).ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
}

/// A QR code of `text` for the terminal (two modules per character cell).
pub fn qr_text(text: &str) -> String {
    use qrcode::render::unicode::Dense1x2;
    match qrcode::QrCode::new(text.as_bytes()) {
        Ok(code) => code
            .render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
        Err(_) => String::new(),
    }
}

/// After the run: the report's files (those in `out_dir`) become the clinician's links, and the
/// finished screen stays up `keep_s` seconds; without `keep_s`, on a terminal, until Ctrl-C
/// (`stop` is cleared first, so the Ctrl-C or the page's "End" that ended the session does not
/// end this too).
pub fn linger(
    server: &WebServer,
    out_dir: &std::path::Path,
    files: &[std::path::PathBuf],
    keep_s: Option<u32>,
    stop: Option<Arc<std::sync::atomic::AtomicBool>>,
    on_terminal: bool,
) {
    use std::sync::atomic::Ordering;
    let dir = std::fs::canonicalize(out_dir).unwrap_or_else(|_| out_dir.to_path_buf());
    let names: Vec<String> = files
        .iter()
        .filter(|f| {
            f.parent()
                .and_then(|p| std::fs::canonicalize(p).ok())
                .is_some_and(|p| p == dir)
        })
        .filter_map(|f| Some(f.file_name()?.to_string_lossy().to_string()))
        .collect();
    server.hub.set_report(dir, names);
    let wait = match keep_s {
        Some(s) => Some(std::time::Duration::from_secs(u64::from(s))),
        None if on_terminal && stop.is_some() => None,
        None => return,
    };
    if let Some(f) = &stop {
        f.store(false, Ordering::SeqCst);
    }
    match wait {
        Some(d) => eprintln!(
            "The web screen shows the report's links for {} s more.",
            d.as_secs()
        ),
        None => eprintln!("The web screen shows the report's links; press Ctrl-C to end."),
    }
    let until = wait.map(|d| std::time::Instant::now() + d);
    loop {
        if stop.as_ref().is_some_and(|f| f.load(Ordering::SeqCst)) {
            return;
        }
        if until.is_some_and(|u| std::time::Instant::now() >= u) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
