//! Shared pieces of the end-to-end tests: root-aware skipping, a throw-away certificate, real
//! TLS servers on 127.0.0.1, and running the `apitop` binary.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

pub const APITOP: &str = env!("CARGO_BIN_EXE_apitop");

/// True when eBPF tests can run. Without root they skip with a printed reason, unless
/// `APITOP_REQUIRE_EBPF=1` (CI), where skipping would hide a broken capture path.
pub fn ebpf_available(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        return true;
    }
    let reason = "not root: live eBPF capture needs CAP_BPF and CAP_PERFMON";
    if std::env::var("APITOP_REQUIRE_EBPF").as_deref() == Ok("1") {
        panic!("{test}: {reason}, and APITOP_REQUIRE_EBPF=1 forbids skipping");
    }
    eprintln!("SKIPPED {test}: {reason}");
    false
}

/// A directory for this test run's files. A test process cannot remove its own when it ends
/// (statics are not dropped), so each run first removes those of test processes gone: copies
/// of Go servers made them up to ~170 MB each, and they filled CI machines' disks.
pub fn work_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let tmp = std::env::temp_dir();
        for e in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
            let name = e.file_name();
            let pid = name.to_str().and_then(|n| n.strip_prefix("apitop-e2e-"));
            if let Some(pid) = pid.filter(|p| p.parse::<u32>().is_ok()) {
                if !Path::new("/proc").join(pid).exists() {
                    // Best effort: another run may be removing it too.
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let d = tmp.join(format!("apitop-e2e-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("creating the test directory");
        d
    })
}

/// A self-signed certificate for 127.0.0.1 / localhost: (cert, key).
pub fn cert() -> (PathBuf, PathBuf) {
    static CERT: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    CERT.get_or_init(|| {
        let dir = work_dir();
        let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
        let st = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args([
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
            ])
            .arg("-keyout")
            .arg(&k)
            .arg("-out")
            .arg(&c)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("running openssl (installed by scripts/test.sh)");
        assert!(st.success(), "openssl req failed");
        (c, k)
    })
    .clone()
}

/// A child process killed when dropped.
pub struct Guard(pub Child);

impl Drop for Guard {
    /// SIGTERM first, so a server like nginx takes its worker processes down with it.
    fn drop(&mut self) {
        // SAFETY: plain kill(2) on our own child.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Guard {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

/// The Python TLS test server (tests/support/https_server.py) on a free port.
pub fn https_server() -> (Guard, u16) {
    let (c, k) = cert();
    python_server(&[c.as_os_str(), k.as_os_str()])
}

/// The same test server speaking plain HTTP (no TLS).
pub fn http_server() -> (Guard, u16) {
    python_server(&["--plain".as_ref()])
}

/// Starts tests/support/https_server.py with `args`; returns it and the port it printed.
fn python_server(args: &[&std::ffi::OsStr]) -> (Guard, u16) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/support/https_server.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting python3");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut line)
        .expect("reading the server's port");
    let port = line
        .trim()
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("test server did not start: {line:?}"));
    (Guard(child), port)
}

/// nginx in the foreground with its own files under the test directory, running `servers`
/// (`server { ... }` blocks) inside `http { }`; returns once every port in `ports` accepts.
pub fn start_nginx(name: &str, workers: u32, servers: &str, ports: &[u16]) -> Guard {
    assert!(have("nginx"), "nginx is installed by scripts/test-deps.sh");
    let dir = work_dir().join(format!("nginx-{name}"));
    std::fs::create_dir_all(&dir).expect("nginx directory");
    let d = dir.display();
    let conf = format!(
        "worker_processes {workers};\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{}}\nhttp {{\n access_log off;\n client_body_temp_path {d}/body;\n\
         proxy_temp_path {d}/proxy;\n fastcgi_temp_path {d}/fastcgi;\n uwsgi_temp_path {d}/uwsgi;\n\
         scgi_temp_path {d}/scgi;\n{servers}\n}}\n"
    );
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf).expect("nginx.conf");
    let guard = Guard(
        Command::new("nginx")
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting nginx"),
    );
    for &p in ports {
        wait_for_port(p);
    }
    guard
}

/// Exchanges (one JSON object per stdout line) and stderr of a finished apitop run.
pub struct Run {
    pub exchanges: Vec<Value>,
    pub stdout: String,
    pub stderr: String,
    pub status: std::process::ExitStatus,
}

impl Run {
    pub fn from_output(out: Output) -> Run {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let exchanges = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
            .collect();
        Run {
            exchanges,
            stdout,
            stderr,
            status: out.status,
        }
    }

    /// Exchanges whose path starts with `prefix`.
    pub fn with_path(&self, prefix: &str) -> Vec<&Value> {
        self.exchanges
            .iter()
            .filter(|x| x["path"].as_str().unwrap_or("").starts_with(prefix))
            .collect()
    }

    /// Only the exchanges to or from `port` on 127.0.0.1: tests that watch a process *name* run
    /// beside other tests whose processes share that name.
    pub fn only_port(mut self, port: u16) -> Run {
        self.exchanges.retain(|x| on_port(x, port));
        self
    }

    /// The `path` of every exchange, in output order.
    pub fn paths(&self) -> Vec<&str> {
        self.exchanges
            .iter()
            .map(|x| x["path"].as_str().unwrap_or(""))
            .collect()
    }

    pub fn assert_ok(&self) {
        assert!(
            self.status.success(),
            "apitop failed ({}):\n{}",
            self.status,
            self.stderr
        );
    }
}

/// Whether an exchange is to or from `port` on 127.0.0.1 (see [`Run::only_port`]).
pub fn on_port(x: &Value, port: u16) -> bool {
    let tail = format!(":{port}");
    let hit = |v: &Value| v.as_str().is_some_and(|s| s.ends_with(&tail));
    hit(&x["host"]) || hit(&x["local_addr"]) || hit(&x["peer_addr"])
}

/// How many of `xs` have a path starting with `prefix`.
pub fn count_path(xs: &[Value], prefix: &str) -> usize {
    xs.iter()
        .filter(|x| x["path"].as_str().unwrap_or("").starts_with(prefix))
        .count()
}

/// `apitop --json <args> -- <command>`: captures the command from its first byte.
pub fn apitop_cmd(args: &[&str], command: &[&str]) -> Run {
    let out = Command::new(APITOP)
        .arg("--json")
        .args(args)
        .arg("--")
        .args(command)
        .stdin(Stdio::null())
        .output()
        .expect("running apitop");
    Run::from_output(out)
}

/// A running `apitop --json <args>` to be stopped with SIGINT. Its stdout is read all along, as
/// a consumer would: apitop must never block on a full pipe.
pub struct Live {
    child: Child,
    stderr_path: PathBuf,
    /// stdout so far, appended to by the reader thread.
    out: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    stdout: Option<std::thread::JoinHandle<()>>,
}

/// Waits until `cond` holds, polling; fails naming `what` if it does not within `timeout`. For
/// waiting on an outcome (output written, a process started) instead of sleeping a fixed time.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How long a live test waits for output it expects before stopping apitop anyway (and letting
/// its assertions say what is missing).
pub const OUTPUT_TIMEOUT: Duration = Duration::from_secs(20);

/// The exchanges in complete stdout lines so far (a line still being written is left out).
fn exchanges_in(stdout: &[u8]) -> Vec<Value> {
    let text = String::from_utf8_lossy(stdout);
    let complete = text.rsplit_once('\n').map_or("", |(done, _)| done);
    complete
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Starts apitop and waits until it has attached (its "capturing" line on stderr).
pub fn apitop_start(args: &[&str]) -> Live {
    apitop_start_until(args, "capturing pid")
}

/// Starts apitop with `-n` names that may match nothing yet: waits until the probes are loaded.
pub fn apitop_start_watching(args: &[&str]) -> Live {
    apitop_start_until(args, "watching")
}

/// As [`apitop_start_watching`], with extra environment variables for apitop.
pub fn apitop_start_watching_env(args: &[&str], env: &[(&str, &str)]) -> Live {
    apitop_start_until_env(args, "watching", env)
}

fn apitop_start_until(args: &[&str], ready: &str) -> Live {
    apitop_start_until_env(args, ready, &[])
}

fn apitop_start_until_env(args: &[&str], ready: &str, env: &[(&str, &str)]) -> Live {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let stderr_path = work_dir().join(format!("apitop-stderr-{n}.txt"));
    let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
    let child = Command::new(APITOP)
        .arg("--json")
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("running apitop");
    let mut child = child;
    let mut pipe = child.stdout.take().expect("piped");
    let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = out.clone();
    let stdout = Some(std::thread::spawn(move || {
        let mut buf = [0u8; 64 * 1024];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => sink
                    .lock()
                    .expect("stdout buffer")
                    .extend_from_slice(&buf[..n]),
            }
        }
    }));
    let live = Live {
        child,
        stderr_path,
        out,
        stdout,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let err = live.stderr();
        if err.contains(ready) {
            return live;
        }
        if err.contains("apitop: ") && !err.contains("capturing") && !err.contains("watching") {
            panic!("apitop did not start: {err}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("apitop did not attach within 30 s: {}", live.stderr());
}

impl Live {
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exchanges apitop has written so far.
    pub fn exchanges_so_far(&self) -> Vec<Value> {
        exchanges_in(&self.out.lock().expect("stdout buffer"))
    }

    /// Waits until the exchanges written so far satisfy `done` (at most [`OUTPUT_TIMEOUT`]),
    /// then sends SIGINT and collects the output: a test waits for what it needs, not a fixed
    /// time. On timeout it stops anyway; the test's assertions then say what is missing.
    pub fn stop_when(self, done: impl Fn(&[Value]) -> bool) -> Run {
        let deadline = Instant::now() + OUTPUT_TIMEOUT;
        while !done(&self.exchanges_so_far()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop_now()
    }

    /// Sends SIGINT and collects the output.
    pub fn stop(self) -> Run {
        // Let the last events reach the ring buffer reader.
        std::thread::sleep(Duration::from_millis(300));
        self.stop_now()
    }

    /// Sends SIGINT at once: what is still queued must be drained, not lost.
    pub fn stop_now(self) -> Run {
        // SAFETY: plain kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        self.wait()
    }

    /// Waits for apitop to end by itself (with a timeout).
    pub fn wait(mut self) -> Run {
        let deadline = Instant::now() + Duration::from_secs(30);
        let reader = self.stdout.take().expect("read once");
        let status = loop {
            if let Some(st) = self.child.try_wait().expect("waiting for apitop") {
                break st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("apitop did not exit within 30 s: {}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        reader.join().expect("stdout reader");
        let stdout = std::mem::take(&mut *self.out.lock().expect("stdout buffer"));
        Run::from_output(Output {
            status,
            stdout,
            stderr: std::fs::read(&self.stderr_path).unwrap_or_default(),
        })
    }
}

/// Whether a program is on PATH.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// The repeating pattern the test server's /big serves.
pub fn pattern(n: usize) -> Vec<u8> {
    b"0123456789abcdef"
        .iter()
        .copied()
        .cycle()
        .take(n)
        .collect()
}

/// A Python client that runs `request` (a statement using `c`, `u`, `port`, `i`) every 100 ms for
/// `secs` seconds; returned once its TLS library is mapped, so it can be attached.
pub fn looping_client_script(port: u16, secs: f64, request: &str) -> Guard {
    looping_client_inner(port, secs, request)
}

/// A client that makes requests in batches it is told over stdin ([`run_batch`]) and exits at
/// EOF ([`finish_client`]): a test counts requests, never seconds, so a slow machine or an
/// emulated guest kernel cannot change what it sees.
pub fn batch_client(port: u16) -> Guard {
    batch_client_script(format!(
        "import ssl, sys, urllib.request as u\n\
         c = ssl._create_unverified_context()\n\
         i = 0\n\
         for line in sys.stdin:\n    \
             for _ in range(int(line)):\n        \
                 u.urlopen(f'https://127.0.0.1:{port}/k/{{i}}', context=c).read()\n        \
                 i += 1\n    \
             print('done', flush=True)\n"
    ))
}

/// As [`batch_client`], on one keep-alive connection, each request `GET /big?n={n}`.
pub fn batch_client_keepalive_big(port: u16, n: usize) -> Guard {
    batch_client_script(format!(
        "import ssl, sys, http.client\n\
         c = http.client.HTTPSConnection('127.0.0.1', {port}, context=ssl._create_unverified_context())\n\
         for line in sys.stdin:\n    \
             for _ in range(int(line)):\n        \
                 c.request('GET', '/big?n={n}')\n        \
                 c.getresponse().read()\n    \
             print('done', flush=True)\n"
    ))
}

fn batch_client_script(script: String) -> Guard {
    let g = Guard(
        Command::new("python3")
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3"),
    );
    wait_for_libssl(g)
}

/// Has a [`batch_client`] make `n` requests and waits until it has.
pub fn run_batch(g: &mut Guard, n: usize) {
    use std::io::{Read, Write};
    let stdin = g.0.stdin.as_mut().expect("a batch client has a stdin pipe");
    writeln!(stdin, "{n}")
        .and_then(|_| stdin.flush())
        .expect("client stdin");
    let stdout =
        g.0.stdout
            .as_mut()
            .expect("a batch client has a stdout pipe");
    let mut line = String::new();
    // One byte at a time: a BufReader dropped here could swallow the next batch's reply.
    let mut byte = [0u8; 1];
    while !line.ends_with('\n') {
        match stdout.read(&mut byte) {
            Ok(1) => line.push(byte[0] as char),
            _ => panic!("the batch client died before finishing {n} requests"),
        }
    }
    assert_eq!(line.trim(), "done");
}

/// Closes a [`batch_client`]'s stdin, so it exits, and waits for it.
pub fn finish_client(g: &mut Guard) {
    drop(g.0.stdin.take());
    let _ = g.0.wait();
}

/// Lets a gated client (one that reads a line from stdin before it starts) go.
pub fn start_client(g: &mut Guard) {
    use std::io::Write;
    let stdin = g.0.stdin.as_mut().expect("a gated client has a stdin pipe");
    stdin.write_all(b"go\n").expect("client stdin");
    stdin.flush().expect("client stdin");
}

fn looping_client_inner(port: u16, secs: f64, request: &str) -> Guard {
    let script = format!(
        "import ssl, time, urllib.request as u\n\
         c = ssl._create_unverified_context()\n\
         port = {port}\n\
         end = time.time() + {secs}\n\
         i = 0\n\
         while time.time() < end:\n    {request}\n    i += 1\n    time.sleep(0.1)\n"
    );
    let g = Guard(
        Command::new("python3")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .spawn()
            .expect("python3"),
    );
    wait_for_libssl(g)
}

/// python3 may start as a shim script: waits for the real interpreter and its libssl.
fn wait_for_libssl(g: Guard) -> Guard {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let maps = std::fs::read_to_string(format!("/proc/{}/maps", g.pid())).unwrap_or_default();
        if maps.contains("libssl") {
            return g;
        }
        assert!(Instant::now() < deadline, "python never loaded libssl");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A client requesting /k/<n> every 100 ms for `secs` seconds.
pub fn looping_client(port: u16, secs: f64) -> Guard {
    looping_client_script(
        port,
        secs,
        "u.urlopen(f'https://127.0.0.1:{port}/k/{i}', context=c).read()",
    )
}

/// `curl -sk --http1.1 URL` (not a target itself unless apitop watches its name); must succeed.
pub fn curl_ok(url: &str) {
    let st = Command::new("curl")
        .args(["-sk", "--http1.1", "-o", "/dev/null", url])
        .status()
        .expect("curl");
    assert!(st.success(), "curl {url} failed");
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits until something accepts connections on `port`.
pub fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The numbers of the headless summary line: (exchanges, connections, not HTTP).
pub fn summary_counts(stderr: &str) -> Option<(u64, u64, u64)> {
    let line = stderr.lines().rev().find(|l| l.contains(" exchanges, "))?;
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(3)
        .filter_map(|s| s.parse().ok())
        .collect();
    (nums.len() == 3).then(|| (nums[0], nums[1], nums[2]))
}

/// The body of `side` ("request" or "response") of an exchange, as text.
pub fn body(v: &Value, side: &str) -> String {
    v[side]["body"].as_str().unwrap_or_default().to_string()
}

/// First value of header `name` (case-insensitive) on `side` of an exchange.
pub fn header<'a>(v: &'a Value, side: &str, name: &str) -> Option<&'a str> {
    v[side]["headers"]
        .as_array()?
        .iter()
        .find_map(|h| (h[0].as_str()?.eq_ignore_ascii_case(name)).then(|| h[1].as_str())?)
}

/// Where scripts/test-deps.sh installs npm's har-validator.
pub const HAR_VALIDATOR: &str = "/opt/apitop-test-tools/har-validator";

/// har-validator's verdict on `file`, or None (skipped, with the reason printed) when node or
/// the validator is missing; with `APITOP_REQUIRE_EBPF=1` (CI) a missing one fails instead.
pub fn validate_har(test: &str, file: &Path) -> Option<String> {
    let installed = Path::new(HAR_VALIDATOR).join("node_modules/har-validator/package.json");
    let reason = if !have("node") {
        Some("node is not installed")
    } else if !installed.exists() {
        Some("har-validator is not installed under /opt/apitop-test-tools")
    } else {
        None
    };
    if let Some(reason) = reason {
        let reason = format!("{reason}; scripts/test-deps.sh installs it");
        if std::env::var("APITOP_REQUIRE_EBPF").as_deref() == Ok("1") {
            panic!("{test}: {reason}, and APITOP_REQUIRE_EBPF=1 forbids skipping");
        }
        eprintln!("SKIPPED {test} (validation only): {reason}");
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/support/validate_har.js");
    let out = Command::new("node")
        .arg(script)
        .arg(HAR_VALIDATOR)
        .arg(file)
        .output()
        .expect("running node");
    assert!(
        out.status.success(),
        "har-validator rejects {}:\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}
