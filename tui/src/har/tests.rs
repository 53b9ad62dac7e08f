use super::fields::{query_string, uri_safe};
use super::*;
use capture::exchange::{Body, Protocol, Request, Response, Role};
use serde_json::{json, Value};

fn body(data: &[u8]) -> Body {
    Body {
        raw_len: data.len() as u64,
        data: data.to_vec(),
        ..Default::default()
    }
}

fn pairs(h: &[(&str, &str)]) -> Vec<(String, String)> {
    h.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// A client's HTTP/1.1 POST over TLS with a query, cookies, a redirect and a JSON answer.
fn http1() -> Exchange {
    Exchange {
        id: 1,
        pid: 42,
        comm: "client".into(),
        protocol: Protocol::Http1,
        tls: true,
        role: Role::Client,
        conn_id: 9,
        local_addr: Some("127.0.0.1:50000".into()),
        peer_addr: Some("10.1.2.3:443".into()),
        stream_id: None,
        request: Request {
            method: "POST".into(),
            target: "/v1/items?q=a%20b&flag&x=1+2".into(),
            version: "HTTP/1.1".into(),
            headers: pairs(&[
                ("Host", "api.test"),
                ("Content-Type", "application/json"),
                ("Cookie", "session=abc; theme=dark"),
            ]),
            body: body(b"{\"n\":1}"),
        },
        response: Some(Response {
            status: 302,
            reason: "Found".into(),
            version: "HTTP/1.1".into(),
            headers: pairs(&[
                ("Content-Type", "application/json"),
                ("Location", "https://api.test/v1/items/7"),
                (
                    "Set-Cookie",
                    "id=xyz; Path=/; Domain=api.test; HttpOnly; Secure",
                ),
            ]),
            body: body(b"{\"id\":7}"),
            trailers: Vec::new(),
        }),
        start: 1_700_000_000_000_000_000,
        end: Some(1_700_000_000_012_500_000),
        request_end: Some(1_700_000_000_001_000_000),
        response_start: Some(1_700_000_000_011_000_000),
        error: None,
    }
}

/// A client's HTTP/2 GET: pseudo-headers, a binary response, trailers.
fn http2() -> Exchange {
    Exchange {
        protocol: Protocol::Http2,
        stream_id: Some(3),
        request: Request {
            method: "GET".into(),
            target: "/img?size=2".into(),
            version: "HTTP/2".into(),
            headers: pairs(&[
                (":method", "GET"),
                (":scheme", "https"),
                (":authority", "cdn.test:8443"),
                (":path", "/img?size=2"),
                ("accept", "*/*"),
            ]),
            body: Body::default(),
        },
        response: Some(Response {
            status: 200,
            reason: String::new(),
            version: "HTTP/2".into(),
            headers: pairs(&[(":status", "200"), ("content-type", "image/png")]),
            body: body(&[0x89, b'P', b'N', b'G', 0xff, 0x00]),
            trailers: pairs(&[("x-checksum", "1")]),
        }),
        ..http1()
    }
}

fn entry(x: &Exchange) -> Value {
    serde_json::to_value(Entry::new(x)).unwrap()
}

/// The document a writer makes of `xs`, parsed back.
fn document(xs: &[Exchange]) -> Value {
    let mut w = HarWriter::new(Vec::new()).unwrap();
    for x in xs {
        w.entry(x).unwrap();
    }
    let (out, n) = w.finish().unwrap();
    assert_eq!(n, xs.len());
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn http1_fields() {
    let e = entry(&http1());
    let rq = &e["request"];
    assert_eq!(rq["method"], "POST");
    assert_eq!(rq["url"], "https://api.test/v1/items?q=a%20b&flag&x=1+2");
    assert_eq!(rq["httpVersion"], "http/1.1");
    assert_eq!(
        rq["headers"][0],
        json!({"name": "Host", "value": "api.test"})
    );
    assert_eq!(
        rq["cookies"],
        json!([{"name": "session", "value": "abc"}, {"name": "theme", "value": "dark"}])
    );
    assert_eq!(rq["headersSize"], -1);
    assert_eq!(rq["bodySize"], 7);
    assert_eq!(
        rq["postData"],
        json!({"mimeType": "application/json", "text": "{\"n\":1}"})
    );
    let rs = &e["response"];
    assert_eq!(rs["status"], 302);
    assert_eq!(rs["statusText"], "Found");
    assert_eq!(rs["httpVersion"], "http/1.1");
    assert_eq!(rs["redirectURL"], "https://api.test/v1/items/7");
    assert_eq!(
        rs["cookies"],
        json!([{"name": "id", "value": "xyz", "path": "/", "domain": "api.test",
                "httpOnly": true, "secure": true}])
    );
    assert_eq!(
        rs["content"],
        json!({"size": 8, "mimeType": "application/json", "text": "{\"id\":7}"})
    );
    assert_eq!(rs["bodySize"], 8);
    assert!(rs.get("_trailers").is_none());
    assert_eq!(e["startedDateTime"], "2023-11-14T22:13:20Z");
    assert_eq!(e["serverIPAddress"], "10.1.2.3");
    assert_eq!(e["connection"], "9");
    assert_eq!(e["cache"], json!({}));
    assert_eq!(e["_apitop"]["pid"], 42);
    assert_eq!(e["_apitop"]["role"], "client");
    assert!(e.get("comment").is_none());
}

#[test]
fn query_strings_are_decoded_pairs() {
    let e = entry(&http1());
    assert_eq!(
        e["request"]["queryString"],
        json!([
            {"name": "q", "value": "a b"},
            {"name": "flag", "value": ""},
            {"name": "x", "value": "1 2"},
        ])
    );
    let q = query_string("http://h/p?a=%zz&b=%E2%82%AC&&c=%ff#frag=1");
    let got: Vec<_> = q
        .iter()
        .map(|q| (q.name.as_str(), q.value.as_str()))
        .collect();
    assert_eq!(got, [("a", "%zz"), ("b", "€"), ("c", "\u{fffd}")]);
    assert!(query_string("http://h/p").is_empty());
    assert!(query_string("http://h/p?a=%").len() == 1);
}

#[test]
fn http2_pseudo_headers_give_method_and_url_and_stay_listed() {
    let e = entry(&http2());
    let rq = &e["request"];
    assert_eq!(rq["method"], "GET");
    assert_eq!(rq["url"], "https://cdn.test:8443/img?size=2");
    assert_eq!(rq["httpVersion"], "http/2.0");
    assert_eq!(rq["headers"][0], json!({"name": ":method", "value": "GET"}));
    assert_eq!(rq["headers"].as_array().unwrap().len(), 5);
    assert_eq!(rq["queryString"], json!([{"name": "size", "value": "2"}]));
    assert!(rq.get("postData").is_none());
    assert_eq!(rq["bodySize"], 0);
    assert_eq!(e["response"]["httpVersion"], "http/2.0");
    assert_eq!(e["response"]["statusText"], "");
    assert_eq!(e["response"]["redirectURL"], "");
    assert_eq!(
        e["response"]["_trailers"],
        json!([{"name": "x-checksum", "value": "1"}])
    );
    assert_eq!(e["_apitop"]["stream_id"], 3);
}

#[test]
fn binary_bodies_are_base64() {
    let e = entry(&http2());
    let c = &e["response"]["content"];
    assert_eq!(c["encoding"], "base64");
    assert_eq!(c["text"], "iVBOR/8A");
    assert_eq!(c["size"], 6);
    assert_eq!(c["mimeType"], "image/png");
    let mut x = http1();
    x.request.body = body(&[0xff, 0xfe, b'a']);
    x.request.headers.retain(|(n, _)| n != "Content-Type");
    let p = &entry(&x)["request"]["postData"];
    assert_eq!(p["text"], "//5h");
    assert_eq!(p["_encoding"], "base64");
    assert_eq!(p["mimeType"], "");
    assert!(p["comment"].as_str().unwrap().contains("base64"));
    // Text stays text, with no encoding.
    assert!(entry(&http1())["response"]["content"]
        .get("encoding")
        .is_none());
}

#[test]
fn decoded_truncated_and_evicted_bodies_say_so() {
    let mut x = http1();
    let r = x.response.as_mut().unwrap();
    r.body.content_encoding = Some("gzip".into());
    r.body.raw_len = 5;
    let c = entry(&x)["response"]["content"].clone();
    assert_eq!(
        (c["size"].clone(), c["compression"].clone()),
        (json!(8), json!(3))
    );
    let r = x.response.as_mut().unwrap();
    r.body.truncated = true;
    let c = entry(&x)["response"]["content"].clone();
    assert!(c.get("compression").is_none());
    assert!(c["comment"].as_str().unwrap().contains("truncated"));
    let r = x.response.as_mut().unwrap();
    r.body.evicted = true;
    r.body.data.clear();
    let c = entry(&x)["response"]["content"].clone();
    assert!(c["comment"].as_str().unwrap().contains("evicted"));
}

#[test]
fn timings_are_numbers_and_match_the_exchange() {
    let x = http1();
    let e = entry(&x);
    let t = &e["timings"];
    for k in ["blocked", "dns", "connect", "ssl"] {
        assert_eq!(t[k], -1.0, "{k}");
    }
    assert_eq!(t["send"], 1.0);
    assert_eq!(t["wait"], 10.0);
    assert_eq!(t["receive"], 1.5);
    assert_eq!(e["time"], 12.5);
    let sum = |t: &Timings| t.send + t.wait + t.receive;
    assert_eq!(sum(&timings(&x)), x.duration_ns().unwrap() as f64 / 1e6);
    // Instants not known: their phases are 0, the time goes to wait.
    let mut y = http1();
    y.request_end = None;
    y.response_start = None;
    let t = timings(&y);
    assert_eq!((t.send, t.wait, t.receive), (0.0, 12.5, 0.0));
    // Out of order (the response began before the request ended): clamped, never negative.
    y.request_end = Some(x.start + 5_000_000);
    y.response_start = Some(x.start + 2_000_000);
    let t = timings(&y);
    assert_eq!((t.send, t.wait, t.receive), (5.0, 0.0, 7.5));
    // A request end after the response's end (clock order broken): still within the exchange.
    y.request_end = Some(x.start + 99_000_000);
    y.response_start = None;
    assert_eq!(sum(&timings(&y)), 12.5);
    // Sent, never answered: the send is known, the rest is 0.
    let mut sent = http1();
    sent.response = None;
    sent.end = None;
    sent.response_start = None;
    let t = timings(&sent);
    assert_eq!((t.send, t.wait, t.receive), (1.0, 0.0, 0.0));
    // No response, no end: still numbers, none negative among the required ones.
    let mut open = http1();
    open.response = None;
    open.end = None;
    open.request_end = None;
    open.response_start = None;
    open.error = Some("connection closed".into());
    let e = entry(&open);
    for k in ["send", "wait", "receive"] {
        assert_eq!(e["timings"][k], 0.0, "{k}");
    }
    assert_eq!(e["time"], 0.0);
    assert_eq!(e["response"]["status"], 0);
    assert_eq!(e["response"]["bodySize"], -1);
    assert_eq!(e["comment"], "connection closed");
    assert_eq!(e["_apitop"]["error"], "connection closed");
    open.local_addr = None;
    open.peer_addr = None;
    let text = serde_json::to_string(&entry(&open)).unwrap();
    assert!(!text.contains("null"), "{text}");
}

#[test]
fn masking_is_kept() {
    let mut x = http1();
    x.request.headers[2].1 = "session=c00kie1; theme=c00kie2".into();
    x.response.as_mut().unwrap().headers[2].1 = "id=c00kie3; Path=/; HttpOnly".into();
    x.request
        .headers
        .push(("Authorization".into(), "Bearer s3cr3t-token".into()));
    x.request
        .headers
        .push(("X-Api-Key".into(), "k3y-value".into()));
    capture::mask::mask_exchange(&mut x);
    let text = serde_json::to_string(&entry(&x)).unwrap();
    for secret in ["s3cr3t-token", "k3y-value", "c00kie"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    let e = entry(&x);
    assert_eq!(
        e["request"]["cookies"],
        json!([{"name": "session", "value": "***"}, {"name": "theme", "value": "***"}])
    );
    assert_eq!(e["response"]["cookies"][0]["value"], "***");
    assert_eq!(e["response"]["cookies"][0]["path"], "/");
}

#[test]
fn server_side_exchange_names_its_own_address() {
    let mut x = http1();
    x.role = Role::Server;
    x.local_addr = Some("[::1]:8443".into());
    x.tls = false;
    let e = entry(&x);
    assert_eq!(e["serverIPAddress"], "::1");
    assert_eq!(e["_apitop"]["role"], "server");
    assert!(e["request"]["url"].as_str().unwrap().starts_with("http://"));
    x.local_addr = None;
    assert!(entry(&x).get("serverIPAddress").is_none());
}

#[test]
fn urls_are_uris() {
    assert_eq!(
        uri_safe("https://h/a b?q=\"é\""),
        "https://h/a%20b?q=%22%C3%A9%22"
    );
    assert_eq!(uri_safe("https://h/a%20b"), "https://h/a%20b");
    let mut x = http1();
    x.request.target = "/odd path|x".into();
    assert_eq!(
        entry(&x)["request"]["url"],
        "https://api.test/odd%20path%7Cx"
    );
}

#[test]
fn document_is_har_1_2_with_one_entry_per_line() {
    let doc = document(&[http1(), http2()]);
    assert_eq!(doc["log"]["version"], "1.2");
    assert_eq!(doc["log"]["creator"]["name"], "apitop");
    assert_eq!(doc["log"]["creator"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(doc["log"]["entries"].as_array().unwrap().len(), 2);
    assert_eq!(document(&[])["log"]["entries"], json!([]));
    // A run killed before `finish` leaves whole entries, one per line.
    let mut w = HarWriter::new(Vec::new()).unwrap();
    w.entry(&http1()).unwrap();
    w.entry(&http2()).unwrap();
    let cut = String::from_utf8(w.out.clone()).unwrap();
    let lines: Vec<&str> = cut.lines().collect();
    assert_eq!(lines.len(), 3);
    let second: Value = serde_json::from_str(lines[2]).unwrap();
    assert_eq!(second["request"]["method"], "GET");
    let repaired: Value = serde_json::from_str(&format!("{cut}]}}}}")).unwrap();
    assert_eq!(repaired["log"]["entries"].as_array().unwrap().len(), 2);
}

#[test]
fn write_har_creates_a_private_file_and_refuses_symlinks() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("apitop-har-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("out.har");
    let _ = std::fs::remove_file(&path);
    let xs = [http1(), http2()];
    assert_eq!(write_har(&path, xs.iter()).unwrap(), 2);
    let doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(doc["log"]["entries"].as_array().unwrap().len(), 2);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let link = dir.join("link.har");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&path, &link).unwrap();
    let err = format!("{:#}", write_har(&link, xs.iter()).unwrap_err());
    assert!(err.contains("symbolic link"), "{err}");
    // The streaming file writer ends the same way.
    let streamed = dir.join("streamed.har");
    let _ = std::fs::remove_file(&streamed);
    let mut w = create(&streamed).unwrap();
    w.entry(&http1()).unwrap();
    w.flush().unwrap();
    assert_eq!(close(w).unwrap(), 1);
    let doc: Value = serde_json::from_slice(&std::fs::read(&streamed).unwrap()).unwrap();
    assert_eq!(doc["log"]["entries"][0]["request"]["method"], "POST");
    let _ = std::fs::remove_dir_all(&dir);
}
