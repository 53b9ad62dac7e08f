//! What either decoder finished, in one shape: HTTP/1.1 and HTTP/2 exchanges leave the
//! pipeline the same way.
use crate::exchange::{Protocol, Request, Response, Role, UnixNanos};
use crate::{http1, http2};

/// A finished request/response from either decoder.
pub(super) struct Done {
    pub(super) role: Role,
    pub(super) protocol: Protocol,
    pub(super) stream_id: Option<u32>,
    pub(super) request: Request,
    pub(super) response: Option<Response>,
    pub(super) start: UnixNanos,
    pub(super) end: Option<UnixNanos>,
    pub(super) request_end: Option<UnixNanos>,
    pub(super) response_start: Option<UnixNanos>,
    pub(super) error: Option<String>,
    /// An HTTP/2 stream a peer reset: what it carried ended there, by the peers' choice.
    pub(super) reset: bool,
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
pub(super) struct Step {
    pub(super) done: Vec<Done>,
    pub(super) errors: u64,
    /// The error that stopped decoding the connection (HTTP/2 stops at the first malformed
    /// frame; HTTP/1.1 resyncs and notes errors on its exchanges).
    pub(super) stop: Option<String>,
}

impl Step {
    pub(super) fn http1(&mut self, r: Result<Vec<http1::Completed>, http1::Http1Error>) {
        match r {
            Ok(d) => self.done.extend(d.into_iter().map(Done::from)),
            Err(_) => self.errors += 1,
        }
    }
    pub(super) fn http2(&mut self, r: Result<Vec<http2::Http2Completed>, http2::Http2Error>) {
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
