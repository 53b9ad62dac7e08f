//! The detail pane: request and response tabs, headers, timing, and the body rendered by kind.
//! The lines are built once per (exchange, tab) in `App::handle`; drawing only slices them.
//!
//! Here the tab's lines are built: the start line, the connection, the timing, the headers.
//! `body` renders the body by its kind, `draw` draws the built lines into the pane.
use capture::exchange::{header, Body, Exchange};
use capture::grpc;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use crate::ui::app::Tab;
use crate::ui::format::{self, clean};
use crate::ui::highlight;
use crate::ui::theme::Theme;

mod body;
mod draw;

pub use body::{body_kind, grpc_lines, hex_lines, BodyKind};
pub use draw::render;

use body::{body_banner, text_lines};

type Headers<'a> = &'a [(String, String)];

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
    // A connection whose socket was never learned (TLS through memory BIOs: the library made
    // no system call) still has its exchanges, keyed by the `SSL*`: the header says so.
    let peer = match (&ex.local_addr, &ex.peer_addr) {
        (Some(l), Some(r)) => format!(" · {} → {}", clean(l), clean(r)),
        (None, Some(r)) => format!(" · ? → {}", clean(r)),
        (_, None) => " · peer unknown".to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_says_when_the_peer_is_unknown() {
        let theme = Theme::default();
        let first = |ex: &Exchange| -> String {
            let built = build(ex, Tab::Response, &theme, 0, None);
            built.lines[1].to_string()
        };
        let mut ex = crate::ui::testing::ex(1, "a.test", "/x", 2, 0);
        assert!(
            first(&ex).contains(" · peer unknown · conn "),
            "{}",
            first(&ex)
        );
        ex.peer_addr = Some("127.0.0.1:443".into());
        assert!(
            first(&ex).contains(" · ? → 127.0.0.1:443 · conn "),
            "{}",
            first(&ex)
        );
        ex.local_addr = Some("127.0.0.1:5000".into());
        assert!(first(&ex).contains(" · 127.0.0.1:5000 → 127.0.0.1:443 · conn "));
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
