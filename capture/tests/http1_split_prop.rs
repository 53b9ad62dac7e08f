//! However a transcript's calls are split, the decoder must produce the same exchanges.
#[path = "fixtures/http1/support.rs"]
mod support;

use capture::event::{Direction, Limits};
use capture::http1::{Completed, Http1Conn};
use proptest::prelude::*;
use support::*;

/// Several keep-alive exchanges (pipelined, chunked, gzip, 100-continue, HEAD, close-delimited),
/// as the calls of a client in time order.
fn transcript() -> Vec<(Direction, Vec<u8>)> {
    let json = json_doc(60);
    let gz = gzip(&json);
    let mut chunked_gz =
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    chunked_gz.extend(chunked(&gz, 97));
    let mut post = format!(
        "POST /items HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        json.len()
    )
    .into_bytes();
    post.extend_from_slice(&json);
    let chunked_req =
        b"PUT /blob HTTP/1.1\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    let chunk_body = chunked(b"a request body sent in chunks", 7);
    vec![
        (W, [b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n".to_vec(), post].concat()),
        (
            R,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nabcd\r\n0\r\nX-Sum: 9\r\n\r\n"
                .to_vec(),
        ),
        (R, response_cl("201 Created", "Content-Encoding: gzip\r\n", &gz)),
        (W, chunked_req),
        (R, b"HTTP/1.1 100 Continue\r\n\r\n".to_vec()),
        (W, chunk_body),
        (R, chunked_gz),
        (W, b"HEAD /h HTTP/1.1\r\n\r\nGET /last HTTP/1.1\r\n\r\n".to_vec()),
        (R, b"HTTP/1.1 200 OK\r\nContent-Length: 12345\r\n\r\n".to_vec()),
        (R, b"HTTP/1.1 200 OK\r\n\r\nuntil the connection closes".to_vec()),
    ]
}

/// Feeds each transcript call in pieces cut at `cuts[n]` (positions within call n, same ts).
fn run(transcript: &[(Direction, Vec<u8>)], cuts: &[Vec<usize>], limits: Limits) -> Vec<Completed> {
    let mut conn = Http1Conn::new(limits);
    let mut out = Vec::new();
    for (n, (dir, bytes)) in transcript.iter().enumerate() {
        let mut points: Vec<usize> = cuts.get(n).cloned().unwrap_or_default();
        points.retain(|&p| p <= bytes.len());
        points.extend([0, bytes.len()]);
        points.sort_unstable();
        for w in points.windows(2) {
            out.extend(conn.feed(*dir, n as u64 + 1, &bytes[w[0]..w[1]]).unwrap());
        }
    }
    out.extend(conn.finish(100, "connection closed"));
    out
}

#[test]
fn reference_decoding_is_right() {
    let out = run(&transcript(), &[], Limits::default());
    let summary: Vec<_> = out
        .iter()
        .map(|c| {
            (
                c.request.method.as_str(),
                c.request.target.as_str(),
                c.response.as_ref().map(|r| r.status),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("GET", "/a", Some(200)),
            ("POST", "/items", Some(201)),
            ("PUT", "/blob", Some(200)),
            ("HEAD", "/h", Some(200)),
            ("GET", "/last", Some(200)),
        ]
    );
    let json = json_doc(60);
    assert_eq!(
        resp(&out[0]).trailers,
        [("X-Sum".to_string(), "9".to_string())]
    );
    assert_eq!(out[1].request.body.data, json);
    assert_eq!(resp(&out[1]).body.data, json);
    assert_eq!(out[2].request.body.data, b"a request body sent in chunks");
    assert_eq!(resp(&out[2]).body.data, json);
    assert_eq!(resp(&out[4]).body.data, b"until the connection closes");
    assert!(out.iter().all(|c| c.error.is_none()));
    let times: Vec<_> = out.iter().map(|c| (c.start, c.end)).collect();
    assert_eq!(
        times,
        [
            (1, Some(2)),
            (1, Some(3)),
            (4, Some(7)),
            (8, Some(9)),
            (8, Some(10))
        ]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_split_gives_the_same_exchanges(
        cuts in prop::collection::vec(prop::collection::vec(0usize..2000, 0..12), 10),
    ) {
        let t = transcript();
        let reference = run(&t, &[], Limits::default());
        prop_assert_eq!(run(&t, &cuts, Limits::default()), reference);
    }

    #[test]
    fn any_split_gives_the_same_exchanges_under_small_caps(
        cuts in prop::collection::vec(prop::collection::vec(0usize..2000, 0..12), 10),
    ) {
        let t = transcript();
        let small = Limits { max_body: 50, ..Limits::default() };
        let reference = run(&t, &[], small);
        prop_assert!(reference.iter().any(|c| c.response.as_ref().is_some_and(|r| r.body.truncated)));
        prop_assert_eq!(run(&t, &cuts, small), reference);
    }
}

#[test]
fn byte_at_a_time_matches() {
    let t = transcript();
    let cuts: Vec<Vec<usize>> = t.iter().map(|(_, b)| (0..b.len()).collect()).collect();
    assert_eq!(
        run(&t, &cuts, Limits::default()),
        run(&t, &[], Limits::default())
    );
}
