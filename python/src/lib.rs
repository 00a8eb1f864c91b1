//! `knip._knip`: the knip library for Python. Thin bindings only: every stage runs in the knip
//! crate; this module converts arrays and errors. The pure-Python wrapper (`knip/__init__.py`)
//! builds the pandas tables, checks dtypes and shapes and carries the docstrings.

use knip::analyze_arrays::{analyze_arrays, analyze_source, ArrayAnalysis};
use knip::arrays::{read_recording, simulate_recording, Recording};
use knip::config::AnalysisConfig;
use knip::error::RunError;
use knip::frame::{ChannelSpec, Role, SignalKind, StreamSpec};
use knip::score::ScoringConfig;
use knip::simulate::SimConfig;
use knip::sink::report::{event_rows, CONTRACTION_COLUMNS, EVENT_COLUMNS};
use knip::source::csv_file::CsvOptions;
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::path::PathBuf;

create_exception!(
    _knip,
    KnipError,
    PyException,
    "Base class of knip's errors; the message is the command line's."
);
create_exception!(
    _knip,
    InputError,
    KnipError,
    "Bad input: a file, an array or a setting that cannot be used (the CLI's exit code 2)."
);
create_exception!(
    _knip,
    OutputError,
    KnipError,
    "Writing an output failed (disk full, permissions)."
);
create_exception!(
    _knip,
    SimulationError,
    InputError,
    "A simulator setting that does not exist (protocol, condition, rate)."
);
create_exception!(
    _knip,
    SettingsError,
    InputError,
    "An analysis setting that is unknown or outside its plausible range."
);

/// The message and its causes, each shown once (as the command line's `describe`).
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let t = c.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        cause = c.source();
    }
    text
}

fn run_error(e: RunError) -> PyErr {
    let msg = describe(&e);
    match &e {
        RunError::Simulation(_) => SimulationError::new_err(msg),
        _ if e.is_input_error() => InputError::new_err(msg),
        RunError::Output(_) => OutputError::new_err(msg),
        _ => KnipError::new_err(msg),
    }
}

fn input_error(e: knip::error::InputError) -> PyErr {
    InputError::new_err(describe(&e))
}

fn config_from(settings: Option<&Bound<'_, PyDict>>) -> PyResult<AnalysisConfig> {
    let mut cfg = AnalysisConfig::default();
    if let Some(d) = settings {
        for (k, v) in d.iter() {
            let name: String = k.extract()?;
            let value: Option<f64> = if v.is_none() {
                None
            } else {
                Some(v.extract().map_err(|_| {
                    SettingsError::new_err(format!(
                        "{name}: give a number, not {}",
                        v.repr().map(|r| r.to_string()).unwrap_or_default()
                    ))
                })?)
            };
            cfg = knip::settings::apply(&cfg, &name, value).map_err(SettingsError::new_err)?;
        }
    }
    Ok(cfg)
}

/// One channel as the wrapper describes it: (name, role, unit, rate_hz, envelope).
type ChannelDesc = (String, String, String, f64, bool);

fn spec_from(channels: &[ChannelDesc], start_time_s: f64) -> PyResult<StreamSpec> {
    let mut out = Vec::new();
    for (name, role, unit, rate_hz, envelope) in channels {
        let role = Role::from_column_name(role).ok_or_else(|| {
            InputError::new_err(format!(
                "{name}: unknown role '{role}': use pfm_emg, abd_emg or pressure"
            ))
        })?;
        knip::limits::SAMPLE_RATE_HZ
            .check(*rate_hz)
            .map_err(|e| InputError::new_err(format!("{name}: sampling rate {e}")))?;
        out.push(ChannelSpec {
            name: name.clone(),
            role,
            unit: if unit.is_empty() {
                role.default_unit().to_string()
            } else {
                unit.clone()
            },
            rate_hz: *rate_hz,
            kind: if *envelope {
                SignalKind::Envelope
            } else {
                SignalKind::Raw
            },
        });
    }
    Ok(StreamSpec {
        channels: out,
        start_time_s,
    })
}

fn channels_out<'py>(py: Python<'py>, rec: Recording) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let list = PyList::empty(py);
    for (ch, sig) in rec.spec.channels.iter().zip(rec.signals) {
        let c = PyDict::new(py);
        c.set_item("name", &ch.name)?;
        c.set_item("role", ch.role.column_name())?;
        c.set_item("unit", &ch.unit)?;
        c.set_item("rate_hz", ch.rate_hz)?;
        c.set_item("envelope", ch.kind == SignalKind::Envelope)?;
        c.set_item("samples", PyArray1::from_vec(py, sig))?;
        list.append(c)?;
    }
    d.set_item("channels", list)?;
    d.set_item("start_time_s", rec.spec.start_time_s)?;
    d.set_item("markers", rec.markers)?;
    d.set_item("warnings", rec.warnings)?;
    Ok(d)
}

/// Analyses arrays: `channels` [(name, role, unit, rate_hz, envelope)], `signals` float64
/// arrays (NaN = lost sample), `settings` {name: value}.
#[pyfunction]
#[pyo3(signature = (channels, signals, start_time_s=0.0, settings=None))]
fn analyze<'py>(
    py: Python<'py>,
    channels: Vec<ChannelDesc>,
    signals: Vec<PyReadonlyArray1<'py, f64>>,
    start_time_s: f64,
    settings: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    let cfg = config_from(settings)?;
    let spec = spec_from(&channels, start_time_s)?;
    let signals: Vec<Vec<f64>> = signals
        .iter()
        .map(|a| a.as_array().iter().copied().collect())
        .collect();
    let a: ArrayAnalysis = py
        .allow_threads(|| analyze_arrays(spec, signals, &cfg, &ScoringConfig::default()))
        .map_err(run_error)?;
    analysis_dict(py, a, &cfg)
}

fn csv_options(
    rate: Option<f64>,
    pfm: Option<String>,
    abd: Option<String>,
    pressure: Option<String>,
    envelope: bool,
) -> PyResult<CsvOptions> {
    if let Some(r) = rate {
        knip::limits::SAMPLE_RATE_HZ
            .check(r)
            .map_err(|e| InputError::new_err(format!("rate: {e}")))?;
    }
    Ok(CsvOptions {
        rate_hz: rate,
        pfm,
        abd,
        pressure,
        envelope,
        read_threads: 1,
        ..CsvOptions::default()
    })
}

/// Analyses a recording from its file, streaming, as `knip analyze` and `knip batch` do (no
/// report folder).
#[pyfunction]
#[pyo3(signature = (path, rate=None, pfm=None, abd=None, pressure=None, envelope=false, settings=None))]
#[allow(clippy::too_many_arguments)]
fn analyze_file<'py>(
    py: Python<'py>,
    path: PathBuf,
    rate: Option<f64>,
    pfm: Option<String>,
    abd: Option<String>,
    pressure: Option<String>,
    envelope: bool,
    settings: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    let cfg = config_from(settings)?;
    let opts = csv_options(rate, pfm, abd, pressure, envelope)?;
    let a = py
        .allow_threads(|| -> Result<ArrayAnalysis, RunError> {
            let opened = knip::export::open_recording(&path, &opts)?;
            analyze_source(opened.source, &cfg, &ScoringConfig::default())
        })
        .map_err(run_error)?;
    analysis_dict(py, a, &cfg)
}

/// Recordings under `dir` as `knip batch` finds them (sorted), leaving out `skip`, and the
/// entries left out with why.
#[pyfunction]
fn find_recordings(dir: PathBuf, skip: PathBuf) -> PyResult<(Vec<PathBuf>, Vec<String>)> {
    let f = knip::batch::find_recordings(&dir, &skip).map_err(|source| {
        input_error(knip::error::InputError::Open {
            path: dir.clone(),
            source,
        })
    })?;
    Ok((f.files, f.warnings))
}

/// `knip batch`'s report folder names for these paths (relative to the input folder).
#[pyfunction]
fn report_names(relative: Vec<PathBuf>) -> Vec<String> {
    knip::batch::report_names(&relative)
}

fn analysis_dict<'py>(
    py: Python<'py>,
    a: ArrayAnalysis,
    cfg: &AnalysisConfig,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("contraction_columns", CONTRACTION_COLUMNS.to_vec())?;
    d.set_item(
        "contraction_rows",
        a.contraction_rows
            .iter()
            .map(|r| r.to_vec())
            .collect::<Vec<_>>(),
    )?;
    d.set_item("event_columns", EVENT_COLUMNS.to_vec())?;
    d.set_item(
        "event_rows",
        a.event_rows.iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
    )?;
    d.set_item(
        "summary_rows",
        a.summary
            .rows
            .iter()
            .map(|r| {
                vec![
                    r.channel.clone(),
                    r.metric.clone(),
                    r.value.clone(),
                    r.unit.clone(),
                ]
            })
            .collect::<Vec<_>>(),
    )?;
    d.set_item("headline", &a.summary.headline)?;
    d.set_item("batch_columns", knip::batch::BATCH_COLUMNS.to_vec())?;
    d.set_item("batch_fields", a.batch_fields)?;
    d.set_item("warnings", a.warnings)?;
    d.set_item("end_time_s", a.end.end_time_s)?;
    d.set_item(
        "settings_json",
        serde_json::to_string(cfg).unwrap_or_default(),
    )?;
    Ok(d)
}

/// Reads a recording into arrays (NaN where a sample was lost).
#[pyfunction]
#[pyo3(signature = (path, rate=None, pfm=None, abd=None, pressure=None, envelope=false))]
fn read<'py>(
    py: Python<'py>,
    path: PathBuf,
    rate: Option<f64>,
    pfm: Option<String>,
    abd: Option<String>,
    pressure: Option<String>,
    envelope: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let opts = csv_options(rate, pfm, abd, pressure, envelope)?;
    let rec = py
        .allow_threads(|| read_recording(&path, &opts))
        .map_err(input_error)?;
    channels_out(py, rec)
}

/// A simulated session: the signals, the ground truth and the cues.
#[pyfunction]
#[pyo3(signature = (protocol="strength".to_string(), seed=1, emg_rate_hz=2000.0, pressure_rate_hz=100.0, channels=None, conditions=Vec::new()))]
fn simulate<'py>(
    py: Python<'py>,
    protocol: String,
    seed: u64,
    emg_rate_hz: f64,
    pressure_rate_hz: f64,
    channels: Option<Vec<String>>,
    conditions: Vec<String>,
) -> PyResult<Bound<'py, PyDict>> {
    let roles = match channels {
        None => Role::ALL.to_vec(),
        Some(names) => names
            .iter()
            .map(|n| {
                Role::from_column_name(n.trim()).ok_or_else(|| {
                    SimulationError::new_err(format!(
                        "unknown channel '{n}': use pfm_emg, abd_emg and/or pressure"
                    ))
                })
            })
            .collect::<PyResult<Vec<_>>>()?,
    };
    let conditions = knip::simulate::parse_conditions(&conditions)
        .map_err(|e| SimulationError::new_err(describe(&e)))?;
    let sim = SimConfig {
        protocol,
        seed,
        emg_rate_hz,
        pressure_rate_hz,
        roles,
        conditions,
        ..SimConfig::default()
    };
    let s = py
        .allow_threads(|| simulate_recording(&sim))
        .map_err(run_error)?;
    let d = channels_out(py, s.recording)?;
    let truth: Vec<(String, String, f64, f64, f64, u32)> = s
        .truth
        .iter()
        .map(|t| {
            (
                t.role.column_name().to_string(),
                t.kind.as_str().to_string(),
                t.onset_s,
                t.offset_s,
                t.amplitude,
                t.rep,
            )
        })
        .collect();
    d.set_item("truth", truth)?;
    let cues: Vec<(f64, f64, String, u32)> = s
        .cues
        .iter()
        .map(|c| (c.time_s, c.duration_s, c.text.clone(), c.rep))
        .collect();
    d.set_item("cues", cues)?;
    Ok(d)
}

/// Every setting: (name, help, default as JSON, range, is a CLI option).
#[pyfunction]
fn settings_doc() -> Vec<(String, String, String, String, bool)> {
    knip::settings::settings()
        .into_iter()
        .map(|s| (s.name.into(), s.help.into(), s.default, s.range, s.cli))
        .collect()
}

/// A live stream: push blocks, get the events decided in each.
#[pyclass(module = "knip._knip")]
struct Stream {
    inner: knip::stream::Stream,
}

#[pymethods]
impl Stream {
    #[new]
    #[pyo3(signature = (channels, start_time_s=0.0, settings=None))]
    fn new(
        channels: Vec<ChannelDesc>,
        start_time_s: f64,
        settings: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let cfg = config_from(settings)?;
        let spec = spec_from(&channels, start_time_s)?;
        let inner = knip::stream::Stream::new(&spec, &cfg).map_err(input_error)?;
        Ok(Stream { inner })
    }

    /// One block per channel; returns the `events.csv` rows decided in this block.
    fn push(&mut self, blocks: Vec<PyReadonlyArray1<'_, f64>>) -> PyResult<Vec<Vec<String>>> {
        let owned: Vec<Vec<f64>> = blocks
            .iter()
            .map(|a| a.as_array().iter().copied().collect())
            .collect();
        let parts: Vec<&[f64]> = owned.iter().map(|v| &v[..]).collect();
        let p = self.inner.push(&parts).map_err(input_error)?;
        Ok(event_rows(self.inner.spec(), &p.events)
            .into_iter()
            .map(|r| r.to_vec())
            .collect())
    }

    /// End of the stream: the events still open or held.
    fn finish(&mut self) -> Vec<Vec<String>> {
        let p = self.inner.finish();
        event_rows(self.inner.spec(), &p.events)
            .into_iter()
            .map(|r| r.to_vec())
            .collect()
    }

    fn warnings(&self) -> Vec<String> {
        self.inner.warnings()
    }
}

#[pymodule]
fn _knip(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_function(wrap_pyfunction!(analyze, m)?)?;
    m.add_function(wrap_pyfunction!(read, m)?)?;
    m.add_function(wrap_pyfunction!(analyze_file, m)?)?;
    m.add_function(wrap_pyfunction!(find_recordings, m)?)?;
    m.add_function(wrap_pyfunction!(report_names, m)?)?;
    m.add_function(wrap_pyfunction!(simulate, m)?)?;
    m.add_function(wrap_pyfunction!(settings_doc, m)?)?;
    m.add_class::<Stream>()?;
    m.add("KnipError", py.get_type::<KnipError>())?;
    m.add("InputError", py.get_type::<InputError>())?;
    m.add("OutputError", py.get_type::<OutputError>())?;
    m.add("SimulationError", py.get_type::<SimulationError>())?;
    m.add("SettingsError", py.get_type::<SettingsError>())?;
    m.add("EVENT_COLUMNS", EVENT_COLUMNS.to_vec())?;
    m.add("CONTRACTION_COLUMNS", CONTRACTION_COLUMNS.to_vec())?;
    m.add("BATCH_COLUMNS", knip::batch::BATCH_COLUMNS.to_vec())?;
    Ok(())
}
