//! Where samples come from: files, the simulated patient, (later) serial devices.
//! Every source yields [`Block`]s in device-clock order.

pub mod csv_file;
pub mod edf;

use crate::error::InputError;
use crate::frame::{Block, StreamSpec};

/// A stream of blocks. `next_block` returns `Ok(None)` at the end of the stream.
pub trait Source: Send {
    fn spec(&self) -> &StreamSpec;
    fn next_block(&mut self) -> Result<Option<Block>, InputError>;
}
