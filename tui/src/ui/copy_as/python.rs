//! Copy as a Python program using `requests`. The body is always bytes (a `str` body would be
//! encoded as Latin-1 by http.client); redirects are not followed, as the captured client's
//! next request is its own exchange.
use capture::exchange::Exchange;

use super::request::{is_text, replay};
use super::{comments, Snippet};

pub fn python(ex: &Exchange) -> Result<Snippet, String> {
    let r = replay(ex);
    r.needs_http2("requests")?;
    let mut notes = r.notes.clone();
    notes.extend(r.downgrade_note("requests"));
    notes.extend(r.rewrite_note("requests"));
    let mut s = comments("#", &notes);
    s.push_str("import requests\n\nresponse = requests.request(\n");
    s.push_str(&format!(
        "    {},\n    {},\n",
        str_lit(r.method),
        str_lit(&r.url)
    ));
    let headers = r.folded_headers();
    if !headers.is_empty() {
        s.push_str("    headers={\n");
        for (n, v) in &headers {
            s.push_str(&format!("        {}: {},\n", str_lit(n), str_lit(v)));
        }
        s.push_str("    },\n");
    }
    if !r.body.is_empty() {
        let data = match std::str::from_utf8(r.body) {
            Ok(text) if is_text(r.body) => format!("{}.encode()", str_lit(text)),
            _ => bytes_lit(r.body),
        };
        s.push_str(&format!("    data={data},\n"));
    }
    s.push_str("    allow_redirects=False,\n)\n");
    s.push_str("print(response.status_code, response.reason)\nprint(response.text)\n");
    Ok(Snippet { text: s, notes })
}

/// A Python `str` literal: ASCII only, so that nothing invisible or bidirectional hides in it.
pub fn str_lit(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' '..='~' => out.push(c),
            c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('\'');
    out
}

/// A Python `bytes` literal holding exactly `data`.
pub fn bytes_lit(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len() * 2 + 3);
    out.push_str("b'");
    for &b in data {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\'' => out.push_str("\\'"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            b' '..=b'~' => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('\'');
    out
}
