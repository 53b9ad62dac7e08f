//! End to end: TLS libraries beside the shared OpenSSL of curl and Python — node's OpenSSL
//! inside its executable, GnuTLS (wget) — and OpenSSL on the server side (nginx, by name).
mod support;

use support::*;

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
