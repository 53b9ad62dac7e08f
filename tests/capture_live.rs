//! End to end: real TLS clients and servers on 127.0.0.1, real probes, the `apitop --json`
//! output a user would read.
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

#[test]
fn curl_get_json() {
    if !ebpf_available("curl_get_json") {
        return;
    }
    let (_srv, port) = https_server();
    let url = format!("https://127.0.0.1:{port}/json?page=2");
    // The smallest ring: the loader resizes the kernel's ring buffer map.
    let run = apitop_cmd(
        &["--ring-size", "1M"],
        &["curl", "-sk", "--http1.1", &url, "-o", "/dev/null"],
    );
    run.assert_ok();
    assert_eq!(run.exchanges.len(), 1, "{}\n{}", run.stdout, run.stderr);
    let x = &run.exchanges[0];
    assert_eq!(x["method"], "GET");
    assert_eq!(x["url"], url.as_str());
    assert_eq!(x["host"], format!("127.0.0.1:{port}").as_str());
    assert_eq!(x["path"], "/json?page=2");
    assert_eq!(x["status"], 200);
    assert_eq!(x["protocol"], "HTTP/1.1");
    assert_eq!(x["tls"], true);
    assert_eq!(x["comm"], "curl");
    assert_eq!(x["role"], "client");
    assert_eq!(x["peer_addr"], format!("127.0.0.1:{port}").as_str());
    assert!(
        x["start"].as_str().unwrap().ends_with('Z'),
        "{}",
        x["start"]
    );
    assert!(x["duration_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(
        header(x, "request", "user-agent").map(|u| u.starts_with("curl/")),
        Some(true)
    );
    let resp: Value = serde_json::from_str(&body(x, "response")).expect("JSON body");
    assert_eq!(resp["users"][0]["name"], "ada");
    assert!(
        run.stderr.contains("1 exchanges, 1 connections"),
        "{}",
        run.stderr
    );
}

#[test]
fn curl_post_json_body() {
    if !ebpf_available("curl_post_json_body") {
        return;
    }
    let (_srv, port) = https_server();
    let payload = r#"{"name":"grace","langs":["cobol","fortran"]}"#;
    let url = format!("https://127.0.0.1:{port}/echo");
    let run = apitop_cmd(
        &[],
        &[
            "curl",
            "-sk",
            "--http1.1",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            payload,
            &url,
            "-o",
            "/dev/null",
        ],
    );
    run.assert_ok();
    assert_eq!(run.exchanges.len(), 1, "{}", run.stderr);
    let x = &run.exchanges[0];
    assert_eq!(x["method"], "POST");
    assert_eq!(body(x, "request"), payload);
    assert_eq!(body(x, "response"), payload);
    assert_eq!(
        header(x, "request", "content-type"),
        Some("application/json")
    );
    assert_eq!(x["request"]["body_truncated"], false);
}

#[test]
fn python_urllib() {
    if !ebpf_available("python_urllib") {
        return;
    }
    let (_srv, port) = https_server();
    let script = format!(
        "import ssl, urllib.request as u\n\
         c = ssl._create_unverified_context()\n\
         u.urlopen('https://127.0.0.1:{port}/json', context=c).read()\n\
         u.urlopen(u.Request('https://127.0.0.1:{port}/echo', data=b'{{\"a\": 1}}', \
         headers={{'Content-Type': 'application/json'}}), context=c).read()\n"
    );
    let run = apitop_cmd(&[], &["python3", "-c", &script]);
    run.assert_ok();
    let paths = run.paths();
    assert_eq!(paths, ["/json", "/echo"], "{}", run.stderr);
    assert!(run.exchanges[0]["comm"]
        .as_str()
        .unwrap()
        .starts_with("python"));
    assert_eq!(body(&run.exchanges[1], "request"), r#"{"a": 1}"#);
    assert_eq!(run.exchanges[1]["status"], 200);
}

#[test]
fn node_https_openssl_inside_the_executable() {
    if !ebpf_available("node_https") {
        return;
    }
    assert!(have("node"), "node is installed by scripts/test.sh");
    let (_srv, port) = https_server();
    let script = format!(
        "require('https').get({{host: '127.0.0.1', port: {port}, path: '/json', \
         rejectUnauthorized: false, agent: false}}, r => r.resume())"
    );
    let run = apitop_cmd(&[], &["node", "-e", &script]);
    run.assert_ok();
    assert_eq!(run.exchanges.len(), 1, "{}\n{}", run.stdout, run.stderr);
    let x = &run.exchanges[0];
    assert_eq!(x["comm"], "node");
    assert_eq!(x["path"], "/json");
    assert_eq!(x["status"], 200);
    assert!(body(x, "response").contains("\"ada\""));
}

#[test]
fn nginx_server_side_by_name() {
    if !ebpf_available("nginx_server_side") {
        return;
    }
    assert!(have("nginx"), "nginx is installed by scripts/test.sh");
    let (cert, key) = cert();
    let port = free_port();
    let server = format!(
        " server {{\n  listen 127.0.0.1:{port} ssl;\n  ssl_certificate {};\n  ssl_certificate_key {};\n\
         location /api/ {{ default_type application/json; return 200 '{{\"from\":\"nginx\"}}'; }}\n }}",
        cert.display(),
        key.display()
    );
    let _nginx = start_nginx("tls", 2, &server, &[port]);
    let live = apitop_start(&["-n", "nginx"]);
    for i in 0..3 {
        let url = format!("https://127.0.0.1:{port}/api/items/{i}");
        curl_ok(&url);
    }
    let run = live
        .stop_when(|xs| xs.iter().filter(|x| on_port(x, port)).count() >= 3)
        .only_port(port);
    run.assert_ok();
    let paths = run.paths();
    assert_eq!(
        paths,
        ["/api/items/0", "/api/items/1", "/api/items/2"],
        "{}",
        run.stderr
    );
    for x in &run.exchanges {
        assert_eq!(x["role"], "server");
        assert_eq!(x["comm"], "nginx");
        assert_eq!(x["status"], 200);
        assert_eq!(body(x, "response"), r#"{"from":"nginx"}"#);
    }
    assert!(run.stderr.contains("capturing pid"), "{}", run.stderr);
}

#[test]
fn keep_alive_200_requests_in_order() {
    if !ebpf_available("keep_alive_200") {
        return;
    }
    let (_srv, port) = https_server();
    let script = format!(
        "import http.client, ssl\n\
         c = http.client.HTTPSConnection('127.0.0.1', {port}, context=ssl._create_unverified_context())\n\
         for i in range(200):\n    c.request('GET', f'/k/{{i}}')\n    c.getresponse().read()\n"
    );
    let run = apitop_cmd(&[], &["python3", "-c", &script]);
    run.assert_ok();
    assert_eq!(run.exchanges.len(), 200, "{}", run.stderr);
    let conn = &run.exchanges[0]["conn_id"];
    for (i, x) in run.exchanges.iter().enumerate() {
        assert_eq!(x["path"], format!("/k/{i}").as_str());
        assert_eq!(body(x, "response"), format!("{{\"n\": {i}}}"));
        assert_eq!(&x["conn_id"], conn, "all on one connection");
    }
}

#[test]
fn large_bodies_arrive_whole() {
    if !ebpf_available("large_bodies") {
        return;
    }
    let (_srv, port) = https_server();
    let upload = work_dir().join("upload.bin");
    std::fs::write(&upload, pattern(300 * 1024)).unwrap();
    let big = format!("https://127.0.0.1:{port}/big?n=1048576");
    let echo = format!("https://127.0.0.1:{port}/echo");
    let data = format!("@{}", upload.display());
    let run = apitop_cmd(
        &[],
        &[
            "sh", "-c",
            &format!("curl -sk --http1.1 -o /dev/null '{big}' && curl -sk --http1.1 -o /dev/null --data-binary '{data}' '{echo}'"),
        ],
    );
    run.assert_ok();
    assert_eq!(run.exchanges.len(), 2, "{}", run.stderr);
    let get = &run.exchanges[0];
    assert_eq!(get["response"]["body_size"], 1048576);
    assert_eq!(get["response"]["body_truncated"], false);
    assert!(
        body(get, "response").as_bytes() == pattern(1048576).as_slice(),
        "1 MiB body differs"
    );
    let post = &run.exchanges[1];
    assert_eq!(post["request"]["body_size"], 300 * 1024);
    assert!(body(post, "request").as_bytes() == pattern(300 * 1024).as_slice());
    assert!(body(post, "response").as_bytes() == pattern(300 * 1024).as_slice());
    assert!(run.stderr.contains("drops: 0"), "{}", run.stderr);
}

#[test]
fn max_body_cap_marks_truncation() {
    if !ebpf_available("max_body_cap") {
        return;
    }
    let (_srv, port) = https_server();
    let url = format!("https://127.0.0.1:{port}/big?n=200000");
    let run = apitop_cmd(
        &["--max-body", "64K"],
        &["curl", "-sk", "--http1.1", "-o", "/dev/null", &url],
    );
    run.assert_ok();
    let x = &run.exchanges[0];
    assert_eq!(x["response"]["body_truncated"], true);
    assert_eq!(x["response"]["body_size"], 200000);
    assert_eq!(body(x, "response").len(), 64 * 1024);
}

#[test]
fn chunked_and_gzip_responses() {
    if !ebpf_available("chunked_and_gzip") {
        return;
    }
    let (_srv, port) = https_server();
    let run = apitop_cmd(
        &[],
        &[
            "curl",
            "-sk",
            "--http1.1",
            "-o",
            "/dev/null",
            &format!("https://127.0.0.1:{port}/chunked"),
            "-o",
            "/dev/null",
            &format!("https://127.0.0.1:{port}/gzip"),
        ],
    );
    run.assert_ok();
    assert_eq!(run.exchanges.len(), 2, "{}", run.stderr);
    let chunked = &run.exchanges[0];
    assert_eq!(
        header(chunked, "response", "transfer-encoding"),
        Some("chunked")
    );
    assert_eq!(body(chunked, "response"), r#"{"items": [1, 2, 3]}"#);
    let gz = &run.exchanges[1];
    assert_eq!(gz["response"]["content_encoding"], "gzip");
    let decoded: Value = serde_json::from_str(&body(gz, "response")).expect("decoded gzip is JSON");
    assert_eq!(decoded["compressed"], true);
    assert_eq!(decoded["items"].as_array().unwrap().len(), 50);
    let wire: u64 = header(gz, "response", "content-length")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        gz["response"]["body_size"], wire,
        "raw size is the compressed size"
    );
}

#[test]
fn replay_equals_live_output() {
    if !ebpf_available("replay_equals_live") {
        return;
    }
    let (_srv, port) = https_server();
    let rec = work_dir().join("replay.apitop");
    let script = format!(
        "import http.client, ssl\n\
         c = http.client.HTTPSConnection('127.0.0.1', {port}, context=ssl._create_unverified_context())\n\
         for p in ['/json', '/chunked', '/gzip', '/big?n=100000', '/nope']:\n    c.request('GET', p)\n    c.getresponse().read()\n\
         c.request('POST', '/echo', body=b'x' * 70000)\n\
         c.getresponse().read()\n"
    );
    let live = apitop_cmd(&["-w", rec.to_str().unwrap()], &["python3", "-c", &script]);
    live.assert_ok();
    assert_eq!(live.exchanges.len(), 6, "{}", live.stderr);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&rec).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "recordings hold decrypted traffic");
    let out = Command::new(APITOP)
        .args(["--json", "-r"])
        .arg(&rec)
        .output()
        .unwrap();
    let replay = Run::from_output(out);
    replay.assert_ok();
    assert_eq!(replay.stdout, live.stdout);
}

#[test]
fn garbage_on_a_tls_connection_is_reported_not_dropped() {
    if !ebpf_available("garbage_on_tls") {
        return;
    }
    let (_srv, port) = https_server();
    let script = format!(
        "import socket, ssl, urllib.request as u\n\
         c = ssl._create_unverified_context()\n\
         s = c.wrap_socket(socket.create_connection(('127.0.0.1', {port})))\n\
         s.sendall(bytes(range(256)) * 8)\n\
         s.close()\n\
         u.urlopen('https://127.0.0.1:{port}/json', context=c).read()\n"
    );
    let run = apitop_cmd(&[], &["python3", "-c", &script]);
    run.assert_ok();
    assert!(
        run.stderr.contains("not HTTP, 2048 bytes written"),
        "{}",
        run.stderr
    );
    assert_eq!(run.exchanges.len(), 1, "the next connection still decodes");
    assert_eq!(run.exchanges[0]["path"], "/json");
    assert!(run.stderr.contains("(1 not HTTP)"), "{}", run.stderr);
}

#[test]
fn a_target_exiting_mid_capture_leaves_the_others_running() {
    if !ebpf_available("target_exits") {
        return;
    }
    let (_srv, port) = https_server();
    // Requests are counted, not timed: an emulated guest kernel runs them many times slower.
    let mut short = batch_client(port);
    let mut long = batch_client(port);
    let (a, b) = (short.pid(), long.pid());
    let live = apitop_start(&["-p", &a.to_string(), "-p", &b.to_string()]);
    run_batch(&mut short, 4);
    run_batch(&mut long, 3);
    finish_client(&mut short);
    // The long-lived target goes on after the other has gone.
    run_batch(&mut long, 8);
    finish_client(&mut long);
    let run = live.wait(); // ends by itself once both have exited
    run.assert_ok();
    assert!(run.stderr.contains(&format!("pid {a} (")), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("pid {b} (")), "{}", run.stderr);
    let from = |pid: u32| run.exchanges.iter().filter(|x| x["pid"] == pid).count();
    assert_eq!(from(a), 4, "short-lived client\n{}", run.stderr);
    assert_eq!(
        from(b),
        11,
        "long-lived client kept being captured\n{}",
        run.stderr
    );
}

#[test]
fn clear_errors_for_unknown_pid_and_no_tls() {
    if !ebpf_available("clear_errors") {
        return;
    }
    let out = Command::new(APITOP)
        .args(["--json", "-p", "999999"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.trim(), "apitop: no process with pid 999999");
    let sleeper = Guard(Command::new("sleep").arg("30").spawn().unwrap());
    // Without TLS a process is still captured for plain HTTP, unless --no-plain.
    let out = Command::new(APITOP)
        .args(["--json", "--no-plain", "-p", &sleeper.pid().to_string()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no TLS library"), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
}

#[test]
fn not_root_is_one_clear_line() {
    if !ebpf_available("not_root") {
        return;
    }
    // Run a copy of the binary as nobody (the build directory may not be readable to it).
    let copy = work_dir().join("apitop-copy");
    std::fs::copy(APITOP, &copy).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(work_dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&copy)
        .args(["--json", "-p", "1"])
        .output()
        .expect("setpriv (util-linux)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("needs root"), "{err}");
}

#[test]
fn name_matches_processes_started_later() {
    if !ebpf_available("name_matches_later") {
        return;
    }
    let (_srv, port) = https_server();
    let live = apitop_start_watching(&["-n", "curl"]);
    for path in ["/json", "/k/1"] {
        let url = format!("https://127.0.0.1:{port}{path}");
        curl_ok(&url);
    }
    // Other tests run curl at the same time: keep this test's server only.
    let run = live
        .stop_when(|xs| xs.iter().filter(|x| on_port(x, port)).count() >= 2)
        .only_port(port);
    run.assert_ok();
    let paths = run.paths();
    assert_eq!(paths, ["/json", "/k/1"], "{}", run.stderr);
    assert!(run.exchanges.iter().all(|x| x["comm"] == "curl"));
}

#[test]
fn a_library_loaded_after_attach_is_picked_up() {
    if !ebpf_available("dlopen_after_attach") {
        return;
    }
    let (_srv, port) = https_server();
    // A private copy of libssl (another inode than the system one, which is attached up front),
    // loaded by Python's lazy `import ssl` well after apitop has attached.
    let libdir = work_dir().join("private-libssl");
    std::fs::create_dir_all(&libdir).unwrap();
    for lib in ["libssl.so.3", "libcrypto.so.3"] {
        std::fs::copy(format!("/usr/lib/x86_64-linux-gnu/{lib}"), libdir.join(lib)).unwrap();
    }
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

#[test]
fn a_command_under_sudo_runs_as_the_invoking_user_and_keeps_stdout_clean() {
    if !ebpf_available("command_as_sudo_user") {
        return;
    }
    let (_srv, port) = https_server();
    let url = format!("https://127.0.0.1:{port}/json");
    let out = Command::new(APITOP)
        .args(["--json", "--", "sh", "-c"])
        .arg(format!("id -u; curl -sk --http1.1 '{url}'"))
        .env("SUDO_UID", "65534")
        .env("SUDO_GID", "65534")
        .env("SUDO_USER", "nobody")
        .output()
        .unwrap();
    let run = Run::from_output(out); // every stdout line must be an exchange
    run.assert_ok();
    assert_eq!(run.exchanges.len(), 1, "{}", run.stderr);
    assert_eq!(run.exchanges[0]["path"], "/json");
    assert!(
        run.stderr.lines().any(|l| l == "65534"),
        "the command ran as nobody: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("\"ada\""),
        "its output went to stderr: {}",
        run.stderr
    );
}

#[test]
fn the_name_follows_exec() {
    if !ebpf_available("name_follows_exec") {
        return;
    }
    let (_srv, port) = https_server();
    let url = format!("https://127.0.0.1:{port}/json");
    let run = apitop_cmd(
        &[],
        &[
            "sh",
            "-c",
            &format!("exec curl -sk --http1.1 -o /dev/null '{url}'"),
        ],
    );
    run.assert_ok();
    assert_eq!(run.exchanges.len(), 1, "{}", run.stderr);
    assert_eq!(run.exchanges[0]["comm"], "curl");
}

#[test]
fn sigint_drains_what_was_captured() {
    if !ebpf_available("sigint_drains") {
        return;
    }
    let (_srv, port) = https_server();
    let script = format!(
        "import http.client, ssl, sys, time\n\
         sys.stdin.readline()\n\
         c = http.client.HTTPSConnection('127.0.0.1', {port}, context=ssl._create_unverified_context())\n\
         for i in range(300):\n    c.request('GET', f'/k/{{i}}')\n    c.getresponse().read()\n\
         print('done', flush=True)\n\
         time.sleep(30)\n"
    );
    let mut client = Command::new("python3")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = client.id();
    let mut out = std::io::BufReader::new(client.stdout.take().unwrap());
    let mut guard = Guard(client);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .unwrap_or_default()
        .contains("libssl")
    {
        assert!(Instant::now() < deadline, "python never loaded libssl");
        std::thread::sleep(Duration::from_millis(20));
    }
    let live = apitop_start(&["-p", &pid.to_string()]);
    // The requests start once apitop is attached (a fixed sleep lost the first ones under load).
    start_client(&mut guard);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line.trim(), "done");
    let run = live.stop_now();
    run.assert_ok();
    assert_eq!(run.exchanges.len(), 300, "{}", run.stderr);
}

#[test]
fn wget_through_gnutls() {
    if !ebpf_available("wget_gnutls") {
        return;
    }
    assert!(have("wget"), "wget is installed by scripts/test-deps.sh");
    let (_srv, port) = https_server();
    let base = format!("https://127.0.0.1:{port}");
    let run = apitop_cmd(
        &[],
        &[
            "sh",
            "-c",
            &format!(
                "wget -q --no-check-certificate -O /dev/null {base}/json && \
                 wget -q --no-check-certificate -O /dev/null --header 'Content-Type: application/json' \
                 --post-data '{{\"via\":\"gnutls\"}}' {base}/echo"
            ),
        ],
    );
    run.assert_ok();
    assert_eq!(run.paths(), ["/json", "/echo"], "{}", run.stderr);
    for x in &run.exchanges {
        assert_eq!(x["comm"], "wget");
        assert_eq!(x["tls"], true);
        assert_eq!(x["status"], 200);
    }
    assert!(body(&run.exchanges[0], "response").contains("\"ada\""));
    assert_eq!(body(&run.exchanges[1], "request"), r#"{"via":"gnutls"}"#);
    assert_eq!(body(&run.exchanges[1], "response"), r#"{"via":"gnutls"}"#);
    assert!(run.stderr.contains("(0 not HTTP)"), "{}", run.stderr);
}

/// A full ring drops whole calls. With apitop stopped (SIGSTOP) while a keep-alive client
/// downloads 64 KiB bodies through a 1 MiB ring, most are lost: each one apitop shows must be
/// either exactly what the server sent or marked as cut, never two responses spliced together,
/// and once apitop runs again the connection decodes whole again.
#[test]
fn a_full_ring_loses_exchanges_but_never_splices_them() {
    if !ebpf_available("full_ring") {
        return;
    }
    let (_srv, port) = https_server();
    const N: usize = 65536;
    let mut client = batch_client_keepalive_big(port, N);
    let live = apitop_start(&["--ring-size", "1M", "-p", &client.pid().to_string()]);
    run_batch(&mut client, 3);
    let signal = |sig: &str| {
        let st = Command::new("kill")
            .args([sig, &live.pid().to_string()])
            .status()
            .unwrap();
        assert!(st.success(), "kill {sig}");
    };
    signal("-STOP");
    run_batch(&mut client, 60); // ~4 MiB through a 1 MiB ring nobody drains
    signal("-CONT");
    // Until apitop has drained what the ring held, new requests may still find it full: one
    // request at a time until one comes out whole, then the five that must all be whole.
    let want: String = "0123456789abcdef".repeat(N / 16);
    let deadline = Instant::now() + Duration::from_secs(60);
    let caught_up = loop {
        run_batch(&mut client, 1);
        std::thread::sleep(Duration::from_millis(50));
        let xs = live.exchanges_so_far();
        if xs.last().is_some_and(|x| body(x, "response") == want) {
            break xs.len();
        }
        assert!(
            Instant::now() < deadline,
            "apitop never caught up after SIGCONT"
        );
    };
    run_batch(&mut client, 5);
    finish_client(&mut client);
    let run = live.wait();
    run.assert_ok();
    // The ring filled: exchanges came out incomplete, and every record lost is in the
    // summary's ring-full count (read once more as the capture ends, not only every 250 ms).
    // The number after `label` in the summary line.
    let after = |label: &str| -> u64 {
        run.stderr
            .split(label)
            .nth(1)
            .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let ring_full = after("ring buffer full ");
    let incomplete: u64 = run
        .stderr
        .split(" incomplete")
        .next()
        .and_then(|t| t.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(incomplete > 0, "the ring must have filled: {}", run.stderr);
    // ...and they are told apart from what the programs did: lost in capture.
    let lost = after("lost in capture ");
    assert!(lost > 0, "the ring's losses are not named: {}", run.stderr);
    assert!(
        ring_full > 0,
        "losses missing from the summary: {}",
        run.stderr
    );
    let mut whole = 0;
    for x in &run.exchanges {
        let r = &x["response"];
        if r.is_null() || r["body_truncated"] == true || x.get("error").is_some() {
            continue;
        }
        assert_eq!(x["status"], 200);
        assert!(
            body(x, "response") == want,
            "a response shown whole is exactly what was sent"
        );
        whole += 1;
    }
    // The 3 before and the 5 after the stop at least, and whatever fit in the ring meanwhile.
    assert!(whole >= 8, "{whole} whole\n{}", run.stderr);
    // The five made once apitop had caught up are all there, whole. (Where both directions
    // lost data, which request a lost response belonged to is a guess: the exchanges after
    // them may include one request left unanswered.)
    let after = run.exchanges[caught_up..]
        .iter()
        .filter(|x| body(x, "response") == want)
        .count();
    assert!(
        after >= 5,
        "decoding recovered after the losses: {after} of 5\n{}",
        run.stderr
    );
}
