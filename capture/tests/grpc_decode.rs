//! gRPC over the HTTP/2 decoder: message framing, compression, status, and the schema-less
//! protobuf tree.
#[path = "fixtures/http2/support.rs"]
mod support;

use capture::exchange::Response;
use capture::grpc::{self, body_messages, grpc_status, split_messages, GrpcStatus};
use capture::protobuf::{self, Value, WireType};
use serde_json::json;
use support::*;

/// Minimal protobuf encoder for the tests.
fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}
fn pb_varint(field: u64, v: u64) -> Vec<u8> {
    let mut o = Vec::new();
    varint(field << 3, &mut o);
    varint(v, &mut o);
    o
}
fn pb_bytes(field: u64, b: &[u8]) -> Vec<u8> {
    let mut o = Vec::new();
    varint(field << 3 | 2, &mut o);
    varint(b.len() as u64, &mut o);
    o.extend_from_slice(b);
    o
}
fn pb_fixed64(field: u64, v: f64) -> Vec<u8> {
    let mut o = Vec::new();
    varint(field << 3 | 1, &mut o);
    o.extend(v.to_bits().to_le_bytes());
    o
}
/// The 5-byte gRPC framing.
fn grpc_frame(compressed: bool, msg: &[u8]) -> Vec<u8> {
    let mut o = vec![u8::from(compressed)];
    o.extend((msg.len() as u32).to_be_bytes());
    o.extend_from_slice(msg);
    o
}

/// helloworld.HelloRequest-like: { name: "world", id: 42, meta: { tag: "t1", weight: 1.5 } }
fn hello() -> Vec<u8> {
    let meta = [pb_bytes(1, b"t1"), pb_fixed64(2, 1.5)].concat();
    [pb_bytes(1, b"world"), pb_varint(2, 42), pb_bytes(3, &meta)].concat()
}

fn grpc_request_headers(path: &str, gzip: bool) -> Vec<(&'static str, String)> {
    let mut h = vec![
        (":method", "POST".to_string()),
        (":scheme", "https".into()),
        (":path", path.into()),
        (":authority", "localhost:50051".into()),
        ("content-type", "application/grpc".into()),
        ("te", "trailers".into()),
    ];
    if gzip {
        h.push(("grpc-encoding", "gzip".into()));
    }
    h
}

#[test]
fn unary_call_decodes_to_a_tree() {
    let mut t = Transcript::new(true).handshake();
    let req = grpc_frame(false, &hello());
    let rh = grpc_request_headers("/helloworld.Greeter/SayHello", false);
    t.request(1, &as_refs(&rh), Some(&req));
    let reply = pb_bytes(1, b"Hello world");
    let mut s = t.server.headers(
        1,
        &[(":status", "200"), ("content-type", "application/grpc")],
        false,
    );
    s.extend(data(1, &grpc_frame(false, &reply), false, 100));
    s.extend(
        t.server
            .headers(1, &[("grpc-status", "0"), ("grpc-message", "")], true),
    );
    t.server_sends(s);
    let out = decode(&t.calls);
    assert_eq!(out.len(), 1);
    let x = &out[0];
    assert!(grpc::is_grpc(&x.request.headers));
    assert_eq!(
        grpc::method(&x.request.target),
        Some(("helloworld.Greeter", "SayHello"))
    );

    let msgs = body_messages(&x.request.headers, &x.request.body, 1 << 20);
    assert_eq!(msgs.messages.len(), 1);
    assert_eq!(msgs.trailing, 0);
    let m = &msgs.messages[0];
    assert!(!m.compressed);
    assert_eq!(m.wire_len as usize, hello().len());
    assert_eq!(
        m.render(),
        [
            "1: \"world\"",
            "2: 42",
            "3 {",
            "  1: \"t1\"",
            "  2: 0x3ff8000000000000",
            "}",
        ]
    );
    let fields = m.decode().unwrap();
    assert_eq!(fields[2].wire_type, WireType::Len);
    assert!(matches!(fields[2].value, Value::Message(_)));
    assert_eq!(
        protobuf::to_json(&fields),
        json!([
            {"number": 1, "wire_type": "len", "string": "world"},
            {"number": 2, "wire_type": "varint", "varint": 42},
            {"number": 3, "wire_type": "len", "message": [
                {"number": 1, "wire_type": "len", "string": "t1"},
                {"number": 2, "wire_type": "fixed64", "fixed64": 0x3ff8000000000000u64},
            ]},
        ])
    );

    let resp = x.response.as_ref().unwrap();
    let reply_msgs = body_messages(&resp.headers, &resp.body, 1 << 20);
    assert_eq!(reply_msgs.messages[0].render(), ["1: \"Hello world\""]);
    assert_eq!(
        grpc_status(resp),
        Some(GrpcStatus {
            code: 0,
            name: "OK",
            message: Some(String::new())
        })
    );
}

#[test]
fn server_stream_messages_split_across_frames() {
    let mut t = Transcript::new(true).handshake();
    let rh = grpc_request_headers("/feed.Feed/Watch", false);
    t.request(1, &as_refs(&rh), Some(&grpc_frame(false, &pb_varint(1, 3))));
    let events: Vec<Vec<u8>> = (0..3u64)
        .map(|k| {
            [
                pb_varint(1, k),
                pb_bytes(2, format!("event number {k}").as_bytes()),
            ]
            .concat()
        })
        .collect();
    let stream: Vec<u8> = events.iter().flat_map(|e| grpc_frame(false, e)).collect();
    let mut s = t.server.headers(
        1,
        &[
            (":status", "200"),
            ("content-type", "application/grpc+proto"),
        ],
        false,
    );
    // 7-byte DATA frames: prefixes and messages straddle frame boundaries.
    s.extend(data(1, &stream, false, 7));
    s.extend(t.server.headers(1, &[("grpc-status", "0")], true));
    t.server_sends(s);
    let out = decode(&t.calls);
    let resp = out[0].response.as_ref().unwrap();
    assert!(grpc::is_grpc(&resp.headers));
    let msgs = body_messages(&resp.headers, &resp.body, 1 << 20);
    assert_eq!(msgs.messages.len(), 3);
    for (k, m) in msgs.messages.iter().enumerate() {
        assert_eq!(
            m.render(),
            [format!("1: {k}"), format!("2: \"event number {k}\"")]
        );
    }
    assert_eq!(
        msgs.to_json()["messages"][2]["fields"][1],
        json!({"number": 2, "wire_type": "len", "string": "event number 2"})
    );
}

#[test]
fn gzip_compressed_message() {
    let mut t = Transcript::new(true).handshake();
    let rh = grpc_request_headers("/helloworld.Greeter/SayHello", true);
    let body = grpc_frame(true, &gzip(&hello()));
    t.request(1, &as_refs(&rh), Some(&body));
    t.response(1, &[(":status", "200"), ("grpc-status", "0")], b"");
    let out = decode(&t.calls);
    let msgs = body_messages(&out[0].request.headers, &out[0].request.body, 1 << 20);
    let m = &msgs.messages[0];
    assert!(m.compressed);
    assert_eq!(m.error, None);
    assert_eq!(m.data, hello());
    assert_eq!(m.render()[0], "1: \"world\"");
}

#[test]
fn compression_problems_are_reported_not_fatal() {
    let framed = [
        grpc_frame(true, b"not gzip at all"),
        grpc_frame(false, &pb_varint(1, 1)),
    ]
    .concat();
    let m = split_messages(&framed, Some("gzip"), 1 << 20);
    assert_eq!(m.messages.len(), 2);
    assert!(m.messages[0].error.as_deref().unwrap().contains("gzip"));
    assert_eq!(m.messages[1].render(), ["1: 1"]);

    let m = split_messages(&grpc_frame(true, b"x"), Some("snappy"), 1 << 20);
    assert_eq!(
        m.messages[0].error.as_deref(),
        Some("unsupported grpc-encoding snappy")
    );
    let m = split_messages(&grpc_frame(true, b"x"), None, 1 << 20);
    assert!(m.messages[0].error.is_some());
}

#[test]
fn decompression_is_capped() {
    let bomb = gzip(&vec![0u8; 10 << 20]);
    let m = split_messages(&grpc_frame(true, &bomb), Some("gzip"), 4096);
    assert_eq!(m.messages[0].data.len(), 4096);
    assert!(m.messages[0].truncated);
}

#[test]
fn cut_body_leaves_a_truncated_last_message() {
    let framed = [
        grpc_frame(false, &pb_varint(1, 7)),
        grpc_frame(false, &pb_bytes(2, &[b'a'; 100])),
    ]
    .concat();
    let m = split_messages(&framed[..40], None, 1 << 20);
    assert_eq!(m.messages.len(), 2);
    assert!(!m.messages[0].truncated);
    assert!(m.messages[1].truncated);
    assert_eq!(m.messages[1].wire_len, 102);
    // A partial prefix is trailing bytes, not a message.
    let m = split_messages(&framed[..9], None, 1 << 20);
    assert_eq!((m.messages.len(), m.trailing), (1, 2));
}

#[test]
fn status_from_trailers_only_response() {
    let resp = Response {
        status: 200,
        headers: vec![
            ("content-type".into(), "application/grpc".into()),
            ("grpc-status".into(), "5".into()),
            (
                "grpc-message".into(),
                "user%20%22bob%22%20not%20found".into(),
            ),
        ],
        ..Response::default()
    };
    assert_eq!(
        grpc_status(&resp),
        Some(GrpcStatus {
            code: 5,
            name: "NOT_FOUND",
            message: Some("user \"bob\" not found".into())
        })
    );
    assert_eq!(grpc_status(&Response::default()), None);
    assert_eq!(grpc::status_name(99), "UNKNOWN_CODE");
}

#[test]
fn method_paths() {
    assert_eq!(grpc::method("/a.B/C"), Some(("a.B", "C")));
    assert_eq!(grpc::method("/a.B/"), None);
    assert_eq!(grpc::method("/x/y/z"), None);
    assert_eq!(grpc::method("nope"), None);
    assert!(!grpc::is_grpc(&[(
        "content-type".into(),
        "application/grpc-web".into()
    )]));
}

#[test]
fn grpc_content_types() {
    let ct = |v: &str| grpc::is_grpc(&[("Content-Type".into(), v.into())]);
    for v in [
        "application/grpc",
        "application/grpc+proto",
        "Application/GRPC+json",
        " application/grpc;charset=utf-8 ",
    ] {
        assert!(ct(v), "{v}");
    }
    for v in [
        "application/grpcx",
        "application/grp",
        "text/grpc",
        "",
        "application/json",
    ] {
        assert!(!ct(v), "{v}");
    }
}
