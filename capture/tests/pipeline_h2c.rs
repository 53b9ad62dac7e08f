//! `Upgrade: h2c` through the whole pipeline: the HTTP/1.1 request that asked becomes stream 1,
//! the bytes after `101 Switching Protocols` (in the same call) go to the HTTP/2 decoder.
#[path = "fixtures/http2/support.rs"]
mod support;

use capture::event::{ConnKey, Direction, Event, Limits};
use capture::exchange::{Exchange, Protocol};
use capture::output::Output;
use capture::pipeline::Pipeline;
use support::*;

fn run(calls: &[(Direction, Vec<u8>)], split: usize) -> Vec<Exchange> {
    let mut p = Pipeline::new(Limits::default());
    let key = ConnKey { pid: 7, conn: 1 };
    let mut out = Vec::new();
    let mut ts = 1;
    for (dir, bytes) in calls {
        // Each call delivered as chunks of `split` bytes, as the probe does for large calls.
        for (n, chunk) in bytes.chunks(split).enumerate() {
            p.push(
                Event::Data {
                    ts,
                    key,
                    tid: 7,
                    fd: 3,
                    dir: *dir,
                    total: bytes.len() as u32,
                    offset: (n * split) as u32,
                    bytes: chunk.to_vec(),
                    tls: false,
                },
                &mut out,
            );
        }
        ts += 1;
    }
    p.finish(ts, &mut out);
    out.into_iter()
        .filter_map(|o| match o {
            Output::Exchange(x) => Some(*x),
            _ => None,
        })
        .collect()
}

fn h2c_calls() -> Vec<(Direction, Vec<u8>)> {
    let mut t = Transcript::new(true);
    t.client_sends(
        b"GET /up HTTP/1.1\r\nHost: localhost:8080\r\nConnection: Upgrade, HTTP2-Settings\r\n\
          Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n"
            .to_vec(),
    );
    // The 101, the server's SETTINGS and stream 1's response, in one read.
    let mut s =
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n".to_vec();
    s.extend(settings(&[(3, 100)]));
    s.extend(t.server.headers(
        1,
        &[(":status", "200"), ("content-type", "text/plain")],
        false,
    ));
    s.extend(data(1, b"upgraded!", true, 100));
    t.server_sends(s);
    let mut c = PREFACE.to_vec();
    c.extend(settings(&[]));
    c.extend(settings_ack());
    t.client_sends(c);
    let mut h = get("/next");
    h[1].1 = "http".into();
    h[2].1 = "localhost:8080".into();
    t.request(3, &as_refs(&h), None);
    t.response(3, &[(":status", "404")], b"nope");
    t.calls
}

#[test]
fn upgrade_request_becomes_stream_one() {
    for split in [1 << 20, 7, 1] {
        let xs = run(&h2c_calls(), split);
        assert_eq!(xs.len(), 2, "split {split}: {xs:#?}");
        let (up, next) = (&xs[0], &xs[1]);
        assert_eq!(up.protocol, Protocol::Http2);
        assert_eq!(up.stream_id, Some(1));
        assert_eq!(up.request.method, "GET");
        assert_eq!(up.path(), "/up");
        assert_eq!(up.request.version, "HTTP/1.1");
        assert_eq!(up.url(), "http://localhost:8080/up");
        let r = up.response.as_ref().expect("stream 1's response");
        assert_eq!(r.status, 200);
        assert_eq!(r.body.data, b"upgraded!");
        assert_eq!(up.error, None);
        assert_eq!(next.stream_id, Some(3));
        assert_eq!(next.path(), "/next");
        assert_eq!(next.response.as_ref().unwrap().status, 404);
        assert_eq!(next.response.as_ref().unwrap().body.data, b"nope");
        assert_eq!(next.error, None);
    }
}

#[test]
fn other_upgrades_stay_opaque() {
    let calls = vec![
        (
            Direction::Write,
            b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
                .to_vec(),
        ),
        (
            Direction::Read,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x02hi".to_vec(),
        ),
    ];
    let xs = run(&calls, 1 << 20);
    assert_eq!(xs.len(), 1);
    assert_eq!(xs[0].protocol, Protocol::Http1);
    assert_eq!(xs[0].response.as_ref().unwrap().status, 101);
}
