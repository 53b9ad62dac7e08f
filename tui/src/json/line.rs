//! The JSON line of an exchange, written field by field.
//!
//! `ExchangeJson`'s `Serialize` impl defines the line; this writer produces the same bytes
//! without a serializer so that string values, bodies above all, go through
//! [`escape_str`](super::escape::escape_str) (see there for why). Fields are written in the
//! order the derive writes them. `lines_are_serde_json_lines` (in the module above) holds the
//! two to byte equality.
use super::escape::{escape_bytes, escape_str};
use super::{grpc, rfc3339};
use base64::Engine;
use capture::exchange::{Body, Exchange};
use serde::Serialize;

/// Appends `x`'s JSON line (without the newline) to `buf`.
pub fn write_exchange(buf: &mut Vec<u8>, x: &Exchange) {
    let mut o = Object::open(buf);
    o.key("comm").str(&x.comm);
    o.key("conn_id").u64(x.conn_id);
    o.key("duration_ms")
        .serde(&x.duration_ns().map(|d| d as f64 / 1e6));
    if let Some(e) = &x.error {
        o.key("error").str(e);
    }
    if let Some(g) = grpc(x) {
        o.key("grpc").serde(&g);
    }
    o.key("host").str(x.host_str());
    o.key("id").u64(x.id);
    o.key("local_addr").opt_str(x.local_addr.as_deref());
    o.key("method").str(&x.request.method);
    o.key("path").str(x.path_str());
    o.key("peer_addr").opt_str(x.peer_addr.as_deref());
    o.key("pid").u64(x.pid.into());
    o.key("protocol").serde(&x.protocol);
    o.key("request");
    message(
        o.buf,
        &x.request.headers,
        &x.request.body,
        &x.request.version,
        None,
    );
    o.key("response");
    match &x.response {
        Some(r) => {
            let extra = Extra {
                reason: &r.reason,
                status: r.status,
                trailers: &r.trailers,
            };
            message(o.buf, &r.headers, &r.body, &r.version, Some(extra));
        }
        None => o.buf.extend_from_slice(b"null"),
    }
    o.key("role").serde(&x.role);
    o.key("start").str(&rfc3339(x.start));
    match &x.response {
        Some(r) => o.key("status").u64(r.status.into()),
        None => o.key("status").raw(b"null"),
    };
    if let Some(s) = x.stream_id {
        o.key("stream_id").u64(s.into());
    }
    o.key("tls").raw(if x.tls { b"true" } else { b"false" });
    o.key("url").str(&x.url());
    o.close();
}

/// The response-only fields of a message.
struct Extra<'a> {
    reason: &'a str,
    status: u16,
    trailers: &'a [(String, String)],
}

fn message(
    buf: &mut Vec<u8>,
    headers: &[(String, String)],
    body: &Body,
    version: &str,
    extra: Option<Extra>,
) {
    let mut o = Object::open(buf);
    o.key("body");
    let at = o.buf.len();
    // Text when UTF-8: ASCII, as the escaper reports, needs no second look.
    let text = escape_bytes(o.buf, &body.data) || std::str::from_utf8(&body.data).is_ok();
    if !text {
        o.buf.truncate(at);
        o.buf.push(b'"');
        let b64 = base64::engine::general_purpose::STANDARD.encode(&body.data);
        o.buf.extend_from_slice(b64.as_bytes());
        o.buf.push(b'"');
    }
    if let Some(e) = &body.decode_error {
        o.key("body_decode_error").str(e);
    }
    if !text {
        o.key("body_encoding").str("base64");
    }
    o.key("body_size").u64(body.raw_len);
    o.key("body_truncated")
        .raw(if body.truncated { b"true" } else { b"false" });
    if let Some(c) = &body.content_encoding {
        o.key("content_encoding").str(c);
    }
    o.key("headers");
    pairs(o.buf, headers);
    if let Some(e) = &extra {
        o.key("reason").str(e.reason);
        o.key("status").u64(e.status.into());
        if !e.trailers.is_empty() {
            o.key("trailers");
            pairs(o.buf, e.trailers);
        }
    }
    o.key("version").str(version);
    o.close();
}

/// Headers as `[[name, value], ...]`.
fn pairs(buf: &mut Vec<u8>, headers: &[(String, String)]) {
    buf.push(b'[');
    for (i, (n, v)) in headers.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        buf.push(b'[');
        escape_str(buf, n);
        buf.push(b',');
        escape_str(buf, v);
        buf.push(b']');
    }
    buf.push(b']');
}

/// An object being written: keys are separated by commas as they come.
struct Object<'b> {
    buf: &'b mut Vec<u8>,
    first: bool,
}

impl<'b> Object<'b> {
    fn open(buf: &'b mut Vec<u8>) -> Self {
        buf.push(b'{');
        Object { buf, first: true }
    }

    /// Writes `"name":`; `name` is one of the fixed field names, which need no escaping.
    fn key(&mut self, name: &str) -> &mut Self {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
        self.buf.push(b'"');
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b"\":");
        self
    }

    fn str(&mut self, s: &str) -> &mut Self {
        escape_str(self.buf, s);
        self
    }

    fn opt_str(&mut self, s: Option<&str>) -> &mut Self {
        match s {
            Some(s) => self.str(s),
            None => self.raw(b"null"),
        }
    }

    fn u64(&mut self, n: u64) -> &mut Self {
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        self
    }

    fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(b);
        self
    }

    /// A value serde writes best (floats, enums' names, the gRPC tree): serde_json's own bytes.
    fn serde(&mut self, v: &impl Serialize) -> &mut Self {
        // Writing to a Vec cannot fail, and these values (a float made null when not finite,
        // unit enum variants, a `Value`) always serialize.
        let _ = serde_json::to_writer(&mut *self.buf, v);
        self
    }

    fn close(self) {
        self.buf.push(b'}');
    }
}
