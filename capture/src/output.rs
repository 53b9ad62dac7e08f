//! What the decoding pipeline hands to its consumers (headless JSON, the UI).
use crate::event::LossCounters;
use crate::exchange::{Exchange, OpaqueConnection, UnixNanos};

/// One item out of the pipeline, in capture order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// A request and (if seen) its response.
    Exchange(Box<Exchange>),
    /// A connection that carried no decodable HTTP, with its byte counts.
    Opaque(OpaqueConnection),
    /// A process became a target (or its name became known).
    Process {
        ts: UnixNanos,
        pid: u32,
        comm: String,
    },
    /// A target process exited.
    Exit { ts: UnixNanos, pid: u32 },
}

/// Running totals, shown in the UI's status bar and in the headless summary line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureStats {
    pub exchanges: u64,
    /// Connections seen (HTTP or not).
    pub connections: u64,
    /// Connections that carried no decodable HTTP.
    pub opaque_connections: u64,
    /// Losses reported by the kernel side.
    pub losses: LossCounters,
    /// Data events that did not fit a connection's reassembly (out of order, over caps).
    pub dropped_events: u64,
    /// Connections dropped because `Limits::max_connections` was reached.
    pub evicted_connections: u64,
    /// Decoder errors (malformed messages; decoding resynced or stopped on that connection).
    pub decode_errors: u64,
    /// HTTP/2 server pushes seen (not turned into exchanges).
    pub pushes_ignored: u64,
}

impl CaptureStats {
    /// Every kind of loss added up: what the status bar shows as "drops".
    pub fn drops(&self) -> u64 {
        // Saturating: the loss counts of a recording from elsewhere can be anything.
        [
            self.losses.ring_full,
            self.losses.read_faults,
            self.losses.map_full,
            u64::from(self.losses.truncated_bytes > 0),
            self.dropped_events,
            self.evicted_connections,
        ]
        .into_iter()
        .fold(0, u64::saturating_add)
    }
}
