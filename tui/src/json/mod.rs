//! Headless output: one JSON object per exchange (`--json`).
use base64::Engine;
use capture::exchange::{Body, Exchange, OpaqueConnection, UnixNanos};
use capture::grpc::{self, is_grpc};
use capture::output::CaptureStats;
use serde::Serialize;
use serde_json::{json, Map, Value};

/// One exchange as its JSON line: serialized straight from the exchange, borrowing its strings
/// (building a `serde_json::Value` tree first was over half of apitop's CPU at 20k exchanges/s).
/// Field names are a stable interface: scripts read them. Fields are declared in alphabetical
/// order, the order the earlier `Value`-based output had, so lines stay byte-for-byte the same.
#[derive(Serialize)]
pub struct ExchangeJson<'a> {
    comm: &'a str,
    conn_id: u64,
    duration_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    grpc: Option<Value>,
    host: &'a str,
    id: u64,
    local_addr: Option<&'a str>,
    method: &'a str,
    path: &'a str,
    peer_addr: Option<&'a str>,
    pid: u32,
    protocol: capture::exchange::Protocol,
    request: MessageJson<'a>,
    response: Option<MessageJson<'a>>,
    role: capture::exchange::Role,
    start: String,
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_id: Option<u32>,
    tls: bool,
    url: String,
}

/// A request or response: the response-only fields are absent on requests.
#[derive(Serialize)]
struct MessageJson<'a> {
    body: BodyText<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body_decode_error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body_encoding: Option<&'static str>,
    body_size: u64,
    body_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_encoding: Option<&'a str>,
    headers: Pairs<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trailers: Option<Pairs<'a>>,
    version: &'a str,
}

/// A body as JSON holds it: text when it is UTF-8, else base64 (also the HAR's `text`).
pub(crate) enum BodyText<'a> {
    Text(&'a str),
    Base64(&'a [u8]),
}

impl<'a> BodyText<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        match std::str::from_utf8(data) {
            Ok(t) => BodyText::Text(t),
            Err(_) => BodyText::Base64(data),
        }
    }

    pub(crate) fn is_base64(&self) -> bool {
        matches!(self, BodyText::Base64(_))
    }
}

impl Serialize for BodyText<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            BodyText::Text(t) => s.serialize_str(t),
            BodyText::Base64(b) => {
                s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b))
            }
        }
    }
}

/// Headers as `[[name, value], ...]`.
struct Pairs<'a>(&'a [(String, String)]);

impl Serialize for Pairs<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|(n, v)| [n, v]))
    }
}

impl<'a> MessageJson<'a> {
    fn new(headers: &'a [(String, String)], body: &'a Body, version: &'a str) -> Self {
        let (text, encoding) = match std::str::from_utf8(&body.data) {
            Ok(t) => (BodyText::Text(t), None),
            Err(_) => (BodyText::Base64(&body.data), Some("base64")),
        };
        MessageJson {
            body: text,
            body_decode_error: body.decode_error.as_deref(),
            body_encoding: encoding,
            body_size: body.raw_len,
            body_truncated: body.truncated,
            content_encoding: body.content_encoding.as_deref(),
            headers: Pairs(headers),
            reason: None,
            status: None,
            trailers: None,
            version,
        }
    }
}

impl<'a> ExchangeJson<'a> {
    pub fn new(x: &'a Exchange) -> Self {
        let response = x.response.as_ref().map(|r| MessageJson {
            reason: Some(&r.reason),
            status: Some(r.status),
            trailers: (!r.trailers.is_empty()).then_some(Pairs(&r.trailers)),
            ..MessageJson::new(&r.headers, &r.body, &r.version)
        });
        ExchangeJson {
            comm: &x.comm,
            conn_id: x.conn_id,
            duration_ms: x.duration_ns().map(|d| d as f64 / 1e6),
            error: x.error.as_deref(),
            grpc: grpc(x),
            host: x.host_str(),
            id: x.id,
            local_addr: x.local_addr.as_deref(),
            method: &x.request.method,
            path: x.path_str(),
            peer_addr: x.peer_addr.as_deref(),
            pid: x.pid,
            protocol: x.protocol,
            request: MessageJson::new(&x.request.headers, &x.request.body, &x.request.version),
            response,
            role: x.role,
            start: rfc3339(x.start),
            status: x.response.as_ref().map(|r| r.status),
            stream_id: x.stream_id,
            tls: x.tls,
            url: x.url(),
        }
    }
}

mod escape;
mod line;
pub use line::write_exchange;

/// The JSON object for one exchange, as a value (tests and callers that edit it).
pub fn exchange(x: &Exchange) -> Value {
    serde_json::to_value(ExchangeJson::new(x)).unwrap_or(Value::Null)
}

/// Largest decompressed gRPC message decoded for output (gRPC's default receive limit).
const GRPC_MESSAGE_CAP: usize = 4 << 20;

/// `{service, method, status, status_name, message, request_messages, response_messages}` for
/// a gRPC call (`content-type: application/grpc*` on either side); messages are decoded as
/// `protoc --decode_raw` would, without a schema.
pub(crate) fn grpc(x: &Exchange) -> Option<Value> {
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

/// RFC 3339 with nanoseconds, UTC, as the `time` crate writes it (the fraction without
/// trailing zeros, none when whole): written by hand because the `time` formatter (a generic
/// format-description walk) was a tenth of the JSON line's cost at 20k exchanges/s.
/// `rfc3339_is_the_time_crates` holds it to `time`'s output.
pub fn rfc3339(ts: UnixNanos) -> String {
    let secs = (ts / 1_000_000_000) as i64;
    let nanos = (ts % 1_000_000_000) as u32;
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days since 1970-01-01 to a civil date (Howard Hinnant's `civil_from_days`).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if !(0..=9999).contains(&year) {
        return String::new();
    }
    let mut out = format_two_digit_fields(year, month, day, sod);
    if nanos != 0 {
        let mut frac = nanos;
        let mut digits = 9;
        while frac.is_multiple_of(10) {
            frac /= 10;
            digits -= 1;
        }
        out.push('.');
        let s = frac.to_string();
        out.extend(std::iter::repeat_n('0', digits - s.len()));
        out.push_str(&s);
    }
    out.push('Z');
    out
}

/// `YYYY-MM-DDTHH:MM:SS` from a civil date and the second of the day.
fn format_two_digit_fields(year: i64, month: i64, day: i64, sod: i64) -> String {
    let mut b = *b"0000-00-00T00:00:00";
    let mut put = |at: usize, v: i64, width: usize| {
        let mut v = v;
        for i in (at..at + width).rev() {
            b[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, year, 4);
    put(5, month, 2);
    put(8, day, 2);
    put(11, sod / 3600, 2);
    put(14, sod / 60 % 60, 2);
    put(17, sod % 60, 2);
    let mut s = String::with_capacity(31);
    s.push_str(std::str::from_utf8(&b).unwrap_or_default());
    s
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
    let top = s
        .top_drop()
        .map(|r| format!("; most drops: {} ({})", r.short(), r.hint()))
        .unwrap_or_default();
    format!(
        "apitop: {} exchanges, {} connections ({} not HTTP), {} incomplete (lost in capture {}, \
         connection closed {}, capture ended {}, other {}), drops: {} (ring buffer full {}, truncated {} bytes, unreadable {}, kernel map full {}, java agent dropped {} bytes, out of order {}, evicted connections {}), decode errors {}{}{}",
        s.exchanges,
        s.connections,
        s.opaque_connections,
        s.incomplete,
        s.incomplete_by.lost,
        s.incomplete_by.closed,
        s.incomplete_by.capture_ended,
        s.incomplete_by.other,
        s.drops(),
        s.losses.ring_full,
        s.losses.truncated_bytes,
        s.losses.read_faults,
        s.losses.map_full,
        s.losses.java_dropped_bytes,
        s.dropped_events,
        s.evicted_connections,
        s.decode_errors,
        pushes,
        top
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use capture::exchange::{Protocol, Request, Response, Role};

    /// The hand-written formatter writes what the `time` crate writes: whole seconds, every
    /// fraction length, leap days, month and year ends, the epoch and the last representable instant (2554).
    #[test]
    fn rfc3339_is_the_time_crates() {
        let by_time = |ts: u64| {
            time::OffsetDateTime::from_unix_timestamp_nanos(ts as i128)
                .unwrap()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap()
        };
        let mut cases = vec![0u64, 1, 10, 999_999_999, 1_000_000_000, u64::MAX];
        let day = 86_400u64 * 1_000_000_000;
        // 2000-02-28 .. 2000-03-01 (a leap day in a century year), 2100-02-28 (none), year ends.
        for base in [951_696_000u64, 4_107_456_000, 946_684_799, 1_798_761_599] {
            for d in 0..3 {
                cases.push(base * 1_000_000_000 + d * day);
            }
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            cases.push(x);
            // Fractions with trailing zeros: 1 to 8 digits.
            cases.push(
                (x % 4_000_000_000) * 1_000_000_000
                    + (x % 9 + 1) * 10u64.pow((x % 9) as u32) % 1_000_000_000,
            );
        }
        for ts in cases {
            assert_eq!(rfc3339(ts), by_time(ts), "{ts}");
        }
    }

    fn sample() -> Exchange {
        Exchange {
            id: 7,
            pid: 42,
            comm: "client".into(),
            protocol: Protocol::Http2,
            tls: true,
            role: Role::Client,
            conn_id: 3,
            local_addr: Some("127.0.0.1:5000".into()),
            peer_addr: None,
            stream_id: Some(5),
            request: Request {
                method: "POST".into(),
                target: "/v1/items?x=1".into(),
                version: "HTTP/2".into(),
                headers: vec![(":authority".into(), "api.test".into())],
                body: Body {
                    raw_len: 3,
                    data: vec![0xff, 0x00, 0x01],
                    ..Default::default()
                },
            },
            response: Some(Response {
                status: 200,
                reason: String::new(),
                version: "HTTP/2".into(),
                headers: vec![("content-type".into(), "application/json".into())],
                body: Body {
                    raw_len: 9,
                    data: b"{\"ok\":1}\n".to_vec(),
                    truncated: true,
                    content_encoding: Some("gzip".into()),
                    decode_error: Some("gzip: bad".into()),
                    evicted: false,
                },
                trailers: vec![("x-t".into(), "1".into())],
            }),
            start: 1_700_000_000_000_000_000,
            end: Some(1_700_000_000_002_500_000),
            request_end: None,
            response_start: None,
            error: Some("stopped".into()),
        }
    }

    /// The line written by headless mode is the object `exchange` returns, with its keys in the
    /// same (sorted) order: scripts that compare lines keep working.
    #[test]
    fn direct_line_matches_the_value_form_byte_for_byte() {
        let x = sample();
        let line = serde_json::to_string(&ExchangeJson::new(&x)).unwrap();
        assert_eq!(line, serde_json::to_string(&exchange(&x)).unwrap());
        let v = exchange(&x);
        assert_eq!(v["request"]["body"], "/wAB");
        assert_eq!(v["request"]["body_encoding"], "base64");
        assert!(v["request"].get("status").is_none());
        assert_eq!(v["response"]["trailers"], json!([["x-t", "1"]]));
        assert_eq!(v["response"]["body_decode_error"], "gzip: bad");
        assert_eq!(v["duration_ms"], 2.5);
        assert_eq!(v["stream_id"], 5);
        assert_eq!(v["peer_addr"], Value::Null);
        assert_eq!(v["start"], "2023-11-14T22:13:20Z");
        assert_eq!(v["url"], "https://api.test/v1/items?x=1");
    }

    /// The hand-written line is the derive's line, byte for byte: every escape class, non-ASCII
    /// text, a body long enough for the block path, base64 bodies, fractional and integral
    /// durations, and each optional field present and absent (no response, gRPC, HTTP/1.1
    /// with a peer address and no stream).
    #[test]
    fn lines_are_serde_json_lines() {
        let mut x = sample();
        let tricky: String = (0u32..0x250)
            .filter_map(char::from_u32)
            .chain("é→😀 \"quoted\" \\ end".chars())
            .collect();
        x.request.headers.push(("x-tricky".into(), tricky.clone()));
        x.request.body.data = tricky.repeat(40).into_bytes();
        x.request.body.raw_len = x.request.body.data.len() as u64;
        let mut variants = Vec::new();
        for end in [
            1_700_000_000_002_500_000,
            1_700_000_000_003_000_000,
            1_700_000_001_234_567_891,
        ] {
            x.end = Some(end);
            variants.push(x.clone());
        }
        let mut plain = sample();
        plain.protocol = Protocol::Http1;
        plain.role = Role::Server;
        plain.tls = false;
        plain.stream_id = None;
        plain.local_addr = None;
        plain.peer_addr = Some("10.0.0.1:443".into());
        plain.request.target = "http://h.test/abs?q=\"1\"".into();
        plain.error = None;
        plain.end = None;
        variants.push(plain.clone());
        plain.response = None;
        variants.push(plain.clone());
        let mut r = sample().response.unwrap();
        r.trailers.clear();
        r.body = Body::default();
        r.reason = "Not \"Found\"".into();
        r.status = 404;
        plain.response = Some(r);
        variants.push(plain);
        let mut g = sample();
        g.request.target = "/pkg.Svc/Call".into();
        g.request
            .headers
            .push(("content-type".into(), "application/grpc".into()));
        g.request.body.data = vec![0, 0, 0, 0, 2, 8, 1];
        variants.push(g);
        // ASCII for 200 bytes, then not UTF-8: escaped first, then replaced by base64.
        let mut late = sample();
        late.request.body.data = [vec![b'"'; 200], vec![0xc3, 0x28]].concat();
        variants.push(late);
        for v in &variants {
            let mut line = Vec::new();
            write_exchange(&mut line, v);
            assert_eq!(
                String::from_utf8(line).unwrap(),
                serde_json::to_string(&ExchangeJson::new(v)).unwrap()
            );
        }
    }

    /// Optional fields are absent, not null, when there is nothing to say.
    #[test]
    fn absent_fields_stay_absent() {
        let mut x = sample();
        x.error = None;
        x.stream_id = None;
        x.response = None;
        let v = exchange(&x);
        assert!(
            v.get("error").is_none() && v.get("stream_id").is_none() && v.get("grpc").is_none()
        );
        assert_eq!(v["response"], Value::Null);
        assert_eq!(v["status"], Value::Null);
    }
}
