//! Bad input never panics: the filter language and "Copy as…" (every format) under mutational
//! fuzzing (fuzz/harness.rs; seeds in fuzz/corpus/filter and fuzz/corpus/curl).
#[path = "../../fuzz/harness.rs"]
mod harness;
mod ui_support;

use apitop::ui::copy_as::{snippet, Format};
use apitop::ui::curl::{args, curl, printf_format};
use apitop::ui::filter::Filter;
use capture::exchange::{Exchange, Protocol};
use harness::{fuzz, records};
use ui_support::*;

fn exchanges() -> Vec<Exchange> {
    let mut h2 = with_response_body(
        ex(2, "POST", "auth.example.org", "/login", Some(503), 5),
        "application/json",
        b"{\"user\":\"ada\"}\xff",
    );
    h2.protocol = Protocol::Http2;
    h2.request.headers.push((":authority".into(), "x".into()));
    vec![
        ex(1, "GET", "api.example.com", "/users/42?x=1", Some(404), 5),
        h2,
        ex(3, "DELETE", "", "http://other:8080/p", None, 0),
    ]
}

#[test]
fn fuzz_filter() {
    let exs = exchanges();
    fuzz("filter", 1000, 512, |input| {
        let src = String::from_utf8_lossy(input);
        if let Ok(Some(f)) = Filter::parse(&src) {
            let _ = f.source();
            for e in &exs {
                let _ = f.matches(e);
            }
        }
    });
}

/// A deeply nested or very long expression is an error or a filter, not a stack overflow
/// (which no test harness can catch).
#[test]
fn deep_filters_do_not_overflow_the_stack() {
    let exs = exchanges();
    for src in [
        "(".repeat(100_000),
        format!("{}~m GET{}", "(".repeat(50_000), ")".repeat(50_000)),
        "!".repeat(100_000) + "x",
        "not ".repeat(50_000) + "x",
        "a ".repeat(100_000),
        "a | ".repeat(50_000) + "a",
    ] {
        // On a thread with the stack of the UI's workers (tokio's blocking pool: 2 MiB).
        let exs = exs.clone();
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                if let Ok(Some(f)) = Filter::parse(&src) {
                    for e in &exs {
                        let _ = f.matches(e);
                    }
                }
            })
            .expect("thread")
            .join()
            .expect("no panic");
    }
}

#[test]
fn fuzz_curl() {
    fuzz("curl", 10000, 2048, |input| {
        let recs = records(input);
        if recs.len() < 3 {
            return;
        }
        let s = |i: usize| String::from_utf8_lossy(recs[i].1).into_owned();
        let flags = recs[0].0;
        let mut e = ex(1, &s(0), &s(2), &s(1), Some(200), 1);
        e.protocol = if flags & 1 != 0 {
            Protocol::Http2
        } else {
            Protocol::Http1
        };
        e.tls = flags & 2 != 0;
        e.request.headers.clear();
        if !s(2).is_empty() {
            e.request.headers.push(("Host".into(), s(2)));
        }
        let rest = &recs[3..];
        for pair in rest.chunks(2) {
            match pair {
                [(_, n), (_, v)] => e.request.headers.push((
                    String::from_utf8_lossy(n).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )),
                [(_, b)] => {
                    e.request.body = body(b);
                    if flags & 4 != 0 {
                        e.request.body.raw_len += 10;
                        e.request.body.truncated = true;
                    }
                }
                _ => {}
            }
        }
        let c = curl(&e);
        let _ = args(&e);
        let _ = printf_format(&e.request.body.data);
        // What is copied is one shell command: it must lex.
        assert!(
            shlex::split(&c.command).is_some(),
            "does not lex: {:?}",
            c.command
        );
        if let Some(g) = &c.grpcurl {
            assert!(shlex::split(g).is_some(), "does not lex: {g:?}");
        }
        for f in Format::ALL {
            let Ok(s) = snippet(f, &e) else { continue };
            match f {
                // One comment line per note, then one shell command.
                Format::Curl | Format::Httpie | Format::Grpcurl => {
                    let skip = if f == Format::Httpie {
                        s.notes.len()
                    } else {
                        0
                    };
                    let cmd = s.text.splitn(skip + 1, '\n').last().unwrap_or_default();
                    assert!(shlex::split(cmd).is_some(), "{f:?} does not lex: {cmd:?}");
                }
                Format::Raw => assert!(!s.text.contains('\0')),
                Format::Python | Format::Fetch => {}
            }
        }
    });
}
