//! TLS libraries a target loads after apitop attached (Python's lazy `import ssl`): found by the
//! rescans, and at once when the kernel reports the mapping.
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// A directory holding copies of the system's libssl and libcrypto: another inode than the
/// system libssl (which may be probed up front), loaded through LD_LIBRARY_PATH.
fn private_libssl(name: &str) -> std::path::PathBuf {
    let libdir = work_dir().join(name);
    std::fs::create_dir_all(&libdir).unwrap();
    for lib in ["libssl.so.3", "libcrypto.so.3"] {
        std::fs::copy(format!("/usr/lib/x86_64-linux-gnu/{lib}"), libdir.join(lib)).unwrap();
    }
    libdir
}

#[test]
fn a_library_loaded_after_attach_is_picked_up() {
    if !ebpf_available("dlopen_after_attach") {
        return;
    }
    let (_srv, port) = https_server();
    // A private copy of libssl (another inode than the system one, which is attached up front),
    // loaded by Python's lazy `import ssl` well after apitop has attached.
    let libdir = private_libssl("private-libssl");
    let script = format!(
        "import ctypes, time\n\
         ctypes.CDLL(None).prctl(15, b'lateloader', 0, 0, 0)\n\
         time.sleep(1.5)\n\
         import ssl, urllib.request as u\n\
         time.sleep(1.0)\n\
         u.urlopen('https://127.0.0.1:{port}/json', context=ssl._create_unverified_context()).read()\n"
    );
    let mut client = Guard(
        Command::new("python3")
            .args(["-c", &script])
            .env("LD_LIBRARY_PATH", &libdir)
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(format!("/proc/{}/comm", client.pid())).unwrap_or_default()
        != "lateloader\n"
    {
        assert!(Instant::now() < deadline, "client never renamed itself");
        std::thread::sleep(Duration::from_millis(20));
    }
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", client.pid())).unwrap();
    assert!(!maps.contains("libssl"), "libssl must load after attach");
    let live = apitop_start_watching(&["-n", "lateloader"]);
    let _ = client.0.wait();
    let maps_note = libdir.display().to_string();
    let run = live.stop_when(|xs| count_path(xs, "/json") >= 1);
    run.assert_ok();
    assert_eq!(run.exchanges.len(), 1, "{}", run.stderr);
    assert_eq!(run.exchanges[0]["path"], "/json");
    assert_eq!(
        run.exchanges[0]["comm"], "lateloader",
        "private libssl in {maps_note}"
    );
}

/// A TLS library a target loads after attach (a lazy `import ssl`) is probed when the kernel
/// reports the mapping. The periodic rescans, which would also find it, are put a minute apart
/// (`APITOP_TEST_RESCAN_MS`, a test hook), so only the report can have brought the probes in
/// time: without it nothing is captured. Three targets load the same private libssl one after
/// another (the first report attaches it; the others find it attached) and each makes its
/// first call 300 ms after its import: time for an attach on a loaded machine, a debug build
/// (about 20 ms alone here), and none for a rescan.
#[test]
fn a_library_mapped_late_is_probed_before_its_first_call() {
    if !ebpf_available("mapped_late") {
        return;
    }
    let (_srv, port) = https_server();
    let libdir = private_libssl("private-libssl-mapped");
    let clients: Vec<_> = (0..3)
        .map(|i| {
            let script = format!(
                "import sys, time\n\
                 print('ready', flush=True)\n\
                 sys.stdin.readline()\n\
                 import socket, ssl\n\
                 time.sleep(0.3)\n\
                 s = ssl._create_unverified_context().wrap_socket(\
                 socket.create_connection(('127.0.0.1', {port})))\n\
                 s.sendall(b'GET /json?late={i} HTTP/1.1\\r\\nHost: t\\r\\nConnection: close\\r\\n\\r\\n')\n\
                 while s.recv(65536): pass\n"
            );
            let mut child = Command::new("python3")
                .args(["-c", &script])
                .env("LD_LIBRARY_PATH", &libdir)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut line = String::new();
            std::io::BufRead::read_line(
                &mut std::io::BufReader::new(child.stdout.take().unwrap()),
                &mut line,
            )
            .unwrap();
            assert_eq!(line, "ready\n");
            let maps = std::fs::read_to_string(format!("/proc/{}/maps", child.id())).unwrap();
            assert!(!maps.contains("libssl"), "libssl must load after attach");
            child
        })
        .collect();
    let pids: Vec<String> = clients.iter().map(|c| c.id().to_string()).collect();
    let mut args = vec![];
    for p in &pids {
        args.extend(["-p", p.as_str()]);
    }
    let live = apitop_start_env(&args, &[("APITOP_TEST_RESCAN_MS", "60000")]);
    for mut c in clients {
        let mut stdin = c.stdin.take().unwrap();
        std::io::Write::write_all(&mut stdin, b"go\n").unwrap();
        drop(stdin);
        let status = Guard(c).0.wait().unwrap();
        assert!(status.success());
    }
    let run = live.stop_when(|xs| xs.len() >= 3);
    for i in 0..3 {
        let path = format!("/json?late={i}");
        assert_eq!(
            count_path(&run.exchanges, &path),
            1,
            "{path}\n{}",
            run.stderr
        );
    }
}
