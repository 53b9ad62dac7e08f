//! The endpoint tree pane, scripted through `App::handle`: drilling the list into an endpoint,
//! collapsing, and per-node counts that follow the filter and the store's evictions.
mod ui_support;

use apitop::ui::layout::Pane;
use apitop::ui::App;
use apitop::ui::Config;
use crossterm::event::KeyCode;
use ui_support::*;

#[test]
fn tree_drill_down_filters_the_list_and_esc_clears() {
    let mut a = app();
    feed(&mut a, sample());
    code(&mut a, KeyCode::BackTab);
    assert_eq!(a.focus(), Pane::Tree);
    // Rows: api.example.com, /users, /users/{id}, ...
    key(&mut a, 'j');
    key(&mut a, 'j');
    let node = a.tree_selected().expect("a node");
    assert_eq!(a.tree().template(node), "api.example.com/users/{id}");
    code(&mut a, KeyCode::Enter);
    assert_eq!(a.drill(), Some(node));
    assert_eq!(a.visible_ids(), [1, 2, 4, 5]);
    // New arrivals respect the drill-down.
    feed(
        &mut a,
        [
            ex(9, "GET", "api.example.com", "/users/77", Some(200), 1),
            ex(10, "GET", "api.example.com", "/health", Some(200), 1),
        ],
    );
    assert_eq!(a.visible_ids(), [1, 2, 4, 5, 9]);
    // The filter combines with it.
    a.set_filter("~c 200".into());
    assert_eq!(a.visible_ids(), [1, 2, 9]);
    code(&mut a, KeyCode::Esc);
    assert_eq!(a.drill(), None);
    assert_eq!(a.visible_ids(), [1, 2, 6, 9, 10]);
    // Collapse and expand.
    key(&mut a, 'g');
    key(&mut a, 'h');
    let host = a.tree_selected().expect("host");
    assert!(a.is_collapsed(host));
    key(&mut a, 'l');
    assert!(!a.is_collapsed(host));
}

#[test]
fn the_endpoint_tree_follows_the_filter() {
    let mut a = app();
    feed(&mut a, sample());
    let host = |a: &App, name: &str| {
        a.tree()
            .visible(&std::collections::HashSet::new())
            .into_iter()
            .find(|&n| a.tree().template(n) == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    };
    let api = host(&a, "api.example.com");
    let cdn = host(&a, "cdn.example.net");
    let api_all = a.node_stats(api).count;
    assert!(!a.tree_is_filtered());
    key(&mut a, '/');
    typ(&mut a, "~c 5xx");
    code(&mut a, KeyCode::Enter);
    assert!(a.tree_is_filtered());
    let api_errors = a.visible_ids().iter().filter(|&&id| id == 5).count() as u64;
    assert_eq!(
        a.node_stats(api).count,
        api_errors,
        "only the 5xx under api.example.com"
    );
    assert_eq!(a.node_stats(api).status[4], api_errors);
    assert_eq!(a.node_stats(cdn).count, 0);
    // New arrivals count in the filtered tree only when they match.
    feed(
        &mut a,
        [
            ex(100, "GET", "cdn.example.net", "/static/x.js", Some(503), 5),
            ex(101, "GET", "cdn.example.net", "/static/y.js", Some(200), 5),
        ],
    );
    assert_eq!(a.node_stats(cdn).count, 1);
    assert_eq!(
        a.tree().node(cdn).stats.count,
        3,
        "the full tree still counts everything"
    );
    // Clearing the filter shows everything again.
    key(&mut a, '/');
    ctrl(&mut a, 'u');
    code(&mut a, KeyCode::Enter);
    assert!(!a.tree_is_filtered());
    assert_eq!(a.node_stats(api).count, api_all);
}

#[test]
fn the_endpoint_tree_shows_what_the_store_holds() {
    let mut a = app_with(Config {
        max_exchanges: 2,
        ..config()
    });
    // A filter in force: its per-node counts must follow evictions too.
    key(&mut a, '/');
    typ(&mut a, "~c 2xx");
    code(&mut a, KeyCode::Enter);
    feed(
        &mut a,
        [
            ex(1, "GET", "old.example", "/a", Some(200), 5),
            ex(2, "GET", "old.example", "/b", Some(200), 5),
            ex(3, "GET", "new.example", "/c", Some(200), 5),
            ex(4, "POST", "new.example", "/c", Some(500), 5),
        ],
    );
    let t = a.tree();
    let rows: Vec<String> = t
        .visible(&std::collections::HashSet::new())
        .into_iter()
        .map(|n| format!("{} {}", t.template(n), t.node(n).stats.count))
        .collect();
    assert_eq!(rows, ["new.example 2", "new.example/c 2"]);
    let new = t.node(apitop::ui::endpoints::ROOT).children[0];
    assert_eq!(
        a.node_stats(new).count,
        1,
        "only the 2xx matches the filter"
    );
    assert_eq!(a.store().evicted, 2);
}
