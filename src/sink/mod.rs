//! Where results go: recordings, report tables, plots.

pub mod decimate;
pub mod plot;
pub mod record;
