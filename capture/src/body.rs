//! Message bodies as kept for display: raw (transfer-decoded) bytes are kept up to a bound while
//! the message streams in, then content-decoded once at the end with an output cap, so neither a
//! large body nor a compression bomb can make memory grow past the cap.
use std::io::{self, BufRead, BufReader, Read};

use crate::exchange::Body;

/// Accumulates one message body. Keeps at most `cap` raw bytes, counts all of them.
#[derive(Debug)]
pub struct BodyBuilder {
    cap: usize,
    raw: Vec<u8>,
    raw_len: u64,
    /// Some bytes were counted but not kept (capture gap, or the message was cut short).
    lost: bool,
    content_encoding: Option<String>,
    /// The length the message declares (`Content-Length`), if any.
    expected: Option<u64>,
}

impl BodyBuilder {
    /// `content_encoding` is the message's `Content-Encoding` header value, if any.
    pub fn new(cap: usize, content_encoding: Option<&str>) -> Self {
        BodyBuilder {
            cap,
            raw: Vec::new(),
            raw_len: 0,
            lost: false,
            content_encoding: content_encoding.map(|s| s.trim().to_string()),
            expected: None,
        }
    }

    /// The body's declared length (`Content-Length`): the first bytes reserve room for it (up
    /// to the cap) instead of the buffer growing and being copied chunk by chunk, a third of the
    /// copying with 64 KiB bodies. Reserved only once bytes arrive, so a connection that merely
    /// announces a large body holds nothing for it.
    pub fn with_expected(mut self, len: Option<u64>) -> Self {
        self.expected = len;
        self
    }

    /// Adds body bytes as they arrive (already dechunked).
    pub fn push(&mut self, bytes: &[u8]) {
        self.raw_len = self.raw_len.saturating_add(bytes.len() as u64);
        // After a hole the kept bytes would splice unrelated data together: stop keeping.
        if self.lost {
            return;
        }
        if self.raw.capacity() == 0 {
            if let Some(len) = self.expected {
                let want = len.min(self.cap as u64) as usize;
                self.raw.reserve_exact(want.max(bytes.len().min(self.cap)));
            }
        }
        let room = self.cap.saturating_sub(self.raw.len());
        extend_capped(&mut self.raw, &bytes[..bytes.len().min(room)], self.cap);
    }

    /// Counts `len` body bytes that were lost in a capture gap.
    pub fn skip(&mut self, len: u64) {
        self.raw_len = self.raw_len.saturating_add(len);
        self.lost = true;
    }

    /// The message ended before its body was complete.
    pub fn mark_truncated(&mut self) {
        self.lost = true;
    }

    pub fn raw_len(&self) -> u64 {
        self.raw_len
    }

    /// Content-decodes what was kept into the displayed body.
    pub fn finish(self) -> Body {
        let input_cut = self.lost || self.raw_len > self.raw.len() as u64;
        let mut body = Body {
            raw_len: self.raw_len,
            truncated: input_cut,
            ..Body::default()
        };
        let codings = match self.content_encoding.as_deref() {
            Some(v) if !self.raw.is_empty() => parse_codings(v),
            _ => Ok(Vec::new()),
        };
        let codings = match codings {
            Ok(c) if c.is_empty() => {
                body.data = self.raw;
                return body;
            }
            Ok(c) => c,
            Err(unknown) => {
                body.data = self.raw;
                body.decode_error = Some(format!("unsupported content-encoding {unknown}"));
                return body;
            }
        };
        let label = self.content_encoding.unwrap_or_default();
        let (out, result) = decode(&self.raw[..], &codings, self.cap);
        match result {
            Ok(overflow) => {
                body.data = out;
                body.truncated |= overflow;
                body.content_encoding = Some(label);
            }
            // A cut-short input ends in an unexpected EOF; what came out before it is still good.
            Err(_) if input_cut && !out.is_empty() => {
                body.data = out;
                body.content_encoding = Some(label);
            }
            Err(e) => {
                body.data = self.raw;
                body.decode_error = Some(format!("{label} decoding failed: {e}"));
            }
        }
        body
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Coding {
    Gzip,
    Deflate,
    Brotli,
    Zstd,
}

/// The codings of a `Content-Encoding` value in the order they were applied, or the first one
/// we cannot decode.
fn parse_codings(value: &str) -> Result<Vec<Coding>, String> {
    let mut out = Vec::new();
    for token in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let coding = match token.to_ascii_lowercase().as_str() {
            "identity" => continue,
            "gzip" | "x-gzip" => Coding::Gzip,
            "deflate" => Coding::Deflate,
            "br" => Coding::Brotli,
            "zstd" => Coding::Zstd,
            _ => return Err(token.to_string()),
        };
        out.push(coding);
    }
    Ok(out)
}

/// Undoes `codings` (last applied is undone first) as one streaming chain, keeping at most `cap`
/// output bytes. Returns the output and whether more output was left (`Ok(true)`), or the error.
fn decode<'a>(raw: impl Read + 'a, codings: &[Coding], cap: usize) -> (Vec<u8>, io::Result<bool>) {
    let mut reader: Box<dyn Read + 'a> = Box::new(raw);
    for coding in codings.iter().rev() {
        reader = match coding {
            Coding::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
            Coding::Brotli => Box::new(brotli::Decompressor::new(reader, 4096)),
            Coding::Zstd => Box::new(Zstd::new(reader)),
            Coding::Deflate => match deflate_reader(reader) {
                Ok(r) => r,
                Err(e) => return (Vec::new(), Err(e)),
            },
        };
    }
    read_capped(&mut reader, cap)
}

/// "deflate" is meant to be zlib-wrapped, but some servers send raw deflate: look at the header.
fn deflate_reader<'a>(inner: Box<dyn Read + 'a>) -> io::Result<Box<dyn Read + 'a>> {
    let mut buffered = BufReader::new(inner);
    let head = buffered.fill_buf()?;
    let zlib = head.len() >= 2
        && head[0] & 0x0f == 8
        && head[0] >> 4 <= 7
        && (u16::from(head[0]) << 8 | u16::from(head[1])) % 31 == 0;
    Ok(if zlib {
        Box::new(flate2::bufread::ZlibDecoder::new(buffered))
    } else {
        Box::new(flate2::bufread::DeflateDecoder::new(buffered))
    })
}

/// zstd (RFC 8878) as a reader: one frame after another until the input ends, so concatenated
/// frames decode like `zstd -d` does. Windows past ruzstd's limit (100 MiB) are errors.
struct Zstd<'a> {
    src: BufReader<Box<dyn Read + 'a>>,
    frame: ruzstd::decoding::FrameDecoder,
    in_frame: bool,
}

impl<'a> Zstd<'a> {
    fn new(inner: Box<dyn Read + 'a>) -> Self {
        Zstd {
            src: BufReader::new(inner),
            frame: ruzstd::decoding::FrameDecoder::new(),
            in_frame: false,
        }
    }
}

impl Read for Zstd<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use ruzstd::decoding::BlockDecodingStrategy;
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.in_frame {
                if self.src.fill_buf()?.is_empty() {
                    return Ok(0);
                }
                self.frame.reset(&mut self.src).map_err(io::Error::other)?;
                self.in_frame = true;
            }
            // Decode blocks until there is something to hand out or the frame ends.
            while self.frame.can_collect() == 0 && !self.frame.is_finished() {
                let before = self.frame.bytes_read_from_source();
                self.frame
                    .decode_blocks(&mut self.src, BlockDecodingStrategy::UptoBytes(buf.len()))
                    .map_err(io::Error::other)?;
                let stuck = self.frame.bytes_read_from_source() == before
                    && self.frame.can_collect() == 0
                    && !self.frame.is_finished();
                if stuck {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
            }
            let n = self.frame.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            if self.frame.is_finished() && self.frame.can_collect() == 0 {
                self.in_frame = false;
            }
        }
    }
}

/// Reads until EOF or `cap` bytes; reports whether output remained beyond the cap.
fn read_capped(reader: &mut dyn Read, cap: usize) -> (Vec<u8>, io::Result<bool>) {
    let mut out = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match reader.read(&mut chunk) {
            Ok(0) => return (out, Ok(false)),
            Ok(n) => {
                let room = cap - out.len();
                if n > room {
                    extend_capped(&mut out, &chunk[..room], cap);
                    return (out, Ok(true));
                }
                extend_capped(&mut out, &chunk[..n], cap);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (out, Err(e)),
        }
    }
}

/// Appends without letting the vector's capacity grow past `cap` (plain `extend` may double it).
fn extend_capped(out: &mut Vec<u8>, bytes: &[u8], cap: usize) {
    let need = out.len() + bytes.len();
    if need > out.capacity() {
        let want = (out.capacity() * 2).max(need).min(cap.max(need));
        out.reserve_exact(want - out.len());
    }
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts the bytes read through it.
    struct Counting<'a>(&'a [u8], std::rc::Rc<std::cell::Cell<usize>>);

    impl Read for Counting<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.read(buf)?;
            self.1.set(self.1.get() + n);
            Ok(n)
        }
    }

    #[test]
    fn a_declared_length_is_reserved_once_when_bytes_arrive_never_past_the_cap() {
        let b = BodyBuilder::new(1 << 20, None).with_expected(Some(65536));
        assert_eq!(b.raw.capacity(), 0, "nothing held before the body arrives");
        let mut b = b;
        b.push(&[b'x'; 16384]);
        assert_eq!(b.raw.capacity(), 65536);
        let at = b.raw.as_ptr();
        for _ in 0..3 {
            b.push(&[b'x'; 16384]);
        }
        assert_eq!(b.raw.as_ptr(), at, "filled in place, never moved");
        assert_eq!(b.raw.len(), 65536);
        // A bogus or huge declared length reserves no more than the cap.
        let mut b = BodyBuilder::new(1000, None).with_expected(Some(1 << 40));
        b.push(b"abc");
        assert_eq!(b.raw.capacity(), 1000);
    }

    #[test]
    fn a_compression_bomb_is_read_only_as_far_as_the_cap() {
        use std::io::Write;
        // 200 MB of zeros: about 200 KB of gzip, each KB of it about 1 MB of output.
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..200 {
            e.write_all(&zeros).unwrap();
        }
        let bomb = e.finish().unwrap();
        let consumed = std::rc::Rc::new(std::cell::Cell::new(0));
        let cap = 1 << 20;
        let (out, result) = decode(Counting(&bomb, consumed.clone()), &[Coding::Gzip], cap);
        assert!(result.unwrap(), "output beyond the cap is reported");
        assert_eq!(out.len(), cap);
        // Stopping at the cap means leaving most of the input unread (not inflating 200 MB).
        assert!(
            consumed.get() < bomb.len() / 4,
            "read {} of {} compressed bytes for {cap} output bytes",
            consumed.get(),
            bomb.len()
        );
    }

    #[test]
    fn codings_parse_in_order() {
        assert_eq!(
            parse_codings("gzip, identity, BR"),
            Ok(vec![Coding::Gzip, Coding::Brotli])
        );
        assert_eq!(parse_codings("zstd"), Ok(vec![Coding::Zstd]));
        assert_eq!(parse_codings("compress"), Err("compress".to_string()));
    }

    #[test]
    fn identity_body_is_capped() {
        let mut b = BodyBuilder::new(4, None);
        b.push(b"abc");
        b.push(b"defg");
        let body = b.finish();
        assert_eq!(body.data, b"abcd");
        assert_eq!(body.raw_len, 7);
        assert!(body.truncated);
    }

    #[test]
    fn bytes_after_a_gap_are_counted_not_kept() {
        let mut b = BodyBuilder::new(100, None);
        b.push(b"ab");
        b.skip(10);
        b.push(b"cd");
        let body = b.finish();
        assert_eq!(body.data, b"ab");
        assert_eq!(body.raw_len, 14);
        assert!(body.truncated);
    }

    /// Made by the zstd 1.5.4 CLI (`zstd -19 users.json`).
    const USERS_ZST: &[u8] = include_bytes!("../tests/fixtures/body/users.json.zst");
    const USERS: &[u8] = include_bytes!("../tests/fixtures/body/users.json");

    #[test]
    fn zstd_body_decodes() {
        let mut b = BodyBuilder::new(1 << 20, Some("zstd"));
        // Arriving in pieces, as a body does.
        for piece in USERS_ZST.chunks(100) {
            b.push(piece);
        }
        let body = b.finish();
        assert_eq!(body.decode_error, None);
        assert_eq!(body.data, USERS);
        assert_eq!(body.raw_len, USERS_ZST.len() as u64);
        assert_eq!(body.content_encoding.as_deref(), Some("zstd"));
        assert!(!body.truncated);
    }

    #[test]
    fn zstd_body_is_capped_and_frames_concatenate() {
        // The cap holds the 411 compressed bytes but not the 5708 decoded ones.
        let mut b = BodyBuilder::new(1000, Some("zstd"));
        b.push(USERS_ZST);
        let body = b.finish();
        assert_eq!(body.decode_error, None);
        assert_eq!(body.data, &USERS[..1000]);
        assert!(body.truncated);

        // `zstd -c a >> f; zstd -c b >> f`: two frames, one body.
        let mut b = BodyBuilder::new(1000, Some("zstd"));
        b.push(include_bytes!("../tests/fixtures/body/two_frames.zst"));
        let body = b.finish();
        assert_eq!(body.decode_error, None);
        assert_eq!(body.data, b"first frame, second frame\n");
    }

    #[test]
    fn corrupt_or_cut_zstd_keeps_what_it_can() {
        let mut b = BodyBuilder::new(1 << 20, Some("zstd"));
        b.push(b"\x28\xb5\x2f\xfdnot really zstd");
        let body = b.finish();
        assert!(body.decode_error.is_some(), "{body:?}");
        assert_eq!(body.data, b"\x28\xb5\x2f\xfdnot really zstd");

        // Cut short in a capture: what came out before the cut is kept.
        let mut b = BodyBuilder::new(1 << 20, Some("zstd"));
        b.push(&USERS_ZST[..USERS_ZST.len() - 40]);
        b.mark_truncated();
        let body = b.finish();
        assert!(body.truncated);
        match body.decode_error {
            // The only block was cut: nothing decoded, the raw bytes stay.
            Some(_) => assert_eq!(body.data, &USERS_ZST[..USERS_ZST.len() - 40]),
            None => assert!(USERS.starts_with(&body.data), "{body:?}"),
        }
    }

    #[test]
    fn corrupt_gzip_keeps_raw_bytes() {
        let mut b = BodyBuilder::new(100, Some("gzip"));
        b.push(b"\x1f\x8bnot really gzip");
        let body = b.finish();
        assert_eq!(body.data, b"\x1f\x8bnot really gzip");
        assert!(body.decode_error.is_some());
        assert_eq!(body.content_encoding, None);
    }
}
