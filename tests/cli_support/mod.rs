//! Running the `knip` binary from a test: its output, all its text, paths as arguments.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// `knip ARGS…`, run to the end.
pub fn knip(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_knip"))
        .args(args)
        .output()
        .expect("run knip")
}

/// What a run printed: stdout, then stderr.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A path as a command-line argument.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}
