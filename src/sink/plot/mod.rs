//! The analysis report figure: one PNG a clinician can print.
//!
//! One panel per channel, stacked on a shared time axis. In each panel the conditioned signal is
//! drawn as a light min/max band (exact per pixel column, from a [`TraceDecimator`]), the envelope
//! (EMG moving RMS, or the zeroed pressure) as a strong line on top, the onset threshold and rest
//! level as dashed lines (step by step where the detector estimated its rest again), and
//! detected events as coloured shades (contractions numbered). A legend explains the colours.
//!
//! Everything is laid out in pixels by this module (ticks, labels, collisions) rather than by a
//! chart library, so the figure stays readable for recordings from seconds to hours. Fonts are
//! embedded (DejaVu Sans); no system font is needed.
//!
//! [`TraceDecimator`]: crate::sink::decimate::TraceDecimator

use crate::error::OutputError;
use crate::event::{ContractionEvent, EventKind};
use crate::sink::decimate::MinMaxPoint;
use plotters::backend::BitMapBackend;
use plotters::coord::Shift;
use plotters::drawing::{DrawingArea, IntoDrawingArea};
use plotters::element::{PathElement, Rectangle, Text};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{
    register_font, Color, FontDesc, FontFamily, FontStyle, FontTransform, RGBAColor, RGBColor,
    ShapeStyle, TextStyle,
};
use std::path::Path;
use std::sync::Once;

mod figure;
mod layout;
mod metrics;
mod png_file;
mod scale;
mod style;
mod text;

use figure::*;
use layout::*;
use scale::*;
use style::*;

pub use layout::PanelRange;
pub use png_file::{encode_png, write_png};
pub(crate) use scale::{format_value, nice_ticks};
pub use scale::{panel_range, MIN_SETTLE_S};
pub(crate) use style::{text_style, FRAME, GRID, INK, MUTED};
pub(crate) use text::{draw_text, text_width_px};

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
    /// The rest and onset threshold as they moved over the recording (a pressure baseline that
    /// crept or slipped, an EMG rest estimated again): drawn step by step in place of the two
    /// lines above when not empty, the first from the start of the plot.
    pub rest_steps: Vec<RestStep>,
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

/// The rest and onset threshold in force from `from_s` on (envelope scale).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RestStep {
    pub from_s: f64,
    pub rest: f64,
    pub onset_threshold: f64,
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

/// Registers the embedded fonts with plotters, once per process.
pub(crate) fn ensure_fonts() {
    static FONTS: Once = Once::new();
    FONTS.call_once(|| {
        // The embedded fonts are valid; if they were not, drawing text reports the error.
        let _ = register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
        let _ = register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
    });
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
