//! End to end: what HTTP/1.1 decoding makes of real TLS traffic — 200 keep-alive requests in
//! order, large bodies whole, the body cap, chunked and gzip bodies, bytes that are not HTTP
//! reported rather than dropped — and a recording of it replaying to the same output.
mod support;

use std::process::Command;

use serde_json::Value;

use support::*;

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
