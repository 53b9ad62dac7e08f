//! The servers the tests talk to: the Python test server (TLS or plain HTTP) with a
//! throw-away certificate, nginx with its own configuration, and waiting on their ports.
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::{have, work_dir, Guard};

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

/// The repeating pattern the test server's /big serves.
pub fn pattern(n: usize) -> Vec<u8> {
    b"0123456789abcdef"
        .iter()
        .copied()
        .cycle()
        .take(n)
        .collect()
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
