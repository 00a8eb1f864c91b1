//! What a byte transport (a serial port, a replayed raw log) delivers: bytes with their host
//! time, and the moments the port went away and came back.

/// What a transport delivers.
#[derive(Debug, Clone, PartialEq)]
pub struct TransportEvent {
    /// Host time since the transport opened, seconds (from the raw log when replaying).
    pub host_s: f64,
    pub kind: TransportEventKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TransportEventKind {
    /// Bytes read.
    Data(Vec<u8>),
    /// Nothing arrived within the read timeout.
    Idle,
    /// The port went away (read error); the transport tries to reopen the same path.
    Unplugged(String),
    /// The port is open again.
    Replugged,
    /// No more events (end of a replayed log).
    End,
}
