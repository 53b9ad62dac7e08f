//! "Copy as curl": a POSIX shell command that reproduces a request (shell.rs quotes it), and
//! for gRPC a grpcurl line.
use capture::exchange::Exchange;
use capture::grpc;
use capture::protobuf::{self, Field};

use super::request::replay;
pub use super::shell::printf_format;
use super::shell::{is_shell_safe_text, join, printf_pipe};

pub struct Curl {
    /// The command line.
    pub command: String,
    /// What the command will not reproduce (truncated body, ...), and other ways to repeat the
    /// request (a grpcurl line for gRPC).
    pub warnings: Vec<String>,
    /// For a gRPC call whose request decodes: a grpcurl command (see [`grpcurl`]).
    pub grpcurl: Option<String>,
}

/// The argv of the curl command (after the `printf ... |` prefix, if any), the raw body if
/// it has to be fed through stdin, and what the command will not reproduce.
pub fn args(ex: &Exchange) -> (Vec<String>, Option<Vec<u8>>, Vec<String>) {
    let r = replay(ex);
    let mut argv = vec!["curl".to_string()];
    let body = r.body;
    match r.method {
        "HEAD" => argv.push("--head".into()),
        "GET" if body.is_empty() => {}
        "POST" if !body.is_empty() => {}
        m => {
            argv.push("-X".into());
            argv.push(m.to_string());
        }
    }
    if r.http2 {
        argv.push(
            if ex.tls {
                "--http2"
            } else {
                "--http2-prior-knowledge"
            }
            .into(),
        );
    }
    for (name, value) in &r.headers {
        if name.eq_ignore_ascii_case("accept-encoding") {
            if !argv.iter().any(|a| a == "--compressed") {
                argv.push("--compressed".into());
            }
            continue;
        }
        argv.push("-H".into());
        argv.push(if value.is_empty() {
            // `-H 'name:'` would remove the header; `name;` sends it empty.
            format!("{name};")
        } else {
            format!("{name}: {value}")
        });
    }
    let mut stdin = None;
    if !body.is_empty() {
        argv.push("--data-binary".into());
        // A leading '@' would make curl read a file.
        if is_shell_safe_text(body) && !body.starts_with(b"@") {
            argv.push(String::from_utf8_lossy(body).into_owned());
        } else {
            argv.push("@-".into());
            stdin = Some(body.to_vec());
        }
    }
    argv.push(r.url);
    (argv, stdin, r.notes)
}

/// The whole command.
pub fn curl(ex: &Exchange) -> Curl {
    let (argv, stdin, mut warnings) = args(ex);
    let grpcurl = grpcurl(ex);
    if let Some(g) = &grpcurl {
        warnings.push(format!(
            "gRPC: curl resends the raw messages; with the service's .proto: {g}"
        ));
    }
    let joined = join(&argv);
    let command = match stdin {
        Some(data) => printf_pipe(&data) + &joined,
        None => joined,
    };
    Curl {
        command,
        warnings,
        grpcurl,
    }
}

/// Request headers grpcurl sets itself.
const GRPCURL_DERIVED: &[&str] = &[
    "content-type",
    "te",
    "user-agent",
    "grpc-accept-encoding",
    "grpc-encoding",
    "grpc-timeout",
    "accept-encoding",
];

/// A grpcurl command for a gRPC call whose request messages all decode as protobuf. Without a
/// schema the fields are keyed by number (`{"1": "apitop"}`): grpcurl needs the service's
/// `.proto` (`-proto`) or server reflection, and the numbers replaced by the field names.
pub fn grpcurl(ex: &Exchange) -> Option<String> {
    if !grpc::is_grpc(&ex.request.headers) {
        return None;
    }
    let path = ex.path();
    let (service, method) = grpc::method(&path)?;
    let msgs = grpc::body_messages(&ex.request.headers, &ex.request.body, 1 << 20);
    if msgs.trailing > 0
        || msgs
            .messages
            .iter()
            .any(|m| m.truncated || m.error.is_some())
    {
        return None;
    }
    let mut docs = Vec::new();
    for m in &msgs.messages {
        docs.push(numbered_json(&m.decode().ok()?).to_string());
    }
    let mut argv = vec![
        "grpcurl".to_string(),
        if ex.tls { "-insecure" } else { "-plaintext" }.to_string(),
    ];
    for (name, value) in &ex.request.headers {
        let lower = name.to_ascii_lowercase();
        if lower.starts_with(':') || GRPCURL_DERIVED.contains(&lower.as_str()) {
            continue;
        }
        argv.push("-H".into());
        argv.push(format!("{name}: {value}"));
    }
    argv.push("-d".into());
    argv.push(docs.join(" "));
    argv.push(ex.host());
    argv.push(format!("{service}/{method}"));
    Some(join(&argv))
}

/// A decoded message as JSON keyed by field number; a repeated field becomes an array.
fn numbered_json(fields: &[Field]) -> serde_json::Value {
    let mut o = serde_json::Map::new();
    for f in fields {
        let v = match &f.value {
            protobuf::Value::Varint(v) | protobuf::Value::Fixed64(v) => serde_json::json!(v),
            protobuf::Value::Fixed32(v) => serde_json::json!(v),
            protobuf::Value::String(s) => serde_json::json!(s),
            protobuf::Value::Bytes(b) => {
                use base64::Engine;
                serde_json::json!(base64::engine::general_purpose::STANDARD.encode(b))
            }
            protobuf::Value::Message(m) | protobuf::Value::Group(m) => numbered_json(m),
        };
        let key = f.number.to_string();
        match o.get_mut(&key) {
            Some(serde_json::Value::Array(a)) => a.push(v),
            Some(prev) => *prev = serde_json::Value::Array(vec![prev.take(), v]),
            None => {
                o.insert(key, v);
            }
        }
    }
    serde_json::Value::Object(o)
}
