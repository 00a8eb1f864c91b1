//! The live view for the patient (ratatui): a big gauge of the current squeeze in %MVC with
//! the target band, the cue in plain words with a countdown, "7 of 30 today", an abdominal
//! warning that lights while the abdomen works, and a short verdict after each rep. Fits 80×24
//! and is meant to be read from a bed. Space pauses, `q` ends the session (the report is still
//! written), `m` drops a marker.
//!
//! [`draw`] is a pure function of [`LiveState`], tested with ratatui's `TestBackend`;
//! [`TuiView`] owns the real terminal and the key-reading thread.

use super::words;
use crate::error::OutputError;
use crate::session::run::{Controls, LiveState, SessionNote, SessionView};
use crate::session::score::Verdict;
use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget};
use ratatui::Frame;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Full scale of the gauge, %MVC.
pub const GAUGE_MAX_PCT: f64 = 120.0;

/// Draw the whole screen.
pub fn draw(f: &mut Frame, live: &LiveState) {
    let area = f.area();
    let rows = Layout::vertical([
        Constraint::Length(1), // header
        Constraint::Length(5), // headline
        Constraint::Length(7), // gauge
        Constraint::Length(3), // counter
        Constraint::Length(3), // abdomen
        Constraint::Length(3), // verdict
        Constraint::Min(0),
        Constraint::Length(1), // keys
    ])
    .split(area);
    header(f, rows[0], live);
    headline(f, rows[1], live);
    f.render_widget(Gauge { live }, rows[2]);
    counter(f, rows[3], live);
    abdomen(f, rows[4], live);
    verdict(f, rows[5], live);
    let keys = if live.finished {
        "Session over — writing the report".to_string()
    } else if live.paused {
        "PAUSED — [space] resume   [m] marker   [q] end session".to_string()
    } else {
        format!(
            "[space] pause   [m] marker{}   [q] end session",
            if live.markers > 0 {
                format!(" ({})", live.markers)
            } else {
                String::new()
            }
        )
    };
    f.render_widget(
        Paragraph::new(keys)
            .style(Style::default().fg(Color::Gray))
            .alignment(Alignment::Center),
        rows[7],
    );
}

fn header(f: &mut Frame, r: Rect, live: &LiveState) {
    let t = live.time_s.max(0.0);
    let text = format!(
        " knip · {} · {} ({} of {}) · {}:{:02}",
        live.protocol,
        live.phase_name,
        live.phase_no,
        live.phase_count,
        (t / 60.0).floor() as u64,
        (t % 60.0).floor() as u64
    );
    f.render_widget(
        Paragraph::new(text).style(Style::default().fg(Color::Black).bg(Color::Cyan)),
        r,
    );
}

fn headline(f: &mut Frame, r: Rect, live: &LiveState) {
    let color = if live.paused {
        Color::Gray
    } else if live.in_work {
        Color::Green
    } else {
        Color::Cyan
    };
    let instruction = words::instruction(&live.cue, &live.instruction);
    let (big, color, words) = match &live.device_message {
        // The sensor comes first: nothing the patient does counts until it is back.
        Some(m) => ("CHECK THE SENSOR".to_string(), Color::Yellow, m.clone()),
        None if live.paused => ("PAUSED".to_string(), color, instruction),
        None => (words::cue(&live.cue).to_uppercase(), color, instruction),
    };
    let lines = vec![
        Line::from(""),
        Line::from(Span::styled(
            spaced(&big),
            Style::default().fg(color).add_modifier(Modifier::BOLD),
        )),
        Line::from(""),
        Line::from(Span::styled(words, Style::default().fg(Color::White))),
    ];
    f.render_widget(Paragraph::new(lines).alignment(Alignment::Center), r);
}

/// Letter-spaced words read better from afar: "H O L D  3 …".
fn spaced(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

struct Gauge<'a> {
    live: &'a LiveState,
}

impl Widget for Gauge<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let live = self.live;
        let title = match live.level_pct_mvc {
            Some(p) => format!(" Squeeze {:>3.0} % of your max ", p.max(0.0)),
            None => format!(" Squeeze {:.1} {} (calibrating) ", live.level, live.unit),
        };
        let block = Block::default()
            .borders(Borders::ALL)
            .title(title)
            .title_style(Style::default().add_modifier(Modifier::BOLD));
        let inner = block.inner(area);
        block.render(area, buf);
        if inner.width < 10 || inner.height < 2 {
            return;
        }
        let w = inner.width as f64;
        let col = |pct: f64| ((pct / GAUGE_MAX_PCT).clamp(0.0, 1.0) * w).round() as u16;
        let pct = live.level_pct_mvc.unwrap_or(0.0);
        let filled = col(pct);
        let band = live.target_pct_mvc.filter(|_| live.level_pct_mvc.is_some());
        let in_band = band.is_some_and(|(lo, hi)| pct >= lo && pct <= hi);
        let fill_color = if in_band {
            Color::Green
        } else if band.is_some_and(|(_, hi)| pct > hi) {
            Color::Yellow
        } else {
            Color::Blue
        };
        let bar_rows = inner.height - 1;
        for y in 0..bar_rows {
            for x in 0..inner.width {
                let cell = &mut buf[(inner.x + x, inner.y + y)];
                let in_target =
                    band.is_some_and(|(lo, hi)| x >= col(lo) && x < col(hi).max(col(lo) + 1));
                if x < filled {
                    cell.set_symbol("█").set_fg(fill_color);
                } else if in_target {
                    cell.set_symbol("░").set_fg(Color::Green);
                } else {
                    cell.set_symbol(" ");
                }
            }
        }
        // Scale and band labels on the last row.
        let y = inner.y + bar_rows;
        let mut put = |x: u16, s: &str, style: Style| {
            let x = x.min(inner.width.saturating_sub(s.len() as u16));
            buf.set_string(inner.x + x, y, s, style);
        };
        put(0, "0", Style::default().fg(Color::Gray));
        put(
            col(100.0).saturating_sub(2),
            "100%",
            Style::default().fg(Color::Gray),
        );
        if let Some((lo, hi)) = band {
            let label = format!("target {lo:.0}–{hi:.0} %");
            put(col(lo), &label, Style::default().fg(Color::Green));
        }
    }
}

fn counter(f: &mut Frame, r: Rect, live: &LiveState) {
    let left = format!("{} of {} today", live.valid_today, live.daily_goal);
    let mid = format!("rep {} of {}", live.rep, live.reps_in_phase);
    let right = format!(
        "{} {:.0} s",
        if live.in_work { "work" } else { "rest" },
        live.countdown_s.ceil()
    );
    let cols = Layout::horizontal([Constraint::Ratio(1, 3); 3]).split(r);
    let big = Style::default().add_modifier(Modifier::BOLD);
    for (i, (t, style)) in [
        (left, big.fg(Color::Cyan)),
        (mid, big),
        (right, big.fg(Color::White)),
    ]
    .into_iter()
    .enumerate()
    {
        f.render_widget(
            Paragraph::new(t)
                .style(style)
                .alignment(Alignment::Center)
                .block(Block::default().borders(Borders::ALL)),
            cols[i],
        );
    }
}

fn abdomen(f: &mut Frame, r: Rect, live: &LiveState) {
    let (text, style) = if live.abd_warning {
        (
            "TUMMY IS WORKING — keep it soft",
            Style::default()
                .fg(Color::Black)
                .bg(Color::Red)
                .add_modifier(Modifier::BOLD),
        )
    } else {
        ("Tummy soft", Style::default().fg(Color::Green))
    };
    f.render_widget(
        Paragraph::new(text)
            .style(style)
            .alignment(Alignment::Center)
            .block(Block::default().borders(Borders::ALL).title(" Abdomen ")),
        r,
    );
}

fn verdict(f: &mut Frame, r: Rect, live: &LiveState) {
    let (text, color) = match &live.last_rep {
        Some(rep) if rep.verdict == Some(Verdict::Fail) => {
            (words::rep_message(rep, &live.unit), Color::Yellow)
        }
        Some(rep) => (words::rep_message(rep, &live.unit), Color::Green),
        None => (String::new(), Color::White),
    };
    f.render_widget(
        Paragraph::new(text)
            .style(Style::default().fg(color).add_modifier(Modifier::BOLD))
            .alignment(Alignment::Center)
            .block(Block::default().borders(Borders::ALL).title(" Last rep ")),
        r,
    );
}

/// The live view on the real terminal, with keys read on their own thread.
pub struct TuiView {
    terminal: Option<ratatui::DefaultTerminal>,
    controls: Arc<Controls>,
    stop: Arc<AtomicBool>,
    keys: Option<std::thread::JoinHandle<()>>,
}

impl TuiView {
    pub fn new(controls: Arc<Controls>) -> Self {
        TuiView {
            terminal: None,
            controls,
            stop: Arc::new(AtomicBool::new(false)),
            keys: None,
        }
    }

    fn restore(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(k) = self.keys.take() {
            let _ = k.join();
        }
        if self.terminal.take().is_some() {
            ratatui::restore();
        }
    }
}

fn out_err(e: std::io::Error) -> OutputError {
    OutputError::write("the terminal", e)
}

impl SessionView for TuiView {
    fn start(&mut self, live: &LiveState) -> Result<(), OutputError> {
        let mut t = ratatui::try_init().map_err(out_err)?;
        t.draw(|f| draw(f, live)).map_err(out_err)?;
        self.terminal = Some(t);
        let controls = self.controls.clone();
        let stop = self.stop.clone();
        self.keys = Some(std::thread::spawn(move || {
            use crossterm::event::{self, Event, KeyCode, KeyEventKind};
            while !stop.load(Ordering::SeqCst) {
                if !event::poll(std::time::Duration::from_millis(50)).unwrap_or(false) {
                    continue;
                }
                let Ok(Event::Key(k)) = event::read() else {
                    continue;
                };
                if k.kind != KeyEventKind::Press {
                    continue;
                }
                match k.code {
                    KeyCode::Char(' ') => {
                        controls.paused.fetch_xor(true, Ordering::SeqCst);
                    }
                    KeyCode::Char('q') | KeyCode::Esc => {
                        controls.quit.store(true, Ordering::SeqCst);
                        controls.paused.store(false, Ordering::SeqCst);
                    }
                    KeyCode::Char('c') if k.modifiers.contains(event::KeyModifiers::CONTROL) => {
                        controls.quit.store(true, Ordering::SeqCst);
                        controls.paused.store(false, Ordering::SeqCst);
                    }
                    KeyCode::Char('m') => {
                        controls.marker_requests.fetch_add(1, Ordering::SeqCst);
                    }
                    _ => {}
                }
            }
        }));
        Ok(())
    }

    fn update(&mut self, live: &LiveState, _: &[SessionNote]) -> Result<(), OutputError> {
        if let Some(t) = self.terminal.as_mut() {
            t.draw(|f| draw(f, live)).map_err(out_err)?;
        }
        Ok(())
    }

    fn finish(&mut self, _: &LiveState, notes: &[SessionNote]) -> Result<(), OutputError> {
        self.restore();
        for n in notes {
            println!("{}", words::note(n));
        }
        Ok(())
    }
}

impl Drop for TuiView {
    fn drop(&mut self) {
        self.restore();
    }
}
