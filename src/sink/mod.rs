//! Where results go: recordings, report tables, plots.

pub mod assessment_plot;
pub mod collect;
pub mod decimate;
pub mod edf;
pub mod live;
pub mod lsl;
pub mod plot;
pub mod record;
pub mod report;
pub mod session_report;
pub mod tui;
pub mod words;
