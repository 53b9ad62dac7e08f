//! "Copy as…": every format's snippet is run for real (sh, bash, HTTPie, python3, node, a raw
//! socket) against a loopback server, and what the server received is compared with the
//! captured request: method, target, headers, exact body bytes. A program that
//! scripts/test-deps.sh installs but is missing skips its test with a printed reason, unless
//! `APITOP_REQUIRE_EBPF=1` (CI).
mod ui_support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::thread::JoinHandle;
use std::time::Duration;

use apitop::ui::copy_as::{raw, snippet, Format};
use capture::exchange::{Exchange, Protocol};
use ui_support::*;

/// What the loopback server read off the socket.
#[derive(Debug)]
struct Received {
    method: String,
    target: String,
    /// Lower-case names; repeated names folded as HTTP allows (Cookie with `; `).
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn fold(headers: impl IntoIterator<Item = (String, String)>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (n, v) in headers {
        let n = n.to_ascii_lowercase();
        match out.iter_mut().find(|(m, _)| *m == n) {
            Some((_, old)) => {
                old.push_str(if n == "cookie" { "; " } else { ", " });
                old.push_str(&v);
            }
            None => out.push((n, v)),
        }
    }
    out
}

/// Serves one HTTP/1.1 request on loopback (Content-Length or chunked body) and answers 200.
fn server() -> (u16, JoinHandle<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().expect("addr").port();
    let handle = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let mut got = Vec::new();
        let mut buf = [0u8; 8192];
        let mut fill = |got: &mut Vec<u8>, s: &mut TcpStream| {
            let n = s.read(&mut buf).expect("read");
            assert!(
                n > 0,
                "connection closed early: {:?}",
                String::from_utf8_lossy(got)
            );
            got.extend_from_slice(&buf[..n]);
        };
        let head_end = loop {
            if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            fill(&mut got, &mut s);
        };
        let head = String::from_utf8_lossy(&got[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut first = lines.next().expect("request line").split(' ');
        let method = first.next().unwrap_or_default().to_string();
        let target = first.next().unwrap_or_default().to_string();
        let headers = fold(lines.filter(|l| !l.is_empty()).map(|l| {
            let (n, v) = l.split_once(':').expect("header line");
            (n.to_string(), v.trim_start_matches([' ', '\t']).to_string())
        }));
        let get = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        if get("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
            s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").expect("100");
        }
        let body = if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            let mut body = Vec::new();
            let mut at = head_end;
            loop {
                let line_end = loop {
                    if let Some(i) = got[at..].windows(2).position(|w| w == b"\r\n") {
                        break at + i;
                    }
                    fill(&mut got, &mut s);
                };
                let size = usize::from_str_radix(
                    String::from_utf8_lossy(&got[at..line_end])
                        .split(';')
                        .next()
                        .unwrap_or(""),
                    16,
                )
                .expect("chunk size");
                while got.len() < line_end + 2 + size + 2 {
                    fill(&mut got, &mut s);
                }
                body.extend_from_slice(&got[line_end + 2..line_end + 2 + size]);
                at = line_end + 2 + size + 2;
                if size == 0 {
                    break body;
                }
            }
        } else {
            let len: usize = get("content-length").map_or(0, |v| v.parse().expect("length"));
            while got.len() < head_end + len {
                fill(&mut got, &mut s);
            }
            got[head_end..head_end + len].to_vec()
        };
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
            .expect("respond");
        Received {
            method,
            target,
            headers,
            body,
        }
    });
    (port, handle)
}

/// The test's exchanges, aimed at `port` over plain HTTP.
fn cases(port: u16) -> Vec<(&'static str, Exchange)> {
    let host = format!("127.0.0.1:{port}");
    let plain = |e: Exchange| Exchange { tls: false, ..e };
    let mut binary =
        b"--xyz\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.bin\"\r\n\r\n".to_vec();
    binary.extend_from_slice(&[0, 1, 0xff, 0x80, 0xfe, b'%', b'\\', b'\'', b'"', b'$', b'`']);
    binary.extend_from_slice(b"\n\x7f\r\n--xyz--\r\n");
    let mut get = plain(ex(
        1,
        "GET",
        &host,
        "/users/42?q=a%20b&x=1&home=$HOME",
        Some(200),
        1,
    ));
    get.request.headers.extend([
        ("Authorization".into(), "Bearer it's $HOME \"q\" \\n".into()),
        ("X-Empty".into(), "".into()),
        ("X-Eq".into(), "=starts@with=".into()),
        ("Cookie".into(), "a=1; b=2".into()),
    ]);
    let mut h2 = plain(ex(2, "GET", &host, "/v1/items?page=2", Some(200), 1));
    h2.protocol = Protocol::Http2;
    h2.request.headers = vec![
        (":method".into(), "GET".into()),
        (":scheme".into(), "http".into()),
        (":authority".into(), host.clone()),
        (":path".into(), "/v1/items?page=2".into()),
        ("user-agent".into(), "grpc-less/1".into()),
        ("cookie".into(), "a=1".into()),
        ("cookie".into(), "b=2".into()),
        ("x-id".into(), "7".into()),
    ];
    vec![
        ("get", get),
        (
            "binary",
            with_request_body(
                plain(ex(3, "POST", &host, "/upload", Some(200), 1)),
                "multipart/form-data; boundary=xyz",
                &binary,
            ),
        ),
        (
            "json",
            with_request_body(
                plain(ex(4, "PUT", &host, "/users/1", Some(200), 1)),
                "application/json",
                "{\"name\":\"O'Brien\",\n \"tag\":\"$x `id` \\\\ 100% é\"}".as_bytes(),
            ),
        ),
        (
            "dash",
            with_request_body(
                plain(ex(5, "PATCH", &host, "/p", Some(200), 1)),
                "text/plain",
                b"-n",
            ),
        ),
        (
            "at",
            with_request_body(
                plain(ex(6, "POST", &host, "/a", Some(200), 1)),
                "text/plain",
                b"@/etc/passwd",
            ),
        ),
        ("http2", h2),
    ]
}

/// The server must have received the captured request: method, target, every header a client
/// does not derive itself (Host as the authority), and the exact body.
fn check(what: &str, e: &Exchange, got: &Received) {
    let r = &e.request;
    assert_eq!(got.method, r.method, "{what}: method");
    assert_eq!(got.target, e.path(), "{what}: target");
    let want = fold(
        r.headers
            .iter()
            .filter(|(n, _)| !n.starts_with(':') && !n.eq_ignore_ascii_case("content-length"))
            .cloned(),
    );
    for (name, value) in &want {
        let have = got.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        assert_eq!(
            have,
            Some(value),
            "{what}: header {name} in {:?}",
            got.headers
        );
    }
    assert_eq!(
        got.headers
            .iter()
            .find(|(n, _)| n == "host")
            .map(|(_, v)| v.as_str()),
        Some(e.host_str()),
        "{what}: Host"
    );
    assert_eq!(got.body, r.body.data, "{what}: body");
}

/// Whether `program` can run; skips with a printed reason, or fails under
/// `APITOP_REQUIRE_EBPF=1` (CI, where scripts/test-deps.sh installs it).
fn available(test: &str, program: &str, args: &[&str]) -> bool {
    let ok = Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return true;
    }
    let reason = format!(
        "`{program} {}` does not run (scripts/test-deps.sh installs it)",
        args.join(" ")
    );
    if std::env::var("APITOP_REQUIRE_EBPF").as_deref() == Ok("1") {
        panic!("{test}: {reason}, and APITOP_REQUIRE_EBPF=1 forbids skipping");
    }
    eprintln!("SKIPPED {test}: {reason}");
    false
}

/// Runs `program args… <snippet>` for every case the format can express, against a fresh
/// server each, and checks what arrived.
fn run_each(format: Format, skip: &[&str], program: &str, args: &[&str]) {
    for (name, _) in cases(0) {
        if skip.contains(&name) {
            continue;
        }
        let (port, srv) = server();
        let e = cases(port)
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, e)| e)
            .expect("case");
        let s = snippet(format, &e).unwrap_or_else(|why| panic!("{format:?} {name}: {why}"));
        let out = Command::new(program)
            .args(args)
            .arg(&s.text)
            .env_remove("http_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("all_proxy")
            .env_remove("ALL_PROXY")
            .env("NO_PROXY", "*")
            .env("no_proxy", "*")
            .output()
            .unwrap_or_else(|err| panic!("{program}: {err}"));
        let what = format!("{format:?} {name} via {program}:\n{}\n", s.text);
        assert!(
            out.status.success(),
            "{what}stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        check(&what, &e, &srv.join().expect("server"));
    }
}

#[test]
fn curl_commands_send_the_request_in_sh_and_bash() {
    if !available("curl", "curl", &["--version"]) {
        return;
    }
    // curl sends HTTP/2 as HTTP/2 (prior knowledge), which this HTTP/1.1 server does not speak.
    run_each(Format::Curl, &["http2"], "sh", &["-c"]);
    run_each(Format::Curl, &["http2"], "bash", &["-c"]);
}

#[test]
fn httpie_commands_send_the_request() {
    if !available("httpie", "http", &["--version"]) {
        return;
    }
    run_each(Format::Httpie, &[], "sh", &["-c"]);
    run_each(Format::Httpie, &[], "bash", &["-c"]);
}

#[test]
fn python_requests_programs_send_the_request() {
    if !available("python", "python3", &["-c", "import requests"]) {
        return;
    }
    run_each(Format::Python, &[], "python3", &["-c"]);
}

#[test]
fn node_fetch_programs_send_the_request() {
    if !available(
        "fetch",
        "node",
        &["-e", "if (typeof fetch !== 'function') process.exit(1)"],
    ) {
        return;
    }
    run_each(Format::Fetch, &[], "node", &["-e"]);
}

#[test]
fn raw_requests_are_the_bytes_the_server_reads() {
    for (name, _) in cases(0) {
        let (port, srv) = server();
        let e = cases(port)
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, e)| e)
            .expect("case");
        let (bytes, _) = raw::request_bytes(&e).expect("raw bytes");
        // The copied text is those bytes whenever a clipboard can hold them.
        match snippet(Format::Raw, &e) {
            Ok(s) => assert_eq!(s.text.as_bytes(), bytes, "{name}"),
            Err(why) => {
                assert_eq!(name, "binary", "{why}");
                assert!(why.contains("NUL"), "{why}");
            }
        }
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.write_all(&bytes).expect("send");
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).expect("answer");
        assert!(answer.starts_with(b"HTTP/1.1 200"), "{name}");
        check(&format!("raw {name}"), &e, &srv.join().expect("server"));
    }
}

/// What a format cannot express is said: left out with a reason, or a note in the snippet.
#[test]
fn limits_are_stated() {
    let mut grpc = ex(1, "POST", "h:50051", "/demo.Greeter/SayHello", Some(200), 1);
    grpc.protocol = Protocol::Http2;
    grpc.request
        .headers
        .push(("content-type".into(), "application/grpc".into()));
    for f in [Format::Httpie, Format::Raw, Format::Python, Format::Fetch] {
        let why = snippet(f, &grpc).expect_err("gRPC needs HTTP/2");
        assert!(why.contains("gRPC needs HTTP/2"), "{f:?}: {why}");
    }
    assert!(snippet(Format::Curl, &grpc).is_ok());

    let mut h2 = ex(2, "GET", "h", "/x", Some(200), 1);
    h2.protocol = Protocol::Http2;
    for (f, comment) in [
        (Format::Httpie, "# "),
        (Format::Python, "# "),
        (Format::Fetch, "// "),
    ] {
        let s = snippet(f, &h2).expect("HTTP/2 over HTTP/1.1");
        assert!(
            s.text
                .starts_with(&format!("{comment}captured over HTTP/2")),
            "{f:?}: {}",
            s.text
        );
    }
    // Raw bytes carry no comments: the note is beside them.
    assert!(snippet(Format::Raw, &h2).expect("raw").notes[0].contains("HTTP/2"));

    let quote = ex(3, "GET", "h", "/a?x='1'", Some(200), 1);
    for f in [Format::Httpie, Format::Python, Format::Fetch] {
        let s = snippet(f, &quote).expect("snippet");
        assert!(s.text.contains("normalizes the URL"), "{f:?}: {}", s.text);
    }
    assert!(
        snippet(Format::Python, &ex(4, "GET", "h", "/a?x=1", Some(200), 1))
            .expect("snippet")
            .notes
            .is_empty()
    );

    let get_body = with_request_body(ex(5, "GET", "h", "/", Some(200), 1), "text/plain", b"x");
    assert!(snippet(Format::Fetch, &get_body)
        .expect_err("fetch: no GET body")
        .contains("body with GET"));
    assert!(snippet(Format::Python, &get_body).is_ok());

    let mut truncated = with_request_body(ex(6, "POST", "h", "/", Some(200), 1), "a/b", b"abc");
    truncated.request.body.truncated = true;
    truncated.request.body.raw_len = 10;
    for f in [
        Format::Curl,
        Format::Httpie,
        Format::Raw,
        Format::Python,
        Format::Fetch,
    ] {
        let s = snippet(f, &truncated).expect("snippet");
        assert!(s.notes.iter().any(|n| n.contains("3 of 10")), "{f:?}");
    }
}

/// A body that was content-decoded is sent decoded, so the header saying otherwise goes.
#[test]
fn decoded_bodies_lose_their_content_encoding() {
    let mut e = with_request_body(ex(1, "POST", "h", "/", Some(200), 1), "a/b", b"plain");
    e.request
        .headers
        .push(("Content-Encoding".into(), "gzip".into()));
    e.request.body.content_encoding = Some("gzip".into());
    for f in [
        Format::Curl,
        Format::Httpie,
        Format::Raw,
        Format::Python,
        Format::Fetch,
    ] {
        let s = snippet(f, &e).expect("snippet");
        let code: String = s
            .text
            .lines()
            .filter(|l| !l.starts_with("# ") && !l.starts_with("// "))
            .collect();
        assert!(
            !code.to_ascii_lowercase().contains("content-encoding"),
            "{f:?}: {}",
            s.text
        );
        assert!(
            s.notes.iter().any(|n| n.contains("content-decoded")),
            "{f:?}"
        );
    }
}
