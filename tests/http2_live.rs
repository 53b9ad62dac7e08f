//! End to end over HTTP/2: real h2 clients and servers on 127.0.0.1 (curl, nghttp, h2load,
//! nginx, caddy, node, Python gRPC), real probes, the `apitop --json` output a user would read.
#[path = "support/grpc_calls.rs"]
mod grpc_calls;
#[path = "support/h2.rs"]
mod h2;
mod support;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use grpc_calls::*;
use h2::*;
use serde_json::Value;
use support::*;

#[test]
fn curl_http2_get_and_post_json() {
    if !ebpf_available("curl_http2_get_and_post_json") {
        return;
    }
    need("curl");
    let nginx = Nginx::start("get-post", None);
    let payload = r#"{"name":"grace","langs":["cobol","fortran"]}"#;
    let get = nginx.url("/api/users?page=2");
    let post = nginx.url("/api/users");
    let run = apitop_cmd(
        &[],
        &[
            "curl",
            "-sk",
            "--http2",
            &get,
            "-o",
            "/dev/null",
            "--next",
            "-sk",
            "--http2",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            payload,
            &post,
            "-o",
            "/dev/null",
        ],
    );
    run.assert_ok();
    assert_eq!(run.exchanges.len(), 2, "{}\n{}", run.stdout, run.stderr);
    let (g, p) = (&run.exchanges[0], &run.exchanges[1]);
    for x in [g, p] {
        assert_h2(x);
        assert_eq!(x["comm"], "curl");
        assert_eq!(x["role"], "client");
        assert_eq!(x["tls"], true);
        assert_eq!(x["status"], 200);
        assert_eq!(x["host"], format!("127.0.0.1:{}", nginx.port).as_str());
        assert_eq!(
            header(x, "response", "content-type"),
            Some("application/json")
        );
        // Pseudo-headers are kept as the first fields, as they came.
        assert_eq!(header(x, "request", ":method"), x["method"].as_str());
        assert_eq!(header(x, "response", ":status"), Some("200"));
    }
    assert_eq!(g["method"], "GET");
    assert_eq!(g["url"], get.as_str());
    assert_eq!(g["path"], "/api/users?page=2");
    let resp: Value = serde_json::from_str(&body(g, "response")).expect("JSON body");
    assert_eq!(resp["uri"], "/api/users");
    assert_eq!(p["method"], "POST");
    assert_eq!(body(p, "request"), payload);
    assert_eq!(
        header(p, "request", "content-type"),
        Some("application/json")
    );
    let resp: Value = serde_json::from_str(&body(p, "response")).expect("JSON body");
    assert_eq!(resp["method"], "POST");
    // `--next` starts over but curl keeps the connection: streams 1 and 3 on one connection.
    assert_eq!(g["conn_id"], p["conn_id"]);
    assert_client_streams(&[g, p]);
}

#[test]
fn curl_http2_hundred_requests_one_connection() {
    if !ebpf_available("curl_http2_hundred_requests") {
        return;
    }
    need("curl");
    let nginx = Nginx::start("hundred", None);
    let urls: Vec<String> = (0..100)
        .map(|i| nginx.url(&format!("/api/item/{i}")))
        .collect();
    let mut args = vec!["curl", "-sk", "--http2", "-H", "x-trace: same-every-time"];
    for u in &urls {
        args.extend([u.as_str(), "-o", "/dev/null"]);
    }
    let run = apitop_cmd(&[], &args);
    run.assert_ok();
    let xs: Vec<&Value> = run.with_path("/api/item/");
    assert_eq!(xs.len(), 100, "{}", run.stderr);
    let conns: HashSet<String> = xs.iter().map(|x| x["conn_id"].to_string()).collect();
    assert_eq!(conns.len(), 1, "curl reused one connection");
    for (i, x) in xs.iter().enumerate() {
        assert_h2(x);
        assert_eq!(x["method"], "GET");
        // Late requests are mostly dynamic-table references: right only if the table survived.
        assert_eq!(x["path"], format!("/api/item/{i}").as_str(), "{}", brief(x));
        assert_eq!(x["status"], 200);
        assert_eq!(header(x, "request", "x-trace"), Some("same-every-time"));
        assert_eq!(
            header(x, "response", "server").map(|s| s.starts_with("nginx")),
            Some(true)
        );
        let resp: Value = serde_json::from_str(&body(x, "response")).expect("JSON body");
        assert_eq!(resp["uri"], format!("/api/item/{i}").as_str());
    }
    assert_client_streams(&xs);
    assert!(
        !run.stdout.contains("unknown hpack index"),
        "{}",
        run.stdout
    );
}

#[test]
fn curl_http2_one_mebibyte_response() {
    if !ebpf_available("curl_http2_one_mebibyte_response") {
        return;
    }
    need("curl");
    let nginx = Nginx::start("big", None);
    let url = nginx.url("/big.bin");
    let run = apitop_cmd(
        &["--max-body", "2M"],
        &["curl", "-sk", "--http2", &url, "-o", "/dev/null"],
    );
    run.assert_ok();
    assert_eq!(run.exchanges.len(), 1, "{}", run.stderr);
    let x = &run.exchanges[0];
    assert_h2(x);
    assert_eq!(x["status"], 200);
    assert_eq!(x["response"]["body_size"], BIG as u64);
    assert_eq!(x["response"]["body_truncated"], false);
    assert_eq!(body(x, "response").as_bytes(), pattern(BIG).as_slice());
    assert!(run.stderr.contains("drops: 0"), "{}", run.stderr);
}

#[test]
fn h2load_many_concurrent_streams_all_paired() {
    if !ebpf_available("h2load_many_concurrent_streams") {
        return;
    }
    need("h2load");
    let nginx = Nginx::start("h2load", None);
    let url = nginx.url("/api/load");
    // By name, so that h2load's report on stdout does not mix with apitop's JSON; nginx too,
    // which tells when apitop is ready and shows the same streams from the server's side.
    let live = apitop_start_to_file(&["-n", "h2load", "-n", "nginx"]);
    let st = Command::new("h2load")
        .args(["-n", "200", "-c", "1", "-m", "32", &url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("running h2load");
    assert!(st.success());
    let run = live.stop_when(|xs| count_path(xs, "/api/load") >= 400);
    run.assert_ok();
    let server: Vec<&Value> = run
        .with_path("/api/load")
        .into_iter()
        .filter(|x| x["role"] == "server")
        .collect();
    let server_ids: HashSet<u64> = server.iter().map(|x| stream_id(x)).collect();
    let missing: Vec<u64> = (0..200)
        .map(|i| 2 * i + 1)
        .filter(|i| !server_ids.contains(i))
        .collect();
    assert_eq!(server.len(), 200, "missing {missing:?}\n{}", run.stderr);
    assert!(server
        .iter()
        .all(|x| x["comm"] == "nginx" && x["status"] == 200));
    let xs: Vec<&Value> = run
        .with_path("/api/load")
        .into_iter()
        .filter(|x| x["role"] == "client")
        .collect();
    assert_eq!(xs.len(), 200, "{}", run.stderr);
    let mut ids = HashSet::new();
    for x in &xs {
        assert_h2(x);
        assert_eq!(x["comm"], "h2load");
        assert_eq!(x["status"], 200, "{}", brief(x));
        assert_eq!(x["method"], "GET");
        assert!(ids.insert(stream_id(x)), "stream {} twice", stream_id(x));
        assert!(stream_id(x) % 2 == 1);
        let resp: Value = serde_json::from_str(&body(x, "response")).expect("JSON body");
        assert_eq!(resp["uri"], "/api/load");
    }
    // Streams 1, 3, ..., 399: none missing.
    assert_eq!(ids, (0..200).map(|i| 2 * i + 1).collect::<HashSet<u64>>());
}

#[test]
fn nghttp_client_nginx_captured_server_side() {
    if !ebpf_available("nghttp_client_nginx_server_side") {
        return;
    }
    need("nghttp");
    let nginx = Nginx::start("server-side", None);
    let live = apitop_start_to_file(&["-n", "nginx"]);
    let urls: Vec<String> = (0..5)
        .map(|i| nginx.url(&format!("/api/srv/{i}")))
        .collect();
    let mut cmd = Command::new("nghttp");
    cmd.args(["-n", "-H", "x-from: nghttp"])
        .args(&urls)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    assert!(cmd.status().expect("running nghttp").success());
    let run = live.stop_when(|xs| count_path(xs, "/api/srv/") >= 5);
    let xs = run.with_path("/api/srv/");
    assert_eq!(xs.len(), 5, "{}\n{}", run.stdout, run.stderr);
    let mut paths: Vec<&str> = xs.iter().map(|x| x["path"].as_str().unwrap()).collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/api/srv/0",
            "/api/srv/1",
            "/api/srv/2",
            "/api/srv/3",
            "/api/srv/4"
        ]
    );
    for x in &xs {
        assert_h2(x);
        assert_eq!(x["comm"], "nginx");
        assert_eq!(x["role"], "server");
        assert_eq!(x["status"], 200);
        assert_eq!(header(x, "request", "x-from"), Some("nghttp"));
        assert_eq!(
            header(x, "request", "user-agent").map(|u| u.starts_with("nghttp2/")),
            Some(true)
        );
        assert!(body(x, "response").contains("\"from\":\"nginx\""));
    }
    let ids: HashSet<u64> = xs.iter().map(|x| stream_id(x)).collect();
    assert_eq!(ids.len(), 5);
}

#[test]
fn curl_http2_against_caddy() {
    if !ebpf_available("curl_http2_against_caddy") {
        return;
    }
    need("curl");
    let (_caddy, port) = caddy();
    let hello = format!("https://127.0.0.1:{port}/hello");
    let big = format!("https://127.0.0.1:{port}/big.bin");
    let run = apitop_cmd(
        &["--max-body", "2M"],
        &[
            "curl",
            "-sk",
            "--http2",
            &hello,
            "-o",
            "/dev/null",
            &big,
            "-o",
            "/dev/null",
        ],
    );
    run.assert_ok();
    assert_eq!(run.exchanges.len(), 2, "{}\n{}", run.stdout, run.stderr);
    let (h, b) = (&run.exchanges[0], &run.exchanges[1]);
    for x in [h, b] {
        assert_h2(x);
        assert_eq!(x["comm"], "curl");
        assert_eq!(x["status"], 200);
        assert_eq!(header(x, "response", "server"), Some("Caddy"));
    }
    assert_eq!(h["path"], "/hello");
    assert_eq!(body(h, "response"), r#"{"from":"caddy"}"#);
    assert_eq!(
        header(h, "response", "content-type"),
        Some("application/json")
    );
    assert_eq!(b["path"], "/big.bin");
    assert_eq!(b["response"]["body_size"], BIG as u64);
    assert_eq!(body(b, "response").as_bytes(), pattern(BIG).as_slice());
    assert_client_streams(&[h, b]);
}

/// A node http2 session that sends `GET /tick/N` every 100 ms; it prints READY after its first
/// response and exits after `n` requests.
const NODE_TICKER: &str = r#"
const http2 = require('http2');
const [url, n] = [process.argv[2], Number(process.argv[3])];
const s = http2.connect(url, { rejectUnauthorized: false });
let i = 0;
function tick() {
  const r = s.request({ ':path': '/api/tick/' + i, 'x-seq': String(i) });
  r.on('response', () => { if (i === 1) console.log('READY'); });
  r.resume();
  r.on('end', () => { if (++i < n) setTimeout(tick, 100); else s.close(); });
  r.end();
}
tick();
"#;

#[test]
fn attach_to_a_connection_under_way() {
    if !ebpf_available("attach_to_a_connection_under_way") {
        return;
    }
    need("node");
    let nginx = Nginx::start("attach", None);
    let script = script("ticker.js", NODE_TICKER);
    let mut child = Command::new("node")
        .arg(&script)
        .arg(nginx.url("/"))
        // Runs until killed below (at most 60 s): however long apitop takes to attach on a
        // loaded machine, it then sees 2.5 s of ticks.
        .arg("600")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting node");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut line)
        .expect("reading node's READY");
    assert_eq!(line.trim(), "READY");
    let node = Guard(child);
    // The session and its HPACK tables exist before apitop looks.
    std::thread::sleep(Duration::from_millis(500));
    let live = apitop_start_to_file(&["-p", &node.pid().to_string()]);
    std::thread::sleep(Duration::from_millis(2500));
    let run = live.stop(Duration::from_millis(500));
    drop(node);
    let mut xs = run.with_path("/api/tick/");
    // The tick node sent as apitop stopped may still be waiting for its response: it is
    // reported, as any exchange in flight at exit, with `capture ended`. Only the last may be.
    if xs.last().is_some_and(|x| x["error"] == "capture ended") {
        xs.pop();
    }
    assert!(xs.len() >= 10, "{}\n{}", run.stdout, run.stderr);
    let mut last = None;
    for x in &xs {
        assert_eq!(x["protocol"], "HTTP/2", "{}", brief(x));
        assert_eq!(x["comm"], "node");
        assert_eq!(x["role"], "client");
        // Pseudo-headers from the static table and fresh literals decode; a value the table
        // learnt before we attached may show as `<unknown hpack index N>`.
        assert_eq!(x["method"], "GET", "{}", brief(x));
        assert_eq!(x["status"], 200, "{}", brief(x));
        let path = x["path"].as_str().unwrap();
        let n: u64 = path["/api/tick/".len()..].parse().expect("tick number");
        // `x-seq`'s name was put in the dynamic table before we attached, but each value is
        // a fresh literal.
        let seq = n.to_string();
        assert!(
            x["request"]["headers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|h| h[1] == seq.as_str()),
            "{}",
            brief(x)
        );
        let resp: Value = serde_json::from_str(&body(x, "response")).expect("JSON body");
        assert_eq!(resp["uri"], path);
        assert!(last.is_none_or(|l| l < n), "ticks in order");
        last = Some(n);
        assert!(stream_id(x) % 2 == 1);
    }
    // Attached after the first ticks: what the table learnt before shows as unknown entries
    // (node's encoder keeps `:authority` and `x-seq` there).
    assert!(xs[0]["path"] != "/api/tick/0", "{}", xs[0]);
    assert!(
        run.stdout.contains("<unknown hpack index "),
        "{}",
        run.stdout
    );
}

#[test]
fn grpc_python_client_and_server_over_tls() {
    if !ebpf_available("grpc_python_over_tls") {
        return;
    }
    let (_srv, port) = grpc_server(true);
    let cmd = grpc_client_cmd(&format!("127.0.0.1:{port}"));
    let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let run = apitop_cmd(&[], &cmd);
    run.assert_ok();
    assert_eq!(run.exchanges.len(), 3, "{}\n{}", run.stdout, run.stderr);
    for x in &run.exchanges {
        assert_eq!(x["role"], "client");
    }
    assert_grpc_calls(&run);
}

#[test]
fn grpc_through_nginx_captured_server_side() {
    if !ebpf_available("grpc_through_nginx_server_side") {
        return;
    }
    let (_srv, grpc_port) = grpc_server(false);
    let nginx = Nginx::start("grpc", Some(grpc_port));
    let live = apitop_start_to_file(&["-n", "nginx"]);
    run_grpc_client(&format!("127.0.0.1:{}", nginx.port));
    let run = live.stop_when(|xs| count_path(xs, "/demo.Greeter/") >= 6);
    // The TLS side from the client (nginx as server), and nginx's cleartext HTTP/2 to the
    // backend (nginx as client, plain capture).
    // `-n nginx` also sees the nginx of tests running alongside: keep this one's calls.
    let calls: Vec<Value> = run
        .exchanges
        .iter()
        .filter(|x| {
            x["path"]
                .as_str()
                .unwrap_or("")
                .starts_with("/demo.Greeter/")
        })
        .cloned()
        .collect();
    assert_eq!(calls.len(), 6, "{}\n{}", run.stdout, run.stderr);
    let (server, client): (Vec<Value>, Vec<Value>) =
        calls.into_iter().partition(|x| x["role"] == "server");
    assert_eq!(server.len(), 3, "{}", run.stdout);
    for x in server.iter().chain(&client) {
        assert_eq!(x["comm"], "nginx");
        assert_eq!(x["tls"], x["role"] == "server", "{x}");
    }
    for x in &client {
        assert_eq!(x["protocol"], "HTTP/2", "{x}");
        assert_eq!(x["peer_addr"], format!("127.0.0.1:{grpc_port}").as_str());
    }
    let paths = |xs: &[Value]| {
        let mut p: Vec<String> = xs.iter().map(|x| x["path"].to_string()).collect();
        p.sort();
        p
    };
    assert_eq!(paths(&server), paths(&client));
    // nginx opens one upstream connection per call (stream 1 each time): the full checks,
    // stream order included, apply to the client-facing side.
    for x in &client {
        assert_eq!(x["grpc"]["service"], "demo.Greeter", "{x}");
    }
    let part = Run {
        exchanges: server,
        stdout: run.stdout.clone(),
        stderr: run.stderr.clone(),
        status: run.status,
    };
    assert_grpc_calls(&part);
}

#[test]
fn replay_of_an_http2_recording_equals_live_output() {
    if !ebpf_available("replay_of_an_http2_recording") {
        return;
    }
    need("curl");
    let nginx = Nginx::start("replay", None);
    let rec = work_dir().join("h2.apitop");
    let rec_s = rec.display().to_string();
    let mut args = vec!["curl", "-sk", "--http2"];
    let urls: Vec<String> = (0..10).map(|i| nginx.url(&format!("/api/r/{i}"))).collect();
    for u in &urls {
        args.extend([u.as_str(), "-o", "/dev/null"]);
    }
    let big = nginx.url("/big.bin");
    args.extend([big.as_str(), "-o", "/dev/null"]);
    let live = apitop_cmd(&["-w", &rec_s], &args);
    live.assert_ok();
    assert_eq!(live.exchanges.len(), 11, "{}", live.stderr);
    let out = Command::new(APITOP)
        .args(["--json", "-r", &rec_s])
        .output()
        .expect("running apitop -r");
    let replay = Run::from_output(out);
    replay.assert_ok();
    assert_eq!(replay.exchanges, live.exchanges);
    assert!(replay.exchanges.iter().all(|x| x["protocol"] == "HTTP/2"));
}
