//! Streaming HTTP/1.x decoder for one connection.
//!
//! Bytes arrive per direction in arbitrary pieces. Each direction is a small state machine
//! (first bytes → head → body → head ...); a direction only buffers what it needs to finish a
//! head or a chunk-size/trailer line, bounded by `Limits::max_header_buffer`. Body bytes go
//! straight into a [`BodyBuilder`], bounded by `Limits::max_body`. Requests wait in a FIFO queue
//! until their body is complete and their response (paired in order) has arrived.
//!
//! The decoder is split by what each part handles; all of it works on [`Http1Conn`]'s state:
//! - `start_line`: recognising where a message starts (sniffing, and resync after lost bytes);
//! - `head`: parsing message heads and trailer sections with httparse;
//! - `messages`: a parsed head beginning a message in progress;
//! - `framing`: how a body ends (content-length, chunked, connection close);
//! - `pairing`: ending messages and pairing each response with its request, in order.
use std::collections::VecDeque;

use crate::body::BodyBuilder;
use crate::event::{Direction, Limits};
use crate::exchange::{Request, Response, Role, UnixNanos};
use crate::input::{Input, Step};

mod framing;
mod head;
mod messages;
mod pairing;
mod start_line;

use framing::{Chunk, Framing};
use pairing::completed;
use start_line::{classify, Class};

/// Longest request line [`sniff`] waits for before deciding a stream is not HTTP/1.
const MAX_REQUEST_LINE: usize = 16 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sniff {
    Http1,
    NotHttp,
    NeedMore,
}

/// Classify the first bytes seen on a connection in either direction.
pub fn sniff(bytes: &[u8]) -> Sniff {
    match classify(bytes, MAX_REQUEST_LINE) {
        Class::Start(_) => Sniff::Http1,
        Class::NotHttp => Sniff::NotHttp,
        Class::NeedMore => Sniff::NeedMore,
    }
}

/// One request and (if seen) its response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completed {
    pub role: Role,
    pub request: Request,
    pub response: Option<Response>,
    /// Time of the first byte of the request.
    pub start: UnixNanos,
    /// Time of the last byte of the response.
    pub end: Option<UnixNanos>,
    /// Time of the call that ended the request.
    pub request_end: Option<UnixNanos>,
    /// Time of the first byte of the response.
    pub response_start: Option<UnixNanos>,
    /// Why incomplete, if it is.
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Http1Error {
    #[error("not HTTP/1.x")]
    NotHttp,
    #[error("malformed {what} head: {detail}")]
    MalformedHead { what: &'static str, detail: String },
    #[error("{0} where the other side's messages were expected")]
    WrongDirection(&'static str),
    #[error("invalid message framing: {0}")]
    Framing(String),
    #[error("malformed chunked body: {0}")]
    MalformedChunk(&'static str),
    #[error("{what} larger than {limit} bytes")]
    TooLarge { what: &'static str, limit: usize },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Nothing classified yet in this direction.
    Start,
    /// Expecting a message head.
    Head,
    Body(Framing),
    /// Lost sync: skipping to the next line that starts a message. `line_start`: the next byte
    /// begins a line.
    Resync {
        line_start: bool,
    },
    /// Upgraded, tunnelled, or finished: bytes are ignored.
    Closed,
}

impl Phase {
    /// What a direction is waiting to complete, for `TooLarge`.
    fn what(self) -> &'static str {
        match self {
            Phase::Body(Framing::Chunked(Chunk::Trailers)) => "trailer block",
            Phase::Body(_) => "chunk size line",
            _ => "header block",
        }
    }
}

/// The message whose head was parsed and whose body is arriving.
struct Msg {
    /// None for requests (their head already waits in the pending queue).
    response: Option<Response>,
    /// For responses: a request was waiting for it.
    paired: bool,
    /// Time of the head's first byte.
    start: UnixNanos,
    body: BodyBuilder,
    trailers: Vec<(String, String)>,
}

/// One direction of the connection.
struct Side {
    phase: Phase,
    /// Unconsumed bytes of a head or line split across calls.
    buf: Vec<u8>,
    /// Time of the call that brought `buf`'s first byte.
    buf_ts: UnixNanos,
    /// Time of the last call in this direction (ends close-delimited bodies).
    last_ts: UnixNanos,
    msg: Option<Msg>,
}

impl Side {
    fn new() -> Self {
        Side {
            phase: Phase::Start,
            buf: Vec::new(),
            buf_ts: 0,
            last_ts: 0,
            msg: None,
        }
    }
}

/// A request waiting for its body to end and/or its response.
struct Pending {
    request: Request,
    start: UnixNanos,
    body_done: bool,
    /// Time of the call that ended the request.
    request_end: Option<UnixNanos>,
    /// The response with the times of its first and last bytes.
    response: Option<(Response, UnixNanos, UnixNanos)>,
    error: Option<String>,
}

/// Streaming HTTP/1.x decoder for one connection.
pub struct Http1Conn {
    limits: Limits,
    role: Option<Role>,
    /// Indexed by [`side_index`].
    sides: [Side; 2],
    pending: VecDeque<Pending>,
    /// Completed exchanges not yet handed out.
    ready: Vec<Completed>,
    /// First error of the current call.
    error: Option<Http1Error>,
    upgraded: bool,
    /// Bytes that followed the upgrade, per direction (the new protocol's first bytes).
    after_upgrade: Vec<(Direction, Vec<u8>)>,
}

fn side_index(dir: Direction) -> usize {
    match dir {
        Direction::Write => 0,
        Direction::Read => 1,
    }
}

fn side_direction(i: usize) -> Direction {
    if i == 0 {
        Direction::Write
    } else {
        Direction::Read
    }
}

impl Http1Conn {
    pub fn new(limits: Limits) -> Self {
        Http1Conn {
            limits,
            role: None,
            sides: [Side::new(), Side::new()],
            pending: VecDeque::new(),
            ready: Vec::new(),
            error: None,
            upgraded: false,
            after_upgrade: Vec::new(),
        }
    }

    /// The role, once the first message head told it.
    pub fn role(&self) -> Option<Role> {
        self.role
    }

    /// A `101 Switching Protocols` (or a `CONNECT` tunnel) ended HTTP/1 on this connection.
    pub fn upgraded(&self) -> bool {
        self.upgraded
    }

    /// Bytes that came after the `101` (or tunnel) in the calls fed so far, in order, so that
    /// the protocol switched to (`h2c`) can decode them. Bounded by `max_header_buffer`.
    pub fn take_after_upgrade(&mut self) -> Vec<(Direction, Vec<u8>)> {
        std::mem::take(&mut self.after_upgrade)
    }

    /// Feed one call's bytes (or part). Returns exchanges completed by these bytes, in request
    /// order. On a parse error the direction resyncs at the next line that starts a message and
    /// the error is returned; exchanges completed by the same call (or by [`Self::gap`]) are then
    /// returned by the next `feed` or `finish`.
    pub fn feed(
        &mut self,
        dir: Direction,
        ts: UnixNanos,
        bytes: &[u8],
    ) -> Result<Vec<Completed>, Http1Error> {
        let i = side_index(dir);
        if !bytes.is_empty() {
            self.sides[i].last_ts = ts;
        }
        self.run(i, ts, bytes);
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(std::mem::take(&mut self.ready)),
        }
    }

    /// Bytes were lost in `dir`. A body of known length that contains the gap goes on with the
    /// gap counted as body bytes not kept (truncated); otherwise the message in progress is
    /// finished as truncated (so pairing stays in order) and the direction resyncs. Exchanges
    /// this completes are returned by the next `feed` or `finish`.
    pub fn gap(&mut self, dir: Direction, len: u64) {
        if len == 0 {
            return;
        }
        let i = side_index(dir);
        let side = &mut self.sides[i];
        side.buf.clear();
        let end = side.last_ts;
        let (inside, body_left) = match side.phase {
            Phase::Closed => return,
            Phase::Body(Framing::UntilClose) => (Some(Framing::UntilClose), 0),
            Phase::Body(Framing::Length(rem)) if len <= rem => {
                (Some(Framing::Length(rem - len)), 0)
            }
            Phase::Body(Framing::Length(rem)) => (None, rem),
            Phase::Body(Framing::Chunked(Chunk::Data(rem))) if len < rem => {
                (Some(Framing::Chunked(Chunk::Data(rem - len))), 0)
            }
            Phase::Body(Framing::Chunked(Chunk::Data(rem))) if len == rem => {
                (Some(Framing::Chunked(Chunk::DataEnd)), 0)
            }
            Phase::Body(Framing::Chunked(Chunk::Data(rem))) => (None, rem),
            _ => (None, 0),
        };
        match inside {
            Some(framing) => {
                self.skip_body(i, len);
                self.sides[i].phase = Phase::Body(framing);
                if framing == Framing::Length(0) {
                    self.complete(i, end, false, None);
                }
            }
            None => {
                // The gap ran past the message: keep what we have, find the next head.
                let known_end = matches!(self.sides[i].phase, Phase::Body(Framing::Length(_)));
                self.skip_body(i, body_left);
                let was_response = self.sides[i]
                    .msg
                    .as_ref()
                    .is_some_and(|m| m.response.is_some());
                self.complete(i, end, true, None);
                self.sides[i].phase = Phase::Resync { line_start: true };
                // A response whose end is known was followed by the next response's start, and
                // the gap took it: that request will get no response. Leaving it waiting would
                // pair every later response with the request before its own. (More than one
                // response may be lost in a long gap; one is what is certain.)
                if known_end && was_response && len > body_left {
                    self.lose_next_response("response lost in a capture gap");
                }
            }
        }
    }

    /// The connection ended. Completes what can be: a close-delimited response gets its body;
    /// other messages cut short are kept truncated; requests without a response come back with
    /// `response: None` and `error: Some(reason)`.
    pub fn finish(&mut self, _ts: UnixNanos, reason: &str) -> Vec<Completed> {
        // Settle request bodies before responses so pairing sees them done.
        let order = match self.role {
            Some(Role::Server) => [1, 0],
            _ => [0, 1],
        };
        for i in order {
            let side = &mut self.sides[i];
            side.buf.clear();
            if side.msg.is_some() {
                let end = side.last_ts;
                if side.phase == Phase::Body(Framing::UntilClose) {
                    self.complete(i, end, false, None);
                } else {
                    self.complete(i, end, true, Some(reason));
                }
            }
            self.sides[i].phase = Phase::Closed;
        }
        let role = self.role.unwrap_or(Role::Client);
        while let Some(p) = self.pending.pop_front() {
            self.ready.push(completed(role, p, reason));
        }
        std::mem::take(&mut self.ready)
    }

    /// Runs one call's bytes through direction `i`, buffering only an unfinished head or line.
    fn run(&mut self, i: usize, ts: UnixNanos, mut input: &[u8]) {
        let limit = self.limits.max_header_buffer;
        loop {
            if self.sides[i].buf.is_empty() {
                let n = self.process(
                    i,
                    &Input {
                        data: input,
                        old_len: 0,
                        old_ts: ts,
                        ts,
                    },
                );
                let side = &mut self.sides[i];
                // `process` leaves less than `limit` bytes unconsumed.
                side.buf.extend_from_slice(&input[n..]);
                side.buf_ts = ts;
                return;
            }
            if input.is_empty() {
                // Nothing new: the buffered partial head cannot have changed.
                return;
            }
            // Top the buffer up to at most `limit`: enough to finish any head we accept.
            let mut buf = std::mem::take(&mut self.sides[i].buf);
            let old_len = buf.len();
            let take = limit.saturating_sub(old_len).min(input.len());
            buf.extend_from_slice(&input[..take]);
            input = &input[take..];
            let old_ts = self.sides[i].buf_ts;
            let n = self.process(
                i,
                &Input {
                    data: &buf,
                    old_len,
                    old_ts,
                    ts,
                },
            );
            if n == 0 && take == 0 {
                // Unreachable while `process` consumes any full buffer; never spin if it doesn't.
                self.fail(
                    i,
                    Http1Error::TooLarge {
                        what: "header block",
                        limit,
                    },
                );
                return;
            }
            buf.drain(..n);
            let side = &mut self.sides[i];
            if n >= old_len {
                side.buf_ts = ts;
            }
            side.buf = buf;
            if input.is_empty() {
                return;
            }
        }
    }

    /// Processes as much of `inp` as possible; returns the bytes consumed.
    fn process(&mut self, i: usize, inp: &Input) -> usize {
        let mut pos = 0;
        while pos < inp.data.len() {
            match self.step(i, inp, pos) {
                Step::Advance(n) => pos += n,
                Step::NeedMore => {
                    if inp.data.len() - pos < self.limits.max_header_buffer {
                        return pos;
                    }
                    let what = self.sides[i].phase.what();
                    let limit = self.limits.max_header_buffer;
                    self.fail(i, Http1Error::TooLarge { what, limit });
                    return inp.data.len();
                }
            }
        }
        pos
    }

    fn step(&mut self, i: usize, inp: &Input, pos: usize) -> Step {
        let rest = &inp.data[pos..];
        match self.sides[i].phase {
            Phase::Closed => {
                if self.upgraded {
                    let kept: usize = self.after_upgrade.iter().map(|(_, b)| b.len()).sum();
                    let room = self.limits.max_header_buffer.saturating_sub(kept);
                    let keep = &rest[..rest.len().min(room)];
                    if !keep.is_empty() {
                        let dir = side_direction(i);
                        match self.after_upgrade.last_mut() {
                            Some((d, b)) if *d == dir => b.extend_from_slice(keep),
                            _ => self.after_upgrade.push((dir, keep.to_vec())),
                        }
                    }
                }
                Step::Advance(rest.len())
            }
            Phase::Start => self.step_start(i, rest),
            Phase::Resync { line_start } => self.step_resync(i, rest, line_start),
            Phase::Head => self.step_head(i, inp, pos),
            Phase::Body(Framing::Length(rem)) => {
                let n = self.body_bytes(i, rest, rem);
                if n as u64 == rem {
                    self.complete(i, inp.ts, false, None);
                } else {
                    self.sides[i].phase = Phase::Body(Framing::Length(rem - n as u64));
                }
                Step::Advance(n)
            }
            Phase::Body(Framing::UntilClose) => Step::Advance(self.body_bytes(i, rest, u64::MAX)),
            Phase::Body(Framing::Chunked(chunk)) => self.step_chunked(i, inp, rest, chunk),
        }
    }
}
