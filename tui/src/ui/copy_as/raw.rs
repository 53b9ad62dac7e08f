//! The request as HTTP/1.1 bytes, to paste into `nc`/`openssl s_client` or a test fixture. An
//! HTTP/2 request becomes its HTTP/1.1 equivalent (Host from `:authority`, its Cookie headers
//! joined); framing is recomputed because the captured body is already dechunked.
use capture::exchange::Exchange;

use super::request::replay;
use super::Snippet;

/// The exact bytes, or why they cannot be written.
pub fn request_bytes(ex: &Exchange) -> Result<(Vec<u8>, Vec<String>), String> {
    replay(ex).needs_http2("raw HTTP/1.1")?;
    http1_request(ex)
}

/// The request as HTTP/1.1 bytes whatever it was captured over (gRPC included: a recording
/// written from the UI holds it so), or why its head would not parse back.
pub fn http1_request(ex: &Exchange) -> Result<(Vec<u8>, Vec<String>), String> {
    let r = replay(ex);
    let mut notes = r.notes.clone();
    if r.http2 {
        notes.push("captured over HTTP/2; written as the HTTP/1.1 equivalent".into());
    }
    let host = r
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("host"))
        .map_or(r.host.as_str(), |(_, v)| v);
    // A line break or NUL in a field would change what the bytes mean, not just look odd.
    let fields = [r.method, r.target.as_str(), host]
        .into_iter()
        .chain(r.headers.iter().flat_map(|(n, v)| [*n, *v]));
    for f in fields {
        if f.contains(['\r', '\n', '\0']) {
            return Err(format!(
                "{:?} holds a line break or NUL: the head would not parse back",
                f.chars().take(40).collect::<String>()
            ));
        }
    }
    let mut head = format!("{} {} HTTP/1.1\r\nHost: {host}\r\n", r.method, r.target);
    let headers = if r.http2 {
        r.folded_headers()
    } else {
        r.headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    };
    for (name, value) in headers {
        if !name.eq_ignore_ascii_case("host") {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    if !r.body.is_empty() || matches!(r.method, "POST" | "PUT" | "PATCH") {
        head.push_str(&format!("Content-Length: {}\r\n", r.body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(r.body);
    Ok((bytes, notes))
}

pub fn raw(ex: &Exchange) -> Result<Snippet, String> {
    let (bytes, notes) = request_bytes(ex)?;
    if bytes.contains(&0) {
        return Err("the body holds NUL bytes, which a clipboard does not carry".into());
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Snippet { text, notes }),
        Err(_) => Err("the body is not UTF-8 text, and a clipboard holds text".into()),
    }
}
