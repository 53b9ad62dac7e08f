//! A parsed head begins a message: requests join the pending queue, responses are paired with the
//! request waiting for them; the body's framing is chosen from the head; interim responses are
//! skipped, and an upgrade or tunnel ends HTTP/1 on the connection.
use crate::body::BodyBuilder;
use crate::exchange::{header, Request, Response, Role, UnixNanos};
use crate::input::{Input, Step};

use super::framing::{chunked, content_length, Chunk, Framing};
use super::head::{parse_request, parse_response, Head};
use super::pairing::completed;
use super::start_line::Kind;
use super::{Http1Conn, Http1Error, Msg, Pending, Phase};

/// Requests waiting for a response; past it the oldest is reported without one.
const MAX_PENDING: usize = 256;

impl Http1Conn {
    pub(super) fn step_head(&mut self, i: usize, inp: &Input, pos: usize) -> Step {
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
}
