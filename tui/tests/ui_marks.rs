//! Marked exchanges and what acts on the list's rows, scripted through `App::handle`: the
//! marked-only view, deleting and clearing, writing to a file, comparing two marked exchanges.
mod ui_support;

use apitop::ui::app::Effect;
use apitop::ui::keymap::Mode;
use apitop::ui::App;
use crossterm::event::KeyCode;
use ui_support::*;

/// `m` marks, `M` shows only the marked (and back), a new arrival stays out of that view.
#[test]
fn marks_and_the_marked_only_view() {
    let mut a = app();
    feed(&mut a, sample().into_iter().take(6));
    key(&mut a, 'g');
    key(&mut a, 'm');
    key(&mut a, 'j');
    key(&mut a, 'j');
    key(&mut a, 'm');
    assert_eq!(a.store().marked(), 2);
    let screen = text(&render(&mut a, 120, 20));
    let marked_rows: Vec<&str> = screen.lines().filter(|l| l.contains("│●")).collect();
    assert_eq!(marked_rows.len(), 2, "{screen}");
    assert!(marked_rows[1].contains("POST"), "{screen}");
    assert!(screen.contains("2 marked"), "{screen}");
    key(&mut a, 'M');
    assert!(a.only_marked());
    assert_eq!(a.visible_ids(), [1, 3]);
    feed(&mut a, sample().into_iter().skip(6));
    assert_eq!(a.visible_ids(), [1, 3], "new exchanges are not marked");
    // Unmarking in the marked view takes it out of the view.
    key(&mut a, 'g');
    key(&mut a, 'm');
    assert_eq!(a.visible_ids(), [3]);
    key(&mut a, 'M');
    assert!(!a.only_marked());
    assert_eq!(a.visible_ids(), [1, 2, 3, 4, 5, 6, 7, 8]);
    // The filter and the marked view combine.
    key(&mut a, '/');
    typ(&mut a, "~m GET");
    code(&mut a, KeyCode::Enter);
    key(&mut a, 'M');
    assert_eq!(a.visible_ids(), Vec::<u64>::new(), "3 is a POST");
    key(&mut a, 'M');
    // With nothing marked, M says so and changes nothing.
    let mut b = app();
    feed(&mut b, sample());
    key(&mut b, 'M');
    assert!(!b.only_marked());
    assert!(b.notice().is_some_and(|n| n.error));
}

/// `d` deletes the selected exchange from the list and the endpoint tree; the selection moves
/// to the next row. `z` clears everything.
#[test]
fn delete_and_clear() {
    let mut a = app();
    feed(&mut a, sample());
    // What the endpoint tree counts under the host.
    let users = |a: &App| {
        let t = a.tree();
        let root = t.node(apitop::ui::endpoints::ROOT);
        root.children
            .iter()
            .find(|&&n| t.node(n).segment == "api.example.com")
            .map(|&n| t.node(n).stats.count)
    };
    assert_eq!(users(&a), Some(6));
    key(&mut a, 'g');
    key(&mut a, 'j');
    key(&mut a, 'm');
    key(&mut a, 'd');
    assert_eq!(a.visible_ids(), [1, 3, 4, 5, 6, 7, 8]);
    assert_eq!(a.selected_exchange().map(|e| e.id), Some(3));
    assert_eq!(users(&a), Some(5), "the tree no longer counts it");
    assert_eq!(a.store().marked(), 0, "a deleted exchange is not marked");
    // A re-sort or a filter change does not bring it back.
    key(&mut a, 'o');
    key(&mut a, '/');
    typ(&mut a, "api");
    code(&mut a, KeyCode::Enter);
    assert!(!a.visible_ids().contains(&2));
    key(&mut a, 'z');
    assert_eq!(a.view_len(), 0);
    assert!(a.store().is_empty());
    assert_eq!(users(&a), None);
    feed(&mut a, sample().into_iter().take(2));
    assert_eq!(a.view_len(), 2, "capture goes on after a clear");
}

/// `w` asks for a file name and writes the marked exchanges (or else the shown ones).
#[test]
fn write_prompts_for_a_name_and_hands_over_the_marked() {
    let mut a = app();
    feed(&mut a, sample());
    key(&mut a, 'w');
    assert_eq!(a.mode(), Mode::Prompt);
    assert_eq!(a.write_prompt().unwrap().what, "8 shown");
    code(&mut a, KeyCode::Esc);
    assert_eq!(a.mode(), Mode::List);
    key(&mut a, 'g');
    key(&mut a, 'm');
    key(&mut a, 'G');
    key(&mut a, 'm');
    key(&mut a, 'w');
    assert_eq!(a.write_prompt().unwrap().what, "2 marked");
    ctrl(&mut a, 'u');
    typ(&mut a, "/tmp/x.har");
    let fx = code(&mut a, KeyCode::Enter);
    let [Effect::Write { path, exchanges }] = &fx[..] else {
        panic!("one write: {fx:?}");
    };
    assert_eq!(path.to_str(), Some("/tmp/x.har"));
    let ids: Vec<u64> = exchanges.iter().map(|e| e.id).collect();
    assert_eq!(ids, [1, 8]);
    assert_eq!(a.mode(), Mode::List);
}

/// `=` compares the two marked exchanges: headers and JSON bodies side by side, differences
/// first-class; `x` hides what is the same. With other than two marked it says what to do.
#[test]
fn compare_two_marked_exchanges() {
    let mut a = app();
    let one = with_response_body(
        ex(1, "GET", "api.example.com", "/users/42", Some(200), 5),
        "application/json",
        br#"{"id":42,"name":"Ada","roles":["admin"]}"#,
    );
    let two = with_response_body(
        ex(2, "GET", "api.example.com", "/users/43", Some(200), 9),
        "application/json",
        br#"{"roles":["admin"],"name":"Grace","id":43}"#,
    );
    feed(&mut a, [one, two]);
    key(&mut a, '=');
    assert!(a.diff_view().is_none());
    assert!(a.notice().is_some_and(|n| n.text.contains("0 marked")));
    key(&mut a, 'g');
    key(&mut a, 'm');
    key(&mut a, 'G');
    key(&mut a, 'm');
    key(&mut a, '=');
    assert_eq!(a.mode(), Mode::Diff);
    let v = a.diff_view().unwrap();
    assert_eq!(v.ids, (1, 2));
    let screen = text(&render(&mut a, 120, 40));
    assert!(screen.contains("Compare #1 ↔ #2"), "{screen}");
    assert!(screen.contains(".name"), "{screen}");
    assert!(screen.contains("\"Ada\""), "{screen}");
    assert!(screen.contains("\"Grace\""), "{screen}");
    key(&mut a, 'x');
    let shown: Vec<String> = a
        .diff_view()
        .unwrap()
        .shown()
        .iter()
        .filter(|r| r.kind != apitop::ui::diff::Kind::Section)
        .map(|r| r.key.clone())
        .collect();
    // Reordered keys are no difference; the roles array is the same.
    assert_eq!(shown, ["url", "took", ".id", ".name"], "{shown:?}");
    code(&mut a, KeyCode::Esc);
    assert_eq!(a.mode(), Mode::List);
}
