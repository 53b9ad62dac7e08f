//! Streaming HTTP/1.x decoder for one connection.
//!
//! Bytes arrive per direction in arbitrary pieces. Each direction is a small state machine
//! (first bytes → head → body → head ...); a direction only buffers what it needs to finish a
//! head or a chunk-size/trailer line, bounded by `Limits::max_header_buffer`. Body bytes go
//! straight into a [`BodyBuilder`], bounded by `Limits::max_body`. Requests wait in a FIFO queue
//! until their body is complete and their response (paired in order) has arrived.
use std::collections::VecDeque;

use crate::body::BodyBuilder;
use crate::event::{Direction, Limits};
use crate::exchange::{header, Request, Response, Role, UnixNanos};
use crate::input::{Input, Step};

/// Longest request line [`sniff`] waits for before deciding a stream is not HTTP/1.
const MAX_REQUEST_LINE: usize = 16 * 1024;
/// Header count we grow the parse array to before calling a head malformed.
const MAX_HEADERS: usize = 4096;
/// Requests waiting for a response; past it the oldest is reported without one.
const MAX_PENDING: usize = 256;

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
enum Kind {
    Request,
    Response,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Request => "request",
            Kind::Response => "response",
        }
    }
}

#[derive(Clone, Copy)]
enum Class {
    Start(Kind),
    NotHttp,
    NeedMore,
}

/// Does `bytes` start with a request line or a status line? Only looks `max_line` bytes ahead.
fn classify(bytes: &[u8], max_line: usize) -> Class {
    const STATUS: &[u8] = b"HTTP/1.";
    if bytes.starts_with(STATUS) {
        return Class::Start(Kind::Response);
    }
    if bytes.len() < STATUS.len() && STATUS.starts_with(bytes) && !bytes.is_empty() {
        return Class::NeedMore;
    }
    match request_line(bytes, max_line) {
        Some(c) => c,
        // Out of bytes: only worth waiting for if the line could still fit.
        None if bytes.len() >= max_line => Class::NotHttp,
        None => Class::NeedMore,
    }
}

/// Where a request line would start whose ` HTTP/1.` version is at `at` (`…GET /x HTTP/1.1`):
/// back over the target to the space before it, then over the method. Of an uppercase run, the
/// longest standard method it ends with is taken (`…XYZGET` is `GET` after a body).
fn request_line_start(bytes: &[u8], at: usize) -> Option<usize> {
    const METHODS: [&[u8]; 9] = [
        b"OPTIONS", b"CONNECT", b"DELETE", b"PATCH", b"TRACE", b"POST", b"HEAD", b"GET", b"PUT",
    ];
    let space = at.checked_sub(1).filter(|&j| bytes[j] == b' ')?;
    let target = bytes[..space]
        .iter()
        .rev()
        .take_while(|&&b| matches!(b, 0x21..=0x7e | 0x80..=0xff))
        .count();
    let before = (space - target)
        .checked_sub(1)
        .filter(|&j| bytes[j] == b' ')?;
    if target == 0 {
        return None;
    }
    let method = bytes[..before]
        .iter()
        .rev()
        .take_while(|&&b| matches!(b, b'A'..=b'Z' | b'-' | b'_'))
        .count()
        .min(32);
    if method == 0 {
        return None;
    }
    let token = &bytes[before - method..before];
    let known = METHODS.iter().find(|m| token.ends_with(m));
    Some(before - known.map_or(method, |m| m.len()))
}

/// The union of two ascending sequences, ascending (equal positions once).
fn merge_ascending(
    a: impl Iterator<Item = usize>,
    b: impl Iterator<Item = usize>,
) -> impl Iterator<Item = usize> {
    let (mut a, mut b) = (a.peekable(), b.peekable());
    std::iter::from_fn(move || match (a.peek().copied(), b.peek().copied()) {
        (Some(x), Some(y)) if x == y => {
            b.next();
            a.next()
        }
        (Some(x), Some(y)) if y < x => b.next(),
        (Some(_), _) => a.next(),
        (None, _) => b.next(),
    })
}

/// Checks `METHOD SP target SP HTTP/1.x EOL`; None when the bytes run out before a verdict.
fn request_line(bytes: &[u8], max_line: usize) -> Option<Class> {
    let not = Some(Class::NotHttp);
    let window = &bytes[..bytes.len().min(max_line)];
    let mut it = window.iter().copied().enumerate();
    // Methods are tokens; in practice uppercase, which keeps binary data from looking like one.
    let mut method_len = 0;
    loop {
        let (_, b) = it.next()?;
        match b {
            b'A'..=b'Z' | b'-' | b'_' if method_len < 32 => method_len += 1,
            b' ' if method_len > 0 => break,
            _ => return not,
        }
    }
    let mut target_len = 0;
    loop {
        let (_, b) = it.next()?;
        match b {
            b' ' if target_len > 0 => break,
            0x21..=0x7e | 0x80..=0xff => target_len += 1,
            _ => return not,
        }
    }
    for want in b"HTTP/1.".iter().copied() {
        if it.next()?.1 != want {
            return not;
        }
    }
    if !it.next()?.1.is_ascii_digit() {
        return not;
    }
    match it.next()?.1 {
        b'\n' => Some(Class::Start(Kind::Request)),
        b'\r' => match it.next()?.1 {
            b'\n' => Some(Class::Start(Kind::Request)),
            _ => not,
        },
        _ => not,
    }
}

/// How the body of the message in progress ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// Body bytes still expected.
    Length(u64),
    Chunked(Chunk),
    /// Response body that runs until the connection closes.
    UntilClose,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunk {
    Size,
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    Trailers,
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

    fn skip_body(&mut self, i: usize, len: u64) {
        if let Some(msg) = self.sides[i].msg.as_mut() {
            msg.body.skip(len);
        }
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

    /// The kind of message direction `i` carries, once the role is known.
    fn expected(&self, i: usize) -> Option<Kind> {
        let requests_in = match self.role? {
            Role::Client => 0,
            Role::Server => 1,
        };
        Some(if i == requests_in {
            Kind::Request
        } else {
            Kind::Response
        })
    }

    /// First bytes of a direction: decide what it carries (and so the role).
    fn step_start(&mut self, i: usize, rest: &[u8]) -> Step {
        match classify(rest, self.max_line()) {
            Class::NeedMore => Step::NeedMore,
            Class::NotHttp => {
                self.fail(i, Http1Error::NotHttp);
                Step::Advance(0)
            }
            Class::Start(kind) => {
                match self.expected(i) {
                    None => self.role = Some(role_for(i, kind)),
                    Some(k) if k != kind => {
                        self.fail(i, Http1Error::WrongDirection(kind.name()));
                        return Step::Advance(0);
                    }
                    Some(_) => {}
                }
                self.sides[i].phase = Phase::Head;
                Step::Advance(0)
            }
        }
    }

    fn max_line(&self) -> usize {
        MAX_REQUEST_LINE.min(self.limits.max_header_buffer)
    }

    /// Skips to the first place that begins a message of the kind this direction carries: a line
    /// start, or a start line right after a body that did not end its last line (a JSON body is
    /// followed directly by the next `HTTP/1.1 200`, so line starts alone never resync such a
    /// connection after a gap). Candidates are found with memchr/memmem: resyncing scans every
    /// byte until it finds one, and byte by byte that was over half of apitop's CPU under load.
    fn step_resync(&mut self, i: usize, rest: &[u8], line_start: bool) -> Step {
        let expected = self.expected(i);
        let max_line = self.max_line();
        let mut heads: Vec<usize> = memchr::memmem::find_iter(rest, b"HTTP/1.")
            .flat_map(|h| [request_line_start(rest, h), Some(h)])
            .flatten()
            // Offset 0 counts only at a line start (as below): a head that failed to parse there
            // sends the direction back here with `line_start: false`, and must be passed over.
            .filter(|&p| p > 0)
            .collect();
        heads.sort_unstable();
        heads.dedup();
        let lines = line_start
            .then_some(0)
            .into_iter()
            .chain(memchr::memchr_iter(b'\n', rest).map(|j| j + 1));
        for p in merge_ascending(lines, heads.into_iter()) {
            match classify(&rest[p..], max_line) {
                Class::Start(kind) if expected.is_none_or(|k| k == kind) => {
                    self.sides[i].phase = Phase::Start;
                    return Step::Advance(p);
                }
                Class::NeedMore if p == 0 => return Step::NeedMore,
                Class::NeedMore => {
                    self.sides[i].phase = Phase::Resync { line_start: true };
                    return Step::Advance(p);
                }
                _ => {}
            }
        }
        // Nothing starts here. The last bytes may be the first part of a start line that is not
        // at a line start (`…}GET /b HT`): keep them (less than the buffer limit) for the next
        // bytes; they are looked at again then, the rest is skipped.
        let keep = max_line
            .min(self.limits.max_header_buffer)
            .saturating_sub(1);
        if rest.len() <= keep {
            self.sides[i].phase = Phase::Resync { line_start };
            return Step::NeedMore;
        }
        let skip = rest.len() - keep;
        self.sides[i].phase = Phase::Resync {
            line_start: rest[skip - 1] == b'\n',
        };
        Step::Advance(skip)
    }

    fn step_head(&mut self, i: usize, inp: &Input, pos: usize) -> Step {
        let rest = &inp.data[pos..];
        // Stray line ends between messages are tolerated (RFC 9112 §2.2).
        let blank = rest
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        if blank > 0 {
            return Step::Advance(blank);
        }
        let Some(kind) = self.expected(i) else {
            self.sides[i].phase = Phase::Start;
            return Step::Advance(0);
        };
        let parsed = match kind {
            Kind::Request => parse_request(rest),
            Kind::Response => parse_response(rest),
        };
        let (len, head) = match parsed {
            Ok(Some(h)) => h,
            Ok(None) => return Step::NeedMore,
            Err(e) => {
                self.fail(i, e);
                // No response head where one must start: most often the capture lost a call
                // (a full ring drops whole records, unseen here), and the bytes that framed the
                // previous body ran into the next response, whose head went with them. Its
                // request gets no response rather than the one after it.
                if kind == Kind::Response {
                    self.lose_next_response(
                        "response unreadable (bytes lost in capture, or malformed)",
                    );
                }
                return Step::Advance(0);
            }
        };
        let limit = self.limits.max_header_buffer;
        if len > limit {
            self.fail(
                i,
                Http1Error::TooLarge {
                    what: "header block",
                    limit,
                },
            );
            return Step::Advance(len);
        }
        let start = inp.ts_at(pos);
        let end = inp.ts;
        let result = match head {
            Head::Request(req) => self.begin_request(i, req, start),
            Head::Response(resp) => self.begin_response(i, resp, start, end),
        };
        if let Err(e) = result {
            self.fail(i, e);
        }
        Step::Advance(len)
    }

    fn begin_request(
        &mut self,
        i: usize,
        req: Request,
        start: UnixNanos,
    ) -> Result<(), Http1Error> {
        let framing = match chunked(&req.headers) {
            Some(true) => Framing::Chunked(Chunk::Size),
            Some(false) => {
                return Err(Http1Error::Framing(
                    "request transfer-encoding does not end in chunked".into(),
                ))
            }
            None => Framing::Length(content_length(&req.headers)?.unwrap_or(0)),
        };
        if self.pending.len() >= MAX_PENDING {
            if let Some(oldest) = self.pending.pop_front() {
                let role = self.role.unwrap_or(Role::Client);
                let reason = "no response seen (too many requests outstanding)";
                self.ready.push(completed(role, oldest, reason));
            }
        }
        let declared = match framing {
            Framing::Length(n) => Some(n),
            _ => None,
        };
        let body = BodyBuilder::new(
            self.limits.max_body,
            header(&req.headers, "content-encoding"),
        )
        .with_expected(declared);
        self.pending.push_back(Pending {
            request: req,
            start,
            body_done: false,
            request_end: None,
            response: None,
            error: None,
        });
        self.begin_body(i, None, false, start, body, framing);
        if framing == Framing::Length(0) {
            // Complete at its head; a request's end time is not reported.
            self.complete(i, start, false, None);
        }
        Ok(())
    }

    fn begin_response(
        &mut self,
        i: usize,
        resp: Response,
        start: UnixNanos,
        end: UnixNanos,
    ) -> Result<(), Http1Error> {
        // Interim responses (100 Continue, 103 Early Hints) belong to no exchange.
        if (100..200).contains(&resp.status) && resp.status != 101 {
            return Ok(());
        }
        let method = self.waiting().map(|p| p.request.method.clone());
        let paired = method.is_some();
        let method = method.unwrap_or_default();
        let tunnel =
            resp.status == 101 || (method == "CONNECT" && (200..300).contains(&resp.status));
        let no_body = tunnel || method == "HEAD" || resp.status == 204 || resp.status == 304;
        let framing = if no_body {
            Framing::Length(0)
        } else {
            match chunked(&resp.headers) {
                Some(true) => Framing::Chunked(Chunk::Size),
                Some(false) => Framing::UntilClose,
                None => match content_length(&resp.headers)? {
                    Some(n) => Framing::Length(n),
                    None => Framing::UntilClose,
                },
            }
        };
        let declared = match framing {
            Framing::Length(n) => Some(n),
            _ => None,
        };
        let body = BodyBuilder::new(
            self.limits.max_body,
            header(&resp.headers, "content-encoding"),
        )
        .with_expected(declared);
        self.begin_body(i, Some(resp), paired, start, body, framing);
        if framing == Framing::Length(0) {
            self.complete(i, end, false, None);
        }
        if tunnel {
            // The rest of the connection is another protocol.
            self.upgraded = true;
            for side in &mut self.sides {
                side.phase = Phase::Closed;
                side.buf.clear();
            }
        }
        Ok(())
    }

    fn begin_body(
        &mut self,
        i: usize,
        response: Option<Response>,
        paired: bool,
        start: UnixNanos,
        body: BodyBuilder,
        framing: Framing,
    ) {
        let side = &mut self.sides[i];
        side.msg = Some(Msg {
            response,
            paired,
            start,
            body,
            trailers: Vec::new(),
        });
        side.phase = Phase::Body(framing);
    }

    /// Adds up to `max` body bytes from `rest`; returns how many.
    fn body_bytes(&mut self, i: usize, rest: &[u8], max: u64) -> usize {
        let n = rest.len().min(usize::try_from(max).unwrap_or(usize::MAX));
        if let Some(msg) = self.sides[i].msg.as_mut() {
            msg.body.push(&rest[..n]);
        }
        n
    }

    fn step_chunked(&mut self, i: usize, inp: &Input, rest: &[u8], chunk: Chunk) -> Step {
        let set = |s: &mut Self, c: Chunk| s.sides[i].phase = Phase::Body(Framing::Chunked(c));
        match chunk {
            Chunk::Size => match httparse::parse_chunk_size(rest) {
                Ok(httparse::Status::Complete((n, 0))) => {
                    set(self, Chunk::Trailers);
                    Step::Advance(n)
                }
                Ok(httparse::Status::Complete((n, size))) => {
                    set(self, Chunk::Data(size));
                    Step::Advance(n)
                }
                Ok(httparse::Status::Partial) => Step::NeedMore,
                Err(_) => {
                    self.fail(i, Http1Error::MalformedChunk("bad chunk size line"));
                    Step::Advance(0)
                }
            },
            Chunk::Data(rem) => {
                let n = self.body_bytes(i, rest, rem);
                let left = rem - n as u64;
                set(
                    self,
                    if left == 0 {
                        Chunk::DataEnd
                    } else {
                        Chunk::Data(left)
                    },
                );
                Step::Advance(n)
            }
            Chunk::DataEnd => match rest {
                [b'\r', b'\n', ..] => {
                    set(self, Chunk::Size);
                    Step::Advance(2)
                }
                [b'\r'] => Step::NeedMore,
                _ => {
                    self.fail(
                        i,
                        Http1Error::MalformedChunk("missing CRLF after chunk data"),
                    );
                    Step::Advance(0)
                }
            },
            Chunk::Trailers => match parse_fields(rest) {
                Ok(Some((n, trailers))) => {
                    if let Some(msg) = self.sides[i].msg.as_mut() {
                        msg.trailers = trailers;
                    }
                    self.complete(i, inp.ts, false, None);
                    Step::Advance(n)
                }
                Ok(None) => Step::NeedMore,
                Err(e) => {
                    self.fail(i, e);
                    Step::Advance(0)
                }
            },
        }
    }

    /// The first request waiting for a response gets none: its response was lost (`reason`).
    fn lose_next_response(&mut self, reason: &str) {
        let Some(at) = self.pending.iter().position(|p| p.response.is_none()) else {
            return;
        };
        // Later requests keep their order; this one leaves the queue now, answered by nothing.
        if let Some(p) = self.pending.remove(at) {
            let role = self.role.unwrap_or(Role::Client);
            self.ready.push(completed(role, p, reason));
        }
        self.drain_pending();
    }

    /// The first request still waiting for a response.
    fn waiting(&mut self) -> Option<&mut Pending> {
        self.pending.iter_mut().find(|p| p.response.is_none())
    }

    /// Records the error (the first one of a call is returned), keeps the message in progress as
    /// truncated so pairing stays in order, and resyncs the direction.
    fn fail(&mut self, i: usize, e: Http1Error) {
        if self.error.is_none() {
            self.error = Some(e);
        }
        if self.sides[i].msg.is_some() {
            let end = self.sides[i].last_ts;
            self.complete(i, end, true, None);
        }
        self.sides[i].phase = Phase::Resync { line_start: false };
    }

    /// Ends direction `i`'s message in progress. `cut`: it ended before its body did.
    /// `error`: why, to report on the exchange.
    fn complete(&mut self, i: usize, end: UnixNanos, cut: bool, error: Option<&str>) {
        let side = &mut self.sides[i];
        let Some(mut msg) = side.msg.take() else {
            return;
        };
        if side.phase != Phase::Closed {
            side.phase = Phase::Head;
        }
        if cut {
            msg.body.mark_truncated();
        }
        let body = msg.body.finish();
        let error = error.map(str::to_string);
        match msg.response {
            None => {
                if let Some(p) = self.pending.back_mut() {
                    p.request.body = body;
                    p.body_done = true;
                    p.request_end = Some(end);
                    p.error = p.error.take().or(error);
                }
            }
            Some(mut resp) => {
                resp.body = body;
                resp.trailers = msg.trailers;
                let waiting = if msg.paired { self.waiting() } else { None };
                match waiting {
                    Some(p) => {
                        p.response = Some((resp, msg.start, end));
                        p.error = p.error.take().or(error);
                    }
                    None => self.ready.push(Completed {
                        role: self.role.unwrap_or(Role::Client),
                        request: Request::default(),
                        response: Some(resp),
                        start: msg.start,
                        end: Some(end),
                        request_end: None,
                        response_start: Some(msg.start),
                        error: Some(
                            error.unwrap_or_else(|| "response without a captured request".into()),
                        ),
                    }),
                }
            }
        }
        self.drain_pending();
    }

    /// Moves finished exchanges from the front of the queue to `ready`, keeping request order.
    fn drain_pending(&mut self) {
        let role = self.role.unwrap_or(Role::Client);
        while self
            .pending
            .front()
            .is_some_and(|p| p.body_done && p.response.is_some())
        {
            let p = self.pending.pop_front().expect("front checked");
            self.ready.push(completed(role, p, ""));
        }
    }
}

/// Turns a queue entry into a result; `reason` explains a missing response.
fn completed(role: Role, p: Pending, reason: &str) -> Completed {
    let (response, response_start, end) = match p.response {
        Some((r, first, end)) => (Some(r), Some(first), Some(end)),
        None => (None, None, None),
    };
    let error = match (&response, p.error) {
        (_, Some(e)) => Some(e),
        (None, None) => Some(reason.to_string()),
        (Some(_), None) => None,
    };
    Completed {
        role,
        request: p.request,
        response,
        start: p.start,
        end,
        request_end: p.request_end,
        response_start,
        error,
    }
}

fn role_for(i: usize, kind: Kind) -> Role {
    let requests_in_write = (i == 0) == (kind == Kind::Request);
    if requests_in_write {
        Role::Client
    } else {
        Role::Server
    }
}

/// Header or trailer fields as sent.
type Fields = Vec<(String, String)>;

enum Head {
    Request(Request),
    Response(Response),
}

fn parser_config() -> httparse::ParserConfig {
    let mut c = httparse::ParserConfig::default();
    // We observe traffic rather than judge it: accept what lenient peers accept.
    c.allow_spaces_after_header_name_in_responses(true)
        .allow_obsolete_multiline_headers_in_responses(true)
        .allow_multiple_spaces_in_request_line_delimiters(true)
        .allow_multiple_spaces_in_response_status_delimiters(true);
    c
}

/// Does `bytes` hold a whole head yet? Saves re-running the parser on every piece of a head.
/// One pass that stops at the first blank line, so a head followed by a large body is cheap.
fn has_head_end(bytes: &[u8]) -> bool {
    memchr::memchr_iter(b'\n', bytes).any(|i| match bytes.get(i + 1) {
        Some(b'\n') => true,
        Some(b'\r') => bytes.get(i + 2) == Some(&b'\n'),
        _ => false,
    })
}

/// Runs `parse` with a header array grown until it fits (up to `MAX_HEADERS`).
fn with_headers<'b, T>(
    what: &'static str,
    mut parse: impl FnMut(&mut [httparse::Header<'b>]) -> Result<Option<T>, httparse::Error>,
) -> Result<Option<T>, Http1Error> {
    // The common case fits on the stack: a 2 KiB heap array per message head made glibc
    // consolidate its free lists on every exchange (a tenth of apitop's CPU under load).
    let mut first = [httparse::EMPTY_HEADER; 64];
    let mut n = first.len();
    loop {
        let mut grown;
        let headers: &mut [httparse::Header<'b>] = if n == first.len() {
            &mut first
        } else {
            grown = vec![httparse::EMPTY_HEADER; n];
            &mut grown
        };
        match parse(headers) {
            Err(httparse::Error::TooManyHeaders) if n < MAX_HEADERS => n *= 4,
            Err(e) => {
                return Err(Http1Error::MalformedHead {
                    what,
                    detail: e.to_string(),
                })
            }
            Ok(v) => return Ok(v),
        }
    }
}

fn parse_request(bytes: &[u8]) -> Result<Option<(usize, Head)>, Http1Error> {
    let config = parser_config();
    if !has_head_end(bytes) {
        // Still reject garbage early rather than waiting for a blank line that never comes.
        return match config.parse_request(&mut httparse::Request::new(&mut []), bytes) {
            Err(e) if e != httparse::Error::TooManyHeaders => Err(Http1Error::MalformedHead {
                what: "request",
                detail: e.to_string(),
            }),
            _ => Ok(None),
        };
    }
    with_headers("request", |headers| {
        let mut req = httparse::Request::new(headers);
        Ok(match config.parse_request(&mut req, bytes)? {
            httparse::Status::Partial => None,
            httparse::Status::Complete(len) => Some((
                len,
                Head::Request(Request {
                    method: req.method.unwrap_or_default().to_string(),
                    target: req.path.unwrap_or_default().to_string(),
                    version: version(req.version),
                    headers: fields(req.headers),
                    body: Default::default(),
                }),
            )),
        })
    })
}

fn parse_response(bytes: &[u8]) -> Result<Option<(usize, Head)>, Http1Error> {
    let config = parser_config();
    if !has_head_end(bytes) {
        return match config.parse_response(&mut httparse::Response::new(&mut []), bytes) {
            Err(e) if e != httparse::Error::TooManyHeaders => Err(Http1Error::MalformedHead {
                what: "response",
                detail: e.to_string(),
            }),
            _ => Ok(None),
        };
    }
    with_headers("response", |headers| {
        let mut resp = httparse::Response::new(headers);
        Ok(match config.parse_response(&mut resp, bytes)? {
            httparse::Status::Partial => None,
            httparse::Status::Complete(len) => Some((
                len,
                Head::Response(Response {
                    status: resp.code.unwrap_or_default(),
                    reason: resp.reason.unwrap_or_default().to_string(),
                    version: version(resp.version),
                    headers: fields(resp.headers),
                    ..Default::default()
                }),
            )),
        })
    })
}

/// A trailer section (header fields up to a blank line).
fn parse_fields(bytes: &[u8]) -> Result<Option<(usize, Fields)>, Http1Error> {
    with_headers("trailer", |headers| {
        Ok(match httparse::parse_headers(bytes, headers)? {
            httparse::Status::Partial => None,
            httparse::Status::Complete((len, hs)) => Some((len, fields(hs))),
        })
    })
}

fn version(minor: Option<u8>) -> String {
    format!("HTTP/1.{}", minor.unwrap_or(1))
}

/// Header fields as sent, in order; values decoded lossily.
fn fields(headers: &[httparse::Header]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect()
}

/// Some(true) when Transfer-Encoding is present and ends in chunked; None when absent.
fn chunked(headers: &[(String, String)]) -> Option<bool> {
    let mut last = None;
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("transfer-encoding") {
            for coding in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                last = Some(coding.eq_ignore_ascii_case("chunked"));
            }
        }
    }
    last
}

/// The Content-Length, if present. Repeated equal values are accepted (RFC 9110 §8.6).
fn content_length(headers: &[(String, String)]) -> Result<Option<u64>, Http1Error> {
    let mut found: Option<u64> = None;
    for (name, value) in headers {
        if !name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        for v in value.split(',').map(str::trim) {
            let bad = || Http1Error::Framing(format!("bad content-length {value:?}"));
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let n: u64 = v.parse().map_err(|_| bad())?;
            if found.is_some_and(|f| f != n) {
                return Err(Http1Error::Framing(
                    "conflicting content-length values".into(),
                ));
            }
            found = Some(n);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_lines() {
        assert!(matches!(
            classify(b"GET / HTTP/1.1\r\n", 100),
            Class::Start(Kind::Request)
        ));
        assert!(matches!(
            classify(b"HTTP/1.1 200", 100),
            Class::Start(Kind::Response)
        ));
        assert!(matches!(classify(b"HTT", 100), Class::NeedMore));
        assert!(matches!(
            classify(b"GET / HTTP/1.1\r", 100),
            Class::NeedMore
        ));
        assert!(matches!(
            classify(b"GET / HTTP/2.0\r\n", 100),
            Class::NotHttp
        ));
        assert!(matches!(classify(b"GET /aaaaaaaaaa", 10), Class::NotHttp));
    }

    #[test]
    fn head_end_detection() {
        assert!(has_head_end(b"GET / HTTP/1.1\r\n\r\n"));
        assert!(has_head_end(b"GET / HTTP/1.1\n\n"));
        assert!(has_head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nbody"));
        assert!(!has_head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r"));
        assert!(!has_head_end(b"GET / HTTP/1.1\r\n"));
    }

    #[test]
    fn content_length_rules() {
        let h = |v: &str| vec![("Content-Length".to_string(), v.to_string())];
        assert_eq!(content_length(&h("12")), Ok(Some(12)));
        assert_eq!(content_length(&h("12, 12")), Ok(Some(12)));
        assert!(content_length(&h("12, 13")).is_err());
        assert!(content_length(&h("-1")).is_err());
        assert!(content_length(&h("99999999999999999999999")).is_err());
    }
}
