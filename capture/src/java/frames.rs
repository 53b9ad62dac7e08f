//! The Java hand-off protocol v1 (the agent → apitop), parsed with hard bounds.
//!
//! Every frame is `u32 len` (little-endian: the bytes after this field, the kind byte included,
//! at most [`MAX_FRAME`]) + `u8 kind` + body. A frame that breaks the format (too long, unknown
//! kind, a body that does not match its kind, bad UTF-8) is an error: the receiver closes that
//! agent's connection and counts it. Nothing here allocates more than one frame's worth.
use std::fmt;

/// The largest `len` a frame may declare (kind byte and body).
pub const MAX_FRAME: usize = 65_600;
/// The largest DATA payload.
pub const MAX_DATA: usize = 65_536;
/// The protocol version HELLO must carry.
pub const VERSION: u32 = 1;

pub const KIND_HELLO: u8 = 1;
pub const KIND_CONN: u8 = 2;
pub const KIND_DATA: u8 = 3;
pub const KIND_CLOSE: u8 = 4;
pub const KIND_DROPPED: u8 = 5;

/// One frame from an agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    Hello {
        version: u32,
        /// The JVM's own pid (its pid namespace's).
        pid: u32,
        java_version: String,
        vm_name: String,
        token: String,
    },
    Conn {
        id: u64,
        /// 0 unknown, 1 client, 2 server.
        role: u8,
        /// 1 SSLSocket stream, 2 SSLEngine.
        path: u8,
        local: String,
        peer: String,
    },
    Data {
        id: u64,
        /// Unix epoch nanoseconds.
        ts: u64,
        /// False: the JVM sent these bytes; true: it received them.
        received: bool,
        bytes: Vec<u8>,
    },
    Close {
        id: u64,
    },
    Dropped {
        bytes: u64,
    },
}

/// Why a frame was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The length field is 0 or above [`MAX_FRAME`].
    BadLength(u32),
    UnknownKind(u8),
    /// The body ended before a field of the kind.
    Truncated {
        kind: u8,
    },
    /// Bytes left after the last field of the kind.
    Trailing {
        kind: u8,
        extra: usize,
    },
    BadUtf8 {
        kind: u8,
    },
    /// A DATA direction other than 0 or 1, or a DATA length above [`MAX_DATA`].
    BadData(String),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::BadLength(n) => write!(f, "frame length {n} (must be 1..={MAX_FRAME})"),
            FrameError::UnknownKind(k) => write!(f, "unknown frame kind {k}"),
            FrameError::Truncated { kind } => write!(f, "frame of kind {kind} cut short"),
            FrameError::Trailing { kind, extra } => {
                write!(f, "{extra} bytes after the end of a frame of kind {kind}")
            }
            FrameError::BadUtf8 { kind } => {
                write!(f, "a string in a frame of kind {kind} is not UTF-8")
            }
            FrameError::BadData(why) => write!(f, "DATA frame: {why}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Splits a byte stream into frames. Holds at most one incomplete frame plus one read's worth.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Where the unparsed bytes of `buf` start.
    start: usize,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes read from the socket.
    pub fn push(&mut self, data: &[u8]) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Bytes held that do not make a whole frame yet.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next whole frame, None when more bytes are needed. After an error the stream is
    /// unusable (frame boundaries are lost): the caller drops the connection.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        let rest = &self.buf[self.start..];
        let Some(len) = rest.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]);
        if len == 0 || len as usize > MAX_FRAME {
            return Err(FrameError::BadLength(len));
        }
        let Some(frame) = rest.get(4..4 + len as usize) else {
            return Ok(None);
        };
        let parsed = parse(frame[0], &frame[1..])?;
        self.start += 4 + len as usize;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        Ok(Some(parsed))
    }
}

/// A cursor over one frame's body.
struct Body<'a> {
    kind: u8,
    rest: &'a [u8],
}

impl<'a> Body<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FrameError> {
        if self.rest.len() < n {
            return Err(FrameError::Truncated { kind: self.kind });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, FrameError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, FrameError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, FrameError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, FrameError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn string(&mut self) -> Result<String, FrameError> {
        let n = self.u16()? as usize;
        let b = self.take(n)?;
        std::str::from_utf8(b)
            .map(str::to_string)
            .map_err(|_| FrameError::BadUtf8 { kind: self.kind })
    }
    fn end(self) -> Result<(), FrameError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(FrameError::Trailing {
                kind: self.kind,
                extra: self.rest.len(),
            })
        }
    }
}

/// One frame's body of kind `kind`.
pub fn parse(kind: u8, body: &[u8]) -> Result<Frame, FrameError> {
    let mut b = Body { kind, rest: body };
    let frame = match kind {
        KIND_HELLO => Frame::Hello {
            version: b.u32()?,
            pid: b.u32()?,
            java_version: b.string()?,
            vm_name: b.string()?,
            token: b.string()?,
        },
        KIND_CONN => Frame::Conn {
            id: b.u64()?,
            role: b.u8()?,
            path: b.u8()?,
            local: b.string()?,
            peer: b.string()?,
        },
        KIND_DATA => {
            let id = b.u64()?;
            let ts = b.u64()?;
            let received = match b.u8()? {
                0 => false,
                1 => true,
                d => return Err(FrameError::BadData(format!("direction {d}"))),
            };
            let len = b.u32()? as usize;
            if len > MAX_DATA {
                return Err(FrameError::BadData(format!(
                    "{len} bytes (at most {MAX_DATA})"
                )));
            }
            Frame::Data {
                id,
                ts,
                received,
                bytes: b.take(len)?.to_vec(),
            }
        }
        KIND_CLOSE => Frame::Close { id: b.u64()? },
        KIND_DROPPED => Frame::Dropped { bytes: b.u64()? },
        k => return Err(FrameError::UnknownKind(k)),
    };
    b.end()?;
    Ok(frame)
}

/// Encodes a frame as the agent does (tests, and the fake sender of the receiver's tests).
pub fn encode(frame: &Frame) -> Vec<u8> {
    fn s(out: &mut Vec<u8>, v: &str) {
        out.extend_from_slice(&(v.len() as u16).to_le_bytes());
        out.extend_from_slice(v.as_bytes());
    }
    let mut body = Vec::new();
    let kind = match frame {
        Frame::Hello {
            version,
            pid,
            java_version,
            vm_name,
            token,
        } => {
            body.extend_from_slice(&version.to_le_bytes());
            body.extend_from_slice(&pid.to_le_bytes());
            s(&mut body, java_version);
            s(&mut body, vm_name);
            s(&mut body, token);
            KIND_HELLO
        }
        Frame::Conn {
            id,
            role,
            path,
            local,
            peer,
        } => {
            body.extend_from_slice(&id.to_le_bytes());
            body.push(*role);
            body.push(*path);
            s(&mut body, local);
            s(&mut body, peer);
            KIND_CONN
        }
        Frame::Data {
            id,
            ts,
            received,
            bytes,
        } => {
            body.extend_from_slice(&id.to_le_bytes());
            body.extend_from_slice(&ts.to_le_bytes());
            body.push(u8::from(*received));
            body.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            body.extend_from_slice(bytes);
            KIND_DATA
        }
        Frame::Close { id } => {
            body.extend_from_slice(&id.to_le_bytes());
            KIND_CLOSE
        }
        Frame::Dropped { bytes } => {
            body.extend_from_slice(&bytes.to_le_bytes());
            KIND_DROPPED
        }
    };
    let mut out = Vec::with_capacity(5 + body.len());
    out.extend_from_slice(&(body.len() as u32 + 1).to_le_bytes());
    out.push(kind);
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Frame> {
        vec![
            Frame::Hello {
                version: 1,
                pid: 7,
                java_version: "17.0.15".into(),
                vm_name: "OpenJDK 64-Bit Server VM".into(),
                token: "abcd".into(),
            },
            Frame::Conn {
                id: 1,
                role: 1,
                path: 2,
                local: "".into(),
                peer: "example.com:443".into(),
            },
            Frame::Data {
                id: 1,
                ts: 1_700_000_000_000_000_000,
                received: false,
                bytes: b"GET / HTTP/1.1\r\n\r\n".to_vec(),
            },
            Frame::Data {
                id: 1,
                ts: 1,
                received: true,
                bytes: vec![0xAB; MAX_DATA],
            },
            Frame::Close { id: 1 },
            Frame::Dropped { bytes: 12345 },
        ]
    }

    #[test]
    fn good_frames_round_trip_in_any_split() {
        let frames = samples();
        let stream: Vec<u8> = frames.iter().flat_map(encode).collect();
        for step in [1, 3, 7, 4096, stream.len()] {
            let mut d = Decoder::new();
            let mut got = Vec::new();
            for chunk in stream.chunks(step) {
                d.push(chunk);
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(f);
                }
                assert!(d.pending() <= 4 + MAX_FRAME + step);
            }
            assert_eq!(got, frames, "split in chunks of {step}");
            assert_eq!(d.pending(), 0);
        }
    }

    #[test]
    fn truncated_frames_wait_then_bodies_that_lie_fail() {
        let whole = encode(&samples()[0]);
        let mut d = Decoder::new();
        d.push(&whole[..whole.len() - 1]);
        assert_eq!(d.next_frame(), Ok(None), "an incomplete frame waits");
        // A HELLO whose declared length stops inside the token string.
        let mut short = whole.clone();
        let len = (whole.len() - 4 - 2) as u32;
        short[..4].copy_from_slice(&len.to_le_bytes());
        short.truncate(whole.len() - 2);
        let mut d = Decoder::new();
        d.push(&short);
        assert_eq!(
            d.next_frame(),
            Err(FrameError::Truncated { kind: KIND_HELLO })
        );
        // A CLOSE with extra bytes.
        let mut long = encode(&Frame::Close { id: 3 });
        long[..4].copy_from_slice(&10u32.to_le_bytes());
        long.push(0);
        let mut d = Decoder::new();
        d.push(&long);
        assert_eq!(
            d.next_frame(),
            Err(FrameError::Trailing {
                kind: KIND_CLOSE,
                extra: 1
            })
        );
    }

    #[test]
    fn oversized_frames_fail_before_buffering() {
        let mut d = Decoder::new();
        d.push(&(MAX_FRAME as u32 + 1).to_le_bytes());
        assert_eq!(
            d.next_frame(),
            Err(FrameError::BadLength(MAX_FRAME as u32 + 1))
        );
        let mut d = Decoder::new();
        d.push(&u32::MAX.to_le_bytes());
        assert!(d.next_frame().is_err());
        let mut d = Decoder::new();
        d.push(&0u32.to_le_bytes());
        assert_eq!(d.next_frame(), Err(FrameError::BadLength(0)));
        // A DATA frame that fits MAX_FRAME but claims more than MAX_DATA bytes.
        let mut body = vec![KIND_DATA];
        body.extend_from_slice(&[0; 17]);
        body.extend_from_slice(&(MAX_DATA as u32 + 1).to_le_bytes());
        body.extend_from_slice(&[0; 10]);
        assert!(matches!(
            parse(KIND_DATA, &body[1..]),
            Err(FrameError::BadData(_))
        ));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert_eq!(parse(9, &[]), Err(FrameError::UnknownKind(9)));
        let mut bad_dir = encode(&samples()[2]);
        bad_dir[4 + 1 + 16] = 2;
        let mut d = Decoder::new();
        d.push(&bad_dir);
        assert!(matches!(d.next_frame(), Err(FrameError::BadData(_))));
        let mut bad_utf8 = encode(&samples()[1]);
        let n = bad_utf8.len();
        bad_utf8[n - 1] = 0xFF;
        let mut d = Decoder::new();
        d.push(&bad_utf8);
        assert_eq!(d.next_frame(), Err(FrameError::BadUtf8 { kind: KIND_CONN }));
        // Pseudo-random bytes: every outcome is a frame, a wait or an error.
        let mut x: u32 = 0x1234_5678;
        for _ in 0..2000 {
            let mut bytes = Vec::new();
            for _ in 0..64 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                bytes.push(x as u8);
            }
            bytes[..4].copy_from_slice(&(x % 70).to_le_bytes());
            let mut d = Decoder::new();
            d.push(&bytes);
            while let Ok(Some(_)) = d.next_frame() {}
        }
    }
}
