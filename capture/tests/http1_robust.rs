//! Sniffing, malformed input, limits, capture gaps and resync.
#[path = "fixtures/http1/support.rs"]
mod support;

use capture::event::Limits;
use capture::http1::{sniff, Http1Conn, Http1Error, Sniff};
use proptest::prelude::*;
use support::*;

#[test]
fn sniff_cases() {
    let cases: &[(&[u8], Sniff)] = &[
        (b"GET / HTTP/1.1\r\n", Sniff::Http1),
        (b"POST /api/v1/items?x=1 HTTP/1.0\n", Sniff::Http1),
        (b"M-SEARCH * HTTP/1.1\r\n", Sniff::Http1),
        (b"HTTP/1.1 200 OK\r\n", Sniff::Http1),
        (b"HTTP/1.", Sniff::Http1),
        (b"", Sniff::NeedMore),
        (b"G", Sniff::NeedMore),
        (b"HTT", Sniff::NeedMore),
        (b"GET /index.html", Sniff::NeedMore),
        (b"GET /index.html HTTP/1.", Sniff::NeedMore),
        (b"GET /index.html HTTP/1.1\r", Sniff::NeedMore),
        (
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
            Sniff::NotHttp,
        ),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", Sniff::NotHttp),
        (b"get / http/1.1\r\n", Sniff::NotHttp),
        (b"GET  HTTP/1.1\r\n", Sniff::NotHttp),
        (b"GET / HTTP/1.1 extra\r\n", Sniff::NotHttp),
        (b"{\"jsonrpc\":\"2.0\"}", Sniff::NotHttp),
        (b"HTTP/2 200\r\n", Sniff::NotHttp),
        (b"SSH-2.0-OpenSSH_9.6\r\n", Sniff::NotHttp),
    ];
    for (bytes, want) in cases {
        assert_eq!(sniff(bytes), *want, "{:?}", String::from_utf8_lossy(bytes));
    }
    // A request line that never ends is not waited for forever.
    let mut long = b"GET /".to_vec();
    long.extend(std::iter::repeat_n(b'a', 100_000));
    assert_eq!(sniff(&long), Sniff::NotHttp);
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let mut conn = Http1Conn::new(Limits::default());
    assert_eq!(
        conn.feed(W, 1, b"\x16\x03\x01\x00\xa5\x01\x00"),
        Err(Http1Error::NotHttp)
    );
    // The direction is skipped afterwards, quietly.
    assert_eq!(conn.feed(W, 2, &noise(10_000, 5)), Ok(vec![]));
    assert!(conn.finish(3, "closed").is_empty());
}

#[test]
fn malformed_head_after_a_good_exchange() {
    let mut conn = Http1Conn::new(Limits::default());
    conn.feed(W, 1, b"GET /a HTTP/1.1\r\n\r\n").unwrap();
    let mut res = response_cl("200 OK", "", b"ok");
    res.extend_from_slice(b"HTTP/1.1 2x0 What\r\n\r\n");
    // The call both completes /a and hits garbage: the error comes first, /a right after.
    let err = conn.feed(R, 2, &res).unwrap_err();
    assert!(
        matches!(
            err,
            Http1Error::MalformedHead {
                what: "response",
                ..
            }
        ),
        "{err}"
    );
    let out = conn.feed(W, 3, b"GET /b HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].request.target, "/a");
    // The response direction resyncs at the next status line.
    let out = conn.feed(R, 4, &response_cl("200 OK", "", b"b")).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(resp(&out[0]).body.data, b"b");
}

#[test]
fn resync_at_next_request_line() {
    let mut conn = Http1Conn::new(Limits::default());
    conn.feed(W, 1, b"GET /a HTTP/1.1\r\n\r\n").unwrap();
    assert!(conn
        .feed(W, 2, b"GET /\x01bad HTTP/1.1\r\n\r\nmore junk\r\nGET /b HT")
        .is_err());
    conn.feed(W, 3, b"TP/1.1\r\nHost: h\r\n\r\n").unwrap();
    let mut res = response_cl("200 OK", "", b"A");
    res.extend(response_cl("200 OK", "", b"B"));
    let out = conn.feed(R, 4, &res).unwrap();
    let targets: Vec<_> = out.iter().map(|c| c.request.target.as_str()).collect();
    assert_eq!(targets, ["/a", "/b"]);
    assert_eq!(out[1].start, 2, "the /b head began in call 2");
}

#[test]
fn bad_lengths_are_errors() {
    for head in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n",
    ] {
        let mut conn = Http1Conn::new(Limits::default());
        conn.feed(W, 1, b"GET / HTTP/1.1\r\n\r\n").unwrap();
        assert!(
            conn.feed(R, 2, head).is_err(),
            "{}",
            String::from_utf8_lossy(head)
        );
        conn.finish(3, "closed");
    }
}

#[test]
fn huge_but_valid_lengths_stream_without_buffering() {
    let mut conn = Http1Conn::new(limits(1000));
    conn.feed(W, 1, b"GET / HTTP/1.1\r\n\r\n").unwrap();
    conn.feed(
        R,
        2,
        b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n",
    )
    .unwrap();
    let block = vec![b'x'; 1 << 16];
    for _ in 0..64 {
        conn.feed(R, 3, &block).unwrap();
    }
    let out = conn.finish(4, "capture ended");
    let b = &resp(&out[0]).body;
    assert_eq!(
        (b.data.len(), b.raw_len, b.truncated),
        (1000, 64 << 16, true)
    );
    assert_eq!(out[0].error.as_deref(), Some("capture ended"));
}

#[test]
fn header_block_over_the_limit_is_an_error() {
    let lim = Limits {
        max_header_buffer: 1024,
        ..Limits::default()
    };
    let mut head = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..100 {
        head.extend(format!("X-Filler-{i}: {}\r\n", "v".repeat(20)).bytes());
    }
    head.extend_from_slice(b"\r\n");
    // In one call.
    let mut conn = Http1Conn::new(lim);
    let err = conn.feed(W, 1, &head).unwrap_err();
    assert!(
        matches!(err, Http1Error::TooLarge { limit: 1024, .. }),
        "{err}"
    );
    // And trickled in small calls, without ever completing.
    let mut conn = Http1Conn::new(lim);
    let errors = head
        .chunks(10)
        .filter(|c| conn.feed(W, 1, c).is_err())
        .count();
    assert!(errors >= 1);
    conn.feed(R, 2, &response_cl("200 OK", "", b"")).ok();
    // Nothing was decoded from the oversized request.
    assert!(conn
        .finish(3, "closed")
        .iter()
        .all(|c| c.request.method.is_empty()));
}

#[test]
fn request_transfer_encoding_without_chunked_is_an_error() {
    let mut conn = Http1Conn::new(Limits::default());
    let r = conn.feed(W, 1, b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n");
    assert!(matches!(r, Err(Http1Error::Framing(_))));
}

#[test]
fn requests_in_both_directions_is_an_error() {
    let mut conn = Http1Conn::new(Limits::default());
    conn.feed(W, 1, b"GET / HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(
        conn.feed(R, 2, b"GET / HTTP/1.1\r\n\r\n"),
        Err(Http1Error::WrongDirection("request"))
    );
}

#[test]
fn gap_inside_a_known_length_body() {
    let mut conn = Http1Conn::new(Limits::default());
    conn.feed(W, 1, b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n")
        .unwrap();
    conn.feed(
        R,
        2,
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789",
    )
    .unwrap();
    conn.gap(R, 80);
    let out = conn
        .feed(
            R,
            3,
            &[&b"abcdefghij"[..], &response_cl("200 OK", "", b"second")].concat(),
        )
        .unwrap();
    assert_eq!(out.len(), 2);
    let b = &resp(&out[0]).body;
    // Bytes after the hole are counted but not kept.
    assert_eq!(
        (b.data.as_slice(), b.raw_len, b.truncated),
        (&b"0123456789"[..], 100, true)
    );
    assert_eq!(resp(&out[1]).body.data, b"second");
}

#[test]
fn gap_ending_the_body_exactly_completes_it() {
    let mut conn = Http1Conn::new(Limits::default());
    conn.feed(W, 1, b"GET /a HTTP/1.1\r\n\r\n").unwrap();
    conn.feed(R, 2, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123")
        .unwrap();
    conn.gap(R, 6);
    let out = conn.feed(W, 3, b"GET /b HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(resp(&out[0]).body.raw_len, 10);
    assert!(resp(&out[0]).body.truncated);
}

#[test]
fn gap_past_the_body_resyncs_at_the_next_head() {
    let mut conn = Http1Conn::new(Limits::default());
    conn.feed(W, 1, b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n")
        .unwrap();
    conn.feed(
        R,
        2,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
    )
    .unwrap();
    conn.gap(R, 5000);
    // Lands in the middle of something, then a status line follows on a new line.
    let mut rest = b"tail of a body\r\n".to_vec();
    rest.extend(response_cl("200 OK", "", b"second"));
    let out = conn.feed(R, 3, &rest).unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(resp(&out[0]).body.data, b"hel");
    assert!(resp(&out[0]).body.truncated);
    assert_eq!(out[1].request.target, "/b");
    assert_eq!(resp(&out[1]).body.data, b"second");
}

/// A connection with `GET /0` … `GET /3` sent, and the four responses the server will send:
/// 200, 201 and 202 with 3000-byte bodies that end without a newline, then a 404.
fn four_requests() -> (Http1Conn, [Vec<u8>; 4]) {
    let mut conn = Http1Conn::new(Limits::default());
    let reqs: String = (0..4)
        .map(|n| format!("GET /{n} HTTP/1.1\r\n\r\n"))
        .collect();
    conn.feed(W, 1, reqs.as_bytes()).unwrap();
    let responses = [
        response_cl("200 OK", "", &[b'a'; 3000]),
        response_cl("201 Created", "", &[b'b'; 3000]),
        response_cl("202 Accepted", "", &[b'c'; 3000]),
        response_cl("404 Not Found", "", b"{\"x\":1}"),
    ];
    (conn, responses)
}

/// [`four_requests`] after /1's response was lost: /0 answered (cut), /1 unanswered, /2 and /3
/// each with its own response.
const ONE_RESPONSE_LOST: [(&str, Option<u16>); 4] = [
    ("/0", Some(200)),
    ("/1", None),
    ("/2", Some(202)),
    ("/3", Some(404)),
];

/// Each exchange's request target and response status, in output order.
fn paired(out: &[capture::http1::Completed]) -> Vec<(&str, Option<u16>)> {
    out.iter()
        .map(|c| {
            (
                c.request.target.as_str(),
                c.response.as_ref().map(|r| r.status),
            )
        })
        .collect()
}

/// The benchmark's shape: JSON bodies end without a newline, so the next status line follows
/// a body byte, not a line start. A gap that swallowed a body's end and the next response's
/// head used to leave the response direction resyncing forever (every later response lost). It
/// resyncs at the next `HTTP/1.1` now, wherever it is, and the request whose response the gap
/// took is answered by nothing, so later responses pair with their own requests.
#[test]
fn a_gap_resyncs_at_a_head_that_follows_a_body_directly() {
    let (mut conn, [r0, r1, r2, r3]) = four_requests();
    conn.feed(R, 2, &r0[..100]).unwrap();
    // The rest of /0's body and the first 500 bytes of /1's response are lost.
    conn.gap(R, (r0.len() - 100 + 500) as u64);
    let mut tail = r1[500..].to_vec();
    tail.extend(&r2);
    tail.extend(&r3);
    let out = conn.feed(R, 3, &tail).unwrap();
    assert_eq!(paired(&out), ONE_RESPONSE_LOST);
    assert!(resp(&out[0]).body.truncated);
    assert_eq!(
        out[1].error.as_deref(),
        Some("response lost in a capture gap")
    );
    assert_eq!(resp(&out[2]).body.data, [b'c'; 3000]);
    assert_eq!(resp(&out[3]).body.data, b"{\"x\":1}");
}

/// A full ring drops whole calls, so the decoder may not be told of a loss: a known-length body
/// then runs into the next response, and the bytes after it are no head. The request whose
/// response went with them is answered by nothing, and the later responses still pair with their
/// own requests (not each with the request before it).
#[test]
fn an_unseen_loss_does_not_shift_later_responses_onto_earlier_requests() {
    let (mut conn, responses) = four_requests();
    let mut stream = responses.concat();
    // 1000 bytes of /0's body vanish without a word.
    stream.drain(1000..2000);
    let mut out = Vec::new();
    for (n, c) in stream.chunks(700).enumerate() {
        match conn.feed(R, 2 + n as u64, c) {
            Ok(v) => out.extend(v),
            Err(_) => out.extend(conn.feed(R, 2 + n as u64, &[]).unwrap_or_default()),
        }
    }
    out.extend(conn.finish(100, "closed"));
    assert_eq!(paired(&out), ONE_RESPONSE_LOST);
    assert_eq!(resp(&out[2]).body.data, [b'c'; 3000]);
}

#[test]
fn a_request_line_after_a_body_without_newline_is_found() {
    let mut conn = Http1Conn::new(Limits::default());
    conn.feed(W, 1, b"POST /a HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123")
        .unwrap();
    conn.gap(W, 100);
    // Lands in a body; the next request line follows its last byte, then its own line is split.
    conn.feed(W, 2, b"xyz\"}XYZGET /b HT").unwrap();
    conn.feed(W, 3, b"TP/1.1\r\nHost: h\r\n\r\n").unwrap();
    let mut res = response_cl("200 OK", "", b"A");
    res.extend(response_cl("200 OK", "", b"B"));
    let out = conn.feed(R, 4, &res).unwrap();
    let got: Vec<_> = out
        .iter()
        .map(|c| (c.request.method.as_str(), c.request.target.as_str()))
        .collect();
    assert_eq!(got, [("POST", "/a"), ("GET", "/b")]);
    assert_eq!(out[1].start, 2, "the /b head began in call 2");
}

#[test]
fn gap_in_a_head_discards_it() {
    let mut conn = Http1Conn::new(Limits::default());
    conn.feed(W, 1, b"GET /lost HTTP/1.1\r\nHo").unwrap();
    conn.gap(W, 100);
    conn.feed(W, 2, b"GET /next HTTP/1.1\r\n\r\n").unwrap();
    let out = conn.feed(R, 3, &response_cl("200 OK", "", b"x")).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].request.target, "/next");
}

#[test]
fn response_without_a_request() {
    let out = decode(&[(R, &response_cl("200 OK", "", b"orphan"))]);
    assert_eq!(out.len(), 1);
    assert!(out[0].request.method.is_empty());
    assert_eq!(resp(&out[0]).body.data, b"orphan");
    assert!(out[0].error.is_some());
}

/// Valid messages with random bytes spliced in, to reach the error and resync paths.
fn mangled_transcript() -> impl Strategy<Value = Vec<(bool, Vec<u8>)>> {
    let pieces: Vec<Vec<u8>> = vec![
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
        b"POST /p HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd".to_vec(),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x\r\nabc\r\n0\r\nT: 1\r\n\r\n"
            .to_vec(),
        response_cl("200 OK", "Content-Encoding: gzip\r\n", &gzip(b"{\"a\":1}")),
        b"HTTP/1.1 100 Continue\r\n\r\n".to_vec(),
        b"HTTP/1.1 200 OK\r\nContent-Length: 184467440737095516150\r\n\r\n".to_vec(),
        b"5\r\n".to_vec(),
        b"\r\n".to_vec(),
    ];
    let piece = prop_oneof![
        prop::sample::select(pieces).prop_map(Some),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Some),
        Just(None),
    ];
    prop::collection::vec((any::<bool>(), piece), 0..30).prop_map(|v| {
        v.into_iter()
            .map(|(d, p)| (d, p.unwrap_or_default()))
            .collect()
    })
}

proptest! {
    #[test]
    fn arbitrary_input_never_panics(
        transcript in mangled_transcript(),
        gaps in prop::collection::vec(0u64..100, 0..4),
    ) {
        let lim = Limits { max_body: 64, max_header_buffer: 256, ..Limits::default() };
        let mut conn = Http1Conn::new(lim);
        for (n, (write, bytes)) in transcript.iter().enumerate() {
            let dir = if *write { W } else { R };
            let _ = conn.feed(dir, n as u64, bytes);
            if let Some(&g) = gaps.get(n) {
                conn.gap(dir, g);
            }
        }
        for c in conn.finish(99, "end") {
            prop_assert!(c.request.body.data.len() <= 64);
            if let Some(r) = &c.response {
                prop_assert!(r.body.data.len() <= 64);
            }
        }
    }
}

#[test]
fn garbage_is_rejected_before_a_blank_line_arrives() {
    let mut conn = Http1Conn::new(Limits::default());
    conn.feed(W, 1, b"GET / HTTP/1.1\r\n\r\n").unwrap();
    conn.feed(R, 2, &response_cl("200 OK", "", b"")).unwrap();
    // No head end in sight, but the status line is already impossible.
    assert!(conn.feed(R, 3, b"HTTP/1.1 OK 200\r\nX: y\r\n").is_err());
    assert!(conn.feed(W, 4, b"GET /\x00 HTTP/1.1\r\n").is_err());
}
