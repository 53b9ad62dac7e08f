//! Parsing message heads and trailer sections with httparse, leniently: apitop observes traffic
//! rather than judging it. Pure functions over bytes; the decoder's state is elsewhere.
use crate::exchange::{Request, Response};

use super::Http1Error;

/// Header count we grow the parse array to before calling a head malformed.
const MAX_HEADERS: usize = 4096;

/// Header or trailer fields as sent.
pub(super) type Fields = Vec<(String, String)>;

pub(super) enum Head {
    Request(Request),
    Response(Response),
}

fn parser_config() -> httparse::ParserConfig {
    let mut c = httparse::ParserConfig::default();
    // We observe traffic rather than judge it: accept what lenient peers accept.
    c.allow_spaces_after_header_name_in_responses(true)
        .allow_obsolete_multiline_headers_in_responses(true)
        .allow_multiple_spaces_in_request_line_delimiters(true)
        .allow_multiple_spaces_in_response_status_delimiters(true);
    c
}

/// Does `bytes` hold a whole head yet? Saves re-running the parser on every piece of a head.
/// One pass that stops at the first blank line, so a head followed by a large body is cheap.
fn has_head_end(bytes: &[u8]) -> bool {
    memchr::memchr_iter(b'\n', bytes).any(|i| match bytes.get(i + 1) {
        Some(b'\n') => true,
        Some(b'\r') => bytes.get(i + 2) == Some(&b'\n'),
        _ => false,
    })
}

/// Runs `parse` with a header array grown until it fits (up to `MAX_HEADERS`).
fn with_headers<'b, T>(
    what: &'static str,
    mut parse: impl FnMut(&mut [httparse::Header<'b>]) -> Result<Option<T>, httparse::Error>,
) -> Result<Option<T>, Http1Error> {
    // The common case fits on the stack: a 2 KiB heap array per message head made glibc
    // consolidate its free lists on every exchange (a tenth of apitop's CPU under load).
    let mut first = [httparse::EMPTY_HEADER; 64];
    let mut n = first.len();
    loop {
        let mut grown;
        let headers: &mut [httparse::Header<'b>] = if n == first.len() {
            &mut first
        } else {
            grown = vec![httparse::EMPTY_HEADER; n];
            &mut grown
        };
        match parse(headers) {
            Err(httparse::Error::TooManyHeaders) if n < MAX_HEADERS => n *= 4,
            Err(e) => {
                return Err(Http1Error::MalformedHead {
                    what,
                    detail: e.to_string(),
                })
            }
            Ok(v) => return Ok(v),
        }
    }
}

pub(super) fn parse_request(bytes: &[u8]) -> Result<Option<(usize, Head)>, Http1Error> {
    let config = parser_config();
    if !has_head_end(bytes) {
        // Still reject garbage early rather than waiting for a blank line that never comes.
        return match config.parse_request(&mut httparse::Request::new(&mut []), bytes) {
            Err(e) if e != httparse::Error::TooManyHeaders => Err(Http1Error::MalformedHead {
                what: "request",
                detail: e.to_string(),
            }),
            _ => Ok(None),
        };
    }
    with_headers("request", |headers| {
        let mut req = httparse::Request::new(headers);
        Ok(match config.parse_request(&mut req, bytes)? {
            httparse::Status::Partial => None,
            httparse::Status::Complete(len) => Some((
                len,
                Head::Request(Request {
                    method: req.method.unwrap_or_default().to_string(),
                    target: req.path.unwrap_or_default().to_string(),
                    version: version(req.version),
                    headers: fields(req.headers),
                    body: Default::default(),
                }),
            )),
        })
    })
}

pub(super) fn parse_response(bytes: &[u8]) -> Result<Option<(usize, Head)>, Http1Error> {
    let config = parser_config();
    if !has_head_end(bytes) {
        return match config.parse_response(&mut httparse::Response::new(&mut []), bytes) {
            Err(e) if e != httparse::Error::TooManyHeaders => Err(Http1Error::MalformedHead {
                what: "response",
                detail: e.to_string(),
            }),
            _ => Ok(None),
        };
    }
    with_headers("response", |headers| {
        let mut resp = httparse::Response::new(headers);
        Ok(match config.parse_response(&mut resp, bytes)? {
            httparse::Status::Partial => None,
            httparse::Status::Complete(len) => Some((
                len,
                Head::Response(Response {
                    status: resp.code.unwrap_or_default(),
                    reason: resp.reason.unwrap_or_default().to_string(),
                    version: version(resp.version),
                    headers: fields(resp.headers),
                    ..Default::default()
                }),
            )),
        })
    })
}

/// A trailer section (header fields up to a blank line).
pub(super) fn parse_fields(bytes: &[u8]) -> Result<Option<(usize, Fields)>, Http1Error> {
    with_headers("trailer", |headers| {
        Ok(match httparse::parse_headers(bytes, headers)? {
            httparse::Status::Partial => None,
            httparse::Status::Complete((len, hs)) => Some((len, fields(hs))),
        })
    })
}

fn version(minor: Option<u8>) -> String {
    format!("HTTP/1.{}", minor.unwrap_or(1))
}

/// Header fields as sent, in order; values decoded lossily.
fn fields(headers: &[httparse::Header]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_end_detection() {
        assert!(has_head_end(b"GET / HTTP/1.1\r\n\r\n"));
        assert!(has_head_end(b"GET / HTTP/1.1\n\n"));
        assert!(has_head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nbody"));
        assert!(!has_head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r"));
        assert!(!has_head_end(b"GET / HTTP/1.1\r\n"));
    }
}
