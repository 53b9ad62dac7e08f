//! Endpoint folding and the tree's aggregates.
mod ui_support;

use apitop::ui::endpoints::{fold, is_id, EndpointTree, Latency, MAX_CHILDREN, OTHER, ROOT};
use ui_support::*;

#[test]
fn ids_fold_and_words_do_not() {
    for id in [
        "42",
        "0",
        "550e8400-e29b-41d4-a716-446655440000",
        "3f9a1c2e",
        "deadbeef01",
        "507f1f77bcf86cd799439011",
        "01HZY3K2J9X8QWERTY12345678",
        "eyJhbGciOiJIUzI1NiJ9_abc123",
    ] {
        assert!(is_id(id), "{id} should fold");
        assert_eq!(fold(id), "{id}");
    }
    for word in [
        "users",
        "v1",
        "api",
        "health",
        "orders",
        "deadbeef",
        "app.js",
        "oauth2",
        "",
        "application-settings",
        "x86_64",
    ] {
        assert!(!is_id(word), "{word} should stay");
        assert_eq!(fold(word), word);
    }
}

#[test]
fn tree_groups_by_template_and_counts_subtrees() {
    let mut t = EndpointTree::default();
    let leaves: Vec<u32> = sample().iter().map(|e| t.insert(e)).collect();
    assert_eq!(t.template(leaves[0]), "api.example.com/users/{id}");
    assert_eq!(leaves[0], leaves[1], "users/42 and users/43 share a node");
    assert_eq!(
        t.template(leaves[3]),
        "api.example.com/users/{id}/orders",
        "UUID folded"
    );
    assert_eq!(
        t.template(leaves[5]),
        "cdn.example.net/static/app.3f9a1c2e.js"
    );
    assert_eq!(
        t.template(leaves[6]),
        "auth.example.org/oauth/token",
        "query dropped"
    );
    let users_id = t.node(leaves[0]);
    assert_eq!(
        users_id.stats.count, 4,
        "42, 43, uuid (via its orders child), 44"
    );
    assert_eq!(users_id.example, "/users/42");
    let methods: Vec<&str> = users_id
        .stats
        .methods
        .iter()
        .map(|(m, _)| m.as_str())
        .collect();
    assert_eq!(methods, ["GET", "DELETE"]);
    // status classes [1xx, 2xx, 3xx, 4xx, 5xx, none]
    assert_eq!(users_id.stats.status, [0, 2, 0, 1, 1, 0]);
    let host = t.node(users_id.parent).parent;
    assert_eq!(t.node(host).segment, "api.example.com");
    assert_eq!(t.node(host).stats.count, 6);
    assert_eq!(
        t.node(host).stats.status[5],
        1,
        "the /health call without a response"
    );
    assert!(t.is_within(leaves[3], host));
    assert!(!t.is_within(leaves[5], host));
    assert!(t.is_within(leaves[0], ROOT));
    // Visible rows: depth-first, hosts in first-seen order.
    let rows: Vec<String> = t
        .visible(&Default::default())
        .iter()
        .map(|&n| t.template(n))
        .collect();
    assert_eq!(rows[0], "api.example.com");
    assert_eq!(rows[1], "api.example.com/users");
    assert_eq!(rows[2], "api.example.com/users/{id}");
    assert_eq!(rows[3], "api.example.com/users/{id}/orders");
    assert!(rows.contains(&"auth.example.org/oauth/token".to_string()));
    let collapsed = [host].into_iter().collect();
    assert!(!t
        .visible(&collapsed)
        .iter()
        .any(|&n| t.template(n).starts_with("api.example.com/")));
}

#[test]
fn unfoldable_unique_segments_are_capped() {
    let mut t = EndpointTree::default();
    let words = ["alpha", "beta", "gamma", "delta", "kappa", "omega"];
    let mut last = 0;
    for i in 0..(MAX_CHILDREN + 50) {
        let seg = format!("{}{}", words[i % words.len()], "x".repeat(i / words.len()));
        last = t.insert(&ex(
            i as u64,
            "GET",
            "h",
            &format!("/p/{seg}"),
            Some(200),
            1,
        ));
    }
    assert_eq!(t.node(last).segment, OTHER);
    let parent = t.node(last).parent;
    assert_eq!(t.node(parent).children.len(), MAX_CHILDREN + 1);
}

#[test]
fn latency_quantiles_are_close() {
    let mut l = Latency::default();
    assert_eq!(l.quantile(0.5), None);
    for ms in 1..=100u64 {
        l.record(ms * 1_000_000);
    }
    let p50 = l.quantile(0.5).expect("p50") as f64 / 1e6;
    let p95 = l.quantile(0.95).expect("p95") as f64 / 1e6;
    assert!((45.0..=75.0).contains(&p50), "p50 {p50}");
    assert!((90.0..=140.0).contains(&p95), "p95 {p95}");
    assert!(p95 > p50);
}

#[test]
fn latency_quantiles_are_within_a_few_percent() {
    let mut one = Latency::default();
    one.record(43_123_000);
    assert_eq!(
        one.quantile(0.5),
        Some(43_123_000),
        "a single sample is exact"
    );
    let mut l = Latency::default();
    for ms in 1..=100u64 {
        l.record(ms * 1_000_000);
    }
    let p50 = l.quantile(0.5).unwrap() as f64 / 1e6;
    let p95 = l.quantile(0.95).unwrap() as f64 / 1e6;
    assert!((p50 - 50.0).abs() / 50.0 < 0.05, "p50 {p50}");
    assert!((p95 - 95.0).abs() / 95.0 < 0.05, "p95 {p95}");
    // Mostly fast with a slow tail: p50 stays fast, p95 finds the tail.
    let mut m = Latency::default();
    for i in 0..100u64 {
        m.record(if i < 90 { 150_000 } else { 2_000_000_000 });
    }
    assert!(m.quantile(0.5).unwrap() < 170_000);
    assert!(m.quantile(0.95).unwrap() > 1_800_000_000);
}
