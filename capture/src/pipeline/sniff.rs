//! Which protocol a new connection speaks, decided from the first bytes of either direction:
//! HTTP/1, HTTP/2 from its preface or from frames already under way, or not HTTP.
use crate::event::Direction;
use crate::exchange::UnixNanos;
use crate::http1::{self, Sniff};
use crate::http2::frame::{FrameHeader, HEADER_LEN};
use crate::http2::{self, Preface};

/// Bytes kept per connection while deciding what protocol it speaks.
const SNIFF_LIMIT: usize = 16 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    Wait,
    Http1,
    /// The client preface was seen.
    Http2,
    /// Frames without a preface: attached to an HTTP/2 connection already under way.
    Http2Midway,
    NotHttp,
}

/// Decides the protocol from the first bytes of either direction.
pub(super) fn decide(chunks: &[(Direction, UnixNanos, Vec<u8>)], len: usize) -> Verdict {
    let mut waiting = false;
    let mut frames = false;
    for d in [Direction::Write, Direction::Read] {
        let bytes: Vec<u8> = chunks
            .iter()
            .filter(|(x, _, _)| *x == d)
            .flat_map(|(_, _, b)| b.iter().copied())
            .take(SNIFF_LIMIT)
            .collect();
        if bytes.is_empty() {
            continue;
        }
        match http2::is_preface(&bytes) {
            Preface::Yes => return Verdict::Http2,
            Preface::NeedMore => {
                waiting = true;
                continue;
            }
            Preface::No => {}
        }
        match http1::sniff(&bytes) {
            Sniff::Http1 => return Verdict::Http1,
            Sniff::NeedMore => waiting = true,
            Sniff::NotHttp => frames |= looks_like_frames(&bytes),
        }
    }
    if frames {
        Verdict::Http2Midway
    } else if waiting && len < SNIFF_LIMIT {
        Verdict::Wait
    } else {
        Verdict::NotHttp
    }
}

/// Two plausible HTTP/2 frame headers in a row (or one filling the bytes exactly): what a
/// connection looks like when we attach after its preface.
fn looks_like_frames(bytes: &[u8]) -> bool {
    let header = |at: usize| -> Option<&[u8; HEADER_LEN]> {
        bytes.get(at..at + HEADER_LEN)?.try_into().ok()
    };
    let Some(first) = header(0) else {
        return false;
    };
    if !FrameHeader::plausible(first, 1 << 24) {
        return false;
    }
    let next = HEADER_LEN + FrameHeader::parse(first).len as usize;
    match header(next) {
        Some(h) => FrameHeader::plausible(h, 1 << 24),
        None => next == bytes.len(),
    }
}
