//! One exchange as a HAR 1.2 entry (http://www.softwareishard.com/blog/har-12-spec/).
//!
//! Choices where the spec leaves room, and why:
//! - `httpVersion` is written as Chrome writes it (`http/1.1`, `http/2.0`): Chrome is the most
//!   common HAR producer, so importers are tested against its spelling.
//! - HTTP/2 pseudo-headers (`:method`, `:path`, `:scheme`, `:authority`, `:status`) stay in the
//!   header lists, as Chrome keeps them: the file records what was on the wire, and the readers
//!   that replay requests (har-to-k6, httpsnippet) already drop names starting with `:`. They
//!   also give `method` and `url`, as the request line does for HTTP/1.1.
//! - Timings come from the four instants the capture saw: the request's first and last bytes,
//!   the response's first and last bytes. `send` is first to last request byte, `wait` last
//!   request byte to first response byte, `receive` the response; they add up to `time`. An
//!   instant not known leaves its phase at 0 and the time to the neighbouring one (no request
//!   end: `send` 0; no response start: `receive` 0, the rest in `wait`), since `send`, `wait`
//!   and `receive` are required and never negative. Instants out of order (a server answering
//!   before the request body ended) are clamped, so no phase is negative. The phases apitop
//!   cannot see (`blocked`, `dns`, `connect`, `ssl`) are -1, never null.
//! - Bodies that are not UTF-8: a response's `content` takes base64 with `encoding: "base64"` as
//!   the spec allows; `postData` has no such field, so its `text` is base64 too, marked by
//!   `_encoding: "base64"` and a comment: lossy text would lose the bytes for good.
//! - `_apitop` holds what HAR has no field for (pid, process, role, connection, stream, gRPC).
use capture::exchange::{header, Body, Exchange, Protocol, Role};
use serde::Serialize;
use serde_json::Value;

use crate::json::BodyText;

use super::fields::{query_string, request_cookies, response_cookies, uri_safe, Cookie, Query};

/// `log.entries[]`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry<'a> {
    started_date_time: String,
    time: f64,
    request: Request<'a>,
    response: Response<'a>,
    cache: Cache,
    timings: Timings,
    #[serde(rename = "serverIPAddress", skip_serializing_if = "Option::is_none")]
    server_ip_address: Option<String>,
    connection: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<&'a str>,
    #[serde(rename = "_apitop")]
    apitop: Apitop<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Request<'a> {
    method: &'a str,
    url: String,
    http_version: String,
    cookies: Vec<Cookie<'a>>,
    headers: Headers<'a>,
    query_string: Vec<Query>,
    #[serde(skip_serializing_if = "Option::is_none")]
    post_data: Option<PostData<'a>>,
    headers_size: i64,
    body_size: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PostData<'a> {
    mime_type: &'a str,
    text: BodyText<'a>,
    #[serde(rename = "_encoding", skip_serializing_if = "Option::is_none")]
    encoding: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Response<'a> {
    status: u16,
    status_text: &'a str,
    http_version: String,
    cookies: Vec<Cookie<'a>>,
    headers: Headers<'a>,
    content: Content<'a>,
    #[serde(rename = "redirectURL")]
    redirect_url: &'a str,
    headers_size: i64,
    body_size: i64,
    /// HAR has no place for trailers (HTTP/2, chunked HTTP/1.1, gRPC's status).
    #[serde(rename = "_trailers", skip_serializing_if = "Option::is_none")]
    trailers: Option<Headers<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Content<'a> {
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    compression: Option<u64>,
    mime_type: &'a str,
    text: BodyText<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    encoding: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
}

/// Always `{}`: apitop sees no cache.
#[derive(Serialize)]
struct Cache {}

/// Milliseconds; -1 for a phase apitop does not see (see the module doc).
#[derive(Serialize, Debug, PartialEq)]
pub struct Timings {
    pub blocked: f64,
    pub dns: f64,
    pub connect: f64,
    pub send: f64,
    pub wait: f64,
    pub receive: f64,
    pub ssl: f64,
}

#[derive(Serialize)]
struct Apitop<'a> {
    id: u64,
    pid: u32,
    comm: &'a str,
    role: Role,
    protocol: Protocol,
    tls: bool,
    conn_id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    local_addr: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    peer_addr: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    grpc: Option<Value>,
}

/// Headers as `[{name, value}, ...]`, borrowed.
struct Headers<'a>(&'a [(String, String)]);

impl Serialize for Headers<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Pair<'a> {
            name: &'a str,
            value: &'a str,
        }
        s.collect_seq(self.0.iter().map(|(name, value)| Pair { name, value }))
    }
}

impl<'a> Entry<'a> {
    pub fn new(x: &'a Exchange) -> Self {
        let url = uri_safe(&x.url());
        let timings = timings(x);
        let time = time_ms(x);
        Entry {
            started_date_time: crate::json::rfc3339(x.start),
            time,
            request: Request {
                method: &x.request.method,
                query_string: query_string(&url),
                url,
                http_version: http_version(x.protocol, &x.request.version),
                cookies: request_cookies(&x.request.headers),
                headers: Headers(&x.request.headers),
                post_data: post_data(&x.request.headers, &x.request.body),
                headers_size: -1,
                body_size: x.request.body.raw_len,
            },
            response: response(x),
            cache: Cache {},
            timings,
            server_ip_address: server_ip(x),
            connection: x.conn_id.to_string(),
            comment: x.error.as_deref(),
            apitop: Apitop {
                id: x.id,
                pid: x.pid,
                comm: &x.comm,
                role: x.role,
                protocol: x.protocol,
                tls: x.tls,
                conn_id: x.conn_id,
                stream_id: x.stream_id,
                local_addr: x.local_addr.as_deref(),
                peer_addr: x.peer_addr.as_deref(),
                error: x.error.as_deref(),
                grpc: crate::json::grpc(x),
            },
        }
    }
}

/// See the module doc: send, wait and receive between the instants the capture saw, each
/// clamped between its neighbours so that none is negative and they add up to the exchange.
pub fn timings(x: &Exchange) -> Timings {
    let [t0, t1, t2, t3] = instants(x);
    Timings {
        blocked: -1.0,
        dns: -1.0,
        connect: -1.0,
        send: ms(t0, t1),
        wait: ms(t1, t2),
        receive: ms(t2, t3),
        ssl: -1.0,
    }
}

/// `time`: the exchange from its first to its last instant; the sum of send, wait and receive
/// (computed from the instants, so no float rounding is added).
pub fn time_ms(x: &Exchange) -> f64 {
    let [t0, _, _, t3] = instants(x);
    ms(t0, t3)
}

/// Start, request end, response start and end, in order (see the module doc).
fn instants(x: &Exchange) -> [u64; 4] {
    let t0 = x.start;
    // Without an end, the exchange lasts as far as anything was seen.
    let t3 = x.end.unwrap_or_else(|| {
        t0.max(x.request_end.unwrap_or(t0))
            .max(x.response_start.unwrap_or(t0))
    });
    let t3 = t3.max(t0);
    let t1 = x.request_end.unwrap_or(t0).clamp(t0, t3);
    let t2 = x.response_start.unwrap_or(t3).clamp(t1, t3);
    [t0, t1, t2, t3]
}

/// Milliseconds from `a` to `b`.
fn ms(a: u64, b: u64) -> f64 {
    b.saturating_sub(a) as f64 / 1e6
}

/// Chrome's spelling: `http/2.0` for HTTP/2, the HTTP/1.x version as sent, in lower case.
pub fn http_version(protocol: Protocol, version: &str) -> String {
    match protocol {
        Protocol::Http2 => "http/2.0".into(),
        Protocol::Http1 if version.trim().is_empty() => "http/1.1".into(),
        Protocol::Http1 => version.trim().to_ascii_lowercase(),
    }
}

/// The server's IP address (no port): the peer when the traced process is the client, its own
/// address when it is the server.
fn server_ip(x: &Exchange) -> Option<String> {
    let addr = match x.role {
        Role::Client => x.peer_addr.as_deref()?,
        Role::Server => x.local_addr.as_deref()?,
    };
    if let Ok(sa) = addr.parse::<std::net::SocketAddr>() {
        return Some(sa.ip().to_string());
    }
    addr.parse::<std::net::IpAddr>()
        .ok()
        .map(|ip| ip.to_string())
}

fn post_data<'a>(headers: &'a [(String, String)], body: &'a Body) -> Option<PostData<'a>> {
    if body.data.is_empty() && body.raw_len == 0 {
        return None;
    }
    let text = BodyText::new(&body.data);
    let mut notes = body_notes(body);
    let encoding = text.is_base64().then(|| {
        notes.insert(
            0,
            "text is the body in base64: it is not UTF-8, and postData has no encoding field"
                .into(),
        );
        "base64"
    });
    Some(PostData {
        // Empty, not Chrome's "x-unknown" for content: tools that replay a HAR send postData's
        // mimeType as the Content-Type.
        mime_type: header(headers, "content-type").unwrap_or(""),
        text,
        encoding,
        comment: join(notes),
    })
}

fn response(x: &Exchange) -> Response<'_> {
    let Some(r) = &x.response else {
        // What Chrome writes for a request that got no response.
        return Response {
            status: 0,
            status_text: "",
            http_version: String::new(),
            cookies: Vec::new(),
            headers: Headers(&[]),
            content: Content {
                size: 0,
                compression: None,
                mime_type: "x-unknown",
                text: BodyText::Text(""),
                encoding: None,
                comment: None,
            },
            redirect_url: "",
            headers_size: -1,
            body_size: -1,
            trailers: None,
            comment: Some("no response was captured"),
        };
    };
    let b = &r.body;
    let text = BodyText::new(&b.data);
    let decoded_whole =
        b.content_encoding.is_some() && b.decode_error.is_none() && !b.truncated && !b.evicted;
    // Without a content encoding the decoded size is the size on the wire, whatever was kept.
    let size = if b.content_encoding.is_none() || b.decode_error.is_some() {
        b.raw_len.max(b.data.len() as u64)
    } else {
        b.data.len() as u64
    };
    Response {
        status: r.status,
        status_text: &r.reason,
        http_version: http_version(x.protocol, &r.version),
        cookies: response_cookies(&r.headers),
        headers: Headers(&r.headers),
        content: Content {
            size,
            compression: if decoded_whole {
                size.checked_sub(b.raw_len)
            } else {
                None
            },
            mime_type: header(&r.headers, "content-type").unwrap_or("x-unknown"),
            encoding: text.is_base64().then_some("base64"),
            text,
            comment: join(body_notes(b)),
        },
        redirect_url: header(&r.headers, "location").unwrap_or(""),
        headers_size: -1,
        body_size: i64::try_from(b.raw_len).unwrap_or(i64::MAX),
        trailers: (!r.trailers.is_empty()).then_some(Headers(&r.trailers)),
        comment: None,
    }
}

/// Why a body's `text` is not the whole body.
fn body_notes(b: &Body) -> Vec<String> {
    let mut notes = Vec::new();
    if b.evicted {
        notes.push("body evicted (memory budget)".to_string());
    } else if b.truncated {
        notes.push(format!(
            "body truncated: text holds the first {} bytes",
            b.data.len()
        ));
    }
    if let Some(e) = &b.decode_error {
        notes.push(format!(
            "content decoding failed ({e}): text holds the bytes as sent"
        ));
    }
    notes
}

fn join(notes: Vec<String>) -> Option<String> {
    (!notes.is_empty()).then(|| notes.join("; "))
}
