//! Vendor exports read from their own headers (OpenBCI GUI real excerpts, a real Shimmer
//! Consensys export, OpenSignals and Shimmer EMG files generated with the vendors' layout), and
//! bipolar derivations (`--pfm A-B`) in CSV, EDF and vendor files — through the real binary:
//! rates, units, channel names, `session.json`, the same contractions as the equivalent plain
//! CSV, lost samples counted exactly, `batch` and `export`.

use crate::cli_support::{knip, s, text};
use serde_json::Value;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/vendor")
        .join(rel)
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("knip-vendor-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// `knip analyze FILE --out DIR ARGS…`, which must succeed; returns its output text.
fn analyze(file: &Path, out: &Path, args: &[&str]) -> String {
    let mut a = vec!["analyze", s(file), "--out", s(out), "--force"];
    a.extend_from_slice(args);
    let o = knip(&a);
    assert!(o.status.success(), "knip {a:?} failed: {}", text(&o));
    text(&o)
}

/// `knip analyze` that must refuse with exit code 2; returns the message.
fn refused(file: &Path, args: &[&str]) -> String {
    let out = file.with_extension("refused_report");
    let mut a = vec!["analyze", s(file), "--out", s(&out), "--force"];
    a.extend_from_slice(args);
    let o = knip(&a);
    assert_eq!(o.status.code(), Some(2), "knip {a:?}: {}", text(&o));
    assert!(!text(&o).contains("panicked"), "{}", text(&o));
    text(&o)
}

fn session(dir: &Path) -> Value {
    let t = std::fs::read_to_string(dir.join("session.json")).expect("session.json");
    serde_json::from_str(&t).expect("session.json parses")
}

/// (onset, offset) of every contraction in a report.
fn contractions(dir: &Path) -> Vec<(f64, f64)> {
    let t = std::fs::read_to_string(dir.join("contractions.csv")).expect("contractions.csv");
    let mut lines = t.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect(name);
    let (on, off) = (col("onset_s"), col("offset_s"));
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[on].parse().expect("onset"),
                f[off].parse().expect("offset"),
            )
        })
        .collect()
}

fn assert_same_contractions(a: &[(f64, f64)], b: &[(f64, f64)], tol_s: f64, what: &str) {
    assert!(!a.is_empty(), "{what}: no contraction found");
    assert_eq!(a.len(), b.len(), "{what}: {a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        assert!(
            (x.0 - y.0).abs() <= tol_s && (x.1 - y.1).abs() <= tol_s,
            "{what}: {x:?} vs {y:?}"
        );
    }
}

fn channel(sess: &Value, k: usize) -> &Value {
    &sess["stream"]["channels"][k]
}

/// Writes a knip plain CSV: a rate comment, a header, one row per sample.
fn write_plain(path: &Path, rate_hz: f64, names: &[&str], cols: &[Vec<f64>]) {
    let mut t = format!("# rate_hz={rate_hz} units=uV\n{}\n", names.join(","));
    for i in 0..cols[0].len() {
        let row: Vec<String> = cols.iter().map(|c| format!("{}", c[i])).collect();
        let _ = writeln!(t, "{}", row.join(","));
    }
    std::fs::write(path, t).expect("write plain csv");
}

/// A deterministic noise source (xorshift), uniform in [-1, 1).
struct Noise(u64);
impl Noise {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// Surface-EMG-like amplitude envelope: quiet, with bursts `[on, off)` seconds.
fn level(t: f64, bursts: &[(f64, f64)], rest: f64, active: f64) -> f64 {
    if bursts.iter().any(|&(a, b)| t >= a && t < b) {
        active
    } else {
        rest
    }
}

// ---------------------------------------------------------------------------------------------
// OpenBCI GUI (real excerpts)

const OPENBCI_V6: &str = "openbci/OpenBCI_GUI-v6-jawClench-excerpt.txt";

/// Channel `k` (EXG Channel k) of the OpenBCI excerpt, parsed from its text independently.
fn openbci_channel(text: &str, k: usize) -> Vec<f64> {
    text.lines()
        .filter(|l| !l.starts_with('%') && !l.starts_with("Sample Index"))
        .map(|l| {
            l.split(',')
                .nth(1 + k)
                .expect("column")
                .trim()
                .parse::<f64>()
                .expect("number")
        })
        .collect()
}

#[test]
fn openbci_gui_real_excerpt_bipolar_matches_plain_csv() {
    let dir = tmp("obci");
    let file = data(OPENBCI_V6);
    let args = [
        "--pfm",
        "EXG Channel 2-EXG Channel 3",
        "--min-contraction-s",
        "0.2",
    ];
    analyze(&file, &dir.join("vendor"), &args);
    let sess = session(&dir.join("vendor"));
    let ch = channel(&sess, 0);
    assert_eq!(ch["name"], "EXG Channel 2-EXG Channel 3");
    assert_eq!(ch["unit"], "uV");
    assert_eq!(ch["rate_hz"], 250.0);
    assert_eq!(ch["role"], "pfm_emg");
    let details = &sess["source"]["details"];
    assert!(
        details["format"]
            .as_str()
            .is_some_and(|f| f.starts_with("OpenBCI GUI (BoardCytonSerial, 250 Hz")),
        "{details}"
    );
    let d = &details["derivations"][0];
    assert_eq!(
        (d["plus"].as_str(), d["minus"].as_str(), d["unit"].as_str()),
        (Some("EXG Channel 2"), Some("EXG Channel 3"), Some("uV"))
    );
    assert!(
        (sess["duration_s"].as_f64().unwrap() - 11.0).abs() < 1e-9,
        "{}",
        sess["duration_s"]
    );

    // The same difference in a plain CSV gives the same contractions.
    let t = std::fs::read_to_string(&file).expect("excerpt");
    let (a, b) = (openbci_channel(&t, 2), openbci_channel(&t, 3));
    let diff: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
    assert_eq!(diff.len(), 2750);
    let plain = dir.join("plain.csv");
    write_plain(&plain, 250.0, &["pfm_emg"], &[diff]);
    analyze(&plain, &dir.join("plain"), &["--min-contraction-s", "0.2"]);
    let (cv, cp) = (
        contractions(&dir.join("vendor")),
        contractions(&dir.join("plain")),
    );
    // The jaw clenches at 4.4 and 8.1 s. 60-Hz mains (57 µV RMS) on this channel hid a rest of
    // 2.2 µV: with the mains cancelled, the jaw is seen not to relax to rest between the two
    // clenches (12-55 µV), so they are one activity.
    assert!(!cv.is_empty(), "the jaw clenches: {cv:?}");
    assert!(
        cv.iter().any(|&(on, off)| on < 4.5 && off > 8.4),
        "the clenches at 4.4 and 8.1 s: {cv:?}"
    );
    assert_same_contractions(&cv, &cp, 1e-9, "OpenBCI vs plain CSV");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn openbci_gui_choice_v5_layout_and_lost_samples() {
    let dir = tmp("obci2");
    // Eight EXG channels: knip asks which is which, and lists them.
    let msg = refused(&data(OPENBCI_V6), &[]);
    assert!(
        msg.contains("\"EXG Channel 0\"")
            && msg.contains("\"EXG Channel 7\"")
            && msg.contains("--pfm"),
        "{msg}"
    );
    // v5: no column header row, a row of zeros first (dropped), same channel names.
    let out = analyze(
        &data("openbci/OpenBCI_GUI-v5-excerpt.txt"),
        &dir.join("v5"),
        &["--pfm", "EXG Channel 0"],
    );
    assert!(out.contains("a row of zeros"), "{out}");
    let sess = session(&dir.join("v5"));
    assert_eq!(channel(&sess, 0)["name"], "EXG Channel 0");
    assert_eq!(channel(&sess, 0)["rate_hz"], 250.0);
    assert!((sess["duration_s"].as_f64().unwrap() - 40.0 / 250.0).abs() < 1e-9);

    // Three rows cut out: the Cyton's sample index (mod 256) says 3 samples were lost.
    let t = std::fs::read_to_string(data(OPENBCI_V6)).expect("excerpt");
    let cut: Vec<&str> = t
        .lines()
        .enumerate()
        .filter(|(i, _)| !(1005..1008).contains(i))
        .map(|(_, l)| l)
        .collect();
    let gap = dir.join("gap.txt");
    std::fs::write(&gap, cut.join("\n") + "\n").expect("write");
    let out = analyze(&gap, &dir.join("gap"), &["--pfm", "EXG Channel 2"]);
    assert!(out.contains("3 samples lost in 1 gaps"), "{out}");
    let sess = session(&dir.join("gap"));
    assert!(
        (sess["duration_s"].as_f64().unwrap() - 11.0).abs() < 1e-9,
        "{}",
        sess["duration_s"]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// OpenSignals (BITalino), generated with the layout of the real sample (see data/vendor/opensignals)

const OS_RATE: f64 = 1000.0;
const OS_BURSTS: [(f64, f64); 2] = [(6.5, 8.5), (10.0, 12.0)];

/// ADC codes (10 bits, mid-scale 512) of A1 (pelvic floor, two bursts) and A2 (quiet).
fn opensignals_codes(seconds: f64) -> (Vec<i64>, Vec<i64>) {
    let mut n = Noise(0x9E37_79B9_7F4A_7C15);
    let rows = (seconds * OS_RATE) as usize;
    let mut a1 = Vec::with_capacity(rows);
    let mut a2 = Vec::with_capacity(rows);
    for i in 0..rows {
        let t = i as f64 / OS_RATE;
        let l = level(t, &OS_BURSTS, 4.0, 90.0);
        a1.push((512.0 + l * n.next()).round().clamp(0.0, 1023.0) as i64);
        a2.push((512.0 + 4.0 * n.next()).round() as i64);
    }
    (a1, a2)
}

/// An OpenSignals text file: header as OpenSignals writes it, nSeq mod 16, digital columns, a
/// trailing tab; rows whose index is in `drop` are left out (lost samples).
fn opensignals_file(path: &Path, a1: &[i64], a2: &[i64], sensors: [&str; 2], drop: &[usize]) {
    let header = format!(
        "# OpenSignals Text File Format\n# {{\"98:D3:51:FE:6F:A3\": {{\"sensor\": [\"{}\", \"{}\"], \
         \"device name\": \"98:D3:51:FE:6F:A3\", \"column\": [\"nSeq\", \"I1\", \"I2\", \"O1\", \
         \"O2\", \"A1\", \"A2\"], \"sync interval\": 2, \"time\": \"10:12:3.250\", \"comments\": \
         \"\", \"device connection\": \"BTH98:D3:51:FE:6F:A3\", \"channels\": [1, 2], \"date\": \
         \"2024-3-5\", \"mode\": 0, \"digital IO\": [0, 0, 1, 1], \"firmware version\": 1281, \
         \"device\": \"bitalino_rev\", \"position\": 0, \"sampling rate\": 1000, \"label\": \
         [\"A1\", \"A2\"], \"resolution\": [4, 1, 1, 1, 1, 10, 10], \"special\": [{{}}, {{}}]}}}}\n\
         # EndOfHeader\n",
        sensors[0], sensors[1]
    );
    let mut t = header;
    for i in 0..a1.len() {
        if drop.contains(&i) {
            continue;
        }
        let _ = writeln!(t, "{}\t1\t1\t0\t0\t{}\t{}\t", i % 16, a1[i], a2[i]);
    }
    std::fs::write(path, t).expect("write opensignals");
}

/// The BITalino (r)evolution EMG transfer function (datasheet: EMG(V) = (ADC/2^n − 1/2)·VCC/G,
/// VCC = 3.3 V, G = 1009, ±1.64 mV), written out here on its own, in µV.
fn bitalino_emg_uv(adc: i64) -> f64 {
    ((adc as f64 / 1024.0) - 0.5) * 3.3 / 1009.0 * 1e6
}

#[test]
fn opensignals_export_units_contractions_and_lost_samples() {
    let dir = tmp("os");
    let (a1, a2) = opensignals_codes(14.0);
    let file = dir.join("opensignals.txt");
    opensignals_file(&file, &a1, &a2, ["EMG", "EMG"], &[]);
    // Two EMG sensors: knip asks which is the pelvic floor.
    let msg = refused(&file, &[]);
    assert!(
        msg.contains("\"A1\", \"A2\"") && msg.contains("--pfm"),
        "{msg}"
    );

    analyze(&file, &dir.join("vendor"), &["--pfm", "A1", "--abd", "A2"]);
    let sess = session(&dir.join("vendor"));
    for (k, name, role) in [(0, "A1", "pfm_emg"), (1, "A2", "abd_emg")] {
        let ch = channel(&sess, k);
        assert_eq!(
            (ch["name"].as_str(), ch["role"].as_str()),
            (Some(name), Some(role))
        );
        assert_eq!(
            (ch["unit"].as_str(), ch["rate_hz"].as_f64()),
            (Some("uV"), Some(1000.0))
        );
    }
    assert!(sess["source"]["details"]["format"]
        .as_str()
        .is_some_and(|f| f.starts_with("OpenSignals (bitalino_rev, 1000 Hz")));

    // The values: the transfer function, read through the library.
    let opened = knip::export::open_recording(
        &file,
        &knip::source::csv_file::CsvOptions {
            pfm: Some("A1".into()),
            ..Default::default()
        },
    )
    .expect("open");
    let mut src = opened.source;
    let block = src.next_block().expect("read").expect("a block");
    for (j, v) in block.chunks[0].samples.iter().enumerate() {
        assert!((v - bitalino_emg_uv(a1[j])).abs() < 1e-9, "sample {j}: {v}");
    }
    // The datasheet's range: ±1.64 mV.
    assert!(
        (bitalino_emg_uv(0) + 1635.28).abs() < 0.01
            && (bitalino_emg_uv(1023) - 1632.09).abs() < 0.01
    );

    // The same microvolts in a plain CSV: the same contractions.
    let plain = dir.join("plain.csv");
    let uv = |c: &[i64]| c.iter().map(|&x| bitalino_emg_uv(x)).collect::<Vec<f64>>();
    write_plain(
        &plain,
        OS_RATE,
        &["pfm_emg", "abd_emg"],
        &[uv(&a1), uv(&a2)],
    );
    analyze(&plain, &dir.join("plain"), &[]);
    let cv = contractions(&dir.join("vendor"));
    assert_eq!(cv.len(), OS_BURSTS.len(), "{cv:?}");
    assert_same_contractions(&cv, &contractions(&dir.join("plain")), 1e-6, "OpenSignals");

    // Rows cut out: nSeq (mod 16) counts them; a cut of 16 or more is seen modulo 16.
    for (drop, lost) in [(3000..3005, 5), (4000..4020, 4)] {
        let cut = dir.join("cut.txt");
        let drop: Vec<usize> = drop.collect();
        opensignals_file(&cut, &a1, &a2, ["EMG", "RAW"], &drop);
        // One EMG sensor: it is the pelvic floor without an option; A2 is not read.
        let out = analyze(&cut, &dir.join("cut"), &[]);
        assert!(
            out.contains(&format!("{lost} samples lost in 1 gaps")) && out.contains("modulo 16"),
            "{out}"
        );
        let sess = session(&dir.join("cut"));
        assert_eq!(sess["stream"]["channels"].as_array().map(Vec::len), Some(1));
        let want = (a1.len() - drop.len() + lost) as f64 / OS_RATE;
        assert!(
            (sess["duration_s"].as_f64().unwrap() - want).abs() < 1e-9,
            "{}",
            sess["duration_s"]
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// Shimmer Consensys

const SH_RATE: f64 = 512.0;
const SH_BURSTS: [(f64, f64); 2] = [(6.5, 8.5), (10.0, 12.0)];

/// A Consensys EMG export as issue 14 met it: `"sep=\t"`, names, a units row, formatted text
/// time stamps rounded to the ms, EMG in mV; `channels` ExG columns (1 or 2).
fn shimmer_file(path: &Path, seconds: f64, channels: usize) -> Vec<Vec<f64>> {
    let mut n = Noise(0x2545_F491_4F6C_DD1D);
    let mut names = vec!["Shimmer_7A3F_Timestamp_FormattedUnix_CAL".to_string()];
    let mut units = vec!["no_units".to_string()];
    for c in 1..=channels {
        names.push(format!("Shimmer_7A3F_EXG1_CH{c}_24BIT_CAL"));
        units.push("mV".into());
    }
    names.push("Shimmer_7A3F_Battery_CAL".into());
    units.push("mV".into());
    let mut t = format!(
        "\"sep=\t\"\n{}\t\n{}\t\n",
        names.join("\t"),
        units.join("\t")
    );
    let mut cols = vec![Vec::new(); channels];
    let rows = (seconds * SH_RATE) as usize;
    let t0_ms = 36_930_250.0; // 10:15:30.250
    for i in 0..rows {
        let ts = i as f64 / SH_RATE;
        let ms = (t0_ms + ts * 1000.0).round() as u64;
        let _ = write!(
            t,
            "2024/03/05 {:02}:{:02}:{:02}.{:03}",
            ms / 3_600_000,
            ms / 60_000 % 60,
            ms / 1000 % 60,
            ms % 1000
        );
        for (c, col) in cols.iter_mut().enumerate() {
            let l = if c == 0 {
                level(ts, &SH_BURSTS, 0.004, 0.09)
            } else {
                0.004
            };
            let v = l * n.next();
            col.push(v);
            let _ = write!(t, "\t{v}");
        }
        let _ = writeln!(t, "\t3712.454212454212\t");
    }
    std::fs::write(path, t).expect("write shimmer");
    cols
}

#[test]
fn shimmer_emg_export_text_stamps_units_row_mv() {
    let dir = tmp("sh");
    let file = dir.join("shimmer.csv");
    let mv = shimmer_file(&file, 14.0, 2);
    let msg = refused(&file, &[]);
    assert!(
        msg.contains("Shimmer_7A3F_EXG1_CH1_24BIT_CAL")
            && msg.contains("Shimmer_7A3F_EXG1_CH2_24BIT_CAL"),
        "{msg}"
    );
    let out = analyze(
        &file,
        &dir.join("vendor"),
        &[
            "--pfm",
            "Shimmer_7A3F_EXG1_CH1_24BIT_CAL",
            "--abd",
            "Shimmer_7A3F_EXG1_CH2_24BIT_CAL",
        ],
    );
    assert!(
        out.contains("taken as the Shimmer rate 32768/64 = 512.0000 Hz"),
        "{out}"
    );
    let sess = session(&dir.join("vendor"));
    for k in 0..2 {
        let ch = channel(&sess, k);
        assert_eq!(
            (ch["unit"].as_str(), ch["rate_hz"].as_f64()),
            (Some("uV"), Some(512.0))
        );
    }
    assert_eq!(channel(&sess, 0)["name"], "Shimmer_7A3F_EXG1_CH1_24BIT_CAL");
    // mV → µV, the same contractions as a plain CSV of the microvolts.
    let plain = dir.join("plain.csv");
    let uv: Vec<Vec<f64>> = mv
        .iter()
        .map(|c| c.iter().map(|v| v * 1000.0).collect())
        .collect();
    write_plain(&plain, SH_RATE, &["pfm_emg", "abd_emg"], &uv);
    analyze(&plain, &dir.join("plain"), &[]);
    let cv = contractions(&dir.join("vendor"));
    assert_eq!(cv.len(), SH_BURSTS.len(), "{cv:?}");
    assert_same_contractions(&cv, &contractions(&dir.join("plain")), 1e-6, "Shimmer");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn shimmer_real_consensys_export_layout_and_rate() {
    let dir = tmp("sh2");
    let file = data("shimmer/devicely_read_test_data.csv");
    let msg = refused(&file, &[]);
    assert!(
        msg.contains("marks no channel as EMG") && msg.contains("Shimmer_40AC_Battery_CAL"),
        "{msg}"
    );
    let out = analyze(
        &file,
        &dir.join("r"),
        &["--pressure", "Shimmer_40AC_GSR_Skin_Conductance_CAL"],
    );
    assert!(out.contains("32768/640 = 51.2000 Hz"), "{out}");
    let sess = session(&dir.join("r"));
    let ch = channel(&sess, 0);
    assert_eq!(ch["name"], "Shimmer_40AC_GSR_Skin_Conductance_CAL");
    assert_eq!(
        (ch["unit"].as_str(), ch["rate_hz"].as_f64()),
        (Some("uS"), Some(51.2))
    );
    assert!((sess["duration_s"].as_f64().unwrap() - 90.0 / 51.2).abs() < 1e-9);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// batch and export

#[test]
fn vendor_files_go_through_batch_and_export() {
    let dir = tmp("batch");
    let inbox = dir.join("in");
    std::fs::create_dir_all(&inbox).expect("dir");
    let (a1, a2) = opensignals_codes(14.0);
    opensignals_file(&inbox.join("bitalino.txt"), &a1, &a2, ["EMG", "RAW"], &[]);
    shimmer_file(&inbox.join("shimmer.csv"), 14.0, 1);
    std::fs::copy(data(OPENBCI_V6), inbox.join("openbci.txt")).expect("copy");
    std::fs::write(inbox.join("notes.txt"), "not a recording\n").expect("write");
    let o = knip(&["batch", s(&inbox), "--out", s(&dir.join("out"))]);
    let out = text(&o);
    let table = std::fs::read_to_string(dir.join("out/batch.csv")).expect("batch.csv");
    let header: Vec<&str> = table.lines().next().expect("header").split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).expect(n);
    for name in ["bitalino.txt", "shimmer.csv"] {
        let row: Vec<&str> = table
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{table}"))
            .split(',')
            .collect();
        assert_eq!(row[col("status")], "ok", "{row:?}");
        assert_eq!(row[col("contractions")], "2", "{row:?}");
    }
    // OpenBCI has eight EXG channels: named with its reason; notes.txt is not a recording.
    let obci_row = table
        .lines()
        .find(|l| l.starts_with("openbci.txt"))
        .expect("openbci row");
    assert!(
        !obci_row.contains(",ok,") && obci_row.contains("--pfm"),
        "{obci_row}\n{out}"
    );
    assert!(
        !table.contains("notes.txt") && !out.contains("notes.txt"),
        "{out}\n{table}"
    );

    // export: a derivation of the real OpenBCI excerpt to EDF, read back with the same
    // contractions.
    let edf = dir.join("obci.edf");
    let args = ["--pfm", "EXG Channel 2-EXG Channel 3"];
    let obci = data(OPENBCI_V6);
    let mut a = vec!["export", s(&obci), "--format", "edf", "--out", s(&edf)];
    a.extend_from_slice(&args);
    a.extend_from_slice(&["--start", "2026-03-14T09:26:53Z"]);
    let o = knip(&a);
    assert!(o.status.success(), "{}", text(&o));
    analyze(
        &data(OPENBCI_V6),
        &dir.join("v"),
        &[args[0], args[1], "--min-contraction-s", "0.2"],
    );
    analyze(&edf, &dir.join("e"), &["--min-contraction-s", "0.2"]);
    assert_same_contractions(
        &contractions(&dir.join("v")),
        &contractions(&dir.join("e")),
        0.005,
        "export round trip",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// Derivations in CSV and EDF

/// A CSV with single-ended electrodes EXG1, EXG2 (a common-mode hum on both) and the bipolar
/// signal already computed in a column named `EMG Chin1-Chin2`.
fn electrodes_csv(path: &Path) -> Vec<f64> {
    let mut n = Noise(0xD1B5_4A32_D192_ED03);
    let mut t = String::from("time_s,EXG1,EXG2,EMG Chin1-Chin2\n");
    let mut diff = Vec::new();
    for i in 0..14_000 {
        let ts = i as f64 / 1000.0;
        let hum = 800.0 * (2.0 * std::f64::consts::PI * 50.0 * ts).sin();
        let emg = level(ts, &OS_BURSTS, 4.0, 120.0) * n.next();
        let (e1, e2) = (hum + emg + 3.0 * n.next(), hum + 3.0 * n.next());
        let _ = writeln!(t, "{ts:.3},{e1},{e2},{}", e1 - e2);
        diff.push(e1 - e2);
    }
    std::fs::write(path, t).expect("write");
    diff
}

#[test]
fn csv_and_edf_derivations() {
    let dir = tmp("derive");
    let csv = dir.join("electrodes.csv");
    electrodes_csv(&csv);
    analyze(&csv, &dir.join("d"), &["--pfm", "EXG1-EXG2"]);
    analyze(&csv, &dir.join("n"), &["--pfm", "EMG Chin1-Chin2"]);
    let (d, n) = (session(&dir.join("d")), session(&dir.join("n")));
    assert_eq!(channel(&d, 0)["name"], "EXG1-EXG2");
    assert_eq!(d["source"]["details"]["derivations"][0]["minus"], "EXG2");
    // An exact name wins over a derivation: the column named "EMG Chin1-Chin2".
    assert_eq!(channel(&n, 0)["name"], "EMG Chin1-Chin2");
    assert_eq!(
        n["source"]["details"]["derivations"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    let cd = contractions(&dir.join("d"));
    assert_eq!(cd.len(), OS_BURSTS.len(), "{cd:?}");
    assert_same_contractions(&cd, &contractions(&dir.join("n")), 1e-6, "CSV derivation");

    // Two readings of one text, or none: exit 2 with the reason.
    let amb = dir.join("amb.csv");
    std::fs::write(&amb, "time_s,a,b-c,a-b,c\n0,1,2,3,4\n0.001,1,2,3,4\n").expect("write");
    let msg = refused(&amb, &["--pfm", "a-b-c"]);
    assert!(msg.contains("can be read as"), "{msg}");
    let msg = refused(&csv, &["--pfm", "EXG1-EXG9"]);
    assert!(
        msg.contains("no such column") && msg.contains("EXG2"),
        "{msg}"
    );

    // EDF: the single-ended electrodes exported, then derived by knip's EDF reader.
    let edf = dir.join("electrodes.edf");
    let o = knip(&[
        "export",
        s(&csv),
        "--pfm",
        "EXG1",
        "--abd",
        "EXG2",
        "--format",
        "edf",
        "--out",
        s(&edf),
        "--start",
        "2026-03-14T09:26:53Z",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    analyze(&edf, &dir.join("edf"), &["--pfm", "EXG1-EXG2"]);
    let e = session(&dir.join("edf"));
    assert_eq!(channel(&e, 0)["name"], "EXG1-EXG2");
    assert_eq!(e["source"]["details"]["derivations"][0]["plus"], "EXG1");
    assert_same_contractions(
        &contractions(&dir.join("edf")),
        &cd,
        0.005,
        "EDF derivation",
    );

    // Signals of different rates cannot be subtracted.
    let mixed = dir.join("mixed.csv");
    let o = knip(&[
        "simulate",
        "--protocol",
        "identify",
        "--seed",
        "3",
        "--out",
        s(&mixed),
        "--channels",
        "pfm_emg,pressure",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let medf = dir.join("mixed.edf");
    let o = knip(&["export", s(&mixed), "--format", "edf", "--out", s(&medf)]);
    assert!(o.status.success(), "{}", text(&o));
    let msg = refused(&medf, &["--pfm", "pfm_emg-pressure"]);
    assert!(msg.contains("different rates"), "{msg}");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// Bad input

#[test]
fn bad_vendor_files_are_named_with_line_and_exit_2() {
    let dir = tmp("bad");
    let os_head = |rate: &str| {
        format!(
            "# OpenSignals Text File Format\n# {{\"m\": {{\"sampling rate\": {rate}, \"column\": \
             [\"nSeq\", \"A1\"], \"sensor\": [\"EMG\"], \"resolution\": [4, 10], \"device\": \
             \"bitalino_rev\"}}}}\n# EndOfHeader\n"
        )
    };
    let obci = "%OpenBCI Raw EEG Data\n%Number of channels = 1\n%Sample Rate = 250 Hz\n\
                %Board = OpenBCI_GUI$BoardCytonSerial\n";
    let cases: [(&str, String, &str); 6] = [
        (
            "json.txt",
            "# OpenSignals Text File Format\n# {\"a\": {broken\n# EndOfHeader\n1\t500\t\n".into(),
            "the JSON line does not parse",
        ),
        (
            "rate.txt",
            os_head("1e300") + "1\t500\t\n",
            "sampling rate: 1e300 is outside",
        ),
        (
            "nseq.txt",
            os_head("1000") + "1\t500\t\n2\t501\t\n19\t500\t\n",
            "line 6: sample counter \"19\"",
        ),
        (
            "text.txt",
            format!("{obci}0, 1.0\n1, nan\n2, 3.0\n"),
            "line 6: column \"EXG Channel 0\": \"nan\"",
        ),
        (
            "short.txt",
            format!("{obci}0, 1.0\n1\n2, 3.0\n"),
            "line 6: 1 fields but the header has 2",
        ),
        (
            "units.csv",
            "\"sep=\t\"\nShimmer_1_Timestamp_Unix_CAL\tShimmer_1_EXG1_CH1_24BIT_CAL\n".into(),
            "no units row",
        ),
    ];
    for (name, body, want) in cases {
        let f = dir.join(name);
        std::fs::write(&f, body).expect("write");
        let msg = refused(&f, &[]);
        assert!(msg.contains(name) && msg.contains(want), "{name}: {msg}");
    }
    // A torn last line is dropped with a warning; a value beyond the plausible range is a lost
    // sample, counted.
    let torn = dir.join("torn.txt");
    std::fs::write(&torn, format!("{obci}0, 1.0\n1, 2.0\n2")).expect("write");
    let out = analyze(&torn, &dir.join("t"), &[]);
    assert!(
        out.contains("the last line, has 1 of 2 fields: it was cut off"),
        "{out}"
    );
    let big = dir.join("big.txt");
    std::fs::write(
        &big,
        os_head("1000") + "1\t500\t\n2\t5000000\t\n3\t501\t\n4\t500\t\n",
    )
    .expect("write");
    let out = analyze(&big, &dir.join("b"), &[]);
    assert!(
        out.contains("1 rows with a value beyond the plausible range (first at line 5)"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `knip replay` opens what `knip analyze` opens: a vendor export and an EDF file play through
/// the live pipeline to the contractions their analyses find.
#[test]
fn replay_plays_vendor_exports_and_edf_like_analyze() {
    let dir = tmp("replay");
    std::fs::create_dir_all(&dir).expect("dir");
    let (a1, a2) = opensignals_codes(14.0);
    let vendor = dir.join("bitalino.txt");
    opensignals_file(&vendor, &a1, &a2, ["EMG", "RAW"], &[]);
    let edf = dir.join("bitalino.edf");
    let o = knip(&["export", s(&vendor), "--format", "edf", "--out", s(&edf)]);
    assert!(o.status.success(), "{}", text(&o));
    for (file, kind) in [(&vendor, "vendor"), (&edf, "edf")] {
        let analyzed = dir.join(format!("analyze-{kind}"));
        analyze(file, &analyzed, &[]);
        let replayed = dir.join(format!("replay-{kind}"));
        let o = knip(&[
            "replay",
            s(file),
            "--fast",
            "--plain",
            "--out",
            s(&replayed),
        ]);
        assert!(o.status.success(), "{kind}: {}", text(&o));
        assert!(
            text(&o).contains(&format!("({kind} replay)")),
            "{}",
            text(&o)
        );
        let want = contractions(&analyzed);
        assert_eq!(want.len(), 2, "{kind}: {want:?}");
        assert_same_contractions(&want, &contractions(&replayed), 0.001, kind);
    }
    // A guided session on either file: the same reps (the EDF holds the same samples).
    let reps = |file: &Path, name: &str| {
        let out = dir.join(name);
        let o = knip(&[
            "session",
            "--replay",
            s(file),
            "--fast",
            "--plain",
            "--out",
            s(&out),
        ]);
        assert!(o.status.success(), "{name}: {}", text(&o));
        let t = std::fs::read_to_string(out.join("reps.csv")).expect("reps.csv");
        t.lines()
            .map(|l| l.split(',').take(8).collect::<Vec<_>>().join(","))
            .collect::<Vec<_>>()
    };
    let (from_vendor, from_edf) = (reps(&vendor, "session-vendor"), reps(&edf, "session-edf"));
    let onsets = from_vendor
        .iter()
        .skip(1)
        .filter(|r| !r.split(',').nth(5).unwrap_or("").is_empty());
    assert!(onsets.count() >= 1, "no rep with an onset: {from_vendor:?}");
    assert_eq!(from_vendor, from_edf);
    let _ = std::fs::remove_dir_all(&dir);
}
