//! Causal contraction detection: a per-channel double-threshold state machine
//! ([`channel::ChannelDetector`]) and a cross-channel stage ([`fuse::EventFuser`]) that tags coughs
//! and strains and measures abdominal co-activation.

pub mod channel;
pub mod fuse;
pub mod history;
pub mod rest;

pub use channel::{ChannelDetector, DetectorOutput, Phase, RestLevel, RestReport};
pub use fuse::EventFuser;
pub use history::LevelHistory;
