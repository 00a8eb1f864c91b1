//! A line-based live status: what the patient is asked to do, when a squeeze starts, and a short
//! verdict when it ends, printed as it happens. On a terminal a level bar is redrawn in place
//! between those lines; otherwise (a pipe, a log file) only the event lines are written.

use crate::error::OutputError;
use crate::event::{ContractionEvent, EventKind};
use crate::frame::{Role, StreamSpec};
use crate::pipeline::{Processed, RunEnd, RunStart, Sink};
use std::io::Write;

/// Something the patient is told at a moment of the session.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveCue {
    pub time_s: f64,
    pub text: String,
}

/// How often the level bar is redrawn, seconds of stream time.
const BAR_EVERY_S: f64 = 0.1;
const BAR_WIDTH: usize = 30;

pub struct LiveStatus {
    out: Box<dyn Write + Send>,
    /// Draw the in-place level bar (only on a terminal).
    bar: bool,
    cues: Vec<LiveCue>,
    next_cue: usize,
    spec: Option<StreamSpec>,
    /// Channel shown on the bar, and its latest envelope value.
    bar_channel: Option<usize>,
    level: f64,
    scale: f64,
    next_bar_s: f64,
    bar_drawn: bool,
    contractions: usize,
    /// An onset on the bar channel not yet announced: it is announced once it has lasted
    /// [`ANNOUNCE_AFTER_S`], so a cough is not first greeted as a squeeze.
    pending_onset: Option<f64>,
    path: String,
}

/// An onset is announced once the activity has lasted this long (the shortest contraction).
const ANNOUNCE_AFTER_S: f64 = 0.45;

impl LiveStatus {
    /// `bar`: redraw a level bar in place (pass true only for a terminal).
    pub fn new(out: Box<dyn Write + Send>, bar: bool, cues: Vec<LiveCue>) -> Self {
        LiveStatus {
            out,
            bar,
            cues,
            next_cue: 0,
            spec: None,
            bar_channel: None,
            level: 0.0,
            scale: 1.0,
            next_bar_s: 0.0,
            bar_drawn: false,
            contractions: 0,
            pending_onset: None,
            path: "standard output".to_string(),
        }
    }

    fn line(&mut self, text: &str) -> Result<(), OutputError> {
        let clear = if self.bar_drawn { "\r\x1b[2K" } else { "" };
        self.bar_drawn = false;
        writeln!(self.out, "{clear}{text}").map_err(|e| OutputError::write(&self.path, e))
    }

    fn channel_name(&self, c: usize) -> String {
        self.spec
            .as_ref()
            .and_then(|s| s.channels.get(c))
            .map(|ch| ch.name.clone())
            .unwrap_or_default()
    }

    fn unit(&self, c: usize) -> String {
        self.spec
            .as_ref()
            .and_then(|s| s.channels.get(c))
            .map(|ch| ch.unit.clone())
            .unwrap_or_default()
    }

    fn verdict(&self, e: &ContractionEvent) -> String {
        let name = self.channel_name(e.channel);
        let unit = self.unit(e.channel);
        match e.kind {
            EventKind::Contraction => {
                let abd = match e.abd_index {
                    Some(i) if i > 3.0 => "  ⚠ abdomen tensed too".to_string(),
                    Some(_) => ", abdomen quiet".to_string(),
                    None => String::new(),
                };
                format!(
                    "{:7.1} s   ✔ squeeze held {:.1} s on {name} (peak {:.1} {unit}){abd}",
                    e.offset_s,
                    e.duration_s(),
                    e.peak
                )
            }
            EventKind::Cough => format!("{:7.1} s   · cough on {name} (not counted)", e.onset_s),
            EventKind::Strain => format!(
                "{:7.1} s   ✖ bearing down ({:.1} s on {name}): squeeze inwards and up, don't push",
                e.onset_s,
                e.duration_s()
            ),
            EventKind::Artifact => {
                format!("{:7.1} s   · short spike on {name} (ignored)", e.onset_s)
            }
            EventKind::AbdominalActivity => format!(
                "{:7.1} s   · abdomen active {:.1} s",
                e.onset_s,
                e.duration_s()
            ),
        }
    }

    fn draw_bar(&mut self, t_s: f64) -> Result<(), OutputError> {
        let Some(c) = self.bar_channel else {
            return Ok(());
        };
        let frac = (self.level / self.scale).clamp(0.0, 1.0);
        let filled = (frac * BAR_WIDTH as f64).round() as usize;
        let bar: String = "█".repeat(filled) + &"░".repeat(BAR_WIDTH - filled);
        let text = format!(
            "\r\x1b[2K{t_s:7.1} s   {} {bar} {:6.1} {}  squeezes: {}",
            self.channel_name(c),
            self.level,
            self.unit(c),
            self.contractions
        );
        self.bar_drawn = true;
        write!(self.out, "{text}")
            .and_then(|_| self.out.flush())
            .map_err(|e| OutputError::write(&self.path, e))
    }
}

impl Sink for LiveStatus {
    fn start(&mut self, start: &RunStart) -> Result<(), OutputError> {
        self.spec = Some(start.spec.clone());
        self.bar_channel = start
            .spec
            .channel_index(Role::PfmEmg)
            .or_else(|| start.spec.channel_index(Role::Pressure));
        for w in &start.warnings {
            self.line(&format!("warning: {w}"))?;
        }
        self.line("   time    what is happening")?;
        Ok(())
    }

    fn block(&mut self, p: &Processed) -> Result<(), OutputError> {
        while self.next_cue < self.cues.len() && self.cues[self.next_cue].time_s <= p.frontier_s {
            let cue = self.cues[self.next_cue].clone();
            self.next_cue += 1;
            self.line(&format!("{:7.1} s ▶ {}", cue.time_s, cue.text))?;
        }
        for n in &p.onsets {
            if Some(n.channel) == self.bar_channel {
                self.pending_onset = Some(n.onset_s);
            }
        }
        for e in &p.events {
            let on_bar = Some(e.channel) == self.bar_channel;
            if on_bar {
                self.pending_onset = None;
            }
            let shown = match e.kind {
                EventKind::Contraction | EventKind::Cough => on_bar,
                // Bearing down shows on pressure while the pelvic EMG stays quiet.
                EventKind::Strain => true,
                EventKind::Artifact | EventKind::AbdominalActivity => false,
            };
            if e.kind == EventKind::Contraction && on_bar {
                self.contractions += 1;
            }
            if shown {
                let v = self.verdict(e);
                self.line(&v)?;
            }
        }
        if let Some(onset_s) = self.pending_onset {
            if p.frontier_s >= onset_s + ANNOUNCE_AFTER_S {
                self.pending_onset = None;
                let name = self
                    .bar_channel
                    .map(|c| self.channel_name(c))
                    .unwrap_or_default();
                self.line(&format!("{onset_s:7.1} s   squeeze started on {name}"))?;
            }
        }
        if let Some(c) = self.bar_channel {
            if let Some(chunk) = p.envelope.get(c) {
                if let Some(&last) = chunk.samples.last() {
                    self.level = last;
                    self.scale = self.scale.max(last * 1.1);
                }
            }
        }
        if self.bar && p.frontier_s >= self.next_bar_s {
            self.next_bar_s = p.frontier_s + BAR_EVERY_S;
            self.draw_bar(p.frontier_s)?;
        }
        Ok(())
    }

    fn finish(&mut self, end: &RunEnd) -> Result<(), OutputError> {
        let text = format!(
            "{:7.1} s   session over: {} squeezes",
            end.end_time_s, self.contractions
        );
        self.line(&text)?;
        self.out
            .flush()
            .map_err(|e| OutputError::write(&self.path, e))
    }
}
