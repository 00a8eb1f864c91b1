//! The report PNG: synthetic sessions through the decimator into a figure, read back and checked.
//! Also writes `/tmp/plot_example.png`, `/tmp/plot_example_long.png` and
//! `/tmp/plot_example_startup.png` for a look by eye.

use knip::error::OutputError;
use knip::sink::decimate::{MinMaxPoint, TraceDecimator};
use knip::sink::plot::{
    panel_range, render_report_rgb, write_report_png, PlotChannel, ReportPlot, RestStep, RgbImage,
    Shade, ShadeKind,
};
use std::path::Path;

/// xorshift64*, so the test needs no dependency.
struct Rng(u64);
impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Roughly normal (sum of uniforms).
    fn normal(&mut self) -> f64 {
        (0..4).map(|_| self.uniform()).sum::<f64>() * 1.732 - 3.464
    }
}

/// Smooth 0→1→0 activation for a window (raised-cosine edges).
fn activation(t: f64, on: f64, off: f64, edge: f64) -> f64 {
    if t < on - edge || t > off + edge {
        0.0
    } else if t < on {
        0.5 - 0.5 * (std::f64::consts::PI * (t - on + edge) / edge).cos()
    } else if t > off {
        0.5 + 0.5 * (std::f64::consts::PI * (t - off) / edge).cos()
    } else {
        1.0
    }
}

struct Synth {
    duration_s: f64,
    contractions: Vec<(f64, f64)>,
    coughs: Vec<f64>,
    strains: Vec<(f64, f64)>,
    gap: Option<(f64, f64)>,
    /// A start-up transient as a band-pass started from zero on a 3000 µV DC offset gives
    /// (decaying ringing over the first ~0.3 s), and pressure ramping up from 0.
    startup_transient: bool,
}

/// Builds a 3-channel session (PFM EMG, pressure, abdominal EMG) through the decimator, in chunks
/// as a live stream would deliver them.
fn synth_plot(s: &Synth, title: &str) -> ReportPlot {
    let emg_rate = 1000.0;
    let p_rate = 100.0;
    let n_emg = (s.duration_s * emg_rate) as u64;
    let n_p = (s.duration_s * p_rate) as u64;
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut decs: Vec<(TraceDecimator, TraceDecimator)> = (0..3)
        .map(|c| {
            let rate = if c == 1 { p_rate } else { emg_rate };
            (
                TraceDecimator::new(rate, 0.0, 4000),
                TraceDecimator::new(rate, 0.0, 4000),
            )
        })
        .collect();
    let in_gap = |t: f64| s.gap.is_some_and(|(a, b)| t >= a && t < b);
    let level = |t: f64, abd: bool| {
        let mut pfm = 0.0;
        for &(on, off) in &s.contractions {
            pfm += activation(t, on, off, 0.25);
        }
        let mut cough = 0.0;
        for &c in &s.coughs {
            cough += activation(t, c, c + 0.15, 0.08);
        }
        let mut strain = 0.0;
        for &(on, off) in &s.strains {
            strain += activation(t, on, off, 0.8);
        }
        if abd {
            0.12 * pfm + 4.0 * cough + 1.6 * strain
        } else {
            pfm + 3.0 * cough + 0.05 * strain
        }
    };
    // EMG: noise scaled by rest + activation; envelope = moving RMS over 100 ms.
    for (c, abd) in [(0usize, false), (2, true)] {
        let rest = if abd { 2.5 } else { 3.0 };
        let gain = if abd { 12.0 } else { 38.0 };
        let win = 100usize;
        let mut sq = std::collections::VecDeque::with_capacity(win);
        let mut sum_sq = 0.0;
        let chunk = 250u64;
        let mut raw = Vec::with_capacity(chunk as usize);
        let mut env = Vec::with_capacity(chunk as usize);
        let mut i = 0u64;
        while i < n_emg {
            raw.clear();
            env.clear();
            let start = i;
            for k in i..(i + chunk).min(n_emg) {
                let t = k as f64 / emg_rate;
                let mut x = (rest + gain * level(t, abd)) * rng.normal();
                // Mains hum residue on the abdominal channel and a motion spike on PFM.
                if abd {
                    x += 0.8 * (2.0 * std::f64::consts::PI * 1.2 * t).sin();
                } else if (t - 0.4 * s.duration_s).abs() < 0.004 {
                    x += 900.0;
                }
                if s.startup_transient && !abd {
                    x += 3000.0 * (-t / 0.04).exp() * (2.0 * std::f64::consts::PI * 12.0 * t).cos();
                }
                let x2 = x * x;
                sq.push_back(x2);
                sum_sq += x2;
                if sq.len() > win {
                    sum_sq -= sq.pop_front().unwrap_or(0.0);
                }
                raw.push(x);
                env.push((sum_sq.max(0.0) / sq.len() as f64).sqrt());
            }
            i = start + raw.len() as u64;
            let t = start as f64 / emg_rate;
            if !in_gap(t) {
                decs[c].0.push(start, &raw);
                decs[c].1.push(start, &env);
            }
        }
    }
    // Pressure: absolute probe pressure ~ 100 cmH2O + rise; zeroed = minus the rest baseline.
    {
        let chunk = 25u64;
        let mut raw = Vec::new();
        let mut zeroed = Vec::new();
        let mut i = 0u64;
        while i < n_p {
            raw.clear();
            zeroed.clear();
            let start = i;
            for k in i..(i + chunk).min(n_p) {
                let t = k as f64 / p_rate;
                let drift = 0.6 * (t / s.duration_s * 3.0).sin();
                let rise = 32.0 * level(t, false).min(1.5) + 28.0 * level(t, true) / 1.6 * 0.0;
                let strain_rise: f64 = s
                    .strains
                    .iter()
                    .map(|&(on, off)| 24.0 * activation(t, on, off, 0.8))
                    .sum();
                let mut v = 101.0 + drift + rise + strain_rise + 0.4 * rng.normal();
                if s.startup_transient {
                    v *= 1.0 - (-t / 0.08).exp();
                }
                raw.push(v);
                zeroed.push(v - 101.0 - drift);
            }
            i = start + raw.len() as u64;
            if !in_gap(start as f64 / p_rate) {
                decs[1].0.push(start, &raw);
                decs[1].1.push(start, &zeroed);
            }
        }
    }

    let mut shades = Vec::new();
    for &(on, off) in &s.contractions {
        shades.push(Shade {
            start_s: on - 0.1,
            end_s: off + 0.15,
            channel: Some(0),
            kind: ShadeKind::Contraction,
            label: None,
        });
        shades.push(Shade {
            start_s: on - 0.05,
            end_s: off + 0.2,
            channel: Some(1),
            kind: ShadeKind::Contraction,
            label: None,
        });
    }
    for &c in &s.coughs {
        shades.push(Shade {
            start_s: c - 0.1,
            end_s: c + 0.3,
            channel: None,
            kind: ShadeKind::Cough,
            label: Some("cough".into()),
        });
    }
    for &(on, off) in &s.strains {
        shades.push(Shade {
            start_s: on - 0.5,
            end_s: off + 0.5,
            channel: Some(1),
            kind: ShadeKind::Strain,
            label: Some("strain".into()),
        });
        shades.push(Shade {
            start_s: on - 0.5,
            end_s: off + 0.5,
            channel: Some(2),
            kind: ShadeKind::AbdominalActivity,
            label: None,
        });
    }
    if let Some((a, b)) = s.gap {
        shades.push(Shade {
            start_s: a,
            end_s: b,
            channel: None,
            kind: ShadeKind::Gap,
            label: Some("signal lost".into()),
        });
    }
    shades.push(Shade {
        start_s: 0.02 * s.duration_s,
        end_s: 0.025 * s.duration_s,
        channel: Some(0),
        kind: ShadeKind::Artifact,
        label: None,
    });
    for &(on, off) in s.contractions.iter().take(3) {
        shades.push(Shade {
            start_s: on - 0.6,
            end_s: off,
            channel: None,
            kind: ShadeKind::Cue,
            label: Some("squeeze".into()),
        });
    }

    let labels = [
        ("pfm_emg", "Pelvic floor EMG (µV)", Some(13.0), Some(3.0)),
        ("pressure", "Vaginal pressure (cmH₂O)", Some(6.0), Some(0.0)),
        ("abd_emg", "Abdominal EMG (µV)", Some(9.5), Some(2.5)),
    ];
    let channels = decs
        .into_iter()
        .zip(labels)
        .map(|((raw, env), (name, label, thr, rest))| PlotChannel {
            name: name.into(),
            label: label.into(),
            raw: raw.points(),
            envelope: env.points(),
            onset_threshold: thr,
            rest_level: rest,
            rest_steps: Vec::new(),
            targets: Vec::new(),
            settle_s: 0.0,
        })
        .collect();
    ReportPlot {
        title: title.into(),
        subtitle: format!(
            "{} contractions · mean hold 4.9 s · rest 3.1 µV · {} cough · {} strain",
            s.contractions.len(),
            s.coughs.len(),
            s.strains.len()
        ),
        channels,
        shades,
        duration_s: s.duration_s,
        markers: vec![
            (0.1 * s.duration_s, "start exercise".into()),
            (0.5 * s.duration_s, "patient moved".into()),
        ],
    }
}

fn short_session() -> ReportPlot {
    let contractions: Vec<(f64, f64)> = (0..12)
        .map(|k| (4.0 + k as f64 * 4.6, 6.6 + k as f64 * 4.6))
        .collect();
    synth_plot(
        &Synth {
            duration_s: 60.0,
            contractions,
            coughs: vec![58.3],
            strains: vec![(2.0, 3.4)],
            gap: Some((31.2, 31.9)),
            startup_transient: false,
        },
        "knip analysis — session.csv",
    )
}

fn long_session() -> ReportPlot {
    let mut contractions = Vec::new();
    let mut t = 60.0;
    while t < 3500.0 && contractions.len() < 60 {
        contractions.push((t, t + 5.0));
        t += if contractions.len() % 10 == 0 {
            170.0
        } else {
            40.0
        };
    }
    synth_plot(
        &Synth {
            duration_s: 3600.0,
            contractions,
            coughs: vec![900.0, 1805.0, 2710.0],
            strains: vec![(1200.0, 1212.0), (2400.0, 2410.0)],
            gap: Some((3000.0, 3030.0)),
            startup_transient: false,
        },
        "knip analysis — evening-session-long.csv",
    )
}

/// Width and height from the IHDR chunk, after checking the PNG signature.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.len() > 33, "too short for a PNG");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&bytes[16..20]), be(&bytes[20..24]))
}

fn count_pixels(img: &RgbImage, pred: impl Fn([u8; 3]) -> bool) -> usize {
    img.data
        .chunks_exact(3)
        .filter(|p| pred([p[0], p[1], p[2]]))
        .count()
}

fn is_white(p: [u8; 3]) -> bool {
    p == [255, 255, 255]
}

#[test]
fn short_session_png_is_complete() {
    let plot = short_session();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.png");
    write_report_png(&path, &plot).unwrap();
    // For a look by eye; best effort.
    let _ = std::fs::copy(&path, "/tmp/plot_example.png");
    let bytes = std::fs::read(&path).unwrap();
    let (w, h) = png_size(&bytes);
    assert_eq!(w, 1800);
    assert!((900..1600).contains(&h), "height {h}");
    assert!(
        bytes.len() > 60_000,
        "suspiciously small PNG: {}",
        bytes.len()
    );
    // No temporary file left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

    let img = render_report_rgb(&plot).unwrap();
    assert_eq!((img.width, img.height), (w, h));
    let n = (w * h) as usize;
    let non_white = count_pixels(&img, |p| !is_white(p));
    assert!(non_white > n / 20, "mostly blank: {non_white} of {n}");
    // Strong envelope colour and the green contraction shade are both present.
    let navy = count_pixels(&img, |p| p[2] > 110 && p[0] < 60 && p[1] < 90);
    assert!(navy > 2000, "envelope line missing: {navy}");
    let green = count_pixels(&img, |p| {
        let [r, g, b] = p.map(i32::from);
        g > r + 25 && g > b + 25
    });
    assert!(green > 5000, "contraction shades missing: {green}");
    // Contraction numbers are drawn in dark green text.
    let numbers = count_pixels(&img, |p| p == [24, 105, 40]);
    assert!(numbers > 100, "contraction numbers missing: {numbers}");
}

#[test]
fn long_session_png() {
    let plot = long_session();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.png");
    write_report_png(&path, &plot).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(png_size(&bytes).0, 1800);
    let img = render_report_rgb(&plot).unwrap();
    // The file holds the rendered pixels, and compresses as a figure should (rows predicted
    // from the pixels around them: under a tenth of the raw size; predicted from the left
    // alone it took a seventh).
    let mut reader = png::Decoder::new(std::io::Cursor::new(&bytes))
        .read_info()
        .unwrap();
    let mut decoded = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut decoded).unwrap();
    assert!(
        decoded[..info.buffer_size()] == img.data[..],
        "pixels differ"
    );
    assert!(
        bytes.len() > 30_000 && bytes.len() < img.data.len() / 10,
        "{} bytes for {} raw",
        bytes.len(),
        img.data.len()
    );
    let navy = count_pixels(&img, |p| p[2] > 110 && p[0] < 60 && p[1] < 90);
    assert!(navy > 2000, "envelope line missing: {navy}");
    // For a look by eye; best effort.
    let _ = std::fs::copy(&path, "/tmp/plot_example_long.png");
}

/// A 3000-µV start-up transient on the EMG and pressure rising from 0 (what unsettled filters
/// gave) must not set the y range: the contractions still fill a good share of each panel, and
/// the threshold and rest lines are inside it.
#[test]
fn startup_transient_does_not_flatten_the_contractions() {
    let contractions: Vec<(f64, f64)> = (0..6)
        .map(|k| (4.0 + k as f64 * 8.0, 9.0 + k as f64 * 8.0))
        .collect();
    let plot = synth_plot(
        &Synth {
            duration_s: 60.0,
            contractions,
            coughs: vec![55.0],
            strains: Vec::new(),
            gap: None,
            startup_transient: true,
        },
        "knip analysis — dc-offset.csv",
    );
    // The transient is in the data ...
    let emg = &plot.channels[0];
    let peak = emg.raw.iter().fold(0.0f64, |m, p| m.max(p.max.abs()));
    assert!(peak > 2000.0, "{peak}");
    // ... but the EMG panel is scaled to the contractions (envelope ≈ 41 µV, threshold 13).
    let r = panel_range(emg);
    let share = |v: f64| (v - r.lo) / (r.hi - r.lo);
    assert!(r.hi < 400.0, "{r:?}");
    assert!(share(41.0) > 0.4, "{r:?}");
    assert!(share(13.0) > share(3.0) && share(3.0) > 0.0 && share(13.0) < 1.0);
    // Pressure: the zeroed trace (0 … 32 cmH₂O) fills the panel; the raw scale starts near the
    // resting 101 cmH₂O, not at 0.
    let p = panel_range(&plot.channels[1]);
    let (raw_lo, raw_hi) = p.raw.expect("pressure has its own raw scale");
    assert!(raw_lo > 90.0 && raw_hi < 160.0, "{p:?}");
    assert!((32.0 - p.lo) / (p.hi - p.lo) > 0.6, "{p:?}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("startup.png");
    write_report_png(&path, &plot).unwrap();
    let _ = std::fs::copy(&path, "/tmp/plot_example_startup.png");
    let img = render_report_rgb(&plot).unwrap();
    let navy = count_pixels(&img, |p| p[2] > 110 && p[0] < 60 && p[1] < 90);
    assert!(navy > 2000, "envelope line missing: {navy}");
}

/// Rows of the image holding at least `min` pixels of `colour` between columns `x0` and `x1`.
fn rows_with(img: &RgbImage, colour: [u8; 3], x0: u32, x1: u32, min: usize) -> Vec<u32> {
    (0..img.height)
        .filter(|&y| {
            (x0..x1)
                .filter(|&x| img.pixel(x, y) == Some(colour))
                .count()
                >= min
        })
        .collect()
}

/// A pressure baseline that slipped up 8 cmH₂O half-way: the rest and threshold lines are drawn
/// where they were in force, not at the final values over the whole recording.
#[test]
fn rest_and_threshold_lines_follow_the_rest_as_it_moved() {
    let mut plot = short_session();
    let final_only = render_report_rgb(&plot).unwrap();
    plot.channels[1].rest_steps = vec![
        RestStep {
            from_s: 5.5,
            rest: 0.0,
            onset_threshold: 6.0,
        },
        RestStep {
            from_s: 30.0,
            rest: 8.0,
            onset_threshold: 14.0,
        },
    ];
    plot.channels[1].rest_level = Some(8.0);
    plot.channels[1].onset_threshold = Some(14.0);
    let stepped = render_report_rgb(&plot).unwrap();
    let _ = write_report_png(Path::new("/tmp/plot_example_rest_steps.png"), &plot);
    // The rest line's and the threshold line's colours (style.rs).
    let (rest, threshold) = ([70, 70, 70], [170, 40, 150]);
    let w = stepped.width;
    // Left and right of the step, clear of the legend and the axes.
    let (left, right) = ((w * 25 / 100, w * 45 / 100), (w * 60 / 100, w * 85 / 100));
    for colour in [rest, threshold] {
        let rows = |img: &RgbImage, (x0, x1): (u32, u32)| rows_with(img, colour, x0, x1, 40);
        // Without the steps the lines are the same on both sides ...
        assert_eq!(
            rows(&final_only, left),
            rows(&final_only, right),
            "{colour:?}"
        );
        // ... with them, the pressure panel's lines sit higher after the slip.
        let (before, after) = (rows(&stepped, left), rows(&stepped, right));
        let only_before: Vec<u32> = before
            .iter()
            .filter(|y| !after.contains(y))
            .copied()
            .collect();
        let only_after: Vec<u32> = after
            .iter()
            .filter(|y| !before.contains(y))
            .copied()
            .collect();
        assert!(
            !only_before.is_empty() && !only_after.is_empty(),
            "{colour:?}: {before:?} / {after:?}"
        );
        assert!(
            only_after.iter().max() < only_before.iter().min(),
            "{colour:?}"
        );
    }
}

fn pt(t_s: f64, min: f64, max: f64) -> MinMaxPoint {
    MinMaxPoint { t_s, min, max }
}

fn channel(raw: Vec<MinMaxPoint>, envelope: Vec<MinMaxPoint>) -> PlotChannel {
    PlotChannel {
        name: "pfm_emg".into(),
        label: "Pelvic floor EMG (µV)".into(),
        raw,
        envelope,
        onset_threshold: Some(5.0),
        rest_level: Some(f64::NAN),
        rest_steps: Vec::new(),
        targets: Vec::new(),
        settle_s: 0.0,
    }
}

#[test]
fn degenerate_inputs_do_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let shade = |start_s, end_s, channel| Shade {
        start_s,
        end_s,
        channel,
        kind: ShadeKind::Contraction,
        label: None,
    };
    let cases = [
        ReportPlot::default(),
        ReportPlot {
            title: "no channels".into(),
            duration_s: 10.0,
            shades: vec![shade(1.0, 2.0, None)],
            markers: vec![(5.0, "m".into())],
            ..Default::default()
        },
        ReportPlot {
            channels: vec![channel(vec![], vec![])],
            duration_s: 0.0,
            ..Default::default()
        },
        ReportPlot {
            channels: vec![channel(
                vec![pt(0.0, 1.0, 1.0), pt(1.0, 1.0, 1.0)],
                vec![pt(0.0, 1.0, 1.0)],
            )],
            duration_s: 2.0,
            ..Default::default()
        },
        ReportPlot {
            channels: vec![channel(
                vec![
                    pt(f64::NAN, 1.0, 2.0),
                    pt(0.5, f64::NAN, f64::NAN),
                    pt(1.0, f64::NEG_INFINITY, f64::INFINITY),
                    pt(2.0, 3.0, -3.0),
                ],
                vec![pt(0.0, f64::NAN, 1.0)],
            )],
            shades: vec![
                shade(f64::NAN, 1.0, Some(0)),
                shade(5.0, 1.0, Some(0)),
                shade(-100.0, 1e12, Some(7)),
                shade(0.5, 0.5, None),
            ],
            markers: vec![(f64::NAN, "nan".into()), (-5.0, "before".into())],
            duration_s: f64::NAN,
            ..Default::default()
        },
        ReportPlot {
            channels: vec![channel(
                vec![pt(0.0, 0.0, 1e300)],
                vec![pt(0.0, -1e-300, 1e-300)],
            )],
            duration_s: f64::INFINITY,
            ..Default::default()
        },
        ReportPlot {
            channels: vec![channel(
                vec![pt(-30.0, -1.0, 1.0), pt(100.0, -1.0, 1.0)],
                vec![],
            )],
            duration_s: 1e-9,
            ..Default::default()
        },
    ];
    for (k, plot) in cases.iter().enumerate() {
        let path = dir.path().join(format!("case{k}.png"));
        write_report_png(&path, plot).unwrap_or_else(|e| panic!("case {k}: {e}"));
        let (w, _) = png_size(&std::fs::read(&path).unwrap());
        assert_eq!(w, 1800, "case {k}");
    }
}

#[test]
fn unwritable_path_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing-dir").join("report.png");
    let err = write_report_png(&path, &ReportPlot::default()).unwrap_err();
    assert!(matches!(err, OutputError::Write { .. }), "{err:?}");
    assert!(err.to_string().contains("missing-dir"), "{err}");

    let err = write_report_png(Path::new("/"), &ReportPlot::default()).unwrap_err();
    assert!(matches!(err, OutputError::Plot { .. }), "{err:?}");
}

#[test]
fn any_extension_is_written_as_png() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.figure");
    write_report_png(&path, &short_session()).unwrap();
    png_size(&std::fs::read(&path).unwrap());
}
