//! Events → connections → decoded exchanges. The same code runs on live events and on a
//! recording, so replaying a recording gives what the live capture gave.
use std::collections::HashMap;

use crate::event::{ConnKey, Direction, Event, Limits};
use crate::exchange::{Exchange, OpaqueConnection, Protocol, UnixNanos};
use crate::exchange::{Request, Response, Role};
use crate::http1::{self, Http1Conn, Sniff};
use crate::http2::frame::{FrameHeader, HEADER_LEN};
use crate::http2::{self, Http2Conn, Preface};
use crate::output::{CaptureStats, Incomplete, Output};

/// What an exchange cut short by its connection's end says (its `error`), by cause.
const FINISH_CLOSED: &str = "connection closed";
const FINISH_EXITED: &str = "process exited";
const FINISH_CAPTURE_ENDED: &str = "capture ended";

/// Bytes kept per connection while deciding what protocol it speaks.
const SNIFF_LIMIT: usize = 16 * 1024;

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

/// A finished request/response from either decoder.
struct Done {
    role: Role,
    protocol: Protocol,
    stream_id: Option<u32>,
    request: Request,
    response: Option<Response>,
    start: UnixNanos,
    end: Option<UnixNanos>,
    request_end: Option<UnixNanos>,
    response_start: Option<UnixNanos>,
    error: Option<String>,
    /// An HTTP/2 stream a peer reset: what it carried ended there, by the peers' choice.
    reset: bool,
}

impl From<http1::Completed> for Done {
    fn from(c: http1::Completed) -> Self {
        Done {
            role: c.role,
            protocol: Protocol::Http1,
            stream_id: None,
            request: c.request,
            response: c.response,
            start: c.start,
            end: c.end,
            request_end: c.request_end,
            response_start: c.response_start,
            error: c.error,
            reset: false,
        }
    }
}

impl From<http2::Http2Completed> for Done {
    fn from(c: http2::Http2Completed) -> Self {
        let error = match (&c.reset, c.error) {
            (Some(code), _) => Some(format!("stream reset ({code})")),
            (None, e) => e,
        };
        Done {
            role: c.role,
            protocol: Protocol::Http2,
            stream_id: Some(c.stream_id),
            request: c.request,
            response: c.response,
            start: c.start,
            end: c.end,
            request_end: c.request_end,
            response_start: c.response_start,
            error,
            reset: c.reset.is_some(),
        }
    }
}

/// Decoded results of one step, whichever decoder produced them.
#[derive(Default)]
struct Step {
    done: Vec<Done>,
    errors: u64,
    /// The error that stopped decoding the connection (HTTP/2 stops at the first malformed
    /// frame; HTTP/1.1 resyncs and notes errors on its exchanges).
    stop: Option<String>,
}

impl Step {
    fn http1(&mut self, r: Result<Vec<http1::Completed>, http1::Http1Error>) {
        match r {
            Ok(d) => self.done.extend(d.into_iter().map(Done::from)),
            Err(_) => self.errors += 1,
        }
    }
    fn http2(&mut self, r: Result<Vec<http2::Http2Completed>, http2::Http2Error>) {
        match r {
            Ok(d) => self.done.extend(d.into_iter().map(Done::from)),
            Err(e) => {
                self.errors += 1;
                self.stop
                    .get_or_insert_with(|| format!("HTTP/2 decoding stopped: {e}"));
            }
        }
    }
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

    #[allow(clippy::too_many_arguments)]
    fn data(
        &mut self,
        ts: UnixNanos,
        key: ConnKey,
        dir: Direction,
        total: u32,
        offset: u32,
        bytes: &[u8],
        tls: bool,
        out: &mut Vec<Output>,
    ) {
        let limits = self.limits;
        let mut lost = 0u64;
        let mut dropped = false;
        {
            let c = self.conn(key, ts, out);
            c.last = ts;
            c.tls = tls;
            let i = dir_index(dir);
            // Chunks of one call arrive in order; a jump in offset is a chunk the kernel could
            // not deliver (counted there), a call that ends early is its missing tail.
            match (c.calls[i], offset) {
                (Some((t, next)), 0) if next < t => lost += u64::from(t - next),
                (Some((_, next)), o) if o > 0 && o > next => lost += u64::from(o - next),
                (Some((_, next)), o) if o > 0 && o < next => dropped = true,
                (None, o) if o > 0 => lost += u64::from(o),
                _ => {}
            }
            // The kernel's count covers every byte between the last delivered chunk and this
            // one, including whole calls, which offsets cannot show; the offsets also catch
            // what was not the ring's doing (an unreadable buffer, the per-call cap). Both
            // measure the same hole when the ring alone lost it: the larger is the hole.
            let kernel = std::mem::take(&mut c.gaps[i]);
            lost = lost.max(u64::from(kernel));
            if !dropped {
                let end = offset.saturating_add(bytes.len() as u32);
                c.calls[i] = if end >= total {
                    None
                } else {
                    Some((total, end))
                };
                match dir {
                    Direction::Write => c.written += bytes.len() as u64,
                    Direction::Read => c.read += bytes.len() as u64,
                }
            }
        }
        let Some(c) = self.conns.get_mut(&key) else {
            return;
        };
        c.lossy |= dropped || lost > 0;
        if dropped {
            self.stats.dropped_events += 1;
            return;
        }
        if lost > 0 {
            match &mut c.decoder {
                Decoder::Http1(h) => h.gap(dir, lost),
                Decoder::Http2(h) => h.gap(dir, lost),
                _ => {}
            }
        }
        let mut step = Step::default();
        match &mut c.decoder {
            Decoder::Sniffing { chunks, len } => {
                chunks.push((dir, ts, bytes.to_vec()));
                *len += bytes.len();
                match decide(chunks, *len) {
                    Verdict::Wait => {}
                    Verdict::Http1 => {
                        let mut h = Box::new(Http1Conn::new(limits));
                        for (d, t, b) in std::mem::take(chunks) {
                            step.http1(h.feed(d, t, &b));
                        }
                        c.decoder = Decoder::Http1(h);
                    }
                    verdict @ (Verdict::Http2 | Verdict::Http2Midway) => {
                        let mut h = Box::new(if verdict == Verdict::Http2 {
                            Http2Conn::new(limits)
                        } else {
                            Http2Conn::attach(limits, None)
                        });
                        for (d, t, b) in std::mem::take(chunks) {
                            step.http2(h.feed(d, t, &b));
                        }
                        c.decoder = Decoder::Http2(h);
                    }
                    Verdict::NotHttp => {
                        c.decoder = Decoder::Opaque {
                            reason: "not HTTP".into(),
                        }
                    }
                }
            }
            Decoder::Http1(h) => step.http1(h.feed(dir, ts, bytes)),
            Decoder::Http2(h) => step.http2(h.feed(dir, ts, bytes)),
            Decoder::Opaque { .. } => {
                // Attached mid-connection, or a protocol switch: a later call that starts with
                // an HTTP/1 message brings decoding back.
                if offset == 0 && http1::sniff(bytes) == Sniff::Http1 {
                    let mut h = Box::new(Http1Conn::new(limits));
                    step.http1(h.feed(dir, ts, bytes));
                    c.decoder = Decoder::Http1(h);
                }
            }
        }
        if let Decoder::Http1(h) = &c.decoder {
            if h.upgraded() {
                // WebSocket or another protocol now: keep counting bytes.
                let mut h = std::mem::replace(
                    &mut c.decoder,
                    Decoder::Opaque {
                        reason: "upgraded from HTTP/1.1".into(),
                    },
                );
                if let Decoder::Http1(h) = &mut h {
                    let rest = h.take_after_upgrade();
                    let role = h.role();
                    step.http1(Ok(h.finish(ts, "connection upgraded")));
                    // `Upgrade: h2c`: the request that asked becomes stream 1 of the HTTP/2
                    // connection, whose response comes as HTTP/2 frames.
                    if let Some(at) = step.done.iter().rposition(is_h2c_switch) {
                        let up = step.done.remove(at);
                        let role = role.unwrap_or(up.role);
                        let mut h2 =
                            Box::new(Http2Conn::upgraded(limits, role, up.request, up.start));
                        for (d, b) in rest {
                            step.http2(h2.feed(d, ts, &b));
                        }
                        c.decoder = Decoder::Http2(h2);
                    }
                }
            }
        }
        self.stats.decode_errors += step.errors;
        self.emit(key, step.done, out);
        if let Some(reason) = step.stop {
            self.report_stop(key, reason, out);
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

    fn finish_conn(
        &mut self,
        key: ConnKey,
        mut c: Conn,
        ts: UnixNanos,
        reason: &str,
        out: &mut Vec<Output>,
    ) {
        let completed: Vec<Done> = match &mut c.decoder {
            Decoder::Http1(h) => h.finish(ts, reason).into_iter().map(Done::from).collect(),
            Decoder::Http2(h) => {
                self.stats.pushes_ignored += h.stats().pushes;
                h.finish(ts, reason).into_iter().map(Done::from).collect()
            }
            Decoder::Sniffing { len: 0, .. } => Vec::new(),
            Decoder::Sniffing { chunks, .. } => {
                // Too little to decide; a lone HTTP/1 head still decodes.
                let mut h = Http1Conn::new(self.limits);
                let mut done = Vec::new();
                let mut ok = true;
                for (d, t, b) in std::mem::take(chunks) {
                    match h.feed(d, t, &b) {
                        Ok(x) => done.extend(x),
                        Err(_) => ok = false,
                    }
                }
                done.extend(h.finish(ts, reason));
                if !ok || done.is_empty() {
                    c.decoder = Decoder::Opaque {
                        reason: "not HTTP".into(),
                    };
                }
                done.into_iter().map(Done::from).collect()
            }
            Decoder::Opaque { .. } => Vec::new(),
        };
        self.emit_for(key.pid, &c, completed, out);
        if let Decoder::Opaque { reason } = &c.decoder {
            self.stats.opaque_connections += 1;
            out.push(Output::Opaque(OpaqueConnection {
                conn_id: c.id,
                pid: key.pid,
                comm: self.comm(key.pid),
                tls: c.tls,
                local_addr: c.local.clone(),
                peer_addr: c.peer.clone(),
                bytes_written: c.written,
                bytes_read: c.read,
                start: c.start,
                end: c.last.max(c.start),
                reason: reason.clone(),
            }));
        }
    }

    /// Says once, as it happens, that a connection's decoding stopped and why (the UI shows it
    /// as a notice, headless mode on stderr); its bytes are counted from then on.
    fn report_stop(&mut self, key: ConnKey, reason: String, out: &mut Vec<Output>) {
        let comm = self.comm(key.pid);
        let Some(c) = self.conns.get_mut(&key) else {
            return;
        };
        if std::mem::replace(&mut c.stopped, true) {
            return;
        }
        out.push(Output::Opaque(OpaqueConnection {
            conn_id: c.id,
            pid: key.pid,
            comm,
            tls: c.tls,
            local_addr: c.local.clone(),
            peer_addr: c.peer.clone(),
            bytes_written: c.written,
            bytes_read: c.read,
            start: c.start,
            end: c.last.max(c.start),
            reason,
        }));
    }

    fn comm(&self, pid: u32) -> String {
        self.comms.get(&pid).cloned().unwrap_or_default()
    }

    fn emit(&mut self, key: ConnKey, completed: Vec<Done>, out: &mut Vec<Output>) {
        if completed.is_empty() {
            return;
        }
        if let Some(c) = self.conns.remove(&key) {
            self.emit_for(key.pid, &c, completed, out);
            self.conns.insert(key, c);
        }
    }

    fn emit_for(&mut self, pid: u32, c: &Conn, completed: Vec<Done>, out: &mut Vec<Output>) {
        let comm = self.comm(pid);
        for done in completed {
            let id = self.next_exchange_id;
            self.next_exchange_id += 1;
            self.stats.exchanges += 1;
            if let Some(why) = incomplete(&done, self.limits.max_body, c.lossy) {
                self.stats.incomplete += 1;
                self.stats.incomplete_by.add(why);
            }
            out.push(Output::Exchange(Box::new(Exchange {
                id,
                pid,
                comm: comm.clone(),
                protocol: done.protocol,
                tls: c.tls,
                role: done.role,
                conn_id: c.id,
                local_addr: c.local.clone(),
                peer_addr: c.peer.clone(),
                stream_id: done.stream_id,
                request: done.request,
                response: done.response,
                start: done.start,
                end: done.end,
                request_end: done.request_end,
                response_start: done.response_start,
                error: done.error,
            })));
        }
    }
}

/// Whether an exchange was captured whole: answered, without an error, and with no body bytes
/// missing other than those past the body cap (a cap is a choice, not a loss). A stream a peer
/// reset was seen to its end (a client cancelling its requests at its deadline, say).
/// Why an exchange is not whole, or None when it is. A reset stream is whole: the programs
/// ended it, and all they sent was seen. A body cut by the body cap is whole too (the cap is a
/// choice, not a loss). `lossy`: the capture lost bytes of its connection.
fn incomplete(d: &Done, max_body: usize, lossy: bool) -> Option<Incomplete> {
    // A truncated body under the cap ended early (a gap, or its connection's end).
    let body_cut = |b: &crate::exchange::Body| b.truncated && b.raw_len <= max_body as u64;
    if d.reset {
        return None;
    }
    let cut = body_cut(&d.request.body) || d.response.as_ref().is_some_and(|r| body_cut(&r.body));
    if d.error.is_none() && !cut && d.response.is_some() {
        return None;
    }
    // Whatever else happened, on a connection the capture lost bytes of it counts as a loss.
    let why = match d.error.as_deref() {
        _ if lossy => Incomplete::Lost,
        // The texts `finish_conn` gives the decoders for a connection's end.
        Some(FINISH_CLOSED | FINISH_EXITED) => Incomplete::Closed,
        Some(FINISH_CAPTURE_ENDED) => Incomplete::CaptureEnded,
        _ => Incomplete::Other,
    };
    Some(why)
}

/// An HTTP/1.1 exchange answered `101 Switching Protocols` to `h2c`.
fn is_h2c_switch(d: &Done) -> bool {
    d.protocol == Protocol::Http1
        && d.response.as_ref().is_some_and(|r| {
            r.status == 101
                && crate::exchange::header(&r.headers, "upgrade")
                    .is_some_and(|u| u.trim().eq_ignore_ascii_case("h2c"))
        })
}

/// Deterministic order for connections finished together, so replays match.
fn sorted(mut keys: Vec<ConnKey>) -> Vec<ConnKey> {
    keys.sort();
    keys
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Wait,
    Http1,
    /// The client preface was seen.
    Http2,
    /// Frames without a preface: attached to an HTTP/2 connection already under way.
    Http2Midway,
    NotHttp,
}

/// Decides the protocol from the first bytes of either direction.
fn decide(chunks: &[(Direction, UnixNanos, Vec<u8>)], len: usize) -> Verdict {
    let mut waiting = false;
    let mut frames = false;
    for d in [Direction::Write, Direction::Read] {
        let bytes: Vec<u8> = chunks
            .iter()
            .filter(|(x, _, _)| *x == d)
            .flat_map(|(_, _, b)| b.iter().copied())
            .take(SNIFF_LIMIT)
            .collect();
        if bytes.is_empty() {
            continue;
        }
        match http2::is_preface(&bytes) {
            Preface::Yes => return Verdict::Http2,
            Preface::NeedMore => {
                waiting = true;
                continue;
            }
            Preface::No => {}
        }
        match http1::sniff(&bytes) {
            Sniff::Http1 => return Verdict::Http1,
            Sniff::NeedMore => waiting = true,
            Sniff::NotHttp => frames |= looks_like_frames(&bytes),
        }
    }
    if frames {
        Verdict::Http2Midway
    } else if waiting && len < SNIFF_LIMIT {
        Verdict::Wait
    } else {
        Verdict::NotHttp
    }
}

/// Two plausible HTTP/2 frame headers in a row (or one filling the bytes exactly): what a
/// connection looks like when we attach after its preface.
fn looks_like_frames(bytes: &[u8]) -> bool {
    let header = |at: usize| -> Option<&[u8; HEADER_LEN]> {
        bytes.get(at..at + HEADER_LEN)?.try_into().ok()
    };
    let Some(first) = header(0) else {
        return false;
    };
    if !FrameHeader::plausible(first, 1 << 24) {
        return false;
    }
    let next = HEADER_LEN + FrameHeader::parse(first).len as usize;
    match header(next) {
        Some(h) => FrameHeader::plausible(h, 1 << 24),
        None => next == bytes.len(),
    }
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
