//! Every screen drawn into a `TestBackend` with a fixed clock, snapshotted with insta (the
//! buffer's Debug form: text and style runs).
mod ui_support;

use apitop::ui::app::Msg;
use apitop::ui::clipboard::Route;
use apitop::ui::picker::ProcessRow;
use apitop::ui::theme::Theme;
use apitop::ui::Config;
use capture::procinfo::{ProcessInfo, TlsStatus};
use crossterm::event::KeyCode;
use ratatui::style::{Color, Modifier};
use ui_support::*;

fn procs() -> Vec<ProcessRow> {
    let row = |pid: u32, user: &str, comm: &str, tls: TlsStatus, ports: &[u16]| ProcessRow {
        info: ProcessInfo {
            pid,
            ppid: 1,
            uid: 0,
            user: user.into(),
            comm: comm.into(),
            cmdline: comm.into(),
            exe: None,
            tls,
        },
        ports: ports.to_vec(),
    };
    vec![
        row(
            812,
            "www-data",
            "nginx",
            TlsStatus::openssl_shared("libssl.so.3"),
            &[80, 443],
        ),
        row(
            1290,
            "ada",
            "python3",
            TlsStatus::openssl_shared("libssl.so.3"),
            &[],
        ),
        row(
            2210,
            "ada",
            "node",
            TlsStatus {
                probes: Some("SSL_write+0 push %rbp (emulated)".into()),
                ..TlsStatus::openssl_in_exe()
            },
            &[3000],
        ),
        row(
            3001,
            "svc",
            "gateway",
            TlsStatus::go_refused("go 1.16 (crypto/tls) — before Go 1.17's register ABI"),
            &[8443],
        ),
        row(3377, "ada", "bash", TlsStatus::no_tls(), &[]),
    ]
}

/// The cell column of `needle` in row `row` of `text` (borders are multi-byte characters).
fn char_col(text: &str, row: u16, needle: &str) -> u16 {
    let line = text.lines().nth(row as usize).expect("row");
    let byte = line.find(needle).expect("needle");
    line[..byte].chars().count() as u16
}

fn main_app() -> apitop::ui::App {
    let mut a = app();
    feed(&mut a, sample());
    a
}

#[test]
fn picker() {
    let mut a = app_with(Config {
        open_picker: true,
        targets: vec![],
        ..config()
    });
    a.start();
    a.handle(Msg::Processes(procs()));
    key(&mut a, ' ');
    code(&mut a, KeyCode::Down);
    insta::assert_snapshot!(format!("{:?}", render(&mut a, 110, 16)));
    // The highlighted uncapturable process says what won't be seen.
    code(&mut a, KeyCode::Down);
    let t = text(&render(&mut a, 110, 16));
    assert!(
        t.contains(
            "gateway (3001): go 1.16 (crypto/tls) — before Go 1.17's register ABI — its TLS traffic won't be seen"
        ),
        "{t}"
    );
}

#[test]
fn main_view_list_tree_detail() {
    let mut a = main_app();
    code(&mut a, KeyCode::Up);
    code(&mut a, KeyCode::Up);
    insta::assert_snapshot!(format!("{:?}", render(&mut a, 160, 36)));
}

#[test]
fn detail_with_highlighted_json() {
    let mut a = main_app();
    key(&mut a, 'g');
    code(&mut a, KeyCode::Enter);
    key(&mut a, 'l');
    let buf = render(&mut a, 100, 30);
    insta::assert_snapshot!(format!("{buf:?}"));
    // Styles: syntect colours (RGB) the JSON; strings and numbers differently.
    let t = text(&buf);
    let row = t
        .lines()
        .position(|l| l.contains("\"id\": 42"))
        .expect("json line") as u16;
    let col = char_col(&t, row, "\"id\"");
    let key_fg = buf[(col + 1, row)].fg;
    assert_eq!(buf[(col + 6, row)].symbol(), "4");
    let num_fg = buf[(col + 6, row)].fg;
    assert!(matches!(key_fg, Color::Rgb(..)), "{key_fg:?}");
    assert!(matches!(num_fg, Color::Rgb(..)), "{num_fg:?}");
    assert_ne!(key_fg, num_fg);
    let row = t
        .lines()
        .position(|l| l.contains("\"active\": true"))
        .expect("bool line") as u16;
    let col = char_col(&t, row, "true");
    assert!(matches!(buf[(col, row)].fg, Color::Rgb(..)));
    assert_ne!(buf[(col, row)].fg, key_fg);
    // The status code is coloured by class.
    let status_row = t
        .lines()
        .position(|l| l.contains("HTTP/1.1 200 OK"))
        .expect("status") as u16;
    let scol = char_col(&t, status_row, "200");
    assert_eq!(buf[(scol, status_row)].fg, Color::Green);
    assert!(buf[(scol, status_row)].modifier.contains(Modifier::BOLD));
}

#[test]
fn tree_focused_with_drill_down() {
    let mut a = main_app();
    code(&mut a, KeyCode::BackTab);
    key(&mut a, 'j');
    code(&mut a, KeyCode::Enter);
    insta::assert_snapshot!(format!("{:?}", render(&mut a, 160, 30)));
}

#[test]
fn filter_bar_with_invalid_expression() {
    let mut a = main_app();
    key(&mut a, '/');
    typ(&mut a, "~c 5xx & ~q x");
    let buf = render(&mut a, 120, 24);
    insta::assert_snapshot!(format!("{buf:?}"));
    let t = text(&buf);
    assert!(t.contains("unknown ~q"), "{t}");
    assert!(t.contains("in force: ~c 5xx"), "{t}");
}

#[test]
fn help_overlay() {
    let mut a = main_app();
    key(&mut a, '?');
    insta::assert_snapshot!(text(&render(&mut a, 100, 60)));
}

#[test]
fn copy_popup() {
    let mut a = main_app();
    key(&mut a, 'g');
    key(&mut a, 'j');
    key(&mut a, 'j');
    key(&mut a, 'c');
    code(&mut a, KeyCode::Enter);
    a.handle(Msg::Copied(Route::Osc52 {
        why: "no display".into(),
    }));
    insta::assert_snapshot!(format!("{:?}", render(&mut a, 100, 24)));
}

#[test]
fn tiny_terminal_40x10() {
    let mut a = main_app();
    insta::assert_snapshot!(format!("{:?}", render(&mut a, 40, 10)));
    // Every screen survives tiny and degenerate sizes.
    for (w, h) in [(40, 10), (20, 5), (1, 1), (0, 0), (200, 3)] {
        render(&mut a, w, h);
        key(&mut a, '?');
        render(&mut a, w, h);
        key(&mut a, '?');
        key(&mut a, 'c');
        render(&mut a, w, h);
        code(&mut a, KeyCode::Esc);
        key(&mut a, 'p');
        a.handle(Msg::Processes(procs()));
        render(&mut a, w, h);
        code(&mut a, KeyCode::Esc);
        code(&mut a, KeyCode::Enter);
        render(&mut a, w, h);
        code(&mut a, KeyCode::Esc);
    }
}

#[test]
fn non_utf8_and_control_bytes_do_not_break_the_layout() {
    let mut a = app();
    let mut e = with_response_body(
        ex(1, "GET", "bin.example", "/blob\u{1b}[2J\t/x", Some(200), 3),
        "application/octet-stream",
        &[
            0xff, 0xfe, 0, 1, 2, b'P', b'K', 3, 4, 0x1b, b'[', b'2', b'J', 0x80, 0x81, 0x82, 0x83,
            0x84,
        ],
    );
    e.request
        .headers
        .push(("X-Evil".into(), "a\u{1b}]52;c;Zm9v\u{7}b\r\nc".into()));
    e.comm = "we\u{1b}ird\u{202e}".into();
    let text_body = with_response_body(
        ex(2, "GET", "t.example", "/latin1", Some(200), 3),
        "text/plain",
        b"caf\xe9 cr\xe8me\n\tindent\x1b[31m",
    );
    feed(&mut a, [e, text_body]);
    key(&mut a, 'g');
    code(&mut a, KeyCode::Enter);
    key(&mut a, 'l');
    let buf = render(&mut a, 100, 24);
    insta::assert_snapshot!(format!("{buf:?}"));
    for cell in &buf.content {
        assert!(
            !cell.symbol().chars().any(|c| c.is_control()),
            "control char in {:?}",
            cell.symbol()
        );
    }
    let t = text(&buf);
    assert!(
        t.contains(
            "00000000  ff fe 00 01 02 50 4b 03  04 1b 5b 32 4a 80 81 82  |.....PK...[2J...|"
        ),
        "{t}"
    );
    // The list, with the escape in the path and the process name, stays one row per exchange.
    code(&mut a, KeyCode::Esc);
    let t = text(&render(&mut a, 120, 30));
    assert!(t.contains("/blob·[2J /x"), "{t}");
    // Latin-1 text is not valid UTF-8: shown as binary.
    key(&mut a, 'j');
    code(&mut a, KeyCode::Enter);
    key(&mut a, 'l');
    let t = text(&render(&mut a, 100, 24));
    assert!(t.contains("body: binary"), "{t}");
}

#[test]
fn light_theme_and_user_override() {
    let mut theme = Theme::builtin("light").expect("light");
    theme.palette.selected_bg = Color::Rgb(1, 2, 3);
    let mut a = app_with(Config { theme, ..config() });
    feed(&mut a, sample());
    let buf = render(&mut a, 120, 24);
    insta::assert_snapshot!(format!("{buf:?}"));
    assert!(buf.content.iter().any(|c| c.bg == Color::Rgb(1, 2, 3)));
    assert!(
        buf.content.iter().all(|c| c.bg != Color::Cyan),
        "no dark selection colour"
    );
}

#[test]
fn stats_view_with_sparkline() {
    let mut a = main_app();
    key(&mut a, 's');
    key(&mut a, 'S');
    insta::assert_snapshot!(format!("{:?}", render(&mut a, 140, 24)));
}

#[test]
fn diff_view_of_two_marked() {
    let mut a = app();
    feed(
        &mut a,
        [
            with_response_body(
                ex(1, "GET", "api.example.com", "/users/42", Some(200), 5),
                "application/json",
                br#"{"id":42,"name":"Ada","roles":["admin","dev"]}"#,
            ),
            with_response_body(
                ex(2, "GET", "api.example.com", "/users/43", Some(404), 9),
                "application/json",
                br#"{"roles":["admin"],"name":"Grace","id":43,"deleted":true}"#,
            ),
        ],
    );
    key(&mut a, 'g');
    key(&mut a, 'm');
    key(&mut a, 'G');
    key(&mut a, 'm');
    key(&mut a, '=');
    insta::assert_snapshot!(format!("{:?}", render(&mut a, 110, 30)));
}

#[test]
fn detail_search_highlight() {
    let mut a = main_app();
    key(&mut a, 'g');
    code(&mut a, KeyCode::Enter);
    code(&mut a, KeyCode::Right);
    key(&mut a, '/');
    typ(&mut a, "ad");
    let buf = render(&mut a, 100, 24);
    insta::assert_snapshot!(format!("{buf:?}"));
    assert!(text(&buf).contains("search: ad"), "{}", text(&buf));
}
