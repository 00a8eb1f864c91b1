//! Signal conditioning: filter design and causal, stateful filters and envelopes.

pub mod condition;
pub mod envelope;
pub mod filter;
pub mod mains;
