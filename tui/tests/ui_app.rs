//! Scripted message sequences into `App::handle`, asserting state and effects: panes, quitting,
//! help, the copy menu, capture events and the status bar. Other features' scripts have their
//! own files: ui_list.rs, ui_tree.rs, ui_detail.rs, ui_picker.rs, ui_marks.rs, ui_stats.rs.
mod ui_support;

use apitop::ui::app::{Effect, Msg};
use apitop::ui::clipboard::Route;
use apitop::ui::keymap::{self, Mode};
use apitop::ui::layout::Pane;
use apitop::ui::Config;
use capture::output::Output;
use crossterm::event::KeyCode;
use ui_support::*;

#[test]
fn copy_menu_chooses_a_format_and_reports_the_route() {
    let mut a = app();
    feed(&mut a, sample().into_iter().take(3));
    assert!(
        key(&mut a, 'c').is_empty(),
        "opening the menu copies nothing"
    );
    assert_eq!(a.mode(), Mode::Popup);
    let fx = code(&mut a, KeyCode::Enter);
    let cmd = match fx.as_slice() {
        [Effect::Clipboard(c)] => c.clone(),
        other => panic!("{other:?}"),
    };
    let argv = shlex::split(&cmd).expect("shell words");
    assert_eq!(
        argv.last().map(String::as_str),
        Some("https://api.example.com/users")
    );
    assert!(argv.contains(&"--data-binary".to_string()));
    assert_eq!(a.popup().map(|p| p.route.is_none()), Some(true));
    a.handle(Msg::Copied(Route::Osc52 {
        why: "no display".into(),
    }));
    assert_eq!(
        a.popup().and_then(|p| p.route.clone()),
        Some(Route::Osc52 {
            why: "no display".into()
        })
    );
    // Keys go to the menu, not the list: j moves to HTTPie, a digit picks Python.
    key(&mut a, 'j');
    assert_eq!(a.selected_exchange().map(|e| e.id), Some(3));
    let copied = |fx: Vec<Effect>| match fx.as_slice() {
        [Effect::Clipboard(c)] => c.clone(),
        other => panic!("{other:?}"),
    };
    assert!(
        copied(code(&mut a, KeyCode::Enter)).contains("http POST https://api.example.com/users")
    );
    key(&mut a, '4');
    assert!(copied(code(&mut a, KeyCode::Enter)).contains("import requests"));
    code(&mut a, KeyCode::Up);
    assert!(copied(code(&mut a, KeyCode::Enter)).starts_with("POST /users HTTP/1.1\r\n"));
    code(&mut a, KeyCode::Esc);
    assert_eq!(a.mode(), Mode::List);
    // The next menu opens on the format copied last.
    key(&mut a, 'c');
    assert!(copied(code(&mut a, KeyCode::Enter)).starts_with("POST /users HTTP/1.1\r\n"));
    key(&mut a, 'q');
    assert_eq!(a.mode(), Mode::List);
}

#[test]
fn targets_and_stats_follow_capture_events() {
    let mut a = app();
    a.handle(Msg::Capture(Output::Process {
        ts: T0,
        pid: 7,
        comm: "python3".into(),
    }));
    a.handle(Msg::Capture(Output::Exit { ts: T0, pid: 4242 }));
    let t = a.targets();
    assert_eq!(t.len(), 2);
    assert!(!t[0].alive);
    assert!(t[1].alive && t[1].comm == "python3");
    // The rate is measured over ticks of the given clock.
    let mut a = app_with(Config {
        fixed_now: None,
        ..config()
    });
    a.handle(Msg::Tick(T0));
    feed(&mut a, sample());
    a.handle(Msg::Tick(T0 + 2_000_000_000));
    assert!((a.rate() - 4.0).abs() < 1e-9, "{}", a.rate());
}

#[test]
fn tab_cycles_panes_and_toggles_hide_them() {
    let mut a = app();
    feed(&mut a, sample());
    assert_eq!(a.focus(), Pane::List);
    code(&mut a, KeyCode::Tab);
    assert_eq!(a.focus(), Pane::Detail);
    code(&mut a, KeyCode::Tab);
    assert_eq!(a.focus(), Pane::Tree);
    key(&mut a, 't');
    assert_eq!(a.focus(), Pane::List, "hiding the focused tree moves focus");
    code(&mut a, KeyCode::Tab);
    code(&mut a, KeyCode::Tab);
    assert_eq!(a.focus(), Pane::List, "list and detail only");
    key(&mut a, 'D');
    code(&mut a, KeyCode::Tab);
    assert_eq!(a.focus(), Pane::List, "the list alone");
    key(&mut a, 'q');
    assert!(a.should_quit());
}

#[test]
fn quit_is_an_effect() {
    let mut a = app();
    assert_eq!(key(&mut a, 'q'), [Effect::Quit]);
    let mut a = app();
    key(&mut a, '/');
    assert_eq!(ctrl(&mut a, 'c'), [Effect::Quit]);
}

#[test]
fn help_lists_every_key_of_the_screen() {
    let mut a = app();
    key(&mut a, '?');
    assert_eq!(a.help().map(|h| h.0), Some(Mode::List));
    let rows = keymap::help_rows(Mode::List);
    // Every binding in the tables for this mode is present, with its keys.
    for t in keymap::tables(Mode::List) {
        for b in t.iter() {
            let keys: Vec<String> = b.keys.iter().map(keymap::key_name).collect();
            assert!(rows.contains(&(keys.join(" "), b.help)), "{keys:?}");
        }
    }
    assert!(rows.iter().any(|(k, h)| k == "c" && h.contains("curl")));
    key(&mut a, '?');
    assert!(a.help().is_none());
}

#[test]
fn the_status_bar_shows_memory_use_and_body_evictions() {
    let mut a = app_with(Config {
        max_memory: 1 << 20,
        ..config()
    });
    // 40 responses of 64 KiB: 2.5 MiB of bodies into a 1 MiB budget.
    feed(
        &mut a,
        (1..=40).map(|i| {
            with_response_body(
                ex(i, "GET", "api.example.com", "/blob", Some(200), 5),
                "application/octet-stream",
                &vec![7u8; 64 << 10],
            )
        }),
    );
    assert!(a.store().bytes() <= 1 << 20);
    assert_eq!((a.store().len(), a.store().evicted), (40, 0));
    let screen = text(&render(&mut a, 160, 30));
    let status = screen.lines().last().unwrap_or_default().to_string();
    assert!(status.contains("store 40/100,000 mem "), "{status}");
    assert!(status.contains("/1M"), "{status}");
    let bodies = a.store().bodies_evicted;
    assert!(bodies >= 20, "{bodies}");
    assert!(
        status.contains(&format!("evicted 0 · bodies {bodies}")),
        "{status}"
    );
}
