//! Detection on real recordings from public sources (`data/real/`, provenance and licences in
//! `data/README.md`), against what is documented about each.

use knip::analyze::analyze;
use knip::config::AnalysisConfig;
use knip::event::{ContractionEvent, EventKind};
use knip::source::csv_file::{read_anomanor_markers, CsvOptions};
use std::path::{Path, PathBuf};

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/real")
        .join(rel)
}

fn contractions(events: &[ContractionEvent]) -> Vec<&ContractionEvent> {
    events
        .iter()
        .filter(|e| e.kind == EventKind::Contraction)
        .collect()
}

fn run(file: &Path, opts: &CsvOptions, cfg: &AnalysisConfig) -> Vec<ContractionEvent> {
    let out = tempfile::tempdir().unwrap();
    let o = analyze(file, opts, cfg, out.path(), Vec::new()).expect("analysis runs");
    assert!(out.path().join("report.png").exists());
    o.events
}

/// emgGO's tutorial: "The EMG signal contains 56 muscle activations" (tibialis anterior, 250 Hz).
#[test]
fn emggo_tibialis_has_56_activations() {
    let events = run(
        &data("emggo_tibialis/normalized_emggo_tibialis.csv"),
        &CsvOptions::default(),
        &AnalysisConfig::default(),
    );
    let n = contractions(&events).len();
    assert!(
        (53..=59).contains(&n),
        "found {n} activations, documented 56 ± 3"
    );
}

/// The TUM hand-grasp envelopes carry hand-labelled activity peaks. Grasps are brief, so the
/// shortest contraction is lowered to 0.2 s (the pelvic default of 0.45 s is for squeezes).
#[test]
fn tum_labelled_peaks_fall_inside_detected_contractions() {
    let mut cfg = AnalysisConfig::default();
    cfg.detector.min_contraction_s = 0.2;
    let (mut peaks_total, mut peaks_found, mut detected, mut unlabelled) = (0, 0, 0, 0);
    for p in ["P1", "P12", "P13", "P14", "P15"] {
        let events = run(
            &data(&format!("tum_rms_labelled/normalized_tum_rms_{p}.csv")),
            &CsvOptions::default(),
            &cfg,
        );
        let c = contractions(&events);
        let labels = std::fs::read_to_string(data(&format!(
            "tum_rms_labelled/peaks_{p}_interactive_final.csv"
        )))
        .unwrap();
        let peaks: Vec<f64> = labels
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(3).unwrap().parse().unwrap())
            .collect();
        let inside = |t: f64, e: &ContractionEvent| e.onset_s - 0.3 <= t && t <= e.offset_s + 0.3;
        peaks_total += peaks.len();
        peaks_found += peaks
            .iter()
            .filter(|&&t| c.iter().any(|e| inside(t, e)))
            .count();
        detected += c.len();
        unlabelled += c
            .iter()
            .filter(|e| !peaks.iter().any(|&t| inside(t, e)))
            .count();
    }
    let recall = peaks_found as f64 / peaks_total as f64;
    let unlabelled_share = unlabelled as f64 / detected as f64;
    println!("TUM: {peaks_found}/{peaks_total} labelled peaks inside a detected contraction; {unlabelled}/{detected} contractions hold no labelled peak");
    assert!(recall >= 0.95, "recall {recall:.3}");
    assert!(
        unlabelled_share <= 0.12,
        "unlabelled share {unlabelled_share:.3}"
    );
}

/// Anorectal manometry (anomanor): clinicians marked where squeezes start. The squeeze pressure is
/// read as clinicians read it in high-resolution manometry, the highest of the anal-canal sensors
/// (columns `10` … `1`), and the detector calibrates on the marked `# Rest`.
#[test]
fn anomanor_squeezes_are_found_at_the_clinicians_markers() {
    let dir = tempfile::tempdir().unwrap();
    let (mut markers_total, mut markers_found) = (0, 0);
    for name in [
        "test1",
        "test2",
        "testduplicatesqueeze",
        "testnointerpolation",
        "testnolong",
        "testnorair",
    ] {
        let txt = data(&format!("anomanor_hram_pressure/{name}.txt"));
        let bytes = std::fs::read(&txt).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let mut csv = String::from("time_s,pressure\n");
        let mut t0 = None;
        for line in text.lines().skip(1) {
            if line.starts_with("Annotations") {
                break;
            }
            let v: Vec<f64> = line
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            if v.len() < 13 {
                continue;
            }
            t0.get_or_insert(v[0]);
            let canal_max = v[3..13].iter().cloned().fold(f64::MIN, f64::max);
            csv.push_str(&format!("{:.3},{canal_max:.2}\n", v[0]));
        }
        let path = dir.path().join(format!("{name}.csv"));
        std::fs::write(&path, csv).unwrap();
        let markers = read_anomanor_markers(&txt).unwrap();
        let mut cfg = AnalysisConfig::default();
        if let Some((rest, _)) = markers.iter().find(|(_, l)| l == "# Rest") {
            cfg.detector.calibration_skip_s = rest - t0.unwrap();
        }
        let opts = CsvOptions {
            pressure: Some("pressure".into()),
            ..Default::default()
        };
        let events = run(&path, &opts, &cfg);
        let c = contractions(&events);
        for (t, label) in markers.iter().filter(|(_, l)| l.contains("Squeeze")) {
            markers_total += 1;
            let found = c
                .iter()
                .any(|e| e.onset_s >= t - 2.0 && e.onset_s <= t + 4.0);
            markers_found += found as usize;
            println!(
                "{name}: {label} at {t:.1} s: {}",
                if found { "found" } else { "missed" }
            );
        }
    }
    println!("anomanor: squeezes found at {markers_found} of {markers_total} squeeze markers");
    assert_eq!(markers_total, 17);
    assert_eq!(markers_found, 17, "{markers_found} of {markers_total}");
}

/// BioSPPy's example recordings have no labels; what is plain to see in their traces is checked:
/// `emg_1`'s strong burst at 15.4–17 s is one contraction, `emg`'s strongest activity
/// (49–58 s) is inside one.
#[test]
fn biosppy_examples_show_their_visible_bursts() {
    let e1 = run(
        &data("biosppy_emg_1/normalized_biosppy_emg_1.csv"),
        &CsvOptions::default(),
        &AnalysisConfig::default(),
    );
    let c1 = contractions(&e1);
    assert!(
        c1.iter()
            .any(|e| (15.2..15.7).contains(&e.onset_s) && e.offset_s > 16.8),
        "{c1:?}"
    );
    let e0 = run(
        &data("biosppy_emg/normalized_biosppy_emg.csv"),
        &CsvOptions::default(),
        &AnalysisConfig::default(),
    );
    let c0 = contractions(&e0);
    assert!(
        c0.iter().any(|e| e.onset_s < 50.0 && e.offset_s > 57.0),
        "{c0:?}"
    );
    println!(
        "biosppy: emg {} contractions, emg_1 {} contractions",
        c0.len(),
        c1.len()
    );
}
