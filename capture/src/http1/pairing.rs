//! Ending messages and pairing them: requests wait in a FIFO queue until their body is complete
//! and their response (paired in order) has arrived; a message cut short is kept truncated, so
//! that pairing stays in order.
use crate::exchange::{Request, Role, UnixNanos};

use super::{Completed, Http1Conn, Http1Error, Pending, Phase};

impl Http1Conn {
    /// The first request waiting for a response gets none: its response was lost (`reason`).
    pub(super) fn lose_next_response(&mut self, reason: &str) {
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
    pub(super) fn waiting(&mut self) -> Option<&mut Pending> {
        self.pending.iter_mut().find(|p| p.response.is_none())
    }

    /// Records the error (the first one of a call is returned), keeps the message in progress as
    /// truncated so pairing stays in order, and resyncs the direction.
    pub(super) fn fail(&mut self, i: usize, e: Http1Error) {
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
    pub(super) fn complete(&mut self, i: usize, end: UnixNanos, cut: bool, error: Option<&str>) {
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
pub(super) fn completed(role: Role, p: Pending, reason: &str) -> Completed {
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
