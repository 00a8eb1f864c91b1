//! Guided training and assessment sessions: protocols as data, calibration, the live runner
//! that turns detector output into cues, per-repetition verdicts and session scores.

pub mod calibrate;
pub mod drive;
pub mod fatigue;
pub mod glazer;
pub mod perfect;
pub mod protocol;
pub mod run;
pub mod score;
pub mod timeline;
