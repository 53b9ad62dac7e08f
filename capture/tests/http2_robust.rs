//! Malformed input, limits, gaps, and attaching to a connection already under way.
#[path = "fixtures/http2/support.rs"]
mod support;

use capture::event::{Direction, Limits};
use capture::exchange::Role;
use capture::http2::{Http2Completed, Http2Conn, Http2Error};
use proptest::prelude::*;
use support::*;

/// Feeds all calls, collecting exchanges and errors separately; then finishes.
fn feed_collect(
    conn: &mut Http2Conn,
    calls: &[(Direction, Vec<u8>)],
) -> (Vec<Http2Completed>, Vec<Http2Error>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (n, (dir, bytes)) in calls.iter().enumerate() {
        match conn.feed(*dir, n as u64 + 1, bytes) {
            Ok(v) => out.extend(v),
            Err(e) => errors.push(e),
        }
    }
    out.extend(conn.finish(10_000, "connection closed"));
    (out, errors)
}

fn started() -> Transcript {
    let mut t = Transcript::new(true).handshake();
    t.request(1, &as_refs(&get("/first")), None);
    t.response(1, &[(":status", "200")], b"one");
    t
}

#[test]
fn garbage_after_the_preface_is_one_visible_error() {
    let mut t = started();
    t.request(3, &as_refs(&get("/open")), None);
    // A "frame" with an unknown-length SETTINGS payload on a stream: malformed.
    t.client_sends(b"\x00\x00\x05\x04\x00\x00\x00\x00\x03garbage".to_vec());
    t.request(5, &as_refs(&get("/after")), None);
    let mut conn = Http2Conn::new(Limits::default());
    let (out, errors) = feed_collect(&mut conn, &t.calls);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        matches!(errors[0], Http2Error::Malformed { .. }),
        "{errors:?}"
    );
    assert!(conn.failed());
    // Stream 1 completed before; stream 3 was open and is reported at finish; 5 never decoded.
    let ids: Vec<u32> = out.iter().map(|x| x.stream_id).collect();
    assert_eq!(ids, [1, 3]);
    assert_eq!(out[1].error.as_deref(), Some("connection closed"));
}

#[test]
fn truncated_frame_at_close_is_not_an_error() {
    let mut t = started();
    t.request(3, &as_refs(&get("/cut")), None);
    let mut s = t.server.headers(3, &[(":status", "200")], false);
    let d = data(3, &[b'z'; 1000], true, 16_384);
    s.extend_from_slice(&d[..500]);
    t.server_sends(s);
    let mut conn = Http2Conn::new(Limits::default());
    let (out, errors) = feed_collect(&mut conn, &t.calls);
    assert!(errors.is_empty());
    assert_eq!(out.len(), 2);
    let r = out[1].response.as_ref().unwrap();
    assert_eq!(r.body.data.len(), 500 - 9);
    assert!(r.body.truncated);
    assert_eq!(out[1].error.as_deref(), Some("connection closed"));
}

#[test]
fn headers_without_continuation_then_another_frame() {
    let mut t = started();
    let block = t.client.block(&as_refs(&get("/x")));
    let mut v = frame(HEADERS, END_STREAM, 3, &block[..5]);
    v.extend(ping(false));
    t.client_sends(v);
    let (_, errors) = feed_collect(&mut Http2Conn::new(Limits::default()), &t.calls);
    assert_eq!(
        errors,
        [Http2Error::MissingContinuation {
            stream: 3,
            got: "PING"
        }]
    );
}

#[test]
fn continuation_on_another_stream_or_alone() {
    let mut t = started();
    let block = t.client.block(&as_refs(&get("/x")));
    let mut v = frame(HEADERS, END_STREAM, 3, &block[..5]);
    v.extend(frame(CONTINUATION, END_HEADERS, 5, &block[5..]));
    t.client_sends(v);
    let (_, errors) = feed_collect(&mut Http2Conn::new(Limits::default()), &t.calls);
    assert!(matches!(
        errors[..],
        [Http2Error::MissingContinuation { stream: 3, .. }]
    ));

    let mut t = started();
    t.client_sends(frame(CONTINUATION, END_HEADERS, 3, &[0x82]));
    let (_, errors) = feed_collect(&mut Http2Conn::new(Limits::default()), &t.calls);
    assert!(errors[0]
        .to_string()
        .contains("no header block to continue"));
}

#[test]
fn oversized_table_size_update() {
    let mut t = started();
    let mut block = hpack_int(0x20, 5, 1 << 20);
    block.extend(t.client.block(&as_refs(&get("/x"))));
    t.client_sends(frame(HEADERS, END_HEADERS | END_STREAM, 3, &block));
    let (out, errors) = feed_collect(&mut Http2Conn::new(Limits::default()), &t.calls);
    assert_eq!(out.len(), 1);
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].to_string(),
        "HPACK decoding failed on stream 3: table size update to 1048576 bytes exceeds the \
         4096 bytes allowed by SETTINGS"
    );
}

#[test]
fn frame_over_the_maximum_size() {
    let mut t = started();
    t.request(3, &as_refs(&get("/x")), None);
    // 16385 bytes of DATA without SETTINGS_MAX_FRAME_SIZE raised.
    t.server_sends(frame(DATA, 0, 3, &vec![0; 16_385]));
    let (_, errors) = feed_collect(&mut Http2Conn::new(Limits::default()), &t.calls);
    assert!(matches!(
        errors[..],
        [Http2Error::FrameTooLarge {
            len: 16_385,
            max: 16_384,
            ..
        }]
    ));
}

#[test]
fn raised_max_frame_size_applies_after_the_ack() {
    let mut t = Transcript::new(true);
    t.client_sends([PREFACE.to_vec(), settings(&[(5, 65_536)])].concat());
    t.server_sends([settings(&[]), settings_ack()].concat());
    t.client_sends(settings_ack());
    t.request(1, &as_refs(&get("/big-frames")), None);
    let mut s = t.server.headers(1, &[(":status", "200")], false);
    s.extend(data(1, &[7; 60_000], true, 60_000));
    t.server_sends(s);
    let out = decode(&t.calls);
    assert_eq!(resp_body(&out[0]).len(), 60_000);
}

#[test]
fn header_block_over_the_buffer_limit() {
    let mut t = started();
    let mut h = get("/x");
    let big = "a".repeat(5000);
    h.push(("x-big", big));
    t.request(3, &as_refs(&h), None);
    let limits = Limits {
        max_header_buffer: 4096,
        ..Limits::default()
    };
    let (_, errors) = feed_collect(&mut Http2Conn::new(limits), &t.calls);
    assert_eq!(
        errors,
        [Http2Error::HeaderBlockTooLarge {
            stream: 3,
            limit: 4096
        }]
    );
}

#[test]
fn padding_longer_than_payload() {
    let mut t = started();
    t.request(3, &as_refs(&get("/x")), None);
    t.server_sends(frame(DATA, PADDED, 3, &[9, 1, 2]));
    let (_, errors) = feed_collect(&mut Http2Conn::new(Limits::default()), &t.calls);
    assert!(errors[0].to_string().contains("padding"), "{errors:?}");
}

#[test]
fn unknown_dynamic_index_is_an_error_when_the_table_is_complete() {
    let mut t = started();
    t.client_sends(frame(
        HEADERS,
        END_HEADERS | END_STREAM,
        3,
        &[0x82, 0x80 | 90],
    ));
    let (_, errors) = feed_collect(&mut Http2Conn::new(Limits::default()), &t.calls);
    assert!(matches!(errors[..], [Http2Error::Hpack { stream: 3, .. }]));
}

/// A connection whose client has sent requests (filling its table) before the capture starts.
fn long_lived() -> (Transcript, usize) {
    let mut t = Transcript::new(true).handshake();
    for k in 0..5u32 {
        let mut h = get(&format!("/early/{k}"));
        h.push(("x-session", "s-12345".into()));
        t.request(2 * k + 1, &as_refs(&h), None);
        let resp = [(":status", "200"), ("x-backend", "b7")];
        t.response(2 * k + 1, &resp, b"early");
    }
    let seen_from = t.calls.len();
    // Stream 11 is under way: its request went out before the attach.
    let mut h = get("/in-flight");
    h.push(("x-session", "s-12345".into()));
    t.request(11, &as_refs(&h), None);
    t.response(11, &[(":status", "202"), ("x-backend", "b7")], b"");
    for k in 6..9u32 {
        let mut h = get(&format!("/late/{k}"));
        h.push(("x-session", "s-12345".into()));
        h.push(("x-new", format!("n{k}")));
        t.request(2 * k + 1, &as_refs(&h), None);
        let resp = [(":status", "200"), ("x-backend", "b7")];
        t.response(2 * k + 1, &resp, format!("late {k}").as_bytes());
    }
    (t, seen_from + 1)
}

#[test]
fn attach_mid_connection_keeps_decoding() {
    let (t, from) = long_lived();
    let mut conn = Http2Conn::attach(Limits::default(), None);
    let (out, errors) = feed_collect(&mut conn, &t.calls[from..]);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(conn.role(), Some(Role::Client));
    let ids: Vec<u32> = out.iter().map(|x| x.stream_id).collect();
    assert_eq!(ids, [11, 13, 15, 17]);
    // The response of stream 11 arrived without its request.
    assert_eq!(status(&out[0]), 202);
    assert_eq!(out[0].request.method, "");
    assert!(out[0].error.as_deref().unwrap().contains("mid-stream"));
    for x in &out[1..] {
        let k = (x.stream_id - 1) / 2;
        assert_eq!(x.request.method, "GET");
        assert_eq!(x.request.target, format!("/late/{k}"));
        assert_eq!(status(x), 200);
        assert_eq!(resp_body(x), format!("late {k}").as_bytes());
        // Entries inserted before the attach show as unknown, by index; new ones decode.
        assert_eq!(req_header(x, "x-session"), None);
        assert!(
            x.request
                .headers
                .iter()
                .any(|(n, v)| n.starts_with("<unknown hpack index ") && v.is_empty()),
            "{:?}",
            x.request.headers
        );
        assert_eq!(req_header(x, "x-new"), Some(format!("n{k}").as_str()));
        let r = x.response.as_ref().unwrap();
        assert!(r
            .headers
            .iter()
            .any(|(n, _)| n.starts_with("<unknown hpack")));
    }
    assert!(conn.stats().unknown_hpack_refs >= 6);
}

#[test]
fn attach_in_the_middle_of_a_frame() {
    let (t, from) = long_lived();
    // Start 3 bytes into the server's call carrying stream 11's response: resync finds the
    // next frame header.
    let mut calls = t.calls[from..].to_vec();
    let first_server = calls.iter().position(|(d, _)| *d == R).unwrap();
    calls[first_server].1.drain(..3);
    let mut conn = Http2Conn::attach(Limits::default(), Some(Role::Client));
    let (out, errors) = feed_collect(&mut conn, &calls);
    assert!(errors.is_empty(), "{errors:?}");
    let ids: Vec<u32> = out.iter().map(|x| x.stream_id).collect();
    // Stream 11's response HEADERS was cut: its request was never seen either, so it is gone.
    assert_eq!(ids, [13, 15, 17]);
}

#[test]
fn gap_inside_a_data_frame_keeps_the_stream() {
    let mut t = started();
    t.request(3, &as_refs(&get("/g")), None);
    let mut conn = Http2Conn::new(Limits::default());
    let mut out = Vec::new();
    for (n, (dir, bytes)) in t.calls.iter().enumerate() {
        out.extend(conn.feed(*dir, n as u64, bytes).unwrap());
    }
    let mut s = t.server.headers(3, &[(":status", "200")], false);
    let body = vec![b'q'; 3000];
    let d = data(3, &body, true, 16_384);
    s.extend_from_slice(&d[..1009]);
    out.extend(conn.feed(R, 50, &s).unwrap());
    conn.gap(R, 1000);
    out.extend(conn.feed(R, 51, &d[2009..]).unwrap());
    let more = [t.client.headers(5, &as_refs(&get("/after")), true)];
    out.extend(conn.feed(W, 52, &more[0]).unwrap());
    out.extend(conn.finish(60, "connection closed"));
    assert_eq!(out.len(), 3);
    let b = &out[1].response.as_ref().unwrap().body;
    assert_eq!(b.raw_len, 3000);
    assert!(b.truncated);
    assert_eq!(out[1].error, None);
    // The HPACK table of the reading direction was untouched by a gap in DATA.
    assert_eq!(out[2].request.target, "/after");
}

#[test]
fn gap_in_headers_degrades_that_direction() {
    let mut t = started();
    let mut conn = Http2Conn::new(Limits::default());
    for (n, (dir, bytes)) in t.calls.iter().enumerate() {
        conn.feed(*dir, n as u64, bytes).unwrap();
    }
    // A request with a new header is lost in a gap; the next one refers to its table entry.
    let mut h = get("/lost");
    h.push(("x-tenant", "acme".into()));
    let lost = t.client.headers(3, &as_refs(&h), true);
    conn.gap(W, lost.len() as u64);
    let mut h = get("/seen");
    h.push(("x-tenant", "acme".into()));
    let seen = t.client.headers(5, &as_refs(&h), true);
    assert!(conn.feed(W, 20, &seen).unwrap().is_empty());
    let r = t.server.headers(5, &[(":status", "200")], true);
    let mut out = conn.feed(R, 21, &r).unwrap();
    // The response to the lost request still becomes an exchange.
    let r3 = t.server.headers(3, &[(":status", "500")], true);
    out.extend(conn.feed(R, 22, &r3).unwrap());
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].request.target, "/seen");
    assert_eq!(req_header(&out[0], "x-tenant"), None);
    assert!(out[0].request.headers[6]
        .0
        .starts_with("<unknown hpack index"));
    assert_eq!(out[1].stream_id, 3);
    assert_eq!(status(&out[1]), 500);
}

#[test]
fn too_many_open_streams_are_reported_early() {
    let mut t = Transcript::new(true).handshake();
    for k in 0..1030u32 {
        t.request(2 * k + 1, &as_refs(&get("/s")), None);
    }
    let mut conn = Http2Conn::new(Limits::default());
    let mut early = 0;
    for (n, (dir, bytes)) in t.calls.iter().enumerate() {
        early += conn.feed(*dir, n as u64, bytes).unwrap().len();
    }
    assert_eq!(early, 6);
    assert_eq!(conn.stats().evicted_streams, 6);
    assert_eq!(conn.finish(0, "x").len(), 1024);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Arbitrary bytes after a real start never panic, and an error is reported at most once.
    #[test]
    fn random_bytes_never_panic(
        junk in proptest::collection::vec(any::<u8>(), 0..400),
        attach in any::<bool>(),
        cut in 0usize..400,
    ) {
        let t = started();
        let mut conn = if attach {
            Http2Conn::attach(Limits::default(), None)
        } else {
            Http2Conn::new(Limits::default())
        };
        let mut errors = 0;
        for (dir, bytes) in &t.calls {
            errors += usize::from(conn.feed(*dir, 1, bytes).is_err());
        }
        let cut = cut.min(junk.len());
        errors += usize::from(conn.feed(W, 2, &junk[..cut]).is_err());
        conn.gap(R, 7);
        errors += usize::from(conn.feed(R, 3, &junk[cut..]).is_err());
        errors += usize::from(conn.feed(W, 4, &junk).is_err());
        conn.finish(5, "closed");
        prop_assert!(errors <= 1);
    }
}

/// The benchmark's shape: many streams answered with 64 KiB in 16 KiB DATA frames, read by the
/// probes in 16 KiB chunks that straddle frame headers; the ring drops one chunk. The streams
/// whose frames were in the lost chunk are incomplete; every later stream decodes whole.
#[test]
fn a_lost_chunk_across_frames_spares_the_later_streams() {
    let mut t = started();
    let ids: Vec<u32> = (0..8).map(|k| 3 + 2 * k).collect();
    for &id in &ids {
        t.request(id, &as_refs(&get(&format!("/s{id}"))), None);
    }
    let mut conn = Http2Conn::new(Limits::default());
    let mut out = Vec::new();
    for (n, (dir, bytes)) in t.calls.iter().enumerate() {
        out.extend(conn.feed(*dir, n as u64, bytes).unwrap());
    }
    // The server's answers, one after the other, as one byte stream.
    let body = |id: u32| {
        (0..65536u32)
            .map(|k| b"{\"id\":12,\"name\":\"x\"}"[(k as usize + id as usize) % 20])
            .collect::<Vec<u8>>()
    };
    let mut stream = Vec::new();
    for &id in &ids {
        let status = [(":status", "200"), ("content-type", "application/json")];
        stream.extend(t.server.headers(id, &status, false));
        stream.extend(data(id, &body(id), true, 16_384));
    }
    let chunks: Vec<&[u8]> = stream.chunks(16_384).collect();
    let lost = 9; // inside the third response, across one of its frame headers
    for (n, c) in chunks.iter().enumerate() {
        if n == lost {
            conn.gap(R, c.len() as u64);
        } else {
            out.extend(conn.feed(R, 100 + n as u64, c).unwrap());
        }
    }
    out.extend(conn.finish(1000, "connection closed"));
    let whole: Vec<u32> = out
        .iter()
        .filter(|x| {
            x.error.is_none()
                && x.response
                    .as_ref()
                    .is_some_and(|r| !r.body.truncated && r.body.data == body(x.stream_id))
        })
        .map(|x| x.stream_id)
        .collect();
    let later: Vec<u32> = ids.iter().copied().filter(|&id| id > 7).collect();
    for id in &later {
        assert!(
            whole.contains(id),
            "stream {id} after the gap: whole {whole:?}\n{:?}",
            out.iter()
                .map(|x| (
                    x.stream_id,
                    x.error.clone(),
                    x.response
                        .as_ref()
                        .map(|r| (r.body.data.len(), r.body.truncated))
                ))
                .collect::<Vec<_>>()
        );
    }
}
