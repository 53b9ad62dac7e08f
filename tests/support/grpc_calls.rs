//! Checks of what apitop shows for HTTP/2 and gRPC exchanges, shared by the live tests (the
//! gRPC test service's three calls, decoded without a schema).
#![allow(dead_code)]

use serde_json::Value;

use crate::support::{header, Run};

pub fn stream_id(x: &Value) -> u64 {
    x["stream_id"]
        .as_u64()
        .unwrap_or_else(|| panic!("no stream_id: {}", brief(x)))
}

/// An exchange for an assertion message, bodies cut to a readable length.
pub fn brief(x: &Value) -> String {
    let mut x = x.clone();
    for side in ["request", "response"] {
        if let Some(b) = x[side]["body"].as_str() {
            if b.len() > 200 {
                let cut: String = b.chars().take(200).collect();
                x[side]["body"] = Value::String(format!("{cut}... ({} bytes)", b.len()));
            }
        }
    }
    x.to_string()
}

pub fn assert_h2(x: &Value) {
    assert_eq!(x["protocol"], "HTTP/2", "{}", brief(x));
    assert_eq!(x["request"]["version"], "HTTP/2", "{}", brief(x));
    assert!(x["error"].is_null(), "unexpected error: {}", brief(x));
}

/// Client stream ids are odd and grow in request order.
pub fn assert_client_streams(xs: &[&Value]) {
    let ids: Vec<u64> = xs.iter().map(|x| stream_id(x)).collect();
    assert!(ids.iter().all(|i| i % 2 == 1), "{ids:?}");
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
}

pub fn grpc_by_method<'a>(run: &'a Run, method: &str) -> &'a Value {
    run.exchanges
        .iter()
        .find(|x| x["grpc"]["method"] == method)
        .unwrap_or_else(|| panic!("no {method} call in {}\n{}", run.stdout, run.stderr))
}

pub fn field(fields: &Value, number: u64) -> &Value {
    fields
        .as_array()
        .and_then(|fs| fs.iter().find(|f| f["number"] == number))
        .unwrap_or_else(|| panic!("no field {number} in {fields}"))
}

/// The unary call, the server stream and the failing call, as tests/support/grpc_client.py
/// makes them, decoded without a schema.
pub fn assert_grpc_calls(run: &Run) {
    let unary = grpc_by_method(run, "SayHello");
    assert_h2(unary);
    assert_eq!(unary["method"], "POST");
    assert_eq!(unary["path"], "/demo.Greeter/SayHello");
    assert_eq!(unary["status"], 200);
    let g = &unary["grpc"];
    assert_eq!(g["service"], "demo.Greeter");
    assert_eq!(g["status"], 0);
    assert_eq!(g["status_name"], "OK");
    assert_eq!(
        header(unary, "request", "content-type"),
        Some("application/grpc")
    );
    let req = &g["request_messages"];
    assert_eq!(req.as_array().unwrap().len(), 1, "{g}");
    assert_eq!(field(&req[0]["fields"], 1)["string"], "apitop");
    assert_eq!(field(&req[0]["fields"], 2)["varint"], 3);
    let resp = &g["response_messages"];
    assert_eq!(resp.as_array().unwrap().len(), 1, "{g}");
    assert_eq!(resp[0]["compressed"], false);
    assert_eq!(field(&resp[0]["fields"], 1)["string"], "hello apitop");
    let meta = &field(&resp[0]["fields"], 2)["message"];
    assert_eq!(field(meta, 1)["varint"], 126);
    assert_eq!(field(meta, 2)["string"], "x");
    assert_eq!(
        unary["response"]["trailers"][0],
        serde_json::json!(["grpc-status", "0"])
    );

    let stream = grpc_by_method(run, "Count");
    assert_h2(stream);
    assert_eq!(stream["grpc"]["status_name"], "OK");
    assert_eq!(
        field(&stream["grpc"]["request_messages"][0]["fields"], 1)["varint"],
        3
    );
    let items = stream["grpc"]["response_messages"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{}", stream["grpc"]);
    for (i, m) in items.iter().enumerate() {
        assert_eq!(field(&m["fields"], 1)["varint"], i as u64 + 1);
        assert_eq!(
            field(&m["fields"], 2)["string"],
            format!("item {}", i + 1).as_str()
        );
    }

    let fail = grpc_by_method(run, "Fail");
    assert_eq!(fail["grpc"]["status"], 5);
    assert_eq!(fail["grpc"]["status_name"], "NOT_FOUND");
    assert_eq!(fail["grpc"]["message"], "no such greeting");
    assert_eq!(fail["grpc"]["response_messages"], serde_json::json!([]));

    let ids: Vec<&Value> = [unary, stream, fail].into();
    assert_client_streams(&ids);
}
