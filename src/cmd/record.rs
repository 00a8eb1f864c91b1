//! `knip record`: a sensor on a serial port through the live pipeline, recorded crash-safely.

use crate::cli::{require, RecordArgs, UsageError};
use std::io::IsTerminal;

pub fn run(a: RecordArgs) -> anyhow::Result<()> {
    let RecordArgs {
        port,
        format,
        baud,
        rate,
        channels,
        seq_bits,
        range,
        gain,
        duration,
        reconnect_timeout,
        out,
        plain,
        settings,
    } = a;
    use knip::source::link::{parse_channel_requests, LinkConfig, StopHandle, WireFormat};
    let cfg = settings.config()?;
    if let Some(b) = seq_bits {
        require(
            matches!(b, 8 | 16 | 32),
            format!("--seq-bits takes 8, 16 or 32, not {b}"),
        )?;
    }
    if let Some(r) = rate {
        require(r > 0.0 && r.is_finite(), "--rate must be positive")?;
    }
    let value_range = match range {
        Some(text) => {
            let (lo, hi) = text
                .split_once(',')
                .and_then(|(a, b)| {
                    Some((a.trim().parse::<f64>().ok()?, b.trim().parse::<f64>().ok()?))
                })
                .filter(|(a, b)| a < b)
                .ok_or_else(|| {
                    UsageError(format!(
                        "--range takes MIN,MAX with MIN < MAX, not `{text}`"
                    ))
                })?;
            Some((lo, hi))
        }
        None => None,
    };
    let wire = if format == "cyton" {
        require(gain > 0.0, "--gain must be positive")?;
        WireFormat::Cyton(knip::source::cyton::CytonConfig { gain })
    } else {
        WireFormat::Line(knip::source::line::LineConfig {
            rate_hz: rate,
            seq_bits,
            value_range,
        })
    };
    let mut link = LinkConfig::new(wire);
    if let Some(c) = channels {
        link.channels =
            parse_channel_requests(&c).map_err(|e| UsageError(format!("--channels {c}: {e}")))?;
    }
    link.duration_s = duration;
    link.reconnect_timeout_s = reconnect_timeout;
    let stop = StopHandle::default();
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second Ctrl-C ends at once (the recording is safe on disk anyway).
        let _ = signal_hook::flag::register_conditional_shutdown(sig, 130, stop.flag());
        let _ = signal_hook::flag::register(sig, stop.flag());
    }
    let stdout = std::io::stdout();
    let bar = !plain && stdout.is_terminal();
    let opts = knip::record_cmd::RecordOptions {
        serial: knip::source::serial::SerialOptions { port, baud, link },
        out_dir: out,
        bar,
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
    if o.link.format == "cyton" {
        println!(
            "Cyton loss is counted from its 1-byte counter, modulo 256: a gap of 256                      packets (1.02 s) or more looks shorter than it was."
        );
    }
    println!(
        "Recording: {} (+ .json, {}, {})",
        o.recording.display(),
        o.raw.display(),
        o.gaps.display()
    );
    println!("Report written to {}/", o.out_dir.display());
    Ok(())
}
