//! The analysis report: `contractions.csv`, `events.csv`, `summary.csv`, `session.json` and
//! `report.png`, written into one folder. Traces are kept decimated (min/max buckets) while the
//! stream runs, so memory stays flat however long the recording.

use crate::config::AnalysisConfig;
use crate::error::OutputError;
use crate::event::{ContractionEvent, EventKind};
use crate::frame::{Role, StreamSpec};
use crate::pipeline::{ChannelOutcome, Processed, RunEnd, RunStart, Sink};
use crate::sink::decimate::TraceDecimator;
use crate::sink::plot::{self, PlotChannel, ReportPlot};
use serde::Serialize;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Buckets kept per trace for the plot (about one per pixel column).
const PLOT_POINTS: usize = 3000;
/// More short artifacts than this are not drawn (they would grey out the whole plot).
const MAX_ARTIFACTS_DRAWN: usize = 30;
/// A hold at least this long is a valid identification squeeze (DOMAIN.md §1: hold 2 s).
const IDENTIFICATION_HOLD_S: f64 = 2.0;
/// A hold at least this long is a valid strength squeeze (DOMAIN.md §1: hold 5 s).
const STRENGTH_HOLD_S: f64 = 5.0;
/// Co-activation index above which a squeeze is flagged (μ₀ + 3σ₀; engineering default, not
/// validated).
const COACTIVATION_INDEX_FLAG: f64 = 3.0;

/// What the report says about where the data came from.
#[derive(Debug, Clone, Serialize)]
pub struct ReportSource {
    /// The input file (or `simulator`, a port, ...).
    pub input: String,
    /// Short name for titles.
    pub title: String,
    /// Extra facts for session.json (protocol, seed, device, ...).
    pub details: serde_json::Value,
}

/// Writes the report folder at the end of the run.
pub struct ReportSink {
    out_dir: PathBuf,
    source: ReportSource,
    config: AnalysisConfig,
    spec: Option<StreamSpec>,
    raw: Vec<TraceDecimator>,
    envelope: Vec<TraceDecimator>,
    events: Vec<ContractionEvent>,
    /// Clinician or protocol markers to draw (time, label).
    markers: Vec<(f64, String)>,
    written: Vec<PathBuf>,
    /// Per channel: next expected sample index and samples lost (index jumps), and the gaps
    /// (channel, start_s, end_s) for the plot.
    next_index: Vec<Option<u64>>,
    lost_samples: Vec<u64>,
    gaps: Vec<(usize, f64, f64)>,
}

/// At most this many gaps are drawn (each is counted in summary.csv).
const MAX_GAPS_DRAWN: usize = 200;

impl ReportSink {
    pub fn new(out_dir: &Path, source: ReportSource, config: &AnalysisConfig) -> Self {
        ReportSink {
            out_dir: out_dir.to_path_buf(),
            source,
            config: config.clone(),
            spec: None,
            raw: Vec::new(),
            envelope: Vec::new(),
            events: Vec::new(),
            markers: Vec::new(),
            written: Vec::new(),
            next_index: Vec::new(),
            lost_samples: Vec::new(),
            gaps: Vec::new(),
        }
    }

    pub fn with_markers(mut self, markers: Vec<(f64, String)>) -> Self {
        self.markers = markers;
        self
    }

    /// Files written by `finish`.
    pub fn written(&self) -> &[PathBuf] {
        &self.written
    }

    fn path(&self, name: &str) -> PathBuf {
        self.out_dir.join(name)
    }

    fn create(&mut self, name: &str) -> Result<(BufWriter<File>, PathBuf), OutputError> {
        let p = self.path(name);
        let f = File::create(&p).map_err(|e| OutputError::write(&p, e))?;
        self.written.push(p.clone());
        Ok((BufWriter::new(f), p))
    }
}

impl Sink for ReportSink {
    fn start(&mut self, start: &RunStart) -> Result<(), OutputError> {
        std::fs::create_dir_all(&self.out_dir).map_err(|e| OutputError::write(&self.out_dir, e))?;
        let spec = &start.spec;
        self.raw = spec
            .channels
            .iter()
            .map(|c| TraceDecimator::new(c.rate_hz, spec.start_time_s, PLOT_POINTS))
            .collect();
        self.envelope = self.raw.clone();
        self.next_index = vec![None; spec.channels.len()];
        self.lost_samples = vec![0; spec.channels.len()];
        self.spec = Some(spec.clone());
        Ok(())
    }

    fn block(&mut self, p: &Processed) -> Result<(), OutputError> {
        for (i, c) in p.filtered.iter().enumerate() {
            if c.samples.is_empty() {
                continue;
            }
            if let Some(next) = self.next_index.get(i).copied().flatten() {
                if c.start_index > next {
                    self.lost_samples[i] += c.start_index - next;
                    if let Some(spec) = &self.spec {
                        let t = |k: u64| spec.time_s(i, k);
                        self.gaps.push((i, t(next), t(c.start_index)));
                    }
                }
            }
            if let Some(n) = self.next_index.get_mut(i) {
                *n = Some(c.end_index());
            }
        }
        for (d, c) in self.raw.iter_mut().zip(&p.filtered) {
            d.push(c.start_index, &c.samples);
        }
        for (d, c) in self.envelope.iter_mut().zip(&p.envelope) {
            d.push(c.start_index, &c.samples);
        }
        self.events.extend(p.events.iter().cloned());
        Ok(())
    }

    fn finish(&mut self, end: &RunEnd) -> Result<(), OutputError> {
        let Some(spec) = self.spec.clone() else {
            return Ok(());
        };
        self.events.sort_by(|a, b| a.onset_s.total_cmp(&b.onset_s));
        let mut summary = Summary::compute(
            &spec,
            &self.events,
            &end.channels,
            end.end_time_s - spec.start_time_s,
        );
        // Samples missing from the stream (counter gaps, unplugged cable): counted per channel.
        for (ch, lost) in spec.channels.iter().zip(&self.lost_samples) {
            summary.rows.push(SummaryRow {
                channel: ch.name.clone(),
                metric: "lost_samples".to_string(),
                value: lost.to_string(),
                unit: "count".to_string(),
            });
        }
        if self.lost_samples.iter().any(|&l| l > 0) {
            // A gap across all channels counts once.
            let gaps = self
                .gaps
                .iter()
                .map(|g| (g.1 * 1e6).round() as i64)
                .collect::<std::collections::BTreeSet<_>>()
                .len();
            summary
                .headline
                .push_str(&format!(" · {gaps} gap(s) in the signal"));
        }
        self.write_contractions(&spec)?;
        self.write_events(&spec)?;
        self.write_summary(&summary)?;
        self.write_session_json(&spec, end, &summary)?;
        self.write_plot(&spec, end, &summary)?;
        Ok(())
    }
}

fn unit_of(spec: &StreamSpec, channel: usize) -> &str {
    spec.channels
        .get(channel)
        .map(|c| c.unit.as_str())
        .unwrap_or("")
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}")).unwrap_or_default()
}

impl ReportSink {
    fn write_contractions(&mut self, spec: &StreamSpec) -> Result<(), OutputError> {
        let (mut w, p) = self.create("contractions.csv")?;
        let io = |e| OutputError::write(&p, e);
        writeln!(
            w,
            "n,channel,onset_s,offset_s,duration_s,peak,mean,cv_pct,rise_s,release_s,unit,abd_mean,abd_index,abd_flag"
        )
        .map_err(io)?;
        let mut n = 0;
        for e in self
            .events
            .iter()
            .filter(|e| e.kind == EventKind::Contraction)
        {
            n += 1;
            let flag = match e.abd_index {
                Some(i) if i > COACTIVATION_INDEX_FLAG => "coactivation",
                Some(_) => "quiet",
                None => "",
            };
            writeln!(
                w,
                "{n},{},{:.3},{:.3},{:.3},{:.3},{:.3},{:.1},{:.3},{:.3},{},{},{},{flag}",
                spec.channels[e.channel].name,
                e.onset_s,
                e.offset_s,
                e.duration_s(),
                e.peak,
                e.mean,
                e.cv_pct,
                e.rise_s,
                e.release_s,
                unit_of(spec, e.channel),
                opt(e.abd_mean, 3),
                opt(e.abd_index, 2),
            )
            .map_err(io)?;
        }
        w.flush().map_err(io)
    }

    fn write_events(&mut self, spec: &StreamSpec) -> Result<(), OutputError> {
        let (mut w, p) = self.create("events.csv")?;
        let io = |e| OutputError::write(&p, e);
        writeln!(
            w,
            "channel,kind,onset_s,offset_s,duration_s,peak,mean,cv_pct,rise_s,release_s,unit,decided_at_s"
        )
        .map_err(io)?;
        for e in &self.events {
            writeln!(
                w,
                "{},{},{:.3},{:.3},{:.3},{:.3},{:.3},{:.1},{:.3},{:.3},{},{:.3}",
                spec.channels[e.channel].name,
                e.kind.as_str(),
                e.onset_s,
                e.offset_s,
                e.duration_s(),
                e.peak,
                e.mean,
                e.cv_pct,
                e.rise_s,
                e.release_s,
                unit_of(spec, e.channel),
                e.decided_at_s
            )
            .map_err(io)?;
        }
        w.flush().map_err(io)
    }

    fn write_summary(&mut self, summary: &Summary) -> Result<(), OutputError> {
        let (mut w, p) = self.create("summary.csv")?;
        let io = |e| OutputError::write(&p, e);
        writeln!(w, "channel,metric,value,unit").map_err(io)?;
        for r in &summary.rows {
            writeln!(w, "{},{},{},{}", r.channel, r.metric, r.value, r.unit).map_err(io)?;
        }
        w.flush().map_err(io)
    }

    fn write_session_json(
        &mut self,
        spec: &StreamSpec,
        end: &RunEnd,
        summary: &Summary,
    ) -> Result<(), OutputError> {
        #[derive(Serialize)]
        struct Session<'a> {
            software: String,
            source: &'a ReportSource,
            stream: &'a StreamSpec,
            settings: &'a AnalysisConfig,
            channels: &'a [ChannelOutcome],
            warnings: &'a [String],
            duration_s: f64,
            analysis_wall_time_s: f64,
            summary: &'a [SummaryRow],
            notes: [&'static str; 2],
        }
        let (mut w, p) = self.create("session.json")?;
        let s = Session {
            software: format!("knip {}", env!("CARGO_PKG_VERSION")),
            source: &self.source,
            stream: spec,
            settings: &self.config,
            channels: &end.channels,
            warnings: &end.warnings,
            duration_s: end.end_time_s - spec.start_time_s,
            analysis_wall_time_s: end.elapsed.as_secs_f64(),
            summary: &summary.rows,
            notes: [
                "Event times are device-clock seconds, corrected for the conditioning delay.",
                "Co-activation flags use engineering thresholds (index > 3 = above abdominal rest mean + 3 SD): not validated.",
            ],
        };
        serde_json::to_writer_pretty(&mut w, &s)
            .map_err(|e| OutputError::write(&p, std::io::Error::other(e)))?;
        w.flush().map_err(|e| OutputError::write(&p, e))
    }

    fn write_plot(
        &mut self,
        spec: &StreamSpec,
        end: &RunEnd,
        summary: &Summary,
    ) -> Result<(), OutputError> {
        // Pelvic-floor channels first, the abdominal channel last.
        let mut order: Vec<usize> = (0..spec.channels.len()).collect();
        order.sort_by_key(|&i| match spec.channels[i].role {
            Role::PfmEmg => 0,
            Role::Pressure => 1,
            Role::AbdEmg => 2,
        });
        let mut channels = Vec::new();
        let mut position = vec![0usize; spec.channels.len()];
        for (panel, &i) in order.iter().enumerate() {
            position[i] = panel;
            let ch = &spec.channels[i];
            let outcome = end.channels.get(i);
            let what = match ch.role {
                Role::PfmEmg => "Pelvic floor EMG",
                Role::AbdEmg => "Abdominal EMG",
                Role::Pressure => "Pressure",
            };
            let label = if ch.name == ch.role.column_name() {
                format!("{what} ({})", ch.unit)
            } else {
                format!("{} as {what} ({})", ch.name, ch.unit)
            };
            let is_envelope_input = outcome
                .map(|o| o.applied.input_kind == crate::frame::SignalKind::Envelope)
                .unwrap_or(false);
            channels.push(PlotChannel {
                name: ch.name.clone(),
                label,
                raw: if is_envelope_input {
                    Vec::new()
                } else {
                    self.raw[i].points()
                },
                envelope: self.envelope[i].points(),
                onset_threshold: outcome.and_then(|o| o.onset_threshold),
                rest_level: outcome.and_then(|o| o.rest_mean),
                targets: Vec::new(),
            });
        }
        // Short artifacts are drawn only while they are few enough to mean something; their
        // count is always in summary.csv and each one in events.csv.
        let artifacts = self
            .events
            .iter()
            .filter(|e| e.kind == EventKind::Artifact)
            .count();
        let shades = self
            .events
            .iter()
            .filter(|e| e.kind != EventKind::Artifact || artifacts <= MAX_ARTIFACTS_DRAWN)
            .map(|e| {
                let mut s = plot::shade_from_event(e);
                s.channel = s.channel.map(|c| position[c]);
                s
            })
            .chain(
                self.gaps
                    .iter()
                    .take(MAX_GAPS_DRAWN)
                    .map(|&(c, start_s, end_s)| plot::Shade {
                        start_s,
                        end_s,
                        channel: Some(position[c]),
                        kind: plot::ShadeKind::Gap,
                        label: None,
                    }),
            )
            .collect();
        let plot = ReportPlot {
            title: format!("knip analysis — {}", self.source.title),
            subtitle: summary.headline.clone(),
            channels,
            shades,
            duration_s: end.end_time_s - spec.start_time_s,
            markers: self.markers.clone(),
        };
        let p = self.path("report.png");
        plot::write_report_png(&p, &plot)?;
        self.written.push(p);
        Ok(())
    }
}

/// One line of `summary.csv`.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryRow {
    pub channel: String,
    pub metric: String,
    pub value: String,
    pub unit: String,
}

/// Session-level figures.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub rows: Vec<SummaryRow>,
    /// One line for titles and the terminal.
    pub headline: String,
}

impl Summary {
    pub fn compute(
        spec: &StreamSpec,
        events: &[ContractionEvent],
        outcomes: &[ChannelOutcome],
        duration_s: f64,
    ) -> Summary {
        let mut rows = Vec::new();
        let mut row = |channel: &str, metric: &str, value: String, unit: &str| {
            rows.push(SummaryRow {
                channel: channel.to_string(),
                metric: metric.to_string(),
                value,
                unit: unit.to_string(),
            })
        };
        row("all", "duration", format!("{duration_s:.3}"), "s");
        let mut headline = Vec::new();
        for (i, ch) in spec.channels.iter().enumerate() {
            let name = ch.name.as_str();
            let unit = ch.unit.as_str();
            let of = |k: EventKind| events.iter().filter(move |e| e.channel == i && e.kind == k);
            if let Some(o) = outcomes.get(i) {
                if let (Some(m), Some(sd)) = (o.rest_mean, o.rest_sd) {
                    row(name, "rest_level", format!("{m:.3}"), unit);
                    row(name, "rest_sd", format!("{sd:.3}"), unit);
                    if ch.role.is_emg() && m > 0.0 {
                        row(name, "rest_cv", format!("{:.1}", 100.0 * sd / m), "%");
                    }
                }
                if let Some(t) = o.onset_threshold {
                    row(name, "onset_threshold", format!("{t:.3}"), unit);
                }
            }
            let contractions: Vec<&ContractionEvent> = of(EventKind::Contraction).collect();
            let holds: Vec<f64> = contractions.iter().map(|e| e.duration_s()).collect();
            let n = contractions.len();
            let mean = |v: &[f64]| {
                if v.is_empty() {
                    0.0
                } else {
                    v.iter().sum::<f64>() / v.len() as f64
                }
            };
            if ch.role.is_pelvic_floor() {
                row(name, "contractions", n.to_string(), "count");
                row(
                    name,
                    "holds_2s_or_longer",
                    holds
                        .iter()
                        .filter(|h| **h >= IDENTIFICATION_HOLD_S)
                        .count()
                        .to_string(),
                    "count",
                );
                row(
                    name,
                    "holds_5s_or_longer",
                    holds
                        .iter()
                        .filter(|h| **h >= STRENGTH_HOLD_S)
                        .count()
                        .to_string(),
                    "count",
                );
                row(name, "mean_hold", format!("{:.3}", mean(&holds)), "s");
                row(
                    name,
                    "longest_hold",
                    format!("{:.3}", holds.iter().cloned().fold(0.0, f64::max)),
                    "s",
                );
                let peaks: Vec<f64> = contractions.iter().map(|e| e.peak).collect();
                row(name, "mean_peak", format!("{:.3}", mean(&peaks)), unit);
                let means: Vec<f64> = contractions.iter().map(|e| e.mean).collect();
                row(
                    name,
                    "mean_hold_level",
                    format!("{:.3}", mean(&means)),
                    unit,
                );
                let cvs: Vec<f64> = contractions.iter().map(|e| e.cv_pct).collect();
                row(name, "mean_hold_cv", format!("{:.1}", mean(&cvs)), "%");
                let rises: Vec<f64> = contractions.iter().map(|e| e.rise_s).collect();
                row(name, "mean_rise_time", format!("{:.3}", mean(&rises)), "s");
                let releases: Vec<f64> = contractions.iter().map(|e| e.release_s).collect();
                row(
                    name,
                    "mean_release_time",
                    format!("{:.3}", mean(&releases)),
                    "s",
                );
                let idx: Vec<f64> = contractions.iter().filter_map(|e| e.abd_index).collect();
                if !idx.is_empty() {
                    row(
                        name,
                        "mean_abd_coactivation_index",
                        format!("{:.2}", mean(&idx)),
                        "SD above abdominal rest",
                    );
                    row(
                        name,
                        "coactivated_contractions",
                        idx.iter()
                            .filter(|i| **i > COACTIVATION_INDEX_FLAG)
                            .count()
                            .to_string(),
                        "count (index > 3; not validated)",
                    );
                }
                if headline.is_empty() {
                    headline.push(format!("{n} contractions on {name}"));
                    headline.push(format!("mean hold {:.1} s", mean(&holds)));
                    if let Some(m) = outcomes.get(i).and_then(|o| o.rest_mean) {
                        headline.push(format!("rest {m:.1} {unit}"));
                    }
                }
            }
            row(
                name,
                "coughs",
                of(EventKind::Cough).count().to_string(),
                "count",
            );
            row(
                name,
                "strains",
                of(EventKind::Strain).count().to_string(),
                "count",
            );
            row(
                name,
                "artifacts",
                of(EventKind::Artifact).count().to_string(),
                "count",
            );
            if ch.role == Role::AbdEmg {
                row(
                    name,
                    "activity_bursts",
                    of(EventKind::AbdominalActivity).count().to_string(),
                    "count",
                );
            }
        }
        let coughs = events
            .iter()
            .filter(|e| e.kind == EventKind::Cough && e.role.is_pelvic_floor())
            .map(|e| (e.onset_s * 2.0).round() as i64)
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let strains = events
            .iter()
            .filter(|e| e.kind == EventKind::Strain)
            .count();
        if coughs > 0 {
            headline.push(format!("{coughs} cough(s) tagged"));
        }
        if strains > 0 {
            headline.push(format!("{strains} strain(s)"));
        }
        headline.push(format!("{:.0} s recorded", duration_s));
        Summary {
            rows,
            headline: headline.join(" · "),
        }
    }
}
