//! Horizontal metrics read from the embedded TrueType fonts (`cmap` format 4, `hhea`, `hmtx`):
//! enough to place glyphs with their side bearings.

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
