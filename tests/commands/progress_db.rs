//! The progress database: store/read, migrations from older schemas, a newer schema refused,
//! owner-only files, day rows (goal, streaks), the simulated filler and the figure.

use chrono::{DateTime, FixedOffset, TimeZone};
use knip::progress::db::{migrate, schema_version, MIGRATIONS};
use knip::progress::fill::{fill, plan, FillOptions};
use knip::progress::plot::{render_progress_rgb, ProgressPlot};
use knip::progress::{self, daily_rows, SessionRecord, SCHEMA_VERSION};
use rusqlite::Connection;

fn at(day: u32, hour: u32) -> DateTime<FixedOffset> {
    FixedOffset::east_opt(3600)
        .and_then(|o| o.with_ymd_and_hms(2026, 3, day, hour, 15, 0).single())
        .expect("valid time")
}

fn record(day: u32, hour: u32, valid: u32) -> SessionRecord {
    let mut r = SessionRecord::new("P-1", at(day, hour));
    r.protocol = Some("strength".into());
    r.contractions = valid + 5;
    r.valid_squeezes = valid;
    r.quick_flicks = 5;
    r.mean_hold_s = Some(4.0 + hour as f64 / 100.0);
    r.longest_hold_s = Some(5.5);
    r.mvc = Some(50.0);
    r.mean_pct_mvc = Some(70.0 + day as f64);
    r.coactivated = Some(2);
    r.coactivation_rate = Some(2.0 / (valid + 5) as f64);
    r.rest_level = Some(4.0);
    r.rest_unit = Some("uV".into());
    r.source = format!("test day {day} hour {hour}");
    r
}

#[test]
fn stored_sessions_come_back_and_a_replayed_source_replaces_its_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sub").join("p.sqlite");
    let db = progress::open(&path).expect("open");
    assert_eq!(schema_version(&db).expect("version"), SCHEMA_VERSION);
    let a = record(2, 8, 12);
    let mut b = record(1, 20, 20);
    b.mvc = None;
    b.mean_pct_mvc = None;
    progress::store(&db, &a).expect("store");
    progress::store(&db, &b).expect("store");
    let mut other = record(1, 9, 3);
    other.patient_id = "P-2".into();
    progress::store(&db, &other).expect("store");
    let got = progress::sessions(&db, "P-1").expect("read");
    assert_eq!(
        got,
        vec![b.clone(), a.clone()],
        "oldest first, every field back"
    );
    // The same recording analysed again replaces its row.
    let mut again = a.clone();
    again.valid_squeezes = 13;
    progress::store(&db, &again).expect("store");
    let got = progress::sessions(&db, "P-1").expect("read");
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].valid_squeezes, 13);
    assert_eq!(
        progress::patients(&db).expect("patients"),
        vec![("P-1".to_string(), 2), ("P-2".to_string(), 1)]
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "database readable by its owner only");
        let dmode = std::fs::metadata(path.parent().expect("dir"))
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dmode, 0o700, "a new folder for it too");
    }
}

#[test]
fn a_version_1_database_opens_and_keeps_its_sessions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("old.sqlite");
    {
        // What the first schema wrote, with two rows of the same session (allowed then).
        let db = Connection::open(&path).expect("create");
        db.execute_batch(MIGRATIONS[0]).expect("v1 schema");
        db.execute_batch("PRAGMA user_version = 1")
            .expect("version");
        for id in [1, 2] {
            db.execute(
                "INSERT INTO sessions (id, patient_id, started_at, protocol, duration_s,
                    contractions, valid_squeezes, mean_hold_s, rest_level)
                 VALUES (?1, 'P-9', '2025-01-05T08:00:00+01:00', 'strength', 120.0, 14, 9, 4.5, 3.2)",
                [id],
            )
            .expect("insert");
        }
    }
    let mut db = Connection::open(&path).expect("reopen");
    assert_eq!(
        migrate(&mut db, &path).expect("migrate"),
        1,
        "found version 1"
    );
    assert_eq!(schema_version(&db).expect("version"), SCHEMA_VERSION);
    drop(db);
    let db = progress::open(&path).expect("open migrated");
    let got = progress::sessions(&db, "P-9").expect("read");
    assert_eq!(got.len(), 1, "the duplicate row is merged by migration 3");
    let r = &got[0];
    assert_eq!((r.contractions, r.valid_squeezes), (14, 9));
    assert_eq!(r.mean_hold_s, Some(4.5));
    assert_eq!(r.mean_pct_mvc, None, "new columns are empty, not invented");
    assert_eq!((r.quick_flicks, r.coughs, r.source.as_str()), (0, 0, ""));
    // New sessions go in beside it.
    progress::store(&db, &record(3, 8, 10)).expect("store");
}

#[test]
fn a_database_from_a_newer_knip_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("new.sqlite");
    {
        let db = Connection::open(&path).expect("create");
        db.execute_batch(&format!("PRAGMA user_version = {}", SCHEMA_VERSION + 1))
            .expect("version");
    }
    let msg = progress::open(&path).expect_err("refused").to_string();
    assert!(
        msg.contains("new.sqlite") && msg.contains("newer knip"),
        "{msg}"
    );
}

#[test]
fn day_rows_count_goal_sessions_and_streaks() {
    // Day 1: 2 sessions (20 + 12 = 32 ≥ 30); day 2: 1 session; day 3 none; day 4: 1.
    let s = vec![
        record(4, 8, 25),
        record(1, 8, 20),
        record(1, 20, 12),
        record(2, 13, 29),
    ];
    let rows = daily_rows(&s);
    assert_eq!(rows.len(), 4, "every calendar day from first to last");
    let got: Vec<(u32, u32, bool, u32)> = rows
        .iter()
        .map(|r| (r.sessions, r.valid_squeezes, r.goal_met, r.streak_days))
        .collect();
    assert_eq!(
        got,
        vec![
            (2, 32, true, 1),
            (1, 29, false, 2),
            (0, 0, false, 0),
            (1, 25, false, 1)
        ]
    );
    // Hold weighted by contractions: (4.08·25 + 4.20·17) / 42.
    let want = (4.08 * 25.0 + 4.20 * 17.0) / 42.0;
    assert!((rows[0].mean_hold_s.expect("hold") - want).abs() < 1e-9);
    assert_eq!(rows[2].mean_hold_s, None);
    // 4 co-activated of 42 contractions.
    assert!((rows[0].coactivation_pct.expect("coact") - 400.0 / 42.0).abs() < 1e-9);
    assert_eq!(rows[3].day, 4);
}

#[test]
fn the_simulated_course_fills_the_database_and_draws() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fill.sqlite");
    let opts = FillOptions {
        patient_id: "SIM-1".into(),
        days: 4,
        seed: 3,
        first_day: chrono::NaiveDate::from_ymd_opt(2026, 1, 5).expect("date"),
        utc_offset_min: 60,
        emg_rate_hz: 500.0,
        jobs: 2,
    };
    let planned = plan(&opts).expect("plan");
    assert!(!planned.is_empty());
    assert_eq!(
        planned,
        plan(&opts).expect("plan"),
        "deterministic in the seed"
    );
    let mut db = progress::open(&path).expect("open");
    let o = fill(&mut db, &opts).expect("fill");
    assert_eq!(o.sessions, planned.len());
    let got = progress::sessions(&db, "SIM-1").expect("read");
    assert_eq!(got.len(), planned.len());
    for r in &got {
        // Identification sessions (the first days): about 10 squeezes of about 2 s.
        assert_eq!(r.protocol.as_deref(), Some("identify"));
        assert!((8..=12).contains(&r.contractions), "{r:?}");
        let pct = r.mean_pct_mvc.expect("simulated sessions have an MVC");
        assert!((60.0..140.0).contains(&pct), "{pct}");
        assert!(
            r.mean_hold_s.is_some_and(|h| (1.5..3.5).contains(&h)),
            "{r:?}"
        );
    }
    let report_dir = dir.path().join("report");
    let rep = progress::write_report(&db, "SIM-1", &report_dir).expect("report");
    let csv = std::fs::read_to_string(report_dir.join("progress.csv")).expect("csv");
    assert_eq!(csv.lines().count(), 1 + rep.days.len());
    assert!(csv.starts_with("date,day,week,sessions,contractions,valid_squeezes,goal"));
    let img = render_progress_rgb(&ProgressPlot {
        patient_id: "SIM-1",
        days: &rep.days,
    })
    .expect("render");
    // The six-month horizon line is drawn in its colour somewhere in the right part.
    let horizon = [70u8, 45, 120];
    let found = (img.width / 2..img.width)
        .any(|x| (200..img.height - 100).any(|y| img.pixel(x, y) == Some(horizon)));
    assert!(found, "six-month horizon marked");
    let missing = progress::write_report(&db, "NOBODY", &report_dir).expect_err("no sessions");
    assert!(missing.to_string().contains("NOBODY"));
}

// ---- Sessions feed the history: each recording once, guided sessions with their scores. ----

use knip::config::AnalysisConfig;
use knip::session::drive::{run_simulated, session_sim, SimulatedSession};
use knip::session::protocol::Protocol;
use knip::session::run::{Controls, SessionSetup};
use knip::source::csv_file::CsvOptions;

fn analysed(csv: &std::path::Path, out: &std::path::Path) -> SessionRecord {
    let o = knip::analyze::analyze(
        csv,
        &CsvOptions::default(),
        &AnalysisConfig::default(),
        out,
        Vec::new(),
    )
    .expect("analyze");
    let sidecar = knip::export::read_sidecar_beside(csv);
    SessionRecord::from_analysis("P-9", csv, &o.scores, sidecar.as_ref()).expect("record")
}

#[test]
fn an_analysed_recording_is_stored_once_even_again_or_copied() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("a.csv");
    let sim = knip::simulate::SimConfig {
        protocol: "strength".into(),
        seed: 5,
        ..Default::default()
    };
    knip::simulate::write::write_session(&sim, &csv, &AnalysisConfig::default()).expect("simulate");
    let db = progress::open(&dir.path().join("p.sqlite")).expect("open");
    let first = analysed(&csv, &dir.path().join("r1"));
    assert!(first.valid_squeezes > 0, "{first:?}");
    assert!(first
        .recording_key
        .as_deref()
        .is_some_and(|k| k.starts_with("sha256:")));
    progress::store(&db, &first).expect("store");
    // Analysed again, and a copy (recording and sidecar) under another name.
    progress::store(&db, &analysed(&csv, &dir.path().join("r2"))).expect("store");
    let copy = dir.path().join("copy of a.csv");
    std::fs::copy(&csv, &copy).expect("copy");
    std::fs::copy(csv.with_extension("json"), copy.with_extension("json")).expect("copy");
    let again = analysed(&copy, &dir.path().join("r3"));
    assert_eq!(again.recording_key, first.recording_key);
    progress::store(&db, &again).expect("store");
    let got = progress::sessions(&db, "P-9").expect("read");
    assert_eq!(got.len(), 1, "stored once: {got:?}");
    let day = first.started_at.date_naive();
    assert_eq!(
        progress::valid_holds_on(&db, "P-9", day, *first.started_at.offset()).expect("today"),
        first.valid_squeezes
    );
    // A different recording is another session.
    let other = dir.path().join("b.csv");
    let sim = knip::simulate::SimConfig { seed: 6, ..sim };
    knip::simulate::write::write_session(&sim, &other, &AnalysisConfig::default())
        .expect("simulate");
    progress::store(&db, &analysed(&other, &dir.path().join("r4"))).expect("store");
    assert_eq!(progress::sessions(&db, "P-9").expect("read").len(), 2);
}

fn guided(protocol: &str, seed: u64) -> knip::session::run::SessionResult {
    let s = SimulatedSession {
        setup: SessionSetup::new(Protocol::load(protocol).expect("protocol")),
        sim: session_sim(seed),
        speed: None,
    };
    run_simulated(
        &s,
        &AnalysisConfig::default(),
        Vec::new(),
        std::sync::Arc::new(Controls::default()),
        |p| Box::new(p),
    )
    .expect("session")
    .result
}

#[test]
fn guided_sessions_are_stored_with_their_scores_and_assessments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = progress::open(&dir.path().join("p.sqlite")).expect("open");
    let offset = FixedOffset::east_opt(2 * 3600).expect("offset");
    let morning = offset
        .with_ymd_and_hms(2026, 5, 4, 8, 0, 0)
        .single()
        .expect("time");
    let evening = offset
        .with_ymd_and_hms(2026, 5, 4, 23, 30, 0)
        .single()
        .expect("time");
    // Training: valid holds and %MVC from the session's own calibration.
    let strength = guided("strength", 11);
    let rec = SessionRecord::from_session("P-5", &strength, "sha256:s1", morning, "simulator");
    let passed = strength
        .reps
        .iter()
        .filter(|r| r.kind == "hold" && r.passed())
        .count() as u32;
    assert!(passed > 0);
    assert_eq!(rec.valid_squeezes, passed);
    assert_eq!(rec.kind, progress::KIND_GUIDED);
    assert!(rec.reps_done.is_some_and(|n| n >= passed));
    assert!(
        rec.mean_pct_mvc.is_some() && rec.peak_pct_mvc.is_some(),
        "{rec:?}"
    );
    assert!(rec.mvc.is_some());
    progress::store(&db, &rec).expect("store");
    progress::store(&db, &rec).expect("store again");
    // An analysis of the same recording leaves the guided row.
    let mut analysis = SessionRecord::new("P-5", morning);
    analysis.recording_key = Some("sha256:s1".into());
    analysis.valid_squeezes = 99;
    progress::store(&db, &analysis).expect("store analysis");
    // Assessments.
    let glazer = guided("glazer", 3);
    let g = SessionRecord::from_session("P-5", &glazer, "sha256:g1", evening, "simulator");
    let table = g.glazer.clone().expect("Glazer table");
    assert!(table.iter().any(|r| r.phase == "tonic" && r.mean.is_some()));
    progress::store(&db, &g).expect("store");
    let perfect = guided("perfect", 3);
    let p = SessionRecord::from_session(
        "P-5",
        &perfect,
        "sha256:p1",
        evening + chrono::Duration::minutes(10),
        "simulator",
    );
    assert!(p.perfect.as_ref().is_some_and(|x| x.endurance_s.is_some()));
    progress::store(&db, &p).expect("store");
    let got = progress::sessions(&db, "P-5").expect("read");
    assert_eq!(got.len(), 3, "each session once");
    assert_eq!(got[0], rec, "every field back, the guided row kept");
    // The Glazer table comes back (floats through JSON: to the last digit or so).
    let back = got[1].glazer.clone().expect("Glazer table back");
    assert_eq!(back.len(), table.len());
    for (a, b) in back.iter().zip(&table) {
        assert_eq!(a.phase, b.phase);
        let close = |x: Option<f64>, y: Option<f64>| match (x, y) {
            (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * y.abs().max(1.0),
            (x, y) => x == y,
        };
        assert!(
            close(a.mean, b.mean) && close(a.peak, b.peak),
            "{a:?} vs {b:?}"
        );
        assert!(close(a.mean_pct_mvc, b.mean_pct_mvc));
    }
    let (pb, pa) = (
        got[2].perfect.clone().expect("PERFECT back"),
        p.perfect.clone().expect("PERFECT"),
    );
    assert_eq!(
        (pb.power, pb.repetitions, pb.fast),
        (pa.power, pa.repetitions, pa.fast)
    );
    assert!((pb.endurance_s.unwrap_or(-1.0) - pa.endurance_s.unwrap_or(-2.0)).abs() < 1e-9);
    // "n of 30 today" on the patient's local day; 23:40 local is still 4 May.
    let day = morning.date_naive();
    let today = progress::valid_holds_on(&db, "P-5", day, offset).expect("today");
    assert_eq!(
        today,
        rec.valid_squeezes + g.valid_squeezes + p.valid_squeezes
    );
    let utc = FixedOffset::east_opt(0).expect("utc");
    let next_utc_day =
        progress::valid_holds_on(&db, "P-5", day.succ_opt().expect("day"), utc).expect("utc day");
    assert_eq!(next_utc_day, 0, "23:30+02 is 21:30 UTC, same day");
    // The progress report shows the guided sessions, assessments and %MVC.
    let out = dir.path().join("report");
    let r = progress::write_report(&db, "P-5", &out).expect("report");
    let mut csv = csv::Reader::from_path(out.join("progress.csv")).expect("progress.csv");
    let header = csv.headers().expect("header").clone();
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    let row = csv.records().next().expect("one day").expect("row");
    assert_eq!(&row[col("guided_sessions")], "3");
    assert_eq!(&row[col("sessions")], "3");
    assert_eq!(&row[col("valid_squeezes")], today.to_string());
    assert!(!row[col("mean_pct_mvc")].is_empty());
    assert!(!row[col("peak_pct_mvc")].is_empty());
    assert!(!row[col("glazer_tonic_mean")].is_empty());
    assert!(!row[col("perfect_endurance_s")].is_empty());
    assert_eq!(&row[col("assessments")], "perfect glazer");
    assert_eq!(r.sessions, 3);
    if let Ok(keep) = std::env::var("KNIP_KEEP_PNG") {
        std::fs::copy(out.join("progress.png"), keep).expect("keep png");
    }
}

#[test]
fn a_calibration_is_kept_per_patient_and_device() {
    use knip::session::calibrate::{Calibration, ChannelCalibration};
    let dir = tempfile::tempdir().expect("tempdir");
    let db = progress::open(&dir.path().join("p.sqlite")).expect("open");
    let cal = |mvc: f64| Calibration {
        channels: vec![ChannelCalibration {
            role: knip::frame::Role::PfmEmg,
            unit: "uV".into(),
            rest_mean: 4.0,
            rest_sd: 1.0,
            mvc,
        }],
        source: "this session".into(),
    };
    assert!(progress::latest_calibration(&db, "P-1", "cyton")
        .expect("read")
        .is_none());
    progress::save_calibration(&db, "P-1", "cyton", &cal(40.0)).expect("save");
    progress::save_calibration(&db, "P-1", "cyton", &cal(44.0)).expect("save");
    progress::save_calibration(&db, "P-1", "line", &cal(90.0)).expect("save");
    progress::save_calibration(&db, "P-2", "cyton", &cal(10.0)).expect("save");
    let (c, _when) = progress::latest_calibration(&db, "P-1", "cyton")
        .expect("read")
        .expect("saved");
    assert_eq!(c.channels, cal(44.0).channels, "the newest for this device");
    assert!(c.source.starts_with("saved "), "{}", c.source);
    let (c, _) = progress::latest_calibration(&db, "P-1", "line")
        .expect("read")
        .expect("saved");
    assert_eq!(c.channels[0].mvc, 90.0);
}

#[cfg(unix)]
#[test]
fn an_existing_database_others_could_read_is_made_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("shared.sqlite");
    drop(progress::open(&path).expect("create"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    drop(progress::open(&path).expect("open"));
    let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn a_file_that_is_not_a_knip_database_is_named_plainly() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A text file.
    let text = dir.path().join("notes.sqlite");
    std::fs::write(&text, "patient notes, not a database\n".repeat(100)).expect("write");
    let e = progress::open(&text).expect_err("refused");
    let msg = e.to_string();
    assert!(
        msg.contains("notes.sqlite") && msg.contains("not a database"),
        "{msg}"
    );
    assert!(!msg.contains("Conversion error"), "{msg}");
    assert!(e.is_input_error(), "{msg}");
    // The whole story is in the message: no cause behind it that the command line would add
    // ("…: Error code 26: File opened that is not a database file").
    assert!(std::error::Error::source(&e).is_none(), "{msg}");
    #[cfg(unix)]
    {
        // Not knip's file: its mode is left alone.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&text, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(progress::open(&text).is_err());
        let mode = std::fs::metadata(&text).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
    }
    // Another program's database with a table of the same name.
    let other = dir.path().join("other.sqlite");
    Connection::open(&other)
        .expect("create")
        .execute_batch("CREATE TABLE sessions (id INTEGER PRIMARY KEY, note TEXT);")
        .expect("table");
    let e = progress::open(&other).expect_err("refused");
    let msg = e.to_string();
    assert!(
        msg.contains("other.sqlite") && msg.contains("not a knip progress database"),
        "{msg}"
    );
    assert!(e.is_input_error(), "{msg}");
    // knip's version number on other tables.
    let wrong = dir.path().join("wrong.sqlite");
    Connection::open(&wrong)
        .expect("create")
        .execute_batch(&format!(
            "CREATE TABLE sessions (id INTEGER PRIMARY KEY, start TEXT);
             PRAGMA user_version = {SCHEMA_VERSION};"
        ))
        .expect("table");
    let e = progress::open(&wrong).expect_err("refused");
    let msg = e.to_string();
    assert!(
        msg.contains("wrong.sqlite") && msg.contains("has no column"),
        "{msg}"
    );
    assert!(e.is_input_error(), "{msg}");
}
