//! `assessment.png`: the Glazer phase table beside the published normal values, or PERFECT, as
//! a figure a clinician can print. Laid out in pixels with the embedded DejaVu font.

use crate::error::OutputError;
use crate::session::glazer::GlazerRow;
use crate::session::perfect::Perfect;
use crate::session::run::SessionResult;
use crate::sink::plot::{write_png, RgbImage};
use crate::sink::session_report::{glazer_lines, perfect_lines, NOT_VALIDATED};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

const W: u32 = 1600;
const INK: RGBColor = RGBColor(33, 37, 41);
const MUTED: RGBColor = RGBColor(95, 102, 110);
const RULE: RGBColor = RGBColor(200, 205, 210);
const HEAD_BG: RGBColor = RGBColor(232, 240, 250);

fn style(px: f64, bold: bool, color: RGBColor) -> TextStyle<'static> {
    let f = if bold {
        FontDesc::new(FontFamily::SansSerif, px, FontStyle::Bold)
    } else {
        FontDesc::new(FontFamily::SansSerif, px, FontStyle::Normal)
    };
    f.color(&color).pos(Pos::new(HPos::Left, VPos::Top))
}

pub fn write_assessment_png(
    path: &Path,
    r: &SessionResult,
    glazer: Option<&[GlazerRow]>,
    perfect: Option<&Perfect>,
    title: &str,
) -> Result<(), OutputError> {
    crate::sink::plot::ensure_fonts();
    let perr = |m: String| OutputError::Plot {
        path: path.to_path_buf(),
        message: m,
    };
    let rows_g = glazer.map(glazer_lines).unwrap_or_default();
    let rows_p = perfect.map(perfect_lines).unwrap_or_default();
    let section = |n: usize, head: u32, tail: u32| {
        if n == 0 {
            0
        } else {
            head + 56 * n as u32 + tail
        }
    };
    let h = 130 + section(rows_g.len(), 56, 100) + section(rows_p.len(), 50, 10) + 60;
    // Drawn in memory and written as every report figure is (owner-only, under a temporary
    // name renamed into place).
    let mut data = vec![0u8; 3 * W as usize * h as usize];
    draw(&mut data, h, r, (&rows_g, &rows_p), title).map_err(perr)?;
    let image = RgbImage {
        width: W,
        height: h,
        data,
    };
    write_png(path, &image)
}

/// The figure, `h` pixels high, into `data` (RGB, [`W`] pixels a row).
fn draw(
    data: &mut [u8],
    h: u32,
    r: &SessionResult,
    (rows_g, rows_p): (&[[String; 8]], &[[String; 3]]),
    title: &str,
) -> Result<(), String> {
    let root = BitMapBackend::with_buffer(data, (W, h)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let t = |s: &str, x: i32, y: i32, st: TextStyle| {
        root.draw(&Text::new(s.to_string(), (x, y), st))
            .map_err(|e| e.to_string())
    };
    t(title, 40, 28, style(34.0, true, INK))?;
    let unit = r
        .scoring_channel
        .and_then(|c| r.spec.as_ref().map(|s| s.channels[c].unit.clone()))
        .unwrap_or_default();
    t(
        &format!(
            "{} · calibration: {} · amplitudes in {unit}",
            r.protocol.description, r.calibration_source
        ),
        40,
        76,
        style(20.0, false, MUTED),
    )?;
    let mut y = 130;
    if !rows_g.is_empty() {
        let cols = [40, 230, 380, 500, 640, 780, 1000, 1120];
        let heads = [
            "Phase",
            &format!("Mean ({unit})"),
            "CV %",
            &format!("Peak ({unit})"),
            "Mean %MVC",
            "Rise / recovery s *",
            "MF Hz *",
            "Normal (healthy)",
        ];
        root.draw(&Rectangle::new(
            [(30, y - 8), (W as i32 - 30, y + 40)],
            HEAD_BG.filled(),
        ))
        .map_err(|e| e.to_string())?;
        for (x, hd) in cols.iter().zip(heads.iter()) {
            t(hd, *x, y, style(21.0, true, INK))?;
        }
        y += 56;
        for row in rows_g {
            for (x, cell) in cols.iter().zip(row.iter()) {
                t(cell, *x, y, style(21.0, false, INK))?;
            }
            root.draw(&PathElement::new(
                vec![(30, y + 42), (W as i32 - 30, y + 42)],
                RULE,
            ))
            .map_err(|e| e.to_string())?;
            y += 56;
        }
        y += 10;
        for note in [
            "Normal: mean amplitude, 96 healthy nulliparous women, endovaginal probe (Oleksy 2020); %MVC: healthy medians, another probe (Med Sci Monit 2025).",
            "Absolute µV do not compare across devices and probes: compare %MVC and this patient's own trend.",
            "* research metrics: rise/recovery times and median frequency have poor day-to-day reliability (Oleksy 2021).",
        ] {
            t(note, 40, y, style(18.0, false, MUTED))?;
            y += 30;
        }
    }
    if !rows_p.is_empty() {
        t(
            "PERFECT (Laycock & Jerwood 2001)",
            40,
            y,
            style(26.0, true, INK),
        )?;
        y += 50;
        for row in rows_p {
            t(&row[0], 50, y, style(30.0, true, RGBColor(16, 52, 138)))?;
            t(&row[1], 110, y + 4, style(26.0, true, INK))?;
            t(&row[2], 300, y + 8, style(20.0, false, MUTED))?;
            root.draw(&PathElement::new(
                vec![(30, y + 46), (W as i32 - 30, y + 46)],
                RULE,
            ))
            .map_err(|e| e.to_string())?;
            y += 56;
        }
        y += 10;
    }
    t(
        &format!("Co-activation and failure thresholds: {NOT_VALIDATED}. Generated by knip."),
        40,
        y,
        style(18.0, false, MUTED),
    )?;
    root.present().map_err(|e| e.to_string())
}
