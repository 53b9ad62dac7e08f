//! Connections recorded between real HTTP/2 peers (nghttp, h2load, curl against nginx): real
//! encoders' HPACK (Huffman, dynamic table), PRIORITY trees, WINDOW_UPDATEs, gzip bodies.
//! See `fixtures/http2/README.md` for how they were made.
#[path = "fixtures/http2/support.rs"]
mod support;

use std::path::Path;

use capture::event::{Direction, Limits};
use capture::exchange::{header, Role};
use capture::http2::{Http2Completed, Http2Conn};
use proptest::prelude::*;
use support::*;

fn load(name: &str) -> Vec<(Direction, Vec<u8>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/http2")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("fixture");
    text.lines()
        .map(|line| {
            let (dir, hex) = line.split_once(' ').expect("line");
            let dir = if dir == "W" { W } else { R };
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                .collect();
            (dir, bytes)
        })
        .collect()
}

fn resp_header<'a>(x: &'a Http2Completed, name: &str) -> Option<&'a str> {
    header(&x.response.as_ref()?.headers, name)
}

#[test]
fn nghttp_four_gets_with_priority_tree() {
    let mut conn = Http2Conn::new(Limits::default());
    let out = decode_with(&mut conn, &load("nghttp_h2c.rec"));
    assert_eq!(conn.role(), Some(Role::Client));
    let got: Vec<(u32, &str, u16)> = out
        .iter()
        .map(|x| (x.stream_id, x.request.target.as_str(), status(x)))
        .collect();
    assert_eq!(
        got,
        [
            (13, "/users.json", 200),
            (15, "/small.json", 200),
            (17, "/missing", 404),
            (19, "/big.bin", 200),
        ]
    );
    for x in &out {
        assert_eq!(x.error, None);
        assert_eq!(x.request.method, "GET");
        assert_eq!(req_header(x, ":authority"), Some("127.0.0.1:18482"));
        assert_eq!(req_header(x, "x-client"), Some("fixture"));
        assert_eq!(resp_header(x, "server"), Some("nginx/1.22.1"));
        assert_eq!(resp_header(x, "x-fixture"), Some("apitop-h2"));
    }
    let users = &out[0].response.as_ref().unwrap().body;
    assert_eq!(users.content_encoding.as_deref(), Some("gzip"));
    let doc: serde_json::Value = serde_json::from_slice(&users.data).unwrap();
    assert_eq!(doc["users"].as_array().unwrap().len(), 400);
    assert_eq!(resp_body(&out[1]), br#"{"ok":true,"version":"1.2.3"}"#);
    let big = resp_body(&out[3]);
    assert_eq!(big.len(), 100_000);
    assert!(big
        .iter()
        .enumerate()
        .all(|(i, &b)| b == (i * 7 % 251) as u8));
}

#[test]
fn nghttp_post_with_body() {
    let out = decode(&load("nghttp_post.rec"));
    assert_eq!(out.len(), 1);
    let x = &out[0];
    assert_eq!(x.request.method, "POST");
    assert_eq!(x.request.target, "/upload");
    assert_eq!(
        x.request.body.data,
        b"{\"name\":\"new\",\"tags\":[\"x\"]}\n"
    );
    assert_eq!(status(x), 201);
    assert_eq!(resp_body(x), br#"{"created":true}"#);
}

#[test]
fn h2load_hundred_requests_ten_concurrent() {
    let out = decode(&load("h2load_100.rec"));
    assert_eq!(out.len(), 100);
    let mut ids: Vec<u32> = out.iter().map(|x| x.stream_id).collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..100).map(|k| 2 * k + 1).collect::<Vec<u32>>());
    for x in &out {
        assert_eq!(x.request.target, "/small.json");
        assert_eq!(req_header(x, "x-bench"), Some("fixture"));
        assert_eq!(status(x), 200);
        assert_eq!(resp_header(x, "x-fixture"), Some("apitop-h2"));
        assert_eq!(resp_body(x), br#"{"ok":true,"version":"1.2.3"}"#);
        assert_eq!(x.error, None);
    }
}

#[test]
fn curl_prior_knowledge_gzip() {
    let out = decode(&load("curl_h2c.rec"));
    assert_eq!(out.len(), 1);
    let x = &out[0];
    assert_eq!(req_header(x, "user-agent"), Some("curl/7.88.1"));
    assert_eq!(req_header(x, "x-client"), Some("fixture"));
    let body = &x.response.as_ref().unwrap().body;
    assert_eq!(body.content_encoding.as_deref(), Some("gzip"));
    assert_eq!(body.data.len(), 26_213);
    // Decoded from fewer bytes on the wire.
    assert!(
        body.raw_len > 1000 && body.raw_len < 26_213,
        "{}",
        body.raw_len
    );
    let doc: serde_json::Value = serde_json::from_slice(&body.data).unwrap();
    assert_eq!(doc["users"][399]["id"], 399);
}

#[test]
fn same_connection_seen_from_the_server() {
    let calls: Vec<(Direction, Vec<u8>)> = load("nghttp_h2c.rec")
        .into_iter()
        .map(|(d, b)| (if d == W { R } else { W }, b))
        .collect();
    let mut conn = Http2Conn::new(Limits::default());
    let out = decode_with(&mut conn, &calls);
    assert_eq!(conn.role(), Some(Role::Server));
    assert_eq!(out.len(), 4);
    assert!(out.iter().all(|x| x.role == Role::Server));
    assert_eq!(status(&out[2]), 404);
}

#[test]
fn attach_after_the_first_requests() {
    // Start with h2load's connection some calls in: later streams still pair, and their headers
    // decode wherever they do not depend on entries inserted before.
    let calls = load("h2load_100.rec");
    let from = calls.len() / 3;
    let mut conn = Http2Conn::attach(Limits::default(), None);
    let mut out = Vec::new();
    for (n, (dir, b)) in calls[from..].iter().enumerate() {
        out.extend(conn.feed(*dir, n as u64, b).unwrap());
    }
    out.extend(conn.finish(0, "closed"));
    assert_eq!(conn.role(), Some(Role::Client));
    // Entries h2load's encoder inserted before the attach come out as placeholders.
    assert!(conn.stats().unknown_hpack_refs > 0);
    assert!(out.len() >= 50, "{}", out.len());
    let paired = out.iter().filter(|x| status(x) == 200).count();
    assert_eq!(paired, out.len());
    assert!(out
        .iter()
        .filter(|x| !x.request.method.is_empty())
        .all(|x| x.request.method == "GET"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    /// Real traffic split at arbitrary points decodes the same.
    #[test]
    fn real_traffic_split_anywhere(seed in any::<u64>()) {
        let calls = load("h2load_100.rec");
        let whole = decode(&calls);
        let mut x = seed | 1;
        let mut split = Vec::new();
        for (dir, b) in &calls {
            let mut rest = &b[..];
            while !rest.is_empty() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let n = 1 + (x % 300) as usize;
                let (a, r) = rest.split_at(n.min(rest.len()));
                split.push((*dir, a.to_vec()));
                rest = r;
            }
        }
        let got = decode(&split);
        let key = |v: &[Http2Completed]| {
            v.iter()
                .map(|x| (x.stream_id, x.request.clone(), x.response.clone()))
                .collect::<Vec<_>>()
        };
        prop_assert_eq!(key(&got), key(&whole));
    }
}
