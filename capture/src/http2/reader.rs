//! Running one direction's bytes through its frame state machine: buffering what a phase needs
//! across calls, the client preface, frame headers and buffered payloads, skipped payloads, and
//! looking for a plausible frame header after lost bytes or when attached mid-connection.
use crate::exchange::{Role, UnixNanos};
use crate::input::{Input, Step};

use super::frame::{self, FrameHeader};
use super::{is_preface, Http2Conn, Http2Error, Phase, Preface};

/// Largest frame accepted as a boundary guess when looking for frames mid-connection.
const RESYNC_MAX_FRAME: u32 = 1 << 20;

impl Http2Conn {
    /// Runs one call's bytes through direction `i`, buffering only an unfinished frame header
    /// or buffered payload (at most what the phase needs).
    pub(super) fn run(&mut self, i: usize, ts: UnixNanos, mut input: &[u8]) {
        loop {
            if self.sides[i].buf.is_empty() {
                let inp = Input {
                    data: input,
                    old_len: 0,
                    old_ts: ts,
                    ts,
                };
                let n = self.process(i, &inp);
                let side = &mut self.sides[i];
                if side.phase != Phase::Closed {
                    side.buf.extend_from_slice(&input[n..]);
                    side.buf_ts = ts;
                }
                return;
            }
            if input.is_empty() {
                return;
            }
            let mut buf = std::mem::take(&mut self.sides[i].buf);
            let need = self.sides[i].phase.need();
            let take = need.saturating_sub(buf.len()).min(input.len());
            buf.extend_from_slice(&input[..take]);
            input = &input[take..];
            if buf.len() < need {
                self.sides[i].buf = buf;
                return;
            }
            let old_len = buf.len() - take;
            let inp = Input {
                data: &buf,
                old_len,
                old_ts: self.sides[i].buf_ts,
                ts,
            };
            let n = self.process(i, &inp);
            if self.sides[i].phase == Phase::Closed {
                return;
            }
            if n == 0 && take == 0 {
                // A phase that does not progress on the bytes it asked for; never spin.
                self.fail(Http2Error::Malformed {
                    frame: "unknown",
                    stream: 0,
                    detail: "decoder made no progress".into(),
                });
                return;
            }
            buf.drain(..n);
            let side = &mut self.sides[i];
            if n >= old_len {
                side.buf_ts = ts;
            }
            side.buf = buf;
        }
    }

    /// Processes as much of `inp` as possible; returns the bytes consumed.
    fn process(&mut self, i: usize, inp: &Input) -> usize {
        let mut pos = 0;
        while pos < inp.data.len() {
            match self.step(i, inp, pos) {
                Step::Advance(n) => pos += n,
                Step::NeedMore => return pos,
            }
        }
        pos
    }

    fn step(&mut self, i: usize, inp: &Input, pos: usize) -> Step {
        let rest = &inp.data[pos..];
        match self.sides[i].phase {
            Phase::Closed => Step::Advance(rest.len()),
            Phase::Start { resync } => match is_preface(rest) {
                Preface::NeedMore => Step::NeedMore,
                Preface::Yes => {
                    // The side that sends the preface is the client.
                    self.role = Some(if i == 0 { Role::Client } else { Role::Server });
                    self.sides[i].phase = Phase::Header;
                    Step::Advance(frame::PREFACE.len())
                }
                Preface::No => {
                    self.sides[i].phase = if resync { Phase::Resync } else { Phase::Header };
                    Step::Advance(0)
                }
            },
            Phase::Resync => self.step_resync(i, rest),
            Phase::Header => {
                let Some(head) = rest.first_chunk::<{ frame::HEADER_LEN }>() else {
                    return Step::NeedMore;
                };
                self.sides[i].frame_ts = inp.ts_at(pos);
                self.stats.frames += 1;
                self.frame_header(i, FrameHeader::parse(head), inp.ts);
                Step::Advance(frame::HEADER_LEN)
            }
            Phase::Payload(h) => {
                let len = h.len as usize;
                if rest.len() < len {
                    return Step::NeedMore;
                }
                self.sides[i].phase = Phase::Header;
                self.frame_payload(i, h, &rest[..len], inp.ts);
                Step::Advance(len)
            }
            Phase::Skip(n) => {
                let k = rest.len().min(n as usize);
                let left = n - k as u32;
                self.sides[i].phase = if left == 0 {
                    Phase::Header
                } else {
                    Phase::Skip(left)
                };
                Step::Advance(k)
            }
            Phase::Data { .. } => self.step_data(i, rest, inp.ts),
        }
    }

    fn step_resync(&mut self, i: usize, rest: &[u8]) -> Step {
        let Some(head) = rest.first_chunk::<{ frame::HEADER_LEN }>() else {
            return Step::NeedMore;
        };
        let max = RESYNC_MAX_FRAME.min(self.sides[i].max_frame);
        if FrameHeader::plausible(head, max) {
            // When the next header is in view too, it must be plausible as well.
            let end = frame::HEADER_LEN + FrameHeader::parse(head).len as usize;
            let next_ok = rest
                .get(end..)
                .and_then(|r| r.first_chunk::<{ frame::HEADER_LEN }>())
                .is_none_or(|next| FrameHeader::plausible(next, max));
            if next_ok {
                self.sides[i].phase = Phase::Header;
                return Step::Advance(0);
            }
        }
        Step::Advance(1)
    }
}
