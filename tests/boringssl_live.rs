//! Statically linked, stripped BoringSSL captured live: gRPC's wheel from PyPI, whose `cygrpc`
//! extension exports only its Python entry point. apitop finds `SSL_read`/`SSL_write` by their
//! code (capture/src/signature) and decodes the gRPC calls from both sides. gRPC drives TLS
//! through memory BIOs: the TLS calls make no socket syscalls of their own.
#[path = "support/grpc_calls.rs"]
mod grpc_calls;
#[path = "support/h2.rs"]
mod h2;
mod support;

use std::path::Path;
use std::process::Command;

use grpc_calls::*;
use h2::*;
use serde_json::Value;
use support::*;

/// The wheel's directory, or None (with the reason printed) when it is not installed; CI
/// (`APITOP_REQUIRE_EBPF=1`) makes that a failure.
fn wheel(test: &str) -> Option<&'static str> {
    if Path::new(GRPC_WHEEL).join("grpc").exists() {
        return Some(GRPC_WHEEL);
    }
    let why = format!("{GRPC_WHEEL} missing: run scripts/test-deps.sh");
    assert!(
        std::env::var("APITOP_REQUIRE_EBPF").as_deref() != Ok("1"),
        "{test}: {why}"
    );
    eprintln!("{test}: skipped: {why}");
    None
}

/// The gRPC calls of one run, each from one side, bound to the server's port although the TLS
/// calls made no socket syscall (memory BIOs): by the socket the thread read just before.
fn assert_role(run: &Run, role: &str, port: u16) {
    assert_eq!(run.exchanges.len(), 3, "{}\n{}", run.stdout, run.stderr);
    let side = if role == "client" {
        "peer_addr"
    } else {
        "local_addr"
    };
    for x in &run.exchanges {
        assert_eq!(x["role"], role, "{x}");
        assert_eq!(x["tls"], true, "{x}");
        let addr = x[side].as_str().unwrap_or_default();
        assert!(addr.ends_with(&format!(":{port}")), "{side} {addr:?}: {x}");
    }
    assert_grpc_calls(run);
}

#[test]
fn grpc_wheel_client_captured_by_signature() {
    if !ebpf_available("grpc_wheel_client") {
        return;
    }
    let Some(wheel) = wheel("grpc_wheel_client") else {
        return;
    };
    // The server is Debian's grpcio (system OpenSSL): only the client's BoringSSL is under test.
    let (_srv, port) = grpc_server(true);
    let mut cmd = grpc_client_cmd_on(&format!("127.0.0.1:{port}"), Some(wheel));
    // The wheel is loaded by `import grpc`; apitop scans and probes it within tens of ms (see
    // live::maintenance), and the first call comes later than that in any real client. The
    // pause keeps this test from racing it.
    cmd.extend(["pause", "unary", "stream", "fail"].map(String::from));
    let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let run = apitop_cmd(&[], &cmd);
    run.assert_ok();
    assert_role(&run, "client", port);
}

#[test]
fn grpc_wheel_server_captured_by_signature() {
    if !ebpf_available("grpc_wheel_server") {
        return;
    }
    let Some(wheel) = wheel("grpc_wheel_server") else {
        return;
    };
    let (srv, port) = grpc_server_on(true, Some(wheel));
    let pid = srv.pid().to_string();

    // What the picker and --list say about it: found by signature, with the evidence.
    let out = Command::new(APITOP)
        .args(["--list", "--json"])
        .output()
        .expect("apitop --list");
    let listed: Value = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|p| p["pid"].as_u64() == Some(u64::from(srv.pid())))
        .unwrap_or_else(|| panic!("pid {pid} not listed"));
    assert_eq!(listed["capturable"], true, "{listed}");
    let probes = listed["probes"].as_str().unwrap_or_default();
    assert!(probes.contains("found by signature"), "{listed}");
    assert!(
        probes.contains("SSL_read") && probes.contains("SSL_write"),
        "{listed}"
    );

    let live = apitop_start(&["-p", &pid]);
    run_grpc_client(&format!("127.0.0.1:{port}"));
    let run = live.stop_when(|xs| count_path(xs, "/demo.Greeter/") >= 3);
    assert_role(&run, "server", port);
}
