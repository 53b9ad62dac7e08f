//! However a connection's calls are split (or merged), the decoder must produce the same
//! exchanges.
#[path = "fixtures/http2/support.rs"]
mod support;

use capture::event::{Direction, Limits};
use capture::http2::{Http2Completed, Http2Conn};
use proptest::prelude::*;
use support::*;

/// Interleaved streams, CONTINUATION, padding, trailers, gzip, a reset, control frames.
fn transcript() -> Vec<(Direction, Vec<u8>)> {
    let json = json_doc(80);
    let mut t = Transcript::new(true).handshake();
    t.request(1, &as_refs(&get("/a")), None);
    let mut h = get("/post");
    h[0].1 = "POST".into();
    t.request(3, &as_refs(&h), Some(&json));
    let mut big = get("/continued");
    big.push(("x-long", "L".repeat(200)));
    let block = t.client.block(&as_refs(&big));
    let mut v = frame(HEADERS, END_STREAM, 5, &block[..7]);
    v.extend(frame(CONTINUATION, END_HEADERS, 5, &block[7..]));
    v.extend(ping(false));
    t.client_sends(v);
    t.request(7, &as_refs(&get("/cancelled")), None);
    let mut s = t.server.headers(
        3,
        &[(":status", "201"), ("content-encoding", "gzip")],
        false,
    );
    s.extend(t.server.headers(1, &[(":status", "200")], false));
    let gz = gzip(&json);
    s.extend(data(3, &gz[..gz.len() / 2], false, 300));
    let mut d = vec![5u8];
    d.extend(b"padded");
    d.extend([0; 5]);
    s.extend(frame(DATA, PADDED, 1, &d));
    s.extend(data(3, &gz[gz.len() / 2..], true, 300));
    s.extend(t.server.headers(5, &[(":status", "200")], false));
    s.extend(data(5, b"five", false, 100));
    s.extend(t.server.headers(5, &[("grpc-status", "0")], true));
    s.extend(data(1, b" end", true, 100));
    s.extend(ping(true));
    t.server_sends(s);
    t.client_sends(rst(7, 8));
    t.client_sends(window_update(0, 1000));
    t.calls
}

fn run(calls: &[(Direction, Vec<u8>)], cuts: &[Vec<usize>]) -> Vec<Http2Completed> {
    let mut conn = Http2Conn::new(Limits::default());
    let mut out = Vec::new();
    for (n, (dir, bytes)) in calls.iter().enumerate() {
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
fn whole_transcript_decodes() {
    let out = run(&transcript(), &[]);
    let ids: Vec<u32> = out.iter().map(|x| x.stream_id).collect();
    assert_eq!(ids, [3, 5, 1, 7]);
    assert_eq!(out[0].request.body.data, json_doc(80));
    assert_eq!(resp_body(&out[0]), json_doc(80));
    assert_eq!(resp_body(&out[1]), b"five");
    assert_eq!(out[1].response.as_ref().unwrap().trailers.len(), 1);
    assert_eq!(resp_body(&out[2]), b"padded end");
    assert_eq!(out[3].reset.as_deref(), Some("CANCEL"));
}

#[test]
fn byte_at_a_time_and_merged_calls() {
    let calls = transcript();
    let whole = run(&calls, &[]);
    let every: Vec<Vec<usize>> = calls.iter().map(|(_, b)| (0..b.len()).collect()).collect();
    assert_eq!(run(&calls, &every), whole);
    // Many frames per read: consecutive calls in one direction merged (timestamps differ, so
    // compare what does not depend on them).
    let mut merged: Vec<(Direction, Vec<u8>)> = Vec::new();
    for (dir, b) in calls {
        match merged.last_mut() {
            Some((d, acc)) if *d == dir => acc.extend(b),
            _ => merged.push((dir, b)),
        }
    }
    let m = run(&merged, &[]);
    let key = |v: &[Http2Completed]| {
        v.iter()
            .map(|x| {
                (
                    x.stream_id,
                    x.request.clone(),
                    x.response.clone(),
                    x.reset.clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(key(&m), key(&whole));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn split_anywhere_same_output(
        cuts in proptest::collection::vec(proptest::collection::vec(0usize..20_000, 0..12), 16)
    ) {
        let calls = transcript();
        let cuts: Vec<Vec<usize>> = cuts
            .into_iter()
            .zip(&calls)
            .map(|(c, (_, b))| c.into_iter().map(|p| p % (b.len() + 1)).collect())
            .collect();
        prop_assert_eq!(run(&calls, &cuts), run(&calls, &[]));
    }
}
