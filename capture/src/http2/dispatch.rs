//! Acting on frames: a frame header is checked (CONTINUATION order, size, stream 0 rules, fixed
//! payload lengths) and decides how its payload is read; a whole buffered payload goes to what
//! handles its type.
use crate::exchange::UnixNanos;

use super::frame::{self, FrameHeader};
use super::{malformed, Block, BlockKind, Http2Conn, Http2Error, Phase, MAX_CONTROL_FRAME};

impl Http2Conn {
    /// A frame header arrived: validate what can be, and choose how to read the payload.
    pub(super) fn frame_header(&mut self, i: usize, h: FrameHeader, ts: UnixNanos) {
        let name = frame::type_name(h.kind);
        if let Some(block) = &self.sides[i].block {
            if h.kind != frame::CONTINUATION || h.stream != block.stream {
                let stream = block.stream;
                return self.fail(Http2Error::MissingContinuation { stream, got: name });
            }
        }
        let max = self.sides[i].max_frame;
        if h.len > max {
            return self.fail(Http2Error::FrameTooLarge {
                frame: name,
                len: h.len,
                max,
            });
        }
        let conn_frame = matches!(h.kind, frame::SETTINGS | frame::PING | frame::GOAWAY);
        let known = h.kind <= frame::CONTINUATION;
        if known && h.kind != frame::WINDOW_UPDATE && (h.stream == 0) != conn_frame {
            let detail = if conn_frame {
                "connection frame on a stream"
            } else {
                "stream frame on stream 0"
            };
            return self.fail(malformed(h.kind, h.stream, detail));
        }
        let fixed = match h.kind {
            frame::PRIORITY => Some(5),
            frame::RST_STREAM | frame::WINDOW_UPDATE => Some(4),
            frame::PING => Some(8),
            _ => None,
        };
        if fixed.is_some_and(|n| n != h.len)
            || (h.kind == frame::SETTINGS && !h.len.is_multiple_of(6))
            || (h.kind == frame::SETTINGS && h.has(frame::ACK) && h.len != 0)
            || (h.kind == frame::GOAWAY && h.len < 8)
        {
            return self.fail(malformed(h.kind, h.stream, "wrong payload length"));
        }
        self.sides[i].phase = match h.kind {
            frame::DATA => Phase::Data {
                stream: h.stream,
                left: h.len,
                pad: 0,
                pad_len_next: h.has(frame::PADDED),
                end_stream: h.has(frame::END_STREAM),
            },
            frame::HEADERS | frame::PUSH_PROMISE | frame::CONTINUATION => {
                let limit = self.limits.max_header_buffer;
                if h.len as usize > limit {
                    let stream = h.stream;
                    return self.fail(Http2Error::HeaderBlockTooLarge { stream, limit });
                }
                Phase::Payload(h)
            }
            frame::GOAWAY if h.len > MAX_CONTROL_FRAME => Phase::Skip(h.len),
            frame::SETTINGS if h.len > MAX_CONTROL_FRAME => {
                return self.fail(malformed(h.kind, h.stream, "too many settings"));
            }
            _ if !known => Phase::Skip(h.len),
            _ => Phase::Payload(h),
        };
        match self.sides[i].phase {
            Phase::Data { .. } => self.data_frame_done(i, ts),
            Phase::Skip(0) => self.sides[i].phase = Phase::Header,
            // Nothing more will arrive for an empty payload: handle it now, not on the next call.
            Phase::Payload(h) if h.len == 0 => {
                self.sides[i].phase = Phase::Header;
                self.frame_payload(i, h, &[], ts);
            }
            _ => {}
        }
    }

    /// A buffered frame's whole payload arrived.
    pub(super) fn frame_payload(
        &mut self,
        i: usize,
        h: FrameHeader,
        payload: &[u8],
        ts: UnixNanos,
    ) {
        match h.kind {
            frame::HEADERS | frame::PUSH_PROMISE => {
                let (extra, kind) = if h.kind == frame::HEADERS {
                    let prio = if h.has(frame::PRIORITY_FLAG) { 5 } else { 0 };
                    let end_stream = h.has(frame::END_STREAM);
                    (prio, BlockKind::Headers { end_stream })
                } else {
                    self.stats.pushes += 1;
                    (4, BlockKind::PushPromise)
                };
                let Some((_, fragment)) = frame::unpad(payload, h.has(frame::PADDED), extra) else {
                    return self.fail(malformed(
                        h.kind,
                        h.stream,
                        "padding longer than the payload",
                    ));
                };
                let block = Block {
                    stream: h.stream,
                    kind,
                    fragment: fragment.to_vec(),
                    start: self.sides[i].frame_ts,
                };
                self.sides[i].block = Some(block);
            }
            frame::CONTINUATION => {
                let limit = self.limits.max_header_buffer;
                let Some(block) = self.sides[i].block.as_mut() else {
                    return self.fail(malformed(h.kind, h.stream, "no header block to continue"));
                };
                if block.fragment.len() + payload.len() > limit {
                    let stream = h.stream;
                    return self.fail(Http2Error::HeaderBlockTooLarge { stream, limit });
                }
                block.fragment.extend_from_slice(payload);
            }
            frame::SETTINGS => return self.settings(i, h, payload),
            frame::RST_STREAM => self.reset(i, h.stream, frame::be_u32(payload), ts),
            frame::GOAWAY => self.goaway(i, frame::be_u32(payload) & 0x7fff_ffff),
            // PRIORITY, PING, WINDOW_UPDATE: nothing a viewer needs.
            _ => {}
        }
        if h.has(frame::END_HEADERS)
            && matches!(
                h.kind,
                frame::HEADERS | frame::PUSH_PROMISE | frame::CONTINUATION
            )
        {
            if let Some(block) = self.sides[i].block.take() {
                self.header_block(i, block, ts);
            }
        }
    }
}
