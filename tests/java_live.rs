//! Java TLS captured from running JVMs with apitop's real agent (java-agent/, built by
//! scripts/java-agent.sh into target/java-agent/apitop-agent.jar): every JVM here is started
//! before apitop, with nothing on its command line, and `apitop --json --java -p PID` loads the
//! agent into it. Clients and servers are the programs in tests/java, each run on Debian's JDK 17
//! and again on a JDK 21+ when one is under /usr/lib/jvm (`support::javas`):
//! - the JDK HttpClient (the SSLEngine path) over HTTP/1.1 and HTTP/2;
//! - HttpsURLConnection (the blocking SSLSocket path);
//! - com.sun.net.httpserver.HttpsServer, captured server-side while curl calls it; it keeps
//!   serving after apitop exits, and a second apitop session captures it again.
mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use serde_json::Value;
use support::*;

/// The agent jar apitop finds next to its `target/` directory, or None with the reason printed
/// (a failure under CI's `APITOP_REQUIRE_EBPF=1`).
fn agent_ready(test: &str) -> bool {
    let jar = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/java-agent/apitop-agent.jar");
    let why = if !have("java") {
        "no java: run scripts/test-deps.sh".to_string()
    } else if !jar.is_file() {
        format!("{} missing: run scripts/java-agent.sh", jar.display())
    } else {
        return true;
    };
    assert!(
        std::env::var("APITOP_REQUIRE_EBPF").as_deref() != Ok("1"),
        "{test}: {why}"
    );
    eprintln!("{test}: skipped: {why}");
    false
}

fn java_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/java")
        .join(name)
}

/// A JVM running one of tests/java with the source launcher; its stdout lines are read by the
/// test. Killed on drop.
struct Jvm {
    guard: Guard,
    stdin: Option<ChildStdin>,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Jvm {
    fn start(java: &Path, program: &str, args: &[&str]) -> Jvm {
        let mut child: Child = Command::new(java)
            .arg(java_file(program))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting java");
        let stdout = child.stdout.take().expect("piped");
        let stdin = child.stdin.take();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Jvm {
            guard: Guard(child),
            stdin,
            lines,
        }
    }

    fn pid(&self) -> u32 {
        self.guard.pid()
    }

    /// The next stdout line starting with `prefix` (others skipped), within 30 s.
    fn line(&self, prefix: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no '{prefix}' line from the JVM"));
            if line.starts_with(prefix) {
                return line;
            }
        }
    }
}

impl Drop for Jvm {
    fn drop(&mut self) {
        self.stdin = None;
    }
}

/// `java JsonHttpsServer.java`: (server, port, its certificate).
fn json_server(java: &Path) -> (Jvm, u16, PathBuf) {
    let dir = work_dir().join(format!("java-server-{}", free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    let jvm = Jvm::start(
        java,
        "JsonHttpsServer.java",
        &["--dir", dir.to_str().unwrap()],
    );
    let line = jvm.line("listening ");
    let mut parts = line.split_whitespace().skip(1);
    let port = parts.next().and_then(|p| p.parse().ok()).expect("port");
    let cert = PathBuf::from(parts.next().expect("certificate path"));
    (jvm, port, cert)
}

fn curl_post(port: u16, cert: &Path, body: &str) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--fail", "--cacert"])
        .arg(cert)
        .args([
            "-X",
            "POST",
            "-H",
            "content-type: application/json",
            "-d",
            body,
        ])
        .arg(format!("https://127.0.0.1:{port}/api/items"))
        .output()
        .expect("running curl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn posts(run: &Run, path: &str) -> Vec<Value> {
    run.exchanges
        .iter()
        .filter(|x| x["path"] == path && x["method"] == "POST")
        .cloned()
        .collect()
}

/// A POST with a JSON body and its JSON response, as captured.
fn assert_json_post(x: &Value, role: &str, protocol: &str) {
    assert_eq!(x["role"], role, "{x}");
    assert_eq!(x["tls"], true, "{x}");
    assert_eq!(x["protocol"], protocol, "{x}");
    assert_eq!(x["status"], 200, "{x}");
    let json = |side| -> Value {
        serde_json::from_str(&body(x, side)).unwrap_or_else(|e| panic!("{side} body: {e}: {x}"))
    };
    let (req, resp) = (json("request"), json("response"));
    assert!(req.is_object(), "{x}");
    assert!(resp.is_object(), "{x}");
}

#[test]
fn jvm_https_server_captured_then_released_and_attached_again() {
    if !ebpf_available("java_server") || !agent_ready("java_server") {
        return;
    }
    for java in javas() {
        eprintln!("java_server: {}", java.display());
        server_captured_then_released_and_attached_again(&java);
    }
}

fn server_captured_then_released_and_attached_again(java: &Path) {
    let (server, port, cert) = json_server(java);
    let pid = server.pid().to_string();
    let live = apitop_start(&["--java", "-p", &pid]);
    for i in 0..2 {
        let r = curl_post(port, &cert, &format!("{{\"order\":{i},\"item\":\"book\"}}"));
        assert!(r.contains("\"echo\""), "{r}");
    }
    let run = live.stop_when(|xs| xs.len() >= 2);
    let jvm = java.display();
    assert!(
        run.stderr.contains("agent loaded"),
        "{jvm}: the line saying the agent is in: {}",
        run.stderr
    );
    let xs = posts(&run, "/api/items");
    assert_eq!(xs.len(), 2, "{jvm}\n{}\n{}", run.stdout, run.stderr);
    for (i, x) in xs.iter().enumerate() {
        assert_json_post(x, "server", "HTTP/1.1");
        let req: Value = serde_json::from_str(&body(x, "request")).unwrap();
        assert_eq!(req["order"], i as u64, "{jvm}: {x}");
        let resp: Value = serde_json::from_str(&body(x, "response")).unwrap();
        assert_eq!(resp["echo"]["item"], "book", "{jvm}: {x}");
    }

    // apitop gone: the JVM keeps serving (its hooks idle).
    let r = curl_post(port, &cert, "{\"after\":true}");
    assert!(r.contains("\"after\":true"), "{jvm}: {r}");
    // A second session loads the agent again (it reconnects, no second set of hooks) and
    // captures each request once.
    let live = apitop_start(&["--java", "-p", &pid]);
    curl_post(port, &cert, "{\"second\":1}");
    let run = live.stop_when(|xs| !xs.is_empty());
    let xs = posts(&run, "/api/items");
    assert_eq!(xs.len(), 1, "{jvm}\n{}\n{}", run.stdout, run.stderr);
    assert_json_post(&xs[0], "server", "HTTP/1.1");
    assert!(
        body(&xs[0], "request").contains("second"),
        "{jvm}: {}",
        xs[0]
    );
}

/// A client JVM POSTing in a loop, started before apitop; apitop attaches and captures its
/// requests with the responses.
fn client_captured(
    java: &Path,
    program: &str,
    url: &str,
    cert: &Path,
    extra: &[&str],
    protocol: &str,
) {
    let mut args = vec!["--url", url, "--cacert", cert.to_str().unwrap()];
    args.extend_from_slice(&["--interval-ms", "150", "--count", "0", "--until-stdin-eof"]);
    args.extend_from_slice(extra);
    let client = Jvm::start(java, program, &args);
    client.line("resp ");
    let pid = client.pid().to_string();
    let live = apitop_start(&["--java", "-p", &pid]);
    let path = url
        .rsplit_once(".0.0.1:")
        .map(|(_, p)| p)
        .unwrap_or_default();
    let path = &path[path.find('/').unwrap_or(0)..];
    let is_post = |x: &Value| x["path"] == path && x["method"] == "POST";
    let run = live.stop_when(|xs| xs.iter().filter(|x| is_post(x)).count() >= 4);
    let xs = posts(&run, path);
    let jvm = java.display();
    assert!(xs.len() >= 4, "{jvm}\n{}\n{}", run.stdout, run.stderr);
    // The agent's hooks go in while the client is mid-request: the first exchange may have
    // been seen from its middle (a body without its headers, or the reverse). Every later one
    // is whole.
    for x in xs.iter().skip(1) {
        assert_json_post(x, "client", protocol);
        let req: Value = serde_json::from_str(&body(x, "request")).unwrap();
        assert!(req["seq"].is_u64(), "{jvm}: {x}");
    }
}

#[test]
fn jdk_httpclient_over_http1_and_http2() {
    if !ebpf_available("java_httpclient") || !agent_ready("java_httpclient") {
        return;
    }
    // The JDK's server speaks HTTP/1.1 only: HTTP/2 goes through nginx, which passes each
    // request on to the JDK server (on Debian's JDK). nginx reads the whole body first: a
    // `return` would answer before the body and reset the stream, and the client would never
    // send it.
    let (_server, port, cert) = json_server(&javas()[0]);
    let (c, k) = support::cert();
    let h2 = free_port();
    let server = format!(
        "server {{ listen 127.0.0.1:{h2} ssl http2; ssl_certificate {}; ssl_certificate_key {};\n\
         location / {{ proxy_pass https://127.0.0.1:{port}; }} }}",
        c.display(),
        k.display()
    );
    let _nginx = start_nginx("java-h2", 1, &server, &[h2]);
    for java in javas() {
        eprintln!("java_httpclient: {}", java.display());
        // HTTP/1.1 against the JDK server (not a target here).
        let url = format!("https://127.0.0.1:{port}/api/orders");
        let h1 = ["--http", "1.1"];
        client_captured(&java, "HttpClientPost.java", &url, &cert, &h1, "HTTP/1.1");
        let url = format!("https://127.0.0.1:{h2}/api/orders");
        let h2 = ["--http", "2"];
        client_captured(&java, "HttpClientPost.java", &url, &c, &h2, "HTTP/2");
    }
}

#[test]
fn https_url_connection_client() {
    if !ebpf_available("java_urlconnection") || !agent_ready("java_urlconnection") {
        return;
    }
    let (_server, port, cert) = json_server(&javas()[0]);
    let url = format!("https://127.0.0.1:{port}/api/orders");
    for java in javas() {
        eprintln!("java_urlconnection: {}", java.display());
        client_captured(
            &java,
            "UrlConnectionPost.java",
            &url,
            &cert,
            &[],
            "HTTP/1.1",
        );
    }
}
