//! `progress.png`: a patient's training over weeks, one panel per measure on a shared calendar
//! axis that always reaches the six-month maintenance horizon (so a clinician sees how far along
//! the patient is): squeezes per day against the goal of 30, sessions per day and the streak,
//! hold time, %MVC, co-activation rate and rest level. Daily values are dots or bars; the
//! weekly mean is the line. Laid out in pixels with the report figure's embedded fonts.

use crate::error::OutputError;
use crate::progress::daily::{
    DayRow, DAILY_SESSION_GOAL, DAILY_SQUEEZE_GOAL, MAINTENANCE_HORIZON_DAYS,
};
use crate::sink::plot::{
    draw_text, ensure_fonts, format_value, nice_ticks, text_style, text_width_px, write_png,
    DrawError, RgbImage, FRAME, GRID, INK, MUTED,
};
use chrono::Duration;
use plotters::backend::BitMapBackend;
use plotters::coord::Shift;
use plotters::drawing::{DrawingArea, IntoDrawingArea};
use plotters::element::{Circle, PathElement, Rectangle};
use plotters::style::text_anchor::{HPos, VPos};
use plotters::style::{Color, RGBColor, ShapeStyle};
use std::path::Path;

const WIDTH: u32 = 1800;
const LEFT: i32 = 130;
const RIGHT: i32 = 1800 - 120;
const TOP: i32 = 150;
const PANEL_H: i32 = 230;
const GAP: i32 = 58;
const AXIS_H: i32 = 90;

const GOOD: RGBColor = RGBColor(56, 158, 80);
const BAR: RGBColor = RGBColor(120, 160, 215);
const LINE: RGBColor = RGBColor(16, 52, 138);
const DOT: RGBColor = RGBColor(92, 130, 190);
const LIGHT_DOT: RGBColor = RGBColor(170, 190, 220);
const GOAL: RGBColor = RGBColor(170, 40, 150);
const STREAK: RGBColor = RGBColor(230, 120, 20);
const HORIZON: RGBColor = RGBColor(70, 45, 120);
const FUTURE: RGBColor = RGBColor(244, 245, 247);

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

fn de<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> DrawError {
    move |e| DrawError(format!("{what}: {e}"))
}

/// What the figure needs besides the day rows.
#[derive(Debug, Clone)]
pub struct ProgressPlot<'a> {
    pub patient_id: &'a str,
    pub days: &'a [DayRow],
}

struct Frame<'a, 'b> {
    root: &'b Area<'a>,
    /// Calendar days on the axis (day 0 = first session's day).
    total_days: f64,
}

impl Frame<'_, '_> {
    fn x(&self, day0: f64) -> f64 {
        LEFT as f64 + day0 / self.total_days * (RIGHT - LEFT) as f64
    }
    fn rect(&self, x0: i32, y0: i32, x1: i32, y1: i32, s: ShapeStyle) -> Result<(), DrawError> {
        self.root
            .draw(&Rectangle::new([(x0, y0), (x1, y1)], s))
            .map_err(de("rectangle"))
    }
    fn line(&self, pts: Vec<(i32, i32)>, c: RGBColor, w: u32) -> Result<(), DrawError> {
        self.root
            .draw(&PathElement::new(pts, c.stroke_width(w)))
            .map_err(de("line"))
    }
    fn dot(&self, x: i32, y: i32, r: i32, c: RGBColor) -> Result<(), DrawError> {
        self.root
            .draw(&Circle::new((x, y), r, c.filled()))
            .map_err(de("dot"))
    }
    fn dashed_h(&self, y: i32, x0: i32, x1: i32, c: RGBColor) -> Result<(), DrawError> {
        let mut x = x0;
        while x < x1 {
            self.rect(x, y - 1, (x + 12).min(x1), y + 1, c.filled())?;
            x += 20;
        }
        Ok(())
    }
    fn dashed_v(&self, x: i32, y0: i32, y1: i32, c: RGBColor) -> Result<(), DrawError> {
        let mut y = y0;
        while y < y1 {
            self.rect(x - 1, y, x + 1, (y + 10).min(y1), c.filled())?;
            y += 16;
        }
        Ok(())
    }
    fn text(
        &self,
        s: &str,
        pos: (i32, i32),
        px: f64,
        bold: bool,
        c: RGBColor,
        (h, v): (HPos, VPos),
    ) -> Result<(), DrawError> {
        draw_text(self.root, s, pos, text_style(px, bold, c, h, v))
    }
}

/// A panel's value range and scale.
struct Panel {
    top: i32,
    lo: f64,
    hi: f64,
}

impl Panel {
    fn y(&self, v: f64) -> i32 {
        let f = ((v - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0);
        (self.top as f64 + PANEL_H as f64 * (1.0 - f)).round() as i32
    }
}

/// Weekly mean of a daily value (days without a value left out); `zero_missing` counts days
/// without training as 0 (for counts per day).
fn weekly(days: &[DayRow], f: impl Fn(&DayRow) -> Option<f64>) -> Vec<(f64, f64)> {
    let weeks = days.iter().map(|d| d.week).max().unwrap_or(0);
    (1..=weeks)
        .filter_map(|w| {
            let v: Vec<f64> = days.iter().filter(|d| d.week == w).filter_map(&f).collect();
            let n_days = days.iter().filter(|d| d.week == w).count() as f64;
            (!v.is_empty()).then(|| {
                let centre = (w - 1) as f64 * 7.0 + n_days.min(7.0) / 2.0;
                (centre, v.iter().sum::<f64>() / v.len() as f64)
            })
        })
        .collect()
}

fn range_of(values: impl Iterator<Item = f64>, floor_zero: bool, min_hi: f64) -> (f64, f64) {
    let v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
    let hi = v.iter().cloned().fold(min_hi, f64::max);
    let lo = if floor_zero {
        0.0
    } else {
        v.iter().cloned().fold(hi, f64::min)
    };
    let pad = (hi - lo).max(1e-9) * 0.08;
    let lo = if floor_zero { 0.0 } else { (lo - pad).max(0.0) };
    let (ticks, _) = nice_ticks(lo, hi + pad, 4);
    let step = if ticks.len() >= 2 {
        ticks[1] - ticks[0]
    } else {
        (hi - lo).max(1.0)
    };
    (
        (lo / step).floor() * step,
        ((hi + pad) / step).ceil() * step,
    )
}

/// Renders the figure.
pub fn render_progress_rgb(p: &ProgressPlot<'_>) -> Result<RgbImage, DrawError> {
    ensure_fonts();
    let n_panels = 6;
    let height = (TOP + n_panels * (PANEL_H + GAP) + AXIS_H) as u32;
    let mut data = vec![0u8; 3 * WIDTH as usize * height as usize];
    {
        let root = BitMapBackend::with_buffer(&mut data, (WIDTH, height)).into_drawing_area();
        root.fill(&RGBColor(255, 255, 255)).map_err(de("fill"))?;
        let last_day = p.days.len() as f64;
        let total_days = last_day.max(MAINTENANCE_HORIZON_DAYS as f64 + 10.0);
        let f = Frame {
            root: &root,
            total_days,
        };
        draw_figure(&f, p, height)?;
        root.present().map_err(de("finishing the image"))?;
    }
    Ok(RgbImage {
        width: WIDTH,
        height,
        data,
    })
}

fn draw_figure(f: &Frame<'_, '_>, p: &ProgressPlot<'_>, height: u32) -> Result<(), DrawError> {
    let days = p.days;
    let trained = days.iter().filter(|d| d.sessions > 0).count();
    let sessions: u32 = days.iter().map(|d| d.sessions).sum();
    let goal_days = days.iter().filter(|d| d.goal_met).count();
    let longest = days.iter().map(|d| d.streak_days).max().unwrap_or(0);
    let current = days.last().map(|d| d.streak_days).unwrap_or(0);
    f.text(
        &format!("knip progress — patient {}", p.patient_id),
        (LEFT - 100, 22),
        34.0,
        true,
        INK,
        (HPos::Left, VPos::Top),
    )?;
    let span = match (days.first(), days.last()) {
        (Some(a), Some(b)) => format!("{} to {}", a.date, b.date),
        _ => "no sessions".into(),
    };
    f.text(
        &format!(
            "{span} · {sessions} sessions on {trained} of {} days · goal of {DAILY_SQUEEZE_GOAL} \
             squeezes met on {goal_days} days · longest streak {longest} days, current {current}",
            days.len()
        ),
        (LEFT - 100, 68),
        22.0,
        false,
        MUTED,
        (HPos::Left, VPos::Top),
    )?;
    f.text(
        "Bars and dots: each day · line: weekly mean · shaded: after the last session · \
         co-activation flags are not validated",
        (LEFT - 100, 104),
        18.0,
        false,
        MUTED,
        (HPos::Left, VPos::Top),
    )?;

    let d0 = |d: &DayRow| (d.day - 1) as f64;
    let panels_bottom = TOP + 6 * (PANEL_H + GAP) - GAP;
    let hx = f.x(MAINTENANCE_HORIZON_DAYS as f64).round() as i32;
    let last_x = f.x(days.len() as f64).round() as i32;

    for (i, title) in [
        format!("Valid squeezes per day (holds ≥ 5 s) — goal {DAILY_SQUEEZE_GOAL}"),
        format!("Sessions per day (goal {DAILY_SESSION_GOAL}) and training streak"),
        "Hold time (s): daily mean, daily longest".to_string(),
        "%MVC: hold level and peak · top marks: guided session, P = PERFECT, G = Glazer"
            .to_string(),
        "Squeezes with abdominal co-activation (%)".to_string(),
        format!(
            "Pelvic-floor rest level ({})",
            days.iter()
                .find_map(|d| d.rest_unit.clone())
                .unwrap_or_else(|| "units".into())
                .replace("uV", "µV")
        ),
    ]
    .iter()
    .enumerate()
    {
        let top = TOP + i as i32 * (PANEL_H + GAP);
        let bottom = top + PANEL_H;
        let (lo, hi) = match i {
            0 => range_of(
                days.iter().map(|d| d.valid_squeezes as f64),
                true,
                DAILY_SQUEEZE_GOAL as f64 * 1.25,
            ),
            1 => range_of(
                days.iter().map(|d| d.sessions as f64),
                true,
                DAILY_SESSION_GOAL as f64 + 1.0,
            ),
            2 => range_of(
                days.iter()
                    .filter_map(|d| d.longest_hold_s.or(d.mean_hold_s)),
                true,
                6.0,
            ),
            3 => range_of(
                days.iter()
                    .flat_map(|d| [d.mean_pct_mvc, d.peak_pct_mvc])
                    .flatten(),
                true,
                100.0,
            ),
            4 => range_of(days.iter().filter_map(|d| d.coactivation_pct), true, 20.0),
            _ => range_of(days.iter().filter_map(|d| d.rest_level), true, 1.0),
        };
        let panel = Panel { top, lo, hi };
        // Future (no data yet) and frame.
        if last_x < RIGHT {
            f.rect(last_x, top, RIGHT, bottom, FUTURE.filled())?;
        }
        let (ticks, decimals) = nice_ticks(lo, hi, 4);
        for t in &ticks {
            let y = panel.y(*t);
            f.rect(LEFT, y, RIGHT, y, GRID.stroke_width(1))?;
            f.text(
                &format_value(*t, decimals),
                (LEFT - 10, y),
                18.0,
                false,
                INK,
                (HPos::Right, VPos::Center),
            )?;
        }
        // Week grid.
        let mut w = 0.0;
        while w <= f.total_days {
            let x = f.x(w).round() as i32;
            f.rect(x, top, x, bottom, GRID.stroke_width(1))?;
            w += 14.0;
        }
        f.text(
            title,
            (LEFT, top - 10),
            20.0,
            true,
            INK,
            (HPos::Left, VPos::Bottom),
        )?;
        let bar_w = ((RIGHT - LEFT) as f64 / f.total_days * 0.72).max(1.0);
        let bar = |day: f64, v: f64, c: RGBColor| -> Result<(), DrawError> {
            if v <= 0.0 {
                return Ok(());
            }
            let xc = f.x(day + 0.5);
            f.rect(
                (xc - bar_w / 2.0).round() as i32,
                panel.y(v),
                (xc + bar_w / 2.0).round() as i32,
                panel.y(lo),
                c.filled(),
            )
        };
        let weekly_line = |pts: Vec<(f64, f64)>| -> Result<(), DrawError> {
            let px: Vec<(i32, i32)> = pts
                .iter()
                .map(|(d, v)| (f.x(*d).round() as i32, panel.y(*v)))
                .collect();
            if px.len() >= 2 {
                f.line(px.clone(), LINE, 3)?;
            }
            for (x, y) in px {
                f.dot(x, y, 4, LINE)?;
            }
            Ok(())
        };
        match i {
            0 => {
                for d in days {
                    let c = if d.goal_met { GOOD } else { BAR };
                    bar(d0(d), d.valid_squeezes as f64, c)?;
                }
                let y = panel.y(DAILY_SQUEEZE_GOAL as f64);
                f.dashed_h(y, LEFT, RIGHT, GOAL)?;
                f.text(
                    &format!("goal {DAILY_SQUEEZE_GOAL} a day"),
                    (RIGHT - 8, y - 4),
                    17.0,
                    true,
                    GOAL,
                    (HPos::Right, VPos::Bottom),
                )?;
                weekly_line(weekly(days, |d| Some(d.valid_squeezes as f64)))?;
                legend(
                    f,
                    top,
                    &[
                        (GOOD, "goal met"),
                        (BAR, "below goal"),
                        (LINE, "weekly mean per day"),
                    ],
                )?;
            }
            1 => {
                for d in days {
                    bar(d0(d), d.sessions as f64, BAR)?;
                }
                let y = panel.y(DAILY_SESSION_GOAL as f64);
                f.dashed_h(y, LEFT, RIGHT, GOAL)?;
                f.text(
                    &format!("goal {DAILY_SESSION_GOAL} a day"),
                    (RIGHT - 8, y - 4),
                    17.0,
                    true,
                    GOAL,
                    (HPos::Right, VPos::Bottom),
                )?;
                // Streak on its own (right) scale.
                let max_streak = days.iter().map(|d| d.streak_days).max().unwrap_or(0) as f64;
                let (slo, shi) = range_of(std::iter::once(max_streak), true, 7.0);
                let sp = Panel {
                    top,
                    lo: slo,
                    hi: shi,
                };
                let pts: Vec<(i32, i32)> = days
                    .iter()
                    .map(|d| (f.x(d0(d) + 0.5).round() as i32, sp.y(d.streak_days as f64)))
                    .collect();
                f.line(pts, STREAK, 3)?;
                let (sticks, sdec) = nice_ticks(slo, shi, 4);
                for t in sticks {
                    f.text(
                        &format!("{} d", format_value(t, sdec)),
                        (RIGHT + 8, sp.y(t)),
                        17.0,
                        false,
                        STREAK,
                        (HPos::Left, VPos::Center),
                    )?;
                }
                legend(
                    f,
                    top,
                    &[(BAR, "sessions"), (STREAK, "streak, days (right scale)")],
                )?;
            }
            2 => {
                for d in days {
                    if let Some(v) = d.longest_hold_s {
                        f.dot(f.x(d0(d) + 0.5).round() as i32, panel.y(v), 3, LIGHT_DOT)?;
                    }
                    if let Some(v) = d.mean_hold_s {
                        f.dot(f.x(d0(d) + 0.5).round() as i32, panel.y(v), 3, DOT)?;
                    }
                }
                let y = panel.y(5.0);
                f.dashed_h(y, LEFT, RIGHT, GOAL)?;
                f.text(
                    "5-s hold",
                    (RIGHT - 8, y - 4),
                    17.0,
                    true,
                    GOAL,
                    (HPos::Right, VPos::Bottom),
                )?;
                weekly_line(weekly(days, |d| d.mean_hold_s))?;
                legend(
                    f,
                    top,
                    &[
                        (DOT, "daily mean"),
                        (LIGHT_DOT, "daily longest"),
                        (LINE, "weekly mean"),
                    ],
                )?;
            }
            _ => {
                let get = |d: &DayRow| match i {
                    3 => d.mean_pct_mvc,
                    4 => d.coactivation_pct,
                    _ => d.rest_level,
                };
                for d in days {
                    if let Some(v) = get(d) {
                        f.dot(f.x(d0(d) + 0.5).round() as i32, panel.y(v), 3, DOT)?;
                    }
                }
                weekly_line(weekly(days, get))?;
                if i == 3 {
                    for d in days {
                        let x = f.x(d0(d) + 0.5).round() as i32;
                        if let Some(v) = d.peak_pct_mvc {
                            f.dot(x, panel.y(v), 3, LIGHT_DOT)?;
                        }
                        if d.guided_sessions > 0 {
                            f.rect(x - 2, top + 2, x + 2, top + 10, LINE.filled())?;
                        }
                        let marks = [
                            d.perfect.as_ref().map(|_| "P"),
                            d.glazer.as_ref().map(|_| "G"),
                        ]
                        .into_iter()
                        .flatten()
                        .collect::<String>();
                        if !marks.is_empty() {
                            f.text(
                                &marks,
                                (x, top + 12),
                                16.0,
                                true,
                                INK,
                                (HPos::Center, VPos::Top),
                            )?;
                        }
                    }
                }
                let no_values = if i == 3 {
                    days.iter()
                        .all(|d| get(d).is_none() && d.peak_pct_mvc.is_none())
                } else {
                    days.iter().all(|d| get(d).is_none())
                };
                if no_values {
                    f.text(
                        "no values (no calibration or no channel for it)",
                        ((LEFT + RIGHT) / 2, top + PANEL_H / 2),
                        19.0,
                        false,
                        MUTED,
                        (HPos::Center, VPos::Center),
                    )?;
                }
                if i == 3 {
                    legend(
                        f,
                        top,
                        &[
                            (DOT, "daily level"),
                            (LIGHT_DOT, "daily peak"),
                            (LINE, "weekly mean"),
                        ],
                    )?;
                } else {
                    legend(f, top, &[(DOT, "daily"), (LINE, "weekly mean")])?;
                }
            }
        }
        f.rect(LEFT, top, RIGHT, bottom, FRAME.stroke_width(1))?;
    }

    // Six-month maintenance horizon across every panel.
    f.dashed_v(hx, TOP - 6, panels_bottom, HORIZON)?;
    f.text(
        "6 months: maintenance horizon",
        (hx - 8, TOP - 34),
        18.0,
        true,
        HORIZON,
        (HPos::Right, VPos::Bottom),
    )?;

    // Calendar axis: every second week, week number and date.
    let first = days.first().map(|d| d.date);
    let mut w = 0i64;
    while (w as f64) <= f.total_days {
        let x = f.x(w as f64).round() as i32;
        f.rect(x, panels_bottom, x, panels_bottom + 6, INK.filled())?;
        f.text(
            &format!("week {}", w / 7 + 1),
            (x, panels_bottom + 10),
            17.0,
            false,
            INK,
            (HPos::Center, VPos::Top),
        )?;
        if let Some(d) = first.map(|f| f + Duration::days(w)) {
            f.text(
                &d.format("%-d %b").to_string(),
                (x, panels_bottom + 32),
                16.0,
                false,
                MUTED,
                (HPos::Center, VPos::Top),
            )?;
        }
        w += 14;
    }
    let _ = height;
    Ok(())
}

/// A small legend at the top right of a panel.
fn legend(f: &Frame<'_, '_>, top: i32, items: &[(RGBColor, &str)]) -> Result<(), DrawError> {
    let mut x = RIGHT;
    for (c, label) in items.iter().rev() {
        let w = text_width_px(label, 17.0, false);
        x -= w;
        f.text(
            label,
            (x, top - 10),
            17.0,
            false,
            INK,
            (HPos::Left, VPos::Bottom),
        )?;
        x -= 22;
        f.rect(x, top - 24, x + 14, top - 12, c.filled())?;
        x -= 22;
    }
    Ok(())
}

/// Writes `progress.png`.
pub fn write_progress_png(path: &Path, p: &ProgressPlot<'_>) -> Result<(), OutputError> {
    let image = render_progress_rgb(p).map_err(|e| OutputError::Plot {
        path: path.to_path_buf(),
        message: e.0,
    })?;
    write_png(path, &image)
}
