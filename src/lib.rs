//! knip: pelvic-floor muscle training with biofeedback.
//!
//! Samples flow `source → conditioning → detection → sinks`, one implementation for live sessions,
//! replay and offline analysis. See `README.md` for the command line and file formats.

pub mod analyze;
pub mod analyze_arrays;
pub mod arrays;
pub mod batch;
pub mod config;
pub mod demo;
pub mod detect;
pub mod device;
pub mod dsp;
pub mod error;
pub mod evaluate;
pub mod event;
pub mod export;
pub mod frame;
pub mod limits;
pub mod out_folder;
pub mod pipeline;
pub mod private_file;
pub mod progress;
pub mod record_cmd;
pub mod score;
pub mod session;
pub mod settings;
pub mod sidecar;
pub mod simulate;
pub mod sink;
pub mod source;
pub mod stream;
pub mod truth;
pub mod web;
