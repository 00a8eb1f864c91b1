//! Command-line workflows: analyze, batch, sessions (scripted, live view, runner), progress over months, the report plot.
//!
//! One test binary for the group (each file in `tests/` is linked on its own), one module per
//! theme; `cargo test --test commands <module>` runs one theme.

#[path = "../cli_support/mod.rs"]
mod cli_support;
#[path = "../limited_run/mod.rs"]
mod limited_run;

mod batch_cli;
mod cli_analyze;
mod plot_report;
mod progress_cli;
mod progress_db;
mod session_cli;
mod session_live_view;
mod session_runner;
