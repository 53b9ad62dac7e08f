//! Bad input never panics: mutational fuzzing of the decoders on stable Rust (see
//! fuzz/harness.rs for the mutations, the budget and where failing inputs go; the seeds and
//! their format are in fuzz/corpus/ and fuzz/make_seeds.py).
#[path = "../../fuzz/harness.rs"]
mod harness;

use capture::body::BodyBuilder;
use capture::event::{ConnKey, Direction, Event, Limits};
use capture::exchange::{Exchange, Response};
use capture::grpc;
use capture::http2::hpack;
use capture::output::Output;
use capture::pipeline::Pipeline;
use capture::protobuf;
use harness::{fuzz, records};

/// Inputs are cut to this many bytes.
const MAX_LEN: usize = 4096;

/// Uses what a decoded exchange offers, as the UI and the JSON output do.
fn consume(ex: &Exchange) {
    let _ = (ex.url(), ex.path(), ex.host(), ex.duration_ns());
    let mut bodies = vec![(&ex.request.headers, &ex.request.body)];
    if let Some(r) = &ex.response {
        bodies.push((&r.headers, &r.body));
        let _ = grpc::grpc_status(r);
    }
    for (headers, body) in bodies {
        if grpc::is_grpc(headers) {
            let m = grpc::body_messages(headers, body, 1 << 16);
            let _ = m.to_json();
            for msg in &m.messages {
                let _ = msg.render();
            }
        }
    }
    let _ = grpc::method(&ex.path());
}

/// The http1/http2 input: calls on one connection (record flags in fuzz/make_seeds.py).
fn run_pipeline(input: &[u8]) {
    // Odd-length inputs run with small caps, to reach the cap paths too.
    let limits = if input.len() % 2 == 1 {
        Limits {
            max_body: 64,
            max_header_buffer: 256,
            max_connections: 2,
        }
    } else {
        Limits::default()
    };
    let mut p = Pipeline::new(limits);
    let mut out = Vec::new();
    let key = ConnKey { pid: 7, conn: 1 };
    let mut ts = 1u64;
    for (flags, bytes) in records(input) {
        let dir = if flags & 1 == 0 {
            Direction::Write
        } else {
            Direction::Read
        };
        let lost = if flags & 2 != 0 { 13 } else { 0 };
        let total = (bytes.len() + lost) as u32;
        let split = match flags >> 4 {
            0 => bytes.len().max(1),
            n => 16 * (usize::from(n) + 1),
        };
        for (n, chunk) in bytes.chunks(split).enumerate() {
            p.push(
                Event::Data {
                    ts,
                    key,
                    tid: 7,
                    fd: 3,
                    dir,
                    total,
                    offset: (lost + n * split) as u32,
                    bytes: chunk.to_vec(),
                    tls: flags & 8 != 0,
                },
                &mut out,
            );
        }
        if flags & 4 != 0 {
            p.push(Event::Close { ts, key }, &mut out);
        }
        ts += 1_000;
    }
    p.finish(ts, &mut out);
    let _ = p.stats();
    for o in &out {
        if let Output::Exchange(ex) = o {
            consume(ex);
        }
    }
}

#[test]
fn fuzz_http1() {
    fuzz("http1", 6000, MAX_LEN, run_pipeline);
}

#[test]
fn fuzz_http2() {
    fuzz("http2", 6000, MAX_LEN, run_pipeline);
}

#[test]
fn fuzz_hpack() {
    fuzz("hpack", 20000, MAX_LEN, |input| {
        let mut d = hpack::Decoder::new();
        for (i, (flags, block)) in records(input).into_iter().enumerate() {
            if i == 0 && flags & 1 != 0 {
                d = hpack::Decoder::tolerant(4096);
            }
            if flags >> 1 != 0 {
                d.set_allowed_size(64 * usize::from(flags >> 1));
            }
            let _ = d.decode(block, 1 << 16);
            let _ = (d.table_len(), d.unknown_refs(), d.allowed_size());
        }
    });
}

#[test]
fn fuzz_grpc() {
    fuzz("grpc", 10000, MAX_LEN, |input| {
        let recs = records(input);
        let Some(&(flags, body)) = recs.first() else {
            return;
        };
        let encoding =
            [None, Some("gzip"), Some("deflate"), Some("identity")][usize::from(flags & 3)];
        let cap = if flags & 4 != 0 { 16 } else { 1 << 16 };
        let m = grpc::split_messages(body, encoding, cap);
        let _ = m.to_json();
        for msg in &m.messages {
            let _ = msg.render();
        }
        let text = |i: usize| {
            recs.get(i)
                .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        };
        let mut resp = Response::default();
        if let Some(code) = text(1) {
            resp.trailers.push(("grpc-status".into(), code));
        }
        if let Some(msg) = text(2) {
            resp.trailers.push(("grpc-message".into(), msg));
        }
        let _ = grpc::grpc_status(&resp);
    });
}

#[test]
fn fuzz_protobuf() {
    fuzz("protobuf", 30000, MAX_LEN, |input| {
        if let Ok(fields) = protobuf::decode_raw(input) {
            let _ = protobuf::render(&fields);
            let _ = protobuf::to_json(&fields).to_string();
        }
    });
}

#[test]
fn fuzz_body() {
    const CODINGS: [Option<&str>; 9] = [
        None,
        Some("gzip"),
        Some("x-gzip"),
        Some("deflate"),
        Some("br"),
        Some("zstd"),
        Some("gzip, br"),
        Some("identity"),
        Some("zstd, gzip"),
    ];
    fuzz("body", 6000, MAX_LEN, |input| {
        let recs = records(input);
        let Some(&(flags, _)) = recs.first() else {
            return;
        };
        let cap = if flags & 0x10 != 0 { 100 } else { 1 << 20 };
        let mut b = BodyBuilder::new(cap, CODINGS[usize::from(flags) % 9]);
        for (f, bytes) in recs {
            if f & 0x80 != 0 {
                b.skip(bytes.len() as u64);
            } else {
                b.push(bytes);
            }
        }
        let body = b.finish();
        assert!(
            body.data.len() <= cap,
            "{} bytes kept over the cap {cap}",
            body.data.len()
        );
    });
}

#[test]
fn fuzz_record() {
    let dir = std::env::temp_dir().join(format!("apitop-fuzz-record-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("input.rec");
    fuzz("record", 2500, 16 * 1024, |input| {
        std::fs::write(&path, input).expect("write temp recording");
        let Ok(reader) = capture::record::Reader::open(&path) else {
            return;
        };
        let mut p = Pipeline::new(Limits::default());
        let mut out = Vec::new();
        let mut last = 0;
        for ev in reader.take(10_000) {
            let Ok(ev) = ev else { break };
            last = ev.ts();
            p.push(ev, &mut out);
        }
        p.finish(last, &mut out);
        for o in &out {
            if let Output::Exchange(ex) = o {
                consume(ex);
            }
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// The harness itself: the record container round-trips, mutation is repeatable.
#[test]
fn harness_is_deterministic() {
    let input = harness::encode_records(&[(1, b"abc"), (0, b""), (7, b"xyz")]);
    assert_eq!(
        records(&input),
        vec![(1u8, &b"abc"[..]), (0, &b""[..]), (7, &b"xyz"[..])]
    );
    let seeds = harness::corpus("http1");
    let a: Vec<_> = {
        let mut r = harness::Rng::new(9);
        (0..50)
            .map(|_| harness::mutate(&mut r, &seeds, MAX_LEN))
            .collect()
    };
    let mut r = harness::Rng::new(9);
    let b: Vec<_> = (0..50)
        .map(|_| harness::mutate(&mut r, &seeds, MAX_LEN))
        .collect();
    assert_eq!(a, b);
}

/// The pipeline seeds are what they claim: every one decodes to exchanges with responses, so
/// the mutations start from inputs that reach deep into the decoders.
#[test]
fn pipeline_seeds_decode() {
    for target in ["http1", "http2"] {
        for (name, data) in harness::corpus(target) {
            if name.starts_with("regress_") {
                continue;
            }
            let mut exchanges = Vec::new();
            let mut p = Pipeline::new(Limits::default());
            let mut out = Vec::new();
            let key = ConnKey { pid: 7, conn: 1 };
            for (i, (flags, bytes)) in records(&data).into_iter().enumerate() {
                let dir = if flags & 1 == 0 {
                    Direction::Write
                } else {
                    Direction::Read
                };
                let ev = Event::Data {
                    ts: i as u64 + 1,
                    key,
                    tid: 7,
                    fd: 3,
                    dir,
                    total: bytes.len() as u32,
                    offset: 0,
                    bytes: bytes.to_vec(),
                    tls: false,
                };
                p.push(ev, &mut out);
            }
            p.finish(1000, &mut out);
            for o in out {
                if let Output::Exchange(ex) = o {
                    exchanges.push(*ex);
                }
            }
            assert!(!exchanges.is_empty(), "{target}/{name}: no exchange");
            assert!(
                exchanges.iter().any(|e| e.response.is_some()),
                "{target}/{name}: no response: {exchanges:#?}"
            );
        }
    }
}

/// The RFC 7541 Appendix C seeds are what the RFC says they are.
#[test]
fn hpack_seeds_decode_as_in_rfc7541() {
    for (name, data) in harness::corpus("hpack") {
        if name.starts_with("size_update") {
            continue;
        }
        let mut d = hpack::Decoder::new();
        for (flags, block) in records(&data) {
            if flags >> 1 != 0 {
                d.set_allowed_size(64 * usize::from(flags >> 1));
            }
            d.decode(block, 1 << 16)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
