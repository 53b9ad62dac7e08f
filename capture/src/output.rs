//! What the decoding pipeline hands to its consumers (headless JSON, the UI).
use crate::event::LossCounters;
use crate::exchange::{Exchange, OpaqueConnection, UnixNanos};

/// One item out of the pipeline, in capture order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// A request and (if seen) its response.
    Exchange(Box<Exchange>),
    /// A connection that carried no decodable HTTP, or whose decoding stopped, with its byte
    /// counts and the reason.
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

/// Why an exchange was not captured whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Incomplete {
    /// The connection closed (or its process exited) before the exchange finished: the
    /// programs' doing (a client giving up, a load generator stopping), not a capture loss.
    Closed,
    /// apitop stopped while the exchange was under way.
    CaptureEnded,
    /// Bytes of it were lost by the capture (a gap in the data).
    Lost,
    /// Anything else: a decoding error, a response without its request, a stream given up.
    Other,
}

/// [`CaptureStats::incomplete`] by [`Incomplete`] reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IncompleteCounts {
    pub closed: u64,
    pub capture_ended: u64,
    pub lost: u64,
    pub other: u64,
}

impl IncompleteCounts {
    pub fn add(&mut self, why: Incomplete) {
        let n = match why {
            Incomplete::Closed => &mut self.closed,
            Incomplete::CaptureEnded => &mut self.capture_ended,
            Incomplete::Lost => &mut self.lost,
            Incomplete::Other => &mut self.other,
        };
        *n += 1;
    }
}

/// Running totals, shown in the UI's status bar and in the headless summary line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureStats {
    pub exchanges: u64,
    /// Exchanges not captured whole: no response, an error (a response lost in a gap, a
    /// connection cut short), or body bytes missing (a capture gap; a body cap is not counted).
    pub incomplete: u64,
    /// `incomplete`, by why: what the traced programs did apart from what the capture lost.
    pub incomplete_by: IncompleteCounts,
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
            u64::from(self.losses.java_dropped_bytes > 0),
            self.dropped_events,
            self.evicted_connections,
        ]
        .into_iter()
        .fold(0, u64::saturating_add)
    }

    /// The reason behind most drops, with what to do about it; None without drops.
    pub fn top_drop(&self) -> Option<DropReason> {
        let l = &self.losses;
        [
            (l.ring_full, DropReason::RingFull),
            (l.read_faults, DropReason::Unreadable),
            (l.map_full, DropReason::MapFull),
            (u64::from(l.truncated_bytes > 0), DropReason::Truncated),
            (u64::from(l.java_dropped_bytes > 0), DropReason::JavaAgent),
            (self.dropped_events, DropReason::OutOfOrder),
            (self.evicted_connections, DropReason::EvictedConnections),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .max_by_key(|(n, _)| *n)
        .map(|(_, r)| r)
    }
}

/// Why captured bytes were lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    RingFull,
    Unreadable,
    MapFull,
    Truncated,
    /// A Java agent's bounded queue was full (or apitop's socket not writable).
    JavaAgent,
    OutOfOrder,
    EvictedConnections,
}

impl DropReason {
    /// A few words, for the status bar.
    pub fn short(self) -> &'static str {
        match self {
            DropReason::RingFull => "ring full",
            DropReason::Unreadable => "unreadable",
            DropReason::MapFull => "map full",
            DropReason::Truncated => "truncated",
            DropReason::JavaAgent => "java agent",
            DropReason::OutOfOrder => "out of order",
            DropReason::EvictedConnections => "conns evicted",
        }
    }

    /// What a user can do about it.
    pub fn hint(self) -> &'static str {
        match self {
            DropReason::RingFull => {
                "the kernel ring buffer filled faster than apitop drained it: raise --ring-size"
            }
            DropReason::Unreadable => {
                "call buffers could not be read from the process (paged out or unmapped)"
            }
            DropReason::MapFull => "too many calls or sockets in flight for the kernel maps",
            DropReason::Truncated => "calls larger than 4 MiB are cut at 4 MiB",
            DropReason::JavaAgent => {
                "the JVM produced plaintext faster than apitop read it (the agent's 8 MiB queue was full)"
            }
            DropReason::OutOfOrder => {
                "data did not fit a connection's reassembly (gaps or over the caps)"
            }
            DropReason::EvictedConnections => {
                "more connections than --max-connections at once: raise it"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_drop_names_the_biggest_reason() {
        let mut s = CaptureStats::default();
        assert_eq!(s.top_drop(), None);
        s.losses.ring_full = 3;
        s.dropped_events = 5;
        assert_eq!(s.top_drop(), Some(DropReason::OutOfOrder));
        s.losses.ring_full = 9;
        assert_eq!(s.top_drop(), Some(DropReason::RingFull));
        assert!(s.top_drop().unwrap().hint().contains("--ring-size"));
    }
}
