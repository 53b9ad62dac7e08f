//! HTTP/2 peers for the end-to-end tests: nginx with `http2` (and a gRPC proxy location), caddy,
//! and the Python gRPC service. Included next to `support` by the tests that need it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{cert, free_port, have, pattern, start_nginx, wait_for_port, work_dir, Guard};

/// Size of the static file nginx serves at `/big.bin`.
pub const BIG: usize = 1 << 20;

/// Debian's python, for which python3-grpcio is built (the one on PATH may be another).
pub const SYSTEM_PYTHON: &str = "/usr/bin/python3";

pub fn need(program: &str) {
    assert!(
        have(program),
        "{program} is not installed: run scripts/test-deps.sh"
    );
}

fn support_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/support")
        .join(name)
}

/// A running nginx speaking HTTP/2 over TLS on 127.0.0.1.
pub struct Nginx {
    pub port: u16,
    pub dir: PathBuf,
    _guard: Guard,
}

impl Nginx {
    /// nginx with `http2` on; `/api/*` answers JSON, `/big.bin` is [`BIG`] bytes of
    /// [`pattern`], and with `grpc_backend` every other path is proxied there with `grpc_pass`.
    pub fn start(name: &str, grpc_backend: Option<u16>) -> Nginx {
        need("nginx");
        let (cert, key) = cert();
        let dir = work_dir().join(format!("nginx-{name}"));
        let www = dir.join("www");
        std::fs::create_dir_all(&www).unwrap();
        std::fs::write(www.join("big.bin"), pattern(BIG)).unwrap();
        let port = free_port();
        let grpc = match grpc_backend {
            Some(p) => format!("  location / {{ grpc_pass grpc://127.0.0.1:{p}; }}\n"),
            None => String::new(),
        };
        // nginx 1.22 (Debian 12) spells it `listen ... http2`; newer ones also accept
        // `http2 on;`, which 1.22 rejects.
        let server = format!(
            " server {{\n  listen 127.0.0.1:{port} ssl http2;\n\
             ssl_certificate {};\n  ssl_certificate_key {};\n  root {};\n\
             location /api/ {{ default_type application/json; \
             return 200 '{{\"from\":\"nginx\",\"method\":\"$request_method\",\"uri\":\"$uri\"}}'; }}\n\
             location = /big.bin {{ default_type application/octet-stream; }}\n{grpc} }}",
            cert.display(),
            key.display(),
            www.display(),
        );
        let guard = start_nginx(name, 1, &server, &[port]);
        Nginx {
            port,
            dir,
            _guard: guard,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }
}

/// caddy (Go's TLS, so only the client side is captured) serving `/hello` and `/big.bin`.
pub fn caddy() -> (Guard, u16) {
    need("caddy");
    let (cert, key) = cert();
    let dir = work_dir().join("caddy");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("big.bin"), pattern(BIG)).unwrap();
    let port = free_port();
    let admin = free_port();
    let caddyfile = format!(
        "{{\n admin 127.0.0.1:{admin}\n auto_https off\n storage file_system {}\n}}\n\
         https://127.0.0.1:{port} {{\n bind 127.0.0.1\n tls {} {}\n\
         header /hello Content-Type application/json\n\
         respond /hello `{{\"from\":\"caddy\"}}` 200\n\
         root * {}\n file_server\n}}\n",
        dir.join("data").display(),
        cert.display(),
        key.display(),
        dir.display(),
    );
    let path = dir.join("Caddyfile");
    std::fs::write(&path, caddyfile).unwrap();
    let guard = Guard(
        Command::new("caddy")
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&path)
            .env("HOME", &dir)
            .env("XDG_DATA_HOME", dir.join("data"))
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting caddy"),
    );
    wait_for_port(port);
    (guard, port)
}

/// Whether Debian's python3-grpcio is importable by [`SYSTEM_PYTHON`].
pub fn have_grpcio() -> bool {
    Command::new(SYSTEM_PYTHON)
        .args(["-c", "import grpc"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// gRPC's wheel from PyPI (scripts/test-deps.sh): its `cygrpc` links BoringSSL statically,
/// stripped. On `PYTHONPATH` it takes the place of Debian's python3-grpcio (which uses the
/// system's OpenSSL).
pub const GRPC_WHEEL: &str = "/opt/apitop-test-tools/grpcio";

/// The gRPC test service (tests/support/grpc_server.py): `tls` on its own certificate, else
/// cleartext (behind nginx's `grpc_pass`).
pub fn grpc_server(tls: bool) -> (Guard, u16) {
    grpc_server_on(tls, None)
}

/// [`grpc_server`] with `python_path` first on `PYTHONPATH` (e.g. [`GRPC_WHEEL`]).
pub fn grpc_server_on(tls: bool, python_path: Option<&str>) -> (Guard, u16) {
    assert!(
        have_grpcio(),
        "python3-grpcio is not installed for {SYSTEM_PYTHON}: run scripts/test-deps.sh"
    );
    let (c, k) = cert();
    let mut cmd = Command::new(SYSTEM_PYTHON);
    if let Some(p) = python_path {
        cmd.env("PYTHONPATH", p);
    }
    cmd.arg(support_file("grpc_server.py"));
    if tls {
        cmd.arg(&c).arg(&k);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting the gRPC server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut line)
        .expect("reading the gRPC server's port");
    let port = line
        .trim()
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("gRPC server did not start: {line:?}"));
    (Guard(child), port)
}

/// The command line of the gRPC test client (tests/support/grpc_client.py) against `target`.
pub fn grpc_client_cmd(target: &str) -> Vec<String> {
    grpc_client_cmd_on(target, None)
}

/// [`grpc_client_cmd`] with `python_path` first on `PYTHONPATH` (through `env`, which execs the
/// client in the same process).
pub fn grpc_client_cmd_on(target: &str, python_path: Option<&str>) -> Vec<String> {
    let (c, _) = cert();
    let env: Vec<String> = match python_path {
        Some(p) => vec!["env".into(), format!("PYTHONPATH={p}")],
        None => vec![],
    };
    env.into_iter()
        .chain([
            SYSTEM_PYTHON.to_string(),
            support_file("grpc_client.py").display().to_string(),
            target.to_string(),
            c.display().to_string(),
        ])
        .collect()
}

/// Runs the gRPC test client against `target` (Debian's grpcio) and checks it succeeded.
pub fn run_grpc_client(target: &str) {
    let cmd = grpc_client_cmd(target);
    let st = Command::new(&cmd[0])
        .args(&cmd[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("running the gRPC client");
    assert!(st.success(), "the gRPC client failed");
}

/// The path of a node script in the work directory.
pub fn script(name: &str, text: &str) -> PathBuf {
    let p = work_dir().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A running `apitop --json <args>` writing to files. Unlike `support::Live`, whose stdout pipe
/// is read only at the end, a long run cannot block on a full pipe (and stop draining the ring
/// buffer) before SIGINT.
pub struct LiveFile {
    child: std::process::Child,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
}

/// Starts apitop and waits for its first "capturing pid" line (a process already running).
pub fn apitop_start_to_file(args: &[&str]) -> LiveFile {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let stdout_path = work_dir().join(format!("apitop-h2-stdout-{n}.json"));
    let stderr_path = work_dir().join(format!("apitop-h2-stderr-{n}.txt"));
    let child = Command::new(crate::support::APITOP)
        .arg("--json")
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("running apitop");
    let live = LiveFile {
        child,
        stdout_path,
        stderr_path,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let err = std::fs::read_to_string(&live.stderr_path).unwrap_or_default();
        if err.contains("capturing pid") {
            return live;
        }
        // "watching for processes named ..." comes first; anything else before "capturing" is
        // a failure to start.
        if err
            .lines()
            .any(|l| l.starts_with("apitop: ") && !l.starts_with("apitop: watching"))
        {
            panic!("apitop did not start: {err}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "apitop did not attach within 30 s: {}",
        std::fs::read_to_string(&live.stderr_path).unwrap_or_default()
    );
}

impl LiveFile {
    /// The exchanges apitop has written so far (complete lines).
    pub fn exchanges_so_far(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.stdout_path).unwrap_or_default();
        let complete = text.rsplit_once('\n').map_or("", |(done, _)| done);
        complete
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits until the exchanges written so far satisfy `done` (at most
    /// `support::OUTPUT_TIMEOUT`; the test's assertions then say what is missing), sends SIGINT
    /// and collects the output.
    pub fn stop_when(self, done: impl Fn(&[Value]) -> bool) -> crate::support::Run {
        let deadline = Instant::now() + crate::support::OUTPUT_TIMEOUT;
        while !done(&self.exchanges_so_far()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop(Duration::ZERO)
    }

    /// Waits `settle` for the last events, sends SIGINT and collects the output.
    pub fn stop(mut self, settle: Duration) -> crate::support::Run {
        std::thread::sleep(settle);
        // SAFETY: plain kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(st) = self.child.try_wait().expect("waiting for apitop") {
                break st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("apitop did not exit within 30 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        crate::support::Run::from_output(std::process::Output {
            status,
            stdout: std::fs::read(&self.stdout_path).unwrap_or_default(),
            stderr: std::fs::read(&self.stderr_path).unwrap_or_default(),
        })
    }
}
