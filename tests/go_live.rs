//! Go `crypto/tls` captured live: Debian's caddy (Go 1.19, stripped, cgo) server-side, a Go
//! client built here normally, stripped as PIE and linked externally, esbuild (Go 1.26,
//! stripped) server-side — none written for apitop but the small client/server in tests/go. Real
//! probes, real bytes, asserted on the `apitop --json` output a user would read.
#[path = "support/h2.rs"]
mod h2;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use h2::{caddy, need};
use serde_json::Value;
use support::*;

/// The Go programs built from tests/go by scripts/go-fixtures.sh (idempotent).
fn go_fixture(name: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        need("go");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let dir = root.join("target/go-fixtures");
        let st = Command::new("bash")
            .arg(root.join("scripts/go-fixtures.sh"))
            .arg(&dir)
            .status()
            .expect("running scripts/go-fixtures.sh");
        assert!(st.success(), "building the Go test programs failed");
        dir
    });
    dir.join(name)
}

const ESBUILD: &str = "/opt/apitop-test-tools/node_modules/@esbuild/linux-x64/bin/esbuild";

/// The gohttps test server on a free port (not traced unless a test says so).
fn go_server(binary: &str) -> (Guard, u16) {
    let (c, k) = cert();
    let port = free_port();
    let guard = Guard(
        Command::new(go_fixture(binary))
            .arg("server")
            .arg(format!("127.0.0.1:{port}"))
            .arg(&c)
            .arg(&k)
            .stdout(Stdio::null())
            // The port probe's bare connect makes it log a handshake error.
            .stderr(Stdio::null())
            .spawn()
            .expect("starting gohttps server"),
    );
    wait_for_port(port);
    (guard, port)
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// Runs the Go client under `apitop -- ...` and checks every POST with its response.
fn client_capture(binary: &str, http1: bool) {
    let (_server, port) = go_server("gohttps");
    let url = format!("https://127.0.0.1:{port}/echo");
    let payload = r#"{"user":"ada","items":[1,2,3]}"#;
    let client = go_fixture(binary);
    let mut cmd = Command::new(APITOP);
    cmd.arg("--json").arg("--").arg(&client);
    cmd.args(["client", &url, "3", payload])
        .stdin(Stdio::null());
    if http1 {
        cmd.env("GODEBUG", "http2client=0");
    }
    let run = Run::from_output(cmd.output().expect("running apitop"));
    run.assert_ok();
    let proto = if http1 { "HTTP/1.1" } else { "HTTP/2" };
    let echo = run.with_path("/echo");
    assert_eq!(
        echo.len(),
        3,
        "{binary} {proto}:\n{}\n{}",
        run.stdout,
        run.stderr
    );
    for x in echo {
        assert_eq!(x["protocol"], proto, "{x}");
        assert_eq!(x["tls"], true, "{x}");
        assert_eq!(x["role"], "client", "{x}");
        assert_eq!(x["method"], "POST", "{x}");
        assert_eq!(x["status"], 200, "{x}");
        assert_eq!(json(&body(x, "request")), json(payload), "{x}");
        let resp = json(&body(x, "response"));
        assert_eq!(resp["got"], json(payload), "{x}");
        // The server saw the same protocol (Go spells HTTP/2 "HTTP/2.0").
        let seen = if http1 { "HTTP/1.1" } else { "HTTP/2.0" };
        assert_eq!(resp["proto"], seen, "{x}");
        assert_eq!(header(x, "response", "x-go-server"), Some("gohttps"), "{x}");
        // The walk from *tls.Conn to the socket found the connection's addresses.
        assert_eq!(
            x["peer_addr"].as_str(),
            Some(format!("127.0.0.1:{port}").as_str()),
            "{x}"
        );
    }
}

#[test]
fn go_client_http2() {
    if ebpf_available("go_client_http2") {
        client_capture("gohttps", false);
    }
}

#[test]
fn go_client_http1() {
    if ebpf_available("go_client_http1") {
        client_capture("gohttps", true);
    }
}

#[test]
fn go_client_stripped_pie_http2() {
    if ebpf_available("go_client_stripped_pie_http2") {
        client_capture("gohttps-stripped", false);
    }
}

#[test]
fn go_client_stripped_pie_http1() {
    if ebpf_available("go_client_stripped_pie_http1") {
        client_capture("gohttps-stripped", true);
    }
}

#[test]
fn go_client_external_link_http2() {
    if ebpf_available("go_client_external_link_http2") {
        client_capture("gohttps-extld", false);
    }
}

/// curl against Debian's caddy, captured on caddy's side: HTTP/2 and HTTP/1.1, with bodies.
#[test]
fn caddy_server_side() {
    if !ebpf_available("caddy_server_side") {
        return;
    }
    need("curl");
    let (caddy, port) = caddy();
    let live = apitop_start(&["-p", &caddy.pid().to_string(), "--no-plain"]);
    let url = format!("https://127.0.0.1:{port}/hello");
    let payload = r#"{"order":42}"#;
    // HTTP/2: a GET (caddy's `respond` does not read request bodies, and on HTTP/2 it resets a
    // stream whose body is still arriving: curl then fails about one time in six, traced or
    // not). HTTP/1.1: a POST with its body. Request bodies over HTTP/2 on the server side are
    // covered by go_server_thousand_requests.
    for (proto, data) in [("--http2", None), ("--http1.1", Some(payload))] {
        let mut curl = Command::new("curl");
        curl.args(["-sSk", proto, "-o", "/dev/null"]);
        if let Some(d) = data {
            curl.args(["-H", "content-type: application/json", "--data", d]);
        }
        let out = curl.arg(&url).output().expect("curl");
        assert!(
            out.status.success(),
            "curl {proto} failed ({}): {}; caddy alive: {}; apitop: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            Path::new(&format!("/proc/{}", caddy.pid())).exists(),
            live.stderr()
        );
    }
    let run = live.stop_when(|xs| count_path(xs, "/hello") >= 2);
    run.assert_ok();
    let hello = run.with_path("/hello");
    assert_eq!(hello.len(), 2, "{}\n{}", run.stdout, run.stderr);
    for (x, (proto, method, request)) in hello
        .iter()
        .zip([("HTTP/2", "GET", ""), ("HTTP/1.1", "POST", payload)])
    {
        assert_eq!(x["protocol"], proto, "{x}");
        assert_eq!(x["role"], "server", "{x}");
        assert_eq!(x["comm"], "caddy", "{x}");
        assert_eq!(x["method"], method, "{x}");
        assert_eq!(x["status"], 200, "{x}");
        assert_eq!(body(x, "request"), request, "{x}");
        assert_eq!(body(x, "response"), r#"{"from":"caddy"}"#, "{x}");
    }
    // The target survived the probes and keeps serving.
    curl_ok(&url);
}

/// esbuild (Go 1.26, stripped: the code base comes from its module data) serving HTTPS.
#[test]
fn esbuild_go126_server_side() {
    if !ebpf_available("esbuild_go126_server_side") {
        return;
    }
    assert!(
        Path::new(ESBUILD).exists(),
        "{ESBUILD} missing: run scripts/test-deps.sh"
    );
    let (c, k) = cert();
    let dir = work_dir().join("esbuild-www");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("data.json"), r#"{"served":"by esbuild"}"#).unwrap();
    let port = free_port();
    let server = Guard(
        Command::new(ESBUILD)
            .arg(format!("--servedir={}", dir.display()))
            .arg(format!("--serve=127.0.0.1:{port}"))
            .arg(format!("--certfile={}", c.display()))
            .arg(format!("--keyfile={}", k.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting esbuild"),
    );
    wait_for_port(port);
    let live = apitop_start(&["-p", &server.pid().to_string(), "--no-plain"]);
    let url = format!("https://127.0.0.1:{port}/data.json");
    for _ in 0..2 {
        curl_ok(&url);
    }
    let run = live.stop_when(|xs| count_path(xs, "/data.json") >= 2);
    run.assert_ok();
    let got = run.with_path("/data.json");
    assert_eq!(got.len(), 2, "{}\n{}", run.stdout, run.stderr);
    for x in got {
        assert_eq!(x["role"], "server", "{x}");
        assert_eq!(x["status"], 200, "{x}");
        assert_eq!(body(x, "response"), r#"{"served":"by esbuild"}"#, "{x}");
    }
    curl_ok(&url);
}

/// 1,000 requests on a traced Go server: every one paired, none harmed, the server lives on.
#[test]
fn go_server_thousand_requests() {
    if !ebpf_available("go_server_thousand_requests") {
        return;
    }
    let (server, port) = go_server("gohttps-stripped");
    let live = apitop_start(&["-p", &server.pid().to_string(), "--no-plain"]);
    let url = format!("https://127.0.0.1:{port}/echo");
    let out = Command::new(go_fixture("gohttps"))
        .args(["client", &url, "1000", r#"{"n":1}"#])
        .output()
        .expect("running the Go client");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ok = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("200 "))
        .count();
    assert_eq!(ok, 1000);
    let run = live.stop_when(|xs| count_path(xs, "/echo") >= 1000);
    run.assert_ok();
    let echo = run.with_path("/echo");
    assert_eq!(echo.len(), 1000, "{}", run.stderr);
    assert!(echo
        .iter()
        .all(|x| x["status"] == 200 && body(x, "request") == r#"{"n":1}"#));
    assert_eq!(
        summary_counts(&run.stderr).map(|c| c.2),
        Some(0),
        "{}",
        run.stderr
    );
    let again = Command::new(go_fixture("gohttps"))
        .args(["client", &url, "1", "{}"])
        .output()
        .expect("client after capture");
    assert!(again.status.success(), "the server died after capture");
}

/// `--list` says which Go programs are capturable, with their version.
#[test]
fn list_shows_go_versions() {
    if !ebpf_available("list_shows_go_versions") {
        return;
    }
    let (server, _port) = go_server("gohttps-stripped");
    let out = Command::new(APITOP)
        .args(["--list", "--json"])
        .output()
        .expect("apitop --list");
    assert!(out.status.success());
    let listed = String::from_utf8_lossy(&out.stdout);
    let me = listed
        .lines()
        .map(json)
        .find(|p| p["pid"] == server.pid())
        .expect("the Go server is listed");
    assert_eq!(me["tls"], "go", "{me}");
    assert_eq!(me["capturable"], true, "{me}");
    assert_eq!(me["reason"], "go 1.19 (crypto/tls)", "{me}");
    assert!(
        me["probes"].as_str().unwrap_or("").contains("emulated"),
        "{me}"
    );
}

/// esbuild binaries from npm, each built with another Go release (installed by
/// scripts/test-deps.sh): (esbuild version, Go release, serves HTTPS).
const GO_RELEASES: &[(&str, &str, bool)] = &[
    ("0.14.20", "go 1.17", false),
    ("0.14.38", "go 1.18", false),
    ("0.15.18", "go 1.19", false),
    ("0.17.19", "go 1.20", true),
    ("0.22.0", "go 1.22", true),
    ("0.24.2", "go 1.23", true),
    ("0.27.2", "go 1.25", true),
];

fn esbuild_of(version: &str) -> PathBuf {
    let dir = format!("/opt/apitop-test-tools/esbuild-{version}/node_modules");
    ["@esbuild/linux-x64", "esbuild-linux-64"]
        .iter()
        .map(|p| Path::new(&dir).join(p).join("bin/esbuild"))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("esbuild {version} missing: run scripts/test-deps.sh"))
}

/// esbuild serving `dir` (HTTPS when `tls`) on a free port; its stdin stays open, or it exits.
fn esbuild_serve(binary: &Path, dir: &Path, tls: bool) -> (Guard, u16) {
    let port = free_port();
    let mut cmd = Command::new(binary);
    cmd.arg(format!("--servedir={}", dir.display()))
        .arg(format!("--serve=127.0.0.1:{port}"));
    if tls {
        let (c, k) = cert();
        cmd.arg(format!("--certfile={}", c.display()))
            .arg(format!("--keyfile={}", k.display()));
    }
    let guard = Guard(
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting esbuild"),
    );
    wait_for_port(port);
    (guard, port)
}

/// Every Go release with the register ABI that a registry package here was built with: each is
/// listed as capturable with its version, all are probed at once, the HTTPS ones are captured,
/// and every one keeps serving.
#[test]
fn go_releases_1_17_to_1_25() {
    if !ebpf_available("go_releases_1_17_to_1_25") {
        return;
    }
    let dir = work_dir().join("esbuild-matrix");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("v.json"), r#"{"matrix":true}"#).unwrap();
    let servers: Vec<_> = GO_RELEASES
        .iter()
        .map(|(v, go, tls)| {
            let (guard, port) = esbuild_serve(&esbuild_of(v), &dir, *tls);
            (guard, port, *go, *tls)
        })
        .collect();
    let out = Command::new(APITOP)
        .args(["--list", "--json"])
        .output()
        .expect("apitop --list");
    let listed = String::from_utf8_lossy(&out.stdout);
    for (guard, _, go, _) in &servers {
        let me = listed
            .lines()
            .map(json)
            .find(|p| p["pid"] == guard.pid())
            .expect("listed");
        assert_eq!(me["reason"], format!("{go} (crypto/tls)"), "{me}");
        assert_eq!(me["capturable"], true, "{me}");
    }
    let mut args = vec!["--no-plain".to_string()];
    for (guard, ..) in &servers {
        args.push("-p".into());
        args.push(guard.pid().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let live = apitop_start(&args);
    for (_, port, _, tls) in &servers {
        let scheme = if *tls { "https" } else { "http" };
        curl_ok(&format!("{scheme}://127.0.0.1:{port}/v.json"));
    }
    // Only the TLS servers show (--no-plain).
    let tls_servers = servers.iter().filter(|(.., tls)| *tls).count();
    let run = live.stop_when(|xs| count_path(xs, "/v.json") >= tls_servers);
    run.assert_ok();
    for (guard, port, go, tls) in &servers {
        let got: Vec<_> = run
            .exchanges
            .iter()
            .filter(|x| x["pid"] == guard.pid())
            .collect();
        if *tls {
            assert_eq!(got.len(), 1, "{go}: {}\n{}", run.stdout, run.stderr);
            assert_eq!(got[0]["path"], "/v.json", "{go}");
            assert_eq!(got[0]["role"], "server", "{go}");
            assert_eq!(body(got[0], "response"), r#"{"matrix":true}"#, "{go}");
        } else {
            // Plain HTTP with --no-plain: nothing to see, but the probes sit in its code.
            assert!(got.is_empty(), "{go}");
        }
        let scheme = if *tls { "https" } else { "http" };
        curl_ok(&format!("{scheme}://127.0.0.1:{port}/v.json"));
    }
}

/// `-n`: a Go program started after apitop, under a watched name, is probed from its start:
/// every request of a short-lived client is seen, none cut off mid-stream.
#[test]
fn go_client_started_later_by_name() {
    if !ebpf_available("go_client_started_later_by_name") {
        return;
    }
    let (_server, port) = go_server("gohttps");
    // A copy under a name no other test runs.
    let exe = work_dir().join("gonamed");
    std::fs::copy(go_fixture("gohttps-stripped"), &exe).expect("copy");
    // As `apitop -n caddy` finds caddy on PATH: the executable is probed before it runs.
    let path = format!(
        "{}:{}",
        work_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let live = apitop_start_watching_env(&["-n", "gonamed", "--no-plain"], &[("PATH", &path)]);
    let url = format!("https://127.0.0.1:{port}/echo");
    let out = Command::new(&exe)
        .args(["client", &url, "2", r#"{"late":true}"#])
        .output()
        .expect("running the Go client");
    assert!(out.status.success());
    let run = live.stop_when(|xs| count_path(xs, "/echo") >= 2);
    run.assert_ok();
    let echo = run.with_path("/echo");
    assert_eq!(echo.len(), 2, "{}\n{}", run.stdout, run.stderr);
    for x in echo {
        assert_eq!(x["comm"], "gonamed", "{x}");
        assert_eq!(body(x, "request"), r#"{"late":true}"#, "{x}");
    }
}
