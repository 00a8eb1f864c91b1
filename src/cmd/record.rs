//! `knip record`: a sensor on a serial port through the live pipeline, recorded crash-safely.

use crate::cli::{RecordArgs, UsageError};
use std::io::IsTerminal;

pub fn run(a: RecordArgs) -> anyhow::Result<()> {
    let RecordArgs {
        serial,
        duration,
        out,
        plain,
        lsl,
        web,
        settings,
    } = a;
    super::require_lsl(lsl)?;
    let cfg = settings.config()?;
    knip::out_folder::prepare_recording(&out)?;
    let port = serial.port.clone().ok_or_else(|| {
        UsageError(
            "--port is needed: the serial port, e.g. /dev/ttyACM0 (see `knip devices`)".into(),
        )
    })?;
    let serial_options = serial.options(&port, duration)?;
    let stop = super::stop_on_signals();
    let stdout = std::io::stdout();
    let bar = !plain && stdout.is_terminal();
    let server = super::start_web(&web, false)?;
    if let Some(w) = &server {
        w.hub.set_stop(stop.flag());
    }
    let flag = stop.flag();
    let opts = knip::record_cmd::RecordOptions {
        serial: serial_options,
        out_dir: out,
        bar,
        lsl,
        web: server.clone(),
    };
    let o = knip::record_cmd::record(
        &opts,
        &cfg,
        Box::new(stdout),
        Box::new(std::io::stderr()),
        Some(stop),
    )?;
    println!();
    for w in &o.warnings {
        eprintln!("warning: {w}");
    }
    let s = &o.link.stats;
    println!(
        "{} samples recorded ({:.1} s device time); {} lost ({} while unplugged, {} gap(s)); {} unplug(s)",
        s.samples,
        o.end.end_time_s,
        s.lost_samples,
        s.lost_while_unplugged,
        o.link.gaps.len(),
        s.disconnects
    );
    match o.link.format.as_str() {
        "cyton" => println!(
            "Cyton loss is counted from its 1-byte counter, modulo 256: a gap of 256 packets \
             (1.02 s) or more looks shorter than it was."
        ),
        "cyton-daisy" => println!(
            "Cyton + Daisy loss is counted from the 1-byte packet counter, modulo 256 (128 \
             16-channel samples, 1.02 s): a longer gap looks shorter than it was."
        ),
        "bitalino" => println!(
            "BITalino loss is counted from its 4-bit sequence number, modulo 16: a gap of 16 \
             frames or more looks shorter than it was ({} CRC error(s), {} resync(s)).",
            s.crc_errors, s.resyncs
        ),
        _ => {}
    }
    println!(
        "Recording: {} (+ .json, {}, {})",
        o.recording.display(),
        o.raw.display(),
        o.gaps.display()
    );
    println!("Report written to {}/", o.out_dir.display());
    if let Some(w) = &server {
        let files = report_files(&o.out_dir);
        let term = std::io::stdin().is_terminal();
        knip::web::linger(w, &o.out_dir, &files, web.web_keep, Some(flag), term);
    }
    Ok(())
}

/// The files of a report folder (the clinician's links on the web screen).
pub fn report_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| Some(e.ok()?.path()))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
