//! Exchanges for the unit tests of the store and the endpoint tree.
use capture::exchange::{Body, Exchange, Protocol, Request, Response, Role};

/// A GET to `host` + `path` with a `body_len`-byte response body and one `header_len`-byte
/// request header.
pub fn ex(id: u64, host: &str, path: &str, body_len: usize, header_len: usize) -> Box<Exchange> {
    Box::new(Exchange {
        id,
        pid: 1,
        comm: "curl".into(),
        protocol: Protocol::Http1,
        tls: false,
        role: Role::Client,
        conn_id: id,
        local_addr: None,
        peer_addr: None,
        stream_id: None,
        request: Request {
            method: "GET".into(),
            target: path.into(),
            version: "HTTP/1.1".into(),
            headers: vec![
                ("host".into(), host.into()),
                ("x-pad".into(), "p".repeat(header_len)),
            ],
            body: Body::default(),
        },
        response: Some(Response {
            status: 200,
            reason: "OK".into(),
            version: "HTTP/1.1".into(),
            headers: Vec::new(),
            body: Body {
                raw_len: body_len as u64,
                data: vec![b'x'; body_len],
                ..Body::default()
            },
            trailers: Vec::new(),
        }),
        start: id * 1_000_000,
        // Durations vary so that the latency histogram has more than one bucket to take back.
        end: Some(id * 1_000_000 + 1_000 * (1 + id % 50)),
        request_end: None,
        response_start: None,
        error: None,
    })
}
