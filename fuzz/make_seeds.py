#!/usr/bin/env python3
"""Writes the seed corpus under fuzz/corpus/ (run from anywhere; needs python3, zstd CLI, and
the `brotli` module for the br seed). The files are committed; rerun only to change seeds.

Pipeline, hpack, grpc, body and curl seeds use the record container of fuzz/harness.rs:
`flags: u8, len: u16 LE, bytes[len]` repeated. For the pipeline targets (http1, http2) the
flags are: bit 0 direction (0 the process wrote, 1 it read), bit 1 bytes were lost before
this call, bit 2 the connection closes after it, bits 4-7 split the call into chunks of
16*(n+1) bytes when n > 0."""
import gzip, os, shutil, struct, subprocess, zlib

_gzip = gzip.compress
gzip.compress = lambda d: _gzip(d, mtime=0)  # repeatable seeds

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
W, R, CLOSE = 0, 1, 4


def recs(*rs):
    out = b""
    for flags, data in rs:
        out += bytes([flags]) + struct.pack("<H", len(data)) + data
    return out


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def zstd(data):
    return subprocess.run(["zstd", "-q", "-c"], input=data, capture_output=True, check=True).stdout


def brotli_(data):
    import brotli
    return brotli.compress(data)


def chunked(data, size):
    out = b""
    for i in range(0, len(data), size):
        part = data[i:i + size]
        out += b"%x\r\n" % len(part) + part + b"\r\n"
    return out


JSON = b'{"id":42,"name":"ada","tags":["a","b"],"nested":{"k":[1,2,3]}}\n'

# ---- HTTP/1.1 ----
put("http1", "get_200_cl.bin", recs(
    (W, b"GET /users/42?x=1 HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n"),
    (R, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(JSON) + JSON),
))
put("http1", "post_chunked_trailers.bin", recs(
    (W | 0x10, b"POST /ingest HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n" + chunked(JSON, 10) + b"0\r\n\r\n"),
    (R, b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-Sum: 5\r\n\r\n"),
))
gz = gzip.compress(JSON * 3)
put("http1", "keepalive_pipelined_gzip.bin", recs(
    (W, b"GET /a HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n"),
    (R, b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(gz) + gz
        + b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno\n"),
))
put("http1", "server_head_204_304.bin", recs(
    (R, b"HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n"),
    (W, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"),
    (R, b"DELETE /x HTTP/1.1\r\nHost: h\r\n\r\n"),
    (W, b"HTTP/1.1 204 No Content\r\n\r\n"),
    (R, b"GET /x HTTP/1.1\r\nHost: h\r\nIf-None-Match: \"e\"\r\n\r\n"),
    (W, b"HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\n\r\n"),
))
put("http1", "until_close_and_gap.bin", recs(
    (W, b"GET /stream HTTP/1.0\r\nHost: h\r\n\r\n"),
    (R, b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst part "),
    (R | 2, b"after a gap"),
    (R | CLOSE, b" and the end"),
))
put("http1", "expect_100_deflate_br_zstd.bin", recs(
    (W, b"PUT /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"),
    (R, b"HTTP/1.1 100 Continue\r\n\r\n"),
    (W, b"data"),
    (R, b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: %d\r\n\r\n" % len(zlib.compress(JSON)) + zlib.compress(JSON)),
    (W, b"GET /br HTTP/1.1\r\nHost: h\r\n\r\n"),
    (R, b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: %d\r\n\r\n" % len(brotli_(JSON)) + brotli_(JSON)),
    (W, b"GET /zstd HTTP/1.1\r\nHost: h\r\n\r\n"),
    (R, b"HTTP/1.1 200 OK\r\nContent-Encoding: zstd\r\nContent-Length: %d\r\n\r\n" % len(zstd(JSON)) + zstd(JSON)),
))
put("http1", "multipart_upload.bin", recs(
    (W | 0x30, b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Type: multipart/form-data; boundary=xyz\r\nContent-Length: 83\r\n\r\n"
        b"--xyz\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\"\r\n\r\n\x00\x01\xff\r\n--xyz--\r\n"),
    (R, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
))

# ---- HTTP/2 ----
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(kind, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


DATA, HEADERS, PRIORITY, RST, SETTINGS, PUSH, PING, GOAWAY, WINDOW, CONT = range(10)
ES, EH, PADDED, PRIO = 1, 4, 8, 0x20
h = bytes.fromhex
# RFC 7541 Appendix C: C.3 requests, C.4 the same with Huffman, C.5 responses (table size 256),
# C.6 the same with Huffman.
C3 = [h("828684410f7777772e6578616d706c652e636f6d"), h("828684be58086e6f2d6361636865"),
      h("828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565")]
C4 = [h("828684418cf1e3c2e5f23a6ba0ab90f4ff"), h("828684be5886a8eb10649cbf"),
      h("828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf")]
C5 = [h("4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d"),
      h("4803333037c1c0bf"),
      h("88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31")]
C6 = [h("488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3"),
      h("4883640effc1c0bf"),
      h("88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007")]

settings = frame(SETTINGS, 0, 0, struct.pack(">HI", 1, 4096) + struct.pack(">HI", 3, 100) + struct.pack(">HI", 4, 65535))
ack = frame(SETTINGS, 1, 0, b"")
put("http2", "rfc7541_c3_c5.bin", recs(
    (W, PREFACE + settings + frame(HEADERS, ES | EH, 1, C3[0])),
    (R, settings + ack + frame(HEADERS, EH, 1, C5[0]) + frame(DATA, ES, 1, b"hello")),
    (W, ack + frame(HEADERS, ES | EH, 3, C3[1])),
    (R, frame(HEADERS, EH | ES, 3, C5[1])),
    (W, frame(HEADERS, ES | EH, 5, C3[2])),
    (R, frame(HEADERS, EH, 5, C5[2]) + frame(DATA, ES, 5, b"body")),
))
pad = lambda p, n: bytes([n]) + p + b"\x00" * n
put("http2", "rfc7541_c4_c6_flags.bin", recs(
    (W | 0x20, PREFACE + settings + frame(WINDOW, 0, 0, struct.pack(">I", 1 << 20))
        + frame(HEADERS, ES | EH | PRIO, 1, struct.pack(">IB", 0, 15) + C4[0])),
    (R, settings + frame(HEADERS, PADDED, 1, pad(C6[0][:20], 3)) + frame(CONT, EH, 1, C6[0][20:])
        + frame(DATA, PADDED, 1, pad(b"padded data", 5)) + frame(DATA, ES, 1, b"")),
    (W, frame(PING, 0, 0, b"12345678") + frame(HEADERS, ES | EH, 3, C4[1]) + frame(PRIORITY, 0, 3, struct.pack(">IB", 1, 1))),
    (R, frame(PING, 1, 0, b"12345678") + frame(RST, 0, 3, struct.pack(">I", 8))),
    (W, frame(HEADERS, ES | EH, 5, C4[2])),
    (R, frame(HEADERS, EH | ES, 5, C6[2]) + frame(GOAWAY, 0, 0, struct.pack(">II", 5, 0) + b"bye")),
))


def lit(name, value):
    # Literal header field without indexing, new name (RFC 7541 6.2.2), no Huffman.
    assert len(name) < 127 and len(value) < 127
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


def grpc_msg(payload, compressed=False):
    return bytes([1 if compressed else 0]) + struct.pack(">I", len(payload)) + payload


# A protobuf message: 1: "apitop", 2: 150, 3: {1: 1.5 (fixed64)}, 4: fixed32, 5: bytes.
PB = (b"\x0a\x06apitop" + b"\x10\x96\x01" + b"\x1a\x09\x09" + struct.pack("<d", 1.5)
      + b"\x25" + struct.pack("<I", 7) + b"\x2a\x03\x00\xff\x10")
req_h = (b"\x83\x86" + lit(b":path", b"/pkg.Svc/Get") + lit(b":authority", b"localhost:50051")
         + lit(b"content-type", b"application/grpc") + lit(b"te", b"trailers") + lit(b"grpc-encoding", b"gzip"))
resp_h = b"\x88" + lit(b"content-type", b"application/grpc+proto") + lit(b"grpc-encoding", b"gzip")
trailers = lit(b"grpc-status", b"5") + lit(b"grpc-message", b"not%20found %E2%9C%93")
put("http2", "grpc_unary_gzip.bin", recs(
    (W, PREFACE + settings + frame(HEADERS, EH, 1, req_h) + frame(DATA, ES, 1, grpc_msg(gzip.compress(PB), True))),
    (R, settings + frame(HEADERS, EH, 1, resp_h) + frame(DATA, 0, 1, grpc_msg(PB) + grpc_msg(gzip.compress(PB), True))
        + frame(HEADERS, ES | EH, 1, trailers)),
))
# h2c upgrade through HTTP/1.1.
put("http2", "h2c_upgrade.bin", recs(
    (W, b"GET /up HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n"),
    (R, b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n" + settings
        + frame(HEADERS, EH, 1, b"\x88" + lit(b"content-type", b"text/plain")) + frame(DATA, ES, 1, b"upgraded\n")),
    (W, PREFACE + settings + ack),
))

# ---- HPACK (one record per header block, one decoder for all; flags bit 0: tolerant
# decoder, bits 1-7 > 0: allowed table size = 64 * that before this block) ----
put("hpack", "c2_literals.bin", recs(
    (0, h("400a637573746f6d2d6b65790d637573746f6d2d686561646572")),
    (0, h("040c2f73616d706c652f70617468")), (0, h("100870617373776f726406736563726574")), (0, h("82"))))
put("hpack", "c3_requests.bin", recs(*[(0, b) for b in C3]))
put("hpack", "c4_requests_huffman.bin", recs(*[(0, b) for b in C4]))
put("hpack", "c5_responses.bin", recs((4 << 1, C5[0]), (0, C5[1]), (0, C5[2])))
put("hpack", "c6_responses_huffman.bin", recs((4 << 1, C6[0]), (0, C6[1]), (0, C6[2])))
put("hpack", "size_update_tolerant.bin", recs((1, b"\x3f\xe1\x1f\x82"), (1, b"\xbe\xbf\xc0"), (0, b"\x20\x82")))

# ---- gRPC bodies (first record: flags & 3 picks grpc-encoding None/gzip/deflate/identity,
# bit 2 a small cap; its bytes are the body; a second record is grpc-status, a third
# grpc-message) ----
put("grpc", "plain_two_messages.bin", recs((0, grpc_msg(PB) + grpc_msg(b"")), (0, b"0")))
put("grpc", "gzip_message.bin", recs((1, grpc_msg(gzip.compress(PB), True) + grpc_msg(PB)), (0, b"13"), (0, b"bad%20thing%zz")))
put("grpc", "deflate_cut_short.bin", recs((2 | 4, grpc_msg(zlib.compress(PB * 4), True) + grpc_msg(PB)[:7])))

# ---- protobuf (raw message bytes) ----
put("protobuf", "mixed.bin", PB)
put("protobuf", "group_and_nested.bin", b"\x0b\x08\x01\x13\x10\x02\x14\x0c" + b"\x12\x04\x0a\x02\x08\x01" + b"\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01")
put("protobuf", "strings.bin", b"\x0a\x02hi\x12\x05\xe2\x9c\x93ok\x1a\x00")

# ---- body decoder (first record: flags % 9 picks the content-encoding, bit 4 a small cap;
# every record's bytes are pushed; a record with bit 7 set is a gap of its length) ----
BIG = JSON * 20
put("body", "gzip.bin", recs((1, gzip.compress(BIG)[:50]), (0, gzip.compress(BIG)[50:])))
put("body", "deflate_zlib.bin", recs((3, zlib.compress(BIG))))
raw = zlib.compressobj(wbits=-15)
put("body", "deflate_raw.bin", recs((3, raw.compress(BIG) + raw.flush())))
put("body", "brotli.bin", recs((4, brotli_(BIG))))
put("body", "zstd.bin", recs((5, zstd(BIG))))
put("body", "zstd_two_frames_capped.bin", recs((5 | 0x10, zstd(JSON) + zstd(BIG))))
put("body", "gzip_then_br.bin", recs((6, brotli_(gzip.compress(JSON)))))
put("body", "identity_gap.bin", recs((0, b"abc"), (0x80, b"xxxx"), (0, b"def")))

# ---- recordings ----
fixtures = os.path.join(os.path.dirname(ROOT), "..", "capture", "tests", "fixtures", "http2")
shutil.copy(os.path.join(fixtures, "nghttp_post.rec"), os.path.join(ROOT, "record") if os.path.isdir(os.path.join(ROOT, "record")) else (os.makedirs(os.path.join(ROOT, "record")) or os.path.join(ROOT, "record")))


def rec_event(tag, payload):
    return bytes([tag]) + struct.pack("<I", len(payload)) + payload


def data_ev(ts, conn, direction, data):
    return rec_event(1, struct.pack("<QIQIIBIIB", ts, 7, conn, 7, 3, direction, len(data), 0, 0) + struct.pack("<I", len(data)) + data)


small = (b"APITOP\x00R" + struct.pack("<H", 1)
         + rec_event(5, struct.pack("<QI", 1, 7) + struct.pack("<I", 4) + b"curl")
         + rec_event(4, struct.pack("<QIQ", 2, 7, 1) + struct.pack("<I", 14) + b"127.0.0.1:5000" + struct.pack("<I", 12) + b"127.0.0.1:80")
         + rec_event(3, struct.pack("<QIQI", 2, 7, 1, 3))
         + data_ev(3, 1, 0, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
         + data_ev(4, 1, 1, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
         + rec_event(7, struct.pack("<QQQQQ", 5, 1, 2, 3, 4))
         + rec_event(99, b"future record kind")
         + rec_event(2, struct.pack("<QIQ", 6, 7, 1))
         + rec_event(6, struct.pack("<QI", 7, 7)))
put("record", "http1_small.rec", small)

# ---- filter expressions (UTF-8 text) ----
for i, expr in enumerate([
    "~m GET & (~c 404 | ~c 5xx)", "!~d ^api\\. and not ~u login", "~h 'user-agent:\\s*curl' | ~b ada",
    "~p 4242 ~t json", "'^https://api\\.example\\.com/users/42\\?x=1$'", "((~c 2xx))", "~x", "(~m", "~b \"a\\\"b\"",
]):
    put("filter", "expr%02d.txt" % i, expr.encode())

# ---- curl exchanges (records: method, target, host, header name, value, ..., body last when
# the count is even; first flags: bit 0 HTTP/2, bit 1 TLS, bit 2 body truncated) ----
put("curl", "get.bin", recs((2, b"GET"), (0, b"/users/42?q=a b&x='1'"), (0, b"api.example.com"),
                            (0, b"Accept-Encoding"), (0, b"gzip"), (0, b"Authorization"), (0, b"Bearer it's $HOME")))
put("curl", "post_binary_dash.bin", recs((2, b"POST"), (0, b"/upload"), (0, b"h.example"),
                                         (0, b"Content-Type"), (0, b"multipart/form-data; boundary=xyz"),
                                         (0, b"--xyz\r\n\x00\x01\xff%\\'\r\n--xyz--\r\n")))
put("curl", "h2_grpc.bin", recs((3, b"POST"), (0, b"/pkg.Svc/Get"), (0, b"localhost:50051"),
                                (0, b"content-type"), (0, b"application/grpc"), (0, b"x-id"), (0, b""),
                                (0, grpc_msg(PB))))
put("curl", "absolute_put_at.bin", recs((0, b"PUT"), (0, b"http://10.0.0.1:8080/x"), (0, b"api.example.com"), (0, b"@/etc/passwd")))
