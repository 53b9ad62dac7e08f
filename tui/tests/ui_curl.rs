//! Copy as curl: the command is parsed back with a POSIX shell lexer and checked.
mod ui_support;

use apitop::ui::curl::{curl, printf_format};
use capture::exchange::Protocol;
use ui_support::*;

fn argv(cmd: &str) -> Vec<String> {
    shlex::split(cmd).unwrap_or_else(|| panic!("not shell-parseable: {cmd}"))
}

/// Interprets a printf format's `\ooo` escapes (what POSIX printf does with them).
fn printf_bytes(fmt: &str) -> Vec<u8> {
    let b = fmt.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            let oct = std::str::from_utf8(&b[i + 1..i + 4]).expect("octal");
            out.push(u8::from_str_radix(oct, 8).expect("octal digits"));
            i += 4;
        } else {
            assert_ne!(b[i], b'%', "a bare % would be a conversion");
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

#[test]
fn get_is_minimal_and_drops_derived_headers() {
    let mut e = ex(
        1,
        "GET",
        "api.example.com",
        "/users/42?q=a b&x='1'",
        Some(200),
        1,
    );
    e.request
        .headers
        .push(("Connection".into(), "keep-alive".into()));
    e.request
        .headers
        .push(("Accept-Encoding".into(), "gzip, br".into()));
    e.request
        .headers
        .push(("Authorization".into(), "Bearer it's $HOME".into()));
    e.request.headers.push(("X-Empty".into(), "".into()));
    let c = curl(&e);
    let a = argv(&c.command);
    assert_eq!(
        a,
        [
            "curl",
            "-H",
            "User-Agent: curl/8.5.0",
            "-H",
            "Accept: */*",
            "--compressed",
            "-H",
            "Authorization: Bearer it's $HOME",
            "-H",
            "X-Empty;",
            "https://api.example.com/users/42?q=a b&x='1'",
        ]
    );
    assert!(c.warnings.is_empty());
    // Nothing is left for the shell to expand.
    assert!(!c.command.contains("\"$HOME"));
}

#[test]
fn post_with_text_body_and_other_methods() {
    let e = with_request_body(
        ex(1, "POST", "api.example.com", "/users", Some(201), 1),
        "application/json",
        b"{\"name\":\"O'Brien\",\n \"tag\":\"$x\"}",
    );
    let a = argv(&curl(&e).command);
    assert_eq!(a[0], "curl");
    assert!(
        !a.contains(&"-X".to_string()),
        "POST is implied by --data-binary"
    );
    assert!(!a.iter().any(|x| x.starts_with("Content-Length")));
    assert!(a.contains(&"Content-Type: application/json".to_string()));
    let i = a.iter().position(|x| x == "--data-binary").expect("body");
    assert_eq!(a[i + 1], "{\"name\":\"O'Brien\",\n \"tag\":\"$x\"}");
    assert_eq!(
        a.last().map(String::as_str),
        Some("https://api.example.com/users")
    );

    let put = with_request_body(ex(2, "PUT", "h", "/x", Some(200), 1), "text/plain", b"v");
    let a = argv(&curl(&put).command);
    assert_eq!(&a[1..3], ["-X", "PUT"]);
    let del = ex(3, "DELETE", "h", "/x", Some(200), 1);
    assert_eq!(&argv(&curl(&del).command)[1..3], ["-X", "DELETE"]);
    let head = ex(4, "HEAD", "h", "/x", Some(200), 1);
    assert_eq!(argv(&curl(&head).command)[1], "--head");
}

#[test]
fn binary_body_goes_through_printf() {
    let data: Vec<u8> = vec![0, 1, 0xff, b'%', b'\\', b'\'', b'a', b'\n', 0x80];
    let e = with_request_body(
        ex(1, "POST", "h.example", "/upload", Some(200), 1),
        "application/octet-stream",
        &data,
    );
    let cmd = curl(&e).command;
    let (left, right) = cmd.split_once(" | ").expect("a pipe");
    let p = argv(left);
    assert_eq!(p[0], "printf");
    assert_eq!(p.len(), 2);
    assert_eq!(printf_bytes(&p[1]), data);
    let a = argv(right);
    let i = a.iter().position(|x| x == "--data-binary").expect("body");
    assert_eq!(a[i + 1], "@-");
    assert_eq!(printf_format(b"50%"), "50\\045");
}

#[test]
fn body_starting_with_at_is_not_a_file() {
    let e = with_request_body(
        ex(1, "POST", "h", "/", Some(200), 1),
        "text/plain",
        b"@/etc/passwd",
    );
    let cmd = curl(&e).command;
    let (left, _) = cmd.split_once(" | ").expect("sent via stdin");
    assert_eq!(printf_bytes(&argv(left)[1]), b"@/etc/passwd");
}

#[test]
fn http2_flags_and_pseudo_headers() {
    let mut e = ex(1, "GET", "api.example.com", "/v1/items", Some(200), 1);
    e.protocol = Protocol::Http2;
    e.request.headers = vec![
        (":method".into(), "GET".into()),
        (":authority".into(), "api.example.com".into()),
        (":path".into(), "/v1/items".into()),
        ("te".into(), "trailers".into()),
        ("x-id".into(), "7".into()),
    ];
    let a = argv(&curl(&e).command);
    assert_eq!(
        a,
        [
            "curl",
            "--http2",
            "-H",
            "x-id: 7",
            "https://api.example.com/v1/items"
        ]
    );
    e.tls = false;
    let a = argv(&curl(&e).command);
    assert_eq!(a[1], "--http2-prior-knowledge");
    assert_eq!(
        a.last().map(String::as_str),
        Some("http://api.example.com/v1/items")
    );
}

#[test]
fn host_header_kept_when_it_differs_and_truncation_warned() {
    let mut e = ex(
        1,
        "POST",
        "api.example.com",
        "http://10.0.0.1:8080/x",
        Some(200),
        1,
    );
    e.request.body = body(b"partial");
    e.request.body.raw_len = 100;
    e.request.body.truncated = true;
    let c = curl(&e);
    let a = argv(&c.command);
    assert!(a.contains(&"Host: api.example.com".to_string()), "{a:?}");
    assert_eq!(a.last().map(String::as_str), Some("http://10.0.0.1:8080/x"));
    assert_eq!(c.warnings.len(), 1);
    assert!(c.warnings[0].contains("7 of 100"));
}

/// Serves one request on loopback and hands back the body bytes it received (by Content-Length).
fn one_request_server() -> (u16, std::thread::JoinHandle<Vec<u8>>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().expect("addr").port();
    let handle = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .expect("timeout");
        let mut got = Vec::new();
        let mut buf = [0u8; 8192];
        let head_end = loop {
            if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = s.read(&mut buf).expect("read head");
            assert!(n > 0, "connection closed in the head: {got:?}");
            got.extend_from_slice(&buf[..n]);
        };
        let head = String::from_utf8_lossy(&got[..head_end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().expect("content-length"));
        if head.contains("expect: 100-continue") {
            s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").expect("100");
        }
        while got.len() < head_end + len {
            let n = s.read(&mut buf).expect("read body");
            assert!(n > 0, "connection closed in the body");
            got.extend_from_slice(&buf[..n]);
        }
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .expect("respond");
        got[head_end..].to_vec()
    });
    (port, handle)
}

/// Runs the "Copy as curl" command in `shell` against a loopback server: the bytes the server
/// receives must be the body.
fn run_in_shell(shell: &str, data: &[u8]) {
    let (port, server) = one_request_server();
    let mut e = with_request_body(
        ex(
            1,
            "POST",
            &format!("127.0.0.1:{port}"),
            "/upload",
            Some(200),
            1,
        ),
        "multipart/form-data; boundary=xyz",
        data,
    );
    e.tls = false;
    let c = curl(&e);
    let out = std::process::Command::new(shell)
        .arg("-c")
        .arg(format!("{} --silent --show-error --max-time 20", c.command))
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("all_proxy")
        .env_remove("ALL_PROXY")
        .env("NO_PROXY", "*")
        .output()
        .unwrap_or_else(|err| panic!("{shell}: {err}"));
    assert!(
        out.status.success(),
        "{shell} -c {}\n{}",
        c.command,
        String::from_utf8_lossy(&out.stderr)
    );
    let got = server.join().expect("server");
    assert_eq!(got, data, "{shell} -c {}", c.command);
}

/// `sh` is dash on Debian; bash as well. A body starting with `-` (a multipart upload's
/// `--boundary`) once made `printf '--…'`, which both reject as an option.
#[test]
fn copied_command_sends_the_body_in_sh_and_bash() {
    let mut binary =
        b"--xyz\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.bin\"\r\n\r\n".to_vec();
    binary.extend_from_slice(&[
        0, 1, 0xff, 0x80, b'%', b'\\', b'\'', b'"', b'$', b'`', b'\n',
    ]);
    binary.extend_from_slice(b"\r\n--xyz--\r\n");
    let text = b"--xyz\r\nContent-Disposition: form-data; name=\"t\"\r\n\r\nit's $HOME 100%\r\n--xyz--\r\n";
    let bodies: [&[u8]; 4] = [&binary, text, b"-", b"@not-a-file"];
    for shell in ["sh", "bash"] {
        for body in bodies {
            run_in_shell(shell, body);
        }
    }
    assert!(printf_format(b"--x").starts_with("\\055-x"));
}
