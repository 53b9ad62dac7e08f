//! Scripted message sequences into `App::handle`, asserting state and effects.
mod ui_support;

use apitop::ui::app::{Effect, Msg, Tab};
use apitop::ui::clipboard::Route;
use apitop::ui::keymap::{self, Mode};
use apitop::ui::layout::Pane;
use apitop::ui::picker::ProcessRow;
use apitop::ui::store::SortKey;
use apitop::ui::App;
use apitop::ui::Config;
use capture::output::Output;
use capture::procinfo::{ProcessInfo, TlsStatus};
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

fn proc_row(pid: u32, comm: &str, tls: TlsStatus, ports: &[u16]) -> ProcessRow {
    ProcessRow {
        info: ProcessInfo {
            pid,
            ppid: 1,
            uid: 1000,
            user: "ada".into(),
            comm: comm.into(),
            cmdline: format!("/usr/bin/{comm} --serve"),
            exe: None,
            tls,
        },
        ports: ports.to_vec(),
    }
}

pub fn procs() -> Vec<ProcessRow> {
    vec![
        proc_row(
            100,
            "nginx",
            TlsStatus::openssl_shared("libssl.so.3"),
            &[443, 80],
        ),
        proc_row(
            200,
            "python3",
            TlsStatus::openssl_shared("libssl.so.3"),
            &[],
        ),
        proc_row(
            300,
            "gateway",
            TlsStatus::go_refused("go 1.16 (crypto/tls) — before Go 1.17's register ABI"),
            &[8443],
        ),
        proc_row(400, "node", TlsStatus::openssl_in_exe(), &[3000]),
        proc_row(500, "bash", TlsStatus::no_tls(), &[]),
    ]
}

#[test]
fn picker_narrows_marks_and_attaches() {
    let mut a = app_with(Config {
        open_picker: true,
        targets: vec![],
        ..config()
    });
    assert_eq!(a.start(), [Effect::RefreshProcesses]);
    assert_eq!(a.mode(), Mode::Picker);
    a.handle(Msg::Processes(procs()));
    let p = a.picker().expect("picker");
    let order: Vec<u32> = p.rows().map(|r| r.info.pid).collect();
    assert_eq!(order, [100, 200, 400, 300, 500], "capturable first");
    // Typing narrows (pid, name, user, command line, TLS); q and j are text here.
    typ(&mut a, "openssl");
    let shown: Vec<u32> = a.picker().expect("p").rows().map(|r| r.info.pid).collect();
    assert_eq!(shown, [100, 200, 400]);
    ctrl(&mut a, 'u');
    typ(&mut a, "pyth");
    let shown: Vec<u32> = a.picker().expect("p").rows().map(|r| r.info.pid).collect();
    assert_eq!(shown, [200]);
    key(&mut a, ' ');
    // Marks survive a new search.
    ctrl(&mut a, 'u');
    typ(&mut a, "3000");
    key(&mut a, ' ');
    assert_eq!(a.picker().expect("p").marked.len(), 2);
    let fx = code(&mut a, KeyCode::Enter);
    assert_eq!(fx, [Effect::Attach(vec![200, 400])]);
    assert!(a.picker().is_none());
    let targets: Vec<u32> = a.targets().iter().map(|t| t.pid).collect();
    assert_eq!(targets, [200, 400]);
    assert!(a.notice().expect("notice").text.contains("will be seen"));
}

#[test]
fn picker_explains_uncapturable_and_does_not_attach_them() {
    let mut a = app_with(Config {
        open_picker: true,
        targets: vec![],
        ..config()
    });
    a.start();
    a.handle(Msg::Processes(procs()));
    typ(&mut a, "gateway");
    let fx = code(&mut a, KeyCode::Enter);
    assert!(fx.is_empty());
    let p = a.picker().expect("still open");
    let msg = p.message.as_deref().expect("message");
    assert!(
        msg.contains("go 1.16 (crypto/tls)") && msg.contains("won't be seen"),
        "{msg}"
    );
    // Mixed choice: the capturable one is attached, the other explained.
    ctrl(&mut a, 'u');
    key(&mut a, ' '); // nginx
    code(&mut a, KeyCode::End);
    typ(&mut a, "300");
    key(&mut a, ' ');
    let fx = code(&mut a, KeyCode::Enter);
    assert_eq!(fx, [Effect::Attach(vec![100])]);
    assert!(a.notice().expect("notice").text.contains("won't be seen"));
}

#[test]
fn picker_detach_and_reopen_with_p() {
    let mut a = app();
    let fx = key(&mut a, 'p');
    assert_eq!(fx, [Effect::RefreshProcesses]);
    a.handle(Msg::Processes(vec![proc_row(
        4242,
        "curl",
        TlsStatus::openssl_shared("libssl.so.3"),
        &[],
    )]));
    let fx = ctrl(&mut a, 'd');
    assert_eq!(fx, [Effect::Detach(4242)]);
    assert!(a.targets().is_empty());
    code(&mut a, KeyCode::Esc);
    assert!(a.picker().is_none());
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
