//! One exchange as the fields of an OpenTelemetry span, following the HTTP semantic conventions.
//! Pure: no SDK state, so that the mapping is tested on its own.
use capture::exchange::{header, Exchange, Protocol, Role};
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::KeyValue;

/// What a span is made of, before the SDK gets it.
pub struct SpanFields {
    pub name: String,
    pub kind: SpanKind,
    /// Unix nanoseconds, the capture's own times (not the time of export).
    pub start: u64,
    pub end: u64,
    pub status: Status,
    pub attributes: Vec<KeyValue>,
}

/// Methods the conventions know; others are reported as `_OTHER` with the original kept, so that
/// a client sending junk cannot make span names unbounded.
const KNOWN_METHODS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY",
];

/// The span for `x`; `route` is its endpoint template's path (`/users/{id}`) when known.
pub fn fields(x: &Exchange, route: Option<&str>) -> SpanFields {
    let method = x.request.method.as_str();
    let known = KNOWN_METHODS.contains(&method);
    let method_attr = if known { method } else { "_OTHER" };
    let name = match (known, route) {
        (true, Some(r)) => format!("{method} {r}"),
        (true, None) => method.to_string(),
        (false, _) => "HTTP".to_string(),
    };
    let client = x.role == Role::Client;
    let full = x.path_str();
    let (path, query) = match full.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (full, None),
    };
    // A fragment is never sent, but a recorded target may hold anything.
    let path = path.split('#').next().unwrap_or_default();

    let mut a = Vec::with_capacity(24);
    a.push(KeyValue::new(
        "http.request.method",
        method_attr.to_string(),
    ));
    if !known {
        a.push(KeyValue::new(
            "http.request.method_original",
            method.to_string(),
        ));
    }
    a.push(KeyValue::new("url.path", path.to_string()));
    if let Some(q) = query {
        a.push(KeyValue::new("url.query", q.to_string()));
    }
    a.push(KeyValue::new("url.scheme", x.scheme()));
    if client {
        a.push(KeyValue::new("url.full", x.url()));
    }
    if let Some(r) = route {
        a.push(KeyValue::new("http.route", r.to_string()));
    }
    if let Some(r) = &x.response {
        a.push(KeyValue::new(
            "http.response.status_code",
            i64::from(r.status),
        ));
    }

    // The server is whoever the Host header names; its port, when the header has none, is the
    // connection's server side: the peer of a client, our own end of a server.
    let server_sock = if client { &x.peer_addr } else { &x.local_addr };
    let server_sock = server_sock.as_deref().and_then(split_host_port);
    let authority = header(&x.request.headers, "host")
        .or_else(|| header(&x.request.headers, ":authority"))
        .filter(|h| !h.is_empty());
    let server = match authority {
        Some(h) => split_host_port(h)
            .map(|(host, port)| (host, port.or(server_sock.and_then(|s| s.1))))
            .or(Some((h, server_sock.and_then(|s| s.1)))),
        None => server_sock,
    };
    if let Some((host, port)) = server {
        a.push(KeyValue::new("server.address", host.to_string()));
        if let Some(p) = port {
            a.push(KeyValue::new("server.port", i64::from(p)));
        }
    }
    let peer = x.peer_addr.as_deref().and_then(split_host_port);
    if !client {
        if let Some((host, port)) = peer {
            a.push(KeyValue::new("client.address", host.to_string()));
            if let Some(p) = port {
                a.push(KeyValue::new("client.port", i64::from(p)));
            }
        }
    }
    if let Some((host, port)) = peer {
        a.push(KeyValue::new("network.peer.address", host.to_string()));
        if let Some(p) = port {
            a.push(KeyValue::new("network.peer.port", i64::from(p)));
        }
    }
    a.push(KeyValue::new("network.protocol.name", "http"));
    a.push(KeyValue::new(
        "network.protocol.version",
        match x.protocol {
            Protocol::Http1 => "1.1",
            Protocol::Http2 => "2",
        },
    ));
    a.push(KeyValue::new(
        "http.request.body.size",
        size(x.request.body.raw_len),
    ));
    if let Some(r) = &x.response {
        a.push(KeyValue::new(
            "http.response.body.size",
            size(r.body.raw_len),
        ));
    }
    // One apitop sees many processes: which one made the exchange belongs to the span, not to
    // the resource (which describes apitop itself).
    a.push(KeyValue::new("process.pid", i64::from(x.pid)));
    a.push(KeyValue::new("process.executable.name", x.comm.clone()));

    let status = status(x);
    if let Status::Error { description } = &status {
        let kind = match &x.response {
            Some(r) if failed_status(r.status, client) => r.status.to_string(),
            _ => description.to_string(),
        };
        a.push(KeyValue::new("error.type", kind));
    }

    // An exchange without a response still ends somewhere: when its request did, else where
    // it began.
    let end = x.end.or(x.request_end).unwrap_or(x.start).max(x.start);
    SpanFields {
        name,
        kind: if client {
            SpanKind::Client
        } else {
            SpanKind::Server
        },
        start: x.start,
        end,
        status,
        attributes: a,
    }
}

/// Error for what the conventions call a failure (any 4xx/5xx seen by a client, 5xx by a
/// server), and for an exchange that was not captured whole.
fn status(x: &Exchange) -> Status {
    let client = x.role == Role::Client;
    match (&x.response, &x.error) {
        (None, e) => Status::error(format!(
            "no response: {}",
            e.as_deref().unwrap_or("none captured")
        )),
        (Some(_), Some(e)) => Status::error(e.clone()),
        (Some(r), None) if failed_status(r.status, client) => Status::error(""),
        (Some(_), None) => Status::Unset,
    }
}

fn failed_status(status: u16, client: bool) -> bool {
    status >= 500 || (client && status >= 400)
}

fn size(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `host:port`, `[v6]:port`, `host` or a bare IPv6 address into its parts.
fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    if s.is_empty() {
        return None;
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
        return Some((host, port));
    }
    match s.rsplit_once(':') {
        // Two or more colons and no brackets: an IPv6 address without a port.
        Some((host, _)) if host.contains(':') => Some((s, None)),
        Some((host, port)) => Some((host, port.parse().ok())),
        None => Some((s, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use capture::exchange::{Request, Response};

    fn exchange(role: Role, status: Option<u16>) -> Exchange {
        Exchange {
            id: 1,
            pid: 42,
            comm: "curl".into(),
            protocol: Protocol::Http1,
            tls: true,
            role,
            conn_id: 1,
            local_addr: Some("10.0.0.1:50000".into()),
            peer_addr: Some("10.0.0.2:443".into()),
            stream_id: None,
            request: Request {
                method: "GET".into(),
                target: "/users/42?full=1".into(),
                version: "HTTP/1.1".into(),
                headers: vec![
                    ("Host".into(), "api.test".into()),
                    ("Authorization".into(), "Bearer ***".into()),
                ],
                ..Request::default()
            },
            response: status.map(|s| Response {
                status: s,
                ..Response::default()
            }),
            start: 1_000,
            end: status.map(|_| 5_000),
            request_end: Some(2_000),
            response_start: status.map(|_| 4_000),
            error: None,
        }
    }

    fn attr<'a>(f: &'a SpanFields, key: &str) -> Option<&'a opentelemetry::Value> {
        f.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| &kv.value)
    }

    fn text(f: &SpanFields, key: &str) -> Option<String> {
        attr(f, key).map(|v| v.as_str().into_owned())
    }

    #[test]
    fn client_span() {
        let f = fields(&exchange(Role::Client, Some(200)), Some("/users/{id}"));
        assert_eq!(f.name, "GET /users/{id}");
        assert_eq!(f.kind, SpanKind::Client);
        assert_eq!((f.start, f.end), (1_000, 5_000));
        assert_eq!(f.status, Status::Unset);
        assert_eq!(text(&f, "url.path").as_deref(), Some("/users/42"));
        assert_eq!(text(&f, "url.query").as_deref(), Some("full=1"));
        assert_eq!(
            text(&f, "url.full").as_deref(),
            Some("https://api.test/users/42?full=1")
        );
        assert_eq!(text(&f, "http.route").as_deref(), Some("/users/{id}"));
        assert_eq!(text(&f, "server.address").as_deref(), Some("api.test"));
        // No port in Host: the connection's.
        assert_eq!(
            attr(&f, "server.port"),
            Some(&opentelemetry::Value::I64(443))
        );
        assert_eq!(text(&f, "network.protocol.version").as_deref(), Some("1.1"));
        assert_eq!(text(&f, "process.executable.name").as_deref(), Some("curl"));
        assert!(attr(&f, "client.address").is_none());
        // Header values are never attributes.
        assert!(f
            .attributes
            .iter()
            .all(|kv| !kv.value.as_str().contains("Bearer")));
    }

    #[test]
    fn server_span_and_error_rules() {
        let f = fields(&exchange(Role::Server, Some(404)), None);
        assert_eq!(f.kind, SpanKind::Server);
        assert_eq!(f.name, "GET");
        assert_eq!(f.status, Status::Unset, "a 404 is not a server's failure");
        assert!(attr(&f, "url.full").is_none());
        assert_eq!(text(&f, "client.address").as_deref(), Some("10.0.0.2"));
        assert_eq!(
            attr(&f, "server.port"),
            Some(&opentelemetry::Value::I64(50000))
        );
        let f = fields(&exchange(Role::Server, Some(503)), None);
        assert!(matches!(f.status, Status::Error { .. }));
        assert_eq!(text(&f, "error.type").as_deref(), Some("503"));
        let f = fields(&exchange(Role::Client, Some(404)), None);
        assert!(matches!(f.status, Status::Error { .. }));
    }

    #[test]
    fn no_response_is_an_error_span_ending_with_the_request() {
        let mut x = exchange(Role::Client, None);
        x.error = Some("connection closed".into());
        let f = fields(&x, None);
        assert_eq!(
            f.status,
            Status::error("no response: connection closed".to_string())
        );
        assert_eq!(f.end, 2_000);
        assert!(attr(&f, "http.response.status_code").is_none());
    }

    #[test]
    fn odd_methods_and_addresses() {
        let mut x = exchange(Role::Client, Some(200));
        x.request.method = "BREW".into();
        x.request.headers = vec![(":authority".into(), "[::1]:8443".into())];
        let f = fields(&x, Some("/pot"));
        assert_eq!(f.name, "HTTP");
        assert_eq!(text(&f, "http.request.method").as_deref(), Some("_OTHER"));
        assert_eq!(
            text(&f, "http.request.method_original").as_deref(),
            Some("BREW")
        );
        assert_eq!(text(&f, "server.address").as_deref(), Some("::1"));
        assert_eq!(
            attr(&f, "server.port"),
            Some(&opentelemetry::Value::I64(8443))
        );
        assert_eq!(split_host_port("::1"), Some(("::1", None)));
        assert_eq!(split_host_port(""), None);
    }
}
