//! `--otlp` end to end without root: a recording replayed into a real OTLP/HTTP receiver (the
//! Python `opentelemetry-proto` package decoding what arrives), and collectors that fail.
mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/sample.apitop");
const RECEIVER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/support/otlp_receiver.py"
);
/// Where scripts/test-deps.sh installs `opentelemetry-proto`, for Debian's python3.
const PYTHON: &str = "/usr/bin/python3";
const PYTHONPATH: &str = "/opt/apitop-test-tools/py";

/// Whether the receiver can run: skipped with the reason when not, except under
/// `APITOP_REQUIRE_EBPF=1` (CI, where scripts/test-deps.sh installs it).
fn receiver_available(test: &str) -> bool {
    let ok = Command::new(PYTHON)
        .env("PYTHONPATH", PYTHONPATH)
        .args([
            "-c",
            "import opentelemetry.proto.collector.trace.v1.trace_service_pb2",
        ])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return true;
    }
    let reason = format!(
        "{PYTHON} cannot import opentelemetry-proto from {PYTHONPATH} (scripts/test-deps.sh)"
    );
    if std::env::var("APITOP_REQUIRE_EBPF").as_deref() == Ok("1") {
        panic!("{test}: {reason}, and APITOP_REQUIRE_EBPF=1 forbids skipping");
    }
    eprintln!("SKIPPED {test}: {reason}");
    false
}

/// The Python receiver, stopped when dropped.
struct Receiver {
    child: Child,
    port: u16,
    spans: PathBuf,
}

impl Receiver {
    fn start(name: &str) -> Receiver {
        let spans = work_dir().join(format!("{name}.spans.jsonl"));
        let _ = std::fs::remove_file(&spans);
        let mut child = Command::new(PYTHON)
            .env("PYTHONPATH", PYTHONPATH)
            .arg(RECEIVER)
            .arg(&spans)
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting the OTLP receiver");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("the receiver's port");
        let port = line.trim().parse().expect("a port number");
        Receiver { child, port, spans }
    }

    fn spans(&self) -> Vec<Value> {
        read_lines(&self.spans)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// Runs apitop with stdout piped (so headless), killing it past `limit`; (output, time taken).
fn apitop_within(args: &[&str], limit: Duration) -> (Output, Duration) {
    let t0 = Instant::now();
    let mut child = Command::new(APITOP)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running apitop");
    // Drained on threads: a full pipe must not be what holds it up.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut so, &mut b).map(|_| b)
    });
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut se, &mut b).map(|_| b)
    });
    let status = loop {
        if let Some(s) = child.try_wait().expect("waiting for apitop") {
            break s;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("apitop {args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = t0.elapsed();
    let output = Output {
        status,
        stdout: out.join().unwrap().unwrap_or_default(),
        stderr: err.join().unwrap().unwrap_or_default(),
    };
    (output, took)
}

/// The sample's exchanges as `--json` prints them.
fn json_lines() -> Vec<Value> {
    let (out, _) = apitop_within(&["-r", SAMPLE, "--json"], Duration::from_secs(60));
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn attr<'a>(span: &'a Value, key: &str) -> &'a Value {
    &span["attributes"][key]
}

#[test]
fn replay_exports_one_span_per_exchange_with_the_capture_times() {
    if !receiver_available("replay_exports_one_span_per_exchange_with_the_capture_times") {
        return;
    }
    let lines = json_lines();
    assert!(
        lines.len() > 100,
        "the sample has {} exchanges",
        lines.len()
    );
    let rx = Receiver::start("replay");
    let url = format!("http://127.0.0.1:{}", rx.port);
    let (out, _) = apitop_within(&["-r", SAMPLE, "--otlp", &url], Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(out.stdout.is_empty(), "--otlp alone prints no lines");
    let n = lines.len();
    assert!(
        stderr.contains(&format!("apitop: otlp: {n} spans exported, 0 dropped")),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("{url}/v1/traces")), "{stderr}");

    let spans = rx.spans();
    assert_eq!(spans.len(), n, "one span per exchange");
    let mut routes_with_id = 0;
    for x in &lines {
        let method = x["method"].as_str().unwrap();
        let path = x["path"].as_str().unwrap();
        let (path_only, query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path, None),
        };
        let start = x["start"].as_str().unwrap();
        // The span of this exchange: the same start (to the nanosecond), method and path.
        let matching: Vec<&Value> = spans
            .iter()
            .filter(|s| {
                apitop::json::rfc3339(s["start"].as_u64().unwrap()) == start
                    && attr(s, "http.request.method") == method
                    && attr(s, "url.path") == path_only
            })
            .collect();
        assert_eq!(matching.len(), 1, "one span for {method} {path} at {start}");
        let s = matching[0];
        let kind = match x["role"].as_str().unwrap() {
            "client" => 3, // SPAN_KIND_CLIENT
            _ => 2,        // SPAN_KIND_SERVER
        };
        assert_eq!(s["kind"], kind, "{s}");
        if let Some(q) = query {
            assert_eq!(attr(s, "url.query"), q);
        }
        match x["duration_ms"].as_f64() {
            Some(ms) => {
                let ns = s["end"].as_u64().unwrap() - s["start"].as_u64().unwrap();
                assert_eq!(ns as f64 / 1e6, ms, "{s}");
            }
            None => assert_eq!(s["status_code"], 2, "no response: an error span {s}"),
        }
        match x["status"].as_u64() {
            Some(code) => {
                assert_eq!(attr(s, "http.response.status_code").as_u64(), Some(code));
                let failed = code >= 500 || (kind == 3 && code >= 400);
                let expect = if failed || x.get("error").is_some() {
                    2 // STATUS_CODE_ERROR
                } else {
                    0
                };
                assert_eq!(s["status_code"], expect, "{s}");
            }
            None => assert!(attr(s, "http.response.status_code").is_null()),
        }
        let route = attr(s, "http.route").as_str();
        match route {
            Some(r) => {
                assert_eq!(s["name"], format!("{method} {r}"));
                if r.contains("{id}") {
                    routes_with_id += 1;
                }
                assert_eq!(
                    r.split('/').count(),
                    path_only.split('/').count(),
                    "{r} is {path_only}'s template"
                );
            }
            None => assert_eq!(s["name"], method),
        }
        if kind == 3 {
            assert_eq!(attr(s, "url.full"), &x["url"]);
        }
        assert_eq!(
            attr(s, "server.address"),
            host_only(x["host"].as_str().unwrap())
        );
        assert_eq!(attr(s, "process.pid"), &x["pid"]);
        assert_eq!(attr(s, "process.executable.name"), &x["comm"]);
        assert_eq!(
            attr(s, "network.protocol.version"),
            match x["protocol"].as_str().unwrap() {
                "HTTP/2" => "2",
                _ => "1.1",
            }
        );
        assert_eq!(
            attr(s, "http.response.body.size").as_u64(),
            x["response"]["body_size"].as_u64()
        );
        // Only the conventions' attributes: no header values (masked or not).
        for (k, v) in s["attributes"].as_object().unwrap() {
            assert!(!k.contains("header"), "{k}");
            assert!(!v.to_string().contains("***"), "{k}: {v}");
        }
        assert_eq!(s["resource"]["service.name"], "apitop");
        assert_eq!(s["scope"], "apitop");
        assert_eq!(s["content_type"], "application/x-protobuf");
        assert_eq!(s["parent_span_id"], "", "each exchange is a root span");
    }
    assert!(
        routes_with_id > 10,
        "ids fold into {{id}}: {routes_with_id}"
    );
    // One exchange spelled out: a numeric id in the path becomes the route's {id}.
    let s = spans
        .iter()
        .find(|s| {
            attr(s, "url.path")
                .as_str()
                .is_some_and(|p| p.starts_with("/v1/users/") && p.ends_with(char::is_numeric))
        })
        .expect("a /v1/users/<n> exchange in the sample");
    assert_eq!(attr(s, "http.route"), "/v1/users/{id}");
    assert_eq!(s["name"], "GET /v1/users/{id}");
}

/// `Host`'s host part, as `server.address` has it.
fn host_only(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') => h,
        _ => host,
    }
}

#[test]
fn unreachable_collector_warns_once_and_exits_promptly() {
    let port = free_port(); // nothing listens there
    let url = format!("http://127.0.0.1:{port}");
    let (out, took) = apitop_within(
        &["-r", SAMPLE, "--json", "--otlp", &url],
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let lines = String::from_utf8_lossy(&out.stdout).lines().count();
    assert!(lines > 100, "the JSON lines are written all the same");
    let warnings = stderr
        .lines()
        .filter(|l| l.contains("otlp: cannot export to"))
        .count();
    assert_eq!(warnings, 1, "one warning, not one per span:\n{stderr}");
    assert!(
        stderr.contains(&format!(
            "apitop: otlp: 0 spans exported, {lines} dropped (export failed {lines}"
        )),
        "{stderr}"
    );
}

#[test]
fn silent_collector_does_not_hold_up_exit() {
    // Connections are accepted by the kernel into the backlog, and never answered.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (out, took) = apitop_within(&["-r", SAMPLE, "--otlp", &url], Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(took < Duration::from_secs(15), "took {took:?}: {stderr}");
    assert!(
        stderr.contains("apitop: otlp: 0 spans exported, "),
        "{stderr}"
    );
    drop(listener);
}

#[test]
fn bad_otlp_urls_are_clear_errors() {
    for (url, says) in [
        (
            "collector:4318",
            "expected a URL like http://collector:4318",
        ),
        ("https://collector:4318", "plain HTTP only"),
    ] {
        let (out, _) = apitop_within(&["-r", SAMPLE, "--otlp", url], Duration::from_secs(30));
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "--otlp {url}: {err}");
    }
    let help = Command::new(APITOP).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for needle in [
        "--otlp <URL>",
        "/v1/traces",
        "--otlp-queue <N>",
        "[default: 8192]",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
}

#[test]
fn otlp_goes_with_har() {
    let har = work_dir().join("with-otlp.har");
    let _ = std::fs::remove_file(&har);
    let url = format!("http://127.0.0.1:{}", free_port());
    let (out, _) = apitop_within(
        &["-r", SAMPLE, "--har", har.to_str().unwrap(), "--otlp", &url],
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let har: Value = serde_json::from_slice(&std::fs::read(&har).unwrap()).unwrap();
    let entries = har["log"]["entries"].as_array().unwrap().len();
    assert!(entries > 100);
    assert!(
        stderr.contains(&format!(
            "apitop: otlp: 0 spans exported, {entries} dropped"
        )),
        "{stderr}"
    );
}
