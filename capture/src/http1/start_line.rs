//! Recognising where an HTTP/1 message starts: a request line or a status line. Used to sniff a
//! connection's first bytes, to learn the role from the first message, and to find the next
//! message after lost bytes (resync).
use crate::exchange::Role;
use crate::input::Step;

use super::{Http1Conn, Http1Error, Phase, MAX_REQUEST_LINE};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Request,
    Response,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Request => "request",
            Kind::Response => "response",
        }
    }
}

#[derive(Clone, Copy)]
pub(super) enum Class {
    Start(Kind),
    NotHttp,
    NeedMore,
}

/// Does `bytes` start with a request line or a status line? Only looks `max_line` bytes ahead.
pub(super) fn classify(bytes: &[u8], max_line: usize) -> Class {
    const STATUS: &[u8] = b"HTTP/1.";
    if bytes.starts_with(STATUS) {
        return Class::Start(Kind::Response);
    }
    if bytes.len() < STATUS.len() && STATUS.starts_with(bytes) && !bytes.is_empty() {
        return Class::NeedMore;
    }
    match request_line(bytes, max_line) {
        Some(c) => c,
        // Out of bytes: only worth waiting for if the line could still fit.
        None if bytes.len() >= max_line => Class::NotHttp,
        None => Class::NeedMore,
    }
}

/// Where a request line would start whose ` HTTP/1.` version is at `at` (`…GET /x HTTP/1.1`):
/// back over the target to the space before it, then over the method. Of an uppercase run, the
/// longest standard method it ends with is taken (`…XYZGET` is `GET` after a body).
fn request_line_start(bytes: &[u8], at: usize) -> Option<usize> {
    const METHODS: [&[u8]; 9] = [
        b"OPTIONS", b"CONNECT", b"DELETE", b"PATCH", b"TRACE", b"POST", b"HEAD", b"GET", b"PUT",
    ];
    let space = at.checked_sub(1).filter(|&j| bytes[j] == b' ')?;
    let target = bytes[..space]
        .iter()
        .rev()
        .take_while(|&&b| matches!(b, 0x21..=0x7e | 0x80..=0xff))
        .count();
    let before = (space - target)
        .checked_sub(1)
        .filter(|&j| bytes[j] == b' ')?;
    if target == 0 {
        return None;
    }
    let method = bytes[..before]
        .iter()
        .rev()
        .take_while(|&&b| matches!(b, b'A'..=b'Z' | b'-' | b'_'))
        .count()
        .min(32);
    if method == 0 {
        return None;
    }
    let token = &bytes[before - method..before];
    let known = METHODS.iter().find(|m| token.ends_with(m));
    Some(before - known.map_or(method, |m| m.len()))
}

/// The union of two ascending sequences, ascending (equal positions once).
fn merge_ascending(
    a: impl Iterator<Item = usize>,
    b: impl Iterator<Item = usize>,
) -> impl Iterator<Item = usize> {
    let (mut a, mut b) = (a.peekable(), b.peekable());
    std::iter::from_fn(move || match (a.peek().copied(), b.peek().copied()) {
        (Some(x), Some(y)) if x == y => {
            b.next();
            a.next()
        }
        (Some(x), Some(y)) if y < x => b.next(),
        (Some(_), _) => a.next(),
        (None, _) => b.next(),
    })
}

/// Checks `METHOD SP target SP HTTP/1.x EOL`; None when the bytes run out before a verdict.
fn request_line(bytes: &[u8], max_line: usize) -> Option<Class> {
    let not = Some(Class::NotHttp);
    let window = &bytes[..bytes.len().min(max_line)];
    let mut it = window.iter().copied().enumerate();
    // Methods are tokens; in practice uppercase, which keeps binary data from looking like one.
    let mut method_len = 0;
    loop {
        let (_, b) = it.next()?;
        match b {
            b'A'..=b'Z' | b'-' | b'_' if method_len < 32 => method_len += 1,
            b' ' if method_len > 0 => break,
            _ => return not,
        }
    }
    let mut target_len = 0;
    loop {
        let (_, b) = it.next()?;
        match b {
            b' ' if target_len > 0 => break,
            0x21..=0x7e | 0x80..=0xff => target_len += 1,
            _ => return not,
        }
    }
    for want in b"HTTP/1.".iter().copied() {
        if it.next()?.1 != want {
            return not;
        }
    }
    if !it.next()?.1.is_ascii_digit() {
        return not;
    }
    match it.next()?.1 {
        b'\n' => Some(Class::Start(Kind::Request)),
        b'\r' => match it.next()?.1 {
            b'\n' => Some(Class::Start(Kind::Request)),
            _ => not,
        },
        _ => not,
    }
}

impl Http1Conn {
    /// The kind of message direction `i` carries, once the role is known.
    pub(super) fn expected(&self, i: usize) -> Option<Kind> {
        let requests_in = match self.role? {
            Role::Client => 0,
            Role::Server => 1,
        };
        Some(if i == requests_in {
            Kind::Request
        } else {
            Kind::Response
        })
    }

    /// First bytes of a direction: decide what it carries (and so the role).
    pub(super) fn step_start(&mut self, i: usize, rest: &[u8]) -> Step {
        match classify(rest, self.max_line()) {
            Class::NeedMore => Step::NeedMore,
            Class::NotHttp => {
                self.fail(i, Http1Error::NotHttp);
                Step::Advance(0)
            }
            Class::Start(kind) => {
                match self.expected(i) {
                    None => self.role = Some(role_for(i, kind)),
                    Some(k) if k != kind => {
                        self.fail(i, Http1Error::WrongDirection(kind.name()));
                        return Step::Advance(0);
                    }
                    Some(_) => {}
                }
                self.sides[i].phase = Phase::Head;
                Step::Advance(0)
            }
        }
    }

    fn max_line(&self) -> usize {
        MAX_REQUEST_LINE.min(self.limits.max_header_buffer)
    }

    /// Skips to the first place that begins a message of the kind this direction carries: a line
    /// start, or a start line right after a body that did not end its last line (a JSON body is
    /// followed directly by the next `HTTP/1.1 200`, so line starts alone never resync such a
    /// connection after a gap). Candidates are found with memchr/memmem: resyncing scans every
    /// byte until it finds one, and byte by byte that was over half of apitop's CPU under load.
    pub(super) fn step_resync(&mut self, i: usize, rest: &[u8], line_start: bool) -> Step {
        let expected = self.expected(i);
        let max_line = self.max_line();
        let mut heads: Vec<usize> = memchr::memmem::find_iter(rest, b"HTTP/1.")
            .flat_map(|h| [request_line_start(rest, h), Some(h)])
            .flatten()
            // Offset 0 counts only at a line start (as below): a head that failed to parse there
            // sends the direction back here with `line_start: false`, and must be passed over.
            .filter(|&p| p > 0)
            .collect();
        heads.sort_unstable();
        heads.dedup();
        let lines = line_start
            .then_some(0)
            .into_iter()
            .chain(memchr::memchr_iter(b'\n', rest).map(|j| j + 1));
        for p in merge_ascending(lines, heads.into_iter()) {
            match classify(&rest[p..], max_line) {
                Class::Start(kind) if expected.is_none_or(|k| k == kind) => {
                    self.sides[i].phase = Phase::Start;
                    return Step::Advance(p);
                }
                Class::NeedMore if p == 0 => return Step::NeedMore,
                Class::NeedMore => {
                    self.sides[i].phase = Phase::Resync { line_start: true };
                    return Step::Advance(p);
                }
                _ => {}
            }
        }
        // Nothing starts here. The last bytes may be the first part of a start line that is not
        // at a line start (`…}GET /b HT`): keep them (less than the buffer limit) for the next
        // bytes; they are looked at again then, the rest is skipped.
        let keep = max_line
            .min(self.limits.max_header_buffer)
            .saturating_sub(1);
        if rest.len() <= keep {
            self.sides[i].phase = Phase::Resync { line_start };
            return Step::NeedMore;
        }
        let skip = rest.len() - keep;
        self.sides[i].phase = Phase::Resync {
            line_start: rest[skip - 1] == b'\n',
        };
        Step::Advance(skip)
    }
}

fn role_for(i: usize, kind: Kind) -> Role {
    let requests_in_write = (i == 0) == (kind == Kind::Request);
    if requests_in_write {
        Role::Client
    } else {
        Role::Server
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_lines() {
        assert!(matches!(
            classify(b"GET / HTTP/1.1\r\n", 100),
            Class::Start(Kind::Request)
        ));
        assert!(matches!(
            classify(b"HTTP/1.1 200", 100),
            Class::Start(Kind::Response)
        ));
        assert!(matches!(classify(b"HTT", 100), Class::NeedMore));
        assert!(matches!(
            classify(b"GET / HTTP/1.1\r", 100),
            Class::NeedMore
        ));
        assert!(matches!(
            classify(b"GET / HTTP/2.0\r\n", 100),
            Class::NotHttp
        ));
        assert!(matches!(classify(b"GET /aaaaaaaaaa", 10), Class::NotHttp));
    }
}
