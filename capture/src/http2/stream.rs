//! One HTTP/2 stream on its way to becoming an exchange.
use crate::body::BodyBuilder;
use crate::event::Limits;
use crate::exchange::{header, Body, Request, Response, Role, UnixNanos};

use super::Http2Completed;

pub(super) struct Stream {
    pub request: Request,
    pub req_body: BodyBuilder,
    /// The request side sent END_STREAM.
    pub req_done: bool,
    /// Final (non-1xx) response head, once seen.
    pub response: Option<Response>,
    pub resp_body: Option<BodyBuilder>,
    pub resp_done: bool,
    pub start: UnixNanos,
    /// Time of the last response frame.
    pub end: Option<UnixNanos>,
    /// Time of the request's END_STREAM.
    pub request_end: Option<UnixNanos>,
    /// Time of the final response's HEADERS frame.
    pub response_start: Option<UnixNanos>,
    /// Set when the request was never captured.
    pub note: Option<String>,
    /// A request body decoded elsewhere (the HTTP/1.1 upgrade request's).
    pub preset_body: Option<Body>,
}

impl Stream {
    pub fn new(headers: Vec<(String, String)>, start: UnixNanos, limits: &Limits) -> Self {
        let req_body = body_builder(&headers, limits);
        Stream {
            request: request_head(headers),
            req_body,
            req_done: false,
            response: None,
            resp_body: None,
            resp_done: false,
            start,
            end: None,
            request_end: None,
            response_start: None,
            note: None,
            preset_body: None,
        }
    }

    /// A stream whose request was not captured (attached mid-stream, or lost in a gap).
    pub fn unseen_request(start: UnixNanos, limits: &Limits, note: &str) -> Self {
        let mut s = Stream::new(Vec::new(), start, limits);
        s.request.version = "HTTP/2".into();
        s.req_done = true;
        s.note = Some(note.to_string());
        s
    }

    /// A response header list arrived. Returns false for an interim (1xx) response.
    pub fn response_head(&mut self, headers: Vec<(String, String)>, limits: &Limits) -> bool {
        let status = header(&headers, ":status")
            .and_then(|s| s.trim().parse::<u16>().ok())
            .unwrap_or(0);
        if (100..200).contains(&status) {
            return false;
        }
        self.resp_body = Some(body_builder(&headers, limits));
        self.response = Some(Response {
            status,
            reason: String::new(),
            version: "HTTP/2".into(),
            headers,
            ..Response::default()
        });
        true
    }

    /// DATA payload bytes from the request (`to_request`) or response side.
    pub fn data(&mut self, to_request: bool, bytes: &[u8]) {
        if to_request {
            self.req_body.push(bytes);
        } else if let Some(b) = self.resp_body.as_mut() {
            b.push(bytes);
        }
    }

    /// Bytes of this stream's body lost in a capture gap.
    pub fn skip(&mut self, to_request: bool, len: u64) {
        if to_request {
            self.req_body.skip(len);
        } else if let Some(b) = self.resp_body.as_mut() {
            b.skip(len);
        }
    }

    /// The response declared a `content-length` and all of it arrived (END_STREAM aside).
    pub fn response_body_complete(&self) -> bool {
        let (Some(r), Some(b)) = (&self.response, &self.resp_body) else {
            return false;
        };
        header(&r.headers, "content-length")
            .and_then(|n| n.trim().parse::<u64>().ok())
            .is_some_and(|n| n == b.raw_len())
    }

    pub fn into_completed(
        self,
        role: Role,
        stream_id: u32,
        error: Option<String>,
        reset: Option<String>,
    ) -> Http2Completed {
        let mut req_body = self.req_body;
        if !self.req_done {
            req_body.mark_truncated();
        }
        let mut request = self.request;
        request.body = match self.preset_body {
            Some(b) => b,
            None => req_body.finish(),
        };
        let response = self.response.map(|mut r| {
            if let Some(mut b) = self.resp_body {
                if !self.resp_done {
                    b.mark_truncated();
                }
                r.body = b.finish();
            }
            r
        });
        let has_response = response.is_some();
        let end = if has_response { self.end } else { None };
        Http2Completed {
            role,
            stream_id,
            request,
            response,
            start: self.start,
            end,
            request_end: self.request_end,
            response_start: self.response_start.filter(|_| has_response),
            error: error.or(self.note),
            reset,
        }
    }
}

fn body_builder(headers: &[(String, String)], limits: &Limits) -> BodyBuilder {
    // A content-length that does not parse only loses the up-front reservation.
    let declared = header(headers, "content-length").and_then(|v| v.trim().parse().ok());
    BodyBuilder::new(limits.max_body, header(headers, "content-encoding")).with_expected(declared)
}

/// Method and target from the pseudo-headers; every field (pseudo-headers too) is kept.
fn request_head(headers: Vec<(String, String)>) -> Request {
    let method = header(&headers, ":method").unwrap_or_default().to_string();
    // CONNECT has no :path; its target is the authority (RFC 9113 §8.5).
    let target = header(&headers, ":path")
        .or_else(|| header(&headers, ":authority").filter(|_| method == "CONNECT"))
        .unwrap_or_default()
        .to_string();
    Request {
        method,
        target,
        version: "HTTP/2".into(),
        headers,
        ..Request::default()
    }
}
