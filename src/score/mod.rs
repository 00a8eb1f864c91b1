//! The scoring layer: one place that turns detector events into typed scores, with every
//! threshold from one [`ScoringConfig`].
//!
//! - [`hold`]: the one rule for how long a squeeze was held (time the 250-ms-smoothed envelope
//!   stays above half the way from rest to its peak) and whether a hold is valid for a target.
//! - [`contraction`]: per contraction — hold, co-activation flag.
//! - [`session`]: per recording or session — counts, valid holds, mean/longest hold, %MVC.
//! - [`envelope`]: the bounded 10-ms-bin envelope history the hold rule reads.
//! - [`sink`]: a pipeline sink producing [`session::AnalysisScores`] (used by the analysis
//!   report, `batch` and `progress-fill`).
//!
//! Guided sessions (`session::run`) use the same functions for their per-rep verdicts, so
//! `session`, `analyze`, `batch` and `progress` agree on what a valid squeeze is.

pub mod config;
pub mod contraction;
pub mod envelope;
pub mod hold;
pub mod session;
pub mod sink;

pub use config::{CoactFlag, ScoringConfig, ScoringError};
pub use contraction::ContractionScore;
pub use hold::{hold_s, valid_hold};
pub use session::{AnalysisScores, ChannelScores};
pub use sink::ScoringSink;
