//! The detail pane: request and response tabs, headers, timing, and the body rendered by kind.
//! The lines are built once per (exchange, tab) in `App::handle`; drawing only slices them.
use capture::exchange::{header, Body, Exchange};
use capture::{grpc, protobuf};
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use crate::ui::app::{App, Tab};
use crate::ui::format::{self, clean};
use crate::ui::highlight;
use crate::ui::theme::Theme;

type Headers<'a> = &'a [(String, String)];

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

/// The built lines of one tab. `body_start` is where the body's lines begin, so a highlighted
/// version can replace them when it arrives.
pub struct Built {
    pub lines: Vec<Line<'static>>,
    pub body_start: usize,
    /// Pretty JSON still to be highlighted.
    pub json: Option<String>,
}

pub fn build(
    ex: &Exchange,
    tab: Tab,
    theme: &Theme,
    utc_offset: i32,
    max_body: Option<u64>,
) -> Built {
    let p = &theme.palette;
    let dim = Style::default().fg(p.dim);
    let mut lines = Vec::new();
    match tab {
        Tab::Request => lines.push(Line::from(vec![
            Span::styled(
                clean(&ex.request.method).into_owned(),
                Style::default().fg(p.method).add_modifier(Modifier::BOLD),
            ),
            Span::raw(" "),
            Span::raw(clean(&ex.url()).into_owned()),
            Span::styled(format!(" {}", clean(&ex.request.version)), dim),
        ])),
        Tab::Response => match &ex.response {
            Some(r) => lines.push(Line::from(vec![
                Span::styled(format!("{} ", clean(&r.version)), dim),
                Span::styled(
                    r.status.to_string(),
                    Style::default()
                        .fg(theme.status_color(Some(r.status)))
                        .add_modifier(Modifier::BOLD),
                ),
                Span::raw(format!(" {}", clean(&r.reason))),
            ])),
            None => lines.push(Line::styled(
                format!(
                    "no response{}",
                    ex.error
                        .as_deref()
                        .map(|e| format!(": {}", clean(e)))
                        .unwrap_or_default()
                ),
                Style::default().fg(p.error),
            )),
        },
    }
    let peer = match (&ex.local_addr, &ex.peer_addr) {
        (Some(l), Some(r)) => format!(" · {} → {}", clean(l), clean(r)),
        _ => String::new(),
    };
    // Clients number their streams 1, 3, 5...: the id says the stream's place on its
    // connection even when the capture began after the connection did.
    let stream = ex
        .stream_id
        .map(|s| format!(" stream {s} ({} on it)", ordinal(s.div_ceil(2))))
        .unwrap_or_default();
    lines.push(Line::styled(
        format!(
            "pid {} {} · {:?} · {}{} · conn {}{stream}",
            ex.pid,
            clean(&ex.comm),
            ex.role,
            protocol(ex),
            peer,
            ex.conn_id
        ),
        dim,
    ));
    let mut timing = vec![
        Span::styled("started ", dim),
        Span::raw(format::clock(ex.start, utc_offset)),
        Span::styled(" · took ", dim),
        Span::raw(format::duration(ex.duration_ns())),
    ];
    for (what, ns) in phases(ex) {
        timing.push(Span::styled(format!(" · {what} "), dim));
        timing.push(Span::raw(format::duration(Some(ns))));
    }
    if let Some(e) = &ex.error {
        timing.push(Span::styled(
            format!(" · {}", clean(e)),
            Style::default().fg(p.error),
        ));
    }
    lines.push(Line::from(timing));
    lines.push(Line::raw(""));
    let (headers, trailers, body): (Headers, Headers, Option<&Body>) = match tab {
        Tab::Request => (&ex.request.headers, &[], Some(&ex.request.body)),
        Tab::Response => match &ex.response {
            Some(r) => (&r.headers, &r.trailers, Some(&r.body)),
            None => (&[], &[], None),
        },
    };
    push_headers(&mut lines, headers, theme);
    let mut json = None;
    let body_start;
    match body {
        Some(b) => {
            let kind = body_kind(header(headers, "content-type"), &b.data);
            lines.push(Line::raw(""));
            lines.push(body_banner(b, &kind, theme, max_body));
            body_start = lines.len();
            match kind {
                BodyKind::Empty => {}
                BodyKind::Json(pretty) => {
                    lines.extend(highlight::plain_lines(&pretty));
                    json = Some(pretty);
                }
                BodyKind::Text => text_lines(&mut lines, &b.data),
                BodyKind::Grpc => {
                    lines.extend(grpc_lines(&b.data, header(headers, "grpc-encoding"), theme))
                }
                BodyKind::Binary => lines.extend(hex_lines(&b.data, theme)),
            }
        }
        None => body_start = lines.len(),
    }
    if !trailers.is_empty() {
        lines.push(Line::raw(""));
        lines.push(Line::styled("trailers", dim));
        push_headers(&mut lines, trailers, theme);
    }
    if tab == Tab::Response {
        if let Some(l) = grpc_status_line(ex, theme) {
            lines.push(Line::raw(""));
            lines.push(l);
        }
    }
    Built {
        lines,
        body_start,
        json,
    }
}

fn protocol(ex: &Exchange) -> &'static str {
    match (ex.protocol, ex.tls) {
        (capture::exchange::Protocol::Http1, true) => "HTTP/1.1 over TLS",
        (capture::exchange::Protocol::Http1, false) => "HTTP/1.1",
        (capture::exchange::Protocol::Http2, true) => "HTTP/2 over TLS",
        (capture::exchange::Protocol::Http2, false) => "HTTP/2 (cleartext)",
    }
}

/// The phases of an exchange from its capture times, as far as they are known: `send` (first
/// to last request byte), `wait` (last request byte to first response byte), `receive` (first
/// to last response byte), and `first byte` (time to the first response byte, from the start).
pub fn phases(ex: &Exchange) -> Vec<(&'static str, u64)> {
    let mut out = Vec::new();
    let (start, req_end, resp_start) = (ex.start, ex.request_end, ex.response_start);
    if let Some(r) = req_end {
        out.push(("send", r.saturating_sub(start)));
    }
    if let (Some(r), Some(f)) = (req_end, resp_start) {
        out.push(("wait", f.saturating_sub(r)));
    }
    if let (Some(f), Some(e)) = (resp_start, ex.end) {
        out.push(("receive", e.saturating_sub(f)));
    }
    if let Some(f) = resp_start {
        out.push(("first byte", f.saturating_sub(start)));
    }
    out
}

/// `1st`, `2nd`, `3rd`, `11th`...
fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn push_headers(lines: &mut Vec<Line<'static>>, headers: &[(String, String)], theme: &Theme) {
    for (n, v) in headers {
        lines.push(Line::from(vec![
            Span::styled(
                format!("{}:", clean(n)),
                Style::default().fg(theme.palette.header_name),
            ),
            Span::raw(format!(" {}", clean(v))),
        ]));
    }
}

fn body_banner(b: &Body, kind: &BodyKind, theme: &Theme, max_body: Option<u64>) -> Line<'static> {
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

fn text_lines(lines: &mut Vec<Line<'static>>, data: &[u8]) {
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

/// A gRPC call's outcome, for the response tab: `grpc-status: 5 NOT_FOUND · message`.
fn grpc_status_line(ex: &Exchange, theme: &Theme) -> Option<Line<'static>> {
    let st = grpc::grpc_status(ex.response.as_ref()?)?;
    let p = &theme.palette;
    let color = if st.code == 0 { p.accent } else { p.error };
    let mut text = format!("grpc-status {} {}", st.code, st.name);
    if let Some(m) = &st.message {
        text.push_str(&format!(" · {}", clean(m)));
    }
    Some(Line::styled(text, Style::default().fg(color)))
}

pub fn render(frame: &mut Frame, area: Rect, app: &App, focused: bool) {
    let theme = &app.theme;
    let p = &theme.palette;
    let tab_style = |t: Tab| {
        if app.detail_tab() == t {
            Style::default()
                .fg(p.tab_active)
                .add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
        } else {
            Style::default().fg(p.dim)
        }
    };
    let mut title = vec![
        Span::raw(" "),
        Span::styled("Request", tab_style(Tab::Request)),
        Span::styled(" │ ", Style::default().fg(p.dim)),
        Span::styled("Response", tab_style(Tab::Response)),
        Span::raw(" "),
    ];
    if app.detail_pending() {
        title.push(Span::styled("highlighting… ", Style::default().fg(p.dim)));
    }
    let term = app.search_term();
    if let (Some(t), Some((at, of))) = (&term, app.search_position()) {
        title.push(Span::styled(
            format!("/{} {at}/{of} ", clean(t)),
            Style::default().fg(if of == 0 { p.error } else { p.accent }),
        ));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::default().fg(if focused { p.border_focused } else { p.border }))
        .title(Line::from(title));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(lines) = app.detail_lines() else {
        frame.render_widget(
            Paragraph::new("no exchange selected").style(Style::default().fg(p.dim)),
            inner,
        );
        return;
    };
    let rows = usize::from(inner.height);
    let start = app.detail_scroll().min(lines.len().saturating_sub(1));
    // Long lines (tokens, cookies, minified bodies) wrap rather than vanish at the edge; scrolling
    // stays in whole logical lines.
    let mut visible: Vec<Line> = Vec::with_capacity(rows);
    let hit = Style::default().fg(p.selected_fg).bg(p.warning);
    for line in lines.iter().skip(start) {
        if visible.len() >= rows {
            break;
        }
        match &term {
            Some(t) => visible.extend(wrap(
                &crate::ui::search::mark(line, t, hit),
                usize::from(inner.width),
            )),
            None => visible.extend(wrap(line, usize::from(inner.width))),
        }
    }
    visible.truncate(rows);
    frame.render_widget(Paragraph::new(visible), inner);
}

/// Splits `line` into rows of at most `width` columns, keeping each span's style.
fn wrap(line: &Line<'static>, width: usize) -> Vec<Line<'static>> {
    use unicode_width::UnicodeWidthChar;
    if width == 0 || line.width() <= width {
        return vec![line.clone()];
    }
    let mut rows = Vec::new();
    let mut row: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    for span in &line.spans {
        let mut piece = String::new();
        for ch in span.content.chars() {
            let w = ch.width().unwrap_or(0);
            if used + w > width && used > 0 {
                if !piece.is_empty() {
                    row.push(Span::styled(std::mem::take(&mut piece), span.style));
                }
                rows.push(Line::from(std::mem::take(&mut row)).style(line.style));
                used = 0;
            }
            piece.push(ch);
            used += w;
        }
        if !piece.is_empty() {
            row.push(Span::styled(piece, span.style));
        }
    }
    if !row.is_empty() {
        rows.push(Line::from(row).style(line.style));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::style::Color;

    #[test]
    fn long_lines_wrap_keeping_styles() {
        let name = Style::default().fg(Color::Cyan);
        let line = Line::from(vec![
            Span::styled("Authorization: ", name),
            Span::raw("Bearer eyJhbGciOiJIUzI1NiJ9"),
        ]);
        let rows = wrap(&line, 20);
        let text: Vec<String> = rows.iter().map(|l| l.to_string()).collect();
        assert_eq!(text, ["Authorization: Beare", "r eyJhbGciOiJIUzI1Ni", "J9"]);
        assert_eq!(rows[0].spans[0].style, name);
        assert_eq!(rows[0].spans[1].content, "Beare");
        assert!(rows.iter().all(|l| l.width() <= 20));
    }

    #[test]
    fn wide_characters_never_overflow() {
        let rows = wrap(&Line::from("日本語のテキスト"), 5);
        assert!(rows.iter().all(|l| l.width() <= 5), "{rows:?}");
        assert_eq!(
            rows.iter().map(|l| l.to_string()).collect::<String>(),
            "日本語のテキスト"
        );
        assert_eq!(wrap(&Line::from("short"), 10).len(), 1);
    }

    #[test]
    fn an_evicted_body_says_so_instead_of_looking_empty() {
        let text = |ex: &Exchange| -> String {
            let built = build(ex, Tab::Response, &Theme::default(), 0, None);
            built.lines.iter().map(|l| l.to_string() + "\n").collect()
        };
        let mut ex = crate::ui::testing::ex(1, "api.test", "/big", 4096, 0);
        let shown = text(&ex);
        assert!(shown.contains("body: text, 4.0K"), "{shown}");
        let body = &mut ex.response.as_mut().unwrap().body;
        body.data = Vec::new();
        body.evicted = true;
        let shown = text(&ex);
        assert!(
            shown.contains("body evicted (memory budget): 4.0K on the wire"),
            "{shown}"
        );
        assert!(!shown.contains("no body"), "{shown}");
    }

    #[test]
    fn phases_follow_the_capture_times() {
        let mut x = *crate::ui::testing::ex(1, "h", "/", 0, 0);
        x.start = 1_000;
        x.request_end = Some(1_500);
        x.response_start = Some(41_500);
        x.end = Some(51_500);
        assert_eq!(
            phases(&x),
            [
                ("send", 500),
                ("wait", 40_000),
                ("receive", 10_000),
                ("first byte", 40_500)
            ]
        );
        // The request's end unknown: no send or wait, the first byte still from the start.
        x.request_end = None;
        assert_eq!(phases(&x), [("receive", 10_000), ("first byte", 40_500)]);
        // No response: only what the request did.
        x.request_end = Some(1_500);
        x.response_start = None;
        x.end = None;
        assert_eq!(phases(&x), [("send", 500)]);
    }

    #[test]
    fn ordinals() {
        let got: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111]
            .into_iter()
            .map(ordinal)
            .collect();
        assert_eq!(
            got,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st",
                "111th"
            ]
        );
    }
}
