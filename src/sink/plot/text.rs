//! Text placed glyph by glyph with the embedded font's metrics.

#[allow(unused_imports)]
use super::*;

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
