//! Events → connections → decoded exchanges. The same code runs on live events and on a
//! recording, so replaying a recording gives what the live capture gave.
//!
//! [`Pipeline`] holds the connections and takes the events; what it does with them is split by
//! what each part handles:
//! - `data`: a data event — its offsets and the kernel's gaps checked, its bytes decoded;
//! - `sniff`: which protocol a new connection speaks, from its first bytes;
//! - `decoded`: what either decoder finished, in one shape;
//! - `emit`: exchanges and opaque connections out, and why an exchange is not whole.
use std::collections::HashMap;

use crate::event::{ConnKey, Direction, Event, Limits};
use crate::exchange::UnixNanos;
use crate::http1::Http1Conn;
use crate::http2::Http2Conn;
use crate::output::{CaptureStats, Output};

mod data;
mod decoded;
mod emit;
mod sniff;

/// What an exchange cut short by its connection's end says (its `error`), by cause.
const FINISH_CLOSED: &str = "connection closed";
const FINISH_EXITED: &str = "process exited";
const FINISH_CAPTURE_ENDED: &str = "capture ended";

pub struct Pipeline {
    limits: Limits,
    conns: HashMap<ConnKey, Conn>,
    comms: HashMap<u32, String>,
    next_conn_id: u64,
    next_exchange_id: u64,
    /// Monotonic activity counter, for evicting the least recently active connection.
    tick: u64,
    stats: CaptureStats,
}

struct Conn {
    id: u64,
    tls: bool,
    local: Option<String>,
    peer: Option<String>,
    start: UnixNanos,
    last: UnixNanos,
    last_tick: u64,
    written: u64,
    read: u64,
    /// Per direction: (total of the call in progress, next expected offset).
    calls: [Option<(u32, u32)>; 2],
    /// Per direction: bytes the kernel says it lost before the next data ([`Event::Gap`]).
    gaps: [u32; 2],
    /// The capture lost some of this connection's bytes: what it leaves incomplete is a loss.
    lossy: bool,
    decoder: Decoder,
    /// Why decoding stopped, once said: reported once, when it happens.
    stopped: bool,
}

enum Decoder {
    /// Not decided yet: chunks kept in arrival order.
    Sniffing {
        chunks: Vec<(Direction, UnixNanos, Vec<u8>)>,
        len: usize,
    },
    Http1(Box<Http1Conn>),
    Http2(Box<Http2Conn>),
    /// Not HTTP (or decoding gave up); bytes are only counted.
    Opaque {
        reason: String,
    },
}

fn dir_index(d: Direction) -> usize {
    match d {
        Direction::Write => 0,
        Direction::Read => 1,
    }
}

impl Pipeline {
    pub fn new(limits: Limits) -> Self {
        Pipeline {
            limits,
            conns: HashMap::new(),
            comms: HashMap::new(),
            next_conn_id: 1,
            next_exchange_id: 1,
            tick: 0,
            stats: CaptureStats::default(),
        }
    }

    pub fn stats(&self) -> CaptureStats {
        self.stats
    }

    /// Connections currently tracked.
    pub fn open_connections(&self) -> usize {
        self.conns.len()
    }

    /// Process one event; decoded results are appended to `out`.
    pub fn push(&mut self, ev: Event, out: &mut Vec<Output>) {
        match ev {
            Event::Data {
                ts,
                key,
                dir,
                total,
                offset,
                bytes,
                tls,
                ..
            } => self.data(ts, key, dir, total, offset, &bytes, tls, out),
            Event::Close { ts, key } => {
                if let Some(c) = self.conns.remove(&key) {
                    self.finish_conn(key, c, ts, FINISH_CLOSED, out);
                }
            }
            Event::Fd { .. } => {}
            Event::Addrs {
                ts,
                key,
                local,
                peer,
            } => {
                let c = self.conn(key, ts, out);
                c.local = Some(local);
                c.peer = Some(peer);
            }
            Event::Process { ts, pid, comm } => {
                self.comms.insert(pid, comm.clone());
                out.push(Output::Process { ts, pid, comm });
            }
            Event::Exit { ts, pid } => {
                let keys: Vec<ConnKey> = self
                    .conns
                    .keys()
                    .filter(|k| k.pid == pid)
                    .copied()
                    .collect();
                for key in sorted(keys) {
                    if let Some(c) = self.conns.remove(&key) {
                        self.finish_conn(key, c, ts, FINISH_EXITED, out);
                    }
                }
                out.push(Output::Exit { ts, pid });
            }
            Event::Gap { key, dir, len, .. } => {
                // Kept for the direction's next data: a gap before any data of a connection
                // apitop has not seen yet tells its decoder nothing.
                if let Some(c) = self.conns.get_mut(&key) {
                    let g = &mut c.gaps[dir_index(dir)];
                    *g = g.saturating_add(len);
                }
            }
            Event::Lost { counters, .. } => self.stats.losses.add(&counters),
        }
    }

    /// The capture ended: completes what every open connection holds.
    pub fn finish(&mut self, ts: UnixNanos, out: &mut Vec<Output>) {
        let keys: Vec<ConnKey> = self.conns.keys().copied().collect();
        for key in sorted(keys) {
            if let Some(c) = self.conns.remove(&key) {
                self.finish_conn(key, c, ts, FINISH_CAPTURE_ENDED, out);
            }
        }
    }

    /// The connection for `key`, created (and the least recently active one evicted past the
    /// cap) if new.
    fn conn(&mut self, key: ConnKey, ts: UnixNanos, out: &mut Vec<Output>) -> &mut Conn {
        self.tick += 1;
        if !self.conns.contains_key(&key) {
            if self.conns.len() >= self.limits.max_connections {
                if let Some((&old, _)) = self.conns.iter().min_by_key(|(_, c)| c.last_tick) {
                    if let Some(c) = self.conns.remove(&old) {
                        self.stats.evicted_connections += 1;
                        self.finish_conn(old, c, ts, "evicted: too many open connections", out);
                    }
                }
            }
            self.stats.connections += 1;
            let id = self.next_conn_id;
            self.next_conn_id += 1;
            self.conns.insert(
                key,
                Conn {
                    id,
                    // Set by each data event: the library (or socket) it came from says.
                    tls: false,
                    local: None,
                    peer: None,
                    start: ts,
                    last: ts,
                    last_tick: 0,
                    written: 0,
                    read: 0,
                    calls: [None, None],
                    gaps: [0, 0],
                    lossy: false,
                    stopped: false,
                    decoder: Decoder::Sniffing {
                        chunks: Vec::new(),
                        len: 0,
                    },
                },
            );
        }
        let tick = self.tick;
        let c = self.conns.get_mut(&key).expect("inserted above");
        c.last_tick = tick;
        c
    }
}

/// Deterministic order for connections finished together, so replays match.
fn sorted(mut keys: Vec<ConnKey>) -> Vec<ConnKey> {
    keys.sort();
    keys
}

#[cfg(test)]
mod tests;
