//! Decode throughput on one core: a synthetic but realistic HTTP/2 connection (interleaved
//! streams, Huffman-coded HPACK with a dynamic table, JSON bodies, TLS-record-sized calls) and
//! the same exchanges as HTTP/1.1 through `Http1Conn`.
//!
//! Run: `cargo bench -p capture --no-default-features --bench decode`
#[path = "../tests/fixtures/http2/support.rs"]
mod support;

use std::time::{Duration, Instant};

use capture::event::{Direction, Limits};
use capture::http1::Http1Conn;
use capture::http2::Http2Conn;
use support::*;

const STREAMS: u32 = 2000;
const CONCURRENT: u32 = 10;
/// Bytes per traced call, like a TLS record's plaintext.
const CALL: usize = 16 * 1024;

struct Exchange {
    method: &'static str,
    path: String,
    req_headers: Vec<(&'static str, String)>,
    req_body: Vec<u8>,
    status: &'static str,
    resp_headers: Vec<(&'static str, String)>,
    resp_body: Vec<u8>,
}

fn workload() -> Vec<Exchange> {
    (0..STREAMS)
        .map(|k| {
            let post = k % 5 == 0;
            let resp_body = json_doc(2 + (k as usize * 37) % 120);
            Exchange {
                method: if post { "POST" } else { "GET" },
                path: format!("/api/v2/accounts/{}/orders?page={}", 1000 + k % 50, k % 7),
                req_headers: vec![
                    (
                        "user-agent",
                        "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0".into(),
                    ),
                    ("accept", "application/json".into()),
                    ("accept-encoding", "gzip, deflate, br".into()),
                    (
                        "authorization",
                        "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ".into(),
                    ),
                    (
                        "x-request-id",
                        format!("{:016x}", u64::from(k) * 0x9e37_79b9_7f4a),
                    ),
                    ("content-type", "application/json".into()),
                ],
                req_body: if post { json_doc(5) } else { Vec::new() },
                status: if k % 17 == 0 { "404" } else { "200" },
                resp_headers: vec![
                    ("content-type", "application/json; charset=utf-8".into()),
                    ("date", "Mon, 01 Jul 2024 12:00:00 GMT".into()),
                    ("server", "envoy".into()),
                    ("cache-control", "no-store".into()),
                    ("x-envoy-upstream-service-time", format!("{}", k % 40)),
                    ("content-length", resp_body.len().to_string()),
                ],
                resp_body,
            }
        })
        .collect()
}

/// Appends `bytes` to a direction's stream of calls, cutting calls at `CALL` bytes.
fn push_calls(calls: &mut Vec<(Direction, Vec<u8>)>, dir: Direction, bytes: &[u8]) {
    for c in bytes.chunks(CALL) {
        calls.push((dir, c.to_vec()));
    }
}

fn h2_transcript(work: &[Exchange]) -> Vec<(Direction, Vec<u8>)> {
    let mut calls = Vec::new();
    let mut client = HuffEnc::default();
    let mut server = HuffEnc::default();
    push_calls(
        &mut calls,
        W,
        &[PREFACE.to_vec(), settings(&[(3, 100)])].concat(),
    );
    push_calls(
        &mut calls,
        R,
        &[settings(&[(3, 128)]), settings_ack()].concat(),
    );
    push_calls(&mut calls, W, &settings_ack());
    for (b, batch) in work.chunks(CONCURRENT as usize).enumerate() {
        let first_id = 2 * (b as u32) * CONCURRENT + 1;
        let mut out = Vec::new();
        for (j, x) in batch.iter().enumerate() {
            let id = first_id + 2 * j as u32;
            let mut h = vec![
                (":method", x.method.to_string()),
                (":scheme", "https".into()),
                (":authority", "shop.example.com".into()),
                (":path", x.path.clone()),
            ];
            h.extend(x.req_headers.iter().cloned());
            let end = x.req_body.is_empty();
            let flags = END_HEADERS | if end { END_STREAM } else { 0 };
            out.extend(frame(HEADERS, flags, id, &client.block(&as_refs(&h))));
            if !end {
                out.extend(data(id, &x.req_body, true, 16_384));
            }
        }
        push_calls(&mut calls, W, &out);
        // Responses: heads, then DATA interleaved round-robin in 4 KiB frames.
        let mut out = Vec::new();
        for (j, x) in batch.iter().enumerate() {
            let mut h = vec![(":status", x.status.to_string())];
            h.extend(x.resp_headers.iter().cloned());
            let id = first_id + 2 * j as u32;
            out.extend(frame(HEADERS, END_HEADERS, id, &server.block(&as_refs(&h))));
        }
        let mut pieces: Vec<Vec<&[u8]>> = batch
            .iter()
            .map(|x| x.resp_body.chunks(4096).collect())
            .collect();
        let mut round = 0;
        while pieces.iter().any(|p| round < p.len()) {
            for (j, p) in pieces.iter_mut().enumerate() {
                if round < p.len() {
                    let last = round + 1 == p.len();
                    let id = first_id + 2 * j as u32;
                    out.extend(frame(DATA, if last { END_STREAM } else { 0 }, id, p[round]));
                }
            }
            round += 1;
        }
        push_calls(&mut calls, R, &out);
        if b % 8 == 0 {
            push_calls(&mut calls, W, &window_update(0, 1 << 20));
        }
    }
    calls
}

fn h1_transcript(work: &[Exchange]) -> Vec<(Direction, Vec<u8>)> {
    let mut calls = Vec::new();
    for x in work {
        let mut req = format!(
            "{} {} HTTP/1.1\r\nHost: shop.example.com\r\n",
            x.method, x.path
        );
        for (n, v) in &x.req_headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        if !x.req_body.is_empty() {
            req.push_str(&format!("content-length: {}\r\n", x.req_body.len()));
        }
        req.push_str("\r\n");
        let mut req = req.into_bytes();
        req.extend_from_slice(&x.req_body);
        push_calls(&mut calls, W, &req);
        let reason = if x.status == "200" { "OK" } else { "Not Found" };
        let mut resp = format!("HTTP/1.1 {} {reason}\r\n", x.status);
        for (n, v) in &x.resp_headers {
            resp.push_str(&format!("{n}: {v}\r\n"));
        }
        resp.push_str("\r\n");
        let mut resp = resp.into_bytes();
        resp.extend_from_slice(&x.resp_body);
        push_calls(&mut calls, R, &resp);
    }
    calls
}

struct Run {
    bytes: u64,
    calls: u64,
    frames: u64,
    exchanges: u64,
    elapsed: Duration,
}

/// Decodes the transcript with fresh decoders until at least `min` has passed.
fn measure(min: Duration, mut once: impl FnMut() -> (u64, u64)) -> (u64, u64, u64, Duration) {
    let (exchanges, frames) = once(); // warm-up
    let start = Instant::now();
    let mut reps = 0;
    while start.elapsed() < min {
        std::hint::black_box(once());
        reps += 1;
    }
    (reps, exchanges, frames, start.elapsed())
}

fn report(name: &str, r: &Run) {
    let secs = r.elapsed.as_secs_f64();
    let mb = r.bytes as f64 / 1e6 / secs;
    print!(
        "{name:<9} {mb:>8.1} MB/s  {:>10.0} calls/s  {:>9.0} exchanges/s",
        r.calls as f64 / secs,
        r.exchanges as f64 / secs
    );
    if r.frames > 0 {
        print!("  {:>10.0} frames/s", r.frames as f64 / secs);
    }
    println!();
}

fn main() {
    let min = Duration::from_millis(
        std::env::var("DECODE_BENCH_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2000),
    );
    let work = workload();
    let limits = Limits::default();

    let h2 = h2_transcript(&work);
    let h2_bytes: u64 = h2.iter().map(|(_, b)| b.len() as u64).sum();
    let (reps, exchanges, frames, elapsed) = measure(min, || {
        let mut conn = Http2Conn::new(limits);
        let mut n = 0;
        for (i, (dir, b)) in h2.iter().enumerate() {
            n += conn.feed(*dir, i as u64, b).map_or(0, |v| v.len());
        }
        n += conn.finish(0, "end").len();
        (n as u64, conn.stats().frames)
    });
    assert_eq!(exchanges, u64::from(STREAMS), "every HTTP/2 stream decoded");
    let h2_run = Run {
        bytes: h2_bytes * reps,
        calls: h2.len() as u64 * reps,
        frames: frames * reps,
        exchanges: exchanges * reps,
        elapsed,
    };

    let h1 = h1_transcript(&work);
    let h1_bytes: u64 = h1.iter().map(|(_, b)| b.len() as u64).sum();
    let (reps, exchanges, _, elapsed) = measure(min, || {
        let mut conn = Http1Conn::new(limits);
        let mut n = 0;
        for (i, (dir, b)) in h1.iter().enumerate() {
            n += conn.feed(*dir, i as u64, b).map_or(0, |v| v.len());
        }
        n += conn.finish(0, "end").len();
        (n as u64, 0)
    });
    assert_eq!(
        exchanges,
        u64::from(STREAMS),
        "every HTTP/1.1 exchange decoded"
    );
    let h1_run = Run {
        bytes: h1_bytes * reps,
        calls: h1.len() as u64 * reps,
        frames: 0,
        exchanges: exchanges * reps,
        elapsed,
    };

    println!(
        "workload: {STREAMS} exchanges, JSON bodies; HTTP/2 {:.1} MB in {} calls ({} frames, \
         {CONCURRENT} concurrent streams), HTTP/1.1 {:.1} MB in {} calls",
        h2_bytes as f64 / 1e6,
        h2.len(),
        frames,
        h1_bytes as f64 / 1e6,
        h1.len()
    );
    report("HTTP/2", &h2_run);
    report("HTTP/1.1", &h1_run);
}
