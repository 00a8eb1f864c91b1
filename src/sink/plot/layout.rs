//! Where everything of the report figure goes: panels, legend rows, the time range.

#[allow(unused_imports)]
use super::*;

// ---------------------------------------------------------------------------------------------
// Layout

pub(super) enum LegendSwatch {
    Band,
    Line,
    Dashed(RGBColor),
    Shade(ShadeKind),
    Marker,
}

pub(super) struct Layout {
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) plot_left: i32,
    pub(super) plot_right: i32,
    pub(super) legend: Vec<(LegendSwatch, String)>,
    pub(super) legend_top: i32,
    pub(super) legend_rows: Vec<Vec<usize>>,
    pub(super) panels_top: i32,
    pub(super) n_panels: usize,
    pub(super) t0: f64,
    pub(super) t1: f64,
    pub(super) minutes: bool,
    pub(super) ranges: Vec<PanelRange>,
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

pub(super) const LEGEND_ROW_H: i32 = 28;

impl Layout {
    pub(super) fn new(plot: &ReportPlot) -> Self {
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

    pub(super) fn panel_top(&self, i: usize) -> i32 {
        self.panels_top + i as i32 * (PANEL_H + PANEL_GAP)
    }

    pub(super) fn x_of(&self, t: f64) -> f64 {
        let w = (self.plot_right - self.plot_left) as f64;
        self.plot_left as f64 + (t - self.t0) / (self.t1 - self.t0) * w
    }

    /// Pixel column (0-based within the plot) containing time `t`, clamped.
    pub(super) fn col_of(&self, t: f64) -> i64 {
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
pub(super) fn time_range(plot: &ReportPlot) -> (f64, f64) {
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

pub(super) fn legend_items(plot: &ReportPlot) -> Vec<(LegendSwatch, String)> {
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

pub(super) const SWATCH_W: i32 = 34;
pub(super) const LEGEND_SPACING: i32 = 30;

/// Width of a legend entry.
pub(super) fn legend_item_width(label: &str) -> i32 {
    SWATCH_W + 8 + text_width_estimate(label, LEGEND_PX)
}

/// Width of a text in the regular face, from the font's metrics (or ~0.58 em per character
/// if the font cannot be read).
pub(super) fn text_width_estimate(s: &str, px: f64) -> i32 {
    match metrics::get(false) {
        Some(m) => (m.width_units(s) as f64 * m.px_per_unit(px)).ceil() as i32,
        None => (s.chars().count() as f64 * px * 0.58).ceil() as i32,
    }
}

pub(super) fn wrap_legend(items: &[(LegendSwatch, String)], max_w: i32) -> Vec<Vec<usize>> {
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
