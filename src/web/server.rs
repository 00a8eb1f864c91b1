//! The HTTP server (axum on its own tokio thread): the pages, their assets (embedded in the
//! binary), the state stream (Server-Sent Events) and the clinician's controls, every request
//! through [`guard`] (Host, Origin, token cookie).

use super::auth::{self, Role, Tokens};
use super::hub::{Command, Hub};
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::convert::Infallible;
use std::sync::Arc;

/// Longest marker note kept, characters.
pub const MARKER_NOTE_MAX_CHARS: usize = 200;

/// An embedded asset: (name, content type, bytes).
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/web/app.css"),
    ),
    (
        "common.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/web/common.js"),
    ),
    (
        "patient.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/web/patient.js"),
    ),
    (
        "clinician.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/web/clinician.js"),
    ),
];
const PATIENT_HTML: &str = include_str!("../../assets/web/patient.html");
const CLINICIAN_HTML: &str = include_str!("../../assets/web/clinician.html");

/// Every page, asset and script that the server can send (for the no-external-URL check).
pub fn embedded_texts() -> Vec<(&'static str, &'static str)> {
    let mut v: Vec<(&str, &str)> = ASSETS.iter().map(|(n, _, t)| (*n, *t)).collect();
    v.push(("patient.html", PATIENT_HTML));
    v.push(("clinician.html", CLINICIAN_HTML));
    v
}

/// Nothing but this server: no external script, style, font, image or connection.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; font-src 'none'; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

#[derive(Clone)]
pub struct AppState {
    pub hub: Arc<Hub>,
    /// `Some` with `--web-lan`: every request needs a token's cookie.
    pub tokens: Option<Tokens>,
    pub port: u16,
}

fn refuse(status: StatusCode, why: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{why}\n"),
    )
        .into_response()
}

fn text_header(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Host, Origin and token, for every request; adds the security headers to every answer.
async fn guard(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let h = req.headers();
    let lan = st.tokens.is_some();
    let Some(host) = text_header(h, header::HOST).map(str::to_string) else {
        return refuse(StatusCode::FORBIDDEN, "refused: no Host");
    };
    if !auth::host_ok(&host, st.port, lan) {
        return refuse(StatusCode::FORBIDDEN, "refused: this Host is not knip's");
    }
    match text_header(h, header::ORIGIN) {
        Some(o) if !auth::origin_ok(o, &host) => {
            return refuse(StatusCode::FORBIDDEN, "refused: a page of another site");
        }
        None if req.method() == axum::http::Method::POST => {
            return refuse(StatusCode::FORBIDDEN, "refused: no Origin");
        }
        _ => {}
    }
    if text_header(h, header::HeaderName::from_static("sec-fetch-site")) == Some("cross-site") {
        return refuse(
            StatusCode::FORBIDDEN,
            "refused: a request from another site",
        );
    }
    let role = match &st.tokens {
        None => Some(Role::Clinician),
        Some(t) => text_header(h, header::COOKIE)
            .and_then(|c| auth::cookie_value(c, auth::COOKIE))
            .and_then(|v| t.role_of(v)),
    };
    let path = req.uri().path().to_string();
    let role = match role {
        Some(r) => r,
        None if path == "/pair" => Role::Patient,
        None => {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "Open the address knip printed (or scan its QR code) to pair this screen.",
            )
        }
    };
    let clinician_only = path == "/clinician"
        || path.starts_with("/control/")
        || path.starts_with("/report/")
        || path == "/events/clinician";
    if clinician_only && role != Role::Clinician {
        return refuse(StatusCode::FORBIDDEN, "refused: for the clinician only");
    }
    req.extensions_mut().insert(role);
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    for (k, v) in [
        ("content-security-policy", CSP),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
        ("cross-origin-resource-policy", "same-origin"),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
    resp
}

fn html(body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

async fn patient_page() -> Response {
    html(PATIENT_HTML)
}

async fn clinician_page() -> Response {
    html(CLINICIAN_HTML)
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, ty, body)) => ([(header::CONTENT_TYPE, *ty)], *body).into_response(),
        None => refuse(StatusCode::NOT_FOUND, "no such file"),
    }
}

#[derive(serde::Deserialize)]
struct PairQuery {
    t: Option<String>,
}

/// The token in the printed address becomes a cookie (HttpOnly, SameSite=Strict), and the
/// page moves on to an address without it. The move is a same-site page load (not a
/// redirect of the scanned link), so that the Strict cookie is sent with it.
async fn pair(State(st): State<AppState>, Query(q): Query<PairQuery>) -> Response {
    let Some(tokens) = &st.tokens else {
        return redirect_page("/");
    };
    let token = q.t.unwrap_or_default();
    let Some(role) = tokens.role_of(&token) else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "This pairing address is not the one knip printed for this session.",
        );
    };
    let cookie = format!(
        "{}={token}; HttpOnly; SameSite=Strict; Path=/",
        auth::COOKIE
    );
    let to = if role == Role::Clinician {
        "/clinician"
    } else {
        "/"
    };
    let mut r = redirect_page(to);
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

fn redirect_page(to: &'static str) -> Response {
    let body = format!(
        "<!doctype html><meta charset=utf-8><meta http-equiv=refresh content=\"0;url={to}\">\
         <title>knip</title><p>Paired. <a href=\"{to}\">Continue</a></p>"
    );
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

/// The state stream: every new state as one event; the clinician's carries the new trace
/// points too. A slow page skips to the newest state; it never holds the pipeline.
async fn events(State(st): State<AppState>) -> Response {
    stream_for(st, false)
}

/// The guard lets only the clinician's cookie through to this one.
async fn clinician_events(State(st): State<AppState>) -> Response {
    stream_for(st, true)
}

fn stream_for(st: AppState, traces: bool) -> Response {
    let rx = st.hub.subscribe();
    let hub = st.hub.clone();
    let stream = futures_util::stream::unfold(
        (rx, Vec::<u64>::new(), true, hub),
        move |(mut rx, mut cursor, first, hub)| async move {
            if !first && rx.changed().await.is_err() {
                return None;
            }
            let f = rx.borrow_and_update().clone();
            let data = if traces {
                let (names, points) = match hub.traces.lock() {
                    Ok(t) => {
                        let p = t.json_since(&cursor);
                        cursor = t.ends();
                        let names = serde_json::json!({"names": t.names, "units": t.units});
                        (names.to_string(), p)
                    }
                    Err(_) => ("{}".into(), "[]".into()),
                };
                let patient = if f.patient.is_empty() {
                    "{}"
                } else {
                    &f.patient
                };
                let clinician = if f.clinician.is_empty() {
                    "{}"
                } else {
                    &f.clinician
                };
                let reports = serde_json::to_string(&hub.report().map(|r| r.1).unwrap_or_default())
                    .unwrap_or_else(|_| "[]".into());
                format!(
                    "{{\"seq\":{},\"s\":{patient},\"c\":{clinician},\"ch\":{names},\"tr\":{points},\"rate\":{},\"reports\":{reports}}}",
                    f.seq,
                    super::hub::TRACE_RATE_HZ
                )
            } else if f.patient.is_empty() {
                "{}".to_string()
            } else {
                f.patient.clone()
            };
            Some((
                Ok::<_, Infallible>(Event::default().data(data)),
                (rx, cursor, false, hub),
            ))
        },
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

async fn control(State(st): State<AppState>, Path(what): Path<String>, body: String) -> Response {
    let cmd = match what.as_str() {
        "pause" => Command::Pause,
        "resume" => Command::Resume,
        "end" => Command::End,
        "marker" => Command::Marker(
            body.chars()
                .filter(|c| !c.is_control())
                .take(MARKER_NOTE_MAX_CHARS)
                .collect::<String>()
                .trim()
                .to_string(),
        ),
        _ => return refuse(StatusCode::NOT_FOUND, "no such control"),
    };
    if st.hub.command(&cmd) {
        (StatusCode::NO_CONTENT, "").into_response()
    } else {
        refuse(StatusCode::CONFLICT, "this run cannot do that now")
    }
}

/// A report file, read-only, once the report is written: only names in its list.
async fn report_file(State(st): State<AppState>, Path(name): Path<String>) -> Response {
    let Some((dir, files)) = st.hub.report() else {
        return refuse(StatusCode::NOT_FOUND, "the report is not written yet");
    };
    if !files.contains(&name) {
        return refuse(StatusCode::NOT_FOUND, "no such report file");
    }
    let ty = match name.rsplit_once('.').map(|x| x.1) {
        Some("png") => "image/png",
        Some("csv") => "text/csv; charset=utf-8",
        Some("json") => "application/json",
        _ => "text/plain; charset=utf-8",
    };
    // Report files are small (a few hundred kB): read at once.
    match std::fs::read(dir.join(&name)) {
        Ok(bytes) => ([(header::CONTENT_TYPE, ty)], Body::from(bytes)).into_response(),
        Err(_) => refuse(StatusCode::NOT_FOUND, "the file cannot be read"),
    }
}

/// The whole application.
pub fn router(st: AppState) -> Router {
    Router::new()
        .route("/", get(patient_page))
        .route("/clinician", get(clinician_page))
        .route("/pair", get(pair))
        .route("/assets/{name}", get(asset))
        .route("/events", get(events))
        .route("/events/clinician", get(clinician_events))
        .route("/control/{what}", post(control))
        .route("/report/{name}", get(report_file))
        .layer(middleware::from_fn_with_state(st.clone(), guard))
        .with_state(st)
}

#[cfg(test)]
mod tests {
    #[test]
    fn no_page_names_anything_outside_knip() {
        for (name, text) in super::embedded_texts() {
            for bad in [
                "http://", "https://", "//cdn", "url(", "@import", "src=\"//", "ws://",
            ] {
                assert!(!text.contains(bad), "{name} contains {bad}");
            }
        }
    }
}
