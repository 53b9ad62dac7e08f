//! gRPC over HTTP/2: the 5-byte message framing in request and response bodies, per-message
//! compression, and the call status from trailers.
use std::io::Read;

use serde_json::json;

use crate::exchange::{header, Body, Response};
use crate::protobuf::{self, Field};

/// Length prefix: 1 byte compressed flag + 4 bytes big-endian length.
const PREFIX: usize = 5;

/// Is this a gRPC message (`content-type: application/grpc`, `application/grpc+proto`, ...)?
pub fn is_grpc(headers: &[(String, String)]) -> bool {
    // Asked of every exchange printed or stored: compared in place, without a lower-cased copy.
    header(headers, "content-type").is_some_and(|ct| {
        let ct = ct.trim().as_bytes();
        const G: &[u8] = b"application/grpc";
        ct.len() >= G.len()
            && ct[..G.len()].eq_ignore_ascii_case(G)
            && matches!(ct.get(G.len()), None | Some(b'+' | b';'))
    })
}

/// `/package.Service/Method` → (`package.Service`, `Method`).
pub fn method(path: &str) -> Option<(&str, &str)> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    (!service.is_empty() && !method.is_empty() && !method.contains('/'))
        .then_some((service, method))
}

/// One length-prefixed message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrpcMessage {
    /// The compressed flag was set.
    pub compressed: bool,
    /// Length on the wire, as declared in the prefix.
    pub wire_len: u32,
    /// The message bytes, decompressed if needed, at most the cap.
    pub data: Vec<u8>,
    /// `data` stops short of the message (body cap, decompression cap).
    pub truncated: bool,
    /// Why the message could not be decompressed (data then holds the wire bytes).
    pub error: Option<String>,
}

impl GrpcMessage {
    /// The protobuf wire format of the message, as a tree without schema.
    pub fn decode(&self) -> Result<Vec<Field>, protobuf::DecodeError> {
        protobuf::decode_raw(&self.data)
    }

    /// `{compressed, length, fields | error}` for JSON output.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = json!({ "compressed": self.compressed, "length": self.wire_len });
        if self.truncated {
            v["truncated"] = json!(true);
        }
        if let Some(e) = &self.error {
            v["error"] = json!(e);
        } else if !self.truncated {
            match self.decode() {
                Ok(fields) => v["fields"] = protobuf::to_json(&fields),
                Err(e) => v["error"] = json!(format!("not protobuf: {e}")),
            }
        }
        v
    }

    /// `protoc --decode_raw`-style lines, or a one-line note when it does not decode.
    pub fn render(&self) -> Vec<String> {
        if let Some(e) = &self.error {
            return vec![format!("<{e}>")];
        }
        match self.decode() {
            Ok(fields) => protobuf::render(&fields),
            Err(e) if self.truncated => vec![format!("<truncated message: {e}>")],
            Err(e) => vec![format!("<not protobuf: {e}>")],
        }
    }
}

/// The messages of one body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GrpcMessages {
    pub messages: Vec<GrpcMessage>,
    /// Bytes at the end that do not complete a message (body cut short or capped).
    pub trailing: usize,
}

impl GrpcMessages {
    pub fn to_json(&self) -> serde_json::Value {
        let msgs: Vec<_> = self.messages.iter().map(GrpcMessage::to_json).collect();
        let mut v = json!({ "messages": msgs });
        if self.trailing > 0 {
            v["trailing_bytes"] = json!(self.trailing);
        }
        v
    }
}

/// Splits a body into messages. `encoding` is the `grpc-encoding` header (applies to messages
/// with the compressed flag); `cap` bounds each decompressed message.
pub fn split_messages(body: &[u8], encoding: Option<&str>, cap: usize) -> GrpcMessages {
    let mut out = GrpcMessages::default();
    let mut rest = body;
    while let Some(prefix) = rest.first_chunk::<PREFIX>() {
        let compressed = prefix[0] & 1 != 0;
        let wire_len = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]);
        let payload = &rest[PREFIX..];
        let len = wire_len as usize;
        if payload.len() < len {
            // A message cut by the body cap: keep what there is if it is the only thing left.
            out.messages.push(GrpcMessage {
                compressed,
                wire_len,
                data: if compressed {
                    Vec::new()
                } else {
                    payload.to_vec()
                },
                truncated: true,
                error: compressed.then(|| "compressed message cut short".to_string()),
            });
            return out;
        }
        let raw = &payload[..len];
        rest = &payload[len..];
        out.messages.push(if compressed {
            decompress(raw, encoding, wire_len, cap)
        } else {
            GrpcMessage {
                compressed,
                wire_len,
                data: raw[..len.min(cap)].to_vec(),
                truncated: len > cap,
                error: None,
            }
        });
    }
    out.trailing = rest.len();
    out
}

/// Splits a captured body, using the message's own `grpc-encoding` header.
pub fn body_messages(headers: &[(String, String)], body: &Body, cap: usize) -> GrpcMessages {
    let mut m = split_messages(&body.data, header(headers, "grpc-encoding"), cap);
    if body.truncated {
        if let Some(last) = m.messages.last_mut() {
            last.truncated |= m.trailing == 0 && body.raw_len > body.data.len() as u64;
        }
    }
    m
}

fn decompress(raw: &[u8], encoding: Option<&str>, wire_len: u32, cap: usize) -> GrpcMessage {
    let mut msg = GrpcMessage {
        compressed: true,
        wire_len,
        data: Vec::new(),
        truncated: false,
        error: None,
    };
    let encoding = encoding.map(|e| e.trim().to_ascii_lowercase());
    let reader: Box<dyn Read + '_> = match encoding.as_deref() {
        Some("gzip") => Box::new(flate2::read::GzDecoder::new(raw)),
        Some("deflate") => Box::new(flate2::read::ZlibDecoder::new(raw)),
        other => {
            msg.data = raw.to_vec();
            msg.error = Some(match other {
                None | Some("identity") => "compressed flag set without grpc-encoding".into(),
                Some(e) => format!("unsupported grpc-encoding {e}"),
            });
            return msg;
        }
    };
    // Read one byte past the cap to know whether the cap cut the message.
    let mut out = Vec::new();
    match reader.take(cap as u64 + 1).read_to_end(&mut out) {
        Ok(_) => {
            msg.truncated = out.len() > cap;
            out.truncate(cap);
            msg.data = out;
        }
        Err(e) => {
            msg.data = raw.to_vec();
            msg.error = Some(format!(
                "{} decompression failed: {e}",
                encoding.unwrap_or_default()
            ));
        }
    }
    msg
}

/// A call's outcome from `grpc-status` / `grpc-message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrpcStatus {
    pub code: u32,
    /// `OK`, `NOT_FOUND`, ... (`UNKNOWN_CODE` past the defined ones).
    pub name: &'static str,
    /// `grpc-message`, percent-decoded.
    pub message: Option<String>,
}

/// The status from the trailers, or from the headers of a trailers-only response.
pub fn grpc_status(response: &Response) -> Option<GrpcStatus> {
    let (fields, code) = match header(&response.trailers, "grpc-status") {
        Some(c) => (&response.trailers, c),
        None => (&response.headers, header(&response.headers, "grpc-status")?),
    };
    let code: u32 = code.trim().parse().ok()?;
    Some(GrpcStatus {
        code,
        name: status_name(code),
        message: header(fields, "grpc-message").map(percent_decode),
    })
}

pub fn status_name(code: u32) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    NAMES.get(code as usize).copied().unwrap_or("UNKNOWN_CODE")
}

/// grpc-message is percent-encoded UTF-8 (gRPC over HTTP/2 spec).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).and_then(|&c| hex(c)),
            b.get(i + 2).and_then(|&c| hex(c)),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
