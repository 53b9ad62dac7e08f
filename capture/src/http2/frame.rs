//! HTTP/2 frame layout (RFC 9113 §4, §6): the 9-byte header, types, flags, error codes.

pub const HEADER_LEN: usize = 9;
/// The client connection preface.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// SETTINGS_MAX_FRAME_SIZE's initial value.
pub const DEFAULT_MAX_FRAME: u32 = 16_384;
/// The largest frame the 24-bit length field can describe (SETTINGS_MAX_FRAME_SIZE's maximum).
pub const MAX_FRAME: u32 = (1 << 24) - 1;

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const PRIORITY: u8 = 0x2;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PUSH_PROMISE: u8 = 0x5;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;

pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;
pub const PADDED: u8 = 0x8;
pub const PRIORITY_FLAG: u8 = 0x20;

pub const SETTINGS_HEADER_TABLE_SIZE: u16 = 0x1;
pub const SETTINGS_MAX_FRAME_SIZE: u16 = 0x5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    pub len: u32,
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
}

impl FrameHeader {
    pub fn parse(b: &[u8; HEADER_LEN]) -> Self {
        FrameHeader {
            len: u32::from_be_bytes([0, b[0], b[1], b[2]]),
            kind: b[3],
            flags: b[4],
            stream: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff,
        }
    }

    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// Could this be a frame header? Used to find a frame boundary when attaching mid-stream:
    /// known type, sane length, stream 0 exactly for connection frames, the reserved bit clear,
    /// fixed-size frames of their size, and only flags the type defines.
    pub fn plausible(b: &[u8; HEADER_LEN], max_len: u32) -> bool {
        let h = FrameHeader::parse(b);
        if b[5] & 0x80 != 0 || h.len > max_len {
            return false;
        }
        let (conn_frame, flags, fixed) = match h.kind {
            DATA => (false, END_STREAM | PADDED, None),
            HEADERS => (
                false,
                END_STREAM | END_HEADERS | PADDED | PRIORITY_FLAG,
                None,
            ),
            PRIORITY => (false, 0, Some(5)),
            RST_STREAM => (false, 0, Some(4)),
            SETTINGS => (true, ACK, None),
            PUSH_PROMISE => (false, END_HEADERS | PADDED, None),
            PING => (true, ACK, Some(8)),
            GOAWAY => (true, 0, None),
            WINDOW_UPDATE => return h.len == 4,
            CONTINUATION => (false, END_HEADERS, None),
            _ => return false,
        };
        (h.stream == 0) == conn_frame
            && h.flags & !flags == 0
            && fixed.is_none_or(|n| h.len == n)
            && (h.kind != SETTINGS || h.len.is_multiple_of(6))
    }
}

pub fn type_name(kind: u8) -> &'static str {
    match kind {
        DATA => "DATA",
        HEADERS => "HEADERS",
        PRIORITY => "PRIORITY",
        RST_STREAM => "RST_STREAM",
        SETTINGS => "SETTINGS",
        PUSH_PROMISE => "PUSH_PROMISE",
        PING => "PING",
        GOAWAY => "GOAWAY",
        WINDOW_UPDATE => "WINDOW_UPDATE",
        CONTINUATION => "CONTINUATION",
        _ => "unknown",
    }
}

/// RFC 9113 §7 error code names.
pub fn error_code_name(code: u32) -> String {
    let name = match code {
        0x0 => "NO_ERROR",
        0x1 => "PROTOCOL_ERROR",
        0x2 => "INTERNAL_ERROR",
        0x3 => "FLOW_CONTROL_ERROR",
        0x4 => "SETTINGS_TIMEOUT",
        0x5 => "STREAM_CLOSED",
        0x6 => "FRAME_SIZE_ERROR",
        0x7 => "REFUSED_STREAM",
        0x8 => "CANCEL",
        0x9 => "COMPRESSION_ERROR",
        0xa => "CONNECT_ERROR",
        0xb => "ENHANCE_YOUR_CALM",
        0xc => "INADEQUATE_SECURITY",
        0xd => "HTTP_1_1_REQUIRED",
        _ => return format!("0x{code:x}"),
    };
    name.to_string()
}

/// Strips the PADDED and PRIORITY prefixes of a HEADERS or PUSH_PROMISE payload. `extra` is the
/// fixed prefix after the pad length (5 for HEADERS with PRIORITY, 4 for PUSH_PROMISE's
/// promised id). None when the padding does not fit.
pub fn unpad(payload: &[u8], padded: bool, extra: usize) -> Option<(&[u8], &[u8])> {
    let (pad, rest) = if padded {
        match payload.split_first() {
            Some((&p, rest)) => (usize::from(p), rest),
            None => return None,
        }
    } else {
        (0, payload)
    };
    if rest.len() < extra + pad {
        return None;
    }
    let (prefix, rest) = rest.split_at(extra);
    Some((prefix, &rest[..rest.len() - pad]))
}

/// The (id, value) pairs of a SETTINGS payload (length already checked as a multiple of 6).
pub fn settings(payload: &[u8]) -> impl Iterator<Item = (u16, u32)> + '_ {
    payload.chunks_exact(6).map(|c| {
        (
            u16::from_be_bytes([c[0], c[1]]),
            u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
        )
    })
}

pub fn be_u32(b: &[u8]) -> u32 {
    match b {
        [a, b, c, d, ..] => u32::from_be_bytes([*a, *b, *c, *d]),
        _ => 0,
    }
}
