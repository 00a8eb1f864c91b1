//! Drawing the report figure: header, panels, shades, markers, the time axis.

#[allow(unused_imports)]
use super::*;

pub(super) type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

pub(super) struct Figure<'a, 'p> {
    pub(super) root: Area<'a>,
    pub(super) layout: Layout,
    pub(super) plot: &'p ReportPlot,
}

pub(super) fn de<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> DrawError {
    move |e| DrawError(format!("{what}: {e}"))
}

/// Per pixel column min/max of a trace.
pub(super) struct Columns {
    pub(super) lo: Vec<f64>,
    pub(super) hi: Vec<f64>,
}

impl Columns {
    pub(super) fn has(&self, c: usize) -> bool {
        self.lo[c] <= self.hi[c]
    }
}

impl<'a> Figure<'a, '_> {
    pub(super) fn draw(&mut self) -> Result<(), DrawError> {
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

    pub(super) fn text(
        &self,
        s: &str,
        pos: (i32, i32),
        style: TextStyle<'_>,
    ) -> Result<(), DrawError> {
        draw_text(&self.root, s, pos, style)
    }

    pub(super) fn text_width(&self, s: &str, px: f64, bold: bool) -> i32 {
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
    pub(super) fn rect(
        &self,
        x0: i32,
        y0: i32,
        x1: i32,
        y1: i32,
        style: ShapeStyle,
    ) -> Result<(), DrawError> {
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

    pub(super) fn line(
        &self,
        points: Vec<(i32, i32)>,
        color: RGBAColor,
        width: u32,
    ) -> Result<(), DrawError> {
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

    pub(super) fn dashed_hline(
        &self,
        y: i32,
        x0: i32,
        x1: i32,
        color: RGBColor,
    ) -> Result<(), DrawError> {
        let mut x = x0;
        while x < x1 {
            let xe = (x + 12).min(x1);
            self.rect(x, y - 1, xe, y, color.filled())?;
            x += 20;
        }
        Ok(())
    }

    pub(super) fn draw_header(&self) -> Result<(), DrawError> {
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

    pub(super) fn draw_panel_frame(&self, i: usize) -> Result<(), DrawError> {
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

    pub(super) fn draw_time_grid(&self, i: usize) -> Result<(), DrawError> {
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

    pub(super) fn y_of(&self, i: usize, v: f64, lo: f64, hi: f64) -> f64 {
        let top = self.layout.panel_top(i) as f64;
        top + (hi - v) / (hi - lo) * PANEL_H as f64
    }

    pub(super) fn draw_panel(&self, i: usize) -> Result<(), DrawError> {
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

        // Threshold and rest lines (envelope scale), under the envelope: step by step as they
        // moved, or the values at the end.
        let steps: Vec<(i32, i32, [Option<f64>; 2])> = if ch.rest_steps.is_empty() {
            vec![(
                l.plot_left + 1,
                l.plot_right - 1,
                [ch.rest_level, ch.onset_threshold],
            )]
        } else {
            ch.rest_steps
                .iter()
                .enumerate()
                .map(|(k, s)| {
                    let xa = if k == 0 {
                        l.plot_left + 1
                    } else {
                        (l.x_of(s.from_s).round() as i32).max(l.plot_left + 1)
                    };
                    let xb = ch.rest_steps.get(k + 1).map_or(l.plot_right - 1, |n| {
                        (l.x_of(n.from_s).round() as i32).min(l.plot_right - 1)
                    });
                    (xa, xb, [Some(s.rest), Some(s.onset_threshold)])
                })
                .collect()
        };
        for (xa, xb, values) in steps {
            if xb <= xa {
                continue;
            }
            for (value, color) in values.into_iter().zip([REST, THRESHOLD]) {
                if let Some(v) = value.filter(|v| v.is_finite()) {
                    let y = self.y_of(i, v, range.lo, range.hi).round() as i32;
                    if y > top && y < bottom {
                        self.dashed_hline(y, xa, xb, color)?;
                    }
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

    pub(super) fn clamp_y(&self, i: usize, y: f64) -> f64 {
        let top = self.layout.panel_top(i) as f64;
        if y.is_nan() {
            return top;
        }
        y.clamp(top + 1.0, top + PANEL_H as f64 - 1.0)
    }

    /// Aggregates a trace into pixel columns. A bucket covers from its time to the next
    /// bucket's (at most the typical bucket width, so gaps stay empty).
    pub(super) fn columns(&self, points: &[MinMaxPoint]) -> Option<Columns> {
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

    pub(super) fn shades_on(&self, i: usize) -> impl Iterator<Item = &Shade> {
        self.plot
            .shades
            .iter()
            .filter(move |s| !matches!(s.channel, Some(c) if c != i))
            .filter(|s| s.start_s.is_finite() && s.end_s.is_finite() && s.end_s >= s.start_s)
    }

    /// Pixel span of a shade, clipped to the plot, at least 3 px wide so short coughs show.
    pub(super) fn shade_x(&self, s: &Shade) -> Option<(i32, i32)> {
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

    pub(super) fn draw_shades(&self, i: usize) -> Result<(), DrawError> {
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
    pub(super) fn hatch(&self, x0: i32, y0: i32, x1: i32, y1: i32) -> Result<(), DrawError> {
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
    pub(super) fn draw_shade_labels(&self, i: usize) -> Result<(), DrawError> {
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

    pub(super) fn draw_markers(&self) -> Result<(), DrawError> {
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

    pub(super) fn draw_time_axis(&self) -> Result<(), DrawError> {
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

/// The unit in a label's trailing parentheses: "Pelvic floor EMG (µV)" → "µV".
pub(super) fn unit_of(label: &str) -> Option<&str> {
    let inner = label.trim_end().strip_suffix(')')?;
    let open = inner.rfind('(')?;
    Some(&inner[open + 1..]).filter(|u| !u.is_empty())
}

/// Every how many contractions to print a number so that numbers do not overlap: 1, 2, 5, 10 …
pub(super) fn numbering_step(items: &[(i32, String)], width: impl Fn(&str) -> i32) -> usize {
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
