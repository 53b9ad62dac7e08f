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
//!
//! [`Http2Conn`]'s methods are spread over modules by what they handle: `reader` (a direction's
//! bytes through its frame state machine), `dispatch` (acting on frame headers and payloads),
//! `data` (DATA payloads into bodies), `headers` (header blocks into requests and responses),
//! `settings` (SETTINGS and their ACKs), `stream_end` (how streams end and become exchanges).
pub mod frame;
pub mod hpack;
pub mod huffman;
mod stream;

mod data;
mod dispatch;
mod headers;
mod reader;
mod settings;
mod stream_end;

use std::collections::{BTreeMap, VecDeque};

use base64::Engine;

use crate::event::{Direction, Limits};
use crate::exchange::{header, Request, Response, Role, UnixNanos};
use frame::FrameHeader;
pub use hpack::HpackError;
use settings::{valid_max_frame, Pending};
use stream::Stream;

/// Open streams tracked at once; past it the oldest is reported incomplete.
pub const MAX_OPEN_STREAMS: usize = 1024;
/// Largest non-DATA, non-header frame buffered; larger ones (GOAWAY debug data, unknown types)
/// are skipped.
pub const MAX_CONTROL_FRAME: u32 = 64 * 1024;
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

fn malformed(kind: u8, stream: u32, detail: &str) -> Http2Error {
    Http2Error::Malformed {
        frame: frame::type_name(kind),
        stream,
        detail: detail.to_string(),
    }
}
