//! The paths recordings rarely exercise: bytes the kernel could not deliver (gaps), chunks
//! out of order, and more connections than `Limits::max_connections`.
use super::*;
use crate::exchange::Exchange;
use crate::output::IncompleteCounts;

const PID: u32 = 10;

/// A chunk of one call: `bytes` at `offset` of a call of `total` bytes on connection `conn`.
fn chunk(ts: u64, conn: u64, dir: Direction, total: usize, offset: usize, bytes: &[u8]) -> Event {
    Event::Data {
        ts,
        key: ConnKey { pid: PID, conn },
        tid: PID,
        fd: 3,
        dir,
        total: total as u32,
        offset: offset as u32,
        bytes: bytes.to_vec(),
        tls: true,
    }
}

/// A whole call.
fn call(ts: u64, conn: u64, dir: Direction, bytes: &[u8]) -> Event {
    chunk(ts, conn, dir, bytes.len(), 0, bytes)
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: example.org\r\n\r\n").into_bytes()
}

fn exchanges(out: &[Output]) -> Vec<&Exchange> {
    out.iter()
        .filter_map(|o| match o {
            Output::Exchange(x) => Some(&**x),
            _ => None,
        })
        .collect()
}

fn run(p: &mut Pipeline, events: Vec<Event>) -> Vec<Output> {
    let mut out = Vec::new();
    for e in events {
        p.push(e, &mut out);
    }
    out
}

#[test]
fn a_gap_inside_a_body_of_known_length_truncates_that_body_and_decoding_goes_on() {
    use Direction::*;
    let mut p = Pipeline::new(Limits::default());
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
    let mut out = run(
        &mut p,
        vec![
            call(1, 1, Write, &get("/a")),
            call(2, 1, Read, head),
            // One 10-byte read whose middle chunk (bytes 5..8) never arrived.
            chunk(3, 1, Read, 10, 0, b"01234"),
            chunk(4, 1, Read, 10, 8, b"89"),
            call(5, 1, Write, &get("/b")),
            call(
                6,
                1,
                Read,
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            ),
        ],
    );
    p.finish(10, &mut out);
    let xs = exchanges(&out);
    assert_eq!(xs.len(), 2, "{out:#?}");
    let a = xs[0].response.as_ref().expect("response to /a");
    assert_eq!(xs[0].request.target, "/a");
    assert!(a.body.truncated, "the lost bytes are not kept: {a:?}");
    assert_eq!(a.body.raw_len, 10, "but they are counted");
    // What follows a gap in the same body would sit at the wrong place: counted, not kept.
    assert_eq!(a.body.data, b"01234".to_vec());
    // The connection decodes on: the next exchange is whole.
    assert_eq!(xs[1].request.target, "/b");
    let b = xs[1].response.as_ref().expect("response to /b");
    assert_eq!(
        (b.body.data.as_slice(), b.body.truncated),
        (&b"ok"[..], false)
    );
    // /a is counted as not captured whole, /b is not.
    assert_eq!((p.stats().exchanges, p.stats().incomplete), (2, 1));
    // The kernel counts what it could not deliver; the pipeline drops nothing itself.
    assert_eq!(p.stats().dropped_events, 0);
    assert_eq!(p.stats().exchanges, 2);
}

#[test]
fn a_call_missing_its_tail_ends_the_message_truncated_and_the_next_one_decodes() {
    use Direction::*;
    let mut p = Pipeline::new(Limits::default());
    let mut first = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n".to_vec();
    let total = first.len() + 100;
    first.extend_from_slice(&[b'x'; 20]);
    let mut out = run(
        &mut p,
        vec![
            call(1, 1, Write, &get("/a")),
            // Only the head and 20 body bytes of this read arrived; the next read starts
            // over at offset 0, so its 80 missing bytes are a gap.
            chunk(2, 1, Read, total, 0, &first),
            call(3, 1, Write, &get("/b")),
            call(
                4,
                1,
                Read,
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno",
            ),
        ],
    );
    p.finish(10, &mut out);
    let xs = exchanges(&out);
    assert_eq!(xs.len(), 2, "{out:#?}");
    let a = xs[0].response.as_ref().expect("response to /a");
    assert_eq!((a.status, a.body.raw_len), (200, 100));
    assert!(a.body.truncated);
    assert_eq!(a.body.data, vec![b'x'; 20]);
    let b = xs[1].response.as_ref().expect("response to /b");
    assert_eq!((xs[1].request.target.as_str(), b.status), ("/b", 404));
    assert_eq!(b.body.data, b"no".to_vec());
    assert_eq!(p.stats().dropped_events, 0);
}

#[test]
fn a_gap_running_past_the_message_ends_it_and_decoding_resyncs_on_the_next_head() {
    use Direction::*;
    let mut p = Pipeline::new(Limits::default());
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n";
    // One read carrying the head, then a chunk lost past the 4-byte body into whatever came
    // next; the following read starts with a new response.
    let total = head.len() + 50;
    let mut out = run(
        &mut p,
        vec![
            call(1, 1, Write, &get("/a")),
            chunk(2, 1, Read, total, 0, head),
            // The end of whatever line the gap cut into.
            chunk(
                3,
                1,
                Read,
                total,
                head.len() + 30,
                b"lost-in-the-middle\r\n",
            ),
            call(4, 1, Write, &get("/b")),
            call(5, 1, Read, b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb"),
        ],
    );
    p.finish(10, &mut out);
    let xs = exchanges(&out);
    let targets: Vec<&str> = xs.iter().map(|x| x.request.target.as_str()).collect();
    assert_eq!(targets, ["/a", "/b"], "{out:#?}");
    let a = xs[0].response.as_ref().expect("response to /a");
    assert!(a.body.truncated, "{a:?}");
    assert!(a.body.data.is_empty());
    let b = xs[1].response.as_ref().expect("response to /b");
    assert_eq!(b.body.data, b"b".to_vec());
}

#[test]
fn a_chunk_behind_the_expected_offset_is_dropped_and_counted() {
    use Direction::*;
    let mut p = Pipeline::new(Limits::default());
    let mut out = run(
        &mut p,
        vec![
            call(1, 1, Write, &get("/a")),
            call(2, 1, Read, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"),
            chunk(3, 1, Read, 10, 0, b"01234"),
            // Out of order: bytes 3..5 again, after 0..5 were taken.
            chunk(4, 1, Read, 10, 3, b"XY"),
            chunk(5, 1, Read, 10, 5, b"56789"),
        ],
    );
    p.finish(10, &mut out);
    let xs = exchanges(&out);
    assert_eq!(xs.len(), 1, "{out:#?}");
    let r = xs[0].response.as_ref().expect("response");
    // The late chunk changed nothing: the body is whole.
    assert_eq!(
        (r.body.data.as_slice(), r.body.truncated),
        (&b"0123456789"[..], false)
    );
    assert_eq!(p.stats().dropped_events, 1);
    assert_eq!(p.stats().drops(), 1, "the status bar's drops include it");
}

#[test]
fn past_max_connections_the_least_recently_active_connection_is_evicted() {
    use Direction::*;
    let limits = Limits {
        max_connections: 2,
        ..Limits::default()
    };
    let mut p = Pipeline::new(limits);
    let mut out = run(
        &mut p,
        vec![
            call(1, 1, Write, &get("/one")),
            call(2, 2, Write, &get("/two")),
            // Connection 1 is active again: 2 is now the least recently active.
            call(3, 1, Read, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
            call(4, 1, Write, &get("/one-again")),
            call(5, 3, Write, &get("/three")),
        ],
    );
    assert_eq!(p.stats().evicted_connections, 1);
    assert_eq!(p.open_connections(), 2);
    // Connection 2 was finished at once: its request, unanswered, says why.
    let xs = exchanges(&out);
    let two = xs
        .iter()
        .find(|x| x.request.target == "/two")
        .expect("the evicted connection's request is reported");
    assert!(two.response.is_none());
    let error = two.error.as_deref().unwrap_or("");
    assert!(error.contains("evicted"), "{two:?}");
    // Connection 1 kept its state: its pending request still pairs with its response.
    out.extend(run(
        &mut p,
        vec![call(
            6,
            1,
            Read,
            b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
        )],
    ));
    let again = exchanges(&out)
        .into_iter()
        .find(|x| x.request.target == "/one-again")
        .expect("connection 1 decoded on");
    assert_eq!(again.response.as_ref().map(|r| r.status), Some(201));
    assert_eq!(p.stats().drops(), 1);
    assert_eq!(p.stats().connections, 3);
}

/// A body cut at the cap is whole as captured (the cap is the user's choice); an unanswered
/// request is not.
#[test]
fn incomplete_counts_losses_not_caps() {
    use Direction::*;
    let limits = Limits {
        max_body: 4,
        ..Limits::default()
    };
    let mut p = Pipeline::new(limits);
    let mut out = run(
        &mut p,
        vec![
            call(1, 1, Write, &get("/capped")),
            call(
                2,
                1,
                Read,
                b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789",
            ),
            call(3, 1, Write, &get("/unanswered")),
        ],
    );
    p.finish(10, &mut out);
    let xs = exchanges(&out);
    assert_eq!(xs.len(), 2, "{out:#?}");
    assert!(xs[0].response.as_ref().unwrap().body.truncated);
    assert_eq!((p.stats().exchanges, p.stats().incomplete), (2, 1));
    // Unanswered when the capture stopped: not a loss.
    assert_eq!(
        p.stats().incomplete_by,
        IncompleteCounts {
            capture_ended: 1,
            ..Default::default()
        }
    );
}

/// Why an exchange is incomplete is told apart: its connection closed under it (the programs'
/// doing), the capture ended under it, or the capture lost its bytes. A connection with a gap
/// counts its incomplete exchanges as lost whatever ended them.
#[test]
fn incomplete_exchanges_are_counted_by_reason() {
    use Direction::*;
    let mut p = Pipeline::new(Limits::default());
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
    let close = |ts, conn| Event::Close {
        ts,
        key: ConnKey { pid: PID, conn },
    };
    let mut out = run(
        &mut p,
        vec![
            // 1: the response's body stops halfway and the connection closes.
            call(1, 1, Write, &get("/closed")),
            call(2, 1, Read, head),
            call(3, 1, Read, b"01234"),
            close(4, 1),
            // 2: the same, after the kernel lost bytes of it.
            call(5, 2, Write, &get("/lost")),
            call(6, 2, Read, head),
            Event::Gap {
                ts: 7,
                key: ConnKey { pid: PID, conn: 2 },
                dir: Read,
                len: 3,
            },
            call(7, 2, Read, b"01"),
            close(8, 2),
            // 3: whole; 4: unanswered when the capture stops.
            call(9, 3, Write, &get("/whole")),
            call(10, 3, Read, b"HTTP/1.1 204 No Content\r\n\r\n"),
            call(11, 3, Write, &get("/pending")),
        ],
    );
    p.finish(20, &mut out);
    assert_eq!(exchanges(&out).len(), 4, "{out:#?}");
    assert_eq!(p.stats().incomplete, 3);
    assert_eq!(
        p.stats().incomplete_by,
        IncompleteCounts {
            closed: 1,
            capture_ended: 1,
            lost: 1,
            other: 0
        }
    );
}

/// A full ring can lose a whole call, which no offset shows: the kernel then reports the bytes
/// as a gap before the direction's next data. The response it cut is truncated, the request
/// whose response it took gets none, and the next exchange pairs and decodes whole.
#[test]
fn a_whole_call_lost_is_a_gap_not_a_splice() {
    use Direction::*;
    let mut p = Pipeline::new(Limits::default());
    let resp = |status: &str, c: u8| {
        let mut v = format!("HTTP/1.1 {status}\r\nContent-Length: 3000\r\n\r\n").into_bytes();
        v.extend(std::iter::repeat_n(c, 3000));
        v
    };
    let (r0, r1, r2) = (
        resp("200 OK", b'a'),
        resp("201 Created", b'b'),
        resp("202 Accepted", b'c'),
    );
    let mut stream = r0.clone();
    stream.extend(&r1);
    stream.extend(&r2);
    // The server writes 1000-byte calls; call 3 (the end of /0 and the start of /1) is lost.
    let calls: Vec<&[u8]> = stream.chunks(1000).collect();
    let mut events = vec![
        call(1, 1, Write, &get("/0")),
        call(1, 1, Write, &get("/1")),
        call(1, 1, Write, &get("/2")),
    ];
    for (n, c) in calls.iter().enumerate() {
        if n == 3 {
            continue;
        }
        if n == 4 {
            events.push(Event::Gap {
                ts: 10,
                key: ConnKey { pid: PID, conn: 1 },
                dir: Read,
                len: 1000,
            });
        }
        events.push(call(10 + n as u64, 1, Read, c));
    }
    let mut out = run(&mut p, events);
    p.finish(100, &mut out);
    let got: Vec<_> = exchanges(&out)
        .iter()
        .map(|x| {
            (
                x.request.target.clone(),
                x.response.as_ref().map(|r| r.status),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("/0".to_string(), Some(200)),
            ("/1".to_string(), None),
            ("/2".to_string(), Some(202))
        ]
    );
    let xs = exchanges(&out);
    assert!(xs[0].response.as_ref().unwrap().body.truncated);
    assert_eq!(xs[2].response.as_ref().unwrap().body.data, vec![b'c'; 3000]);
    assert_eq!(p.stats().incomplete, 2);
    assert_eq!(p.stats().incomplete_by.lost, 2);
}

/// HTTP/1.1: the request ends with the call that completes its body; the response starts with
/// the call carrying its head and ends with its last byte's.
#[test]
fn http1_request_end_and_response_start() {
    use Direction::*;
    let mut p = Pipeline::new(Limits::default());
    let mut out = run(
        &mut p,
        vec![
            call(
                10,
                1,
                Write,
                b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nab",
            ),
            call(12, 1, Write, b"cd"),
            call(20, 1, Read, b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n"),
            call(25, 1, Read, b"okok"),
        ],
    );
    p.finish(30, &mut out);
    let x = exchanges(&out)[0];
    assert_eq!(
        (x.start, x.request_end, x.response_start, x.end),
        (10, Some(12), Some(20), Some(25))
    );
}
