//! What the streaming decoders (HTTP/1.1, HTTP/2) share: the bytes in hand and how far a step got.
use crate::exchange::UnixNanos;

/// Bytes being processed: earlier buffered bytes (`..old_len`, from `old_ts`) then this call's.
pub(crate) struct Input<'a> {
    pub data: &'a [u8],
    pub old_len: usize,
    pub old_ts: UnixNanos,
    pub ts: UnixNanos,
}

impl Input<'_> {
    /// When the byte at `pos` arrived.
    pub fn ts_at(&self, pos: usize) -> UnixNanos {
        if pos < self.old_len {
            self.old_ts
        } else {
            self.ts
        }
    }
}

pub(crate) enum Step {
    /// Consumed this many bytes (0 when only the phase changed).
    Advance(usize),
    /// Cannot go on without more bytes.
    NeedMore,
}
