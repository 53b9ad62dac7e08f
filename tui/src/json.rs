//! Headless output: one JSON object per exchange (`--json`).
use base64::Engine;
use capture::exchange::{Body, Exchange, OpaqueConnection, UnixNanos};
use capture::grpc::{self, is_grpc};
use capture::output::CaptureStats;
use serde_json::{json, Map, Value};

/// The JSON object for one exchange. Field names are a stable interface: scripts read them.
pub fn exchange(x: &Exchange) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(x.id));
    o.insert("pid".into(), json!(x.pid));
    o.insert("comm".into(), json!(x.comm));
    o.insert("protocol".into(), json!(x.protocol));
    o.insert("tls".into(), json!(x.tls));
    o.insert("role".into(), json!(x.role));
    o.insert("method".into(), json!(x.request.method));
    o.insert("url".into(), json!(x.url()));
    o.insert("host".into(), json!(x.host()));
    o.insert("path".into(), json!(x.path()));
    o.insert(
        "status".into(),
        x.response.as_ref().map_or(Value::Null, |r| json!(r.status)),
    );
    if let Some(s) = x.stream_id {
        o.insert("stream_id".into(), json!(s));
    }
    o.insert("conn_id".into(), json!(x.conn_id));
    o.insert("local_addr".into(), json!(x.local_addr));
    o.insert("peer_addr".into(), json!(x.peer_addr));
    let mut req = message(&x.request.headers, &x.request.body);
    req.insert("version".into(), json!(x.request.version));
    o.insert("request".into(), Value::Object(req));
    o.insert(
        "response".into(),
        match &x.response {
            Some(r) => {
                let mut m = message(&r.headers, &r.body);
                m.insert("status".into(), json!(r.status));
                m.insert("reason".into(), json!(r.reason));
                m.insert("version".into(), json!(r.version));
                if !r.trailers.is_empty() {
                    m.insert("trailers".into(), pairs(&r.trailers));
                }
                Value::Object(m)
            }
            None => Value::Null,
        },
    );
    o.insert("start".into(), json!(rfc3339(x.start)));
    o.insert(
        "duration_ms".into(),
        x.duration_ns()
            .map_or(Value::Null, |d| json!(d as f64 / 1e6)),
    );
    if let Some(e) = &x.error {
        o.insert("error".into(), json!(e));
    }
    if let Some(g) = grpc(x) {
        o.insert("grpc".into(), g);
    }
    Value::Object(o)
}

/// Largest decompressed gRPC message decoded for output (gRPC's default receive limit).
const GRPC_MESSAGE_CAP: usize = 4 << 20;

/// `{service, method, status, status_name, message, request_messages, response_messages}` for
/// a gRPC call (`content-type: application/grpc*` on either side); messages are decoded as
/// `protoc --decode_raw` would, without a schema.
fn grpc(x: &Exchange) -> Option<Value> {
    let resp_grpc = x.response.as_ref().is_some_and(|r| is_grpc(&r.headers));
    if !is_grpc(&x.request.headers) && !resp_grpc {
        return None;
    }
    let path = x.path();
    let (service, method) = grpc::method(&path).unzip();
    let mut g = Map::new();
    g.insert("service".into(), json!(service));
    g.insert("method".into(), json!(method));
    let status = x.response.as_ref().and_then(grpc::grpc_status);
    g.insert("status".into(), json!(status.as_ref().map(|s| s.code)));
    g.insert("status_name".into(), json!(status.as_ref().map(|s| s.name)));
    g.insert(
        "message".into(),
        json!(status.as_ref().and_then(|s| s.message.clone())),
    );
    let messages = |headers: &[(String, String)], body: &Body| {
        let m = grpc::body_messages(headers, body, GRPC_MESSAGE_CAP);
        (
            Value::Array(m.messages.iter().map(|m| m.to_json()).collect()),
            m.trailing,
        )
    };
    let (req, req_trailing) = messages(&x.request.headers, &x.request.body);
    g.insert("request_messages".into(), req);
    if req_trailing > 0 {
        g.insert("request_trailing_bytes".into(), json!(req_trailing));
    }
    match &x.response {
        Some(r) => {
            let (resp, trailing) = messages(&r.headers, &r.body);
            g.insert("response_messages".into(), resp);
            if trailing > 0 {
                g.insert("response_trailing_bytes".into(), json!(trailing));
            }
        }
        None => {
            g.insert("response_messages".into(), json!([]));
        }
    }
    Some(Value::Object(g))
}

fn pairs(h: &[(String, String)]) -> Value {
    Value::Array(h.iter().map(|(n, v)| json!([n, v])).collect())
}

fn message(headers: &[(String, String)], body: &Body) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("headers".into(), pairs(headers));
    match std::str::from_utf8(&body.data) {
        Ok(text) => {
            m.insert("body".into(), json!(text));
        }
        Err(_) => {
            m.insert(
                "body".into(),
                json!(base64::engine::general_purpose::STANDARD.encode(&body.data)),
            );
            m.insert("body_encoding".into(), json!("base64"));
        }
    }
    m.insert("body_truncated".into(), json!(body.truncated));
    m.insert("body_size".into(), json!(body.raw_len));
    if let Some(enc) = &body.content_encoding {
        m.insert("content_encoding".into(), json!(enc));
    }
    if let Some(e) = &body.decode_error {
        m.insert("body_decode_error".into(), json!(e));
    }
    m
}

/// RFC 3339 with nanoseconds, UTC.
pub fn rfc3339(ts: UnixNanos) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ts as i128)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// One human line about a connection that carried no HTTP (stderr in headless mode).
pub fn opaque_line(c: &OpaqueConnection) -> String {
    format!(
        "apitop: connection {} → {} (pid {} {}{}): {}, {} bytes written, {} bytes read",
        c.local_addr.as_deref().unwrap_or("?"),
        c.peer_addr.as_deref().unwrap_or("?"),
        c.pid,
        c.comm,
        if c.tls { ", TLS" } else { "" },
        c.reason,
        c.bytes_written,
        c.bytes_read
    )
}

/// The summary line printed to stderr when a headless capture ends.
pub fn summary_line(s: &CaptureStats) -> String {
    let pushes = if s.pushes_ignored > 0 {
        format!(", HTTP/2 server pushes ignored {}", s.pushes_ignored)
    } else {
        String::new()
    };
    format!(
        "apitop: {} exchanges, {} connections ({} not HTTP), drops: {} \
         (ring buffer full {}, truncated {} bytes, unreadable {}, out of order {}, evicted connections {}), decode errors {}{}",
        s.exchanges,
        s.connections,
        s.opaque_connections,
        s.drops(),
        s.losses.ring_full,
        s.losses.truncated_bytes,
        s.losses.read_faults,
        s.dropped_events,
        s.evicted_connections,
        s.decode_errors,
        pushes
    )
}
