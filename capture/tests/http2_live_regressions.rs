//! HTTP/2 decoder behaviour first seen on live traffic (tests/http2_live.rs).
#[path = "fixtures/http2/support.rs"]
mod support;

use support::*;

/// Go's server (caddy) ends a body with an empty END_STREAM DATA frame after the last bytes;
/// curl, having `content-length` bytes, closes the connection without reading it.
#[test]
fn body_complete_by_content_length_is_not_cut_short_at_close() {
    let mut t = Transcript::new(true).handshake();
    t.request(1, &as_refs(&get("/big.bin")), None);
    let mut s = t
        .server
        .headers(1, &[(":status", "200"), ("content-length", "10")], false);
    s.extend(data(1, b"0123456789", false, 100));
    t.server_sends(s);
    // A second stream with a shorter body than announced is still cut short.
    t.request(3, &as_refs(&get("/short")), None);
    let mut s = t
        .server
        .headers(3, &[(":status", "200"), ("content-length", "10")], false);
    s.extend(data(3, b"01234", false, 100));
    t.server_sends(s);
    let out = decode(&t.calls);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].stream_id, 1);
    assert_eq!(out[0].error, None);
    let body = &out[0].response.as_ref().unwrap().body;
    assert_eq!(body.data, b"0123456789");
    assert!(!body.truncated);
    assert_eq!(out[1].error.as_deref(), Some("connection closed"));
    assert!(out[1].response.as_ref().unwrap().body.truncated);
}
