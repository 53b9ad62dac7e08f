//! End to end: OpenSSL where a dynamic-symbol lookup does not find it. A client statically
//! linked against Debian's libssl.a (captured through `.symtab`, also with memory BIOs, where no
//! TLS call touches the socket), the same client stripped (listed with the reason it cannot be
//! captured), and a client that `dlopen`s copies of libssl/libcrypto and unlinks them (captured
//! through `/proc/PID/map_files/`). The clients are tests/support/tls_client.c, built here.
mod support;

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use support::tls_build::*;
use support::*;

/// The build directory, or None (test skipped with the reason) without gcc or libssl-dev.
fn build_dir(test: &str) -> Option<PathBuf> {
    if !ebpf_available(test) {
        return None;
    }
    if let Some(why) = missing_prerequisite() {
        if std::env::var("APITOP_REQUIRE_EBPF").as_deref() == Ok("1") {
            panic!("{test}: {why}");
        }
        eprintln!("SKIPPED {test}: {why}");
        return None;
    }
    let d = work_dir().join(test);
    std::fs::create_dir_all(&d).expect("test dir");
    Some(d)
}

/// `apitop --list --json`'s line for `pid`.
fn listed(pid: u32) -> Value {
    let out = Command::new(APITOP)
        .args(["--list", "--json"])
        .output()
        .expect("apitop --list");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|p| p["pid"] == pid)
        .unwrap_or_else(|| panic!("pid {pid} not listed:\n{text}"))
}

fn assert_json_exchange(x: &Value, port: u16) {
    assert_eq!(x["method"], "GET", "{x}");
    assert_eq!(x["path"], "/json", "{x}");
    assert_eq!(x["status"], 200, "{x}");
    assert_eq!(x["tls"], true, "{x}");
    assert_eq!(x["role"], "client", "{x}");
    assert_eq!(x["host"], format!("127.0.0.1:{port}").as_str(), "{x}");
    assert_eq!(
        header(x, "request", "user-agent"),
        Some("tls_client"),
        "{x}"
    );
    let resp: Value = serde_json::from_str(&body(x, "response")).expect("JSON body");
    assert_eq!(resp["users"][0]["name"], "ada", "{x}");
}

#[test]
fn static_openssl_captured_through_symtab() {
    let Some(d) = build_dir("static_openssl_captured_through_symtab") else {
        return;
    };
    let exe = build_static(&d);
    let (_srv, port) = https_server();
    let port_s = port.to_string();
    // Spawned by apitop: probed through its executable before its first instruction.
    let run = apitop_cmd(&[], &[exe.to_str().unwrap(), &port_s, "/json", "2"]);
    run.assert_ok();
    assert_eq!(run.exchanges.len(), 2, "{}\n{}", run.stdout, run.stderr);
    for x in &run.exchanges {
        assert_json_exchange(x, port);
        assert_eq!(x["comm"], "tls_static");
        assert_eq!(x["peer_addr"], format!("127.0.0.1:{port}").as_str(), "{x}");
    }
}

#[test]
fn static_openssl_listed_and_attached_by_pid() {
    let Some(d) = build_dir("static_openssl_listed_and_attached_by_pid") else {
        return;
    };
    let exe = build_static(&d);
    let (_srv, port) = https_server();
    let client = WaitingClient::start(&exe, &["--wait", &port.to_string(), "/json", "1"]);
    let me = listed(client.pid());
    eprintln!("--list --json, static: {me}");
    assert_eq!(me["tls"], "openssl_in_exe", "{me}");
    assert_eq!(me["capturable"], true, "{me}");
    assert_eq!(
        me["reason"],
        format!(
            "openssl (static in {}, .symtab: SSL_read, SSL_write, SSL_read_ex, SSL_write_ex)",
            exe.display()
        )
        .as_str(),
        "{me}"
    );
    assert!(me["probes"].as_str().unwrap_or("").contains("SSL_"), "{me}");
    let live = apitop_start(&["-p", &client.pid().to_string()]);
    let lines = client.run();
    assert_eq!(lines[0], "HTTP/1.1 200 OK");
    let run = live.stop_when(|xs| !xs.is_empty());
    run.assert_ok();
    assert_eq!(run.exchanges.len(), 1, "{}\n{}", run.stdout, run.stderr);
    assert_json_exchange(&run.exchanges[0], port);
}

/// Memory BIOs: OpenSSL never touches the socket, so no syscall inside `SSL_read` reveals the
/// fd. The socket the thread read just before binds the `SSL*` to its connection; with
/// `--no-plain` (no socket tracking) the plaintext is still delivered, keyed by the `SSL*`, with
/// the peer unknown.
#[test]
fn memory_bio_plaintext_bound_by_the_threads_socket_read_else_peer_unknown() {
    let Some(d) = build_dir("memory_bio_plaintext_bound_else_peer_unknown") else {
        return;
    };
    let exe = build_static(&d);
    let (_srv, port) = https_server();
    let port_s = port.to_string();
    for no_plain in [false, true] {
        let args: &[&str] = if no_plain { &["--no-plain"] } else { &[] };
        let run = apitop_cmd(
            args,
            &[exe.to_str().unwrap(), "--membio", &port_s, "/json", "3"],
        );
        run.assert_ok();
        assert_eq!(run.exchanges.len(), 3, "{}\n{}", run.stdout, run.stderr);
        for x in &run.exchanges {
            assert_json_exchange(x, port);
            if no_plain {
                assert!(x["peer_addr"].is_null(), "no peer learned: {x}");
            } else {
                assert_eq!(x["peer_addr"], format!("127.0.0.1:{port}").as_str(), "{x}");
            }
        }
        assert!(
            run.stderr.contains("3 exchanges, 3 connections"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn stripped_static_openssl_listed_with_the_reason() {
    let Some(d) = build_dir("stripped_static_openssl_listed_with_the_reason") else {
        return;
    };
    let stripped = strip_copy(&build_static(&d), &d);
    let client = WaitingClient::start(&stripped, &["--wait", "1", "/", "1"]);
    let me = listed(client.pid());
    eprintln!("--list --json, stripped: {me}");
    assert_eq!(me["tls"], "static_no_symbols", "{me}");
    assert_eq!(me["capturable"], false, "{me}");
    let reason = format!(
        "openssl/boringssl static in {}, stripped (no SSL_read/SSL_write in .dynsym or .symtab) \
         — not capturable: no symbols, and not boringssl (whose code apitop finds without them)",
        stripped.display()
    );
    assert_eq!(me["reason"], reason.as_str(), "{me}");
    // Asked to capture its TLS anyway (`--no-plain`: else its plain sockets would be captured),
    // apitop refuses with the same reason.
    let out = Command::new(APITOP)
        .args(["--json", "--no-plain", "-p", &client.pid().to_string()])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("apitop -p");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains(&reason), "{err}");
}

#[test]
fn deleted_libssl_captured_through_map_files() {
    let Some(d) = build_dir("deleted_libssl_captured_through_map_files") else {
        return;
    };
    let exe = build_dlopen(&d);
    let (crypto, ssl) = library_copies(&d);
    let (_srv, port) = https_server();
    let (c, s) = (crypto.to_str().unwrap(), ssl.to_str().unwrap());
    let port_s = port.to_string();
    let client = WaitingClient::start(&exe, &["--dlopen", c, s, "--wait", &port_s, "/json", "2"]);
    assert!(!ssl.exists(), "the client unlinked its libssl copy");
    let me = listed(client.pid());
    eprintln!("--list --json, deleted .so: {me}");
    assert_eq!(me["tls"], "openssl_shared", "{me}");
    assert_eq!(me["capturable"], true, "{me}");
    assert_eq!(
        me["reason"], "openssl (deleted libssl.so.3 via map_files)",
        "{me}"
    );
    let live = apitop_start(&["-p", &client.pid().to_string()]);
    let lines = client.run();
    assert_eq!(lines.len(), 3, "{lines:?}");
    let run = live.stop_when(|xs| xs.len() >= 2);
    run.assert_ok();
    assert_eq!(run.exchanges.len(), 2, "{}\n{}", run.stdout, run.stderr);
    for x in &run.exchanges {
        assert_json_exchange(x, port);
        assert_eq!(x["comm"], "tls_dlopen");
        assert_eq!(x["peer_addr"], format!("127.0.0.1:{port}").as_str(), "{x}");
    }
}
