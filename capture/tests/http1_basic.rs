//! Framing, pairing and roles of the HTTP/1 decoder.
#[path = "fixtures/http1/support.rs"]
mod support;

use capture::exchange::{header, Role};
use capture::http1::Http1Conn;
use support::*;

const JSON: &[u8] = br#"{"name":"widget","tags":["a","b"],"price":12.5}"#;

#[test]
fn client_get() {
    let req = b"GET /users?id=1 HTTP/1.1\r\nHost: api.example.com\r\nAccept: */*\r\nX-Dup: 1\r\nx-dup: 2\r\n\r\n";
    let res = response_cl("200 OK", "Content-Type: application/json\r\n", JSON);
    let out = decode(&[(W, req), (R, &res)]);
    assert_eq!(out.len(), 1);
    let c = &out[0];
    assert_eq!(c.role, Role::Client);
    assert_eq!(c.request.method, "GET");
    assert_eq!(c.request.target, "/users?id=1");
    assert_eq!(c.request.version, "HTTP/1.1");
    let names: Vec<_> = c
        .request
        .headers
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    assert_eq!(
        names,
        ["Host=api.example.com", "Accept=*/*", "X-Dup=1", "x-dup=2"]
    );
    assert_eq!(c.request.body.raw_len, 0);
    let r = resp(c);
    assert_eq!(
        (r.status, r.reason.as_str(), r.version.as_str()),
        (200, "OK", "HTTP/1.1")
    );
    assert_eq!(header(&r.headers, "content-type"), Some("application/json"));
    assert_eq!(r.body.data, JSON);
    assert_eq!(r.body.raw_len, JSON.len() as u64);
    assert!(!r.body.truncated);
    assert_eq!((c.start, c.end, c.error.as_deref()), (1, Some(2), None));
}

#[test]
fn exchange_is_returned_by_the_call_that_completes_it() {
    let mut conn = Http1Conn::new(limits(1 << 20));
    let res = response_cl("200 OK", "", JSON);
    assert!(conn
        .feed(W, 1, b"GET / HTTP/1.1\r\n\r\n")
        .unwrap()
        .is_empty());
    assert!(conn.feed(R, 2, &res[..res.len() - 1]).unwrap().is_empty());
    let out = conn.feed(R, 3, &res[res.len() - 1..]).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].end, Some(3));
    assert!(conn.finish(4, "closed").is_empty());
}

#[test]
fn server_role_post_json() {
    let mut req = format!(
        "POST /api/items HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        JSON.len()
    )
    .into_bytes();
    req.extend_from_slice(JSON);
    let res = response_cl("201 Created", "", b"{\"id\":7}");
    // A server reads requests and writes responses; split the request body across calls.
    let (a, b) = req.split_at(req.len() - 10);
    let out = decode(&[(R, a), (R, b), (W, &res)]);
    assert_eq!(out.len(), 1);
    let c = &out[0];
    assert_eq!(c.role, Role::Server);
    assert_eq!(c.request.method, "POST");
    assert_eq!(c.request.body.data, JSON);
    assert_eq!(c.request.body.raw_len, JSON.len() as u64);
    assert_eq!(resp(c).status, 201);
    assert_eq!(resp(c).body.data, b"{\"id\":7}");
    assert_eq!((c.start, c.end), (1, Some(3)));
}

#[test]
fn start_is_the_call_with_the_first_request_byte() {
    let mut conn = Http1Conn::new(limits(1 << 20));
    conn.feed(W, 10, b"GET /slow HT").unwrap();
    conn.feed(W, 11, b"TP/1.1\r\nHost: x\r\n").unwrap();
    conn.feed(W, 12, b"\r\n").unwrap();
    let out = conn.feed(R, 20, &response_cl("200 OK", "", b"ok")).unwrap();
    assert_eq!((out[0].start, out[0].end), (10, Some(20)));
}

#[test]
fn keep_alive_200_exchanges_in_order() {
    let mut stream = Vec::new();
    let mut segs = Vec::new();
    for i in 0..200 {
        let req = format!("GET /item/{i} HTTP/1.1\r\nHost: h\r\n\r\n").into_bytes();
        let res = response_cl("200 OK", "", format!("body-{i}").as_bytes());
        segs.push((W, req));
        segs.push((R, res.clone()));
        stream.push(res);
    }
    let segs: Vec<_> = segs.iter().map(|(d, b)| (*d, b.as_slice())).collect();
    let out = decode(&segs);
    assert_eq!(out.len(), 200);
    for (i, c) in out.iter().enumerate() {
        assert_eq!(c.request.target, format!("/item/{i}"));
        assert_eq!(resp(c).body.data, format!("body-{i}").as_bytes());
        assert_eq!(c.error, None);
    }
}

#[test]
fn keep_alive_200_requests_in_one_write_then_one_read() {
    let mut reqs = Vec::new();
    let mut resps = Vec::new();
    for i in 0..200 {
        reqs.extend(format!("GET /n/{i} HTTP/1.1\r\nHost: h\r\n\r\n").bytes());
        resps.extend(response_cl("200 OK", "", i.to_string().as_bytes()));
    }
    let out = decode(&[(W, &reqs), (R, &resps)]);
    assert_eq!(out.len(), 200);
    for (i, c) in out.iter().enumerate() {
        assert_eq!(c.request.target, format!("/n/{i}"));
        assert_eq!(resp(c).body.data, i.to_string().as_bytes());
    }
}

#[test]
fn pipelined_requests_in_one_call() {
    let mut reqs = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n".to_vec();
    reqs.extend_from_slice(b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyz");
    reqs.extend_from_slice(b"DELETE /c HTTP/1.1\r\nHost: h\r\n\r\n");
    let mut res = response_cl("200 OK", "", b"A");
    res.extend(b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n");
    res.extend(chunked(b"BBBB", 3));
    res.extend(response_cl("404 Not Found", "", b"C"));
    let out = decode(&[(W, &reqs), (R, &res)]);
    let got: Vec<_> = out
        .iter()
        .map(|c| {
            (
                c.request.target.as_str(),
                resp(c).status,
                resp(c).body.data.clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("/a", 200, b"A".to_vec()),
            ("/b", 202, b"BBBB".to_vec()),
            ("/c", 404, b"C".to_vec())
        ]
    );
    assert_eq!(out[1].request.body.data, b"xyz");
}

#[test]
fn chunked_response_with_extensions_and_trailers() {
    let res = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n\
5;name=value\r\nhello\r\n7 ; ext;q=\"x;y\"\r\n, world\r\nA\r\n0123456789\r\n0;last\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n";
    let out = decode(&[(W, b"GET / HTTP/1.1\r\n\r\n"), (R, res)]);
    let r = resp(&out[0]);
    assert_eq!(r.body.data, b"hello, world0123456789");
    assert_eq!(r.body.raw_len, 22);
    assert_eq!(
        r.trailers,
        [
            ("X-Checksum".to_string(), "abc".to_string()),
            ("X-Other".to_string(), "1".to_string())
        ]
    );
    assert_eq!(out[0].error, None);
}

#[test]
fn chunked_request_body_trailers_ignored() {
    let mut req = b"PUT /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    req.extend_from_slice(b"4\r\nabcd\r\n0\r\nX-T: 1\r\n\r\n");
    let out = decode(&[(W, &req), (R, &response_cl("204 No Content", "", b""))]);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].request.body.data, b"abcd");
    assert_eq!(resp(&out[0]).status, 204);
}

#[test]
fn head_response_has_no_body() {
    let reqs = b"HEAD /big HTTP/1.1\r\n\r\nGET /small HTTP/1.1\r\n\r\n";
    let mut res = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n".to_vec();
    res.extend(response_cl("200 OK", "", b"small"));
    let out = decode(&[(W, reqs), (R, &res)]);
    assert_eq!(out.len(), 2);
    assert_eq!(resp(&out[0]).body.raw_len, 0);
    assert_eq!(
        header(&resp(&out[0]).headers, "content-length"),
        Some("1000")
    );
    assert_eq!(resp(&out[1]).body.data, b"small");
}

#[test]
fn no_body_for_204_and_304() {
    let reqs = b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n";
    let mut res = b"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n".to_vec();
    res.extend(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\nETag: \"x\"\r\n\r\n");
    res.extend(response_cl("200 OK", "", b"third"));
    let out = decode(&[(W, reqs), (R, &res)]);
    let statuses: Vec<_> = out.iter().map(|c| resp(c).status).collect();
    assert_eq!(statuses, [204, 304, 200]);
    assert!(resp(&out[0]).body.data.is_empty() && resp(&out[1]).body.data.is_empty());
    assert_eq!(resp(&out[2]).body.data, b"third");
}

#[test]
fn continue_100_is_skipped() {
    let head = b"POST /upload HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n";
    let out = decode(&[
        (W, head),
        (R, b"HTTP/1.1 100 Continue\r\n\r\n"),
        (W, b"12345"),
        (R, b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"),
        (R, &response_cl("200 OK", "", b"done")),
    ]);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].request.body.data, b"12345");
    assert_eq!(resp(&out[0]).status, 200);
    assert_eq!(resp(&out[0]).body.data, b"done");
    assert_eq!(out[0].end, Some(5));
}

#[test]
fn switching_protocols_ends_http1() {
    let mut conn = Http1Conn::new(limits(1 << 20));
    let req = b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    conn.feed(W, 1, req).unwrap();
    // The 101 and the first frame of the new protocol in one read.
    let mut res = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n".to_vec();
    res.extend_from_slice(b"\x81\x05hello");
    let out = conn.feed(R, 2, &res).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(resp(&out[0]).status, 101);
    assert!(conn.upgraded());
    assert!(conn
        .feed(W, 3, b"\x81\x85garbage-frame")
        .unwrap()
        .is_empty());
    assert!(conn
        .feed(R, 4, b"HTTP/1.1 200 OK\r\n\r\n")
        .unwrap()
        .is_empty());
    assert!(conn.finish(5, "closed").is_empty());
}

#[test]
fn connect_tunnel_ends_http1() {
    let mut conn = Http1Conn::new(limits(1 << 20));
    conn.feed(
        W,
        1,
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    )
    .unwrap();
    let out = conn
        .feed(
            R,
            2,
            b"HTTP/1.1 200 Connection Established\r\n\r\n\x16\x03\x01",
        )
        .unwrap();
    assert_eq!(out.len(), 1);
    assert!(conn.upgraded());
    assert!(conn.feed(W, 3, b"\x16\x03\x01\x02\x00").unwrap().is_empty());
}

#[test]
fn response_delimited_by_close() {
    let mut conn = Http1Conn::new(limits(1 << 20));
    conn.feed(W, 1, b"GET /stream HTTP/1.0\r\n\r\n").unwrap();
    assert!(conn
        .feed(
            R,
            2,
            b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst "
        )
        .unwrap()
        .is_empty());
    assert!(conn.feed(R, 3, b"second").unwrap().is_empty());
    let out = conn.finish(9, "connection closed");
    assert_eq!(out.len(), 1);
    let r = resp(&out[0]);
    assert_eq!(r.version, "HTTP/1.0");
    assert_eq!(r.body.data, b"first second");
    assert!(!r.body.truncated);
    assert_eq!((out[0].end, out[0].error.as_deref()), (Some(3), None));
}

#[test]
fn requests_without_response_at_finish() {
    let mut conn = Http1Conn::new(limits(1 << 20));
    conn.feed(W, 1, b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n")
        .unwrap();
    let out = conn.feed(R, 2, &response_cl("200 OK", "", b"a")).unwrap();
    assert_eq!(out.len(), 1);
    let rest = conn.finish(3, "capture ended");
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].request.target, "/b");
    assert_eq!(rest[0].response, None);
    assert_eq!(rest[0].end, None);
    assert_eq!(rest[0].error.as_deref(), Some("capture ended"));
}

#[test]
fn response_cut_short_at_finish_is_truncated() {
    let mut conn = Http1Conn::new(limits(1 << 20));
    conn.feed(W, 1, b"GET /a HTTP/1.1\r\n\r\n").unwrap();
    conn.feed(
        R,
        2,
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial",
    )
    .unwrap();
    let out = conn.finish(3, "connection closed");
    assert_eq!(out.len(), 1);
    let r = resp(&out[0]);
    assert_eq!(r.body.data, b"partial");
    assert!(r.body.truncated);
    assert_eq!(out[0].error.as_deref(), Some("connection closed"));
}

#[test]
fn one_mebibyte_body_whole() {
    let body = noise(1 << 20, 7);
    let res = response_cl(
        "200 OK",
        "Content-Type: application/octet-stream\r\n",
        &body,
    );
    let mut segs = vec![(W, &b"GET /blob HTTP/1.1\r\n\r\n"[..])];
    segs.extend(res.chunks(16 * 1024 + 3).map(|c| (R, c)));
    let out = decode(&segs);
    let r = resp(&out[0]);
    assert_eq!(r.body.data.len(), body.len());
    assert!(r.body.data == body);
    assert!(!r.body.truncated);
    assert_eq!(out[0].end, Some(segs.len() as u64));
}

#[test]
fn body_over_cap_is_truncated_with_exact_raw_len() {
    let body = noise(50_000, 3);
    let mut conn = Http1Conn::new(limits(1000));
    conn.feed(W, 1, b"GET / HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    for piece in response_cl("200 OK", "", &body).chunks(777) {
        out.extend(conn.feed(R, 2, piece).unwrap());
    }
    // And a chunked one, also over the cap.
    let mut res = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    res.extend(chunked(&body[..12_345], 1000));
    out.extend(conn.feed(R, 3, &res).unwrap());
    assert_eq!(out.len(), 2);
    for (c, len) in out.iter().zip([50_000u64, 12_345]) {
        let b = &resp(c).body;
        assert_eq!(b.data, &body[..1000]);
        assert!(b.truncated);
        assert_eq!(b.raw_len, len);
    }
}

#[test]
fn request_body_over_cap() {
    let body = noise(5000, 9);
    let mut req = format!("POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    req.extend_from_slice(&body);
    let mut conn = Http1Conn::new(limits(100));
    conn.feed(W, 1, &req).unwrap();
    let out = conn.feed(R, 2, &response_cl("200 OK", "", b"")).unwrap();
    let b = &out[0].request.body;
    assert_eq!(
        (b.data.as_slice(), b.truncated, b.raw_len),
        (&body[..100], true, 5000)
    );
}

#[test]
fn header_values_keep_invalid_utf8_lossily() {
    let out = decode(&[
        (W, b"GET / HTTP/1.1\r\nX-Name: caf\xe9\r\n\r\n"),
        (R, &response_cl("200 OK", "", b"")),
    ]);
    assert_eq!(req_header(&out[0], "x-name"), Some("caf\u{fffd}"));
}

#[test]
fn request_line_forms_and_http10() {
    let out = decode(&[
        (W, b"OPTIONS * HTTP/1.0\r\n\r\nGET http://example.com/x?y HTTP/1.1\r\n\r\n"),
        (R, b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert_eq!(out[0].request.target, "*");
    assert_eq!(out[0].request.version, "HTTP/1.0");
    assert_eq!(out[1].request.target, "http://example.com/x?y");
}
