//! Where samples come from: files, the simulated patient, serial devices (text lines, OpenBCI
//! Cyton with or without Daisy, BITalino) and their raw-byte logs.
//! Every source yields [`Block`]s in device-clock order.

mod anomanor;
pub mod bitalino;
mod csv_columns;
mod csv_fields;
pub mod csv_file;
mod csv_lines;
mod csv_meta;
mod csv_parallel;
mod csv_rows;
pub mod cyton;
pub mod derive;
pub mod edf;
pub mod line;
pub mod link;
mod link_config;
mod link_record;
pub mod memory;
pub mod plausible;
pub mod rawlog;
pub mod replay;
pub mod serial;
mod transport_event;
pub mod vendor;
pub mod wire;

use crate::error::InputError;
use crate::frame::{Block, StreamSpec};

/// A stream of blocks. `next_block` returns `Ok(None)` at the end of the stream.
pub trait Source: Send {
    fn spec(&self) -> &StreamSpec;
    fn next_block(&mut self) -> Result<Option<Block>, InputError>;
    /// What the reader found that the user must be told (irregular sampling, a torn last line,
    /// values counted as lost, ...): those found at open, and once the stream has ended, those
    /// found anywhere in it. The pipeline asks again at the end, so none is lost.
    fn reader_warnings(&self) -> Vec<String> {
        Vec::new()
    }
    /// Channels formed as the difference of two columns or signals (`--pfm A-B`), for
    /// `session.json`.
    fn derivations(&self) -> Vec<derive::Derivation> {
        Vec::new()
    }
}
