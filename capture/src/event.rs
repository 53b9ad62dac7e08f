//! Capture events in userspace: what the probes report, plus what userspace learns about the
//! processes and sockets behind them. Live capture and recordings produce the same stream.
use crate::exchange::UnixNanos;

/// Direction of a call, as seen by the traced process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The process wrote these bytes (`SSL_write`, `write`).
    Write,
    /// The process read these bytes (`SSL_read`, `read`).
    Read,
}

/// Identifies a connection inside one process: the `SSL*` pointer (or fd for plain sockets).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnKey {
    pub pid: u32,
    pub conn: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A chunk of one `SSL_read`/`SSL_write` call's plaintext.
    Data {
        ts: UnixNanos,
        key: ConnKey,
        tid: u32,
        /// Socket fd if known, else -1.
        fd: i32,
        dir: Direction,
        /// Bytes of the whole call.
        total: u32,
        /// Position of this chunk in the call.
        offset: u32,
        bytes: Vec<u8>,
        tls: bool,
    },
    /// The connection object was freed; the key may be reused by a new connection.
    Close { ts: UnixNanos, key: ConnKey },
    /// The socket fd behind a connection became known.
    Fd {
        ts: UnixNanos,
        key: ConnKey,
        fd: i32,
    },
    /// Socket addresses behind a connection, looked up by userspace.
    Addrs {
        ts: UnixNanos,
        key: ConnKey,
        local: String,
        peer: String,
    },
    /// A process became a target (or its name is first known).
    Process {
        ts: UnixNanos,
        pid: u32,
        comm: String,
    },
    /// A target process exited.
    Exit { ts: UnixNanos, pid: u32 },
    /// Bytes of one connection and direction the ring had no room for, reported just before
    /// the next data of that direction: its decoder must skip them (a lost call would otherwise
    /// be invisible, its neighbours spliced together).
    Gap {
        ts: UnixNanos,
        key: ConnKey,
        dir: Direction,
        len: u32,
    },
    /// Events the kernel side could not deliver (ring buffer full, unreadable memory, caps).
    Lost {
        ts: UnixNanos,
        counters: LossCounters,
    },
}

/// Loss counters; recorded as deltas.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LossCounters {
    /// Chunks dropped because the ring buffer was full.
    pub ring_full: u64,
    /// Bytes of calls beyond the per-call chunk limit.
    pub truncated_bytes: u64,
    /// Calls whose buffer could not be read.
    pub read_faults: u64,
    /// Calls or sockets not tracked because a kernel map was full (their bytes are lost).
    pub map_full: u64,
    /// Plaintext bytes a Java agent dropped (its bounded queue was full, or apitop's socket
    /// was not writable).
    pub java_dropped_bytes: u64,
}

impl LossCounters {
    /// Saturating: a recording from elsewhere may carry any counts, and an overflow must not
    /// panic (debug) or wrap to a small number (release).
    pub fn add(&mut self, o: &LossCounters) {
        self.ring_full = self.ring_full.saturating_add(o.ring_full);
        self.truncated_bytes = self.truncated_bytes.saturating_add(o.truncated_bytes);
        self.read_faults = self.read_faults.saturating_add(o.read_faults);
        self.map_full = self.map_full.saturating_add(o.map_full);
        self.java_dropped_bytes = self.java_dropped_bytes.saturating_add(o.java_dropped_bytes);
    }
    pub fn is_zero(&self) -> bool {
        *self == LossCounters::default()
    }
}

impl Event {
    pub fn ts(&self) -> UnixNanos {
        match self {
            Event::Data { ts, .. }
            | Event::Close { ts, .. }
            | Event::Fd { ts, .. }
            | Event::Addrs { ts, .. }
            | Event::Process { ts, .. }
            | Event::Exit { ts, .. }
            | Event::Gap { ts, .. }
            | Event::Lost { ts, .. } => *ts,
        }
    }
}

/// Caps that keep memory bounded whatever the traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Body bytes kept per message (after content decoding); the rest is counted, not kept.
    pub max_body: usize,
    /// Bytes buffered per connection and direction while waiting for a complete header block.
    pub max_header_buffer: usize,
    /// Open connections tracked at once; the least recently active is dropped past it.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 1024 * 1024,
            max_header_buffer: 256 * 1024,
            max_connections: 4096,
        }
    }
}
