//! End to end: real TLS clients and servers on 127.0.0.1, real probes, the `apitop --json`
//! output a user would read. Here the first things a user does: capture curl and Python, choose
//! the targets (by pid, by name, a command of apitop's own, under sudo) and stop with Ctrl-C.
//! scripts/kernel-matrix.sh runs tests of this binary by name on other kernels, so a test it
//! names stays in this file.
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
