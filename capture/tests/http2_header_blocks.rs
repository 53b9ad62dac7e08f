//! HTTP/2 header blocks: HPACK's dynamic table shared across streams, its size set by the other
//! side's SETTINGS and bound only after the ACK, Huffman literals with eviction, and blocks
//! continued over CONTINUATION frames.
#[path = "fixtures/http2/support.rs"]
mod support;

use capture::event::Limits;
use capture::exchange::header;
use capture::http2::Http2Conn;
use support::*;

#[test]
fn hundred_requests_share_the_hpack_table() {
    let mut t = Transcript::new(true).handshake();
    let mut sizes = Vec::new();
    for k in 0..100u32 {
        let id = 2 * k + 1;
        let mut h = get(&format!("/items/{k}"));
        h.push(("x-client-id", "7f3a9c".into()));
        h.push(("authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.token".into()));
        let block = t.client.block(&as_refs(&h));
        sizes.push(block.len());
        t.client_sends(frame(HEADERS, END_HEADERS | END_STREAM, id, &block));
        let resp = [
            (":status", "200"),
            ("content-type", "application/json"),
            ("x-served-by", "edge-3"),
        ];
        t.response(id, &resp, format!("{{\"id\":{k}}}").as_bytes());
    }
    // The encoder really relied on its dynamic table after the first request: x-client-id
    // (name and value, 19 bytes) became a one-byte index.
    assert!(sizes[99] + 15 < sizes[0], "{sizes:?}");
    let out = decode(&t.calls);
    assert_eq!(out.len(), 100);
    for (k, x) in out.iter().enumerate() {
        assert_eq!(x.stream_id, 2 * k as u32 + 1);
        assert_eq!(x.request.target, format!("/items/{k}"));
        assert_eq!(req_header(x, "x-client-id"), Some("7f3a9c"));
        assert_eq!(
            req_header(x, "authorization"),
            Some("Bearer eyJhbGciOiJIUzI1NiJ9.token")
        );
        assert_eq!(req_header(x, ":authority"), Some("api.example.com"));
        let r = x.response.as_ref().unwrap();
        assert_eq!(header(&r.headers, "x-served-by"), Some("edge-3"));
        assert_eq!(r.body.data, format!("{{\"id\":{k}}}").as_bytes());
    }
}

#[test]
fn continuation_frames_complete_a_header_block() {
    let mut t = Transcript::new(true).handshake();
    let mut h = get("/c");
    let long = "v".repeat(300);
    h.push(("x-long", long.clone()));
    let block = t.client.block(&as_refs(&h));
    let (a, rest) = block.split_at(10);
    let (b, c) = rest.split_at(100);
    let mut v = frame(HEADERS, END_STREAM, 1, a);
    v.extend(frame(CONTINUATION, 0, 1, b));
    v.extend(frame(CONTINUATION, END_HEADERS, 1, c));
    t.client_sends(v);
    t.response(1, &[(":status", "200")], b"");
    let out = decode(&t.calls);
    assert_eq!(out.len(), 1);
    assert_eq!(req_header(&out[0], "x-long"), Some(long.as_str()));
}

#[test]
fn header_table_size_is_the_other_sides_setting() {
    // The server allows the client's encoder 8192 bytes: the client may resize to 8192.
    let resize = hpack_int(0x20, 5, 8192);
    let run = |server_allows: bool| {
        let mut t = Transcript::new(true);
        let mut c = PREFACE.to_vec();
        // The client's own SETTINGS bind the *server's* encoder, not its own.
        c.extend(settings(&[(1, 8192)]));
        t.client_sends(c);
        let s = if server_allows {
            settings(&[(1, 8192)])
        } else {
            settings(&[])
        };
        t.server_sends([s, settings_ack()].concat());
        t.client_sends(settings_ack());
        let mut block = resize.clone();
        block.extend(t.client.block(&as_refs(&get("/r"))));
        t.client_sends(frame(HEADERS, END_HEADERS | END_STREAM, 1, &block));
        // The server resizes its own table up to what the client allowed.
        let mut sblock = hpack_int(0x20, 5, 8192);
        sblock.extend(t.server.block(&[(":status", "200")]));
        t.server_sends(frame(HEADERS, END_HEADERS | END_STREAM, 1, &sblock));
        let mut conn = Http2Conn::new(Limits::default());
        let mut errors = Vec::new();
        let mut out = Vec::new();
        for (n, (dir, bytes)) in t.calls.iter().enumerate() {
            match conn.feed(*dir, n as u64, bytes) {
                Ok(v) => out.extend(v),
                Err(e) => errors.push(e.to_string()),
            }
        }
        (out, errors)
    };
    let (out, errors) = run(true);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(out.len(), 1);
    assert_eq!(status(&out[0]), 200);
    let (out, errors) = run(false);
    assert!(out.is_empty());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("8192") && errors[0].contains("4096"),
        "{errors:?}"
    );
}

#[test]
fn huffman_coded_literals_and_table_indexing() {
    // A hand-built block: Huffman literals with incremental indexing, then a reference to them.
    let mut t = Transcript::new(true).handshake();
    let mut b = vec![0x82, 0x87]; // :method GET, :scheme https
    b.push(0x44); // literal with indexing, name :path (static 4)
    b.extend(hpack_huff("/v1/huffman"));
    b.push(0x41); // :authority
    b.extend(hpack_huff("h.example.org"));
    b.push(0x40);
    b.extend(hpack_huff("x-custom"));
    b.extend(hpack_huff("value with spaces & symbols!"));
    t.client_sends(frame(HEADERS, END_HEADERS | END_STREAM, 1, &b));
    t.response(1, &[(":status", "200")], b"");
    // Second request: indices 62.. are now x-custom, :authority, :path (newest first).
    let b2 = vec![0x82, 0x87, 0x80 | 64, 0x80 | 63, 0x80 | 62];
    t.client_sends(frame(HEADERS, END_HEADERS | END_STREAM, 3, &b2));
    t.response(3, &[(":status", "200")], b"");
    let out = decode(&t.calls);
    assert_eq!(out.len(), 2);
    for x in &out {
        assert_eq!(x.request.target, "/v1/huffman");
        assert_eq!(req_header(x, ":authority"), Some("h.example.org"));
        assert_eq!(
            req_header(x, "x-custom"),
            Some("value with spaces & symbols!")
        );
    }
}

#[test]
fn huffman_encoder_with_eviction_round_trips() {
    // Many distinct values force evictions from the 4096-byte table on both ends.
    let mut enc = HuffEnc::default();
    let mut t = Transcript::new(true).handshake();
    for k in 0..300u32 {
        let path = format!("/objects/{}/versions/{}", k * 7919, k % 13);
        let trace = format!("00-{:032x}-{:016x}-01", u128::from(k) * 0x9e37_79b9, k);
        let h = [
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", "storage.example.net"),
            (":path", path.as_str()),
            ("traceparent", trace.as_str()),
            ("x-api-key", "k-8d9f7a6b5c4d3e2f"),
        ];
        t.client_sends(frame(
            HEADERS,
            END_HEADERS | END_STREAM,
            2 * k + 1,
            &enc.block(&h),
        ));
        t.response(2 * k + 1, &[(":status", "200")], b"");
    }
    let out = decode(&t.calls);
    assert_eq!(out.len(), 300);
    for (k, x) in out.iter().enumerate() {
        let k = k as u32;
        assert_eq!(
            x.request.target,
            format!("/objects/{}/versions/{}", k * 7919, k % 13)
        );
        let trace = format!("00-{:032x}-{:016x}-01", u128::from(k) * 0x9e37_79b9, k);
        assert_eq!(req_header(x, "traceparent"), Some(trace.as_str()));
        assert_eq!(req_header(x, "x-api-key"), Some("k-8d9f7a6b5c4d3e2f"));
    }
}

#[test]
fn lowered_table_size_binds_only_after_the_ack() {
    let mut t = Transcript::new(true);
    t.client_sends([PREFACE.to_vec(), settings(&[])].concat());
    t.server_sends([settings(&[(1, 8192)]), settings_ack()].concat());
    t.client_sends(settings_ack());
    // The server lowers the client's table to 1024; until the client ACKs, 8192 is still fine.
    t.server_sends(settings(&[(1, 1024)]));
    let resize = |n: usize, enc: &mut Enc, path: &str| {
        let mut b = hpack_int(0x20, 5, n);
        b.extend(enc.block(&as_refs(&get(path))));
        b
    };
    let b1 = resize(8192, &mut t.client, "/before-ack");
    t.client_sends(frame(HEADERS, END_HEADERS | END_STREAM, 1, &b1));
    t.client_sends(settings_ack());
    let b3 = resize(1024, &mut t.client, "/after-ack");
    t.client_sends(frame(HEADERS, END_HEADERS | END_STREAM, 3, &b3));
    let ok = t.calls.clone();
    let b5 = resize(8192, &mut t.client, "/too-big");
    t.client_sends(frame(HEADERS, END_HEADERS | END_STREAM, 5, &b5));

    let mut conn = Http2Conn::new(Limits::default());
    for (n, (dir, b)) in ok.iter().enumerate() {
        conn.feed(*dir, n as u64, b).unwrap();
    }
    let (dir, last) = t.calls.last().unwrap();
    let err = conn.feed(*dir, 99, last).unwrap_err();
    assert!(err.to_string().contains("exceeds the 1024 bytes"), "{err}");
    let out = conn.finish(100, "closed");
    let paths: Vec<&str> = out.iter().map(|x| x.request.target.as_str()).collect();
    assert_eq!(paths, ["/before-ack", "/after-ack"]);
}
