//! The request every format resends, reconstructed once: the URL, the headers a client
//! should send itself (framing and hop-by-hop ones are its own business), and the body bytes.
use capture::exchange::{Exchange, Protocol};
use capture::grpc;

/// Headers a client derives itself, or that only describe the captured connection.
const DERIVED: &[&str] = &[
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

pub struct Replay<'a> {
    pub method: &'a str,
    /// Absolute URL: the captured absolute form, else scheme (from TLS) + Host/:authority +
    /// target.
    pub url: String,
    /// The Host an HTTP/1.1 request carries: the Host header, else `:authority`.
    pub host: String,
    /// Path and query (origin form).
    pub target: String,
    /// In captured order, without pseudo-headers and [`DERIVED`] ones. `Host` only when it
    /// differs from the URL's authority (a request in absolute form, or to an address).
    pub headers: Vec<(&'a str, &'a str)>,
    /// What was captured: content-decoded when a `Content-Encoding` was undone (the header is
    /// then left out, so the bytes and the headers agree).
    pub body: &'a [u8],
    pub http2: bool,
    pub grpc: bool,
    /// What a resend will not reproduce.
    pub notes: Vec<String>,
}

pub fn replay(ex: &Exchange) -> Replay<'_> {
    let req = &ex.request;
    let url = ex.url();
    let url_host = url
        .split_once("://")
        .map_or("", |(_, rest)| rest.split('/').next().unwrap_or(""))
        .to_string();
    let decoded = req.body.content_encoding.is_some();
    let headers = req
        .headers
        .iter()
        .filter(|(name, value)| {
            let lower = name.to_ascii_lowercase();
            !(lower.starts_with(':')
                || DERIVED.contains(&lower.as_str())
                || (lower == "host" && value.eq_ignore_ascii_case(&url_host))
                || (lower == "content-encoding" && decoded))
        })
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let mut notes = Vec::new();
    let body = &req.body;
    if body.truncated {
        notes.push(format!(
            "request body truncated: {} of {} bytes were captured",
            body.data.len(),
            body.raw_len
        ));
    }
    if let Some(enc) = &body.content_encoding {
        notes.push(format!(
            "request body was content-decoded ({enc}); it is sent decoded, without Content-Encoding"
        ));
    }
    if body.evicted {
        notes.push(
            "request body no longer held (dropped to stay within the memory budget); it is not sent"
                .into(),
        );
    }
    Replay {
        method: &req.method,
        host: ex.host(),
        target: ex.path(),
        url,
        headers,
        body: &body.data,
        http2: ex.protocol == Protocol::Http2,
        grpc: grpc::is_grpc(&req.headers),
        notes,
    }
}

impl Replay<'_> {
    /// The headers with repeated names folded into one (Cookie with `; `, others with `, `,
    /// as HTTP allows), for clients that take a map.
    pub fn folded_headers(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for (name, value) in &self.headers {
            match out.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
                Some((n, v)) => {
                    v.push_str(if n.eq_ignore_ascii_case("cookie") {
                        "; "
                    } else {
                        ", "
                    });
                    v.push_str(value);
                }
                None => out.push((name.to_string(), value.to_string())),
            }
        }
        out
    }

    /// Why a client that speaks only HTTP/1.1 cannot resend this request, if it cannot.
    pub fn needs_http2(&self, client: &str) -> Result<(), String> {
        if self.grpc {
            Err(format!(
                "gRPC needs HTTP/2, and {client} speaks only HTTP/1.1"
            ))
        } else {
            Ok(())
        }
    }

    /// A note when `client` (which parses and re-serializes URLs, as requests, HTTPie and
    /// WHATWG URL do) may send a target other than the captured one: characters it
    /// percent-encodes (`'` in a query, space, quotes, non-ASCII…), escapes of unreserved
    /// characters it decodes, or dot segments it resolves.
    pub fn rewrite_note(&self, client: &str) -> Option<String> {
        let t = self.target.as_bytes();
        let odd_char = t
            .iter()
            .any(|&c| !(c.is_ascii_alphanumeric() || b"-._~!$&()*+,;=:@/?%".contains(&c)));
        let unreserved_escape = t.windows(3).any(|w| {
            w[0] == b'%'
                && std::str::from_utf8(&w[1..])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .is_some_and(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        });
        let path = self.target.split('?').next().unwrap_or("");
        let dots = path.split('/').any(|seg| seg == "." || seg == "..");
        (odd_char || unreserved_escape || dots).then(|| {
            format!(
                "{client} normalizes the URL: the target it sends may differ from the captured one"
            )
        })
    }

    /// The note for an HTTP/2 request resent over HTTP/1.1.
    pub fn downgrade_note(&self, client: &str) -> Option<String> {
        self.http2.then(|| {
            format!("captured over HTTP/2; {client} speaks only HTTP/1.1 and sends it that way")
        })
    }
}

/// Text a source-code string literal shows readably: UTF-8 with no control bytes except
/// tab, CR and LF.
pub fn is_text(b: &[u8]) -> bool {
    super::shell::is_shell_safe_text(b)
}
