//! A data event: its offsets and the kernel's gaps checked against what the connection expects,
//! then its bytes fed to the connection's decoder (chosen by sniffing while it is new).
use super::decoded::{Done, Step};
use super::sniff::{decide, Verdict};
use super::{dir_index, Decoder, Pipeline};
use crate::event::{ConnKey, Direction};
use crate::exchange::{Protocol, UnixNanos};
use crate::http1::{self, Http1Conn, Sniff};
use crate::http2::Http2Conn;
use crate::output::Output;

impl Pipeline {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn data(
        &mut self,
        ts: UnixNanos,
        key: ConnKey,
        dir: Direction,
        total: u32,
        offset: u32,
        bytes: &[u8],
        tls: bool,
        out: &mut Vec<Output>,
    ) {
        let limits = self.limits;
        let mut lost = 0u64;
        let mut dropped = false;
        {
            let c = self.conn(key, ts, out);
            c.last = ts;
            c.tls = tls;
            let i = dir_index(dir);
            // Chunks of one call arrive in order; a jump in offset is a chunk the kernel could
            // not deliver (counted there), a call that ends early is its missing tail.
            match (c.calls[i], offset) {
                (Some((t, next)), 0) if next < t => lost += u64::from(t - next),
                (Some((_, next)), o) if o > 0 && o > next => lost += u64::from(o - next),
                (Some((_, next)), o) if o > 0 && o < next => dropped = true,
                (None, o) if o > 0 => lost += u64::from(o),
                _ => {}
            }
            // The kernel's count covers every byte between the last delivered chunk and this
            // one, including whole calls, which offsets cannot show; the offsets also catch
            // what was not the ring's doing (an unreadable buffer, the per-call cap). Both
            // measure the same hole when the ring alone lost it: the larger is the hole.
            let kernel = std::mem::take(&mut c.gaps[i]);
            lost = lost.max(u64::from(kernel));
            if !dropped {
                let end = offset.saturating_add(bytes.len() as u32);
                c.calls[i] = if end >= total {
                    None
                } else {
                    Some((total, end))
                };
                match dir {
                    Direction::Write => c.written += bytes.len() as u64,
                    Direction::Read => c.read += bytes.len() as u64,
                }
            }
        }
        let Some(c) = self.conns.get_mut(&key) else {
            return;
        };
        c.lossy |= dropped || lost > 0;
        if dropped {
            self.stats.dropped_events += 1;
            return;
        }
        if lost > 0 {
            match &mut c.decoder {
                Decoder::Http1(h) => h.gap(dir, lost),
                Decoder::Http2(h) => h.gap(dir, lost),
                _ => {}
            }
        }
        let mut step = Step::default();
        match &mut c.decoder {
            Decoder::Sniffing { chunks, len } => {
                chunks.push((dir, ts, bytes.to_vec()));
                *len += bytes.len();
                match decide(chunks, *len) {
                    Verdict::Wait => {}
                    Verdict::Http1 => {
                        let mut h = Box::new(Http1Conn::new(limits));
                        for (d, t, b) in std::mem::take(chunks) {
                            step.http1(h.feed(d, t, &b));
                        }
                        c.decoder = Decoder::Http1(h);
                    }
                    verdict @ (Verdict::Http2 | Verdict::Http2Midway) => {
                        let mut h = Box::new(if verdict == Verdict::Http2 {
                            Http2Conn::new(limits)
                        } else {
                            Http2Conn::attach(limits, None)
                        });
                        for (d, t, b) in std::mem::take(chunks) {
                            step.http2(h.feed(d, t, &b));
                        }
                        c.decoder = Decoder::Http2(h);
                    }
                    Verdict::NotHttp => {
                        c.decoder = Decoder::Opaque {
                            reason: "not HTTP".into(),
                        }
                    }
                }
            }
            Decoder::Http1(h) => step.http1(h.feed(dir, ts, bytes)),
            Decoder::Http2(h) => step.http2(h.feed(dir, ts, bytes)),
            Decoder::Opaque { .. } => {
                // Attached mid-connection, or a protocol switch: a later call that starts with
                // an HTTP/1 message brings decoding back.
                if offset == 0 && http1::sniff(bytes) == Sniff::Http1 {
                    let mut h = Box::new(Http1Conn::new(limits));
                    step.http1(h.feed(dir, ts, bytes));
                    c.decoder = Decoder::Http1(h);
                }
            }
        }
        if let Decoder::Http1(h) = &c.decoder {
            if h.upgraded() {
                // WebSocket or another protocol now: keep counting bytes.
                let mut h = std::mem::replace(
                    &mut c.decoder,
                    Decoder::Opaque {
                        reason: "upgraded from HTTP/1.1".into(),
                    },
                );
                if let Decoder::Http1(h) = &mut h {
                    let rest = h.take_after_upgrade();
                    let role = h.role();
                    step.http1(Ok(h.finish(ts, "connection upgraded")));
                    // `Upgrade: h2c`: the request that asked becomes stream 1 of the HTTP/2
                    // connection, whose response comes as HTTP/2 frames.
                    if let Some(at) = step.done.iter().rposition(is_h2c_switch) {
                        let up = step.done.remove(at);
                        let role = role.unwrap_or(up.role);
                        let mut h2 =
                            Box::new(Http2Conn::upgraded(limits, role, up.request, up.start));
                        for (d, b) in rest {
                            step.http2(h2.feed(d, ts, &b));
                        }
                        c.decoder = Decoder::Http2(h2);
                    }
                }
            }
        }
        self.stats.decode_errors += step.errors;
        self.emit(key, step.done, out);
        if let Some(reason) = step.stop {
            self.report_stop(key, reason, out);
        }
    }
}

/// An HTTP/1.1 exchange answered `101 Switching Protocols` to `h2c`.
fn is_h2c_switch(d: &Done) -> bool {
    d.protocol == Protocol::Http1
        && d.response.as_ref().is_some_and(|r| {
            r.status == 101
                && crate::exchange::header(&r.headers, "upgrade")
                    .is_some_and(|u| u.trim().eq_ignore_ascii_case("h2c"))
        })
}
