//! Reports of a guided session: `reps.csv` (a row per repetition with every score),
//! `session_summary.csv` (session metrics, `metric,value,unit,note`), `session.json`,
//! `calibration.json`, `report.png` (the traces with cue windows shaded and reps numbered,
//! co-activation highlighted on the abdominal trace) and, for assessments, `assessment.png`
//! (the Glazer table or PERFECT, printable).

use crate::error::OutputError;
use crate::event::EventKind;
use crate::frame::Role;
use crate::session::fatigue::slope;
use crate::session::glazer::GlazerRow;
use crate::session::perfect::Perfect;
use crate::session::protocol::ProtocolKind;
use crate::session::run::InterruptionCause;
use crate::session::run::{SessionResult, HISTORY_BIN_S};
use crate::session::score::{CoactFlag, Reason};
use crate::sink::decimate::MinMaxPoint;
use crate::sink::plot::{
    write_report_png, PlotChannel, ReportPlot, Shade, ShadeKind, TargetSegment,
};
use crate::sink::report::{commit_table, create_table, csv_error};
use std::path::{Path, PathBuf};

/// The guided session's metrics table (`metric,value,unit,note`); not the analysis report's
/// `summary.csv`.
pub const SESSION_SUMMARY_FILE: &str = "session_summary.csv";

/// Columns of `reps.csv`.
pub const REPS_COLUMNS: [&str; 30] = [
    "phase",
    "kind",
    "rep",
    "cue_s",
    "target_s",
    "onset_s",
    "cue_to_onset_s",
    "offset_s",
    "hold_s",
    "peak",
    "peak_pct_mvc",
    "mean_pct_mvc",
    "cv_pct",
    "rise_s",
    "release_s",
    "returned_to_rest",
    "abd_index",
    "abd_lead_ms",
    "coact_flag",
    "strain",
    "cough_onset_s",
    "knack_lead_s",
    "median_hz",
    "median_slope_hz_per_s",
    "above_band_s",
    "rest_mean",
    "rest_cv_pct",
    "verdict",
    "reason",
    "message",
];

/// Label every engineering threshold carries in the reports.
pub const NOT_VALIDATED: &str = "engineering default, not validated";

fn opt(v: Option<f64>, d: usize) -> String {
    v.map(|x| {
        let text = format!("{x:.d$}");
        // A value that rounds to zero is shown as 0, not "-0".
        match text.strip_prefix('-') {
            Some(rest) if rest.chars().all(|c| c == '0' || c == '.') => rest.to_string(),
            _ => text,
        }
    })
    .unwrap_or_default()
}

/// Session metrics: (metric, value, unit, note).
pub fn summary_rows(r: &SessionResult) -> Vec<(String, String, String, String)> {
    let mut rows: Vec<(String, String, String, String)> = Vec::new();
    let mut add =
        |m: &str, v: String, u: &str, n: &str| rows.push((m.into(), v, u.into(), n.into()));
    let unit = r
        .scoring_channel
        .and_then(|c| r.spec.as_ref().map(|s| s.channels[c].unit.clone()))
        .unwrap_or_default();
    add(
        "protocol",
        r.protocol.name.clone(),
        "",
        &r.protocol.description,
    );
    add(
        "duration",
        format!("{:.1}", r.end_time_s),
        "s",
        if r.stopped_early { "stopped early" } else { "" },
    );
    let holds: Vec<_> = r.reps.iter().filter(|x| x.kind == "hold").collect();
    let valid = holds.iter().filter(|x| x.passed()).count() as u32;
    add("valid_holds", valid.to_string(), "reps", "this session");
    add(
        "valid_holds_today",
        (valid + r.done_today).to_string(),
        "reps",
        "",
    );
    add(
        "daily_goal",
        r.protocol.daily_goal_reps.to_string(),
        "reps",
        "leaflet: 30 a day",
    );
    for (p, rep, reason) in &r.set_ends {
        let name = &r.phases[*p].name;
        let (n, rule) = if *reason == Reason::Ok {
            (*rep, "every rep done".to_string())
        } else {
            (
                rep - 1,
                match reason {
                    Reason::Short => format!(
                        "rep {rep} held under the target minus {:.2} s",
                        r.scoring.hold_tolerance_s
                    ),
                    Reason::Weak => format!(
                        "rep {rep} peak below {:.0} % of rep 1 ({NOT_VALIDATED})",
                        100.0 * r.scoring.fail_peak_rel
                    ),
                    Reason::Missing => format!("no squeeze in rep {rep}"),
                    _ => reason.as_str().to_string(),
                },
            )
        };
        add(
            &format!("{name}_reps_to_failure"),
            n.to_string(),
            "reps",
            &rule,
        );
    }
    let flicks = r
        .reps
        .iter()
        .filter(|x| x.kind == "flick" && x.passed())
        .count();
    add("quick_flicks", flicks.to_string(), "reps", "");
    if let Some(e) = r
        .reps
        .iter()
        .filter(|x| x.kind == "endurance")
        .filter_map(|x| x.above_band_s)
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))
    {
        add(
            "endurance_above_band",
            format!("{e:.1}"),
            "s",
            "longest; band lower edge",
        );
    }
    // Fatigue over the strength set.
    let strength: Vec<_> = holds.iter().filter(|x| x.peak.is_some()).collect();
    if strength.len() >= 2 {
        let first = strength[0].peak.unwrap_or(0.0);
        let last_valid = strength
            .iter()
            .rev()
            .find(|x| x.passed())
            .and_then(|x| x.peak);
        if let Some(l) = last_valid.filter(|_| first > 0.0) {
            add(
                "peak_decline",
                format!("{:.1}", 100.0 * (first - l) / first),
                "%",
                "rep 1 to last valid hold",
            );
        }
        let mf: Vec<(f64, f64)> = strength
            .iter()
            .filter_map(|x| x.median_hz.map(|m| (f64::from(x.rep), m)))
            .collect();
        if let Some(s) = slope(&mf) {
            add(
                "median_frequency_slope_over_reps",
                format!("{s:.2}"),
                "Hz/rep",
                "falls with fatigue",
            );
        }
    }
    if let Some(s) = r
        .reps
        .iter()
        .filter(|x| x.kind == "endurance")
        .filter_map(|x| x.median_slope_hz_per_s)
        .next()
    {
        add(
            "median_frequency_slope_in_hold",
            format!("{s:.3}"),
            "Hz/s",
            "research metric; noisy below 10 dB SNR",
        );
    }
    let flags = |f: CoactFlag| {
        r.reps
            .iter()
            .filter(|x| x.coact_flag == Some(f))
            .count()
            .to_string()
    };
    add(
        "coactivation_green",
        flags(CoactFlag::Green),
        "reps",
        NOT_VALIDATED,
    );
    add(
        "coactivation_amber",
        flags(CoactFlag::Amber),
        "reps",
        NOT_VALIDATED,
    );
    add(
        "coactivation_red",
        flags(CoactFlag::Red),
        "reps",
        NOT_VALIDATED,
    );
    add(
        "strains",
        r.reps.iter().filter(|x| x.strain).count().to_string(),
        "reps",
        "bearing down instead of squeezing",
    );
    let knacks: Vec<_> = r.reps.iter().filter(|x| x.kind == "knack").collect();
    if !knacks.is_empty() {
        add(
            "knacks_good",
            knacks.iter().filter(|x| x.passed()).count().to_string(),
            "reps",
            "squeeze before the cough, held through it",
        );
    }
    add(
        "coactivation_thresholds",
        r.scoring.coactivation_rule(),
        "",
        NOT_VALIDATED,
    );
    add(
        "hold_tolerance",
        format!("{}", r.scoring.hold_tolerance_s),
        "s",
        NOT_VALIDATED,
    );
    add("calibration", r.calibration_source.clone(), "", "");
    if let (Some(c), Some(sc)) = (r.calibration.as_ref(), r.scoring_channel) {
        if let Some(cc) = r.spec.as_ref().and_then(|s| c.channel(s.channels[sc].role)) {
            add(
                "rest_level",
                format!("{:.2}", cc.rest_mean),
                &unit,
                "calibration baseline",
            );
            add(
                "mvc",
                format!("{:.2}", cc.mvc),
                &unit,
                "best of 3, 250 ms smoothing",
            );
        }
    }
    add("markers", r.markers.len().to_string(), "", "");
    let stood_still: f64 = r.interruptions.iter().map(|x| x.end_s - x.start_s).sum();
    add(
        "interruptions",
        r.interruptions.len().to_string(),
        "count",
        &format!("protocol stood still {stood_still:.1} s (no signal or paused)"),
    );
    rows
}

fn write_err(p: &Path) -> impl Fn(std::io::Error) -> OutputError + '_ {
    move |e| OutputError::write(p, e)
}

/// Write every report file into `dir`; returns the paths written.
pub fn write_session_report(
    dir: &Path,
    r: &SessionResult,
    title: &str,
) -> Result<Vec<PathBuf>, OutputError> {
    crate::private_file::create_dir(dir).map_err(write_err(dir))?;
    let mut files = Vec::new();
    // reps.csv
    let p = dir.join("reps.csv");
    {
        let mut w = create_table(&p)?;
        let err = csv_error(&p);
        w.write_record(REPS_COLUMNS).map_err(&err)?;
        // The scoring channel's unit, for the words shown.
        let unit = r
            .scoring_channel
            .and_then(|c| r.spec.as_ref().and_then(|s| s.channels.get(c)))
            .map(|c| c.unit.clone())
            .unwrap_or_default();
        for x in &r.reps {
            w.write_record([
                x.phase_name.clone(),
                x.kind.clone(),
                x.rep.to_string(),
                format!("{:.3}", x.cue_s),
                format!("{:.2}", x.target_s),
                opt(x.onset_s, 3),
                opt(x.cue_to_onset_s, 3),
                opt(x.offset_s, 3),
                opt(x.hold_s, 2),
                opt(x.peak, 2),
                opt(x.peak_pct_mvc, 1),
                opt(x.mean_pct_mvc, 1),
                opt(x.cv_pct, 1),
                opt(x.rise_s, 3),
                opt(x.release_s, 3),
                x.returned_to_rest
                    .map(|b| b.to_string())
                    .unwrap_or_default(),
                opt(x.abd_index, 2),
                opt(x.abd_lead_ms, 0),
                x.coact_flag
                    .map(|f| f.as_str())
                    .unwrap_or_default()
                    .to_string(),
                x.strain.to_string(),
                opt(x.cough_onset_s, 3),
                opt(x.knack_lead_s, 3),
                opt(x.median_hz, 1),
                opt(x.median_slope_hz_per_s, 3),
                opt(x.above_band_s, 2),
                opt(x.rest_mean, 2),
                opt(x.rest_cv_pct, 1),
                x.verdict
                    .map(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string(),
                x.reason.map(|v| v.as_str()).unwrap_or_default().to_string(),
                crate::sink::words::rep_message(x, &unit),
            ])
            .map_err(&err)?;
        }
        commit_table(w, &p)?;
    }
    files.push(p);
    // session_summary.csv
    let p = dir.join(SESSION_SUMMARY_FILE);
    {
        let mut w = create_table(&p)?;
        let err = csv_error(&p);
        w.write_record(["metric", "value", "unit", "note"])
            .map_err(&err)?;
        for (m, v, u, n) in summary_rows(r) {
            w.write_record([m, v, u, n]).map_err(&err)?;
        }
        commit_table(w, &p)?;
    }
    files.push(p);
    let glazer = crate::session::glazer::assessed(r);
    let perf = crate::session::perfect::assessed(r);
    // session.json
    let p = dir.join("session.json");
    let json = serde_json::json!({
        "format": "knip-session",
        "protocol": r.protocol,
        "phases": r.phases,
        "calibration": r.calibration,
        "calibration_source": r.calibration_source,
        "scoring": r.scoring,
        "scoring_note": NOT_VALIDATED,
        "set_ends": r.set_ends.iter().map(|(p, rep, reason)| serde_json::json!({"phase": r.phases[*p].name, "rep": rep, "reason": reason.as_str()})).collect::<Vec<_>>(),
        "markers": r.markers,
        "pauses_s": r.pauses,
        "interruptions": r.interruptions,
        "stopped_early": r.stopped_early,
        "end_time_s": r.end_time_s,
        "glazer": glazer,
        "perfect": perf,
        "stream": r.spec,
        "channels": r.channels,
        "warnings": r.warnings,
    });
    crate::private_file::write(
        &p,
        serde_json::to_string_pretty(&json)
            .unwrap_or_default()
            .as_bytes(),
    )
    .map_err(write_err(&p))?;
    files.push(p);
    if let Some(c) = &r.calibration {
        let p = dir.join("calibration.json");
        let text = serde_json::to_string_pretty(c)
            .map_err(|e| OutputError::write(&p, std::io::Error::other(e)))?;
        crate::private_file::write(&p, text.as_bytes()).map_err(write_err(&p))?;
        files.push(p);
    }
    let p = dir.join("report.png");
    write_report_png(&p, &report_plot(r, title))?;
    files.push(p);
    if r.protocol.kind == ProtocolKind::Assessment {
        let p = dir.join("assessment.png");
        crate::sink::assessment_plot::write_assessment_png(
            &p,
            r,
            glazer.as_deref(),
            perf.as_ref(),
            title,
        )?;
        files.push(p);
    }
    Ok(files)
}

/// Target bands of the reps on channel `ch`, in the channel's unit (from %MVC above rest).
fn target_segments(r: &SessionResult, ch: usize) -> Vec<TargetSegment> {
    let Some(spec) = r.spec.as_ref() else {
        return Vec::new();
    };
    let role = spec.channels[ch].role;
    if !role.is_pelvic_floor() {
        return Vec::new();
    }
    let Some(cal) = r.calibration.as_ref().and_then(|c| c.channel(role)) else {
        return Vec::new();
    };
    let level = |pct: f64| cal.rest_mean + pct / 100.0 * (cal.mvc - cal.rest_mean);
    r.reps
        .iter()
        .filter_map(|x| {
            let ph = &r.phases[x.phase];
            ph.target_pct_mvc.map(|(lo, hi)| TargetSegment {
                start_s: x.cue_s,
                end_s: x.cue_s + ph.work_s,
                lo: level(lo),
                hi: level(hi),
            })
        })
        .collect()
}

fn minmax(values: &[f64], max_points: usize) -> Vec<MinMaxPoint> {
    let per = values.len().div_ceil(max_points.max(1)).max(1);
    values
        .chunks(per)
        .enumerate()
        .map(|(i, c)| MinMaxPoint {
            t_s: (i * per) as f64 * HISTORY_BIN_S,
            min: c.iter().copied().fold(f64::INFINITY, f64::min),
            max: c.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
        .collect()
}

/// The report figure: traces, cue windows, numbered reps (✗ for a failed one), strains,
/// co-activation on the abdominal trace, markers.
pub fn report_plot(r: &SessionResult, title: &str) -> ReportPlot {
    let Some(spec) = r.spec.as_ref() else {
        return ReportPlot::default();
    };
    let mut order: Vec<usize> = (0..spec.channels.len()).collect();
    order.sort_by_key(|&i| match spec.channels[i].role {
        Role::PfmEmg => 0,
        Role::Pressure => 1,
        Role::AbdEmg => 2,
    });
    let panel_of = |ch: usize| order.iter().position(|&o| o == ch);
    let channels = order
        .iter()
        .map(|&i| {
            let ch = &spec.channels[i];
            let label = match ch.role {
                Role::PfmEmg => format!("Pelvic floor EMG ({})", ch.unit),
                Role::AbdEmg => format!("Abdominal EMG ({})", ch.unit),
                Role::Pressure => format!("Probe pressure ({})", ch.unit),
            };
            PlotChannel {
                name: ch.name.clone(),
                label,
                raw: if ch.role == Role::Pressure {
                    Vec::new()
                } else {
                    r.raw[i].points()
                },
                envelope: minmax(&r.history[i].values, 1800),
                onset_threshold: None,
                rest_level: r
                    .calibration
                    .as_ref()
                    .and_then(|c| c.channel(ch.role))
                    .map(|c| c.rest_mean),
                rest_steps: Vec::new(),
                targets: target_segments(r, i),
                settle_s: 0.0,
            }
        })
        .collect();
    let mut shades = Vec::new();
    for x in &r.reps {
        let ph = &r.phases[x.phase];
        shades.push(Shade {
            start_s: x.cue_s,
            end_s: x.cue_s + ph.work_s,
            channel: None,
            kind: ShadeKind::Cue,
            label: (x.rep == 1).then(|| ph.name.clone()),
        });
        if let (Some(on), Some(off), Some(c)) = (x.onset_s, x.offset_s, r.scoring_channel) {
            shades.push(Shade {
                start_s: on,
                end_s: off,
                channel: panel_of(c),
                kind: ShadeKind::Contraction,
                label: Some(if x.verdict == Some(crate::session::score::Verdict::Fail) {
                    format!("{}✗", x.rep)
                } else {
                    x.rep.to_string()
                }),
            });
            if x.flagged() {
                if let Some(a) = spec.channel_index(Role::AbdEmg) {
                    shades.push(Shade {
                        start_s: on,
                        end_s: off,
                        channel: panel_of(a),
                        kind: ShadeKind::AbdominalActivity,
                        label: x.coact_flag.map(|f| f.as_str().to_string()),
                    });
                }
            }
        }
    }
    for e in &r.events {
        if matches!(e.kind, EventKind::Strain | EventKind::Cough) {
            shades.push(Shade {
                start_s: e.onset_s,
                end_s: e.offset_s,
                channel: panel_of(e.channel),
                kind: e.kind.into(),
                label: None,
            });
        }
    }
    // Where the protocol stood still: the sensor away, or paused.
    for x in &r.interruptions {
        shades.push(Shade {
            start_s: x.start_s,
            end_s: x.end_s,
            channel: None,
            kind: ShadeKind::Gap,
            label: Some(
                match x.cause {
                    InterruptionCause::SignalLost => "no signal",
                    InterruptionCause::Paused => "paused",
                }
                .into(),
            ),
        });
    }
    let valid = r
        .reps
        .iter()
        .filter(|x| x.kind == "hold" && x.passed())
        .count();
    let mut markers = r.markers.clone();
    for (p, rep, reason) in &r.set_ends {
        if *reason != Reason::Ok {
            if let Some(x) = r.reps.iter().find(|x| x.phase == *p && x.rep == *rep) {
                markers.push((x.cue_s, format!("set ends ({})", reason.as_str())));
            }
        }
    }
    ReportPlot {
        title: title.to_string(),
        subtitle: format!(
            "{} · {} valid holds · {} reps scored · co-activation flags: {NOT_VALIDATED}",
            r.protocol.description,
            valid,
            r.reps.iter().filter(|x| x.verdict.is_some()).count()
        ),
        channels,
        shades,
        duration_s: r.end_time_s,
        markers,
    }
}

/// Rows of the assessment figure (also used by tests).
pub fn glazer_lines(rows: &[GlazerRow]) -> Vec<[String; 8]> {
    rows.iter()
        .map(|g| {
            [
                g.phase.clone(),
                opt(g.mean, 1),
                opt(g.cv_pct, 0),
                opt(g.peak, 1),
                opt(g.mean_pct_mvc, 0),
                format!(
                    "{} / {}",
                    opt(g.time_before_peak_s, 2),
                    opt(g.time_after_peak_s, 2)
                ),
                opt(g.median_hz, 0),
                match (g.normal_uv, g.normal_pct_mvc) {
                    (Some((m, s)), Some(p)) => format!("{m:.1} ± {s:.1} µV · {p:.0} %MVC"),
                    (Some((m, s)), None) => format!("{m:.1} ± {s:.1} µV"),
                    _ => String::new(),
                },
            ]
        })
        .collect()
}

/// PERFECT as (letter, value, meaning).
pub fn perfect_lines(p: &Perfect) -> Vec<[String; 3]> {
    vec![
        ["P".into(), p.power.map(|x| format!("{x} / 5")).unwrap_or_else(|| "—".into()), match (&p.power_band, p.peak_rise_cmh2o) {
            (Some(b), Some(x)) => format!("power: {b}, squeeze +{x:.1} cmH2O (Angelo 2017 bands; grade mapping {NOT_VALIDATED})"),
            _ => "power: needs a pressure probe or a digital exam".into(),
        }],
        ["E".into(), p.endurance_s.map(|x| format!("{x:.1} s")).unwrap_or_else(|| "—".into()), "endurance: maximal hold until it falls to half its peak (max 10 s)".into()],
        ["R".into(), p.repetitions.map(|x| x.to_string()).unwrap_or_else(|| "—".into()), "repetitions of that hold with 4 s rest (max 10)".into()],
        ["F".into(), p.fast.map(|x| x.to_string()).unwrap_or_else(|| "—".into()), "fast 1-s squeezes (max 10)".into()],
    ]
}
