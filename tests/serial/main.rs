//! Sensors on the wire: emulated devices on pseudo-terminal pairs (line format, Cyton, probing, unplug, kill -9, recording) and the decoders under random bytes.
//!
//! One test binary for the group (each file in `tests/` is linked on its own), one module per
//! theme; `cargo test --test serial <module>` runs one theme.

#[path = "../limited_run/mod.rs"]
mod limited_run;
#[path = "../serial_support/mod.rs"]
mod serial_support;

mod cyton_serial;
mod decoder_fuzz;
mod serial_devices;
mod serial_kill;
mod serial_line;
mod serial_record;
