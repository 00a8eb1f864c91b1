//! Scoring detected events against ground truth (simulated sessions with known onsets).
//!
//! A detected contraction matches a true squeeze or quick flick on the same channel when its onset
//! is within `max_onset_error_s` (250 ms) of the true onset and the two overlap; each truth is
//! matched at most once, nearest onset first.
//!
//! [`evaluate`] runs simulated sessions through the pipeline and scores them (`knip evaluate`).

use crate::config::AnalysisConfig;
use crate::error::RunError;
use crate::event::{ContractionEvent, EventKind};
use crate::frame::Role;
use crate::pipeline::{self, Pace};
use crate::simulate::{Condition, SimConfig, SimulatedPatient};
use crate::sink::collect::{take_events, EventCollector};
use crate::truth::{TruthEvent, TruthKind};
use serde::Serialize;

pub const MAX_ONSET_ERROR_S: f64 = 0.25;

/// Counts and errors for one or many sessions.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Score {
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
    /// Signed onset errors (detected − true), seconds, of matched pairs.
    pub onset_errors_s: Vec<f64>,
    /// Signed duration errors (detected − true), seconds, of matched pairs.
    pub duration_errors_s: Vec<f64>,
    /// True coughs that a detected *contraction* overlaps (must be 0).
    pub coughs_counted: usize,
    /// True coughs tagged as coughs on that channel.
    pub coughs_tagged: usize,
    pub coughs_total: usize,
    /// True strains (on pressure) tagged as strains.
    pub strains_tagged: usize,
    pub strains_total: usize,
    /// Decision latency (decided − true offset) of matched pairs, seconds.
    pub decision_latency_s: Vec<f64>,
    /// Live onset-notice latency (notice decided − true onset) of matched pairs, seconds.
    pub onset_notice_latency_s: Vec<f64>,
}

impl Score {
    pub fn precision(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_positives,
        )
    }
    pub fn recall(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_negatives,
        )
    }
    pub fn f1(&self) -> f64 {
        ratio(
            2 * self.true_positives,
            2 * self.true_positives + self.false_positives + self.false_negatives,
        )
    }
    pub fn median_abs_onset_error_s(&self) -> f64 {
        median_abs(&self.onset_errors_s)
    }
    pub fn median_abs_duration_error_s(&self) -> f64 {
        median_abs(&self.duration_errors_s)
    }
    /// Median signed onset error (detected − true), seconds: negative = early.
    pub fn median_onset_error_s(&self) -> f64 {
        median(&self.onset_errors_s)
    }

    pub fn add(&mut self, other: &Score) {
        self.true_positives += other.true_positives;
        self.false_positives += other.false_positives;
        self.false_negatives += other.false_negatives;
        self.onset_errors_s.extend(&other.onset_errors_s);
        self.duration_errors_s.extend(&other.duration_errors_s);
        self.decision_latency_s.extend(&other.decision_latency_s);
        self.onset_notice_latency_s
            .extend(&other.onset_notice_latency_s);
        self.coughs_counted += other.coughs_counted;
        self.coughs_tagged += other.coughs_tagged;
        self.coughs_total += other.coughs_total;
        self.strains_tagged += other.strains_tagged;
        self.strains_total += other.strains_total;
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

pub fn median_abs(v: &[f64]) -> f64 {
    let a: Vec<f64> = v.iter().map(|x| x.abs()).collect();
    median(&a)
}

/// Median (0 for no values).
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut a = v.to_vec();
    a.sort_by(|x, y| x.total_cmp(y));
    let n = a.len();
    if n % 2 == 1 {
        a[n / 2]
    } else {
        0.5 * (a[n / 2 - 1] + a[n / 2])
    }
}

fn overlaps(a0: f64, a1: f64, b0: f64, b1: f64) -> bool {
    a0 < b1 && b0 < a1
}

/// Score the detected events of one channel role against the truth of that role.
pub fn score_channel(truth: &[TruthEvent], detected: &[ContractionEvent], role: Role) -> Score {
    let mut s = Score::default();
    let true_contr: Vec<&TruthEvent> = truth
        .iter()
        .filter(|t| t.role == role && t.kind.is_contraction())
        .collect();
    let det: Vec<&ContractionEvent> = detected
        .iter()
        .filter(|e| e.role == role && e.kind == EventKind::Contraction)
        .collect();
    // All candidate pairs, nearest onset first.
    let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
    for (ti, t) in true_contr.iter().enumerate() {
        for (di, d) in det.iter().enumerate() {
            let err = d.onset_s - t.onset_s;
            if err.abs() <= MAX_ONSET_ERROR_S
                && overlaps(t.onset_s, t.offset_s, d.onset_s, d.offset_s)
            {
                pairs.push((err.abs(), ti, di));
            }
        }
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut t_used = vec![false; true_contr.len()];
    let mut d_used = vec![false; det.len()];
    for (_, ti, di) in pairs {
        if t_used[ti] || d_used[di] {
            continue;
        }
        t_used[ti] = true;
        d_used[di] = true;
        let (t, d) = (true_contr[ti], det[di]);
        s.true_positives += 1;
        s.onset_errors_s.push(d.onset_s - t.onset_s);
        s.duration_errors_s
            .push(d.duration_s() - (t.offset_s - t.onset_s));
        s.decision_latency_s.push(d.decided_at_s - t.offset_s);
    }
    s.false_negatives = t_used.iter().filter(|u| !**u).count();
    s.false_positives = d_used.iter().filter(|u| !**u).count();

    for c in truth
        .iter()
        .filter(|t| t.role == role && t.kind == TruthKind::Cough)
    {
        s.coughs_total += 1;
        // A cough inside a squeeze (the knack) is part of that squeeze: only a contraction that
        // overlaps the cough and no true contraction counts the cough.
        let inside_squeeze = true_contr
            .iter()
            .any(|t| overlaps(t.onset_s, t.offset_s, c.onset_s, c.offset_s));
        if !inside_squeeze
            && det
                .iter()
                .any(|d| overlaps(d.onset_s, d.offset_s, c.onset_s, c.offset_s))
        {
            s.coughs_counted += 1;
        }
        if detected.iter().any(|d| {
            d.role == role
                && d.kind == EventKind::Cough
                && overlaps(d.onset_s, d.offset_s, c.onset_s, c.offset_s)
        }) {
            s.coughs_tagged += 1;
        }
    }
    for st in truth
        .iter()
        .filter(|t| t.role == role && t.kind == TruthKind::Strain)
    {
        s.strains_total += 1;
        if detected.iter().any(|d| {
            d.role == role
                && d.kind == EventKind::Strain
                && overlaps(d.onset_s, d.offset_s, st.onset_s, st.offset_s)
        }) {
            s.strains_tagged += 1;
        }
    }
    s
}

/// One simulated session's evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct SessionScore {
    pub protocol: String,
    pub seed: u64,
    pub duration_s: f64,
    /// The simulated patient's drawn parameters (JSON).
    pub snr_note: String,
    pub pfm: Score,
    pub pressure: Score,
}

/// Pooled scores over sessions: (pelvic EMG, pressure, both).
pub fn pooled(results: &[SessionScore]) -> (Score, Score, Score) {
    let (mut pfm, mut pressure, mut all) = (Score::default(), Score::default(), Score::default());
    for r in results {
        pfm.add(&r.pfm);
        pressure.add(&r.pressure);
        all.add(&r.pfm);
        all.add(&r.pressure);
    }
    (pfm, pressure, all)
}

/// A plain-text table of per-session and pooled figures.
pub fn format_table(results: &[SessionScore]) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:>4} {:10} {:>7} | {:>5} {:>3} {:>3} {:>3} {:>8} {:>8} | {:>5} {:>3} {:>3} {:>3} {:>8} {:>8} | coughs counted/tagged/total  strains tagged/total",
        "seed", "protocol", "dur_s", "F1emg", "tp", "fp", "fn", "onset_ms", "hold_ms", "F1prs", "tp", "fp", "fn", "onset_ms", "hold_ms"
    );
    for r in results {
        let _ = writeln!(
            s,
            "{:>4} {:10} {:>7.1} | {:>5.3} {:>3} {:>3} {:>3} {:>8.0} {:>8.0} | {:>5.3} {:>3} {:>3} {:>3} {:>8.0} {:>8.0} | {}/{}/{}  {}/{}",
            r.seed,
            r.protocol,
            r.duration_s,
            r.pfm.f1(),
            r.pfm.true_positives,
            r.pfm.false_positives,
            r.pfm.false_negatives,
            1000.0 * r.pfm.median_abs_onset_error_s(),
            1000.0 * r.pfm.median_abs_duration_error_s(),
            r.pressure.f1(),
            r.pressure.true_positives,
            r.pressure.false_positives,
            r.pressure.false_negatives,
            1000.0 * r.pressure.median_abs_onset_error_s(),
            1000.0 * r.pressure.median_abs_duration_error_s(),
            r.pfm.coughs_counted + r.pressure.coughs_counted,
            r.pfm.coughs_tagged + r.pressure.coughs_tagged,
            r.pfm.coughs_total + r.pressure.coughs_total,
            r.pressure.strains_tagged,
            r.pressure.strains_total,
        );
    }
    let (pfm, pressure, all) = pooled(results);
    for (name, sc) in [("pelvic EMG", &pfm), ("pressure", &pressure), ("all", &all)] {
        let _ = writeln!(
            s,
            "pooled {name:10}: F1 {:.3} (precision {:.3}, recall {:.3}; {} tp, {} fp, {} fn), median |onset error| {:.0} ms, median |hold error| {:.0} ms, live onset notice {:.0} ms after the true onset (median), coughs counted as contractions {}",
            sc.f1(),
            sc.precision(),
            sc.recall(),
            sc.true_positives,
            sc.false_positives,
            sc.false_negatives,
            1000.0 * sc.median_abs_onset_error_s(),
            1000.0 * sc.median_abs_duration_error_s(),
            1000.0 * median_abs(&sc.onset_notice_latency_s),
            sc.coughs_counted
        );
    }
    s
}

/// The protocols evaluation cycles through.
pub const EVALUATION_PROTOCOLS: [&str; 3] = ["identify", "strength", "mixed"];

/// Run `sessions` simulated sessions (seeds `first_seed..`) through the pipeline and score the
/// detector against their truth. Sessions run on `threads` worker threads.
pub fn evaluate(
    sessions: usize,
    first_seed: u64,
    cfg: &AnalysisConfig,
    threads: usize,
) -> Result<Vec<SessionScore>, RunError> {
    let jobs: Vec<Job> = (0..sessions)
        .map(|i| Job {
            protocol: EVALUATION_PROTOCOLS[i % EVALUATION_PROTOCOLS.len()].to_string(),
            seed: first_seed + i as u64,
            conditions: Vec::new(),
        })
        .collect();
    run_jobs(&jobs, cfg, threads)
}

/// One simulated session to score.
#[derive(Debug, Clone)]
struct Job {
    protocol: String,
    seed: u64,
    conditions: Vec<Condition>,
}

fn run_jobs(
    jobs: &[Job],
    cfg: &AnalysisConfig,
    threads: usize,
) -> Result<Vec<SessionScore>, RunError> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(job) = jobs.get(i) else {
                    break;
                };
                let r = evaluate_one(job, cfg);
                if let Ok(mut v) = results.lock() {
                    v.push((i, r));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

fn evaluate_one(job: &Job, cfg: &AnalysisConfig) -> Result<SessionScore, RunError> {
    let (protocol, seed) = (job.protocol.as_str(), job.seed);
    let sim = SimConfig {
        protocol: protocol.to_string(),
        seed,
        conditions: job.conditions.clone(),
        ..SimConfig::default()
    };
    let patient = SimulatedPatient::new(&sim)?;
    let truth = patient.truth().to_vec();
    let duration_s = patient.duration_s();
    let snr_note = serde_json::to_string(patient.params()).unwrap_or_default();
    let collector = EventCollector::default();
    let events = collector.handle();
    let onsets = collector.onset_handle();
    pipeline::run(
        Box::new(patient),
        cfg,
        vec![Box::new(collector)],
        Pace::Offline,
    )?;
    let events = take_events(&events);
    let onsets = onsets.lock().map(|v| v.clone()).unwrap_or_default();
    let score = |role: Role| {
        let mut s = score_channel(&truth, &events, role);
        s.onset_notice_latency_s = onset_notice_latencies(&truth, &events, &onsets, role);
        s
    };
    Ok(SessionScore {
        protocol: protocol.to_string(),
        seed,
        duration_s,
        snr_note,
        pfm: score(Role::PfmEmg),
        pressure: score(Role::Pressure),
    })
}

/// For each true contraction that a detected contraction matches (as in [`score_channel`]),
/// how long after the true onset the live onset notice of that contraction was sent.
pub fn onset_notice_latencies(
    truth: &[TruthEvent],
    detected: &[ContractionEvent],
    onsets: &[crate::event::OnsetNotice],
    role: Role,
) -> Vec<f64> {
    let mut out = Vec::new();
    for t in truth
        .iter()
        .filter(|t| t.role == role && t.kind.is_contraction())
    {
        let matched = detected.iter().any(|d| {
            d.role == role
                && d.kind == EventKind::Contraction
                && (d.onset_s - t.onset_s).abs() <= MAX_ONSET_ERROR_S
                && overlaps(t.onset_s, t.offset_s, d.onset_s, d.offset_s)
        });
        let notice = onsets
            .iter()
            .filter(|n| n.role == role && (n.onset_s - t.onset_s).abs() <= MAX_ONSET_ERROR_S)
            .map(|n| n.decided_at_s)
            .reduce(f64::min);
        if let (true, Some(at)) = (matched, notice) {
            out.push(at - t.onset_s);
        }
    }
    out
}

/// A named set of simulator conditions evaluated together (one row of the conditions table).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConditionSet {
    pub name: String,
    pub conditions: Vec<Condition>,
}

impl ConditionSet {
    pub fn of(conditions: &[Condition]) -> Self {
        ConditionSet {
            name: conditions
                .iter()
                .map(|c| c.name())
                .collect::<Vec<_>>()
                .join("+"),
            conditions: conditions.to_vec(),
        }
    }
}

/// The combined rows of `--conditions all`: the pressure conditions the issue measured
/// together (F1 0.47–0.56 there), at both slow sensor rates, and the EMG pair.
pub fn combined_condition_sets() -> Vec<ConditionSet> {
    use Condition::*;
    vec![
        ConditionSet {
            name: "pressure: creep+slip+weak at 20 Hz".into(),
            conditions: vec![InflationCreep, ProbeSlip, Weak, Pressure20Hz],
        },
        ConditionSet {
            name: "pressure: creep+slip+weak at 50 Hz".into(),
            conditions: vec![InflationCreep, ProbeSlip, Weak, Pressure50Hz],
        },
        ConditionSet {
            name: "EMG: calibration_squeeze+dc_offset".into(),
            conditions: vec![CalibrationSqueeze, DcOffset],
        },
    ]
}

/// Parses `--conditions`: `all` (every condition alone, then [`combined_condition_sets`]) or
/// a comma-separated list whose items are condition names or `+`-joined combinations.
pub fn parse_condition_sets(list: &str) -> Result<Vec<ConditionSet>, crate::simulate::SimError> {
    let mut sets = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if item.eq_ignore_ascii_case("all") {
            sets.extend(Condition::ALL.iter().map(|c| ConditionSet::of(&[*c])));
            sets.extend(combined_condition_sets());
        } else {
            let names: Vec<&str> = item.split('+').collect();
            let conditions = crate::simulate::parse_conditions(&names)?;
            sets.push(ConditionSet::of(&conditions));
        }
    }
    Ok(sets)
}

/// Pooled scores of one condition set over its sessions.
#[derive(Debug, Clone, Serialize)]
pub struct ConditionScore {
    pub name: String,
    pub conditions: Vec<Condition>,
    pub sessions: usize,
    pub pfm: Score,
    pub pressure: Score,
}

impl ConditionScore {
    /// The pooled row of sessions already scored (e.g. the default run, as the `none` row).
    pub fn pooled(name: &str, conditions: &[Condition], results: &[SessionScore]) -> Self {
        let (pfm, pressure, _) = pooled(results);
        ConditionScore {
            name: name.to_string(),
            conditions: conditions.to_vec(),
            sessions: results.len(),
            pfm,
            pressure,
        }
    }
}

/// Runs the same `sessions` (protocols cycling as in [`evaluate`], seeds `first_seed..`) once
/// per condition set and pools each set's scores. All sessions share `threads` workers.
pub fn evaluate_conditions(
    sets: &[ConditionSet],
    sessions: usize,
    first_seed: u64,
    cfg: &AnalysisConfig,
    threads: usize,
) -> Result<Vec<ConditionScore>, RunError> {
    let jobs: Vec<Job> = sets
        .iter()
        .flat_map(|set| {
            (0..sessions).map(move |i| Job {
                protocol: EVALUATION_PROTOCOLS[i % EVALUATION_PROTOCOLS.len()].to_string(),
                seed: first_seed + i as u64,
                conditions: set.conditions.clone(),
            })
        })
        .collect();
    let results = run_jobs(&jobs, cfg, threads)?;
    Ok(sets
        .iter()
        .zip(results.chunks(sessions.max(1)))
        .map(|(set, r)| ConditionScore::pooled(&set.name, &set.conditions, r))
        .collect())
}

/// One line per condition set: pelvic EMG and pressure F1, counts and onset errors.
pub fn format_conditions_table(rows: &[ConditionScore]) -> String {
    use std::fmt::Write;
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(9).max(17);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:width$} {:>4} | {:>5} {:>4} {:>4} {:>4} {:>7} {:>7} | {:>5} {:>4} {:>4} {:>4} {:>7} {:>7} | {:>6}",
        "condition", "n", "F1emg", "tp", "fp", "fn", "|on|ms", "on_ms", "F1prs", "tp", "fp", "fn", "|on|ms", "on_ms", "coughs"
    );
    // Every row pooled, when there are several: the conditions' figure as one.
    let mut all = ConditionScore {
        name: "pooled (all rows)".into(),
        conditions: Vec::new(),
        sessions: 0,
        pfm: Score::default(),
        pressure: Score::default(),
    };
    for r in rows {
        all.sessions += r.sessions;
        all.pfm.add(&r.pfm);
        all.pressure.add(&r.pressure);
    }
    let pooled_row = (rows.len() > 1).then_some(&all);
    for r in rows.iter().chain(pooled_row) {
        let _ = writeln!(
            s,
            "{:width$} {:>4} | {:>5.3} {:>4} {:>4} {:>4} {:>7.0} {:>+7.0} | {:>5.3} {:>4} {:>4} {:>4} {:>7.0} {:>+7.0} | {:>6}",
            r.name,
            r.sessions,
            r.pfm.f1(),
            r.pfm.true_positives,
            r.pfm.false_positives,
            r.pfm.false_negatives,
            1000.0 * r.pfm.median_abs_onset_error_s(),
            1000.0 * r.pfm.median_onset_error_s(),
            r.pressure.f1(),
            r.pressure.true_positives,
            r.pressure.false_positives,
            r.pressure.false_negatives,
            1000.0 * r.pressure.median_abs_onset_error_s(),
            1000.0 * r.pressure.median_onset_error_s(),
            r.pfm.coughs_counted + r.pressure.coughs_counted,
        );
    }
    let _ = writeln!(
        s,
        "(|on|ms: median |onset error|; on_ms: median signed onset error, detected - true; coughs: counted as contractions)"
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn truth(onset: f64, offset: f64, kind: TruthKind) -> TruthEvent {
        TruthEvent {
            role: Role::PfmEmg,
            onset_s: onset,
            offset_s: offset,
            kind,
            amplitude: 30.0,
            rep: 1,
        }
    }

    fn det(onset: f64, offset: f64, kind: EventKind) -> ContractionEvent {
        ContractionEvent {
            channel: 0,
            role: Role::PfmEmg,
            kind,
            onset_s: onset,
            offset_s: offset,
            peak: 1.0,
            peak_time_s: onset,
            mean: 1.0,
            cv_pct: 1.0,
            core_s: offset - onset,
            rise_s: 0.0,
            release_s: 0.0,
            rest_mean: 0.0,
            rest_sd: 1.0,
            abd_mean: None,
            abd_index: None,
            decided_at_s: offset + 0.2,
            onset_carried_s: 0.0,
        }
    }

    #[test]
    fn matches_within_250_ms_once_and_counts_the_rest() {
        let t = vec![
            truth(10.0, 15.0, TruthKind::Squeeze),
            truth(20.0, 25.0, TruthKind::Squeeze),
            truth(30.0, 31.0, TruthKind::QuickFlick),
            truth(40.0, 40.3, TruthKind::Cough),
        ];
        let d = vec![
            det(10.05, 14.9, EventKind::Contraction),
            det(10.1, 14.0, EventKind::Contraction), // duplicate: false positive
            det(20.4, 25.0, EventKind::Contraction), // onset 400 ms late: FP and FN
            det(30.0, 31.0, EventKind::Contraction),
            det(40.0, 40.3, EventKind::Cough),
        ];
        let s = score_channel(&t, &d, Role::PfmEmg);
        assert_eq!(
            (s.true_positives, s.false_positives, s.false_negatives),
            (2, 2, 1)
        );
        assert!((s.f1() - 4.0 / 7.0).abs() < 1e-12);
        assert_eq!(s.coughs_counted, 0);
        assert_eq!(s.coughs_tagged, 1);
        assert!((s.median_abs_onset_error_s() - 0.025).abs() < 1e-9);
    }

    #[test]
    fn a_cough_counted_as_contraction_is_reported() {
        let t = vec![truth(40.0, 40.3, TruthKind::Cough)];
        let d = vec![det(40.0, 40.6, EventKind::Contraction)];
        let s = score_channel(&t, &d, Role::PfmEmg);
        assert_eq!(s.coughs_counted, 1);
        assert_eq!(s.false_positives, 1);
    }
}
