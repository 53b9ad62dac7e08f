//! A body rendered by its kind: pretty JSON (highlighted later), text, gRPC messages decoded
//! without a schema, or a hex dump; and the banner that says what it is and what was cut.
use capture::exchange::Body;
use capture::{grpc, protobuf};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use crate::ui::format::{self, clean};
use crate::ui::highlight;
use crate::ui::theme::Theme;

/// Display caps: a body is already capped by capture, but a pane never needs more than this.
const MAX_TEXT_LINES: usize = 50_000;
const MAX_HEX_LINES: usize = 8_192;

/// How a body is shown. [`body_kind`] picks one from the content type and the bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyKind {
    Empty,
    /// Valid JSON, already pretty-printed.
    Json(String),
    Text,
    /// `application/grpc*`: length-prefixed messages.
    Grpc,
    Binary,
}

/// Chooses the renderer for a body. gRPC messages are shown by [`grpc_lines`].
pub fn body_kind(content_type: Option<&str>, data: &[u8]) -> BodyKind {
    if data.is_empty() {
        return BodyKind::Empty;
    }
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    if ct.starts_with("application/grpc") {
        return BodyKind::Grpc;
    }
    let looks_json = ct.contains("json")
        || matches!(
            data.iter().find(|b| !b.is_ascii_whitespace()),
            Some(b'{' | b'[')
        );
    if looks_json {
        if let Some(pretty) = highlight::pretty_json(data) {
            return BodyKind::Json(pretty);
        }
    }
    if is_text(data) {
        BodyKind::Text
    } else {
        BodyKind::Binary
    }
}

/// UTF-8 (a sequence cut by truncation at the very end is fine) without NULs or many controls.
fn is_text(data: &[u8]) -> bool {
    let valid = match std::str::from_utf8(data) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    };
    if !valid || data.contains(&0) {
        return false;
    }
    let controls = data
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t'))
        .count();
    controls * 20 < data.len()
}

pub(super) fn body_banner(
    b: &Body,
    kind: &BodyKind,
    theme: &Theme,
    max_body: Option<u64>,
) -> Line<'static> {
    let p = &theme.palette;
    if b.evicted {
        // The bytes were held and dropped later: an empty body here is not "no body".
        return Line::from(vec![
            Span::styled("── ", Style::default().fg(p.dim)),
            Span::styled(
                format!(
                    "body evicted (memory budget): {} on the wire ",
                    format::size(b.raw_len)
                ),
                Style::default().fg(p.warning).add_modifier(Modifier::BOLD),
            ),
            Span::styled("──", Style::default().fg(p.dim)),
        ]);
    }
    let what = match kind {
        BodyKind::Empty => "no body",
        BodyKind::Json(_) => "JSON",
        BodyKind::Text => "text",
        BodyKind::Grpc => "gRPC",
        BodyKind::Binary => "binary",
    };
    let mut spans = vec![Span::styled(
        format!("── body: {what}, {} ", format::size(b.data.len() as u64)),
        Style::default().fg(p.dim),
    )];
    if let Some(enc) = &b.content_encoding {
        spans.push(Span::styled(
            format!("({} decoded from {}) ", clean(enc), format::size(b.raw_len)),
            Style::default().fg(p.dim),
        ));
    }
    if b.truncated {
        let cap = max_body
            .map(|c| format!(" (cap {})", format::size(c)))
            .unwrap_or_default();
        spans.push(Span::styled(
            format!(
                "TRUNCATED: {} of {} kept{cap} ",
                format::size(b.data.len() as u64),
                format::size(b.raw_len)
            ),
            Style::default().fg(p.warning).add_modifier(Modifier::BOLD),
        ));
    }
    if let Some(e) = &b.decode_error {
        spans.push(Span::styled(
            format!("decode error: {} ", clean(e)),
            Style::default().fg(p.error),
        ));
    }
    spans.push(Span::styled("──", Style::default().fg(p.dim)));
    Line::from(spans)
}

pub(super) fn text_lines(lines: &mut Vec<Line<'static>>, data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let total = text.lines().count();
    for l in text.lines().take(MAX_TEXT_LINES) {
        lines.push(Line::raw(clean(&l.replace('\t', "    ")).into_owned()));
    }
    if total > MAX_TEXT_LINES {
        lines.push(Line::raw(format!(
            "… {} more lines: too long to show here (b saves the body to a file)",
            total - MAX_TEXT_LINES
        )));
    }
}

/// `00000000  48 65 6c 6c 6f 20 77 6f  72 6c 64 0a 00 01 02 03  |Hello world.....|`
pub fn hex_lines(data: &[u8], theme: &Theme) -> Vec<Line<'static>> {
    let dim = Style::default().fg(theme.palette.dim);
    let mut out = Vec::new();
    for (i, chunk) in data.chunks(16).enumerate().take(MAX_HEX_LINES) {
        let mut hex = String::with_capacity(50);
        for (j, b) in chunk.iter().enumerate() {
            if j == 8 {
                hex.push(' ');
            }
            hex.push_str(&format!("{b:02x} "));
        }
        let ascii: String = chunk
            .iter()
            .map(|&b| {
                if (0x20..0x7f).contains(&b) {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        out.push(Line::from(vec![
            Span::styled(format!("{:08x}  ", i * 16), dim),
            Span::raw(format!("{hex:<49} ")),
            Span::styled(format!("|{ascii}|"), dim),
        ]));
    }
    let shown = MAX_HEX_LINES * 16;
    if data.len() > shown {
        out.push(Line::styled(
            format!(
                "… {} more bytes: too long to show here (b saves the body to a file)",
                data.len() - shown
            ),
            dim,
        ));
    }
    out
}

/// gRPC bodies: each length-prefixed message (decompressed per `grpc-encoding`), decoded as
/// `protoc --decode_raw` shows it; a message that is not protobuf is hex-dumped instead.
pub fn grpc_lines(data: &[u8], encoding: Option<&str>, theme: &Theme) -> Vec<Line<'static>> {
    let p = &theme.palette;
    let dim = Style::default().fg(p.dim);
    let msgs = grpc::split_messages(data, encoding, data.len().max(1 << 20));
    let mut out = Vec::new();
    for (n, m) in msgs.messages.iter().enumerate() {
        out.push(Line::styled(
            format!(
                "message {n}: {} bytes{}{}",
                m.wire_len,
                if m.compressed { ", compressed" } else { "" },
                if m.truncated { " (cut)" } else { "" }
            ),
            Style::default().fg(p.accent),
        ));
        let tree = m.error.is_none().then(|| m.decode().ok()).flatten();
        match tree {
            Some(fields) => {
                for line in protobuf::render(&fields) {
                    out.push(Line::raw(format!("  {}", clean(&line))));
                }
            }
            None => {
                if let Some(e) = &m.error {
                    out.push(Line::styled(format!("  {}", clean(e)), dim));
                } else if !m.data.is_empty() {
                    out.push(Line::styled("  not protobuf:", dim));
                }
                out.extend(hex_lines(&m.data, theme));
            }
        }
    }
    let tail = &data[data.len() - msgs.trailing..];
    if !tail.is_empty() {
        out.push(Line::styled(format!("{} trailing bytes", tail.len()), dim));
        out.extend(hex_lines(tail, theme));
    }
    out
}
