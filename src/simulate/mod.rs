//! The simulated patient (being written).
