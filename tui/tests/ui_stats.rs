//! The stats view per endpoint, scripted through `App::handle`: sorting and presets, drilling
//! into an endpoint, following the filter and new traffic.
mod ui_support;

use apitop::ui::app::Msg;
use apitop::ui::keymap::Mode;
use apitop::ui::App;
use apitop::ui::Config;
use capture::output::Output;
use crossterm::event::KeyCode;
use ui_support::*;

/// `s` opens a table per endpoint template of what the list shows; columns sort, presets
/// pick slow and big, Enter drills the list into the endpoint, and the view follows the filter.
#[test]
fn stats_view_per_endpoint() {
    let mut a = app();
    feed(&mut a, sample());
    key(&mut a, 's');
    assert_eq!(a.mode(), Mode::Stats);
    let templates = |a: &App| -> Vec<(String, u64)> {
        a.stats_view()
            .unwrap()
            .rows
            .iter()
            .map(|r| (r.template.clone(), r.count))
            .collect()
    };
    // By count: /users/{id} holds 2 (42, 43) + the DELETE of 44.
    let rows = templates(&a);
    assert_eq!(rows[0], ("api.example.com/users/{id}".to_string(), 3));
    assert_eq!(rows.len(), 6, "{rows:?}");
    // Slow: the 1.5 s token call first.
    key(&mut a, 'S');
    assert_eq!(templates(&a)[0].0, "auth.example.org/oauth/token");
    // Big: the JSON body of /users/42 first.
    key(&mut a, 'B');
    assert_eq!(templates(&a)[0].0, "api.example.com/users/{id}");
    let screen = text(&render(&mut a, 120, 24));
    assert!(screen.contains("Stats per endpoint"), "{screen}");
    assert!(
        screen.contains("latency of api.example.com/users/{id}"),
        "{screen}"
    );
    // Enter: the list shows that endpoint's exchanges.
    code(&mut a, KeyCode::Enter);
    assert_eq!(a.mode(), Mode::List);
    assert_eq!(a.visible_ids(), [1, 2, 5]);
    code(&mut a, KeyCode::Esc);
    // The view follows the filter.
    key(&mut a, '/');
    typ(&mut a, "~c 5xx");
    code(&mut a, KeyCode::Enter);
    key(&mut a, 's');
    let rows = templates(&a);
    assert_eq!(rows.len(), 2, "{rows:?}");
    key(&mut a, 'q');
    assert_eq!(a.mode(), Mode::List);
}

/// An open stats view follows new traffic: rebuilt on a tick once a second has passed and the
/// list changed.
#[test]
fn stats_view_refreshes_with_traffic() {
    let mut a = app_with(Config {
        fixed_now: None,
        ..config()
    });
    let t0 = 1_700_000_000_000_000_000u64;
    a.handle(Msg::Tick(t0));
    feed_at(&mut a, sample().into_iter().take(2), t0);
    key(&mut a, 's');
    let count = |a: &App| -> u64 { a.stats_view().unwrap().rows.iter().map(|r| r.count).sum() };
    assert_eq!(count(&a), 2);
    feed_at(&mut a, sample().into_iter().skip(2), t0 + 100_000_000);
    assert_eq!(count(&a), 2, "not within the second");
    a.handle(Msg::Tick(t0 + 1_200_000_000));
    assert_eq!(count(&a), 8);
}

fn feed_at(a: &mut App, xs: impl IntoIterator<Item = capture::exchange::Exchange>, now: u64) {
    for x in xs {
        a.handle(Msg::Capture(Output::Exchange(Box::new(x))));
    }
    a.handle(Msg::Tick(now));
}
