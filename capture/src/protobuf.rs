//! Protocol Buffers wire format without a schema, as `protoc --decode_raw` shows it: field
//! numbers, wire types and values, with length-delimited fields guessed as a nested message, a
//! string or bytes.
use serde::Serialize;

/// Nesting followed before length-delimited fields are left as bytes (bounds work and stack).
pub const MAX_DEPTH: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WireType {
    Varint,
    Fixed64,
    Len,
    Group,
    Fixed32,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    /// A length-delimited field that parses as a message.
    Message(Vec<Field>),
    /// A length-delimited field that is UTF-8 text.
    String(String),
    /// Any other length-delimited field (base64 in JSON).
    Bytes(#[serde(serialize_with = "base64_bytes")] Vec<u8>),
    Group(Vec<Field>),
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Field {
    pub number: u64,
    pub wire_type: WireType,
    #[serde(flatten)]
    pub value: Value,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("truncated at byte {0}")]
    Truncated(usize),
    #[error("invalid wire type {wire_type} at byte {offset}")]
    WireType { wire_type: u8, offset: usize },
    #[error("invalid field number {number} at byte {offset}")]
    FieldNumber { number: u64, offset: usize },
    #[error("end of group {0} without its start")]
    UnmatchedEndGroup(u64),
    #[error("nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

fn base64_bytes<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    use base64::Engine;
    s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Decodes a whole message.
pub fn decode_raw(bytes: &[u8]) -> Result<Vec<Field>, DecodeError> {
    let mut r = Reader { buf: bytes, pos: 0 };
    let fields = r.fields(0, None)?;
    Ok(fields)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn varint(&mut self) -> Result<u64, DecodeError> {
        let start = self.pos;
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or(DecodeError::Truncated(start))?;
            self.pos += 1;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::Truncated(start))
    }

    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        let start = self.pos;
        let end = start.checked_add(n).ok_or(DecodeError::Truncated(start))?;
        let s = self
            .buf
            .get(start..end)
            .ok_or(DecodeError::Truncated(start))?;
        self.pos = end;
        Ok(s)
    }

    /// Fields until the end of the buffer, or until the END_GROUP of `group`.
    fn fields(&mut self, depth: usize, group: Option<u64>) -> Result<Vec<Field>, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        let mut out = Vec::new();
        while self.pos < self.buf.len() {
            let offset = self.pos;
            let key = self.varint()?;
            let number = key >> 3;
            if number == 0 || number > (1 << 29) - 1 {
                return Err(DecodeError::FieldNumber { number, offset });
            }
            let (wire_type, value) = match key & 7 {
                0 => (WireType::Varint, Value::Varint(self.varint()?)),
                1 => {
                    let b = self.take(8)?;
                    let v = u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
                    (WireType::Fixed64, Value::Fixed64(v))
                }
                2 => {
                    let len = self.varint()?;
                    let len = usize::try_from(len).map_err(|_| DecodeError::Truncated(offset))?;
                    (WireType::Len, guess(self.take(len)?, depth))
                }
                3 => (
                    WireType::Group,
                    Value::Group(self.fields(depth + 1, Some(number))?),
                ),
                4 => {
                    return match group {
                        Some(g) if g == number => Ok(out),
                        _ => Err(DecodeError::UnmatchedEndGroup(number)),
                    };
                }
                5 => {
                    let b = self.take(4)?;
                    let v = u32::from_le_bytes(b.try_into().unwrap_or([0; 4]));
                    (WireType::Fixed32, Value::Fixed32(v))
                }
                t => {
                    return Err(DecodeError::WireType {
                        wire_type: t as u8,
                        offset,
                    })
                }
            };
            out.push(Field {
                number,
                wire_type,
                value,
            });
        }
        match group {
            Some(_) => Err(DecodeError::Truncated(self.pos)),
            None => Ok(out),
        }
    }
}

/// What a length-delimited payload most likely is. Like protoc, a payload that parses as a
/// message is shown as one — except readable text, which protoc would sometimes mangle into a
/// "message" (`"hi"` parses as field 13): text that starts with a printable character stays text.
fn guess(bytes: &[u8], depth: usize) -> Value {
    let readable = std::str::from_utf8(bytes).is_ok_and(|s| {
        !s.chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    }) && bytes.first().is_some_and(|&b| (0x20..0x7f).contains(&b));
    if !bytes.is_empty() && !readable && depth < MAX_DEPTH {
        let mut r = Reader { buf: bytes, pos: 0 };
        if let Ok(fields) = r.fields(depth + 1, None) {
            return Value::Message(fields);
        }
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => Value::String(s.to_string()),
        Err(_) => Value::Bytes(bytes.to_vec()),
    }
}

/// Indented text lines in `protoc --decode_raw` style.
pub fn render(fields: &[Field]) -> Vec<String> {
    let mut out = Vec::new();
    render_into(fields, 0, &mut out);
    out
}

fn render_into(fields: &[Field], depth: usize, out: &mut Vec<String>) {
    let pad = "  ".repeat(depth);
    for f in fields {
        let n = f.number;
        match &f.value {
            Value::Varint(v) => out.push(format!("{pad}{n}: {v}")),
            Value::Fixed64(v) => out.push(format!("{pad}{n}: 0x{v:016x}")),
            Value::Fixed32(v) => out.push(format!("{pad}{n}: 0x{v:08x}")),
            Value::String(s) => out.push(format!("{pad}{n}: \"{}\"", escape(s.as_bytes()))),
            Value::Bytes(b) => out.push(format!("{pad}{n}: \"{}\"", escape(b))),
            Value::Message(m) | Value::Group(m) => {
                out.push(format!("{pad}{n} {{"));
                render_into(m, depth + 1, out);
                out.push(format!("{pad}}}"));
            }
        }
    }
}

/// C-style escaping as protoc prints strings; UTF-8 text beyond ASCII is kept readable.
fn escape(bytes: &[u8]) -> String {
    let mut s = String::new();
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' => s.push_str("\\n"),
                '\r' => s.push_str("\\r"),
                '\t' => s.push_str("\\t"),
                '"' => s.push_str("\\\""),
                '\\' => s.push_str("\\\\"),
                c if c.is_control() => {
                    let mut buf = [0; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        s.push_str(&format!("\\{b:03o}"));
                    }
                }
                c => s.push(c),
            }
        }
        for b in chunk.invalid() {
            s.push_str(&format!("\\{b:03o}"));
        }
    }
    s
}

/// The tree as JSON: a list of `{number, wire_type, <kind>: value}` objects.
pub fn to_json(fields: &[Field]) -> serde_json::Value {
    serde_json::to_value(fields).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protobuf_docs_example() {
        // From the encoding guide: field 1 = 150.
        let f = decode_raw(&[0x08, 0x96, 0x01]).unwrap();
        assert_eq!(render(&f), ["1: 150"]);
    }

    #[test]
    fn text_stays_text_and_messages_nest() {
        // 2: "hi" (parses as a message too: field 13 varint), 3 { 1: 1 }
        let f = decode_raw(&[0x12, 0x02, b'h', b'i', 0x1a, 0x02, 0x08, 0x01]).unwrap();
        assert_eq!(render(&f), ["2: \"hi\"", "3 {", "  1: 1", "}"]);
    }

    #[test]
    fn groups_fixed_and_bytes() {
        let mut b = vec![0x0b, 0x10, 0x05, 0x0c]; // 1 { 2: 5 } as a group
        b.extend([0x19, 1, 0, 0, 0, 0, 0, 0, 0]); // 3: fixed64 1
        b.extend([0x25, 2, 0, 0, 0]); // 4: fixed32 2
        b.extend([0x2a, 0x02, 0xff, 0x00]); // 5: bytes
        let f = decode_raw(&b).unwrap();
        assert_eq!(
            render(&f),
            [
                "1 {",
                "  2: 5",
                "}",
                "3: 0x0000000000000001",
                "4: 0x00000002",
                "5: \"\\377\\000\""
            ]
        );
        assert_eq!(f[3].wire_type, WireType::Len);
        assert!(matches!(f[3].value, Value::Bytes(_)));
    }

    #[test]
    fn malformed_is_an_error() {
        assert!(decode_raw(&[0x08]).is_err());
        assert!(decode_raw(&[0x0f]).is_err()); // wire type 7
        assert!(decode_raw(&[0x00, 0x01]).is_err()); // field 0
        assert!(decode_raw(&[0x0c]).is_err()); // end group without start
        assert!(decode_raw(&[0x12, 0x05, 0x01]).is_err());
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let mut b: Vec<u8> = vec![0x08, 0x01];
        for _ in 0..200 {
            let mut outer = vec![0x0a];
            let mut len = b.len();
            while len >= 0x80 {
                outer.push((len as u8) | 0x80);
                len >>= 7;
            }
            outer.push(len as u8);
            outer.extend(b);
            b = outer;
        }
        // Decodes (the deepest levels stay bytes) without overflowing the stack.
        assert!(decode_raw(&b).is_ok());
    }
}
