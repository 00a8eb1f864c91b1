//! Running the knip binary under a time limit and a memory limit, for inputs that once hung or
//! took all the memory: if one does again, the test fails (killed) instead of hanging the suite
//! or swapping the machine.
#![allow(dead_code)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Virtual memory a run may take, KB (the inputs this guards against took 2–7 GB).
pub const MEMORY_KB: u64 = 1_500_000;

/// What a limited run did.
#[derive(Debug)]
pub struct Limited {
    /// Exit code; 137 (or none) when it was killed at the time limit.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// `knip ARGS` with at most `timeout_s` seconds and [`MEMORY_KB`] of memory; `stdin` (if any)
/// is written to its standard input through a pipe.
pub fn knip(args: &[&str], stdin: Option<Vec<u8>>, timeout_s: u32) -> Limited {
    let script = format!("ulimit -v {MEMORY_KB}; exec timeout -s KILL {timeout_s} \"$0\" \"$@\"");
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_knip"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let started = Instant::now();
    let mut child = cmd.spawn().expect("run sh");
    let feeder = stdin.map(|bytes| {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        std::thread::spawn(move || {
            use std::io::Write;
            // knip may stop reading early (an error): a broken pipe is fine.
            let _ = pipe.write_all(&bytes);
        })
    });
    let out = child.wait_with_output().expect("wait for knip");
    if let Some(f) = feeder {
        let _ = f.join();
    }
    Limited {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}
