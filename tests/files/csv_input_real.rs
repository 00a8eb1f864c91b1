//! CsvSource on every real recording in `data/real/`, and the anomanor marker parser.

use knip::frame::{Role, SignalKind};
use knip::source::csv_file::{read_anomanor_markers, CsvOptions, CsvSource};
use knip::source::Source;
use std::path::{Path, PathBuf};

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/real")
        .join(rel)
}

/// Opens, streams to the end, returns (source, samples of channel 0, number of channels).
fn stream(rel: &str, opts: &CsvOptions) -> (CsvSource, Vec<f64>) {
    let path = data(rel);
    let mut src = CsvSource::open(&path, opts).unwrap_or_else(|e| panic!("{e}"));
    let mut v = Vec::new();
    while let Some(b) = src.next_block().unwrap_or_else(|e| panic!("{e}")) {
        for c in &b.chunks[1..] {
            assert_eq!(c.samples.len(), b.chunks[0].samples.len());
        }
        v.extend_from_slice(&b.chunks[0].samples);
    }
    (src, v)
}

fn close(a: f64, b: f64, rel_tol: f64) -> bool {
    ((a - b) / b).abs() <= rel_tol
}

#[test]
fn emggo_tibialis_250hz() {
    let (src, v) = stream(
        "emggo_tibialis/normalized_emggo_tibialis.csv",
        &CsvOptions::default(),
    );
    let ch = &src.spec().channels[0];
    assert_eq!(src.spec().channels.len(), 1);
    assert_eq!((ch.role, ch.kind), (Role::PfmEmg, SignalKind::Raw));
    assert_eq!(ch.name, "tibialis_anterior");
    assert_eq!(ch.rate_hz, 250.0);
    assert_eq!(v.len(), 137_420);
    assert_eq!(v[0], 121.476);
    assert_eq!(src.spec().start_time_s, 0.0);
}

#[test]
fn biosppy_1000hz() {
    for (rel, n) in [
        ("biosppy_emg/normalized_biosppy_emg.csv", 100_000),
        ("biosppy_emg_1/normalized_biosppy_emg_1.csv", 63_880),
    ] {
        let (src, v) = stream(rel, &CsvOptions::default());
        let ch = &src.spec().channels[0];
        assert_eq!(ch.rate_hz, 1000.0, "{rel}");
        assert_eq!(ch.unit, "ADC counts", "{rel}");
        assert_eq!(ch.kind, SignalKind::Raw);
        assert_eq!(v.len(), n, "{rel}");
        assert!(src.warnings().is_empty(), "{rel}: {:?}", src.warnings());
    }
}

#[test]
fn tum_rms_envelopes() {
    for (name, n, rate) in [
        ("P1", 7447, 34.81),
        ("P12", 6979, 34.81),
        ("P13", 6678, 34.81),
        ("P14", 7384, 34.81),
        ("P15", 6876, 34.81),
        ("ALS_block3", 2101, 27.916),
    ] {
        let rel = format!("tum_rms_labelled/normalized_tum_rms_{name}.csv");
        let (src, v) = stream(&rel, &CsvOptions::default());
        let ch = &src.spec().channels[0];
        assert_eq!(ch.kind, SignalKind::Envelope, "{rel}");
        assert_eq!(ch.role, Role::PfmEmg);
        assert!(close(ch.rate_hz, rate, 1e-9), "{rel}: {}", ch.rate_hz);
        assert_eq!(v.len(), n, "{rel}");
        assert!(
            v.iter().all(|x| *x >= 0.0),
            "an RMS envelope is never negative"
        );
    }
}

#[test]
fn anomanor_pressure_sensor_columns() {
    for (name, n, step) in [
        ("test1", 679, 0.54),
        ("test2", 549, 0.83),
        ("testduplicatesqueeze", 1713, 0.17),
        ("testnointerpolation", 1640, 0.17),
        ("testnolong", 2270, 0.13),
        ("testnorair", 2108, 0.10),
    ] {
        let rel = format!("anomanor_hram_pressure/normalized_{name}.csv");
        let opts = CsvOptions {
            pressure: Some("4".into()),
            ..Default::default()
        };
        let (src, v) = stream(&rel, &opts);
        assert_eq!(src.spec().channels.len(), 1);
        let ch = &src.spec().channels[0];
        assert_eq!(
            (ch.role, ch.name.as_str()),
            (Role::Pressure, "4"),
            "by name, not number"
        );
        assert_eq!(ch.unit, "mmHg");
        assert!(
            close(ch.rate_hz, 1.0 / step, 1e-12),
            "{rel}: {}",
            ch.rate_hz
        );
        assert_eq!(v.len(), n, "{rel}");
        let w = src.warnings().join("\n");
        assert!(
            w.contains("approximate") && w.contains("index/rate"),
            "{rel}: {w}"
        );
    }
    // The first row of test1, sensor "4" (the 10th column).
    let (_, v) = stream(
        "anomanor_hram_pressure/normalized_test1.csv",
        &CsvOptions {
            pressure: Some("4".into()),
            ..Default::default()
        },
    );
    assert_eq!(v[0], 10.73);
    // Without a flag there are 12 candidate columns: a clear error.
    let e = CsvSource::open(
        &data("anomanor_hram_pressure/normalized_test1.csv"),
        &CsvOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("B1") && e.contains("--pressure"), "{e}");
}

#[test]
fn anomanor_raw_export_reads_up_to_annotations() {
    // The original tab-separated export: `ZEIT:` column, markers after `Annotations:`.
    let opts = CsvOptions {
        pressure: Some("4".into()),
        ..Default::default()
    };
    let (src, v) = stream("anomanor_hram_pressure/testduplicatesqueeze.txt", &opts);
    assert_eq!(v.len(), 1713);
    assert_eq!(src.spec().start_time_s, 31.83);
    assert!(close(src.spec().channels[0].rate_hz, 1.0 / 0.17, 1e-12));
    assert_eq!(v[0], 51.64);
}

#[test]
fn anomanor_markers() {
    let m = read_anomanor_markers(&data("anomanor_hram_pressure/test1.txt")).unwrap();
    assert_eq!(m.len(), 17);
    assert_eq!(m[0], (40.91, "# Rest".to_string()));
    assert_eq!(m[1], (52.26, "# Squeeze 1".to_string()));
    assert_eq!(m[3], (92.07, "# Long Squeeze".to_string()));
    assert!(m.contains(&(111.96, "# Cough".to_string())));
    assert!(m.contains(&(213.25, "# Push 1".to_string())));
    assert_eq!(m[16], (349.75, "Urge".to_string()));

    // Latin-1 labels, and every file has squeezes.
    let m =
        read_anomanor_markers(&data("anomanor_hram_pressure/testduplicatesqueeze.txt")).unwrap();
    assert!(
        m.iter()
            .any(|(_, l)| l == "Ballonvolumen für nächste Befüllung30 cc"),
        "{m:?}"
    );
    assert_eq!(m.iter().filter(|(_, l)| l == "# Squeeze 2").count(), 2);
    for f in ["test2", "testnolong", "testnorair", "testnointerpolation"] {
        let m = read_anomanor_markers(&data(&format!("anomanor_hram_pressure/{f}.txt"))).unwrap();
        assert!(m.iter().any(|(_, l)| l == "# Squeeze 1"), "{f}: {m:?}");
    }
    // -1 (not done) is returned as stored.
    let m = read_anomanor_markers(&data("anomanor_hram_pressure/testnorair.txt")).unwrap();
    assert_eq!(m.last(), Some(&(-1.0, "# RAIR".to_string())));
}

#[test]
fn markers_errors() {
    let e = read_anomanor_markers(&data("emggo_tibialis/normalized_emggo_tibialis.csv"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("normalized_emggo_tibialis.csv") && e.contains("Annotations:"),
        "{e}"
    );
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.txt");
    std::fs::write(
        &p,
        "TIME:\tB1\n0.0\t1\nAnnotations:\n 1.5\t# Rest\nabc\t# Squeeze 1\n",
    )
    .unwrap();
    let e = read_anomanor_markers(&p).unwrap_err().to_string();
    assert!(e.contains("m.txt, line 5") && e.contains("\"abc\""), "{e}");
}
