//! The exchange list, scripted through `App::handle`: following the newest, the filter bar,
//! sorting, and eviction from a full store.
mod ui_support;

use apitop::ui::app::Msg;
use apitop::ui::keymap::Mode;
use apitop::ui::store::SortKey;
use apitop::ui::Config;
use crossterm::event::KeyCode;
use ui_support::*;

#[test]
fn follow_tracks_the_newest_until_the_user_moves() {
    let mut a = app();
    feed(&mut a, sample().into_iter().take(3));
    assert!(a.follow());
    assert_eq!(a.selected_exchange().map(|e| e.id), Some(3));
    key(&mut a, 'k');
    assert!(!a.follow(), "moving turns follow off");
    assert_eq!(a.selected_exchange().map(|e| e.id), Some(2));
    feed(&mut a, sample().into_iter().skip(3));
    assert_eq!(
        a.selected_exchange().map(|e| e.id),
        Some(2),
        "selection follows the id"
    );
    key(&mut a, 'F');
    assert!(a.follow());
    assert_eq!(a.selected_exchange().map(|e| e.id), Some(8));
    key(&mut a, 'g');
    assert_eq!(a.selected_exchange().map(|e| e.id), Some(1));
    key(&mut a, 'G');
    assert_eq!(a.selected_exchange().map(|e| e.id), Some(8));
    code(&mut a, KeyCode::PageUp);
    assert_eq!(
        a.selected_exchange().map(|e| e.id),
        Some(1),
        "page is larger than 8 rows"
    );
    code(&mut a, KeyCode::Down);
    code(&mut a, KeyCode::Down);
    assert_eq!(a.selected_row(), 2);
}

#[test]
fn filter_applies_as_you_type_and_keeps_the_last_valid() {
    let mut a = app();
    feed(&mut a, sample());
    assert_eq!(a.view_len(), 8);
    key(&mut a, '/');
    assert_eq!(a.mode(), Mode::Filter);
    typ(&mut a, "~c 5xx");
    assert_eq!(a.visible_ids(), [5, 7]);
    assert_eq!(a.filter_error(), None);
    // Typing on: "~c 5xx & ~m" is incomplete; the last valid filter stays.
    typ(&mut a, " & ~m");
    assert!(a.filter_error().is_some());
    assert_eq!(a.active_filter(), Some("~c 5xx"));
    assert_eq!(a.visible_ids(), [5, 7]);
    typ(&mut a, " delete");
    assert_eq!(a.filter_error(), None);
    assert_eq!(a.visible_ids(), [5]);
    code(&mut a, KeyCode::Enter);
    assert!(!a.filter_open());
    assert_eq!(a.mode(), Mode::List);
    // Esc in a reopened bar restores what was in force before it opened.
    key(&mut a, 'f');
    ctrl(&mut a, 'u');
    assert_eq!(a.view_len(), 8);
    typ(&mut a, "~d cdn");
    assert_eq!(a.visible_ids(), [6]);
    code(&mut a, KeyCode::Esc);
    assert_eq!(a.filter_text(), "~c 5xx & ~m delete");
    assert_eq!(a.visible_ids(), [5]);
    // Letters typed in the bar are text, not commands.
    key(&mut a, '/');
    typ(&mut a, "q");
    assert!(!a.should_quit());
    // Backspace edits.
    code(&mut a, KeyCode::Backspace);
    assert_eq!(a.filter_text(), "~c 5xx & ~m delete");
}

#[test]
fn new_exchanges_are_tested_against_the_filter() {
    let mut a = app();
    a.set_filter("~m POST".into());
    feed(&mut a, sample());
    assert_eq!(a.visible_ids(), [3]);
    assert_eq!(a.selected_exchange().map(|e| e.id), Some(3));
}

#[test]
fn sort_cycles_and_reverse_flips() {
    let mut a = app();
    feed(&mut a, sample());
    assert_eq!(a.sort(), SortKey::Time);
    key(&mut a, 'o');
    assert_eq!(a.sort(), SortKey::Duration);
    // No response (id 8) has no duration and sorts first; ties by arrival.
    assert_eq!(a.visible_ids(), [8, 6, 4, 1, 2, 3, 5, 7]);
    key(&mut a, 'v');
    assert!(a.reverse());
    assert_eq!(a.visible_ids(), [7, 5, 3, 2, 1, 4, 6, 8]);
    key(&mut a, 'o');
    assert_eq!(a.sort(), SortKey::Size);
    key(&mut a, 'o');
    assert_eq!(a.sort(), SortKey::Status);
    assert_eq!(a.visible_ids()[..2], [7, 5], "503 then 500, reversed");
    // Arrivals under a non-time sort are merged in at their place.
    feed(&mut a, [ex(9, "GET", "x", "/", Some(502), 1)]);
    assert_eq!(a.visible_ids()[..3], [7, 9, 5]);
    key(&mut a, 'o');
    key(&mut a, 'v');
    assert_eq!(a.sort(), SortKey::Time);
    assert_eq!(a.visible_ids(), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
}

#[test]
fn eviction_keeps_the_newest_and_says_so() {
    let mut a = app_with(Config {
        max_exchanges: 3,
        ..config()
    });
    feed(&mut a, sample().into_iter().take(5));
    assert_eq!(a.store().len(), 3);
    assert_eq!(a.store().evicted, 2);
    assert_eq!(a.visible_ids(), [3, 4, 5]);
    // Under another sort too.
    key(&mut a, 'o');
    feed(&mut a, sample().into_iter().skip(5));
    assert_eq!(a.store().evicted, 5);
    let mut ids = a.visible_ids();
    ids.sort();
    assert_eq!(ids, [6, 7, 8]);
}

/// Over a large store the list is refiltered once typing pauses (or on Enter), not per key:
/// every key stays responsive at a million exchanges.
#[test]
fn filter_over_a_large_store_waits_for_a_pause_in_typing() {
    let mut app = app_with(Config {
        fixed_now: None,
        ..config()
    });
    let n = 60_000u64;
    feed(
        &mut app,
        (0..n).map(|i| {
            let status = if i % 10 == 0 { 503 } else { 200 };
            ex(i + 1, "GET", "api.example.com", "/a", Some(status), 5)
        }),
    );
    assert_eq!(app.visible_ids().len(), n as usize);
    key(&mut app, '/');
    typ(&mut app, "~c 5xx");
    assert_eq!(
        app.visible_ids().len(),
        n as usize,
        "no pass over the store while keys come in"
    );
    app.handle(Msg::Tick(100_000_000));
    assert_eq!(app.visible_ids().len(), n as usize, "not yet: 100 ms");
    app.handle(Msg::Tick(200_000_000));
    assert_eq!(
        app.visible_ids().len(),
        (n / 10) as usize,
        "applied after the pause"
    );
    // Enter applies at once (the filter bar is still open).
    for _ in 0..3 {
        code(&mut app, KeyCode::Backspace);
    }
    typ(&mut app, "4xx");
    assert_eq!(app.visible_ids().len(), (n / 10) as usize);
    code(&mut app, KeyCode::Enter);
    assert_eq!(app.visible_ids().len(), 0, "~c 4xx applied on Enter");
}
