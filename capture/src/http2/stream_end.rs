//! How streams end and become exchanges: END_STREAM from both sides, RST_STREAM, a server's
//! GOAWAY, or eviction once [`MAX_OPEN_STREAMS`] are open.
use crate::exchange::{Role, UnixNanos};

use super::{frame, request_side, Http2Conn, MAX_OPEN_STREAMS};

impl Http2Conn {
    /// END_STREAM from side `i` on `stream`.
    pub(super) fn end_stream(&mut self, i: usize, stream: u32, ts: UnixNanos) {
        let to_request = self.role.map(request_side) == Some(i);
        self.end_stream_on(stream, to_request, ts);
    }

    pub(super) fn end_stream_on(&mut self, id: u32, request_side: bool, ts: UnixNanos) {
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

    pub(super) fn reset(&mut self, i: usize, id: u32, code: u32, ts: UnixNanos) {
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
    pub(super) fn goaway(&mut self, i: usize, last: u32) {
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
    pub(super) fn make_room(&mut self) {
        while self.streams.len() >= MAX_OPEN_STREAMS {
            let Some((&oldest, _)) = self.streams.first_key_value() else {
                return;
            };
            self.stats.evicted_streams += 1;
            let error = format!("more than {MAX_OPEN_STREAMS} open streams; stopped tracking");
            self.complete(oldest, Some(error), None);
        }
    }
}
