//! The parts of a HAR entry read out of a URL or a header: query strings and cookies, and the
//! URL made a valid URI.
use serde::Serialize;

/// `queryString[]`: a name and value, percent-decoded as browsers show them.
#[derive(Serialize, Debug, PartialEq, Eq)]
pub struct Query {
    pub name: String,
    pub value: String,
}

/// `cookies[]`. The values are those of the (masked, when masking is on) headers.
#[derive(Serialize, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Cookie<'a> {
    pub name: &'a str,
    pub value: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_only: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secure: Option<bool>,
}

/// The query of `url` (after `?`, before `#`) as name/value pairs; `+` is a space, as in forms.
pub fn query_string(url: &str) -> Vec<Query> {
    let Some((_, query)) = url.split_once('?') else {
        return Vec::new();
    };
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Query {
                name: percent_decode(name),
                value: percent_decode(value),
            }
        })
        .collect()
}

/// `%XX` escapes and `+` decoded; a `%` not followed by two hex digits stays as it is, and bytes
/// that do not make UTF-8 become U+FFFD.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Cookies sent with a request: every `Cookie` header (HTTP/2 may split them), `name=value`
/// pairs separated by `;`.
pub fn request_cookies(headers: &[(String, String)]) -> Vec<Cookie<'_>> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("cookie"))
        .flat_map(|(_, v)| v.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = name.trim();
            (!name.is_empty()).then(|| Cookie {
                name,
                value: value.trim(),
                path: None,
                domain: None,
                http_only: None,
                secure: None,
            })
        })
        .collect()
}

/// Cookies set by a response, one per `Set-Cookie` header, with the attributes HAR 1.2 has a
/// field for. `Expires` is left out: HAR wants an ISO 8601 date, the header has an HTTP date,
/// and the header itself is in `headers`.
pub fn response_cookies(headers: &[(String, String)]) -> Vec<Cookie<'_>> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
        .filter_map(|(_, v)| {
            let mut parts = v.split(';');
            let (name, value) = parts.next()?.split_once('=')?;
            let mut c = Cookie {
                name: name.trim(),
                value: value.trim(),
                path: None,
                domain: None,
                http_only: None,
                secure: None,
            };
            for attr in parts {
                let (k, v) = attr.split_once('=').unwrap_or((attr, ""));
                let k = k.trim();
                if k.eq_ignore_ascii_case("path") {
                    c.path = Some(v.trim());
                } else if k.eq_ignore_ascii_case("domain") {
                    c.domain = Some(v.trim());
                } else if k.eq_ignore_ascii_case("httponly") {
                    c.http_only = Some(true);
                } else if k.eq_ignore_ascii_case("secure") {
                    c.secure = Some(true);
                }
            }
            (!c.name.is_empty()).then_some(c)
        })
        .collect()
}

/// The URL with the bytes a URI may not hold (controls, space, non-ASCII, `"<>\^`{|}`)
/// percent-encoded, as a browser sends them: a target is captured as sent, which a lenient
/// server may have accepted raw, and HAR's `url` is a URI. Existing escapes are kept.
pub fn uri_safe(url: &str) -> String {
    let bad = |b: u8| b <= b' ' || b >= 0x7f || b"\"<>\\^`{|}".contains(&b);
    if !url.bytes().any(bad) {
        return url.to_string();
    }
    let mut out = String::with_capacity(url.len() + 16);
    for b in url.bytes() {
        if bad(b) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}
