//! SETTINGS: the values that change how a side's frames are read (HPACK table size, maximum
//! frame size) bind only once the other side ACKs them; until then either value is accepted.
use super::frame::{self, FrameHeader};
use super::{malformed, Http2Conn};

/// SETTINGS values one side advertised, waiting for the other side's ACK.
#[derive(Clone, Copy, Default)]
pub(super) struct Pending {
    table_size: Option<u32>,
    max_frame: Option<u32>,
}

impl Http2Conn {
    pub(super) fn settings(&mut self, i: usize, h: FrameHeader, payload: &[u8]) {
        let other = 1 - i;
        if h.has(frame::ACK) {
            // This side acknowledged the other's oldest SETTINGS: now they bind this side.
            if let Some(p) = self.sides[i].pending.pop_front() {
                if let Some(v) = p.table_size {
                    self.sides[i].hpack.set_allowed_size(v as usize);
                }
                if let Some(v) = p.max_frame {
                    self.sides[i].max_frame = v;
                }
            }
            return;
        }
        let mut p = Pending::default();
        for (id, value) in frame::settings(payload) {
            match id {
                frame::SETTINGS_HEADER_TABLE_SIZE => p.table_size = Some(value),
                frame::SETTINGS_MAX_FRAME_SIZE if valid_max_frame(value) => {
                    p.max_frame = Some(value)
                }
                frame::SETTINGS_MAX_FRAME_SIZE => {
                    let detail = format!("SETTINGS_MAX_FRAME_SIZE {value} out of range");
                    return self.fail(malformed(h.kind, 0, &detail));
                }
                _ => {}
            }
        }
        // Until the ACK, the other side may use either the old or the new value.
        let peer = &mut self.sides[other];
        if let Some(v) = p.table_size {
            let allowed = peer.hpack.allowed_size().max(v as usize);
            peer.hpack.set_allowed_size(allowed);
        }
        if let Some(v) = p.max_frame {
            peer.max_frame = peer.max_frame.max(v);
        }
        if peer.pending.len() < 64 {
            peer.pending.push_back(p);
        }
    }
}

pub(super) fn valid_max_frame(v: u32) -> bool {
    (frame::DEFAULT_MAX_FRAME..=frame::MAX_FRAME).contains(&v)
}
