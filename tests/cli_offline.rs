//! The `apitop` binary without root: flags, help, recordings (good, truncated, foreign).
mod support;

use std::process::Command;

use capture::event::{ConnKey, Direction, Event};
use capture::record::Writer;
use support::*;

fn apitop(args: &[&str]) -> std::process::Output {
    Command::new(APITOP)
        .args(args)
        .output()
        .expect("running apitop")
}

#[test]
fn bad_flag_is_a_clear_error() {
    let out = apitop(&["--bogus"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unexpected argument '--bogus'"), "{err}");
    let out = apitop(&["--max-body", "lots", "-r", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a size"));
}

#[test]
fn bad_memory_budget_is_a_clear_error() {
    for (value, says) in [("lots", "is not a size"), ("64K", "at least 1M")] {
        let out = apitop(&["--max-memory", value, "-r", "x"]);
        assert_eq!(out.status.code(), Some(2), "--max-memory {value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--max-memory") && err.contains(says),
            "--max-memory {value}: {err}"
        );
    }
}

#[test]
fn help_and_version() {
    let out = apitop(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--max-body",
        "[default: 1M]",
        "--max-exchanges",
        "[default: 100000]",
        "--max-memory <SIZE>",
        "[default: 512M]",
        "--max-tree-nodes",
        "[default: 10000]",
        "--list",
        "-w, --write",
        "-r, --read",
        "--mask",
        "--no-mask",
        "masked when read with -r",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}:\n{help}");
    }
    let out = apitop(&["--version"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("apitop "));
}

#[test]
fn ring_size_and_kernel_requirement() {
    let help = String::from_utf8_lossy(&apitop(&["--help"]).stdout).into_owned();
    assert!(help.contains("--ring-size"), "{help}");
    assert!(help.contains("[default: 64M]"), "{help}");
    assert!(help.contains("Linux 5.17 or newer"), "{help}");
    for bad in ["3M", "512K", "2G", "lots"] {
        let out = apitop(&["--ring-size", bad, "-p", "1"]);
        assert_eq!(out.status.code(), Some(2), "--ring-size {bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("power of two from 1M to 1G") || err.contains("is not a size"),
            "{err}"
        );
    }
}

/// A small recording of one HTTP/1.1 exchange, written through the real writer.
fn write_recording(path: &std::path::Path) {
    write_exchange(
        path,
        b"GET /users/7 HTTP/1.1\r\nHost: api.test\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"id\": 7}\r\n",
    );
}

/// A recording of one HTTP/1.1 request and its response, as a client captured them.
fn write_exchange(path: &std::path::Path, request: &[u8], response: &[u8]) {
    let key = ConnKey {
        pid: 42,
        conn: 0x1000,
    };
    let data = |ts, dir, bytes: &[u8]| Event::Data {
        ts,
        key,
        tid: 42,
        fd: 5,
        dir,
        total: bytes.len() as u32,
        offset: 0,
        bytes: bytes.to_vec(),
        tls: true,
    };
    // A leftover of an earlier run would be refused if it belonged to someone else.
    let _ = std::fs::remove_file(path);
    let mut w = Writer::create(path).unwrap();
    for ev in [
        Event::Process {
            ts: 1_700_000_000_000_000_000,
            pid: 42,
            comm: "client".into(),
        },
        Event::Addrs {
            ts: 1_700_000_000_000_000_001,
            key,
            local: "127.0.0.1:5000".into(),
            peer: "127.0.0.1:443".into(),
        },
        data(1_700_000_000_000_000_010, Direction::Write, request),
        data(1_700_000_000_002_000_010, Direction::Read, response),
        Event::Close {
            ts: 1_700_000_000_003_000_000,
            key,
        },
    ] {
        w.write(&ev).unwrap();
    }
    w.finish().unwrap();
}

#[test]
fn replay_of_a_recording() {
    let path = work_dir().join("one.apitop");
    write_recording(&path);
    let run = Run::from_output(apitop(&["--json", "-r", path.to_str().unwrap()]));
    run.assert_ok();
    assert_eq!(run.exchanges.len(), 1, "{}", run.stderr);
    let x = &run.exchanges[0];
    assert_eq!(x["url"], "https://api.test/users/7");
    assert_eq!(x["status"], 200);
    assert_eq!(x["comm"], "client");
    assert_eq!(x["start"], "2023-11-14T22:13:20.00000001Z");
    assert_eq!(x["duration_ms"], 2.0);
    assert_eq!(x["response"]["body"], "{\"id\": 7}\r\n");
}

#[test]
fn truncated_recording_is_one_clear_error() {
    let path = work_dir().join("cut.apitop");
    write_recording(&path);
    let bytes = std::fs::read(&path).unwrap();
    // Cut inside the last record (the Close).
    std::fs::write(&path, &bytes[..bytes.len() - 20]).unwrap();
    let out = apitop(&["--json", "-r", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.contains("recording is truncated after 4 events: record 5 at byte "),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn foreign_file_is_one_clear_error() {
    let path = work_dir().join("foreign.txt");
    std::fs::write(&path, "this is not a recording\n").unwrap();
    let out = apitop(&["--json", "-r", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim(),
        format!(
            "apitop: {}: not an apitop recording (wrong magic bytes)",
            path.display()
        )
    );
    let out = apitop(&["--json", "-r", "/nonexistent/file"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("No such file"));
}

/// Secrets in headers are masked in `--json` output of a recording by default, and shown with
/// `--no-mask`; the recording itself keeps them.
#[test]
fn secrets_are_masked_unless_asked_not_to() {
    let path = work_dir().join("secrets.apitop");
    write_exchange(
        &path,
        b"GET /me HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer abc\r\n\
          Cookie: session=abc; theme=dark\r\nX-Api-Key: abc\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nSet-Cookie: id=abc; Path=/; HttpOnly\r\n\
          Content-Length: 2\r\n\r\nok",
    );
    let file = path.to_str().unwrap();
    let run = Run::from_output(apitop(&["--json", "-r", file]));
    run.assert_ok();
    assert_eq!(run.exchanges.len(), 1, "{}", run.stderr);
    let x = &run.exchanges[0];
    let header = |msg: &str, name: &str| {
        x[msg]["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h[0] == name)
            .map(|h| h[1].as_str().unwrap().to_string())
    };
    assert_eq!(
        header("request", "Authorization").as_deref(),
        Some("Bearer ***")
    );
    assert_eq!(
        header("request", "Cookie").as_deref(),
        Some("session=***; theme=***")
    );
    assert_eq!(header("request", "X-Api-Key").as_deref(), Some("***"));
    assert_eq!(header("request", "Host").as_deref(), Some("api.test"));
    assert_eq!(
        header("response", "Set-Cookie").as_deref(),
        Some("id=***; Path=/; HttpOnly")
    );
    assert!(
        !run.stdout.contains("abc"),
        "a secret leaked: {}",
        run.stdout
    );

    let out = apitop(&["--json", "--no-mask", "-r", file]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success());
    assert!(stdout.contains("Bearer abc"), "{stdout}");
    assert!(stdout.contains("id=abc; Path=/"), "{stdout}");
    // The last of the pair wins, as with other on/off flags.
    let out = apitop(&["--json", "--no-mask", "--mask", "-r", file]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("abc"));
    // The recording holds what was captured: it is what a replay decodes.
    let raw = std::fs::read(&path).unwrap();
    assert!(raw.windows(10).any(|w| w == b"Bearer abc"));
}
