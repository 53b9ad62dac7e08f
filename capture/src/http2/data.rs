//! DATA frames: payload bytes stream straight into the stream's body as they arrive (a large
//! body is never buffered whole), padding is skipped, and END_STREAM ends the stream.
use crate::exchange::UnixNanos;
use crate::input::Step;

use super::{frame, malformed, request_side, Http2Conn, Phase};

impl Http2Conn {
    pub(super) fn step_data(&mut self, i: usize, rest: &[u8], ts: UnixNanos) -> Step {
        let Phase::Data {
            stream,
            left,
            pad,
            pad_len_next,
            end_stream,
        } = self.sides[i].phase
        else {
            return Step::Advance(0);
        };
        let Some(&first) = rest.first() else {
            return Step::NeedMore;
        };
        let (n, left, pad) = if pad_len_next {
            let pad = u32::from(first);
            let Some(data) = left.checked_sub(1).and_then(|l| l.checked_sub(pad)) else {
                self.fail(malformed(
                    frame::DATA,
                    stream,
                    "padding longer than the payload",
                ));
                return Step::Advance(rest.len());
            };
            (1, data, pad)
        } else if left > 0 {
            let n = rest.len().min(left as usize);
            let to_request = self.role.map(request_side) == Some(i);
            if let Some(s) = self.streams.get_mut(&stream) {
                s.data(to_request, &rest[..n]);
            }
            (n, left - n as u32, pad)
        } else {
            let n = rest.len().min(pad as usize);
            (n, 0, pad - n as u32)
        };
        self.sides[i].phase = Phase::Data {
            stream,
            left,
            pad,
            pad_len_next: false,
            end_stream,
        };
        self.data_frame_done(i, ts);
        Step::Advance(n)
    }

    /// If the DATA frame in progress is fully consumed, ends it (and maybe its stream).
    pub(super) fn data_frame_done(&mut self, i: usize, ts: UnixNanos) {
        if let Phase::Data {
            stream,
            left: 0,
            pad: 0,
            pad_len_next: false,
            end_stream,
        } = self.sides[i].phase
        {
            self.sides[i].phase = Phase::Header;
            if end_stream {
                self.end_stream(i, stream, ts);
            }
        }
    }
}
