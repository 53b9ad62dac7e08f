//! Shared helpers for the UI tests: exchanges, an app with a fixed clock, keys, rendering.
#![allow(dead_code)]
use apitop::ui::app::{App, Config, Effect, Msg};
use apitop::ui::theme::Theme;
use apitop::ui::views;
use capture::exchange::{Body, Exchange, Protocol, Request, Response, Role};
use capture::output::Output;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::Terminal;

/// 2025-01-02 03:04:05 UTC.
pub const T0: u64 = 1_735_787_045_000_000_000;

pub fn body(data: &[u8]) -> Body {
    Body {
        raw_len: data.len() as u64,
        data: data.to_vec(),
        ..Body::default()
    }
}

/// An HTTP/1.1-over-TLS exchange; `status` None leaves it without a response.
pub fn ex(
    id: u64,
    method: &str,
    host: &str,
    path: &str,
    status: Option<u16>,
    dur_ms: u64,
) -> Exchange {
    let start = T0 + id * 1_000_000_000;
    Exchange {
        id,
        pid: 4242,
        comm: "curl".into(),
        protocol: Protocol::Http1,
        tls: true,
        role: Role::Client,
        conn_id: id,
        local_addr: Some("10.0.0.2:50000".into()),
        peer_addr: Some("93.184.216.34:443".into()),
        stream_id: None,
        request: Request {
            method: method.into(),
            target: path.into(),
            version: "HTTP/1.1".into(),
            headers: vec![
                ("Host".into(), host.into()),
                ("User-Agent".into(), "curl/8.5.0".into()),
                ("Accept".into(), "*/*".into()),
            ],
            body: Body::default(),
        },
        response: status.map(|s| Response {
            status: s,
            reason: reason(s).into(),
            version: "HTTP/1.1".into(),
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: body(b"ok\n"),
            trailers: vec![],
        }),
        start,
        end: status.map(|_| start + dur_ms * 1_000_000),
        // Sent at once; the response's first byte at half the duration.
        request_end: Some(start),
        response_start: status.map(|_| start + dur_ms * 500_000),
        error: if status.is_none() {
            Some("connection closed".into())
        } else {
            None
        },
    }
}

fn reason(s: u16) -> &'static str {
    match s {
        200 => "OK",
        201 => "Created",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// Sets the response body and content type.
pub fn with_response_body(mut e: Exchange, ct: &str, data: &[u8]) -> Exchange {
    if let Some(r) = &mut e.response {
        r.headers = vec![("Content-Type".into(), ct.into())];
        r.body = body(data);
    }
    e
}

pub fn with_request_body(mut e: Exchange, ct: &str, data: &[u8]) -> Exchange {
    e.request.headers.push(("Content-Type".into(), ct.into()));
    e.request
        .headers
        .push(("Content-Length".into(), data.len().to_string()));
    e.request.body = body(data);
    e
}

pub fn config() -> Config {
    Config {
        theme: Theme::builtin("dark").expect("dark theme"),
        max_exchanges: 100_000,
        max_memory: 512 << 20,
        max_tree_nodes: 10_000,
        open_picker: false,
        max_body: Some(1 << 20),
        targets: vec![(4242, "curl".into())],
        source: "test".into(),
        utc_offset: Some(0),
        fixed_now: Some(T0 + 3_600_000_000_000),
    }
}

pub fn app() -> App {
    app_with(config())
}

pub fn app_with(cfg: Config) -> App {
    let mut app = App::new(cfg);
    app.handle(Msg::Resize(120, 40));
    app
}

pub fn feed(app: &mut App, exchanges: impl IntoIterator<Item = Exchange>) -> Vec<Effect> {
    for e in exchanges {
        app.handle(Msg::Capture(Output::Exchange(Box::new(e))));
    }
    app.handle(Msg::Tick(0))
}

pub fn key(app: &mut App, c: char) -> Vec<Effect> {
    app.handle(Msg::Key(KeyEvent::new(
        KeyCode::Char(c),
        KeyModifiers::NONE,
    )))
}

pub fn code(app: &mut App, c: KeyCode) -> Vec<Effect> {
    app.handle(Msg::Key(KeyEvent::new(c, KeyModifiers::NONE)))
}

pub fn ctrl(app: &mut App, c: char) -> Vec<Effect> {
    app.handle(Msg::Key(KeyEvent::new(
        KeyCode::Char(c),
        KeyModifiers::CONTROL,
    )))
}

pub fn typ(app: &mut App, text: &str) -> Vec<Effect> {
    let mut fx = Vec::new();
    for c in text.chars() {
        fx.extend(key(app, c));
    }
    fx
}

/// Draws the app into a `w`×`h` test terminal.
pub fn render(app: &mut App, w: u16, h: u16) -> Buffer {
    app.handle(Msg::Resize(w, h));
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    t.draw(|f| views::draw(f, app)).expect("draw");
    t.backend().buffer().clone()
}

/// The buffer's text, one line per row, trailing spaces trimmed.
pub fn text(b: &Buffer) -> String {
    let w = b.area.width as usize;
    b.content
        .chunks(w)
        .map(|row| {
            let mut s = String::new();
            for c in row {
                s.push_str(c.symbol());
            }
            s.trim_end().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A small realistic session: several hosts, ids, errors, a slow call.
pub fn sample() -> Vec<Exchange> {
    let json =
        br#"{"id":42,"name":"Ada","roles":["admin","dev"],"active":true,"score":9.5,"team":null}"#;
    vec![
        with_response_body(
            ex(1, "GET", "api.example.com", "/users/42", Some(200), 12),
            "application/json",
            json,
        ),
        ex(2, "GET", "api.example.com", "/users/43", Some(200), 15),
        with_request_body(
            ex(3, "POST", "api.example.com", "/users", Some(201), 40),
            "application/json",
            br#"{"name":"Grace"}"#,
        ),
        ex(
            4,
            "GET",
            "api.example.com",
            "/users/550e8400-e29b-41d4-a716-446655440000/orders",
            Some(404),
            8,
        ),
        ex(5, "DELETE", "api.example.com", "/users/44", Some(500), 230),
        ex(
            6,
            "GET",
            "cdn.example.net",
            "/static/app.3f9a1c2e.js",
            Some(200),
            3,
        ),
        ex(
            7,
            "GET",
            "auth.example.org",
            "/oauth/token?grant=refresh",
            Some(503),
            1500,
        ),
        ex(8, "GET", "api.example.com", "/health", None, 0),
    ]
}
