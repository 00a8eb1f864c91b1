//! The analysis report figure: one PNG a clinician can print.
//!
//! One panel per channel, stacked on a shared time axis. In each panel the conditioned signal is
//! drawn as a light min/max band (exact per pixel column, from a [`TraceDecimator`]), the envelope
//! (EMG moving RMS, or the zeroed pressure) as a strong line on top, the onset threshold and rest
//! level as dashed lines, and detected events as coloured shades (contractions numbered). A legend
//! explains the colours.
//!
//! Everything is laid out in pixels by this module (ticks, labels, collisions) rather than by a
//! chart library, so the figure stays readable for recordings from seconds to hours. Fonts are
//! embedded (DejaVu Sans); no system font is needed.
//!
//! [`TraceDecimator`]: crate::sink::decimate::TraceDecimator

use crate::error::OutputError;
use crate::event::{ContractionEvent, EventKind};
use crate::sink::decimate::MinMaxPoint;
use plotters::backend::{BitMapBackend, DrawingBackend};
use plotters::coord::Shift;
use plotters::drawing::{DrawingArea, IntoDrawingArea};
use plotters::element::{PathElement, Rectangle, Text};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{
    register_font, Color, FontDesc, FontFamily, FontStyle, FontTransform, RGBAColor, RGBColor,
    ShapeStyle, TextStyle,
};
use std::path::{Path, PathBuf};
use std::sync::Once;

/// One channel's panel.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlotChannel {
    /// Column name, e.g. `pfm_emg`.
    pub name: String,
    /// Axis label with unit, e.g. `Pelvic floor EMG (µV)`.
    pub label: String,
    /// Conditioned (band-passed) signal, decimated.
    pub raw: Vec<MinMaxPoint>,
    /// Envelope (EMG moving RMS) or, for pressure, the zeroed pressure; may be empty.
    pub envelope: Vec<MinMaxPoint>,
    /// Drawn as a dashed line on the envelope scale.
    pub onset_threshold: Option<f64>,
    /// Drawn as a dashed line on the envelope scale.
    pub rest_level: Option<f64>,
    /// Target bands of guided sessions: two lines (low, high) on the envelope scale within a
    /// time window.
    pub targets: Vec<TargetSegment>,
    /// How long the conditioning takes to settle, seconds
    /// ([`AppliedConditioning::settle_s`]): that much of the start of the traces (and at least
    /// [`MIN_SETTLE_S`]) is left out when the y range is chosen. 0 when not known.
    ///
    /// [`AppliedConditioning::settle_s`]: crate::dsp::condition::AppliedConditioning::settle_s
    pub settle_s: f64,
}

/// A target band shown during one cue window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TargetSegment {
    pub start_s: f64,
    pub end_s: f64,
    pub lo: f64,
    pub hi: f64,
}

/// A shaded time window.
#[derive(Debug, Clone, PartialEq)]
pub struct Shade {
    pub start_s: f64,
    pub end_s: f64,
    /// Panel index; `None` shades every panel.
    pub channel: Option<usize>,
    pub kind: ShadeKind,
    /// Text at the top of the shade. Contractions without a label are numbered 1, 2, 3, …
    pub label: Option<String>,
}

/// What a shaded window means; decides its colour and drawing order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShadeKind {
    Contraction,
    Cough,
    Strain,
    AbdominalActivity,
    Artifact,
    /// A protocol cue window ("squeeze now"); drawn behind everything.
    Cue,
    /// Lost samples.
    Gap,
}

impl From<EventKind> for ShadeKind {
    fn from(kind: EventKind) -> Self {
        match kind {
            EventKind::Contraction => ShadeKind::Contraction,
            EventKind::Cough => ShadeKind::Cough,
            EventKind::Strain => ShadeKind::Strain,
            EventKind::AbdominalActivity => ShadeKind::AbdominalActivity,
            EventKind::Artifact => ShadeKind::Artifact,
        }
    }
}

/// Everything the report figure shows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReportPlot {
    /// Names the file, e.g. `knip analysis — session.csv`.
    pub title: String,
    /// E.g. `12 contractions · mean hold 4.9 s · rest 3.1 µV`.
    pub subtitle: String,
    /// Drawn top to bottom: pelvic-floor channels first, abdominal last.
    pub channels: Vec<PlotChannel>,
    pub shades: Vec<Shade>,
    /// Length of the time axis, seconds from 0.
    pub duration_s: f64,
    /// Vertical lines with small labels (e.g. clinician markers).
    pub markers: Vec<(f64, String)>,
}

/// The shade for a detected event, on the event's own channel.
pub fn shade_from_event(e: &ContractionEvent) -> Shade {
    Shade {
        start_s: e.onset_s,
        end_s: e.offset_s,
        channel: Some(e.channel),
        kind: e.kind.into(),
        label: None,
    }
}

/// A rendered figure: 8-bit RGB, row-major, no padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl RgbImage {
    /// The colour at `(x, y)`, or `None` outside the image.
    pub fn pixel(&self, x: u32, y: u32) -> Option<[u8; 3]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = 3 * (y as usize * self.width as usize + x as usize);
        Some([self.data[i], self.data[i + 1], self.data[i + 2]])
    }
}

/// Drawing failed inside the plotting library (should not happen; the message says where).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DrawError(pub String);

/// Renders the figure and writes it as a PNG at `path`.
///
/// The file is written next to `path` under a temporary name and renamed into place, so a failed
/// write never leaves half a PNG behind.
pub fn write_report_png(path: &Path, plot: &ReportPlot) -> Result<(), OutputError> {
    let image = render_report_rgb(plot).map_err(|e| OutputError::Plot {
        path: path.to_path_buf(),
        message: e.0,
    })?;
    write_png(path, &image)
}

/// Writes a rendered image as a PNG at `path` (temporary name, then renamed into place).
pub fn write_png(path: &Path, image: &RgbImage) -> Result<(), OutputError> {
    let plot_err = |message: String| OutputError::Plot {
        path: path.to_path_buf(),
        message,
    };
    let tmp = temp_path(path)
        .ok_or_else(|| plot_err("not a file name; give a path such as report.png".to_string()))?;
    // Creating the file first turns permission and missing-directory problems into I/O errors.
    std::fs::File::create(&tmp).map_err(|e| OutputError::write(path, e))?;
    let saved = {
        let mut backend = BitMapBackend::new(&tmp, (image.width, image.height));
        backend
            .blit_bitmap((0, 0), (image.width, image.height), &image.data)
            .and_then(|_| backend.present())
            .map_err(|e| format!("cannot encode the PNG: {e}"))
    };
    if let Err(message) = saved {
        let _ = std::fs::remove_file(&tmp);
        return Err(plot_err(message));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        OutputError::write(path, e)
    })
}

/// Renders the figure into memory (what [`write_report_png`] encodes).
pub fn render_report_rgb(plot: &ReportPlot) -> Result<RgbImage, DrawError> {
    ensure_fonts();
    let layout = Layout::new(plot);
    let (w, h) = (layout.width, layout.height);
    let mut data = vec![0u8; 3 * w as usize * h as usize];
    {
        let root = BitMapBackend::with_buffer(&mut data, (w, h)).into_drawing_area();
        let mut fig = Figure { root, layout, plot };
        fig.draw()?;
        fig.root
            .present()
            .map_err(|e| DrawError(format!("finishing the image: {e}")))?;
    }
    Ok(RgbImage {
        width: w,
        height: h,
        data,
    })
}

fn temp_path(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_string_lossy();
    // The encoder picks the format from the extension, so the temporary name ends in .png.
    Some(path.with_file_name(format!(".{name}.knip-tmp.png")))
}

/// Registers the embedded fonts with plotters, once per process.
pub(crate) fn ensure_fonts() {
    static FONTS: Once = Once::new();
    FONTS.call_once(|| {
        // The embedded fonts are valid; if they were not, drawing text reports the error.
        let _ = register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
        let _ = register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
    });
}

// ---------------------------------------------------------------------------------------------
// Style

const WIDTH: u32 = 1800;
const MARGIN_LEFT: i32 = 150;
const MARGIN_RIGHT: i32 = 44;
const MARGIN_RIGHT_SECONDARY: i32 = 130;
const PANEL_H: i32 = 320;
const PANEL_GAP: i32 = 22;
const AXIS_H: i32 = 92;
const MARKER_ROW_H: i32 = 22;

const TITLE_PX: f64 = 34.0;
const SUBTITLE_PX: f64 = 22.0;
const LABEL_PX: f64 = 19.0;
const TICK_PX: f64 = 18.0;
const LEGEND_PX: f64 = 18.0;
const NOTE_PX: f64 = 17.0;

pub(crate) const INK: RGBColor = RGBColor(33, 37, 41);
pub(crate) const MUTED: RGBColor = RGBColor(95, 102, 110);
pub(crate) const GRID: RGBColor = RGBColor(226, 229, 233);
pub(crate) const FRAME: RGBColor = RGBColor(160, 166, 173);
const RAW_BAND: RGBColor = RGBColor(163, 184, 214);
const RAW_AXIS: RGBColor = RGBColor(92, 118, 158);
const ENVELOPE: RGBColor = RGBColor(16, 52, 138);
const THRESHOLD: RGBColor = RGBColor(170, 40, 150);
const REST: RGBColor = RGBColor(70, 70, 70);
const MARKER: RGBColor = RGBColor(70, 45, 120);
const TARGET: RGBColor = RGBColor(20, 140, 60);
const CONTRACTION_TEXT: RGBColor = RGBColor(24, 105, 40);

fn shade_color(kind: ShadeKind) -> RGBAColor {
    match kind {
        ShadeKind::Contraction => RGBColor(92, 190, 100).mix(0.30),
        ShadeKind::Cough => RGBColor(255, 140, 20).mix(0.45),
        ShadeKind::Strain => RGBColor(222, 45, 45).mix(0.32),
        ShadeKind::AbdominalActivity => RGBColor(255, 193, 7).mix(0.42),
        ShadeKind::Artifact => RGBColor(120, 120, 120).mix(0.32),
        ShadeKind::Cue => RGBColor(110, 165, 235).mix(0.17),
        ShadeKind::Gap => RGBColor(150, 150, 150).mix(0.20),
    }
}

fn shade_name(kind: ShadeKind) -> &'static str {
    match kind {
        ShadeKind::Contraction => "Contraction (numbered)",
        ShadeKind::Cough => "Cough",
        ShadeKind::Strain => "Strain (bearing down)",
        ShadeKind::AbdominalActivity => "Abdominal activity",
        ShadeKind::Artifact => "Artifact",
        ShadeKind::Cue => "Cue window",
        ShadeKind::Gap => "Signal gap",
    }
}

/// Drawing order: first drawn is furthest behind.
const SHADE_ORDER: [ShadeKind; 7] = [
    ShadeKind::Cue,
    ShadeKind::Gap,
    ShadeKind::Artifact,
    ShadeKind::AbdominalActivity,
    ShadeKind::Strain,
    ShadeKind::Cough,
    ShadeKind::Contraction,
];

fn font(px: f64, bold: bool) -> FontDesc<'static> {
    let style = if bold {
        FontStyle::Bold
    } else {
        FontStyle::Normal
    };
    FontDesc::new(FontFamily::SansSerif, px, style)
}

pub(crate) fn text_style(
    px: f64,
    bold: bool,
    color: RGBColor,
    h: HPos,
    v: VPos,
) -> TextStyle<'static> {
    TextStyle {
        font: font(px, bold),
        color: color.to_backend_color(),
        pos: Pos::new(h, v),
    }
}

// ---------------------------------------------------------------------------------------------
// Layout

enum LegendSwatch {
    Band,
    Line,
    Dashed(RGBColor),
    Shade(ShadeKind),
    Marker,
}

struct Layout {
    width: u32,
    height: u32,
    plot_left: i32,
    plot_right: i32,
    legend: Vec<(LegendSwatch, String)>,
    legend_top: i32,
    legend_rows: Vec<Vec<usize>>,
    panels_top: i32,
    n_panels: usize,
    t0: f64,
    t1: f64,
    minutes: bool,
    ranges: Vec<PanelRange>,
}

/// The value scales of one panel, as [`panel_range`] chooses them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PanelRange {
    /// Envelope / lines scale (left axis).
    pub lo: f64,
    pub hi: f64,
    /// Scale of the raw band when it does not share the left axis (right axis).
    pub raw: Option<(f64, f64)>,
}

const LEGEND_ROW_H: i32 = 28;

impl Layout {
    fn new(plot: &ReportPlot) -> Self {
        let ranges: Vec<PanelRange> = plot.channels.iter().map(panel_range).collect();
        let any_secondary = ranges.iter().any(|r| r.raw.is_some());
        let plot_left = MARGIN_LEFT;
        let plot_right = WIDTH as i32
            - if any_secondary {
                MARGIN_RIGHT_SECONDARY
            } else {
                MARGIN_RIGHT
            };

        let legend = legend_items(plot);
        let legend_rows = wrap_legend(&legend, (plot_right - 16) - 16);
        let legend_top = 112;
        let mut panels_top = legend_top + LEGEND_ROW_H * legend_rows.len() as i32 + 16;
        if plot.markers.iter().any(|(t, _)| t.is_finite()) {
            panels_top += 2 * MARKER_ROW_H;
        }
        let n_panels = plot.channels.len().max(1);
        let height = panels_top + n_panels as i32 * (PANEL_H + PANEL_GAP) - PANEL_GAP + AXIS_H;

        let (t0, t1) = time_range(plot);
        Layout {
            width: WIDTH,
            height: height as u32,
            plot_left,
            plot_right,
            legend,
            legend_top,
            legend_rows,
            panels_top,
            n_panels,
            t0,
            t1,
            minutes: t1 - t0 > 600.0,
            ranges,
        }
    }

    fn panel_top(&self, i: usize) -> i32 {
        self.panels_top + i as i32 * (PANEL_H + PANEL_GAP)
    }

    fn x_of(&self, t: f64) -> f64 {
        let w = (self.plot_right - self.plot_left) as f64;
        self.plot_left as f64 + (t - self.t0) / (self.t1 - self.t0) * w
    }

    /// Pixel column (0-based within the plot) containing time `t`, clamped.
    fn col_of(&self, t: f64) -> i64 {
        let w = (self.plot_right - self.plot_left) as i64;
        let c = ((t - self.t0) / (self.t1 - self.t0) * w as f64).floor();
        if c.is_nan() {
            0
        } else {
            (c as i64).clamp(0, w - 1)
        }
    }
}

/// The time axis: from 0 to the duration, or to what the data and events cover if the duration
/// is missing.
fn time_range(plot: &ReportPlot) -> (f64, f64) {
    let mut t0 = 0.0f64;
    let mut t1 = if plot.duration_s.is_finite() && plot.duration_s > 0.0 {
        plot.duration_s
    } else {
        // No usable duration: what the data cover, or else what the events and markers cover.
        let finite_max = |it: &mut dyn Iterator<Item = f64>| {
            it.filter(|t| t.is_finite())
                .fold(None, |m: Option<f64>, t| Some(m.map_or(t, |m| m.max(t))))
        };
        let data = finite_max(
            &mut plot
                .channels
                .iter()
                .flat_map(|c| c.raw.iter().chain(&c.envelope))
                .map(|p| p.t_s),
        );
        data.or_else(|| {
            finite_max(
                &mut plot
                    .shades
                    .iter()
                    .flat_map(|s| [s.start_s, s.end_s])
                    .chain(plot.markers.iter().map(|m| m.0)),
            )
        })
        .unwrap_or(0.0)
    };
    // Data before 0 (a device clock that does not start at 0) stays visible.
    let earliest = plot
        .channels
        .iter()
        .flat_map(|c| c.raw.first().into_iter().chain(c.envelope.first()))
        .map(|p| p.t_s)
        .filter(|t| t.is_finite())
        .fold(0.0, f64::min);
    t0 = t0.min(earliest);
    if t1 - t0 <= 0.0 || !(t1 - t0).is_finite() {
        t1 = t0 + 1.0;
    }
    (t0, t1)
}

fn legend_items(plot: &ReportPlot) -> Vec<(LegendSwatch, String)> {
    let mut items = Vec::new();
    if plot.channels.iter().any(|c| !c.raw.is_empty()) {
        items.push((LegendSwatch::Band, "Signal (min–max)".to_string()));
    }
    if plot.channels.iter().any(|c| !c.envelope.is_empty()) {
        items.push((
            LegendSwatch::Line,
            "Envelope (RMS) / zeroed pressure".to_string(),
        ));
    }
    if plot.channels.iter().any(|c| c.onset_threshold.is_some()) {
        items.push((
            LegendSwatch::Dashed(THRESHOLD),
            "Onset threshold".to_string(),
        ));
    }
    if plot.channels.iter().any(|c| c.rest_level.is_some()) {
        items.push((LegendSwatch::Dashed(REST), "Rest level".to_string()));
    }
    if plot.channels.iter().any(|c| !c.targets.is_empty()) {
        items.push((LegendSwatch::Dashed(TARGET), "Target band".to_string()));
    }
    for kind in [
        ShadeKind::Contraction,
        ShadeKind::Cough,
        ShadeKind::Strain,
        ShadeKind::AbdominalActivity,
        ShadeKind::Artifact,
        ShadeKind::Cue,
        ShadeKind::Gap,
    ] {
        if plot.shades.iter().any(|s| s.kind == kind) {
            items.push((LegendSwatch::Shade(kind), shade_name(kind).to_string()));
        }
    }
    if !plot.markers.is_empty() {
        items.push((LegendSwatch::Marker, "Marker".to_string()));
    }
    items
}

const SWATCH_W: i32 = 34;
const LEGEND_SPACING: i32 = 30;

/// Width of a legend entry.
fn legend_item_width(label: &str) -> i32 {
    SWATCH_W + 8 + text_width_estimate(label, LEGEND_PX)
}

/// Width of a text in the regular face, from the font's metrics (or ~0.58 em per character
/// if the font cannot be read).
fn text_width_estimate(s: &str, px: f64) -> i32 {
    match metrics::get(false) {
        Some(m) => (m.width_units(s) as f64 * m.px_per_unit(px)).ceil() as i32,
        None => (s.chars().count() as f64 * px * 0.58).ceil() as i32,
    }
}

fn wrap_legend(items: &[(LegendSwatch, String)], max_w: i32) -> Vec<Vec<usize>> {
    let mut rows: Vec<Vec<usize>> = vec![Vec::new()];
    let mut x = 0;
    for (i, (_, label)) in items.iter().enumerate() {
        let w = legend_item_width(label);
        let row = rows.last_mut().expect("rows is never empty");
        if !row.is_empty() && x + w > max_w {
            rows.push(vec![i]);
            x = w + LEGEND_SPACING;
        } else {
            row.push(i);
            x += w + LEGEND_SPACING;
        }
    }
    rows
}

// ---------------------------------------------------------------------------------------------
// Value ranges

/// At least this much of the start of every trace is left out when a panel's y range is chosen:
/// the filters' settling and electrode settling at the start of a recording must not set the
/// scale. (The default chains settle in under 0.2 s; see `AppliedConditioning::settle_s`.)
pub const MIN_SETTLE_S: f64 = 0.5;

/// Fraction of the decimated buckets whose extremes may lie beyond the y range (clipped, drawn as
/// ticks on the panel's edge), at each end: a motion artefact or a cough spike does not flatten
/// the contractions.
const RANGE_QUANTILE: f64 = 0.005;

/// The points after the first `settle_s` seconds of the trace, if they are at least half of
/// them (a recording shorter than twice the settle time is taken whole).
fn settled(points: &[MinMaxPoint], settle_s: f64) -> Vec<&MinMaxPoint> {
    let finite: Vec<&MinMaxPoint> = points.iter().filter(|p| p.t_s.is_finite()).collect();
    let Some(t_first) = finite.iter().map(|p| p.t_s).reduce(f64::min) else {
        return finite;
    };
    let after: Vec<&MinMaxPoint> = finite
        .iter()
        .copied()
        .filter(|p| p.t_s >= t_first + settle_s)
        .collect();
    if 2 * after.len() >= finite.len() {
        after
    } else {
        finite
    }
}

/// Sorted finite values of the given field of the points.
fn sorted_finite(points: &[&MinMaxPoint], field: fn(&MinMaxPoint) -> f64) -> Vec<f64> {
    let mut v: Vec<f64> = points
        .iter()
        .map(|p| field(p))
        .filter(|x| x.is_finite())
        .collect();
    v.sort_by(f64::total_cmp);
    v
}

fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = (q * (sorted.len() - 1) as f64).round() as usize;
    Some(sorted[i.min(sorted.len() - 1)])
}

/// Robust range of a min/max trace after its first `settle_s` seconds: the `q`…`1-q` quantiles
/// of the bucket minima and maxima, so neither a start-up transient nor a single motion spike
/// flattens everything (what lies beyond is clipped).
fn robust_range(points: &[MinMaxPoint], settle_s: f64, q: f64) -> Option<(f64, f64)> {
    let points = settled(points, settle_s);
    let lo = quantile(&sorted_finite(&points, |p| p.min), q)?;
    let hi = quantile(&sorted_finite(&points, |p| p.max), 1.0 - q)?;
    Some((lo.min(hi), hi.max(lo)))
}

/// Widens a range so it is never empty and leaves room at the top for the contraction numbers.
fn pad_range(lo: f64, hi: f64) -> (f64, f64) {
    let (mut lo, mut hi) = (lo, hi);
    let span = hi - lo;
    if span.is_nan() || span <= 1e-12 * hi.abs().max(lo.abs()) || span < f64::MIN_POSITIVE {
        let d = if hi.abs() > 0.0 { hi.abs() * 0.1 } else { 1.0 };
        lo -= d;
        hi += d;
    }
    let span = hi - lo;
    (lo - 0.05 * span, hi + 0.16 * span)
}

/// The y ranges of a channel's panel: robust ranges of the envelope and the raw band after the
/// settle time ([`PlotChannel::settle_s`], at least [`MIN_SETTLE_S`]), widened to take in the
/// threshold and rest lines, with a margin. The raw band gets its own (right) axis when it
/// hardly overlaps the envelope's range (pressure).
pub fn panel_range(c: &PlotChannel) -> PanelRange {
    let settle_s = if c.settle_s.is_finite() {
        c.settle_s.max(MIN_SETTLE_S)
    } else {
        MIN_SETTLE_S
    };
    let raw = robust_range(&c.raw, settle_s, RANGE_QUANTILE);
    let env = robust_range(&c.envelope, settle_s, RANGE_QUANTILE).map(|(lo, hi)| {
        // Amplitudes read best from zero.
        if lo >= 0.0 {
            (0.0, hi)
        } else {
            (lo, hi)
        }
    });
    let lines = [c.onset_threshold, c.rest_level]
        .into_iter()
        .flatten()
        .filter(|v| v.is_finite());
    let include_lines = |(lo, hi): (f64, f64)| {
        lines
            .clone()
            .fold((lo, hi), |(lo, hi), v| (lo.min(v), hi.max(v)))
    };
    match (env, raw) {
        (Some(e), Some(r)) => {
            let e = include_lines(e);
            let overlap = e.1.min(r.1) - e.0.max(r.0);
            let smaller = (e.1 - e.0).min(r.1 - r.0);
            if overlap >= 0.3 * smaller {
                let (lo, hi) = pad_range(e.0.min(r.0), e.1.max(r.1));
                PanelRange { lo, hi, raw: None }
            } else {
                let (lo, hi) = pad_range(e.0, e.1);
                PanelRange {
                    lo,
                    hi,
                    raw: Some(pad_range(r.0, r.1)),
                }
            }
        }
        (Some(only), None) | (None, Some(only)) => {
            let (lo, hi) = pad_range(include_lines(only).0, include_lines(only).1);
            PanelRange { lo, hi, raw: None }
        }
        (None, None) => {
            let mut v = lines.clone();
            match v.next() {
                Some(first) => {
                    let (lo, hi) = include_lines((first, first));
                    let (lo, hi) = pad_range(lo, hi);
                    PanelRange { lo, hi, raw: None }
                }
                None => PanelRange {
                    lo: 0.0,
                    hi: 1.0,
                    raw: None,
                },
            }
        }
    }
}

/// "Nice" tick positions (1, 2, 2.5, 5 × 10^k) covering `lo..=hi`, about `target` of them, with
/// the number of decimals their labels need.
pub(crate) fn nice_ticks(lo: f64, hi: f64, target: usize) -> (Vec<f64>, usize) {
    let span = hi - lo;
    if !span.is_finite() || span <= 0.0 {
        return (Vec::new(), 0);
    }
    let raw_step = span / target.max(1) as f64;
    let mag = 10f64.powf(raw_step.log10().floor());
    let mut step = mag * 10.0;
    for m in [1.0, 2.0, 2.5, 5.0] {
        if mag * m >= raw_step {
            step = mag * m;
            break;
        }
    }
    let decimals = decimals_for(step);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    let ticks = (first..=last).take(1000).map(|k| k as f64 * step).collect();
    (ticks, decimals)
}

/// Decimals needed to print multiples of `step` exactly (up to 9).
fn decimals_for(step: f64) -> usize {
    (0..9)
        .find(|&d| {
            let scaled = step * 10f64.powi(d as i32);
            (scaled - scaled.round()).abs() < 1e-6 * scaled.abs().max(1.0)
        })
        .unwrap_or(9)
}

pub(crate) fn format_value(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    // No "-0".
    if s.trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        s.trim_start_matches('-').to_string()
    } else {
        s.replace('-', "−")
    }
}

/// Time ticks: a step from a fixed list (seconds, then whole minutes) giving at most ~16 ticks.
fn time_ticks(t0: f64, t1: f64) -> (Vec<f64>, f64) {
    const STEPS: [f64; 20] = [
        0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0,
        600.0, 900.0, 1800.0, 3600.0, 7200.0,
    ];
    let span = t1 - t0;
    let step = STEPS
        .iter()
        .copied()
        .find(|s| span / s <= 16.0)
        .unwrap_or_else(|| (span / 16.0 / 3600.0).ceil() * 3600.0);
    let first = (t0 / step).ceil() as i64;
    let last = (t1 / step + 1e-9).floor() as i64;
    let ticks = (first..=last).take(1000).map(|k| k as f64 * step).collect();
    (ticks, step)
}

fn format_time(t: f64, step: f64, minutes: bool) -> String {
    if minutes {
        let neg = t < 0.0;
        let total = t.abs().round() as u64;
        let (h, m, s) = (total / 3600, (total / 60) % 60, total % 60);
        let sign = if neg { "−" } else { "" };
        if h > 0 {
            format!("{sign}{h}:{m:02}:{s:02}")
        } else {
            format!("{sign}{m}:{s:02}")
        }
    } else {
        format_value(t, decimals_for(step))
    }
}

// ---------------------------------------------------------------------------------------------
// Drawing

/// Draws text glyph by glyph at positions from the font's own metrics.
///
/// plotters' ab_glyph renderer drops each glyph's left side bearing, which gives uneven
/// letter spacing ("sign al"); placing glyphs one by one with the bearing restored fixes it.
pub(crate) fn draw_text(
    root: &DrawingArea<BitMapBackend<'_>, Shift>,
    s: &str,
    pos: (i32, i32),
    style: TextStyle<'_>,
) -> Result<(), DrawError> {
    if s.is_empty() {
        return Ok(());
    }
    let px = style.font.get_size();
    let bold = matches!(style.font.get_style(), FontStyle::Bold);
    let Some(m) = metrics::get(bold) else {
        return root
            .draw(&Text::new(s.to_string(), pos, style))
            .map_err(de("text"));
    };
    let scale = m.px_per_unit(px);
    let width = m.width_units(s) as f64 * scale;
    let start = match style.pos.h_pos {
        HPos::Left => 0.0,
        HPos::Center => -width / 2.0,
        HPos::Right => -width,
    };
    let trans = style.font.get_transform();
    let glyph_style = style.pos(Pos::new(HPos::Left, style.pos.v_pos));
    let mut pen = start;
    let mut buf = [0u8; 4];
    for c in s.chars() {
        let (advance, lsb) = m.h_metrics(c);
        if !c.is_whitespace() {
            let offset = (pen + (lsb as f64 * scale).floor()).round() as i32;
            let (dx, dy) = trans.transform(offset, 0);
            let glyph: &str = c.encode_utf8(&mut buf);
            root.draw(&Text::new(
                glyph.to_string(),
                (pos.0 + dx, pos.1 + dy),
                glyph_style.clone(),
            ))
            .map_err(de("text"))?;
        }
        pen += advance as f64 * scale;
    }
    Ok(())
}

/// Width of `s` in pixels at `px` (from the embedded font's metrics).
pub(crate) fn text_width_px(s: &str, px: f64, bold: bool) -> i32 {
    match metrics::get(bold) {
        Some(m) => (m.width_units(s) as f64 * m.px_per_unit(px)).ceil() as i32,
        None => text_width_estimate(s, px),
    }
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

struct Figure<'a, 'p> {
    root: Area<'a>,
    layout: Layout,
    plot: &'p ReportPlot,
}

fn de<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> DrawError {
    move |e| DrawError(format!("{what}: {e}"))
}

/// Per pixel column min/max of a trace.
struct Columns {
    lo: Vec<f64>,
    hi: Vec<f64>,
}

impl Columns {
    fn has(&self, c: usize) -> bool {
        self.lo[c] <= self.hi[c]
    }
}

impl<'a> Figure<'a, '_> {
    fn draw(&mut self) -> Result<(), DrawError> {
        self.root
            .fill(&RGBColor(255, 255, 255))
            .map_err(de("fill"))?;
        self.draw_header()?;
        if self.plot.channels.is_empty() {
            self.draw_panel_frame(0)?;
            self.draw_time_grid(0)?;
            self.draw_shades(0)?;
            let top = self.layout.panel_top(0);
            let cx = (self.layout.plot_left + self.layout.plot_right) / 2;
            self.text(
                "No signal channels to show",
                (cx, top + PANEL_H / 2),
                text_style(LABEL_PX, false, MUTED, HPos::Center, VPos::Center),
            )?;
        }
        for i in 0..self.plot.channels.len() {
            self.draw_panel(i)?;
        }
        self.draw_markers()?;
        self.draw_time_axis()?;
        Ok(())
    }

    fn text(&self, s: &str, pos: (i32, i32), style: TextStyle<'_>) -> Result<(), DrawError> {
        draw_text(&self.root, s, pos, style)
    }

    fn text_width(&self, s: &str, px: f64, bold: bool) -> i32 {
        match metrics::get(bold) {
            Some(m) => (m.width_units(s) as f64 * m.px_per_unit(px)).ceil() as i32,
            None => self
                .root
                .estimate_text_size(s, &TextStyle::from(font(px, bold)))
                .map(|(w, _)| w as i32)
                .unwrap_or_else(|_| text_width_estimate(s, px)),
        }
    }

    /// A rectangle with both corners inclusive (the bitmap fill excludes the far edges).
    fn rect(&self, x0: i32, y0: i32, x1: i32, y1: i32, style: ShapeStyle) -> Result<(), DrawError> {
        let (x0, x1) = (x0.min(x1), x0.max(x1));
        let (y0, y1) = (y0.min(y1), y0.max(y1));
        let (x1, y1) = if style.filled {
            (x1 + 1, y1 + 1)
        } else {
            (x1, y1)
        };
        self.root
            .draw(&Rectangle::new([(x0, y0), (x1, y1)], style))
            .map_err(de("rectangle"))
    }

    fn line(&self, points: Vec<(i32, i32)>, color: RGBAColor, width: u32) -> Result<(), DrawError> {
        self.root
            .draw(&PathElement::new(
                points,
                ShapeStyle {
                    color,
                    filled: false,
                    stroke_width: width,
                },
            ))
            .map_err(de("line"))
    }

    fn dashed_hline(&self, y: i32, x0: i32, x1: i32, color: RGBColor) -> Result<(), DrawError> {
        let mut x = x0;
        while x < x1 {
            let xe = (x + 12).min(x1);
            self.rect(x, y - 1, xe, y, color.filled())?;
            x += 20;
        }
        Ok(())
    }

    fn draw_header(&self) -> Result<(), DrawError> {
        let l = &self.layout;
        let x = l.plot_left - 110;
        self.text(
            &self.plot.title,
            (x, 22),
            text_style(TITLE_PX, true, INK, HPos::Left, VPos::Top),
        )?;
        self.text(
            &self.plot.subtitle,
            (x, 68),
            text_style(SUBTITLE_PX, false, MUTED, HPos::Left, VPos::Top),
        )?;
        // Legend.
        for (row_i, row) in l.legend_rows.iter().enumerate() {
            let y = l.legend_top + row_i as i32 * LEGEND_ROW_H;
            let mut cx = x;
            for &i in row {
                let (swatch, label) = &l.legend[i];
                let (sx0, sx1, sy0, sy1) = (cx, cx + SWATCH_W, y + 2, y + 18);
                let ymid = (sy0 + sy1) / 2;
                match swatch {
                    LegendSwatch::Band => self.rect(sx0, sy0, sx1, sy1, RAW_BAND.filled())?,
                    LegendSwatch::Line => {
                        self.rect(sx0, ymid - 1, sx1, ymid + 1, ENVELOPE.filled())?
                    }
                    LegendSwatch::Dashed(c) => {
                        self.dashed_hline(ymid, sx0, sx1 + 6, *c)?;
                    }
                    LegendSwatch::Shade(kind) => {
                        self.rect(sx0, sy0, sx1, sy1, shade_color(*kind).filled())?;
                        if *kind == ShadeKind::Gap {
                            self.hatch(sx0, sy0, sx1, sy1)?;
                        }
                        self.rect(sx0, sy0, sx1, sy1, FRAME.mix(0.6).stroke_width(1))?;
                    }
                    LegendSwatch::Marker => self.rect(
                        sx0 + SWATCH_W / 2 - 1,
                        sy0 - 2,
                        sx0 + SWATCH_W / 2,
                        sy1 + 2,
                        MARKER.filled(),
                    )?,
                }
                self.text(
                    label,
                    (sx1 + 8, ymid),
                    text_style(LEGEND_PX, false, INK, HPos::Left, VPos::Center),
                )?;
                cx += SWATCH_W + 8 + self.text_width(label, LEGEND_PX, false) + LEGEND_SPACING;
            }
        }
        Ok(())
    }

    fn draw_panel_frame(&self, i: usize) -> Result<(), DrawError> {
        let l = &self.layout;
        let top = l.panel_top(i);
        self.rect(
            l.plot_left,
            top,
            l.plot_right,
            top + PANEL_H,
            FRAME.stroke_width(1),
        )
    }

    fn draw_time_grid(&self, i: usize) -> Result<(), DrawError> {
        let l = &self.layout;
        let top = l.panel_top(i);
        let (ticks, _) = time_ticks(l.t0, l.t1);
        for t in ticks {
            let x = l.x_of(t).round() as i32;
            if x > l.plot_left && x < l.plot_right {
                self.rect(x, top + 1, x, top + PANEL_H - 1, GRID.filled())?;
            }
        }
        Ok(())
    }

    fn y_of(&self, i: usize, v: f64, lo: f64, hi: f64) -> f64 {
        let top = self.layout.panel_top(i) as f64;
        top + (hi - v) / (hi - lo) * PANEL_H as f64
    }

    fn draw_panel(&self, i: usize) -> Result<(), DrawError> {
        let l = &self.layout;
        let ch = &self.plot.channels[i];
        let range = l.ranges[i];
        let top = l.panel_top(i);
        let bottom = top + PANEL_H;

        // Horizontal grid and left axis.
        let (ticks, decimals) = nice_ticks(range.lo, range.hi, 6);
        for v in &ticks {
            let y = self.y_of(i, *v, range.lo, range.hi).round() as i32;
            if y <= top || y >= bottom {
                continue;
            }
            self.rect(l.plot_left + 1, y, l.plot_right - 1, y, GRID.filled())?;
            self.rect(l.plot_left - 6, y, l.plot_left - 1, y, FRAME.filled())?;
            self.text(
                &format_value(*v, decimals),
                (l.plot_left - 10, y),
                text_style(TICK_PX, false, INK, HPos::Right, VPos::Center),
            )?;
        }
        self.draw_time_grid(i)?;
        let label = if ch.label.is_empty() {
            &ch.name
        } else {
            &ch.label
        };
        self.text(
            label,
            (l.plot_left - 112, top + PANEL_H / 2),
            text_style(LABEL_PX, true, INK, HPos::Center, VPos::Center)
                .transform(FontTransform::Rotate270),
        )?;

        // Right axis when the raw band has its own scale.
        if let Some((rlo, rhi)) = range.raw {
            let (rticks, rdec) = nice_ticks(rlo, rhi, 6);
            for v in &rticks {
                let y = self.y_of(i, *v, rlo, rhi).round() as i32;
                if y <= top || y >= bottom {
                    continue;
                }
                self.rect(l.plot_right + 1, y, l.plot_right + 6, y, RAW_AXIS.filled())?;
                self.text(
                    &format_value(*v, rdec),
                    (l.plot_right + 10, y),
                    text_style(TICK_PX, false, RAW_AXIS, HPos::Left, VPos::Center),
                )?;
            }
            let right_label = match unit_of(label) {
                Some(unit) => format!("Signal, right scale ({unit})"),
                None => "Signal, right scale".to_string(),
            };
            self.text(
                &right_label,
                (l.plot_right + 100, top + PANEL_H / 2),
                text_style(NOTE_PX, false, RAW_AXIS, HPos::Center, VPos::Center)
                    .transform(FontTransform::Rotate90),
            )?;
        }

        self.draw_shades(i)?;

        // Raw band.
        let (rlo, rhi) = range.raw.unwrap_or((range.lo, range.hi));
        if let Some(cols) = self.columns(&ch.raw) {
            for c in 0..cols.lo.len() {
                if !cols.has(c) {
                    continue;
                }
                let x = l.plot_left + c as i32;
                let ya = self.clamp_y(i, self.y_of(i, cols.hi[c], rlo, rhi));
                let yb = self.clamp_y(i, self.y_of(i, cols.lo[c], rlo, rhi));
                self.rect(
                    x,
                    ya.round() as i32,
                    x,
                    yb.round() as i32,
                    RAW_BAND.filled(),
                )?;
                // Clipped by the robust range: a dark tick on the edge says "goes beyond".
                if cols.hi[c] > rhi {
                    self.rect(x, top + 1, x, top + 4, RAW_AXIS.filled())?;
                }
                if cols.lo[c] < rlo {
                    self.rect(x, bottom - 4, x, bottom - 1, RAW_AXIS.filled())?;
                }
            }
        }

        // Threshold and rest lines (envelope scale), under the envelope.
        for (value, color) in [(ch.rest_level, REST), (ch.onset_threshold, THRESHOLD)] {
            if let Some(v) = value.filter(|v| v.is_finite()) {
                let y = self.y_of(i, v, range.lo, range.hi).round() as i32;
                if y > top && y < bottom {
                    self.dashed_hline(y, l.plot_left + 1, l.plot_right - 1, color)?;
                }
            }
        }

        // Target bands of guided sessions: low and high lines over each cue window.
        for seg in &ch.targets {
            let xa = (l.x_of(seg.start_s).round() as i32).max(l.plot_left + 1);
            let xb = (l.x_of(seg.end_s).round() as i32).min(l.plot_right - 1);
            if xb <= xa {
                continue;
            }
            for v in [seg.lo, seg.hi] {
                if !v.is_finite() {
                    continue;
                }
                let y = self.y_of(i, v, range.lo, range.hi).round() as i32;
                if y > top && y < bottom {
                    self.rect(xa, y - 1, xb, y, TARGET.filled())?;
                }
            }
        }

        // Envelope: a ~3 px line through each column's range, joined to the neighbour's.
        if let Some(cols) = self.columns(&ch.envelope) {
            let mut prev: Option<(f64, f64)> = None;
            for c in 0..cols.lo.len() {
                if !cols.has(c) {
                    prev = None;
                    continue;
                }
                let mut ya = self.y_of(i, cols.hi[c], range.lo, range.hi);
                let mut yb = self.y_of(i, cols.lo[c], range.lo, range.hi);
                if let Some((pa, pb)) = prev {
                    // Join to the previous column halfway, so steep slopes stay continuous.
                    if pb < ya {
                        ya = (pb + ya) / 2.0;
                    }
                    if pa > yb {
                        yb = (pa + yb) / 2.0;
                    }
                }
                prev = Some((
                    self.y_of(i, cols.hi[c], range.lo, range.hi),
                    self.y_of(i, cols.lo[c], range.lo, range.hi),
                ));
                let ya = self.clamp_y(i, ya - 1.2).round() as i32;
                let yb = self.clamp_y(i, yb + 1.2).round() as i32;
                let x = l.plot_left + c as i32;
                self.rect(x, ya, x, yb, ENVELOPE.filled())?;
            }
        }

        if !ch.raw.iter().chain(&ch.envelope).any(|p| p.min <= p.max) {
            self.text(
                "no data",
                ((l.plot_left + l.plot_right) / 2, top + PANEL_H / 2),
                text_style(LABEL_PX, false, MUTED, HPos::Center, VPos::Center),
            )?;
        }

        self.draw_shade_labels(i)?;
        self.draw_panel_frame(i)
    }

    fn clamp_y(&self, i: usize, y: f64) -> f64 {
        let top = self.layout.panel_top(i) as f64;
        if y.is_nan() {
            return top;
        }
        y.clamp(top + 1.0, top + PANEL_H as f64 - 1.0)
    }

    /// Aggregates a trace into pixel columns. A bucket covers from its time to the next
    /// bucket's (at most the typical bucket width, so gaps stay empty).
    fn columns(&self, points: &[MinMaxPoint]) -> Option<Columns> {
        let l = &self.layout;
        let w = (l.plot_right - l.plot_left) as usize;
        let pts: Vec<&MinMaxPoint> = points
            .iter()
            .filter(|p| p.t_s.is_finite() && p.min.is_finite() && p.max.is_finite())
            .collect();
        if pts.is_empty() {
            return None;
        }
        let bucket_s = pts
            .windows(2)
            .map(|p| p[1].t_s - p[0].t_s)
            .filter(|d| *d > 0.0)
            .fold(f64::INFINITY, f64::min);
        let px_s = (l.t1 - l.t0) / w as f64;
        let bucket_s = if bucket_s.is_finite() { bucket_s } else { px_s };
        let mut cols = Columns {
            lo: vec![f64::INFINITY; w],
            hi: vec![f64::NEG_INFINITY; w],
        };
        for p in pts {
            if p.t_s + bucket_s < l.t0 || p.t_s > l.t1 {
                continue;
            }
            let c0 = l.col_of(p.t_s) as usize;
            // The bucket's end is exclusive; never let it reach into the next bucket's column.
            let c1 = (l.col_of(p.t_s + bucket_s - 1e-9 * bucket_s.max(1.0)) as usize).max(c0);
            let (lo, hi) = (p.min.min(p.max), p.max.max(p.min));
            for c in c0..=c1 {
                cols.lo[c] = cols.lo[c].min(lo);
                cols.hi[c] = cols.hi[c].max(hi);
            }
        }
        Some(cols)
    }

    fn shades_on(&self, i: usize) -> impl Iterator<Item = &Shade> {
        self.plot
            .shades
            .iter()
            .filter(move |s| !matches!(s.channel, Some(c) if c != i))
            .filter(|s| s.start_s.is_finite() && s.end_s.is_finite() && s.end_s >= s.start_s)
    }

    /// Pixel span of a shade, clipped to the plot, at least 3 px wide so short coughs show.
    fn shade_x(&self, s: &Shade) -> Option<(i32, i32)> {
        let l = &self.layout;
        if s.end_s < l.t0 || s.start_s > l.t1 {
            return None;
        }
        let mut x0 = l.x_of(s.start_s).round() as i32;
        let mut x1 = l.x_of(s.end_s).round() as i32;
        if x1 - x0 < 3 {
            let mid = (x0 + x1) / 2;
            x0 = mid - 1;
            x1 = mid + 1;
        }
        let x0 = x0.max(l.plot_left + 1);
        let x1 = x1.min(l.plot_right - 1);
        (x1 >= x0).then_some((x0, x1))
    }

    fn draw_shades(&self, i: usize) -> Result<(), DrawError> {
        let top = self.layout.panel_top(i);
        for kind in SHADE_ORDER {
            for s in self.shades_on(i).filter(|s| s.kind == kind) {
                if let Some((x0, x1)) = self.shade_x(s) {
                    let (y0, y1) = (top + 1, top + PANEL_H - 1);
                    self.rect(x0, y0, x1, y1, shade_color(kind).filled())?;
                    if kind == ShadeKind::Gap {
                        self.hatch(x0, y0, x1, y1)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Diagonal hatching inside a rectangle.
    fn hatch(&self, x0: i32, y0: i32, x1: i32, y1: i32) -> Result<(), DrawError> {
        let color = RGBColor(120, 120, 120).mix(0.55);
        // Lines x - y = k.
        let mut k = x0 - y1;
        while k <= x1 - y0 {
            let ya = y0.max(x0 - k);
            let yb = y1.min(x1 - k);
            if ya <= yb {
                self.line(vec![(ya + k, ya), (yb + k, yb)], color, 1)?;
            }
            k += 9;
        }
        Ok(())
    }

    /// Contraction numbers (or shade labels) at the top of the shades, without overlaps.
    fn draw_shade_labels(&self, i: usize) -> Result<(), DrawError> {
        let top = self.layout.panel_top(i);
        // A shade for every panel gets its text on the first panel only.
        let own = |s: &&Shade| s.channel == Some(i) || (s.channel.is_none() && i == 0);

        // Contractions, numbered in time order.
        let mut contractions: Vec<&Shade> = self
            .shades_on(i)
            .filter(own)
            .filter(|s| s.kind == ShadeKind::Contraction)
            .collect();
        contractions.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
        let items: Vec<(i32, String)> = contractions
            .iter()
            .enumerate()
            .filter_map(|(n, s)| {
                let (x0, x1) = self.shade_x(s)?;
                let text = s.label.clone().unwrap_or_else(|| (n + 1).to_string());
                Some(((x0 + x1) / 2, text))
            })
            .collect();
        // Explicit labels (guided-session rep numbers) are all drawn where they fit; automatic
        // numbers thin out evenly when they crowd.
        let step = if contractions.iter().all(|s| s.label.is_some()) {
            1
        } else {
            numbering_step(&items, |t| self.text_width(t, LABEL_PX, true))
        };
        let mut last_right = i32::MIN;
        for (n, (x, text)) in items.iter().enumerate() {
            let number = n + 1;
            if number % step != 0 {
                continue;
            }
            let w = self.text_width(text, LABEL_PX, true);
            let (left, right) = (x - w / 2, x + w / 2);
            if left < last_right + 6 {
                continue;
            }
            last_right = right;
            self.text(
                text,
                (*x, top + 5),
                text_style(LABEL_PX, true, CONTRACTION_TEXT, HPos::Center, VPos::Top),
            )?;
        }

        // Other labelled shades: a second row at the top, cue labels at the bottom.
        let mut last_right_top = i32::MIN;
        let mut last_right_bottom = i32::MIN;
        let mut others: Vec<&Shade> = self
            .shades_on(i)
            .filter(own)
            .filter(|s| s.kind != ShadeKind::Contraction && s.label.is_some())
            .collect();
        others.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
        for s in others {
            let (Some(text), Some((x0, x1))) = (s.label.as_deref(), self.shade_x(s)) else {
                continue;
            };
            let w = self.text_width(text, NOTE_PX, false);
            let (x, pos, last, y) = if s.kind == ShadeKind::Cue {
                (
                    x0 + 4,
                    HPos::Left,
                    &mut last_right_bottom,
                    top + PANEL_H - 6,
                )
            } else {
                ((x0 + x1) / 2, HPos::Center, &mut last_right_top, top + 30)
            };
            let left = if s.kind == ShadeKind::Cue {
                x
            } else {
                x - w / 2
            };
            if left < *last + 8 || left + w > self.layout.plot_right - 2 {
                continue;
            }
            *last = left + w;
            let v = if s.kind == ShadeKind::Cue {
                VPos::Bottom
            } else {
                VPos::Top
            };
            // A light box keeps the label readable over traces and marker lines.
            let h = NOTE_PX.round() as i32;
            let (by0, by1) = if s.kind == ShadeKind::Cue {
                (y - h, y + 3)
            } else {
                (y - 2, y + h + 1)
            };
            let white = RGBColor(255, 255, 255).mix(0.8);
            self.rect(left - 3, by0, left + w + 3, by1, white.filled())?;
            self.text(text, (x, y), text_style(NOTE_PX, false, INK, pos, v))?;
        }
        Ok(())
    }

    fn draw_markers(&self) -> Result<(), DrawError> {
        let l = &self.layout;
        let mut markers: Vec<&(f64, String)> = self
            .plot
            .markers
            .iter()
            .filter(|(t, _)| t.is_finite() && *t >= l.t0 && *t <= l.t1)
            .collect();
        if markers.is_empty() {
            return Ok(());
        }
        markers.sort_by(|a, b| a.0.total_cmp(&b.0));
        let first_top = l.panel_top(0);
        let last_bottom = l.panel_top(l.n_panels - 1) + PANEL_H;
        let mut row_right = [i32::MIN; 2];
        for (t, label) in markers {
            let x = l.x_of(*t).round() as i32;
            self.rect(
                x,
                first_top - 4,
                x + 1,
                last_bottom,
                MARKER.mix(0.85).filled(),
            )?;
            if label.is_empty() {
                continue;
            }
            let w = self.text_width(label, NOTE_PX, false);
            let left = (x - w / 2).max(l.plot_left - 100);
            for (row, right) in row_right.iter_mut().enumerate() {
                if left >= *right + 8 {
                    *right = left + w;
                    let y = first_top - 6 - (1 - row as i32) * MARKER_ROW_H;
                    self.text(
                        label,
                        (left + w / 2, y),
                        text_style(NOTE_PX, false, MARKER, HPos::Center, VPos::Bottom),
                    )?;
                    break;
                }
            }
        }
        Ok(())
    }

    fn draw_time_axis(&self) -> Result<(), DrawError> {
        let l = &self.layout;
        let bottom = l.panel_top(l.n_panels - 1) + PANEL_H;
        let (ticks, step) = time_ticks(l.t0, l.t1);
        let mut last_right = i32::MIN / 2;
        for t in ticks {
            let x = l.x_of(t).round() as i32;
            if x < l.plot_left - 1 || x > l.plot_right + 1 {
                continue;
            }
            self.rect(x, bottom, x, bottom + 6, FRAME.filled())?;
            let label = format_time(t, step, l.minutes);
            let w = self.text_width(&label, TICK_PX, false);
            if x - w / 2 < last_right + 12 {
                continue;
            }
            last_right = x + w / 2;
            self.text(
                &label,
                (x, bottom + 10),
                text_style(TICK_PX, false, INK, HPos::Center, VPos::Top),
            )?;
        }
        let title = if l.minutes {
            "Time (min:s)"
        } else {
            "Time (s)"
        };
        self.text(
            title,
            ((l.plot_left + l.plot_right) / 2, bottom + 44),
            text_style(LABEL_PX, true, INK, HPos::Center, VPos::Top),
        )
    }
}

/// Horizontal metrics read from the embedded TrueType fonts (`cmap` format 4, `hhea`, `hmtx`):
/// enough to place glyphs with their side bearings.
mod metrics {
    use std::sync::OnceLock;

    pub struct Metrics {
        data: &'static [u8],
        cmap4: usize,
        hmtx: usize,
        n_hmetrics: u16,
        /// ab_glyph scales so that ascent − descent spans the requested pixel size.
        height_units: f64,
    }

    /// The metrics of the regular or bold face; `None` if the font could not be read.
    pub fn get(bold: bool) -> Option<&'static Metrics> {
        static FACES: OnceLock<[Option<Metrics>; 2]> = OnceLock::new();
        FACES
            .get_or_init(|| {
                [
                    Metrics::parse(dejavu::sans::regular()),
                    Metrics::parse(dejavu::sans::bold()),
                ]
            })
            .get(usize::from(bold))?
            .as_ref()
    }

    fn u16_at(d: &[u8], at: usize) -> Option<u16> {
        Some(u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]))
    }

    fn u32_at(d: &[u8], at: usize) -> Option<u32> {
        Some(u32::from_be_bytes([
            *d.get(at)?,
            *d.get(at + 1)?,
            *d.get(at + 2)?,
            *d.get(at + 3)?,
        ]))
    }

    fn table(d: &[u8], tag: &[u8; 4]) -> Option<usize> {
        let n = u16_at(d, 4)? as usize;
        (0..n)
            .map(|i| 12 + 16 * i)
            .find(|&rec| d.get(rec..rec + 4) == Some(&tag[..]))
            .and_then(|rec| u32_at(d, rec + 8))
            .map(|o| o as usize)
    }

    impl Metrics {
        fn parse(data: &'static [u8]) -> Option<Metrics> {
            let hhea = table(data, b"hhea")?;
            let hmtx = table(data, b"hmtx")?;
            let cmap = table(data, b"cmap")?;
            let os2 = table(data, b"OS/2");
            let n_hmetrics = u16_at(data, hhea + 34)?;
            let (mut ascent, mut descent) = (
                u16_at(data, hhea + 4)? as i16 as f64,
                u16_at(data, hhea + 6)? as i16 as f64,
            );
            // USE_TYPO_METRICS (fsSelection bit 7) switches to the OS/2 typographic values.
            if let Some(os2) = os2 {
                if u16_at(data, os2 + 62)? & (1 << 7) != 0 {
                    ascent = u16_at(data, os2 + 68)? as i16 as f64;
                    descent = u16_at(data, os2 + 70)? as i16 as f64;
                }
            }
            let n_sub = u16_at(data, cmap + 2)? as usize;
            let cmap4 = (0..n_sub)
                .filter_map(|i| {
                    let rec = cmap + 4 + 8 * i;
                    let (platform, encoding) = (u16_at(data, rec)?, u16_at(data, rec + 2)?);
                    let sub = cmap + u32_at(data, rec + 4)? as usize;
                    let unicode = platform == 0 || (platform == 3 && encoding == 1);
                    (unicode && u16_at(data, sub)? == 4).then_some(sub)
                })
                .next()?;
            (ascent - descent > 0.0).then_some(Metrics {
                data,
                cmap4,
                hmtx,
                n_hmetrics,
                height_units: ascent - descent,
            })
        }

        pub fn px_per_unit(&self, px: f64) -> f64 {
            px / self.height_units
        }

        fn glyph_id(&self, c: char) -> u16 {
            let c = c as u32;
            if c > 0xFFFF {
                return 0;
            }
            self.lookup4(c as u16).unwrap_or(0)
        }

        fn lookup4(&self, c: u16) -> Option<u16> {
            let d = self.data;
            let t = self.cmap4;
            let seg_x2 = u16_at(d, t + 6)? as usize;
            let ends = t + 14;
            let starts = ends + seg_x2 + 2;
            let deltas = starts + seg_x2;
            let ranges = deltas + seg_x2;
            for i in (0..seg_x2).step_by(2) {
                if u16_at(d, ends + i)? < c {
                    continue;
                }
                let start = u16_at(d, starts + i)?;
                if start > c {
                    return None;
                }
                let delta = u16_at(d, deltas + i)?;
                let range = u16_at(d, ranges + i)? as usize;
                if range == 0 {
                    return Some(c.wrapping_add(delta));
                }
                let at = ranges + i + range + 2 * (c - start) as usize;
                let g = u16_at(d, at)?;
                return Some(if g == 0 { 0 } else { g.wrapping_add(delta) });
            }
            None
        }

        /// Advance width and left side bearing of a character, in font units.
        pub fn h_metrics(&self, c: char) -> (u16, i16) {
            let g = self.glyph_id(c);
            let d = self.data;
            let n = self.n_hmetrics.max(1);
            let (adv_at, lsb_at) = if g < n {
                let rec = self.hmtx + 4 * g as usize;
                (rec, rec + 2)
            } else {
                (
                    self.hmtx + 4 * (n as usize - 1),
                    self.hmtx + 4 * n as usize + 2 * (g - n) as usize,
                )
            };
            (
                u16_at(d, adv_at).unwrap_or(0),
                u16_at(d, lsb_at).unwrap_or(0) as i16,
            )
        }

        pub fn width_units(&self, s: &str) -> u64 {
            s.chars().map(|c| self.h_metrics(c).0 as u64).sum()
        }
    }
}

/// The unit in a label's trailing parentheses: "Pelvic floor EMG (µV)" → "µV".
fn unit_of(label: &str) -> Option<&str> {
    let inner = label.trim_end().strip_suffix(')')?;
    let open = inner.rfind('(')?;
    Some(&inner[open + 1..]).filter(|u| !u.is_empty())
}

/// Every how many contractions to print a number so that numbers do not overlap: 1, 2, 5, 10 …
fn numbering_step(items: &[(i32, String)], width: impl Fn(&str) -> i32) -> usize {
    let widest = items.iter().map(|(_, t)| width(t)).max().unwrap_or(0);
    for step in [1usize, 2, 5, 10, 20, 50, 100] {
        let xs: Vec<i32> = items
            .iter()
            .enumerate()
            .filter(|(n, _)| step == 1 || (n + 1) % step == 0)
            .map(|(_, (x, _))| *x)
            .collect();
        if xs.windows(2).all(|w| w[1] - w[0] >= widest + 6) {
            return step;
        }
    }
    1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn font_metrics_match_plotters_layout() {
        ensure_fonts();
        for bold in [false, true] {
            let m = metrics::get(bold).expect("embedded font parses");
            let style = if bold {
                FontStyle::Bold
            } else {
                FontStyle::Normal
            };
            let f = FontDesc::new(FontFamily::SansSerif, 40.0, style);
            let text = "0123456789µ—₂−abcdefghijklmnopqrstuvwxyz";
            let ((x0, _), (x1, _)) = f.layout_box(text).expect("layout");
            let ours = m.width_units(text) as f64 * m.px_per_unit(40.0);
            let theirs = (x1 - x0) as f64;
            assert!((ours - theirs).abs() < 0.02 * theirs, "{ours} vs {theirs}");
            assert_ne!(m.h_metrics('µ').0, m.h_metrics('\u{FFFF}').0);
        }
    }

    #[test]
    fn nice_ticks_cover_range() {
        let (t, d) = nice_ticks(-3.0, 47.0, 6);
        assert_eq!(t, vec![0.0, 10.0, 20.0, 30.0, 40.0]);
        assert_eq!(d, 0);
        let (t, d) = nice_ticks(0.0, 1.0, 4);
        assert_eq!(t, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(d, 2);
        assert!(nice_ticks(1.0, 1.0, 5).0.is_empty());
        assert!(nice_ticks(f64::NAN, 1.0, 5).0.is_empty());
    }

    #[test]
    fn time_labels() {
        assert_eq!(format_time(125.0, 60.0, true), "2:05");
        assert_eq!(format_time(3725.0, 300.0, true), "1:02:05");
        assert_eq!(format_time(12.5, 0.5, false), "12.5");
        assert_eq!(format_time(30.0, 10.0, false), "30");
        let (ticks, step) = time_ticks(0.0, 3600.0);
        assert_eq!(step, 300.0);
        assert_eq!(ticks.len(), 13);
    }

    #[test]
    fn robust_range_ignores_a_single_spike() {
        let mut pts: Vec<MinMaxPoint> = (0..1000)
            .map(|i| MinMaxPoint {
                t_s: i as f64,
                min: -1.0,
                max: 1.0,
            })
            .collect();
        pts[500].max = 1e6;
        let (lo, hi) = robust_range(&pts, 0.0, 0.005).unwrap();
        assert_eq!((lo, hi), (-1.0, 1.0));
    }

    /// 60 s of EMG at 1 kHz decimated to ~2000 buckets: rest envelope 3 µV, six 5-s
    /// contractions at 30 µV, a 3000 µV start-up transient over the first 0.3 s and a 0.2-s
    /// motion artefact of 800 µV. The contractions must fill most of the panel.
    #[test]
    fn startup_transient_and_one_artefact_do_not_set_the_range() {
        let bucket_s = 0.03;
        let n = (60.0 / bucket_s) as usize;
        let level = |t: f64| {
            if t < 0.3 {
                3000.0 * (1.0 - t / 0.3)
            } else if (31.0..31.2).contains(&t) {
                800.0
            } else if (0..6).any(|k| {
                let on = 5.0 + 9.0 * k as f64;
                (on..on + 5.0).contains(&t)
            }) {
                30.0
            } else {
                3.0
            }
        };
        let env: Vec<MinMaxPoint> = (0..n)
            .map(|i| {
                let t = i as f64 * bucket_s;
                let v = level(t);
                MinMaxPoint {
                    t_s: t,
                    min: 0.9 * v,
                    max: 1.1 * v,
                }
            })
            .collect();
        let raw: Vec<MinMaxPoint> = env
            .iter()
            .map(|p| MinMaxPoint {
                t_s: p.t_s,
                min: -1.6 * p.max,
                max: 1.6 * p.max,
            })
            .collect();
        let mut ch = PlotChannel {
            raw,
            envelope: env,
            onset_threshold: Some(9.0),
            rest_level: Some(3.0),
            ..Default::default()
        };
        for settle_s in [0.0, 0.15] {
            ch.settle_s = settle_s;
            let r = panel_range(&ch);
            assert!(r.raw.is_none());
            let share = |v: f64| (v - r.lo) / (r.hi - r.lo);
            // The envelope of a contraction (30 µV) reaches over a third of the height ...
            assert!(share(30.0) > 0.33, "{r:?}");
            // ... the raw band of a contraction (±53 µV) stays inside ...
            assert!(share(53.0) <= 1.0 && share(-53.0) >= 0.0, "{r:?}");
            // ... and the threshold and rest lines are inside and apart.
            assert!(share(3.0) > 0.0 && share(9.0) - share(3.0) > 0.04, "{r:?}");
        }
        // The transient alone (no settle skip, as before) would have taken the range to 3000 µV.
        let all: Vec<&MinMaxPoint> = ch.envelope.iter().collect();
        assert!(quantile(&sorted_finite(&all, |p| p.max), 1.0 - 0.001).unwrap() > 1000.0);
    }

    #[test]
    fn the_settle_time_is_skipped_unless_it_is_most_of_the_recording() {
        // Ten buckets of 0.05 s, largest at the start.
        let pts: Vec<MinMaxPoint> = (0..10)
            .map(|i| MinMaxPoint {
                t_s: 1.0 + i as f64 * 0.05,
                min: -(10 - i) as f64,
                max: (10 - i) as f64,
            })
            .collect();
        assert_eq!(robust_range(&pts, 0.0, 0.0), Some((-10.0, 10.0)));
        assert_eq!(robust_range(&pts, 0.1, 0.0), Some((-8.0, 8.0)));
        assert_eq!(robust_range(&pts, 0.25, 0.0), Some((-5.0, 5.0)));
        // Skipping 0.3 s would leave fewer than half the buckets: the whole trace is used.
        assert_eq!(robust_range(&pts, 0.3, 0.0), Some((-10.0, 10.0)));
    }

    #[test]
    fn pressure_gets_its_own_raw_scale() {
        let pt = |v: f64| MinMaxPoint {
            t_s: 0.0,
            min: v,
            max: v + 1.0,
        };
        let ch = PlotChannel {
            raw: vec![pt(100.0), pt(140.0)],
            envelope: vec![pt(0.0), pt(40.0)],
            ..Default::default()
        };
        assert!(panel_range(&ch).raw.is_some());
        let emg = PlotChannel {
            raw: vec![pt(-50.0), pt(49.0)],
            envelope: vec![pt(0.0), pt(35.0)],
            ..Default::default()
        };
        assert!(panel_range(&emg).raw.is_none());
    }

    #[test]
    fn numbering_step_grows_when_crowded() {
        let items: Vec<(i32, String)> = (0..60).map(|n| (n * 26, (n + 1).to_string())).collect();
        let step = numbering_step(&items, |t| 11 * t.len() as i32);
        assert_eq!(step, 2);
        let sparse: Vec<(i32, String)> = (0..10).map(|n| (n * 100, (n + 1).to_string())).collect();
        assert_eq!(numbering_step(&sparse, |t| 11 * t.len() as i32), 1);
    }
}
