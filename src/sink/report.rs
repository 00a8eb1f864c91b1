//! The analysis report: `contractions.csv`, `events.csv`, `summary.csv`, `session.json` and
//! `report.png`, written into one folder. Traces are kept decimated (min/max buckets) while the
//! stream runs, so memory stays flat however long the recording. Every score comes from the
//! scoring layer ([`crate::score`]), whose [`ScoringSink`] runs inside this sink; the typed
//! scores are handed to the caller in memory ([`ReportSink::scores_handle`]).

use crate::config::AnalysisConfig;
use crate::error::OutputError;
use crate::event::{ContractionEvent, EventKind};
use crate::frame::{Role, StreamSpec};
use crate::pipeline::{ChannelOutcome, Processed, RunEnd, RunStart, Sink};
use crate::private_file::Pending;
use crate::score::session::AnalysisScores;
use crate::score::sink::{ScoresHandle, ScoringSink};
use crate::score::ScoringConfig;
use crate::sink::decimate::TraceDecimator;
use crate::sink::plot::{self, PlotChannel, ReportPlot, RestStep};
use serde::Serialize;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

/// Buckets kept per trace for the plot (about one per pixel column).
const PLOT_POINTS: usize = 3000;
/// More short artifacts than this are not drawn (they would grey out the whole plot).
const MAX_ARTIFACTS_DRAWN: usize = 30;
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
    /// Every event in onset order (after `finish`).
    events: Vec<ContractionEvent>,
    /// Clinician or protocol markers to draw (time, label).
    markers: Vec<(f64, String)>,
    written: Vec<PathBuf>,
    /// Holds, co-activation flags, lost samples and gaps: the scoring layer.
    scoring: ScoringSink,
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
            scoring: ScoringSink::new(&ScoringConfig::default()),
        }
    }

    /// Scores with these thresholds (default: [`ScoringConfig::default`]).
    pub fn with_scoring(mut self, cfg: &ScoringConfig) -> Self {
        self.scoring = ScoringSink::new(cfg);
        self
    }

    /// Where the typed scores are put when the run finishes.
    pub fn scores_handle(&self) -> ScoresHandle {
        self.scoring.handle()
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

    fn create(&mut self, name: &str) -> Result<(BufWriter<Pending>, PathBuf), OutputError> {
        let p = self.path(name);
        let w = create_output(&p)?;
        self.written.push(p.clone());
        Ok((w, p))
    }

    fn create_csv(&mut self, name: &str) -> Result<(CsvOut, PathBuf), OutputError> {
        let (w, p) = self.create(name)?;
        Ok((csv::Writer::from_writer(w), p))
    }
}

impl Sink for ReportSink {
    fn start(&mut self, start: &RunStart) -> Result<(), OutputError> {
        crate::private_file::create_dir(&self.out_dir)
            .map_err(|e| OutputError::write(&self.out_dir, e))?;
        let spec = &start.spec;
        self.raw = spec
            .channels
            .iter()
            .map(|c| TraceDecimator::new(c.rate_hz, spec.start_time_s, PLOT_POINTS))
            .collect();
        self.envelope = self.raw.clone();
        self.spec = Some(spec.clone());
        self.scoring.start(start)
    }

    fn block(&mut self, p: &Processed) -> Result<(), OutputError> {
        for (d, c) in self.raw.iter_mut().zip(&p.filtered) {
            d.push(c.start_index, &c.samples);
        }
        for (d, c) in self.envelope.iter_mut().zip(&p.envelope) {
            d.push(c.start_index, &c.samples);
        }
        self.scoring.block(p)
    }

    fn finish(&mut self, end: &RunEnd) -> Result<(), OutputError> {
        let Some(spec) = self.spec.clone() else {
            return Ok(());
        };
        self.scoring.finish(end)?;
        let Some(scores) = self.scoring.scores() else {
            return Ok(());
        };
        self.events = self.scoring.events().iter().map(|e| e.0.clone()).collect();
        let summary = report_summary(&spec, &self.scoring, &scores, &self.events, end);
        let plot = self.report_plot(&spec, end, &summary);
        let png = self.path("report.png");
        // The figure is drawn and compressed on a thread of its own while the tables are written
        // (each written file waits for the disk).
        let (tables, drawn) = std::thread::scope(|scope| {
            let drawing = scope.spawn(|| plot::write_report_png(&png, &plot));
            let tables = self.write_tables(&spec, end, &summary, &scores);
            let drawn = drawing.join().unwrap_or_else(|_| {
                Err(OutputError::Plot {
                    path: png.clone(),
                    message: "the drawing stopped unexpectedly".into(),
                })
            });
            (tables, drawn)
        });
        // A figure drawn whole is in place whatever happened to the tables: list it.
        if drawn.is_ok() {
            self.written.push(png);
        }
        tables.and(drawn)
    }
}

/// A CSV table being written (every knip table goes through the `csv` crate), under a
/// temporary name until [`commit_table`].
pub type CsvOut = csv::Writer<BufWriter<Pending>>;

/// Starts an owner-only output file at `path` (written under a temporary name beside it).
pub fn create_output(path: &Path) -> Result<BufWriter<Pending>, OutputError> {
    Pending::create(path)
        .map(BufWriter::new)
        .map_err(|e| OutputError::write(path, e))
}

/// Starts a CSV table at `path` (see [`create_output`]).
pub fn create_table(path: &Path) -> Result<CsvOut, OutputError> {
    create_output(path).map(csv::Writer::from_writer)
}

/// Finishes an output file: flushed to the disk and renamed to its real name `path`.
pub fn commit_output(w: BufWriter<Pending>, path: &Path) -> Result<(), OutputError> {
    let pending = w
        .into_inner()
        .map_err(|e| OutputError::write(path, e.into_error()))?;
    pending.commit().map_err(|e| OutputError::write(path, e))
}

/// Finishes a CSV table (see [`commit_output`]).
pub fn commit_table(w: CsvOut, path: &Path) -> Result<(), OutputError> {
    let inner = w
        .into_inner()
        .map_err(|e| OutputError::write(path, e.into_error()))?;
    commit_output(inner, path)
}

/// Maps a `csv` error on `path` to an output error.
pub fn csv_error(path: &Path) -> impl Fn(csv::Error) -> OutputError + '_ {
    move |e| OutputError::write(path, std::io::Error::from(e))
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
    /// `contractions.csv`, `events.csv`, `summary.csv` and `session.json`.
    fn write_tables(
        &mut self,
        spec: &StreamSpec,
        end: &RunEnd,
        summary: &Summary,
        scores: &AnalysisScores,
    ) -> Result<(), OutputError> {
        self.write_contractions(spec, scores)?;
        self.write_events(spec)?;
        self.write_summary(summary)?;
        self.write_session_json(spec, end, summary, &scores.scoring)
    }

    fn write_contractions(
        &mut self,
        spec: &StreamSpec,
        scores: &AnalysisScores,
    ) -> Result<(), OutputError> {
        let (mut w, p) = self.create_csv("contractions.csv")?;
        let err = csv_error(&p);
        w.write_record(CONTRACTION_COLUMNS).map_err(&err)?;
        for row in contraction_rows(spec, scores) {
            w.write_record(row).map_err(&err)?;
        }
        commit_table(w, &p)
    }

    fn write_events(&mut self, spec: &StreamSpec) -> Result<(), OutputError> {
        let (mut w, p) = self.create_csv("events.csv")?;
        let err = csv_error(&p);
        w.write_record(EVENT_COLUMNS).map_err(&err)?;
        for row in event_rows(spec, &self.events) {
            w.write_record(row).map_err(&err)?;
        }
        commit_table(w, &p)
    }

    fn write_summary(&mut self, summary: &Summary) -> Result<(), OutputError> {
        let (mut w, p) = self.create_csv("summary.csv")?;
        let err = csv_error(&p);
        w.write_record(["channel", "metric", "value", "unit"])
            .map_err(&err)?;
        for r in &summary.rows {
            w.write_record([&r.channel, &r.metric, &r.value, &r.unit])
                .map_err(&err)?;
        }
        commit_table(w, &p)
    }

    fn write_session_json(
        &mut self,
        spec: &StreamSpec,
        end: &RunEnd,
        summary: &Summary,
        scoring: &ScoringConfig,
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
            scoring: &'a ScoringConfig,
            notes: [String; 3],
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
            scoring,
            notes: [
                "Event times are device-clock seconds, corrected for the conditioning delay.".into(),
                format!(
                    "hold_s: time the 250-ms-smoothed envelope stays above half the way from rest to its peak; a hold is valid for a target when it lasts at least the target minus {} s (engineering default, not validated).",
                    scoring.hold_tolerance_s
                ),
                format!(
                    "Co-activation flags (abd_flag): {} (index = SD above abdominal rest; engineering thresholds, not validated).",
                    scoring.coactivation_rule()
                ),
            ],
        };
        serde_json::to_writer_pretty(&mut w, &s)
            .map_err(|e| OutputError::write(&p, std::io::Error::other(e)))?;
        commit_output(w, &p)
    }

    /// What `report.png` shows.
    fn report_plot(&self, spec: &StreamSpec, end: &RunEnd, summary: &Summary) -> ReportPlot {
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
                rest_steps: outcome.map_or_else(Vec::new, |o| {
                    o.rest
                        .levels
                        .iter()
                        .map(|l| RestStep {
                            from_s: l.from_s,
                            rest: l.rest,
                            onset_threshold: l.onset_threshold,
                        })
                        .collect()
                }),
                targets: Vec::new(),
                settle_s: outcome.map_or(0.0, |o| o.applied.settle_s()),
            });
        }
        // Short artifacts are drawn only while they are few enough to mean something; their
        // count is always in summary.csv and each one in events.csv.
        let artifacts = self
            .events
            .iter()
            .filter(|e| e.kind == EventKind::Artifact)
            .count();
        let shades =
            self.events
                .iter()
                .filter(|e| e.kind != EventKind::Artifact || artifacts <= MAX_ARTIFACTS_DRAWN)
                .map(|e| {
                    let mut s = plot::shade_from_event(e);
                    s.channel = s.channel.map(|c| position[c]);
                    s
                })
                .chain(self.scoring.gaps().iter().take(MAX_GAPS_DRAWN).map(
                    |&(c, start_s, end_s)| plot::Shade {
                        start_s,
                        end_s,
                        channel: Some(position[c]),
                        kind: plot::ShadeKind::Gap,
                        label: None,
                    },
                ))
                .collect();
        ReportPlot {
            title: format!("knip analysis — {}", self.source.title),
            subtitle: summary.headline.clone(),
            channels,
            shades,
            duration_s: end.end_time_s - spec.start_time_s,
            markers: self.markers.clone(),
        }
    }
}

/// Columns of `contractions.csv`.
pub const CONTRACTION_COLUMNS: [&str; 15] = [
    "n",
    "channel",
    "onset_s",
    "offset_s",
    "duration_s",
    "hold_s",
    "peak",
    "mean",
    "cv_pct",
    "rise_s",
    "release_s",
    "unit",
    "abd_mean",
    "abd_index",
    "abd_flag",
];

/// Columns of `events.csv`.
pub const EVENT_COLUMNS: [&str; 12] = [
    "channel",
    "kind",
    "onset_s",
    "offset_s",
    "duration_s",
    "peak",
    "mean",
    "cv_pct",
    "rise_s",
    "release_s",
    "unit",
    "decided_at_s",
];

/// The rows of `contractions.csv` (as written; [`CONTRACTION_COLUMNS`]), in onset order.
pub fn contraction_rows(spec: &StreamSpec, scores: &AnalysisScores) -> Vec<[String; 15]> {
    let mut all: Vec<_> = scores
        .channels
        .iter()
        .flat_map(|c| c.contractions.iter())
        .collect();
    all.sort_by(|a, b| a.onset_s.total_cmp(&b.onset_s));
    all.iter()
        .enumerate()
        .map(|(n, c)| {
            [
                (n + 1).to_string(),
                spec.channels[c.channel].name.clone(),
                format!("{:.3}", c.onset_s),
                format!("{:.3}", c.offset_s),
                format!("{:.3}", c.duration_s),
                format!("{:.3}", c.hold_s),
                format!("{:.3}", c.peak),
                format!("{:.3}", c.mean),
                format!("{:.1}", c.cv_pct),
                format!("{:.3}", c.rise_s),
                format!("{:.3}", c.release_s),
                unit_of(spec, c.channel).to_string(),
                opt(c.abd_mean, 3),
                opt(c.abd_index, 2),
                c.coact_flag
                    .map(|f| f.as_str().to_string())
                    .unwrap_or_default(),
            ]
        })
        .collect()
}

/// The rows of `events.csv` (as written; [`EVENT_COLUMNS`]) of `events`, in their order.
pub fn event_rows(spec: &StreamSpec, events: &[ContractionEvent]) -> Vec<[String; 12]> {
    events
        .iter()
        .map(|e| {
            [
                spec.channels[e.channel].name.clone(),
                e.kind.as_str().to_string(),
                format!("{:.3}", e.onset_s),
                format!("{:.3}", e.offset_s),
                format!("{:.3}", e.duration_s()),
                format!("{:.3}", e.peak),
                format!("{:.3}", e.mean),
                format!("{:.1}", e.cv_pct),
                format!("{:.3}", e.rise_s),
                format!("{:.3}", e.release_s),
                unit_of(spec, e.channel).to_string(),
                format!("{:.3}", e.decided_at_s),
            ]
        })
        .collect()
}

/// The summary of a finished run (`summary.csv` and the headline): the scores, the gaps the
/// scoring layer saw and the rest each channel used.
pub fn report_summary(
    spec: &StreamSpec,
    scoring: &ScoringSink,
    scores: &AnalysisScores,
    events: &[ContractionEvent],
    end: &RunEnd,
) -> Summary {
    let mut summary = Summary::from_scores(spec, scores, events);
    if scoring.lost_samples().iter().any(|&l| l > 0) {
        // A gap across all channels counts once.
        let gaps = scoring
            .gaps()
            .iter()
            .map(|g| (g.1 * 1e6).round() as i64)
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        summary
            .headline
            .push_str(&format!(" · {gaps} gap(s) in the signal"));
    }
    add_rest_rows(&mut summary, spec, &end.channels);
    add_mains_rows(&mut summary, spec, &end.channels);
    summary
}

/// One line of `summary.csv`.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryRow {
    pub channel: String,
    pub metric: String,
    pub value: String,
    pub unit: String,
}

/// Which rest each channel's detector used and why, into `summary.csv`; a calibration without a
/// clean rest also goes into the headline (and so onto `report.png`).
fn add_rest_rows(summary: &mut Summary, spec: &StreamSpec, channels: &[ChannelOutcome]) {
    let mut unclean = Vec::new();
    for (ch, o) in spec.channels.iter().zip(channels) {
        let r = &o.rest;
        if r.note.is_empty() {
            continue;
        }
        let mut row = |metric: &str, value: String, unit: &str| {
            summary.rows.push(SummaryRow {
                channel: ch.name.clone(),
                metric: metric.to_string(),
                value,
                unit: unit.to_string(),
            })
        };
        row("rest_from", r.note.clone(), "");
        row("rest_re_estimated", r.changes.len().to_string(), "count");
        if ch.role == Role::Pressure {
            row("probe_slips", r.slips.to_string(), "count");
        }
        if !r.clean {
            unclean.push(ch.name.clone());
        }
    }
    if !unclean.is_empty() {
        summary.headline.push_str(&format!(
            " · no clean rest in the calibration on {}",
            unclean.join(", ")
        ));
    }
}

/// The mains each EMG channel's canceller took out (RMS of its lines, and the strongest line).
fn add_mains_rows(summary: &mut Summary, spec: &StreamSpec, channels: &[ChannelOutcome]) {
    for (ch, o) in spec.channels.iter().zip(channels) {
        let Some((rms, hz)) = crate::pipeline::mains_rms(&o.mains_removed) else {
            continue;
        };
        for (metric, value, unit) in [
            ("mains_removed", format!("{rms:.2}"), ch.unit.as_str()),
            ("mains_strongest_line", format!("{hz:.0}"), "Hz"),
        ] {
            summary.rows.push(SummaryRow {
                channel: ch.name.clone(),
                metric: metric.to_string(),
                value,
                unit: unit.to_string(),
            });
        }
    }
}

/// Session-level figures.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub rows: Vec<SummaryRow>,
    /// One line for titles and the terminal.
    pub headline: String,
}

impl Summary {
    /// The rows of `summary.csv` from the typed scores (`events` only for the headline's cough
    /// count).
    pub fn from_scores(
        spec: &StreamSpec,
        scores: &AnalysisScores,
        events: &[ContractionEvent],
    ) -> Summary {
        let cfg = &scores.scoring;
        let mut rows = Vec::new();
        let mut row = |channel: &str, metric: &str, value: String, unit: &str| {
            rows.push(SummaryRow {
                channel: channel.to_string(),
                metric: metric.to_string(),
                value,
                unit: unit.to_string(),
            })
        };
        let f3 = |v: Option<f64>| format!("{:.3}", v.unwrap_or(0.0));
        let duration_s = scores.duration_s;
        row("all", "duration", format!("{duration_s:.3}"), "s");
        let mut headline = Vec::new();
        for c in &scores.channels {
            let name = c.name.as_str();
            let unit = c.unit.as_str();
            if let (Some(m), Some(sd)) = (c.rest_level, c.rest_sd) {
                row(name, "rest_level", format!("{m:.3}"), unit);
                row(name, "rest_sd", format!("{sd:.3}"), unit);
                if c.role.is_emg() && m > 0.0 {
                    row(name, "rest_cv", format!("{:.1}", 100.0 * sd / m), "%");
                }
            }
            if let Some(t) = c.onset_threshold {
                row(name, "onset_threshold", format!("{t:.3}"), unit);
            }
            if c.role.is_pelvic_floor() {
                row(name, "contractions", c.count().to_string(), "count");
                row(
                    name,
                    "holds_2s_or_longer",
                    c.holds_at_least(cfg.identification_hold_s, cfg).to_string(),
                    "count",
                );
                row(
                    name,
                    "holds_5s_or_longer",
                    c.holds_at_least(cfg.strength_hold_s, cfg).to_string(),
                    "count",
                );
                row(name, "mean_hold", f3(c.mean_hold_s()), "s");
                row(name, "longest_hold", f3(c.longest_hold_s()), "s");
                row(name, "mean_peak", f3(c.mean_peak()), unit);
                row(name, "mean_hold_level", f3(c.mean_level()), unit);
                row(
                    name,
                    "mean_hold_cv",
                    format!("{:.1}", c.mean_cv_pct().unwrap_or(0.0)),
                    "%",
                );
                row(name, "mean_rise_time", f3(c.mean_rise_s()), "s");
                row(name, "mean_release_time", f3(c.mean_release_s()), "s");
                if let (Some(ix), Some(n)) = (c.mean_abd_index(), c.coactivated()) {
                    row(
                        name,
                        "mean_abd_coactivation_index",
                        format!("{ix:.2}"),
                        "SD above abdominal rest",
                    );
                    row(
                        name,
                        "coactivated_contractions",
                        n.to_string(),
                        &format!("count (index >= {}; not validated)", cfg.coact_amber_index),
                    );
                }
                if headline.is_empty() {
                    headline.push(format!("{} contractions on {name}", c.count()));
                    headline.push(format!("mean hold {:.1} s", c.mean_hold_s().unwrap_or(0.0)));
                    if let Some(m) = c.rest_level {
                        headline.push(format!("rest {m:.1} {unit}"));
                    }
                }
            }
            row(name, "coughs", c.coughs.to_string(), "count");
            row(name, "strains", c.strains.to_string(), "count");
            row(name, "artifacts", c.artifacts.to_string(), "count");
            if c.role == Role::AbdEmg {
                row(
                    name,
                    "activity_bursts",
                    c.activity_bursts.to_string(),
                    "count",
                );
            }
        }
        // Samples missing from the stream: counted per channel.
        for (ch, c) in spec.channels.iter().zip(&scores.channels) {
            row(
                &ch.name,
                "lost_samples",
                c.lost_samples.to_string(),
                "count",
            );
        }
        let coughs = events
            .iter()
            .filter(|e| e.kind == EventKind::Cough && e.role.is_pelvic_floor())
            .map(|e| (e.onset_s * 2.0).round() as i64)
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let strains = scores.strains();
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
