//! HTTP/2 through the whole pipeline: detection by the client preface, stream ids on exchanges,
//! a reset stream shown as such, server pushes counted (not turned into exchanges).
#[path = "fixtures/http2/support.rs"]
mod support;

use capture::event::{ConnKey, Event, Limits};
use capture::exchange::Protocol;
use capture::output::{CaptureStats, Output};
use capture::pipeline::Pipeline;
use support::*;

/// Every call through one connection's pipeline, then its close: all the outputs.
fn push_all(calls: &[(capture::event::Direction, Vec<u8>)]) -> (Vec<Output>, CaptureStats) {
    let mut p = Pipeline::new(Limits::default());
    let key = ConnKey { pid: 9, conn: 0x55 };
    let mut out = Vec::new();
    for (i, (dir, bytes)) in calls.iter().enumerate() {
        let ev = Event::Data {
            ts: 1_000 + i as u64,
            key,
            tid: 9,
            fd: 4,
            dir: *dir,
            total: bytes.len() as u32,
            offset: 0,
            bytes: bytes.clone(),
            tls: true,
        };
        p.push(ev, &mut out);
    }
    p.push(Event::Close { ts: 5_000, key }, &mut out);
    (out, p.stats())
}

fn run(
    calls: &[(capture::event::Direction, Vec<u8>)],
) -> (Vec<capture::exchange::Exchange>, CaptureStats) {
    let (out, stats) = push_all(calls);
    let xs = out
        .into_iter()
        .filter_map(|o| match o {
            Output::Exchange(x) => Some(*x),
            _ => None,
        })
        .collect();
    (xs, stats)
}

#[test]
fn streams_resets_and_pushes() {
    let mut t = Transcript::new(true).handshake();
    let get1 = get("/a");
    t.request(1, &as_refs(&get1), None);
    let get3 = get("/b");
    t.request(3, &as_refs(&get3), None);
    // The server promises a push on stream 1 (ignored, counted), answers 1, resets 3.
    let mut promise = 2u32.to_be_bytes().to_vec();
    let pushed = get("/style.css");
    promise.extend(t.server.block(&as_refs(&pushed)));
    t.server_sends(frame(PUSH_PROMISE, END_HEADERS, 1, &promise));
    t.response(
        1,
        &[(":status", "200"), ("content-type", "application/json")],
        b"{\"a\":1}",
    );
    t.server_sends(rst(3, 8));
    let (xs, stats) = run(&t.calls);
    assert_eq!(xs.len(), 2, "{xs:#?}");
    let a = xs.iter().find(|x| x.stream_id == Some(1)).unwrap();
    assert_eq!(a.protocol, Protocol::Http2);
    assert_eq!(a.url(), "https://api.example.com/a");
    assert_eq!(a.response.as_ref().unwrap().body.data, b"{\"a\":1}");
    let b = xs.iter().find(|x| x.stream_id == Some(3)).unwrap();
    assert_eq!(b.error.as_deref(), Some("stream reset (CANCEL)"));
    assert_eq!(stats.pushes_ignored, 1);
    assert_eq!(stats.exchanges, 2);
    // The reset stream was seen to its end: nothing of it was lost.
    assert_eq!(stats.incomplete, 0);
}

#[test]
fn plain_connection_announced_by_its_addresses_first_is_not_tls() {
    let mut p = Pipeline::new(Limits::default());
    let key = ConnKey {
        pid: 3,
        conn: u64::MAX - 7,
    };
    let mut out = Vec::new();
    p.push(
        Event::Addrs {
            ts: 1,
            key,
            local: "127.0.0.1:5555".into(),
            peer: "127.0.0.1:8080".into(),
        },
        &mut out,
    );
    for (ts, dir, bytes) in [
        (
            2,
            capture::event::Direction::Write,
            &b"GET /x HTTP/1.1\r\nHost: svc\r\n\r\n"[..],
        ),
        (
            3,
            capture::event::Direction::Read,
            &b"HTTP/1.1 204 No Content\r\n\r\n"[..],
        ),
    ] {
        p.push(
            Event::Data {
                ts,
                key,
                tid: 3,
                fd: 5,
                dir,
                total: bytes.len() as u32,
                offset: 0,
                bytes: bytes.to_vec(),
                tls: false,
            },
            &mut out,
        );
    }
    p.finish(4, &mut out);
    let x = out
        .iter()
        .find_map(|o| match o {
            Output::Exchange(x) => Some(x),
            _ => None,
        })
        .expect("an exchange");
    assert!(!x.tls);
    assert_eq!(x.url(), "http://svc/x");
    assert_eq!(x.peer_addr.as_deref(), Some("127.0.0.1:8080"));
}

/// A connection whose HTTP/2 decoding stops says why, once, when it happens: the exchange
/// completed before it still comes out.
#[test]
fn a_stopped_connection_says_why() {
    let mut t = Transcript::new(true).handshake();
    let g = get("/a");
    t.request(1, &as_refs(&g), None);
    t.response(1, &[(":status", "200")], b"ok");
    // A SETTINGS frame on a stream is a connection error (RFC 9113 §6.5): decoding stops.
    t.server_sends(frame(SETTINGS, 0, 1, &[]));
    t.server_sends(frame(SETTINGS, 0, 1, &[]));
    let (out, _) = push_all(&t.calls);
    let reasons: Vec<&str> = out
        .iter()
        .filter_map(|o| match o {
            Output::Opaque(c) => Some(c.reason.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(reasons.len(), 1, "said once: {reasons:?}");
    assert!(
        reasons[0].starts_with("HTTP/2 decoding stopped: ") && reasons[0].contains("SETTINGS"),
        "{reasons:?}"
    );
    let exchanges = out
        .iter()
        .filter(|o| matches!(o, Output::Exchange(_)))
        .count();
    assert_eq!(exchanges, 1);
}
