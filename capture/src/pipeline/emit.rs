//! What leaves the pipeline: each finished exchange, with its connection's facts, and a
//! connection that is not (or no longer) decoded; and why an exchange is not whole, for the
//! summary's counts.
use super::decoded::Done;
use super::{Conn, Decoder, Pipeline, FINISH_CAPTURE_ENDED, FINISH_CLOSED, FINISH_EXITED};
use crate::event::ConnKey;
use crate::exchange::{Exchange, OpaqueConnection, UnixNanos};
use crate::http1::Http1Conn;
use crate::output::{Incomplete, Output};

impl Pipeline {
    pub(super) fn finish_conn(
        &mut self,
        key: ConnKey,
        mut c: Conn,
        ts: UnixNanos,
        reason: &str,
        out: &mut Vec<Output>,
    ) {
        let completed: Vec<Done> = match &mut c.decoder {
            Decoder::Http1(h) => h.finish(ts, reason).into_iter().map(Done::from).collect(),
            Decoder::Http2(h) => {
                self.stats.pushes_ignored += h.stats().pushes;
                h.finish(ts, reason).into_iter().map(Done::from).collect()
            }
            Decoder::Sniffing { len: 0, .. } => Vec::new(),
            Decoder::Sniffing { chunks, .. } => {
                // Too little to decide; a lone HTTP/1 head still decodes.
                let mut h = Http1Conn::new(self.limits);
                let mut done = Vec::new();
                let mut ok = true;
                for (d, t, b) in std::mem::take(chunks) {
                    match h.feed(d, t, &b) {
                        Ok(x) => done.extend(x),
                        Err(_) => ok = false,
                    }
                }
                done.extend(h.finish(ts, reason));
                if !ok || done.is_empty() {
                    c.decoder = Decoder::Opaque {
                        reason: "not HTTP".into(),
                    };
                }
                done.into_iter().map(Done::from).collect()
            }
            Decoder::Opaque { .. } => Vec::new(),
        };
        self.emit_for(key.pid, &c, completed, out);
        if let Decoder::Opaque { reason } = &c.decoder {
            self.stats.opaque_connections += 1;
            out.push(Output::Opaque(OpaqueConnection {
                conn_id: c.id,
                pid: key.pid,
                comm: self.comm(key.pid),
                tls: c.tls,
                local_addr: c.local.clone(),
                peer_addr: c.peer.clone(),
                bytes_written: c.written,
                bytes_read: c.read,
                start: c.start,
                end: c.last.max(c.start),
                reason: reason.clone(),
            }));
        }
    }

    /// Says once, as it happens, that a connection's decoding stopped and why (the UI shows it
    /// as a notice, headless mode on stderr); its bytes are counted from then on.
    pub(super) fn report_stop(&mut self, key: ConnKey, reason: String, out: &mut Vec<Output>) {
        let comm = self.comm(key.pid);
        let Some(c) = self.conns.get_mut(&key) else {
            return;
        };
        if std::mem::replace(&mut c.stopped, true) {
            return;
        }
        out.push(Output::Opaque(OpaqueConnection {
            conn_id: c.id,
            pid: key.pid,
            comm,
            tls: c.tls,
            local_addr: c.local.clone(),
            peer_addr: c.peer.clone(),
            bytes_written: c.written,
            bytes_read: c.read,
            start: c.start,
            end: c.last.max(c.start),
            reason,
        }));
    }

    fn comm(&self, pid: u32) -> String {
        self.comms.get(&pid).cloned().unwrap_or_default()
    }

    pub(super) fn emit(&mut self, key: ConnKey, completed: Vec<Done>, out: &mut Vec<Output>) {
        if completed.is_empty() {
            return;
        }
        if let Some(c) = self.conns.remove(&key) {
            self.emit_for(key.pid, &c, completed, out);
            self.conns.insert(key, c);
        }
    }

    fn emit_for(&mut self, pid: u32, c: &Conn, completed: Vec<Done>, out: &mut Vec<Output>) {
        let comm = self.comm(pid);
        for done in completed {
            let id = self.next_exchange_id;
            self.next_exchange_id += 1;
            self.stats.exchanges += 1;
            if let Some(why) = incomplete(&done, self.limits.max_body, c.lossy) {
                self.stats.incomplete += 1;
                self.stats.incomplete_by.add(why);
            }
            out.push(Output::Exchange(Box::new(Exchange {
                id,
                pid,
                comm: comm.clone(),
                protocol: done.protocol,
                tls: c.tls,
                role: done.role,
                conn_id: c.id,
                local_addr: c.local.clone(),
                peer_addr: c.peer.clone(),
                stream_id: done.stream_id,
                request: done.request,
                response: done.response,
                start: done.start,
                end: done.end,
                request_end: done.request_end,
                response_start: done.response_start,
                error: done.error,
            })));
        }
    }
}

/// Whether an exchange was captured whole: answered, without an error, and with no body bytes
/// missing other than those past the body cap (a cap is a choice, not a loss). A stream a peer
/// reset was seen to its end (a client cancelling its requests at its deadline, say).
/// Why an exchange is not whole, or None when it is. A reset stream is whole: the programs
/// ended it, and all they sent was seen. A body cut by the body cap is whole too (the cap is a
/// choice, not a loss). `lossy`: the capture lost bytes of its connection.
fn incomplete(d: &Done, max_body: usize, lossy: bool) -> Option<Incomplete> {
    // A truncated body under the cap ended early (a gap, or its connection's end).
    let body_cut = |b: &crate::exchange::Body| b.truncated && b.raw_len <= max_body as u64;
    if d.reset {
        return None;
    }
    let cut = body_cut(&d.request.body) || d.response.as_ref().is_some_and(|r| body_cut(&r.body));
    if d.error.is_none() && !cut && d.response.is_some() {
        return None;
    }
    // Whatever else happened, on a connection the capture lost bytes of it counts as a loss.
    let why = match d.error.as_deref() {
        _ if lossy => Incomplete::Lost,
        // The texts `finish_conn` gives the decoders for a connection's end.
        Some(FINISH_CLOSED | FINISH_EXITED) => Incomplete::Closed,
        Some(FINISH_CAPTURE_ENDED) => Incomplete::CaptureEnded,
        _ => Incomplete::Other,
    };
    Some(why)
}
