//! End to end: plain (non-TLS) HTTP read from the targets' socket syscalls — HTTP/1.1 and
//! cleartext HTTP/2 (prior knowledge), client and server side, next to TLS in one process, and
//! no spurious connections from files, pipes, Unix or UDP sockets.
mod support;

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::*;

fn assert_plain(x: &Value) {
    assert_eq!(x["tls"], false, "{x}");
    assert!(x["url"].as_str().unwrap().starts_with("http://"), "{x}");
}

/// The summary's (exchanges, connections, not HTTP).
fn counts(run: &Run) -> (u64, u64, u64) {
    summary_counts(&run.stderr).unwrap_or_else(|| panic!("no summary line: {}", run.stderr))
}

#[test]
fn curl_plain_get_json() {
    if !ebpf_available("curl_plain_get_json") {
        return;
    }
    let (_srv, port) = http_server();
    let url = format!("http://127.0.0.1:{port}/json?page=2");
    let run = apitop_cmd(&[], &["curl", "-s", &url, "-o", "/dev/null"]);
    run.assert_ok();
    assert_eq!(run.exchanges.len(), 1, "{}\n{}", run.stdout, run.stderr);
    let x = &run.exchanges[0];
    assert_plain(x);
    assert_eq!(x["url"], url.as_str());
    assert_eq!(x["method"], "GET");
    assert_eq!(x["status"], 200);
    assert_eq!(x["protocol"], "HTTP/1.1");
    assert_eq!(x["comm"], "curl");
    assert_eq!(x["role"], "client");
    assert_eq!(x["peer_addr"], format!("127.0.0.1:{port}").as_str());
    let resp: Value = serde_json::from_str(&body(x, "response")).expect("JSON body");
    assert_eq!(resp["users"][0]["name"], "ada");
    assert_eq!(counts(&run), (1, 1, 0), "{}", run.stderr);
}

#[test]
fn curl_plain_post_json_and_large_response() {
    if !ebpf_available("curl_plain_post_json") {
        return;
    }
    let (_srv, port) = http_server();
    let payload = r#"{"name":"grace","langs":["cobol","fortran"]}"#;
    let echo = format!("http://127.0.0.1:{port}/echo");
    let big = format!("http://127.0.0.1:{port}/big?n=300000");
    let run = apitop_cmd(
        &[],
        &[
            "sh",
            "-c",
            &format!(
                "curl -s -H 'Content-Type: application/json' --data-binary '{payload}' {echo} \
                 -o /dev/null && curl -s {big} -o /dev/null"
            ),
        ],
    );
    run.assert_ok();
    assert_eq!(run.paths(), ["/echo", "/big?n=300000"], "{}", run.stderr);
    let x = &run.exchanges[0];
    assert_plain(x);
    assert_eq!(x["method"], "POST");
    assert_eq!(body(x, "request"), payload);
    assert_eq!(body(x, "response"), payload);
    assert_eq!(
        header(x, "request", "content-type"),
        Some("application/json")
    );
    let b = &run.exchanges[1];
    assert_plain(b);
    assert_eq!(b["response"]["body_size"], 300000, "{}", run.stderr);
    assert_eq!(b["response"]["body_truncated"], false);
    assert!(run.stderr.contains("drops: 0"), "{}", run.stderr);
}

#[test]
fn python_urllib_plain() {
    if !ebpf_available("python_urllib_plain") {
        return;
    }
    let (_srv, port) = http_server();
    let script = format!(
        "import urllib.request as u\n\
         u.urlopen('http://127.0.0.1:{port}/json').read()\n\
         u.urlopen(u.Request('http://127.0.0.1:{port}/echo', data=b'{{\"a\": 1}}', \
         headers={{'Content-Type': 'application/json'}})).read()\n"
    );
    let run = apitop_cmd(&[], &["python3", "-c", &script]);
    run.assert_ok();
    assert_eq!(run.paths(), ["/json", "/echo"], "{}", run.stderr);
    for x in &run.exchanges {
        assert_plain(x);
        assert!(x["comm"].as_str().unwrap().starts_with("python"));
        assert_eq!(x["status"], 200);
    }
    assert_eq!(body(&run.exchanges[1], "request"), r#"{"a": 1}"#);
    assert_eq!(body(&run.exchanges[1], "response"), r#"{"a": 1}"#);
}

/// nginx on plain HTTP: an HTTP/1.1 listener and a cleartext HTTP/2 (prior knowledge) one.
struct PlainNginx {
    http1: u16,
    h2c: u16,
    _guard: Guard,
}

fn plain_nginx(name: &str) -> PlainNginx {
    let (http1, h2c) = (free_port(), free_port());
    let server = format!(
        " server {{\n  listen 127.0.0.1:{http1};\n  listen 127.0.0.1:{h2c} http2;\n\
         location /api/ {{ default_type application/json; \
         return 200 '{{\"from\":\"nginx\",\"uri\":\"$uri\"}}'; }}\n }}"
    );
    PlainNginx {
        http1,
        h2c,
        _guard: start_nginx(&format!("plain-{name}"), 1, &server, &[http1, h2c]),
    }
}

#[test]
fn nginx_plain_server_side_by_name() {
    if !ebpf_available("nginx_plain_server_side") {
        return;
    }
    let nginx = plain_nginx("server");
    let live = apitop_start(&["-n", "nginx"]);
    for i in 0..3 {
        curl_ok(&format!("http://127.0.0.1:{}/api/items/{i}", nginx.http1));
    }
    // Other tests' nginx and curl processes run at the same time: keep this server's traffic.
    let run = live
        .stop_when(|xs| xs.iter().filter(|x| on_port(x, nginx.http1)).count() >= 3)
        .only_port(nginx.http1);
    run.assert_ok();
    assert_eq!(
        run.paths(),
        ["/api/items/0", "/api/items/1", "/api/items/2"],
        "{}",
        run.stderr
    );
    for x in &run.exchanges {
        assert_plain(x);
        assert_eq!(x["role"], "server");
        assert_eq!(x["comm"], "nginx");
        assert_eq!(x["protocol"], "HTTP/1.1");
        assert_eq!(x["status"], 200);
        assert!(body(x, "response").contains("\"from\":\"nginx\""), "{x}");
    }
}

#[test]
fn h2c_prior_knowledge_client_and_server() {
    if !ebpf_available("h2c_prior_knowledge") {
        return;
    }
    let nginx = plain_nginx("h2c");
    let live = apitop_start_watching(&["-n", "nginx", "-n", "curl"]);
    let urls: Vec<String> = (0..3)
        .map(|i| format!("http://127.0.0.1:{}/api/h2c/{i}", nginx.h2c))
        .collect();
    // One transfer per curl: curl 7.88 fails (exit 16) on a second h2c transfer to nginx 1.22
    // over one connection, traced or not.
    for url in &urls {
        let st = Command::new("curl")
            .args(["-s", "--http2-prior-knowledge", "-o", "/dev/null", url])
            .status()
            .expect("curl");
        assert!(st.success(), "curl {url}");
    }
    let run = live
        .stop_when(|xs| xs.iter().filter(|x| on_port(x, nginx.h2c)).count() >= 6)
        .only_port(nginx.h2c);
    run.assert_ok();
    assert_eq!(run.exchanges.len(), 6, "{}\n{}", run.stdout, run.stderr);
    for role in ["client", "server"] {
        let mut paths: Vec<&str> = run
            .exchanges
            .iter()
            .filter(|x| x["role"] == role)
            .map(|x| x["path"].as_str().unwrap())
            .collect();
        paths.sort_unstable();
        assert_eq!(paths, ["/api/h2c/0", "/api/h2c/1", "/api/h2c/2"], "{role}");
    }
    for x in &run.exchanges {
        assert_plain(x);
        assert_eq!(x["protocol"], "HTTP/2", "{x}");
        assert_eq!(x["status"], 200);
        assert_eq!(
            x["comm"],
            if x["role"] == "client" {
                "curl"
            } else {
                "nginx"
            }
        );
        assert!(body(x, "response").contains("\"from\":\"nginx\""), "{x}");
        assert!(x["peer_addr"].is_string(), "{x}");
    }
    assert_eq!(counts(&run).2, 0, "{}", run.stderr);
}

#[test]
fn tls_and_plain_from_one_process_each_once() {
    if !ebpf_available("tls_and_plain_from_one_process") {
        return;
    }
    let (_tls, tls_port) = https_server();
    let (_plain, plain_port) = http_server();
    let tls_url = format!("https://127.0.0.1:{tls_port}/json");
    let plain_url = format!("http://127.0.0.1:{plain_port}/json");
    // curl: two connections, one of each.
    let run = apitop_cmd(
        &[],
        &[
            "curl",
            "-sk",
            "--http1.1",
            "-o",
            "/dev/null",
            "-o",
            "/dev/null",
            &tls_url,
            &plain_url,
        ],
    );
    run.assert_ok();
    let urls: Vec<&str> = run
        .exchanges
        .iter()
        .map(|x| x["url"].as_str().unwrap())
        .collect();
    assert_eq!(
        urls,
        [tls_url.as_str(), plain_url.as_str()],
        "{}",
        run.stderr
    );
    assert_eq!(run.exchanges[0]["tls"], true);
    assert_eq!(run.exchanges[1]["tls"], false);
    // No third, opaque connection made of the TLS socket's ciphertext.
    assert_eq!(counts(&run), (2, 2, 0), "{}", run.stderr);

    // python: SSL_read_ex/SSL_write_ex and plain sockets, alternating.
    let script = format!(
        "import ssl, urllib.request as u\n\
         c = ssl._create_unverified_context()\n\
         for i in range(2):\n\
         \x20   u.urlopen('https://127.0.0.1:{tls_port}/k/%d' % i, context=c).read()\n\
         \x20   u.urlopen('http://127.0.0.1:{plain_port}/k/%d' % (i + 10)).read()\n"
    );
    let run = apitop_cmd(&[], &["python3", "-c", &script]);
    run.assert_ok();
    assert_eq!(
        run.paths(),
        ["/k/0", "/k/10", "/k/1", "/k/11"],
        "{}",
        run.stderr
    );
    let tls: Vec<bool> = run
        .exchanges
        .iter()
        .map(|x| x["tls"].as_bool().unwrap())
        .collect();
    assert_eq!(tls, [true, false, true, false]);
    assert_eq!(counts(&run), (4, 4, 0), "{}", run.stderr);
}

#[test]
fn files_pipes_unix_and_udp_sockets_make_no_connections() {
    if !ebpf_available("files_pipes_no_connections") {
        return;
    }
    let (_srv, port) = http_server();
    let file = work_dir().join("plain-noise.txt");
    let script = format!(
        "import os, socket, urllib.request as u\n\
         p = {file:?}\n\
         for i in range(20):\n\
         \x20   open(p, 'w').write('GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n' * 10)\n\
         \x20   open(p).read()\n\
         r, w = os.pipe()\n\
         os.write(w, b'HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\n\\r\\n'); os.read(r, 4096)\n\
         a, b = socket.socketpair()\n\
         a.sendall(b'GET /unix HTTP/1.1\\r\\n\\r\\n'); b.recv(4096)\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', 0))\n\
         t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); t.connect(s.getsockname())\n\
         t.send(b'GET /udp HTTP/1.1\\r\\n\\r\\n'); s.recvfrom(4096)\n\
         u.urlopen('http://127.0.0.1:{port}/json').read()\n",
        file = file.display().to_string()
    );
    let run = apitop_cmd(&[], &["python3", "-c", &script]);
    run.assert_ok();
    assert_eq!(run.paths(), ["/json"], "{}\n{}", run.stdout, run.stderr);
    assert_plain(&run.exchanges[0]);
    assert_eq!(counts(&run), (1, 1, 0), "{}", run.stderr);
}

#[test]
fn attach_to_a_plain_keep_alive_connection() {
    if !ebpf_available("attach_plain_keep_alive") {
        return;
    }
    let (_srv, port) = http_server();
    // One keep-alive connection opened before apitop attaches: found in /proc at attach.
    let script = format!(
        "import http.client, time\n\
         c = http.client.HTTPConnection('127.0.0.1', {port})\n\
         end = time.time() + 8\n\
         i = 0\n\
         while time.time() < end:\n\
         \x20   c.request('GET', '/k/%d' % i); c.getresponse().read(); i += 1; time.sleep(0.1)\n"
    );
    let client = Guard(
        Command::new("python3")
            .args(["-c", &script])
            .spawn()
            .expect("python3"),
    );
    // The connection is open (and in /proc) before apitop attaches.
    wait_until("the client connected", Duration::from_secs(10), || {
        !capture::procinfo::tcp_socket_fds(client.pid()).is_empty()
    });
    let pid = client.pid().to_string();
    let live = apitop_start(&["-p", &pid]);
    let run = live.stop_when(|xs| count_path(xs, "/k/") >= 5);
    run.assert_ok();
    assert!(run.exchanges.len() >= 5, "{}\n{}", run.stdout, run.stderr);
    // The request in flight when apitop stopped comes out without its response.
    let unanswered = run.exchanges.iter().filter(|x| x["response"].is_null());
    assert!(unanswered.count() <= 1, "{}", run.stdout);
    for x in &run.exchanges {
        assert_plain(x);
        assert!(x["path"].as_str().unwrap().starts_with("/k/"), "{x}");
        if !x["response"].is_null() {
            assert_eq!(x["status"], 200);
        }
        assert_eq!(x["role"], "client");
    }
    // One connection, known from /proc: no new connect was seen.
    assert_eq!(counts(&run).1, 1, "{}", run.stderr);
}

#[test]
fn no_plain_turns_plain_capture_off() {
    if !ebpf_available("no_plain") {
        return;
    }
    let (_srv, port) = http_server();
    let url = format!("http://127.0.0.1:{port}/json");
    let run = apitop_cmd(&["--no-plain"], &["curl", "-s", &url, "-o", "/dev/null"]);
    run.assert_ok();
    assert!(run.exchanges.is_empty(), "{}", run.stdout);
    assert_eq!(counts(&run), (0, 0, 0), "{}", run.stderr);
}
