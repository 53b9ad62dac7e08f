//! Streaming HTTP/2 decoder for one connection (RFC 9113), in the shape of
//! [`crate::http1::Http1Conn`].
//!
//! Each direction is a frame state machine. DATA payloads stream straight into the stream's
//! [`crate::body::BodyBuilder`]; every other frame is buffered whole, which is bounded: header
//! blocks by `Limits::max_header_buffer`, control frames by [`MAX_CONTROL_FRAME`]. Header blocks
//! go through one HPACK decoder per direction; a stream becomes an exchange when both sides ended
//! it, when it is reset, or when the connection ends.
//!
//! A malformed frame ends decoding of the whole connection: HPACK state is shared by every
//! stream, so after one bad frame nothing later can be trusted. The error is returned once.
pub mod frame;
pub mod hpack;
pub mod huffman;
mod stream;

use std::collections::{BTreeMap, VecDeque};

use base64::Engine;

use crate::event::{Direction, Limits};
use crate::exchange::{header, Request, Response, Role, UnixNanos};
use crate::input::{Input, Step};
use frame::FrameHeader;
pub use hpack::HpackError;
use stream::Stream;

/// Open streams tracked at once; past it the oldest is reported incomplete.
pub const MAX_OPEN_STREAMS: usize = 1024;
/// Largest non-DATA, non-header frame buffered; larger ones (GOAWAY debug data, unknown types)
/// are skipped.
pub const MAX_CONTROL_FRAME: u32 = 64 * 1024;
/// Largest frame accepted as a boundary guess when looking for frames mid-connection.
const RESYNC_MAX_FRAME: u32 = 1 << 20;
/// HPACK table size assumed when SETTINGS were not seen (attach): a memory bound, not a guess
/// of the real size; a smaller table only turns some references into placeholders.
const ATTACH_TABLE_SIZE: usize = 64 * 1024;
/// Table size updates accepted when the peer's SETTINGS were not seen.
const ATTACH_TABLE_ALLOWED: usize = 1 << 20;

/// Does a direction start with the client connection preface?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preface {
    Yes,
    No,
    NeedMore,
}

/// Checks the start of a direction's bytes for `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`.
pub fn is_preface(bytes: &[u8]) -> Preface {
    let n = bytes.len().min(frame::PREFACE.len());
    if bytes[..n] != frame::PREFACE[..n] {
        Preface::No
    } else if n == frame::PREFACE.len() {
        Preface::Yes
    } else {
        Preface::NeedMore
    }
}

/// One stream's request and (if seen) its response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Http2Completed {
    pub role: Role,
    pub stream_id: u32,
    pub request: Request,
    pub response: Option<Response>,
    /// Time of the first byte of the request's HEADERS frame.
    pub start: UnixNanos,
    /// Time of the last response frame (None without a response).
    pub end: Option<UnixNanos>,
    /// Time of the request's END_STREAM (None if not seen).
    pub request_end: Option<UnixNanos>,
    /// Time of the response's HEADERS frame (None without a response).
    pub response_start: Option<UnixNanos>,
    /// Why incomplete, if it is.
    pub error: Option<String>,
    /// The RST_STREAM error code name (`CANCEL`, ...), if the stream was reset.
    pub reset: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Http2Error {
    #[error("malformed {frame} frame on stream {stream}: {detail}")]
    Malformed {
        frame: &'static str,
        stream: u32,
        detail: String,
    },
    #[error("{frame} frame of {len} bytes is over the {max}-byte maximum frame size")]
    FrameTooLarge {
        frame: &'static str,
        len: u32,
        max: u32,
    },
    #[error("header block on stream {stream} larger than {limit} bytes")]
    HeaderBlockTooLarge { stream: u32, limit: usize },
    #[error("header block on stream {stream} not continued: {got} frame instead of CONTINUATION")]
    MissingContinuation { stream: u32, got: &'static str },
    #[error("HPACK decoding failed on stream {stream}: {source}")]
    Hpack {
        stream: u32,
        #[source]
        source: HpackError,
    },
}

/// Counters for the whole connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Http2Stats {
    pub frames: u64,
    /// PUSH_PROMISE frames (server push is otherwise ignored).
    pub pushes: u64,
    /// Header fields shown as `<unknown hpack index N>`.
    pub unknown_hpack_refs: u64,
    /// Streams reported early because [`MAX_OPEN_STREAMS`] were open.
    pub evicted_streams: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// First bytes: the client preface, or else frames (`resync`: at a guessed boundary).
    Start { resync: bool },
    /// Expecting a frame header.
    Header,
    /// A non-DATA frame whose payload is buffered whole.
    Payload(FrameHeader),
    /// Streaming a DATA payload: `left` data bytes, then `pad` padding bytes. With
    /// `pad_len_next`, the pad-length byte comes first and `left` is the whole payload.
    Data {
        stream: u32,
        left: u32,
        pad: u32,
        pad_len_next: bool,
        end_stream: bool,
    },
    /// Ignoring a payload.
    Skip(u32),
    /// Looking for a plausible frame header (attached mid-connection, or after a gap).
    Resync,
    /// Decoding stopped.
    Closed,
}

impl Phase {
    /// Contiguous bytes the phase needs to make progress.
    fn need(self) -> usize {
        match self {
            Phase::Start { .. } => frame::PREFACE.len(),
            Phase::Header | Phase::Resync => frame::HEADER_LEN,
            Phase::Payload(h) => h.len as usize,
            _ => 1,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    Headers { end_stream: bool },
    PushPromise,
}

/// A header block being assembled from HEADERS/PUSH_PROMISE + CONTINUATION frames.
struct Block {
    stream: u32,
    kind: BlockKind,
    fragment: Vec<u8>,
    start: UnixNanos,
}

/// SETTINGS values one side advertised, waiting for the other side's ACK.
#[derive(Clone, Copy, Default)]
struct Pending {
    table_size: Option<u32>,
    max_frame: Option<u32>,
}

/// One direction of the connection: the frames one side sends.
struct Side {
    phase: Phase,
    /// Unconsumed bytes of a frame header or payload split across calls.
    buf: Vec<u8>,
    buf_ts: UnixNanos,
    last_ts: UnixNanos,
    /// Decodes this side's header blocks (its encoder's table).
    hpack: hpack::Decoder,
    block: Option<Block>,
    /// Largest frame this side may send (the other side's SETTINGS_MAX_FRAME_SIZE).
    max_frame: u32,
    /// The other side's SETTINGS, in order, until this side ACKs them.
    pending: VecDeque<Pending>,
    /// Time of the first byte of the frame being processed.
    frame_ts: UnixNanos,
}

impl Side {
    fn new(attach: bool) -> Self {
        let (hpack, max_frame) = if attach {
            let mut d = hpack::Decoder::tolerant(ATTACH_TABLE_SIZE);
            d.set_allowed_size(ATTACH_TABLE_ALLOWED);
            (d, frame::MAX_FRAME)
        } else {
            (hpack::Decoder::new(), frame::DEFAULT_MAX_FRAME)
        };
        Side {
            phase: Phase::Start { resync: attach },
            buf: Vec::new(),
            buf_ts: 0,
            last_ts: 0,
            hpack,
            block: None,
            max_frame,
            pending: VecDeque::new(),
            frame_ts: 0,
        }
    }
}

/// Streaming HTTP/2 decoder for one connection.
pub struct Http2Conn {
    limits: Limits,
    role: Option<Role>,
    /// Indexed by [`side_index`].
    sides: [Side; 2],
    streams: BTreeMap<u32, Stream>,
    ready: Vec<Http2Completed>,
    error: Option<Http2Error>,
    failed: bool,
    /// Some history was not seen (attached mid-connection, or a gap): responses on streams whose
    /// request was never seen become exchanges with an empty request.
    partial: bool,
    /// Recently completed stream ids: frames still in flight for them are not new exchanges.
    closed: VecDeque<u32>,
    stats: Http2Stats,
}

fn side_index(dir: Direction) -> usize {
    match dir {
        Direction::Write => 0,
        Direction::Read => 1,
    }
}

/// The side index that sends requests.
fn request_side(role: Role) -> usize {
    match role {
        Role::Client => 0,
        Role::Server => 1,
    }
}

impl Http2Conn {
    /// A connection seen from its start (ALPN `h2` or prior-knowledge h2c): the client preface
    /// is expected in one direction and tells the role.
    pub fn new(limits: Limits) -> Self {
        Self::build(limits, None, false)
    }

    /// A connection already under way: decoding starts at the first plausible frame header,
    /// HPACK references to entries never seen decode as `<unknown hpack index N>`, and responses
    /// to requests never seen are still reported. `role` if known (else from the first headers).
    pub fn attach(limits: Limits, role: Option<Role>) -> Self {
        let mut c = Self::build(limits, role, true);
        c.partial = true;
        c
    }

    /// The rest of a connection after an HTTP/1.1 `Upgrade: h2c` (101 Switching Protocols).
    /// `request` was the upgrade request; it becomes stream 1, whose response comes as HTTP/2.
    pub fn upgraded(limits: Limits, role: Role, request: Request, start: UnixNanos) -> Self {
        let mut c = Self::build(limits, Some(role), false);
        // HTTP2-Settings carries the client's SETTINGS payload, acknowledged by the 101.
        if let Some(payload) = header(&request.headers, "http2-settings")
            .and_then(|v| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(v.trim())
                    .ok()
            })
            .filter(|p| p.len().is_multiple_of(6))
        {
            let server = 1 - request_side(role);
            for (id, value) in frame::settings(&payload) {
                match id {
                    frame::SETTINGS_HEADER_TABLE_SIZE => {
                        c.sides[server].hpack.set_allowed_size(value as usize)
                    }
                    frame::SETTINGS_MAX_FRAME_SIZE if valid_max_frame(value) => {
                        c.sides[server].max_frame = value
                    }
                    _ => {}
                }
            }
        }
        let mut s = Stream::new(Vec::new(), start, &limits);
        let mut request = request;
        s.preset_body = Some(std::mem::take(&mut request.body));
        s.request = request;
        s.req_done = true;
        c.streams.insert(1, s);
        c
    }

    fn build(limits: Limits, role: Option<Role>, attach: bool) -> Self {
        Http2Conn {
            limits,
            role,
            sides: [Side::new(attach), Side::new(attach)],
            streams: BTreeMap::new(),
            ready: Vec::new(),
            error: None,
            failed: false,
            partial: false,
            closed: VecDeque::new(),
            stats: Http2Stats::default(),
        }
    }

    /// The role, once the preface or the first header block told it.
    pub fn role(&self) -> Option<Role> {
        self.role
    }

    pub fn stats(&self) -> Http2Stats {
        let mut s = self.stats;
        s.unknown_hpack_refs = self.sides.iter().map(|d| d.hpack.unknown_refs()).sum();
        s
    }

    /// Decoding stopped on a malformed frame.
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// Feed one call's bytes (or part). Returns the exchanges these bytes completed. A malformed
    /// frame stops decoding: its error is returned once, later calls return nothing new, and
    /// streams still open are reported by [`Self::finish`].
    pub fn feed(
        &mut self,
        dir: Direction,
        ts: UnixNanos,
        bytes: &[u8],
    ) -> Result<Vec<Http2Completed>, Http2Error> {
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

    /// `len` bytes were lost in `dir`. Inside a DATA payload they count as body bytes not kept;
    /// otherwise frame sync and this direction's HPACK table are lost: decoding resumes at the
    /// next plausible frame header with unknown table entries shown as placeholders.
    pub fn gap(&mut self, dir: Direction, len: u64) {
        if len == 0 || self.failed {
            return;
        }
        let i = side_index(dir);
        let to_request = self.role.map(request_side) == Some(i);
        let side = &mut self.sides[i];
        match side.phase {
            Phase::Data {
                stream,
                left,
                pad,
                pad_len_next: false,
                end_stream,
            } if len <= u64::from(left) + u64::from(pad) => {
                let body = len.min(u64::from(left));
                let len = len as u32;
                let body = body as u32;
                side.phase = Phase::Data {
                    stream,
                    left: left - body,
                    pad: pad - (len - body),
                    pad_len_next: false,
                    end_stream,
                };
                if let Some(s) = self.streams.get_mut(&stream) {
                    s.skip(to_request, u64::from(body));
                }
                let ts = self.sides[i].last_ts;
                self.data_frame_done(i, ts);
                return;
            }
            Phase::Skip(n) if len <= u64::from(n) => {
                side.phase = Phase::Skip(n - len as u32);
                if n as u64 == len {
                    side.phase = Phase::Header;
                }
                return;
            }
            Phase::Closed => return,
            _ => {}
        }
        if let Phase::Data { stream, left, .. } = side.phase {
            if let Some(s) = self.streams.get_mut(&stream) {
                s.skip(to_request, u64::from(left));
            }
        }
        let side = &mut self.sides[i];
        side.buf.clear();
        side.block = None;
        side.hpack.forget();
        side.phase = Phase::Resync;
        self.partial = true;
    }

    /// The connection ended: streams still open are reported, with `reason` as their error
    /// unless their response was complete.
    pub fn finish(&mut self, _ts: UnixNanos, reason: &str) -> Vec<Http2Completed> {
        for side in &mut self.sides {
            side.phase = Phase::Closed;
            side.buf = Vec::new();
            side.block = None;
        }
        let role = self.role.unwrap_or(Role::Client);
        let resp_side = 1 - request_side(role);
        let last_ts = self.sides[resp_side].last_ts;
        for (id, mut s) in std::mem::take(&mut self.streams) {
            // A peer that stops reading once it has `content-length` bytes may close before
            // the END_STREAM frame (Go servers send it in an empty DATA frame after the body).
            s.resp_done |= s.response_body_complete();
            let error = if s.resp_done {
                None
            } else {
                if s.response.is_some() {
                    s.end = Some(last_ts);
                }
                Some(reason.to_string())
            };
            self.ready.push(s.into_completed(role, id, error, None));
        }
        std::mem::take(&mut self.ready)
    }

    /// Runs one call's bytes through direction `i`, buffering only an unfinished frame header
    /// or buffered payload (at most what the phase needs).
    fn run(&mut self, i: usize, ts: UnixNanos, mut input: &[u8]) {
        loop {
            if self.sides[i].buf.is_empty() {
                let inp = Input {
                    data: input,
                    old_len: 0,
                    old_ts: ts,
                    ts,
                };
                let n = self.process(i, &inp);
                let side = &mut self.sides[i];
                if side.phase != Phase::Closed {
                    side.buf.extend_from_slice(&input[n..]);
                    side.buf_ts = ts;
                }
                return;
            }
            if input.is_empty() {
                return;
            }
            let mut buf = std::mem::take(&mut self.sides[i].buf);
            let need = self.sides[i].phase.need();
            let take = need.saturating_sub(buf.len()).min(input.len());
            buf.extend_from_slice(&input[..take]);
            input = &input[take..];
            if buf.len() < need {
                self.sides[i].buf = buf;
                return;
            }
            let old_len = buf.len() - take;
            let inp = Input {
                data: &buf,
                old_len,
                old_ts: self.sides[i].buf_ts,
                ts,
            };
            let n = self.process(i, &inp);
            if self.sides[i].phase == Phase::Closed {
                return;
            }
            if n == 0 && take == 0 {
                // A phase that does not progress on the bytes it asked for; never spin.
                self.fail(Http2Error::Malformed {
                    frame: "unknown",
                    stream: 0,
                    detail: "decoder made no progress".into(),
                });
                return;
            }
            buf.drain(..n);
            let side = &mut self.sides[i];
            if n >= old_len {
                side.buf_ts = ts;
            }
            side.buf = buf;
        }
    }

    /// Processes as much of `inp` as possible; returns the bytes consumed.
    fn process(&mut self, i: usize, inp: &Input) -> usize {
        let mut pos = 0;
        while pos < inp.data.len() {
            match self.step(i, inp, pos) {
                Step::Advance(n) => pos += n,
                Step::NeedMore => return pos,
            }
        }
        pos
    }

    fn step(&mut self, i: usize, inp: &Input, pos: usize) -> Step {
        let rest = &inp.data[pos..];
        match self.sides[i].phase {
            Phase::Closed => Step::Advance(rest.len()),
            Phase::Start { resync } => match is_preface(rest) {
                Preface::NeedMore => Step::NeedMore,
                Preface::Yes => {
                    // The side that sends the preface is the client.
                    self.role = Some(if i == 0 { Role::Client } else { Role::Server });
                    self.sides[i].phase = Phase::Header;
                    Step::Advance(frame::PREFACE.len())
                }
                Preface::No => {
                    self.sides[i].phase = if resync { Phase::Resync } else { Phase::Header };
                    Step::Advance(0)
                }
            },
            Phase::Resync => self.step_resync(i, rest),
            Phase::Header => {
                let Some(head) = rest.first_chunk::<{ frame::HEADER_LEN }>() else {
                    return Step::NeedMore;
                };
                self.sides[i].frame_ts = inp.ts_at(pos);
                self.stats.frames += 1;
                self.frame_header(i, FrameHeader::parse(head), inp.ts);
                Step::Advance(frame::HEADER_LEN)
            }
            Phase::Payload(h) => {
                let len = h.len as usize;
                if rest.len() < len {
                    return Step::NeedMore;
                }
                self.sides[i].phase = Phase::Header;
                self.frame_payload(i, h, &rest[..len], inp.ts);
                Step::Advance(len)
            }
            Phase::Skip(n) => {
                let k = rest.len().min(n as usize);
                let left = n - k as u32;
                self.sides[i].phase = if left == 0 {
                    Phase::Header
                } else {
                    Phase::Skip(left)
                };
                Step::Advance(k)
            }
            Phase::Data { .. } => self.step_data(i, rest, inp.ts),
        }
    }

    fn step_resync(&mut self, i: usize, rest: &[u8]) -> Step {
        let Some(head) = rest.first_chunk::<{ frame::HEADER_LEN }>() else {
            return Step::NeedMore;
        };
        let max = RESYNC_MAX_FRAME.min(self.sides[i].max_frame);
        if FrameHeader::plausible(head, max) {
            // When the next header is in view too, it must be plausible as well.
            let end = frame::HEADER_LEN + FrameHeader::parse(head).len as usize;
            let next_ok = rest
                .get(end..)
                .and_then(|r| r.first_chunk::<{ frame::HEADER_LEN }>())
                .is_none_or(|next| FrameHeader::plausible(next, max));
            if next_ok {
                self.sides[i].phase = Phase::Header;
                return Step::Advance(0);
            }
        }
        Step::Advance(1)
    }

    fn step_data(&mut self, i: usize, rest: &[u8], ts: UnixNanos) -> Step {
        let Phase::Data {
            stream,
            left,
            pad,
            pad_len_next,
            end_stream,
        } = self.sides[i].phase
        else {
            return Step::Advance(0);
        };
        let Some(&first) = rest.first() else {
            return Step::NeedMore;
        };
        let (n, left, pad) = if pad_len_next {
            let pad = u32::from(first);
            let Some(data) = left.checked_sub(1).and_then(|l| l.checked_sub(pad)) else {
                self.fail(malformed(
                    frame::DATA,
                    stream,
                    "padding longer than the payload",
                ));
                return Step::Advance(rest.len());
            };
            (1, data, pad)
        } else if left > 0 {
            let n = rest.len().min(left as usize);
            let to_request = self.role.map(request_side) == Some(i);
            if let Some(s) = self.streams.get_mut(&stream) {
                s.data(to_request, &rest[..n]);
            }
            (n, left - n as u32, pad)
        } else {
            let n = rest.len().min(pad as usize);
            (n, 0, pad - n as u32)
        };
        self.sides[i].phase = Phase::Data {
            stream,
            left,
            pad,
            pad_len_next: false,
            end_stream,
        };
        self.data_frame_done(i, ts);
        Step::Advance(n)
    }

    /// If the DATA frame in progress is fully consumed, ends it (and maybe its stream).
    fn data_frame_done(&mut self, i: usize, ts: UnixNanos) {
        if let Phase::Data {
            stream,
            left: 0,
            pad: 0,
            pad_len_next: false,
            end_stream,
        } = self.sides[i].phase
        {
            self.sides[i].phase = Phase::Header;
            if end_stream {
                self.end_stream(i, stream, ts);
            }
        }
    }

    /// A frame header arrived: validate what can be, and choose how to read the payload.
    fn frame_header(&mut self, i: usize, h: FrameHeader, ts: UnixNanos) {
        let name = frame::type_name(h.kind);
        if let Some(block) = &self.sides[i].block {
            if h.kind != frame::CONTINUATION || h.stream != block.stream {
                let stream = block.stream;
                return self.fail(Http2Error::MissingContinuation { stream, got: name });
            }
        }
        let max = self.sides[i].max_frame;
        if h.len > max {
            return self.fail(Http2Error::FrameTooLarge {
                frame: name,
                len: h.len,
                max,
            });
        }
        let conn_frame = matches!(h.kind, frame::SETTINGS | frame::PING | frame::GOAWAY);
        let known = h.kind <= frame::CONTINUATION;
        if known && h.kind != frame::WINDOW_UPDATE && (h.stream == 0) != conn_frame {
            let detail = if conn_frame {
                "connection frame on a stream"
            } else {
                "stream frame on stream 0"
            };
            return self.fail(malformed(h.kind, h.stream, detail));
        }
        let fixed = match h.kind {
            frame::PRIORITY => Some(5),
            frame::RST_STREAM | frame::WINDOW_UPDATE => Some(4),
            frame::PING => Some(8),
            _ => None,
        };
        if fixed.is_some_and(|n| n != h.len)
            || (h.kind == frame::SETTINGS && !h.len.is_multiple_of(6))
            || (h.kind == frame::SETTINGS && h.has(frame::ACK) && h.len != 0)
            || (h.kind == frame::GOAWAY && h.len < 8)
        {
            return self.fail(malformed(h.kind, h.stream, "wrong payload length"));
        }
        self.sides[i].phase = match h.kind {
            frame::DATA => Phase::Data {
                stream: h.stream,
                left: h.len,
                pad: 0,
                pad_len_next: h.has(frame::PADDED),
                end_stream: h.has(frame::END_STREAM),
            },
            frame::HEADERS | frame::PUSH_PROMISE | frame::CONTINUATION => {
                let limit = self.limits.max_header_buffer;
                if h.len as usize > limit {
                    let stream = h.stream;
                    return self.fail(Http2Error::HeaderBlockTooLarge { stream, limit });
                }
                Phase::Payload(h)
            }
            frame::GOAWAY if h.len > MAX_CONTROL_FRAME => Phase::Skip(h.len),
            frame::SETTINGS if h.len > MAX_CONTROL_FRAME => {
                return self.fail(malformed(h.kind, h.stream, "too many settings"));
            }
            _ if !known => Phase::Skip(h.len),
            _ => Phase::Payload(h),
        };
        match self.sides[i].phase {
            Phase::Data { .. } => self.data_frame_done(i, ts),
            Phase::Skip(0) => self.sides[i].phase = Phase::Header,
            // Nothing more will arrive for an empty payload: handle it now, not on the next call.
            Phase::Payload(h) if h.len == 0 => {
                self.sides[i].phase = Phase::Header;
                self.frame_payload(i, h, &[], ts);
            }
            _ => {}
        }
    }

    /// A buffered frame's whole payload arrived.
    fn frame_payload(&mut self, i: usize, h: FrameHeader, payload: &[u8], ts: UnixNanos) {
        match h.kind {
            frame::HEADERS | frame::PUSH_PROMISE => {
                let (extra, kind) = if h.kind == frame::HEADERS {
                    let prio = if h.has(frame::PRIORITY_FLAG) { 5 } else { 0 };
                    let end_stream = h.has(frame::END_STREAM);
                    (prio, BlockKind::Headers { end_stream })
                } else {
                    self.stats.pushes += 1;
                    (4, BlockKind::PushPromise)
                };
                let Some((_, fragment)) = frame::unpad(payload, h.has(frame::PADDED), extra) else {
                    return self.fail(malformed(
                        h.kind,
                        h.stream,
                        "padding longer than the payload",
                    ));
                };
                let block = Block {
                    stream: h.stream,
                    kind,
                    fragment: fragment.to_vec(),
                    start: self.sides[i].frame_ts,
                };
                self.sides[i].block = Some(block);
            }
            frame::CONTINUATION => {
                let limit = self.limits.max_header_buffer;
                let Some(block) = self.sides[i].block.as_mut() else {
                    return self.fail(malformed(h.kind, h.stream, "no header block to continue"));
                };
                if block.fragment.len() + payload.len() > limit {
                    let stream = h.stream;
                    return self.fail(Http2Error::HeaderBlockTooLarge { stream, limit });
                }
                block.fragment.extend_from_slice(payload);
            }
            frame::SETTINGS => return self.settings(i, h, payload),
            frame::RST_STREAM => self.reset(i, h.stream, frame::be_u32(payload), ts),
            frame::GOAWAY => self.goaway(i, frame::be_u32(payload) & 0x7fff_ffff),
            // PRIORITY, PING, WINDOW_UPDATE: nothing a viewer needs.
            _ => {}
        }
        if h.has(frame::END_HEADERS)
            && matches!(
                h.kind,
                frame::HEADERS | frame::PUSH_PROMISE | frame::CONTINUATION
            )
        {
            if let Some(block) = self.sides[i].block.take() {
                self.header_block(i, block, ts);
            }
        }
    }

    fn settings(&mut self, i: usize, h: FrameHeader, payload: &[u8]) {
        let other = 1 - i;
        if h.has(frame::ACK) {
            // This side acknowledged the other's oldest SETTINGS: now they bind this side.
            if let Some(p) = self.sides[i].pending.pop_front() {
                if let Some(v) = p.table_size {
                    self.sides[i].hpack.set_allowed_size(v as usize);
                }
                if let Some(v) = p.max_frame {
                    self.sides[i].max_frame = v;
                }
            }
            return;
        }
        let mut p = Pending::default();
        for (id, value) in frame::settings(payload) {
            match id {
                frame::SETTINGS_HEADER_TABLE_SIZE => p.table_size = Some(value),
                frame::SETTINGS_MAX_FRAME_SIZE if valid_max_frame(value) => {
                    p.max_frame = Some(value)
                }
                frame::SETTINGS_MAX_FRAME_SIZE => {
                    let detail = format!("SETTINGS_MAX_FRAME_SIZE {value} out of range");
                    return self.fail(malformed(h.kind, 0, &detail));
                }
                _ => {}
            }
        }
        // Until the ACK, the other side may use either the old or the new value.
        let peer = &mut self.sides[other];
        if let Some(v) = p.table_size {
            let allowed = peer.hpack.allowed_size().max(v as usize);
            peer.hpack.set_allowed_size(allowed);
        }
        if let Some(v) = p.max_frame {
            peer.max_frame = peer.max_frame.max(v);
        }
        if peer.pending.len() < 64 {
            peer.pending.push_back(p);
        }
    }

    /// A complete header block from side `i`.
    fn header_block(&mut self, i: usize, block: Block, ts: UnixNanos) {
        let max_list = self
            .limits
            .max_header_buffer
            .saturating_mul(4)
            .max(64 * 1024);
        let headers = match self.sides[i].hpack.decode(&block.fragment, max_list) {
            Ok(h) => h,
            Err(source) => {
                let stream = block.stream;
                return self.fail(Http2Error::Hpack { stream, source });
            }
        };
        let BlockKind::Headers { end_stream } = block.kind else {
            // A pushed request: decoded only to keep the table in step.
            return;
        };
        // Even streams are server pushes (RFC 9113 §5.1.1): counted via PUSH_PROMISE, not shown.
        if block.stream.is_multiple_of(2) {
            return;
        }
        let role = match self.role {
            Some(r) => r,
            None => {
                let is_request = header(&headers, ":method").is_some();
                if !is_request && header(&headers, ":status").is_none() {
                    return;
                }
                let r = if is_request == (i == 0) {
                    Role::Client
                } else {
                    Role::Server
                };
                self.role = Some(r);
                r
            }
        };
        let id = block.stream;
        if i == request_side(role) {
            self.request_headers(id, headers, end_stream, block.start, ts);
        } else {
            self.response_headers(id, headers, end_stream, block.start, ts);
        }
    }

    fn request_headers(
        &mut self,
        id: u32,
        headers: Vec<(String, String)>,
        end_stream: bool,
        start: UnixNanos,
        ts: UnixNanos,
    ) {
        if let Some(s) = self.streams.get_mut(&id) {
            // Request trailers: kept with the request's headers.
            s.request.headers.extend(headers);
            if end_stream {
                self.end_stream_on(id, true, ts);
            }
            return;
        }
        if self.closed.contains(&id) {
            // Trailers after a reset, or a reused id: nothing sensible to add.
            return;
        }
        self.make_room();
        let mut s = Stream::new(headers, start, &self.limits);
        s.req_done = end_stream;
        s.request_end = end_stream.then_some(start);
        self.streams.insert(id, s);
    }

    fn response_headers(
        &mut self,
        id: u32,
        headers: Vec<(String, String)>,
        end_stream: bool,
        start: UnixNanos,
        ts: UnixNanos,
    ) {
        if !self.streams.contains_key(&id) {
            // Only a stream whose request we could have missed gets an exchange.
            let missed = self.partial && !self.closed.contains(&id);
            if !missed {
                return;
            }
            self.make_room();
            let note = "request not captured (decoding started mid-stream)";
            let s = Stream::unseen_request(start, &self.limits, note);
            self.streams.insert(id, s);
        }
        let limits = self.limits;
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        s.end = Some(ts);
        if s.response.is_none() {
            if !s.response_head(headers, &limits) {
                return;
            }
            s.response_start = Some(start);
        } else if let Some(r) = s.response.as_mut() {
            r.trailers.extend(headers);
        }
        if end_stream {
            self.end_stream_on(id, false, ts);
        }
    }

    /// END_STREAM from side `i` on `stream`.
    fn end_stream(&mut self, i: usize, stream: u32, ts: UnixNanos) {
        let to_request = self.role.map(request_side) == Some(i);
        self.end_stream_on(stream, to_request, ts);
    }

    fn end_stream_on(&mut self, id: u32, request_side: bool, ts: UnixNanos) {
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        if request_side {
            s.req_done = true;
            s.request_end = Some(ts);
        } else {
            // END_STREAM before a final response head: nothing to wait for either way.
            s.resp_done = true;
            s.end = Some(ts);
        }
        if s.req_done && s.resp_done {
            self.complete(id, None, None);
        }
    }

    fn reset(&mut self, i: usize, id: u32, code: u32, ts: UnixNanos) {
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        if s.response.is_some() {
            s.end = Some(ts);
        }
        let code = frame::error_code_name(code);
        let by = match self.role.map(request_side) {
            Some(r) if r == i => "client",
            _ => "server",
        };
        let error = format!("stream reset by {by}: {code}");
        self.complete(id, Some(error), Some(code));
    }

    /// GOAWAY from side `i`: if it is the server, streams above `last` were never processed.
    fn goaway(&mut self, i: usize, last: u32) {
        let Some(role) = self.role else {
            return;
        };
        if i == request_side(role) {
            return;
        }
        let dropped: Vec<u32> = self.streams.range(last + 1..).map(|(&id, _)| id).collect();
        for id in dropped {
            self.complete(
                id,
                Some("not processed by the server (GOAWAY)".into()),
                None,
            );
        }
    }

    fn complete(&mut self, id: u32, error: Option<String>, reset: Option<String>) {
        if let Some(s) = self.streams.remove(&id) {
            if self.closed.len() >= MAX_OPEN_STREAMS {
                self.closed.pop_front();
            }
            self.closed.push_back(id);
            let role = self.role.unwrap_or(Role::Client);
            self.ready.push(s.into_completed(role, id, error, reset));
        }
    }

    /// Keeps at most [`MAX_OPEN_STREAMS`] open by reporting the oldest early.
    fn make_room(&mut self) {
        while self.streams.len() >= MAX_OPEN_STREAMS {
            let Some((&oldest, _)) = self.streams.first_key_value() else {
                return;
            };
            self.stats.evicted_streams += 1;
            let error = format!("more than {MAX_OPEN_STREAMS} open streams; stopped tracking");
            self.complete(oldest, Some(error), None);
        }
    }

    /// Records the first error and stops decoding the connection.
    fn fail(&mut self, e: Http2Error) {
        if !self.failed {
            self.error = Some(e);
            self.failed = true;
        }
        for side in &mut self.sides {
            side.phase = Phase::Closed;
            side.buf = Vec::new();
            side.block = None;
        }
    }
}

fn valid_max_frame(v: u32) -> bool {
    (frame::DEFAULT_MAX_FRAME..=frame::MAX_FRAME).contains(&v)
}

fn malformed(kind: u8, stream: u32, detail: &str) -> Http2Error {
    Http2Error::Malformed {
        frame: frame::type_name(kind),
        stream,
        detail: detail.to_string(),
    }
}
