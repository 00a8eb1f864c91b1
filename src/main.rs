//! The `knip` command line: parse the arguments, hand the command to its module in `cmd/`, and
//! turn an error into a message and an exit code (0 success, 2 bad input, 1 anything else).

mod cli;
mod cmd;

use clap::Parser;
use cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    keep_freed_heap();
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", describe(&e));
            ExitCode::from(if is_input_error(&e) { 2 } else { 1 })
        }
    }
}

/// The pipeline's threads allocate and free a block's buffers (tens of KB) many times a second.
/// glibc gives the top of its heap back to the kernel whenever more than 128 KB of it is free, and
/// the next blocks then fault those pages in again (about 4 % of `analyze`'s time on a long
/// recording). Up to [`HEAP_KEPT_BYTES`] of freed heap is kept instead; what knip holds at its
/// peak stays as measured (memory stays flat).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_heap() {
    // SAFETY: `mallopt` only changes allocator settings; called first thing, before any thread.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, HEAP_KEPT_BYTES);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_heap() {}

/// Freed heap kept from the kernel, bytes ([`keep_freed_heap`]).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const HEAP_KEPT_BYTES: libc::c_int = 64 << 20;

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Demo(a) => cmd::session::demo(a),
        Command::Session(a) => cmd::session::session(a),
        Command::Simulate(a) => cmd::simulate::run(a),
        Command::Analyze(a) => cmd::analyze::run(a),
        Command::Evaluate(a) => cmd::evaluate::run(a),
        Command::Protocols => cmd::protocols::run(),
        Command::Devices(a) => cmd::devices::run(a),
        Command::Record(a) => cmd::record::run(a),
        Command::Replay(a) => cmd::replay::run(a),
        Command::Batch(a) => cmd::batch::run(a),
        Command::Progress(a) => cmd::progress::run(a),
        Command::ProgressFill(a) => cmd::progress_fill::run(a),
        Command::Export(a) => cmd::export::run(a),
    }
}

/// The error and its causes, each cause shown once: typed errors already name their cause in
/// their own message, so a cause whose text is already there is not repeated.
fn describe(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
    }
    text
}

/// Bad input — an option value, or a file the user named (recording, markers, protocol,
/// calibration, scoring) that cannot be used — as opposed to a device, disk or internal
/// failure. The one place that decides exit code 2.
fn is_input_error(e: &anyhow::Error) -> bool {
    use knip::error::{InputError, OutputError, RunError};
    use knip::pipeline::PipelineError;
    use knip::session::{
        calibrate::CalibrationError, drive::SessionError, protocol::ProtocolError,
        score::ScoringError,
    };
    e.chain().any(|c| {
        c.is::<cli::UsageError>()
            || c.is::<InputError>()
            || c.is::<ProtocolError>()
            || c.is::<ScoringError>()
            || c.is::<knip::simulate::SimError>()
            // A missing or unplugged port, a device that went away while probed.
            || c.is::<knip::source::link::LinkError>()
            || c.downcast_ref::<CalibrationError>()
                .is_some_and(|c| matches!(c, CalibrationError::Read { .. }))
            || c.downcast_ref::<knip::progress::ProgressError>()
                .is_some_and(knip::progress::ProgressError::is_input_error)
            || c.downcast_ref::<OutputError>()
                .is_some_and(OutputError::is_input_error)
            || c.downcast_ref::<RunError>()
                .is_some_and(RunError::is_input_error)
            || c.downcast_ref::<PipelineError>()
                .is_some_and(|p| matches!(p, PipelineError::Input(_)))
            || c.downcast_ref::<SessionError>()
                .is_some_and(SessionError::is_input_error)
            || c.downcast_ref::<knip::record_cmd::RecordError>()
                .is_some_and(|r| r.is_input_error())
    })
}
