//! The detail pane, scripted through `App::handle`: opening it and switching tabs, JSON
//! highlighted off the handler, and searching its text.
mod ui_support;

use apitop::ui::app::{Effect, Msg, Tab};
use apitop::ui::keymap::Mode;
use apitop::ui::layout::Pane;
use crossterm::event::KeyCode;
use ui_support::*;

#[test]
fn enter_opens_the_detail_and_tabs_switch() {
    let mut a = app();
    feed(&mut a, sample().into_iter().take(1));
    code(&mut a, KeyCode::Enter);
    assert_eq!(a.focus(), Pane::Detail);
    assert_eq!(a.detail_tab(), Tab::Request);
    let lines = a.detail_lines().expect("detail");
    assert!(lines[0]
        .to_string()
        .contains("GET https://api.example.com/users/42"));
    key(&mut a, 'l');
    assert_eq!(a.detail_tab(), Tab::Response);
    let text: Vec<String> = a
        .detail_lines()
        .expect("detail")
        .iter()
        .map(|l| l.to_string())
        .collect();
    assert!(text[0].contains("200 OK"), "{text:?}");
    assert!(
        text.iter().any(|l| l == "  \"name\": \"Ada\","),
        "pretty JSON: {text:?}"
    );
    code(&mut a, KeyCode::Esc);
    assert_eq!(a.focus(), Pane::List);
}

#[test]
fn large_json_is_highlighted_off_the_handle_and_stale_results_are_dropped() {
    let items: Vec<String> = (0..2000)
        .map(|i| format!("{{\"i\":{i},\"s\":\"item\"}}"))
        .collect();
    let big = format!("[{}]", items.join(","));
    let mut a = app();
    feed(
        &mut a,
        [with_response_body(
            ex(1, "GET", "h", "/big", Some(200), 1),
            "application/json",
            big.as_bytes(),
        )],
    );
    code(&mut a, KeyCode::Enter);
    let fx = key(&mut a, 'l');
    let (gen, text) = match fx.as_slice() {
        [Effect::Highlight { gen, text }] => (*gen, text.clone()),
        other => panic!("expected one Highlight effect, got {other:?}"),
    };
    assert!(a.detail_pending());
    let plain = a.detail_lines().expect("plain lines first").len();
    // A stale generation is ignored.
    a.handle(Msg::Highlighted {
        gen: gen + 100,
        lines: vec![],
    });
    assert!(a.detail_pending());
    let lines = a.highlighter().json(&text);
    a.handle(Msg::Highlighted { gen, lines });
    assert!(!a.detail_pending());
    assert_eq!(a.detail_lines().expect("lines").len(), plain);
    // Revisiting uses the cache: no new job.
    key(&mut a, 'h');
    assert!(key(&mut a, 'l').is_empty());
    assert!(!a.detail_pending());
}

/// `/` in the detail pane searches its text as you type; matches are highlighted, `n`/`N`
/// step through them and wrap; Esc drops the search; `/` in the list still filters.
#[test]
fn search_in_the_detail_pane() {
    let mut a = app();
    // A long JSON body: 200 lines, "needle" on two of them.
    let mut body = String::from("{\n");
    for i in 0..200 {
        let v = if i == 50 || i == 150 { "needle" } else { "hay" };
        body.push_str(&format!("\"k{i}\": \"{v}\",\n"));
    }
    body.push_str("\"end\": 1}");
    let x = with_response_body(
        ex(1, "GET", "api.example.com", "/big", Some(200), 5),
        "application/json",
        body.as_bytes(),
    );
    feed(&mut a, [x]);
    code(&mut a, KeyCode::Enter);
    code(&mut a, KeyCode::Right);
    assert_eq!(a.mode(), Mode::Detail);
    key(&mut a, '/');
    assert_eq!(a.mode(), Mode::Search);
    typ(&mut a, "NEEDLE");
    let (at, of) = a.search_position().unwrap();
    assert_eq!((at, of), (1, 2));
    let first = a.detail_scroll();
    let screen = text(&render(&mut a, 100, 30));
    assert!(screen.contains("\"k50\": \"needle\""), "{screen}");
    assert!(screen.contains("/needle 1/2"), "{screen}");
    code(&mut a, KeyCode::Enter);
    assert_eq!(a.mode(), Mode::Detail, "the search is kept, the bar closes");
    key(&mut a, 'n');
    assert_eq!(a.search_position(), Some((2, 2)));
    assert!(a.detail_scroll() > first + 90, "{}", a.detail_scroll());
    key(&mut a, 'n');
    assert_eq!(a.search_position(), Some((1, 2)), "wraps");
    assert_eq!(a.detail_scroll(), first);
    key(&mut a, 'N');
    assert_eq!(a.search_position(), Some((2, 2)), "and back");
    // Not found says so.
    key(&mut a, '/');
    ctrl(&mut a, 'u');
    typ(&mut a, "zebra");
    assert_eq!(a.search_position(), Some((0, 0)));
    assert!(a
        .notice()
        .is_some_and(|n| n.error && n.text.contains("zebra")));
    code(&mut a, KeyCode::Esc);
    assert!(a.search_term().is_none());
    // b asks where to save the shown body.
    key(&mut a, 'b');
    assert_eq!(a.mode(), Mode::Prompt);
    ctrl(&mut a, 'u');
    typ(&mut a, "/tmp/body.json");
    let fx = code(&mut a, KeyCode::Enter);
    assert_eq!(
        fx,
        [Effect::SaveBody {
            path: "/tmp/body.json".into(),
            bytes: body.into_bytes()
        }]
    );
}
