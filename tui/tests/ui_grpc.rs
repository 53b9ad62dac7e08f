//! gRPC in the UI: the decoded message tree in the detail pane, the endpoint tree's
//! `/package.Service/Method`, and copy as curl / grpcurl for HTTP/2.
mod ui_support;

use apitop::ui::curl::{curl, grpcurl};
use apitop::ui::endpoints::EndpointTree;
use apitop::ui::Effect;
use capture::exchange::{Exchange, Protocol};
use crossterm::event::KeyCode;
use ui_support::*;

fn frame(msg: &[u8]) -> Vec<u8> {
    let mut out = vec![0];
    out.extend((msg.len() as u32).to_be_bytes());
    out.extend(msg);
    out
}

/// `/demo.Greeter/SayHello` over h2: request {1: "apitop", 2: 3}, response
/// {1: "hello apitop", 2 {1: 126}}, status in the trailers.
fn grpc_call(id: u64, path: &str, tls: bool) -> Exchange {
    let mut e = ex(id, "POST", "grpc.example.com:8443", path, Some(200), 3);
    e.protocol = Protocol::Http2;
    e.tls = tls;
    e.stream_id = Some(1);
    e.request.version = "HTTP/2".into();
    e.request.headers = vec![
        (":method".into(), "POST".into()),
        (":scheme".into(), if tls { "https" } else { "http" }.into()),
        (":authority".into(), "grpc.example.com:8443".into()),
        (":path".into(), path.into()),
        ("content-type".into(), "application/grpc".into()),
        ("te".into(), "trailers".into()),
        ("user-agent".into(), "grpc-python/1.51.1".into()),
        ("authorization".into(), "Bearer t0k".into()),
    ];
    e.request.body = body(&frame(b"\x0a\x06apitop\x10\x03"));
    let r = e.response.as_mut().unwrap();
    r.version = "HTTP/2".into();
    r.reason = String::new();
    r.headers = vec![
        (":status".into(), "200".into()),
        ("content-type".into(), "application/grpc".into()),
    ];
    r.body = body(&frame(b"\x0a\x0chello apitop\x12\x02\x08\x7e"));
    r.trailers = vec![("grpc-status".into(), "0".into())];
    e
}

#[test]
fn detail_pane_shows_the_decoded_message_tree_and_status() {
    let mut a = app();
    let mut failed = grpc_call(2, "/demo.Greeter/Fail", true);
    let r = failed.response.as_mut().unwrap();
    r.body = body(b"");
    r.trailers = vec![
        ("grpc-status".into(), "5".into()),
        ("grpc-message".into(), "no%20such%20greeting".into()),
    ];
    feed(
        &mut a,
        [grpc_call(1, "/demo.Greeter/SayHello", true), failed],
    );
    key(&mut a, 'g');
    code(&mut a, KeyCode::Enter);
    let req = text(&render(&mut a, 110, 40));
    assert!(req.contains("message 0: 10 bytes"), "{req}");
    assert!(req.contains("  1: \"apitop\""), "{req}");
    assert!(req.contains("  2: 3"), "{req}");
    key(&mut a, 'l');
    let resp = text(&render(&mut a, 110, 40));
    assert!(resp.contains("  1: \"hello apitop\""), "{resp}");
    assert!(resp.contains("  2 {"), "{resp}");
    assert!(resp.contains("    1: 126"), "{resp}");
    assert!(resp.contains("grpc-status 0 OK"), "{resp}");
    // The failed call: no messages, the status with its decoded message.
    code(&mut a, KeyCode::Esc);
    code(&mut a, KeyCode::Down);
    code(&mut a, KeyCode::Enter);
    key(&mut a, 'l');
    let resp = text(&render(&mut a, 110, 40));
    assert!(
        resp.contains("grpc-status 5 NOT_FOUND · no such greeting"),
        "{resp}"
    );
}

#[test]
fn a_message_that_is_not_protobuf_is_hex_dumped() {
    let mut e = grpc_call(1, "/demo.Greeter/SayHello", true);
    e.request.body = body(&frame(b"\x0f\xff"));
    let mut a = app();
    feed(&mut a, [e]);
    key(&mut a, 'g');
    code(&mut a, KeyCode::Enter);
    let t = text(&render(&mut a, 110, 40));
    assert!(t.contains("not protobuf"), "{t}");
    assert!(t.contains("00000000  0f ff"), "{t}");
}

#[test]
fn endpoint_tree_keeps_service_and_method_unfolded() {
    let mut tree = EndpointTree::default();
    // A service name that would fold as a token in a REST path.
    let leaf = tree.insert(&grpc_call(1, "/billing.v20240101.Invoices/List", true));
    assert_eq!(
        tree.template(leaf),
        "grpc.example.com:8443/billing.v20240101.Invoices/List"
    );
    let leaf = tree.insert(&grpc_call(2, "/demo.Greeter/SayHello", true));
    assert_eq!(
        tree.template(leaf),
        "grpc.example.com:8443/demo.Greeter/SayHello"
    );
    // The same path as plain REST folds.
    let rest = ex(
        3,
        "GET",
        "api.example.com",
        "/billing.v20240101.Invoices/List",
        Some(200),
        1,
    );
    let leaf = tree.insert(&rest);
    assert_eq!(tree.template(leaf), "api.example.com/{id}/List");
}

/// The curl part of `printf ... | curl ...`.
fn curl_argv(command: &str) -> Vec<String> {
    let argv = shlex::split(command).expect("shell-parseable");
    let at = argv.iter().position(|a| a == "curl").expect("curl");
    argv[at..].to_vec()
}

#[test]
fn curl_uses_http2_and_offers_grpcurl() {
    let e = grpc_call(1, "/demo.Greeter/SayHello", true);
    let c = curl(&e);
    let argv = curl_argv(&c.command);
    assert_eq!(argv[1], "--http2");
    // The binary messages go through printf into --data-binary @-.
    assert!(c.command.starts_with("printf "), "{}", c.command);
    assert!(argv.windows(2).any(|w| w == ["--data-binary", "@-"]));
    assert_eq!(
        argv.last().unwrap(),
        "https://grpc.example.com:8443/demo.Greeter/SayHello"
    );
    let g = grpcurl(&e).expect("decodable request");
    assert_eq!(c.grpcurl.as_deref(), Some(g.as_str()));
    assert!(
        c.warnings.iter().any(|w| w.contains(&g)),
        "{:?}",
        c.warnings
    );
    let argv = shlex::split(&g).expect("shell-parseable");
    assert_eq!(
        argv,
        [
            "grpcurl",
            "-insecure",
            "-H",
            "authorization: Bearer t0k",
            "-d",
            r#"{"1":"apitop","2":3}"#,
            "grpc.example.com:8443",
            "demo.Greeter/SayHello"
        ]
    );
}

#[test]
fn h2c_is_prior_knowledge_and_plaintext() {
    let e = grpc_call(1, "/demo.Greeter/SayHello", false);
    let argv = curl_argv(&curl(&e).command);
    assert_eq!(argv[1], "--http2-prior-knowledge");
    assert!(argv.last().unwrap().starts_with("http://"));
    let g = shlex::split(&grpcurl(&e).unwrap()).unwrap();
    assert_eq!(g[1], "-plaintext");
}

#[test]
fn grpcurl_only_when_the_request_decodes() {
    let mut e = grpc_call(1, "/demo.Greeter/SayHello", true);
    e.request.body = body(&frame(b"\x0f\xff"));
    assert_eq!(grpcurl(&e), None);
    assert!(curl(&e).grpcurl.is_none());
    // Repeated fields become arrays; a server stream's request is one message.
    let mut e = grpc_call(1, "/demo.Greeter/Count", true);
    e.request.body = body(&frame(b"\x08\x01\x08\x02\x12\x01x"));
    let g = shlex::split(&grpcurl(&e).unwrap()).unwrap();
    assert!(g.contains(&r#"{"1":[1,2],"2":"x"}"#.to_string()), "{g:?}");
    // Not gRPC: no grpcurl.
    let plain = ex(2, "GET", "api.example.com", "/users", Some(200), 1);
    assert_eq!(grpcurl(&plain), None);
}

#[test]
fn the_copy_menu_offers_grpcurl_and_leaves_out_http1_only_formats() {
    let mut a = app();
    feed(&mut a, [grpc_call(1, "/demo.Greeter/SayHello", true)]);
    assert!(
        key(&mut a, 'c').is_empty(),
        "opening the menu copies nothing"
    );
    let fx = code(&mut a, KeyCode::Enter);
    let curl_cmd = match fx.as_slice() {
        [Effect::Clipboard(c)] => c.clone(),
        other => panic!("{other:?}"),
    };
    assert!(curl_cmd.contains("| curl --http2 "), "{curl_cmd}");
    let screen = format!("{:?}", render(&mut a, 120, 40));
    assert!(screen.contains("6/g grpcurl"), "{screen}");
    // HTTPie, raw HTTP/1.1, requests and fetch cannot carry gRPC: listed with the reason.
    assert!(
        screen.contains("HTTPie: left out, gRPC needs HTTP/2"),
        "{screen}"
    );
    key(&mut a, 'g');
    let fx = code(&mut a, KeyCode::Enter);
    let g = match fx.as_slice() {
        [Effect::Clipboard(g)] => g.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(shlex::split(&g).unwrap()[0], "grpcurl");
    assert_eq!(a.popup().unwrap().current().unwrap().1.text, g);
    // The left-out formats cannot be picked: the selection stays on grpcurl.
    key(&mut a, '2');
    assert_eq!(a.popup().unwrap().current().unwrap().1.text, g);
    // Not offered for plain HTTP.
    let mut b = app();
    feed(
        &mut b,
        [ex(2, "GET", "api.example.com", "/users/1", Some(200), 5)],
    );
    key(&mut b, 'c');
    key(&mut b, 'g');
    let fx = code(&mut b, KeyCode::Enter);
    assert!(matches!(fx.as_slice(), [Effect::Clipboard(c)] if c.starts_with("curl ")));
}
