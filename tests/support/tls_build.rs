//! Builds tests/support/tls_client.c, the tiny HTTPS client of the static-OpenSSL and
//! deleted-library tests: statically linked against Debian's libssl.a/libcrypto.a (OpenSSL inside
//! the executable, found through `.symtab`), stripped, or built to `dlopen` copies of
//! libssl.so.3/libcrypto.so.3 and unlink them. Shared by capture/tests and tests/.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Debian's static OpenSSL (libssl-dev) and shared libraries.
pub const LIBSSL_A: &str = "/usr/lib/x86_64-linux-gnu/libssl.a";
pub const LIBCRYPTO_A: &str = "/usr/lib/x86_64-linux-gnu/libcrypto.a";
pub const LIBSSL_SO: &str = "/usr/lib/x86_64-linux-gnu/libssl.so.3";
pub const LIBCRYPTO_SO: &str = "/usr/lib/x86_64-linux-gnu/libcrypto.so.3";

fn source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/support/tls_client.c")
}

/// Why these programs cannot be built here, if they cannot (no gcc, no libssl-dev).
pub fn missing_prerequisite() -> Option<String> {
    for f in [LIBSSL_A, LIBCRYPTO_A, LIBSSL_SO, LIBCRYPTO_SO] {
        if !Path::new(f).exists() {
            return Some(format!("{f} missing (libssl-dev; scripts/test-deps.sh)"));
        }
    }
    let gcc = Command::new("gcc").arg("--version").output();
    if !gcc.is_ok_and(|o| o.status.success()) {
        return Some("no gcc (scripts/test-deps.sh)".into());
    }
    None
}

fn gcc(out: &Path, args: &[&str]) {
    let st = Command::new("gcc")
        .args(["-O2", "-Wall", "-o"])
        .arg(out)
        .arg(source())
        .args(args)
        .status()
        .expect("running gcc");
    assert!(st.success(), "gcc {args:?} failed");
}

/// `dir/tls_static`: OpenSSL linked in statically, symbol table kept.
pub fn build_static(dir: &Path) -> PathBuf {
    let exe = dir.join("tls_static");
    gcc(&exe, &[LIBSSL_A, LIBCRYPTO_A, "-lpthread", "-ldl"]);
    exe
}

/// `dir/tls_stripped`: a copy of `exe` after `strip` (no `.symtab`).
pub fn strip_copy(exe: &Path, dir: &Path) -> PathBuf {
    let out = dir.join("tls_stripped");
    let st = Command::new("strip")
        .arg("-o")
        .arg(&out)
        .arg(exe)
        .status()
        .expect("running strip");
    assert!(st.success(), "strip failed");
    out
}

/// `dir/tls_dlopen`: links no OpenSSL; `--dlopen LIBCRYPTO LIBSSL` loads those files and unlinks
/// them.
pub fn build_dlopen(dir: &Path) -> PathBuf {
    let exe = dir.join("tls_dlopen");
    gcc(&exe, &["-DDYN", "-ldl"]);
    exe
}

/// Copies of libcrypto.so.3 and libssl.so.3 in `dir/libs`, for a `tls_dlopen` run to unlink:
/// (libcrypto, libssl).
pub fn library_copies(dir: &Path) -> (PathBuf, PathBuf) {
    let libs = dir.join("libs");
    std::fs::create_dir_all(&libs).expect("libs dir");
    let crypto = libs.join("libcrypto.so.3");
    let ssl = libs.join("libssl.so.3");
    std::fs::copy(LIBCRYPTO_SO, &crypto).expect("copying libcrypto");
    std::fs::copy(LIBSSL_SO, &ssl).expect("copying libssl");
    (crypto, ssl)
}

/// A `tls_client --wait` run: loaded (and, with `--dlopen`, its libraries unlinked), waiting for
/// a line on stdin before its requests. Killed when dropped.
pub struct WaitingClient {
    child: std::process::Child,
    out: std::io::BufReader<std::process::ChildStdout>,
}

impl WaitingClient {
    /// Starts `exe args...` (which must include `--wait`) and waits for its `READY`.
    pub fn start(exe: &Path, args: &[&str]) -> WaitingClient {
        use std::io::BufRead;
        use std::process::Stdio;
        let mut child = Command::new(exe)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting tls_client");
        let mut out = std::io::BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        out.read_line(&mut line).expect("reading READY");
        assert_eq!(line, "READY\n", "tls_client did not start");
        WaitingClient { child, out }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Lets it make its requests and waits for it to end: the status lines it printed.
    pub fn run(mut self) -> Vec<String> {
        use std::io::{BufRead, Write};
        let mut stdin = self.child.stdin.take().expect("piped");
        stdin.write_all(b"go\n").expect("writing to tls_client");
        drop(stdin);
        let lines: Vec<String> = (&mut self.out).lines().map_while(Result::ok).collect();
        let st = self.child.wait().expect("waiting for tls_client");
        assert!(st.success(), "tls_client failed: {lines:?}");
        assert_eq!(lines.last().map(String::as_str), Some("DONE"), "{lines:?}");
        lines
    }
}

impl Drop for WaitingClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
