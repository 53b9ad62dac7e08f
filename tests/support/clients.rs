//! TLS clients to capture: Python clients looping on a timer or making requests in batches
//! they are told, and curl.
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::Guard;

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
