//! Content decoding of HTTP/1 bodies: gzip, deflate, br, bounded output.
#[path = "fixtures/http1/support.rs"]
mod support;

use capture::exchange::Body;
use capture::http1::Http1Conn;
use support::*;

/// Decodes one GET and a response carrying `encoded` with the given Content-Encoding.
fn response_body(encoding: &str, encoded: &[u8], max_body: usize) -> Body {
    let res = response_cl(
        "200 OK",
        &format!("Content-Encoding: {encoding}\r\n"),
        encoded,
    );
    let mut conn = Http1Conn::new(limits(max_body));
    conn.feed(
        W,
        1,
        b"GET / HTTP/1.1\r\nAccept-Encoding: gzip, deflate, br\r\n\r\n",
    )
    .unwrap();
    let mut out = Vec::new();
    for piece in res.chunks(4096) {
        out.extend(conn.feed(R, 2, piece).unwrap());
    }
    assert_eq!(out.len(), 1);
    // Moved, not cloned: a clone would hide the allocated capacity.
    out.pop().unwrap().response.expect("a response").body
}

fn assert_decoded(body: &Body, original: &[u8], encoding: &str, wire_len: usize) {
    assert_eq!(body.decode_error, None);
    assert_eq!(body.content_encoding.as_deref(), Some(encoding));
    assert!(body.data == original, "{encoding}: decoded body differs");
    assert!(!body.truncated);
    assert_eq!(body.raw_len, wire_len as u64);
}

#[test]
fn gzip_x_gzip_deflate_and_br_decode_to_the_original() {
    let json = json_doc(500);
    let cases = [
        ("gzip", gzip(&json)),
        ("x-gzip", gzip(&json)),
        ("deflate", zlib(&json)),
        ("deflate", raw_deflate(&json)),
        ("br", brotli(&json)),
    ];
    for (enc, wire) in cases {
        assert!(wire.len() < json.len() / 2, "{enc} fixture is compressed");
        assert_decoded(&response_body(enc, &wire, 1 << 20), &json, enc, wire.len());
    }
}

#[test]
fn chunked_gzip_response() {
    let json = json_doc(300);
    let wire = gzip(&json);
    let mut res =
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    res.extend(chunked(&wire, 100));
    let out = decode(&[(W, b"GET / HTTP/1.1\r\n\r\n"), (R, &res)]);
    assert_decoded(&resp(&out[0]).body, &json, "gzip", wire.len());
}

#[test]
fn stacked_encodings_are_undone_in_reverse() {
    let json = json_doc(50);
    let wire = brotli(&gzip(&json));
    assert_decoded(
        &response_body("gzip, br", &wire, 1 << 20),
        &json,
        "gzip, br",
        wire.len(),
    );
}

#[test]
fn gzip_request_body_is_decoded() {
    let json = json_doc(40);
    let wire = gzip(&json);
    let mut req = format!(
        "POST /ingest HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        wire.len()
    )
    .into_bytes();
    req.extend_from_slice(&wire);
    let out = decode(&[(W, &req), (R, &response_cl("200 OK", "", b""))]);
    assert_decoded(&out[0].request.body, &json, "gzip", wire.len());
}

#[test]
fn unsupported_encoding_keeps_raw() {
    let body = response_body("compress", b"\x1f\x9draw", 1 << 20);
    assert_eq!(body.data, b"\x1f\x9draw");
    assert_eq!(
        body.decode_error.as_deref(),
        Some("unsupported content-encoding compress")
    );
    assert_eq!(body.content_encoding, None);
}

#[test]
fn zstd_response_body_is_decoded() {
    // Made by the zstd CLI; see capture/src/body.rs's unit tests.
    let wire = include_bytes!("fixtures/body/users.json.zst");
    let body = response_body("zstd", wire, 1 << 20);
    assert_eq!(body.decode_error, None);
    assert_eq!(body.data, include_bytes!("fixtures/body/users.json"));
    assert_eq!(body.content_encoding.as_deref(), Some("zstd"));
}

#[test]
fn corrupt_gzip_keeps_raw_and_reports() {
    let mut wire = gzip(&json_doc(100));
    let mid = wire.len() / 2;
    wire[mid..].iter_mut().for_each(|b| *b ^= 0x5a);
    let body = response_body("gzip", &wire, 1 << 20);
    assert!(body.decode_error.is_some());
    assert_eq!(body.data, wire);
    assert!(!body.truncated);
}

#[test]
fn decoded_output_is_capped() {
    let json = json_doc(2000);
    let wire = gzip(&json);
    let cap = 1000;
    assert!(wire.len() > cap, "compressed input is over the cap too");
    let body = response_body("gzip", &wire, cap);
    assert_eq!(body.decode_error, None);
    assert_eq!(body.data, &json[..cap]);
    assert!(body.truncated);
    assert_eq!(body.raw_len, wire.len() as u64);
}

#[test]
fn empty_encoded_body_is_fine() {
    let body = response_body("gzip", b"", 1 << 20);
    assert_eq!(
        (body.data.len(), body.decode_error, body.truncated),
        (0, None, false)
    );
}

/// 200 MB of zeros, gzip-compressed to about 200 KB.
fn gzip_bomb() -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..200 {
        e.write_all(&zeros).unwrap();
    }
    e.finish().unwrap()
}

#[test]
fn gzip_bomb_stops_at_the_cap() {
    let bomb = gzip_bomb();
    let cap = 1 << 20;
    let body = response_body("gzip", &bomb, cap);
    assert_eq!(body.decode_error, None);
    assert_eq!(body.data.len(), cap);
    assert!(body.data.capacity() <= cap, "allocated past the cap");
    assert!(body.data.iter().all(|&b| b == 0));
    assert!(body.truncated);
    assert_eq!(body.raw_len, bomb.len() as u64);
    // That decoding stops reading the input at the cap (instead of inflating all 200 MB) is
    // checked in body.rs; `cargo bench -p capture --bench timings` prints how long this takes.
}

#[test]
fn brotli_bomb_stops_at_the_cap() {
    use std::io::Write;
    let mut wire = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut wire, 4096, 5, 22);
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..100 {
            w.write_all(&zeros).unwrap();
        }
    }
    let body = response_body("br", &wire, 100_000);
    assert_eq!(body.data.len(), 100_000);
    assert!(body.data.capacity() <= 100_000);
    assert!(body.truncated);
    assert_eq!(body.decode_error, None);
}

#[test]
fn cut_compressed_input_still_decodes_a_prefix() {
    // Incompressible data: the cap on kept input bytes is hit before the output cap.
    let data = noise(5000, 11);
    for (enc, wire) in [("gzip", gzip(&data)), ("br", brotli(&data))] {
        let body = response_body(enc, &wire, 1000);
        assert_eq!(body.decode_error, None, "{enc}");
        assert!(!body.data.is_empty() && body.data.len() <= 1000, "{enc}");
        assert_eq!(body.data, &data[..body.data.len()], "{enc}");
        assert!(body.truncated);
        assert_eq!(body.content_encoding.as_deref(), Some(enc));
    }
}
