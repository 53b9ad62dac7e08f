//! "Copy as curl": a POSIX shell command that reproduces a request. Quoting is shlex's; binary
//! bodies go through `printf` with octal escapes, which POSIX printf understands.
use capture::exchange::{Exchange, Protocol};
use capture::grpc;
use capture::protobuf::{self, Field};

/// Headers curl derives itself or that only make sense hop by hop.
const DROPPED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
    "content-length",
    "http2-settings",
];

pub struct Curl {
    /// The command line.
    pub command: String,
    /// What the command will not reproduce (truncated body, ...), and other ways to repeat the
    /// request (a grpcurl line for gRPC).
    pub warnings: Vec<String>,
    /// For a gRPC call whose request decodes: a grpcurl command (see [`grpcurl`]).
    pub grpcurl: Option<String>,
}

/// The argv of the curl command (after the `printf ... |` prefix, if any), and the raw body if
/// it has to be fed through stdin.
pub fn args(ex: &Exchange) -> (Vec<String>, Option<Vec<u8>>, Vec<String>) {
    let req = &ex.request;
    let mut argv = vec!["curl".to_string()];
    let mut warnings = Vec::new();
    let body = &req.body.data;
    let method = req.method.as_str();
    match method {
        "HEAD" => argv.push("--head".into()),
        "GET" if body.is_empty() => {}
        "POST" if !body.is_empty() => {}
        m => {
            argv.push("-X".into());
            argv.push(m.to_string());
        }
    }
    if ex.protocol == Protocol::Http2 {
        argv.push(
            if ex.tls {
                "--http2"
            } else {
                "--http2-prior-knowledge"
            }
            .into(),
        );
    }
    let url = ex.url();
    // The authority curl will send as Host: the URL's, which may differ from the header
    // when the request used the absolute form.
    let url_host = url
        .split_once("://")
        .map_or("", |(_, rest)| rest.split('/').next().unwrap_or(""))
        .to_string();
    for (name, value) in &req.headers {
        let lower = name.to_ascii_lowercase();
        if lower.starts_with(':') || DROPPED.contains(&lower.as_str()) {
            continue;
        }
        if lower == "accept-encoding" {
            if !argv.iter().any(|a| a == "--compressed") {
                argv.push("--compressed".into());
            }
            continue;
        }
        if lower == "host" && value.eq_ignore_ascii_case(&url_host) {
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
        if is_shell_safe_text(body) {
            let text = String::from_utf8_lossy(body).into_owned();
            // A leading '@' would make curl read a file.
            if text.starts_with('@') {
                argv.push("@-".into());
                stdin = Some(body.clone());
            } else {
                argv.push(text);
            }
        } else {
            argv.push("@-".into());
            stdin = Some(body.clone());
        }
    }
    if req.body.truncated {
        warnings.push(format!(
            "request body truncated: {} of {} bytes were captured",
            body.len(),
            req.body.raw_len
        ));
    }
    if req.body.content_encoding.is_some() {
        warnings.push("request body was content-decoded; it is sent decoded".into());
    }
    argv.push(url);
    (argv, stdin, warnings)
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
        Some(data) => format!(
            "{} | {joined}",
            join(&["printf".into(), printf_format(&data)])
        ),
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

fn join(argv: &[String]) -> String {
    argv.iter()
        .map(|a| match shlex::try_quote(a) {
            Ok(q) => q.into_owned(),
            // Only NUL bytes fail to quote, and none reach here (binary goes through printf).
            Err(_) => shlex::try_quote(&a.replace('\0', ""))
                .map_or_else(|_| String::new(), |q| q.into_owned()),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Text that survives a shell argument unchanged: UTF-8 with no control bytes except
/// tab, CR and LF.
fn is_shell_safe_text(b: &[u8]) -> bool {
    std::str::from_utf8(b).is_ok()
        && b.iter()
            .all(|&c| c >= 0x20 && c != 0x7f || matches!(c, b'\n' | b'\r' | b'\t'))
}

/// A printf format producing exactly `data`: printable ASCII as itself, everything else (and
/// `\` and `%`) as a `\ooo` octal escape. A leading `-` is escaped too (`\055`): printf would
/// take a format starting with `-` for an option (dash: "Illegal option --", bash: "invalid
/// option"), and `printf --` is not understood by every printf.
pub fn printf_format(data: &[u8]) -> String {
    let mut s = String::with_capacity(data.len() * 2);
    for (i, &b) in data.iter().enumerate() {
        let literal = (0x20..0x7f).contains(&b) && b != b'\\' && b != b'%' && (i > 0 || b != b'-');
        if literal {
            s.push(b as char);
        } else {
            s.push_str(&format!("\\{b:03o}"));
        }
    }
    s
}
