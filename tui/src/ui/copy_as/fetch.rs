//! Copy as JavaScript for Node 18+ (its global `fetch`, undici). A body that is not text, or
//! that has no Content-Type, goes as a Buffer: a string body would get
//! `text/plain;charset=UTF-8` added. Redirects are not followed, as the captured client's next
//! request is its own exchange.
use base64::Engine;
use capture::exchange::Exchange;

use super::request::{is_text, replay};
use super::{comments, Snippet};

/// Headers undici's fetch rejects outright; `Expect` is the one a captured request can carry
/// (the others are among the derived ones every format leaves out).
const REJECTED: &[&str] = &["expect"];

pub fn fetch(ex: &Exchange) -> Result<Snippet, String> {
    let r = replay(ex);
    r.needs_http2("Node's fetch")?;
    let method = r.method.to_ascii_uppercase();
    if matches!(method.as_str(), "CONNECT" | "TRACE" | "TRACK") {
        return Err(format!("fetch refuses the {method} method"));
    }
    if matches!(method.as_str(), "GET" | "HEAD") && !r.body.is_empty() {
        return Err(format!("fetch cannot send a body with {method}"));
    }
    let mut notes = r.notes.clone();
    notes.extend(r.downgrade_note("Node's fetch"));
    notes.extend(r.rewrite_note("Node's fetch"));
    let mut s = String::new();
    s.push_str(&format!(
        "fetch({}, {{\n  method: {},\n",
        js_str(&r.url),
        js_str(r.method)
    ));
    let mut has_type = false;
    let mut headers = String::new();
    for (n, v) in &r.headers {
        if REJECTED.iter().any(|x| n.eq_ignore_ascii_case(x)) {
            notes.push(format!("{n} left out: fetch refuses it"));
            continue;
        }
        has_type |= n.eq_ignore_ascii_case("content-type");
        headers.push_str(&format!("    [{}, {}],\n", js_str(n), js_str(v)));
    }
    if !headers.is_empty() {
        s.push_str(&format!("  headers: [\n{headers}  ],\n"));
    }
    if !r.body.is_empty() {
        let body = match std::str::from_utf8(r.body) {
            Ok(text) if has_type && is_text(r.body) => js_str(text),
            _ => format!(
                "Buffer.from({}, 'base64')",
                js_str(&base64::engine::general_purpose::STANDARD.encode(r.body))
            ),
        };
        s.push_str(&format!("  body: {body},\n"));
    }
    s.push_str(
        "  redirect: 'manual',\n}).then(async (response) => {\n  \
         console.log(response.status, response.statusText);\n  \
         console.log(await response.text());\n});\n",
    );
    Ok(Snippet {
        text: comments("//", &notes) + &s,
        notes,
    })
}

/// A JavaScript string literal. JSON's is one (ES2019 allows U+2028/U+2029 in strings); they
/// are escaped anyway, as are other non-ASCII characters, so nothing invisible hides in it.
pub fn js_str(s: &str) -> String {
    let json = serde_json::Value::String(s.to_string()).to_string();
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}
