//! HTTP/2 streams → exchanges: pseudo-headers, pairing, bodies, trailers, resets, flags. Header
//! blocks (HPACK's dynamic table, Huffman, CONTINUATION) are in `http2_header_blocks.rs`.
#[path = "fixtures/http2/support.rs"]
mod support;

use capture::event::Limits;
use capture::exchange::{header, Request, Role};
use capture::http2::{is_preface, Http2Conn, Preface};
use support::*;

#[test]
fn preface_detection() {
    assert_eq!(is_preface(PREFACE), Preface::Yes);
    assert_eq!(is_preface(&PREFACE[..10]), Preface::NeedMore);
    assert_eq!(is_preface(b""), Preface::NeedMore);
    assert_eq!(is_preface(b"GET / HTTP/1.1\r\n"), Preface::No);
    let mut more = PREFACE.to_vec();
    more.extend(settings(&[]));
    assert_eq!(is_preface(&more), Preface::Yes);
}

#[test]
fn simple_get_as_client() {
    let mut t = Transcript::new(true).handshake();
    t.request(1, &as_refs(&get("/v1/users?limit=2")), None);
    t.response(
        1,
        &[(":status", "200"), ("content-type", "application/json")],
        b"{\"users\":[]}",
    );
    let mut conn = Http2Conn::new(Limits::default());
    let out = decode_with(&mut conn, &t.calls);
    assert_eq!(conn.role(), Some(Role::Client));
    assert_eq!(out.len(), 1);
    let x = &out[0];
    assert_eq!(x.role, Role::Client);
    assert_eq!(x.stream_id, 1);
    assert_eq!(x.request.method, "GET");
    assert_eq!(x.request.target, "/v1/users?limit=2");
    assert_eq!(x.request.version, "HTTP/2");
    assert_eq!(req_header(x, ":authority"), Some("api.example.com"));
    assert_eq!(req_header(x, ":scheme"), Some("https"));
    assert_eq!(req_header(x, "user-agent"), Some("curl/8.5.0"));
    let resp = x.response.as_ref().unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.version, "HTTP/2");
    assert_eq!(
        header(&resp.headers, "content-type"),
        Some("application/json")
    );
    assert_eq!(resp.body.data, b"{\"users\":[]}");
    assert_eq!(x.error, None);
    assert_eq!(x.reset, None);
    // Request HEADERS came in call 3 (after preface/settings), the response's last frame in 4.
    assert_eq!((x.start, x.end), (4, Some(5)));
}

#[test]
fn traced_server_sees_preface_in_reads() {
    let mut t = Transcript::new(false).handshake();
    t.request(1, &as_refs(&get("/health")), None);
    t.response(1, &[(":status", "204")], b"");
    let mut conn = Http2Conn::new(Limits::default());
    let out = decode_with(&mut conn, &t.calls);
    assert_eq!(conn.role(), Some(Role::Server));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].role, Role::Server);
    assert_eq!(out[0].request.target, "/health");
    assert_eq!(status(&out[0]), 204);
}

#[test]
fn post_json_and_gzip_response() {
    let json = json_doc(50);
    let mut t = Transcript::new(true).handshake();
    let mut h = get("/items");
    h[0].1 = "POST".into();
    h.push(("content-type", "application/json".into()));
    t.request(1, &as_refs(&h), Some(&json));
    t.response(
        1,
        &[(":status", "201"), ("content-encoding", "gzip")],
        &gzip(&json),
    );
    let out = decode(&t.calls);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].request.method, "POST");
    assert_eq!(out[0].request.body.data, json);
    assert!(!out[0].request.body.truncated);
    let body = &out[0].response.as_ref().unwrap().body;
    assert_eq!(body.data, json);
    assert_eq!(body.content_encoding.as_deref(), Some("gzip"));
}

#[test]
fn interleaved_streams_are_paired_by_id() {
    let mut t = Transcript::new(true).handshake();
    for id in [1u32, 3, 5] {
        t.request(id, &as_refs(&get(&format!("/s{id}"))), None);
    }
    // Heads in reverse order, then DATA frames alternating between streams, ends out of order.
    let mut s = Vec::new();
    for id in [5u32, 1, 3] {
        let st = format!("{}", 200 + id);
        s.extend(t.server.headers(id, &[(":status", st.as_str())], false));
    }
    for round in 0..3 {
        for id in [1u32, 3, 5] {
            let piece = format!("[{id}:{round}]");
            let end = round == 2 && id != 3;
            s.extend(data(id, piece.as_bytes(), end, 100));
        }
    }
    s.extend(data(3, b"", true, 100));
    t.server_sends(s);
    let out = decode(&t.calls);
    let ids: Vec<u32> = out.iter().map(|x| x.stream_id).collect();
    assert_eq!(ids, [1, 5, 3], "completion order");
    for x in &out {
        let id = x.stream_id;
        assert_eq!(x.request.target, format!("/s{id}"));
        assert_eq!(status(x), 200 + id as u16);
        let want = format!("[{id}:0][{id}:1][{id}:2]");
        assert_eq!(resp_body(x), want.as_bytes());
    }
}

#[test]
fn trailers_are_kept() {
    let mut t = Transcript::new(true).handshake();
    t.request(1, &as_refs(&get("/t")), None);
    let mut s = t.server.headers(1, &[(":status", "200")], false);
    s.extend(data(1, b"payload", false, 100));
    s.extend(
        t.server
            .headers(1, &[("grpc-status", "0"), ("x-checksum", "abc")], true),
    );
    t.server_sends(s);
    let out = decode(&t.calls);
    assert_eq!(out.len(), 1);
    let r = out[0].response.as_ref().unwrap();
    assert_eq!(r.body.data, b"payload");
    assert_eq!(
        r.trailers,
        vec![
            ("grpc-status".to_string(), "0".to_string()),
            ("x-checksum".to_string(), "abc".to_string())
        ]
    );
    assert_eq!(header(&r.headers, "grpc-status"), None);
}

#[test]
fn rst_stream_gives_a_reset_exchange() {
    let mut t = Transcript::new(true).handshake();
    t.request(1, &as_refs(&get("/slow")), None);
    t.request(3, &as_refs(&get("/fast")), None);
    let mut s = t.server.headers(1, &[(":status", "200")], false);
    s.extend(data(1, b"partial", false, 100));
    t.server_sends(s);
    t.client_sends(rst(1, 0x8));
    t.response(3, &[(":status", "200")], b"ok");
    let out = decode(&t.calls);
    assert_eq!(out.len(), 2);
    let reset = &out[0];
    assert_eq!(reset.stream_id, 1);
    assert_eq!(reset.reset.as_deref(), Some("CANCEL"));
    assert_eq!(
        reset.error.as_deref(),
        Some("stream reset by client: CANCEL")
    );
    let r = reset.response.as_ref().unwrap();
    assert_eq!(r.body.data, b"partial");
    assert!(r.body.truncated);
    assert_eq!(out[1].stream_id, 3);
    assert_eq!(out[1].reset, None);
    assert_eq!(resp_body(&out[1]), b"ok");
}

#[test]
fn refused_before_response_is_reset_without_response() {
    let mut t = Transcript::new(true).handshake();
    t.request(1, &as_refs(&get("/x")), None);
    t.server_sends(rst(1, 0x7));
    let out = decode(&t.calls);
    assert_eq!(out.len(), 1);
    assert!(out[0].response.is_none());
    assert_eq!(out[0].reset.as_deref(), Some("REFUSED_STREAM"));
    assert_eq!(out[0].end, None);
}

#[test]
fn one_mebibyte_response_body() {
    let body: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let mut t = Transcript::new(true).handshake();
    t.request(1, &as_refs(&get("/big")), None);
    t.response(1, &[(":status", "200")], &body);
    let out = decode(&t.calls);
    assert_eq!(out.len(), 1);
    let b = &out[0].response.as_ref().unwrap().body;
    assert_eq!(b.raw_len, body.len() as u64);
    assert!(!b.truncated);
    assert!(b.data == body);
}

#[test]
fn body_over_the_cap_is_counted_and_truncated() {
    let body = vec![b'x'; 100_000];
    let mut t = Transcript::new(true).handshake();
    t.request(1, &as_refs(&get("/big")), None);
    t.response(1, &[(":status", "200")], &body);
    let limits = Limits {
        max_body: 1000,
        ..Limits::default()
    };
    let out = decode_with(&mut Http2Conn::new(limits), &t.calls);
    let b = &out[0].response.as_ref().unwrap().body;
    assert_eq!(b.data.len(), 1000);
    assert_eq!(b.raw_len, 100_000);
    assert!(b.truncated);
}

#[test]
fn padded_and_priority_flags() {
    let mut t = Transcript::new(true).handshake();
    let block = t.client.block(&as_refs(&get("/p")));
    // HEADERS with PADDED (3 bytes) and PRIORITY (5 bytes: dependency + weight).
    let mut p = vec![3u8];
    p.extend([0x80, 0, 0, 0, 15]);
    p.extend(&block);
    p.extend([0, 0, 0]);
    t.client_sends(frame(
        HEADERS,
        END_HEADERS | END_STREAM | PADDED | PRIORITY_FLAG,
        1,
        &p,
    ));
    t.client_sends(frame(PRIORITY, 0, 1, &[0, 0, 0, 0, 200]));
    let mut s = t.server.headers(1, &[(":status", "200")], false);
    let mut d = vec![4u8];
    d.extend(b"hello");
    d.extend([0; 4]);
    s.extend(frame(DATA, PADDED, 1, &d));
    // Padding only, ending the stream.
    s.extend(frame(DATA, PADDED | END_STREAM, 1, &[2, 0, 0]));
    t.server_sends(s);
    let out = decode(&t.calls);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].request.target, "/p");
    assert_eq!(resp_body(&out[0]), b"hello");
}

#[test]
fn server_push_is_ignored_but_counted() {
    let mut t = Transcript::new(true).handshake();
    t.request(1, &as_refs(&get("/index.html")), None);
    let mut s = Vec::new();
    let mut pp = 2u32.to_be_bytes().to_vec();
    pp.extend(t.server.block(&[
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "api.example.com"),
        (":path", "/style.css"),
    ]));
    s.extend(frame(PUSH_PROMISE, END_HEADERS, 1, &pp));
    s.extend(t.server.headers(1, &[(":status", "200")], false));
    s.extend(t.server.headers(2, &[(":status", "200")], false));
    s.extend(data(2, b"body{}", true, 100));
    s.extend(data(1, b"<html>", true, 100));
    t.server_sends(s);
    let mut conn = Http2Conn::new(Limits::default());
    let out = decode_with(&mut conn, &t.calls);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].request.target, "/index.html");
    assert_eq!(resp_body(&out[0]), b"<html>");
    assert_eq!(conn.stats().pushes, 1);
}

#[test]
fn control_frames_and_interim_responses() {
    let mut t = Transcript::new(true).handshake();
    t.client_sends(ping(false));
    t.server_sends(ping(true));
    t.request(1, &as_refs(&get("/a")), None);
    t.client_sends(window_update(0, 1 << 20));
    let mut s = t
        .server
        .headers(1, &[(":status", "103"), ("link", "</s.css>")], false);
    s.extend(window_update(1, 100));
    s.extend(t.server.headers(1, &[(":status", "200")], false));
    s.extend(data(1, b"done", true, 100));
    t.server_sends(s);
    let mut conn = Http2Conn::new(Limits::default());
    let out = decode_with(&mut conn, &t.calls);
    assert_eq!(out.len(), 1);
    assert_eq!(status(&out[0]), 200);
    assert_eq!(resp_body(&out[0]), b"done");
    assert!(conn.stats().frames >= 12);
}

#[test]
fn goaway_ends_unprocessed_streams() {
    let mut t = Transcript::new(true).handshake();
    t.request(1, &as_refs(&get("/one")), None);
    t.request(3, &as_refs(&get("/two")), None);
    t.server_sends(goaway(1, 0));
    t.response(1, &[(":status", "200")], b"1");
    let out = decode(&t.calls);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].stream_id, 3);
    assert_eq!(
        out[0].error.as_deref(),
        Some("not processed by the server (GOAWAY)")
    );
    assert_eq!(out[1].stream_id, 1);
    assert_eq!(out[1].error, None);
}

#[test]
fn open_streams_are_reported_at_finish() {
    let mut t = Transcript::new(true).handshake();
    t.request(1, &as_refs(&get("/hang")), None);
    let mut s = t.server.headers(1, &[(":status", "200")], false);
    s.extend(data(1, b"part", false, 100));
    t.server_sends(s);
    t.request(3, &as_refs(&get("/never")), None);
    let out = decode(&t.calls);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].stream_id, 1);
    assert_eq!(out[0].error.as_deref(), Some("connection closed"));
    assert!(out[0].response.as_ref().unwrap().body.truncated);
    assert_eq!(out[1].stream_id, 3);
    assert!(out[1].response.is_none());
}

#[test]
fn h2c_upgrade_pairs_stream_one_with_the_http1_request() {
    // The HTTP/1.1 side decoded `GET /up` with Upgrade: h2c and saw 101; what follows is h2.
    let request = Request {
        method: "GET".into(),
        target: "/up".into(),
        version: "HTTP/1.1".into(),
        headers: vec![
            ("Host".into(), "localhost:8080".into()),
            ("Upgrade".into(), "h2c".into()),
            // SETTINGS_HEADER_TABLE_SIZE = 8192 for the server's encoder, base64url.
            ("HTTP2-Settings".into(), "AAEAACAA".into()),
        ],
        ..Request::default()
    };
    let mut conn = Http2Conn::upgraded(Limits::default(), Role::Client, request, 7);
    let mut t = Transcript::new(true);
    t.client_sends([PREFACE.to_vec(), settings(&[])].concat());
    let mut s = settings(&[]);
    let mut block = hpack_int(0x20, 5, 8192);
    block.extend(
        t.server
            .block(&[(":status", "200"), ("content-type", "text/plain")]),
    );
    s.extend(frame(HEADERS, END_HEADERS, 1, &block));
    s.extend(data(1, b"upgraded!", true, 100));
    t.server_sends(s);
    t.request(3, &as_refs(&get("/next")), None);
    t.response(3, &[(":status", "404")], b"");
    let out = decode_with(&mut conn, &t.calls);
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out[0].stream_id, 1);
    assert_eq!(out[0].start, 7);
    assert_eq!(out[0].request.target, "/up");
    // The upgrade request itself went out as HTTP/1.1.
    assert_eq!(out[0].request.version, "HTTP/1.1");
    assert_eq!(resp_body(&out[0]), b"upgraded!");
    assert_eq!(out[1].request.target, "/next");
    assert_eq!(status(&out[1]), 404);
}

/// The times a detail pane and a HAR need: the request's end (its END_STREAM), the response's
/// first frame and its last, each from the call that carried it.
#[test]
fn request_end_and_response_start_are_the_frames_times() {
    let mut t = Transcript::new(true).handshake();
    let post = [
        (":method", "POST"),
        (":scheme", "https"),
        (":authority", "api.example.com"),
        (":path", "/v1/items"),
    ];
    let h = t.client.headers(1, &post, false);
    t.client_sends(h); // call 4
    t.client_sends(data(1, b"{\"a\":1}", true, 16_384)); // 5: END_STREAM
    let h = t.server.headers(1, &[(":status", "201")], false);
    t.server_sends(h); // 6
    t.server_sends(data(1, b"ok", false, 16_384)); // 7
    t.server_sends(data(1, b"", true, 16_384)); // 8
    let mut conn = Http2Conn::new(Limits::default());
    let out = decode_with(&mut conn, &t.calls);
    assert_eq!(out.len(), 1);
    let x = &out[0];
    assert_eq!(
        (x.start, x.request_end, x.response_start, x.end),
        (4, Some(5), Some(6), Some(8))
    );
    // A GET ends with its HEADERS frame.
    let mut t = Transcript::new(true).handshake();
    t.request(1, &as_refs(&get("/")), None); // 4
    t.response(1, &[(":status", "200")], b"x"); // 5
    let out = decode_with(&mut Http2Conn::new(Limits::default()), &t.calls);
    let x = &out[0];
    assert_eq!(
        (x.start, x.request_end, x.response_start, x.end),
        (4, Some(4), Some(5), Some(5))
    );
}
