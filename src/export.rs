//! `knip export FILE --format edf|bdf --out FILE`: a recording (knip CSV + sidecar, anybody's
//! CSV, or EDF/BDF) to EDF+/BDF+ with annotations.
//!
//! The export runs the live pipeline over the recording (the same code as `analyze`), so the
//! annotations hold what knip detected: contractions, coughs, strains, abdominal activity. Cues
//! and phases come from the session (for a simulated recording: regenerated from its protocol
//! and seed, which determine them), user markers from `--markers`, lost-sample gaps from the
//! writer itself.

use crate::config::AnalysisConfig;
use crate::error::{InputError, OutputError, RunError};
use crate::event::{ContractionEvent, EventKind};
use crate::frame::{Block, StreamSpec};
use crate::pipeline::{self, Pace};
use crate::sidecar::{Sidecar, SIDECAR_FORMAT};
use crate::simulate::{Cue, SimConfig, SimulatedPatient};
use crate::sink::collect::{take_events, EventCollector};
use crate::sink::edf::{Annotation, EdfFormat, EdfIdentity, EdfSummary, EdfWriteError, EdfWriter};
use crate::source::csv_file::{CsvOptions, CsvSource};
use crate::source::edf::EdfSource;
use crate::source::Source;
use chrono::{DateTime, Utc};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A recording opened for reading, whatever its format.
pub struct OpenedRecording {
    pub source: Box<dyn Source>,
    /// Markers the file itself carries (EDF annotations).
    pub markers: Vec<(f64, String)>,
    pub warnings: Vec<String>,
    /// knip's sidecar, when the recording has one.
    pub sidecar: Option<Sidecar>,
    /// The vendor format recognised from the header (`OpenSignals (…)`), if any.
    pub format: Option<String>,
}

/// The prefix of a user's marker among EDF annotations (as `knip export` writes them).
pub const MARKER_PREFIX: &str = "marker: ";

impl OpenedRecording {
    /// The markers a user set in this recording, (device time, label): those dropped with `m`
    /// during a session (kept in the sidecar), and in an EDF file the annotations knip exported
    /// as markers (`marker: …`, the prefix removed). Not the cues, phases or contractions an
    /// EDF also carries: a guided replay makes its own.
    pub fn user_markers(&self) -> Vec<(f64, String)> {
        let kept = self.session_markers();
        let exported = self.markers.iter().filter_map(|(t, text)| {
            text.strip_prefix(MARKER_PREFIX)
                .map(|label| (*t, label.to_string()))
        });
        kept.into_iter().chain(exported).collect()
    }

    /// The markers dropped with `m` during the guided session this recording holds (its
    /// sidecar's); none for a file without one.
    pub fn session_markers(&self) -> Vec<(f64, String)> {
        session_markers(self.sidecar.as_ref())
    }
}

/// The guided protocol a recording was made under, by name, as its sidecar says
/// (`protocol: "session:strength"`) or, in an EDF knip exported, its first annotation
/// (`knip recording: device …, protocol session:strength, …`). `None` for other recordings.
pub fn session_protocol_name(opened: &OpenedRecording) -> Option<String> {
    let from_sidecar = opened.sidecar.as_ref().and_then(|s| s.protocol.clone());
    let from_edf = || {
        opened
            .markers
            .iter()
            .find_map(|(_, text)| text.strip_prefix("knip recording: "))
            .and_then(|head| {
                head.split(", ")
                    .find_map(|part| part.strip_prefix("protocol "))
                    .map(str::to_string)
            })
    };
    from_sidecar
        .or_else(from_edf)?
        .strip_prefix("session:")
        .map(str::to_string)
}

fn session_markers(sidecar: Option<&Sidecar>) -> Vec<(f64, String)> {
    sidecar
        .and_then(|s| s.session.as_ref())
        .map(|info| info.markers.clone())
        .unwrap_or_default()
}

/// Is this an EDF/BDF file (by extension)?
pub fn is_edf(path: &Path) -> bool {
    EdfFormat::from_path(path).is_some()
}

/// Opens a CSV (with or without sidecar), an EDF/BDF file, or a vendor export recognised from
/// its header (OpenSignals, OpenBCI GUI, Shimmer Consensys: [`crate::source::vendor`]).
pub fn open_recording(path: &Path, opts: &CsvOptions) -> Result<OpenedRecording, InputError> {
    if is_edf(path) {
        let src = EdfSource::open(path, opts)?;
        let markers = src.markers();
        let warnings = src.warnings().to_vec();
        Ok(OpenedRecording {
            source: Box::new(src),
            markers,
            warnings,
            sidecar: None,
            format: None,
        })
    } else if let Some(layout) = crate::source::vendor::detect(path)? {
        let src = crate::source::vendor::VendorSource::open(path, layout, opts)?;
        let warnings = src.reader_warnings();
        Ok(OpenedRecording {
            format: Some(src.dialect().to_string()),
            source: Box::new(src),
            markers: Vec::new(),
            warnings,
            sidecar: None,
        })
    } else {
        let src = CsvSource::open(path, opts)?;
        let warnings = src.warnings().to_vec();
        Ok(OpenedRecording {
            source: Box::new(src),
            markers: Vec::new(),
            warnings,
            sidecar: read_sidecar_beside(path),
            format: None,
        })
    }
}

/// knip's sidecar `FILE.json` beside `FILE.csv`, if there is one (a broken one is the CSV
/// reader's to report).
pub fn read_sidecar_beside(csv: &Path) -> Option<Sidecar> {
    let text = std::fs::read_to_string(csv.with_extension("json")).ok()?;
    serde_json::from_str::<Sidecar>(&text)
        .ok()
        .filter(|s| s.format == SIDECAR_FORMAT)
}

/// Rewrites the sidecar beside `csv` after `change` (owner-only, via a temporary file).
pub fn update_sidecar(csv: &Path, change: impl FnOnce(&mut Sidecar)) -> Result<(), RunError> {
    let path = csv.with_extension("json");
    let mut sidecar = read_sidecar_beside(csv).ok_or_else(|| {
        RunError::Input(InputError::Format {
            path: path.clone(),
            message: "no knip sidecar to update".into(),
        })
    })?;
    change(&mut sidecar);
    let text = serde_json::to_string_pretty(&sidecar)
        .map_err(|e| OutputError::write(&path, std::io::Error::other(e)))?;
    crate::private_file::write(&path, format!("{text}\n").as_bytes())
        .map_err(|e| RunError::Output(OutputError::write(&path, e)))
}

/// Reads user markers: an anomanor export (`Annotations:` section) or a CSV of
/// `time_s,text` (a header line is optional; `#` lines are comments).
pub fn read_markers(path: &Path) -> Result<Vec<(f64, String)>, InputError> {
    let text = std::fs::read_to_string(path).map_err(|source| InputError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    if text.lines().any(|l| l.trim() == "Annotations:") {
        return crate::source::csv_file::read_anomanor_markers(path);
    }
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let (time, label) = t.split_once([',', '\t', ';']).unwrap_or((t, ""));
        match time.trim().parse::<f64>() {
            Ok(v) if v.is_finite() => out.push((v, label.trim().trim_matches('"').to_string())),
            _ if i == 0 => continue,
            _ => {
                return Err(InputError::Parse {
                    path: path.to_path_buf(),
                    line: i as u64 + 1,
                    message: format!(
                        "marker time '{}' is not a number; write one marker per line as \
                         time_s,text",
                        time.trim()
                    ),
                })
            }
        }
    }
    Ok(out)
}

/// Cue and phase annotations of a session: every cue with its duration, and a phase for each
/// run of consecutive cues of the same instruction ("phase: Squeeze × 10").
pub fn cue_annotations(cues: &[Cue]) -> Vec<Annotation> {
    let mut out: Vec<Annotation> = cues
        .iter()
        .map(|c| Annotation {
            onset_s: c.time_s,
            duration_s: Some(c.duration_s),
            text: format!("cue: {}", c.text),
        })
        .collect();
    let active: Vec<&Cue> = cues
        .iter()
        .filter(|c| c.text != "Rest" && c.text != "Relax")
        .collect();
    let mut i = 0;
    while i < active.len() {
        let mut j = i;
        while j + 1 < active.len() && active[j + 1].text == active[i].text {
            j += 1;
        }
        let (a, b) = (active[i], active[j]);
        out.push(Annotation {
            onset_s: a.time_s,
            duration_s: Some(b.time_s + b.duration_s - a.time_s),
            text: format!("phase: {} x {}", a.text, j - i + 1),
        });
        i = j + 1;
    }
    out
}

/// Annotations for detected events: `contraction pfm_emg`, `cough pressure`, ...
pub fn event_annotations(spec: &StreamSpec, events: &[ContractionEvent]) -> Vec<Annotation> {
    events
        .iter()
        .map(|e| {
            let ch = spec
                .channels
                .get(e.channel)
                .map(|c| c.name.as_str())
                .unwrap_or("?");
            let mut text = format!("{} {ch}", e.kind.as_str());
            if e.kind == EventKind::Contraction {
                text.push_str(&format!(" peak {:.3}", e.peak));
                if let Some(i) = e.abd_index {
                    text.push_str(&format!(" abd_index {i:.2}"));
                }
            }
            Annotation {
                onset_s: e.onset_s,
                duration_s: Some(e.duration_s()),
                text,
            }
        })
        .collect()
}

/// Cues of a simulated recording, regenerated from its protocol and seed.
fn simulated_cues(sidecar: &Sidecar) -> Option<Vec<Cue>> {
    if sidecar.device != "simulator" {
        return None;
    }
    let sim = SimConfig {
        protocol: sidecar.protocol.clone()?,
        seed: sidecar.seed?,
        ..SimConfig::default()
    };
    SimulatedPatient::new(&sim).ok().map(|p| p.cues().to_vec())
}

/// Options of `knip export`.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub format: EdfFormat,
    /// Wall-clock start; default the sidecar's `started_at`, else the file's modification time
    /// minus its duration.
    pub start: Option<DateTime<Utc>>,
    pub markers: Vec<(f64, String)>,
    pub patient_code: Option<String>,
}

#[derive(Debug)]
pub struct ExportOutcome {
    pub edf: EdfSummary,
    pub events: usize,
    pub warnings: Vec<String>,
}

/// A source that also feeds every raw block to the EDF writer.
struct Tee {
    inner: Box<dyn Source>,
    writer: Arc<Mutex<Option<EdfWriter>>>,
    error: Arc<Mutex<Option<OutputError>>>,
}

impl Source for Tee {
    fn spec(&self) -> &StreamSpec {
        self.inner.spec()
    }
    fn reader_warnings(&self) -> Vec<String> {
        self.inner.reader_warnings()
    }
    fn next_block(&mut self) -> Result<Option<Block>, InputError> {
        let b = self.inner.next_block()?;
        if let Some(block) = &b {
            if let Ok(mut w) = self.writer.lock() {
                if let Some(writer) = w.as_mut() {
                    if let Err(e) = writer.write_block(block) {
                        *w = None;
                        if let Ok(mut slot) = self.error.lock() {
                            slot.get_or_insert(e);
                        }
                    }
                }
            }
        }
        Ok(b)
    }
}

/// Parses an RFC 3339 time (`2026-11-27T09:30:00Z`).
pub fn parse_start(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// `knip export`.
pub fn export(
    input: &Path,
    csv_opts: &CsvOptions,
    cfg: &AnalysisConfig,
    out: &Path,
    opts: &ExportOptions,
) -> Result<ExportOutcome, RunError> {
    let opened = open_recording(input, csv_opts)?;
    let mut warnings = opened.warnings.clone();
    let spec = opened.source.spec().clone();
    let sidecar = opened.sidecar.clone();
    let start = opts
        .start
        .or_else(|| {
            sidecar
                .as_ref()
                .and_then(|s| s.started_at.as_deref())
                .and_then(parse_start)
        })
        .unwrap_or_else(|| {
            warnings.push(format!(
                "{}: no start time in a sidecar and no --start; the EDF start is the file's \
                 modification time",
                input.display()
            ));
            std::fs::metadata(input)
                .and_then(|m| m.modified())
                .map(DateTime::<Utc>::from)
                .unwrap_or_else(|_| Utc::now())
        });
    let identity = EdfIdentity {
        patient_code: opts
            .patient_code
            .clone()
            .or_else(|| sidecar.as_ref().and_then(|s| s.patient_id.clone()))
            .unwrap_or_else(|| "X".into()),
        equipment: sidecar
            .as_ref()
            .map(|s| format!("knip_{}", s.device))
            .unwrap_or_else(|| "knip".into()),
        start,
    };
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::private_file::create_dir(dir).map_err(|e| OutputError::write(dir, e))?;
    }
    let edf_err = |e: EdfWriteError| match e {
        EdfWriteError::Unsupported { path, message } => RunError::Input(InputError::Format {
            path: input.to_path_buf(),
            message: format!("cannot export to {}: {message}", path.display()),
        }),
        EdfWriteError::Output(o) => RunError::Output(o),
    };
    let writer = EdfWriter::create(out, opts.format, &spec, identity).map_err(edf_err)?;
    let writer = Arc::new(Mutex::new(Some(writer)));
    let error = Arc::new(Mutex::new(None));
    let tee = Tee {
        inner: opened.source,
        writer: writer.clone(),
        error: error.clone(),
    };
    let collector = EventCollector::default();
    let events_h = collector.handle();
    let end = pipeline::run(Box::new(tee), cfg, vec![Box::new(collector)], Pace::Unpaced)?;
    warnings.extend(end.warnings.iter().cloned());
    if let Some(e) = error.lock().ok().and_then(|mut e| e.take()) {
        return Err(RunError::Output(e));
    }
    let events = take_events(&events_h);

    let mut annotations = Vec::new();
    if let Some(s) = &sidecar {
        let mut head = format!("knip recording: device {}", s.device);
        for (k, v) in [
            ("protocol", &s.protocol),
            ("probe", &s.probe),
            ("posture", &s.posture),
        ] {
            if let Some(v) = v {
                head.push_str(&format!(", {k} {v}"));
            }
        }
        annotations.push(Annotation {
            onset_s: spec.start_time_s,
            duration_s: None,
            text: head,
        });
        if let Some(cues) = simulated_cues(s) {
            annotations.extend(cue_annotations(&cues));
        }
    }
    annotations.extend(event_annotations(&spec, &events));
    // The file's own annotations, the session's markers (sidecar) and the user's `--markers`.
    let session_markers = session_markers(sidecar.as_ref());
    annotations.extend(
        opened
            .markers
            .iter()
            .chain(&session_markers)
            .chain(&opts.markers)
            .map(|(t, text)| Annotation {
                onset_s: *t,
                duration_s: None,
                text: if text.starts_with(MARKER_PREFIX) {
                    text.clone()
                } else {
                    format!("{MARKER_PREFIX}{text}")
                },
            }),
    );
    let writer = writer
        .lock()
        .ok()
        .and_then(|mut w| w.take())
        .ok_or_else(|| {
            RunError::Output(OutputError::write(
                out,
                std::io::Error::other("the EDF writer was lost"),
            ))
        })?;
    let edf = writer.finish(&annotations).map_err(edf_err)?;
    Ok(ExportOutcome {
        edf,
        events: events.len(),
        warnings,
    })
}
