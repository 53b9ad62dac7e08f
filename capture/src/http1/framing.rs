//! How a message body ends (RFC 9112 §6): a Content-Length, chunked transfer coding (chunk-size
//! lines, data, trailers), or the connection closing; and body bytes going into the message in
//! progress.
use crate::input::{Input, Step};

use super::head::parse_fields;
use super::{Http1Conn, Http1Error, Phase};

/// How the body of the message in progress ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Framing {
    /// Body bytes still expected.
    Length(u64),
    Chunked(Chunk),
    /// Response body that runs until the connection closes.
    UntilClose,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Chunk {
    Size,
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    Trailers,
}

impl Http1Conn {
    pub(super) fn skip_body(&mut self, i: usize, len: u64) {
        if let Some(msg) = self.sides[i].msg.as_mut() {
            msg.body.skip(len);
        }
    }

    /// Adds up to `max` body bytes from `rest`; returns how many.
    pub(super) fn body_bytes(&mut self, i: usize, rest: &[u8], max: u64) -> usize {
        let n = rest.len().min(usize::try_from(max).unwrap_or(usize::MAX));
        if let Some(msg) = self.sides[i].msg.as_mut() {
            msg.body.push(&rest[..n]);
        }
        n
    }

    pub(super) fn step_chunked(
        &mut self,
        i: usize,
        inp: &Input,
        rest: &[u8],
        chunk: Chunk,
    ) -> Step {
        let set = |s: &mut Self, c: Chunk| s.sides[i].phase = Phase::Body(Framing::Chunked(c));
        match chunk {
            Chunk::Size => match httparse::parse_chunk_size(rest) {
                Ok(httparse::Status::Complete((n, 0))) => {
                    set(self, Chunk::Trailers);
                    Step::Advance(n)
                }
                Ok(httparse::Status::Complete((n, size))) => {
                    set(self, Chunk::Data(size));
                    Step::Advance(n)
                }
                Ok(httparse::Status::Partial) => Step::NeedMore,
                Err(_) => {
                    self.fail(i, Http1Error::MalformedChunk("bad chunk size line"));
                    Step::Advance(0)
                }
            },
            Chunk::Data(rem) => {
                let n = self.body_bytes(i, rest, rem);
                let left = rem - n as u64;
                set(
                    self,
                    if left == 0 {
                        Chunk::DataEnd
                    } else {
                        Chunk::Data(left)
                    },
                );
                Step::Advance(n)
            }
            Chunk::DataEnd => match rest {
                [b'\r', b'\n', ..] => {
                    set(self, Chunk::Size);
                    Step::Advance(2)
                }
                [b'\r'] => Step::NeedMore,
                _ => {
                    self.fail(
                        i,
                        Http1Error::MalformedChunk("missing CRLF after chunk data"),
                    );
                    Step::Advance(0)
                }
            },
            Chunk::Trailers => match parse_fields(rest) {
                Ok(Some((n, trailers))) => {
                    if let Some(msg) = self.sides[i].msg.as_mut() {
                        msg.trailers = trailers;
                    }
                    self.complete(i, inp.ts, false, None);
                    Step::Advance(n)
                }
                Ok(None) => Step::NeedMore,
                Err(e) => {
                    self.fail(i, e);
                    Step::Advance(0)
                }
            },
        }
    }
}

/// Some(true) when Transfer-Encoding is present and ends in chunked; None when absent.
pub(super) fn chunked(headers: &[(String, String)]) -> Option<bool> {
    let mut last = None;
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("transfer-encoding") {
            for coding in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                last = Some(coding.eq_ignore_ascii_case("chunked"));
            }
        }
    }
    last
}

/// The Content-Length, if present. Repeated equal values are accepted (RFC 9110 §8.6).
pub(super) fn content_length(headers: &[(String, String)]) -> Result<Option<u64>, Http1Error> {
    let mut found: Option<u64> = None;
    for (name, value) in headers {
        if !name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        for v in value.split(',').map(str::trim) {
            let bad = || Http1Error::Framing(format!("bad content-length {value:?}"));
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let n: u64 = v.parse().map_err(|_| bad())?;
            if found.is_some_and(|f| f != n) {
                return Err(Http1Error::Framing(
                    "conflicting content-length values".into(),
                ));
            }
            found = Some(n);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_rules() {
        let h = |v: &str| vec![("Content-Length".to_string(), v.to_string())];
        assert_eq!(content_length(&h("12")), Ok(Some(12)));
        assert_eq!(content_length(&h("12, 12")), Ok(Some(12)));
        assert!(content_length(&h("12, 13")).is_err());
        assert!(content_length(&h("-1")).is_err());
        assert!(content_length(&h("99999999999999999999999")).is_err());
    }
}
