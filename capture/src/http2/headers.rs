//! Decoded header blocks become requests, responses and trailers. The role is learnt here when
//! the preface was not seen; a response whose request was missed (attached mid-connection, or a
//! gap) still becomes an exchange.
use crate::exchange::{header, Role, UnixNanos};

use super::stream::Stream;
use super::{request_side, Block, BlockKind, Http2Conn, Http2Error};

impl Http2Conn {
    /// A complete header block from side `i`.
    pub(super) fn header_block(&mut self, i: usize, block: Block, ts: UnixNanos) {
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
}
