//! The report figure's style: sizes, colours, fonts.

#[allow(unused_imports)]
use super::*;

// ---------------------------------------------------------------------------------------------
// Style

pub(super) const WIDTH: u32 = 1800;
pub(super) const MARGIN_LEFT: i32 = 150;
pub(super) const MARGIN_RIGHT: i32 = 44;
pub(super) const MARGIN_RIGHT_SECONDARY: i32 = 130;
pub(super) const PANEL_H: i32 = 320;
pub(super) const PANEL_GAP: i32 = 22;
pub(super) const AXIS_H: i32 = 92;
pub(super) const MARKER_ROW_H: i32 = 22;

pub(super) const TITLE_PX: f64 = 34.0;
pub(super) const SUBTITLE_PX: f64 = 22.0;
pub(super) const LABEL_PX: f64 = 19.0;
pub(super) const TICK_PX: f64 = 18.0;
pub(super) const LEGEND_PX: f64 = 18.0;
pub(super) const NOTE_PX: f64 = 17.0;

pub(crate) const INK: RGBColor = RGBColor(33, 37, 41);
pub(crate) const MUTED: RGBColor = RGBColor(95, 102, 110);
pub(crate) const GRID: RGBColor = RGBColor(226, 229, 233);
pub(crate) const FRAME: RGBColor = RGBColor(160, 166, 173);
pub(super) const RAW_BAND: RGBColor = RGBColor(163, 184, 214);
pub(super) const RAW_AXIS: RGBColor = RGBColor(92, 118, 158);
pub(super) const ENVELOPE: RGBColor = RGBColor(16, 52, 138);
pub(super) const THRESHOLD: RGBColor = RGBColor(170, 40, 150);
pub(super) const REST: RGBColor = RGBColor(70, 70, 70);
pub(super) const MARKER: RGBColor = RGBColor(70, 45, 120);
pub(super) const TARGET: RGBColor = RGBColor(20, 140, 60);
pub(super) const CONTRACTION_TEXT: RGBColor = RGBColor(24, 105, 40);

pub(super) fn shade_color(kind: ShadeKind) -> RGBAColor {
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

pub(super) fn shade_name(kind: ShadeKind) -> &'static str {
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
pub(super) const SHADE_ORDER: [ShadeKind; 7] = [
    ShadeKind::Cue,
    ShadeKind::Gap,
    ShadeKind::Artifact,
    ShadeKind::AbdominalActivity,
    ShadeKind::Strain,
    ShadeKind::Cough,
    ShadeKind::Contraction,
];

pub(super) fn font(px: f64, bold: bool) -> FontDesc<'static> {
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
