//! HPACK header block decoding (RFC 7541), tolerant of a table it never fully saw.
//!
//! Our own decoder: crate decoders (`loona-hpack`; `h2` keeps its own private) stop at an index
//! into entries they never saw, which is exactly the state after attaching to a connection mid-way
//! or after a capture gap. Here such a reference decodes to a visible placeholder name and the
//! block (and so the stream) still decodes. While the table is known to be complete, the decoder
//! is strict, so real corruption is still reported.
use std::collections::VecDeque;

use super::huffman;

/// RFC 7541 Appendix A.
#[rustfmt::skip]
pub const STATIC_TABLE: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// Per-entry overhead counted in the table size (RFC 7541 §4.1).
const ENTRY_OVERHEAD: usize = 32;
/// The default SETTINGS_HEADER_TABLE_SIZE.
pub const DEFAULT_TABLE_SIZE: usize = 4096;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HpackError {
    #[error("header block ends inside a field")]
    Truncated,
    #[error("integer too large")]
    IntegerOverflow,
    #[error("header index 0")]
    ZeroIndex,
    #[error("header index {0} is not in the table")]
    UnknownIndex(usize),
    #[error("invalid Huffman string: {0}")]
    Huffman(#[from] huffman::HuffmanError),
    #[error("table size update to {requested} bytes exceeds the {max} bytes allowed by SETTINGS")]
    TableSizeTooLarge { requested: usize, max: usize },
    #[error("table size update after the first header field")]
    LateTableSizeUpdate,
    #[error("decoded header list larger than {0} bytes")]
    ListTooLarge(usize),
}

#[derive(Clone, Debug)]
struct Entry {
    name: String,
    value: String,
    /// Size as counted by the encoder (octets + 32); an underestimate for placeholders.
    size: usize,
}

/// One direction's HPACK decoder.
#[derive(Clone, Debug)]
pub struct Decoder {
    /// Newest first: dynamic index 62 is `table[0]`.
    table: VecDeque<Entry>,
    size: usize,
    /// Current maximum, as set by the encoder's table size updates.
    max_size: usize,
    /// Upper bound for updates: the decoding side's SETTINGS_HEADER_TABLE_SIZE.
    allowed: usize,
    /// Unknown dynamic indices decode to placeholders instead of failing.
    tolerant: bool,
    /// Placeholders produced so far.
    unknown_refs: u64,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder for a connection seen from its start.
    pub fn new() -> Self {
        Decoder {
            table: VecDeque::new(),
            size: 0,
            max_size: DEFAULT_TABLE_SIZE,
            allowed: DEFAULT_TABLE_SIZE,
            tolerant: false,
            unknown_refs: 0,
        }
    }

    /// A decoder whose earlier entries were never seen (attached mid-connection): unknown indices
    /// become placeholders, and updates up to `allowed` bytes are accepted.
    pub fn tolerant(allowed: usize) -> Self {
        Decoder {
            max_size: allowed,
            allowed,
            tolerant: true,
            ..Self::new()
        }
    }

    /// Header blocks were lost: entries may be missing or shifted, so forget them all and
    /// degrade to placeholders from here on.
    pub fn forget(&mut self) {
        self.table.clear();
        self.size = 0;
        self.tolerant = true;
    }

    /// The largest table size the encoder may switch to (the peer's SETTINGS value).
    pub fn set_allowed_size(&mut self, allowed: usize) {
        self.allowed = allowed;
    }

    pub fn allowed_size(&self) -> usize {
        self.allowed
    }

    pub fn is_tolerant(&self) -> bool {
        self.tolerant
    }

    /// How many header fields decoded to a placeholder.
    pub fn unknown_refs(&self) -> u64 {
        self.unknown_refs
    }

    /// Entries in the dynamic table.
    pub fn table_len(&self) -> usize {
        self.table.len()
    }

    /// Decodes one complete header block. `max_list` bounds the decoded size (names, values and
    /// 32 bytes per field), since a small block can reference large entries many times.
    pub fn decode(
        &mut self,
        block: &[u8],
        max_list: usize,
    ) -> Result<Vec<(String, String)>, HpackError> {
        let mut out = Vec::new();
        let mut list_size = 0usize;
        let mut r = Reader { buf: block, pos: 0 };
        while let Some(&b) = r.peek() {
            let field = if b & 0x80 != 0 {
                let index = r.integer(7)?;
                self.indexed(index)?
            } else if b & 0x40 != 0 {
                let field = self.literal(&mut r, 6)?;
                self.insert(field.0.clone(), field.1.clone(), field.2);
                (field.0, field.1)
            } else if b & 0x20 != 0 {
                if !out.is_empty() {
                    return Err(HpackError::LateTableSizeUpdate);
                }
                let requested = r.integer(5)?;
                if requested > self.allowed {
                    return Err(HpackError::TableSizeTooLarge {
                        requested,
                        max: self.allowed,
                    });
                }
                self.max_size = requested;
                self.evict(0);
                continue;
            } else {
                // Without indexing (0000) and never indexed (0001): the same to a decoder.
                let (name, value, _) = self.literal(&mut r, 4)?;
                (name, value)
            };
            list_size += field.0.len() + field.1.len() + ENTRY_OVERHEAD;
            if list_size > max_list {
                return Err(HpackError::ListTooLarge(max_list));
            }
            out.push(field);
        }
        Ok(out)
    }

    fn indexed(&mut self, index: usize) -> Result<(String, String), HpackError> {
        match self.lookup(index)? {
            Some(e) => Ok(e),
            None => Ok((self.placeholder(index), String::new())),
        }
    }

    /// A literal field with a `prefix`-bit name index; returns name, value and the entry size.
    fn literal(
        &mut self,
        r: &mut Reader,
        prefix: u8,
    ) -> Result<(String, String, usize), HpackError> {
        let index = r.integer(prefix)?;
        let (name, name_len) = if index == 0 {
            let raw = r.string()?;
            let len = raw.len();
            (to_string(raw), Some(len))
        } else {
            match self.lookup(index)? {
                Some((name, _)) => {
                    let len = name.len();
                    (name, Some(len))
                }
                // Count the unknown name as empty so the table is never thought fuller than
                // the encoder's (entries we keep too long are never referenced).
                None => (self.placeholder(index), None),
            }
        };
        let raw = r.string()?;
        let size = name_len.unwrap_or(0) + raw.len() + ENTRY_OVERHEAD;
        Ok((name, to_string(raw), size))
    }

    /// Ok(None): a dynamic index past the entries we know, in tolerant mode.
    fn lookup(&self, index: usize) -> Result<Option<(String, String)>, HpackError> {
        if index == 0 {
            return Err(HpackError::ZeroIndex);
        }
        if let Some((n, v)) = STATIC_TABLE.get(index - 1) {
            return Ok(Some((n.to_string(), v.to_string())));
        }
        match self.table.get(index - STATIC_TABLE.len() - 1) {
            Some(e) => Ok(Some((e.name.clone(), e.value.clone()))),
            None if self.tolerant => Ok(None),
            None => Err(HpackError::UnknownIndex(index)),
        }
    }

    fn placeholder(&mut self, index: usize) -> String {
        self.unknown_refs += 1;
        format!("<unknown hpack index {index}>")
    }

    fn insert(&mut self, name: String, value: String, size: usize) {
        if size > self.max_size {
            // An entry larger than the table empties it (RFC 7541 §4.4).
            self.table.clear();
            self.size = 0;
            return;
        }
        self.evict(size);
        self.size += size;
        self.table.push_front(Entry { name, value, size });
    }

    /// Evicts oldest entries until `room` more bytes fit.
    fn evict(&mut self, room: usize) {
        while self.size + room > self.max_size {
            match self.table.pop_back() {
                Some(e) => self.size -= e.size,
                None => break,
            }
        }
    }
}

fn to_string(raw: Vec<u8>) -> String {
    String::from_utf8(raw).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<&u8> {
        self.buf.get(self.pos)
    }

    fn byte(&mut self) -> Result<u8, HpackError> {
        let b = *self.buf.get(self.pos).ok_or(HpackError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    /// An integer with an N-bit prefix (RFC 7541 §5.1); values past 2^28 are refused.
    fn integer(&mut self, prefix: u8) -> Result<usize, HpackError> {
        let max_prefix = (1usize << prefix) - 1;
        let mut value = usize::from(self.byte()?) & max_prefix;
        if value < max_prefix {
            return Ok(value);
        }
        let mut shift = 0;
        loop {
            let b = self.byte()?;
            if shift > 21 {
                return Err(HpackError::IntegerOverflow);
            }
            value += usize::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
    }

    /// A string literal (RFC 7541 §5.2), Huffman-decoded if flagged.
    fn string(&mut self) -> Result<Vec<u8>, HpackError> {
        let huffman = self.peek().ok_or(HpackError::Truncated)? & 0x80 != 0;
        let len = self.integer(7)?;
        let end = self.pos.checked_add(len).ok_or(HpackError::Truncated)?;
        let raw = self.buf.get(self.pos..end).ok_or(HpackError::Truncated)?;
        self.pos = end;
        if huffman {
            let mut out = Vec::new();
            huffman::decode(raw, &mut out)?;
            Ok(out)
        } else {
            Ok(raw.to_vec())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn rfc_c3_requests_without_huffman() {
        let mut d = Decoder::new();
        let first = d
            .decode(&hex("828684410f7777772e6578616d706c652e636f6d"), 1 << 20)
            .unwrap();
        assert_eq!(
            first,
            pairs(&[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com")
            ])
        );
        let second = d
            .decode(&hex("828684be58086e6f2d6361636865"), 1 << 20)
            .unwrap();
        assert_eq!(second[3], (":authority".into(), "www.example.com".into()));
        assert_eq!(second[4], ("cache-control".into(), "no-cache".into()));
        assert_eq!(d.table_len(), 2);
    }

    #[test]
    fn unknown_index_strict_vs_tolerant() {
        let block = [0x80 | 70];
        assert_eq!(
            Decoder::new().decode(&block, 1 << 20),
            Err(HpackError::UnknownIndex(70))
        );
        let mut d = Decoder::tolerant(4096);
        let got = d.decode(&block, 1 << 20).unwrap();
        assert_eq!(got, pairs(&[("<unknown hpack index 70>", "")]));
        assert_eq!(d.unknown_refs(), 1);
    }

    #[test]
    fn table_size_rules() {
        let mut d = Decoder::new();
        // 0x3f e1 1f = update to 4096: fine; 4097 is over the default setting.
        assert!(d.decode(&[0x3f, 0xe1, 0x1f], 1 << 20).is_ok());
        assert!(matches!(
            d.decode(&[0x3f, 0xe2, 0x1f], 1 << 20),
            Err(HpackError::TableSizeTooLarge {
                requested: 4097,
                ..
            })
        ));
        assert_eq!(
            d.decode(&[0x82, 0x20], 1 << 20),
            Err(HpackError::LateTableSizeUpdate)
        );
    }

    #[test]
    fn malformed_blocks_are_errors() {
        let mut d = Decoder::new();
        assert_eq!(d.decode(&[0x80], 1 << 20), Err(HpackError::ZeroIndex));
        assert_eq!(
            d.decode(&[0x40, 0x05, b'a'], 1 << 20),
            Err(HpackError::Truncated)
        );
        assert_eq!(
            d.decode(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], 1 << 20),
            Err(HpackError::IntegerOverflow)
        );
        assert_eq!(
            d.decode(&[0x82; 100], 64),
            Err(HpackError::ListTooLarge(64))
        );
    }
}
