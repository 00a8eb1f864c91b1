//! Detection and scoring against ground truth: the simulator's conditions, real recordings, whole sessions, and the simulator itself.
//!
//! One test binary for the group (each file in `tests/` is linked on its own), one module per
//! theme; `cargo test --test detection <module>` runs one theme.

mod detection_accuracy;
mod real_recordings;
mod session_accuracy;
mod simulate_schedule;
mod simulate_signal;
