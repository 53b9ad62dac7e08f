//! The filter grammar: primitives, operators, precedence, errors.
mod ui_support;

use apitop::ui::filter::{Filter, PRIMITIVES};
use ui_support::*;

fn m(src: &str, e: &capture::exchange::Exchange) -> bool {
    Filter::parse(src)
        .unwrap_or_else(|err| panic!("{src}: {err}"))
        .expect("non-empty")
        .matches(e)
}

#[test]
fn primitives_match_their_field() {
    let get = ex(1, "GET", "api.example.com", "/users/42?x=1", Some(404), 5);
    let post = with_request_body(
        ex(2, "POST", "auth.example.org", "/login", Some(503), 5),
        "application/json",
        b"{\"user\":\"ada\"}",
    );
    assert!(m("~m get", &get));
    assert!(!m("~m POST", &get));
    assert!(m("~c 404", &get));
    assert!(m("~c 4xx", &get));
    assert!(!m("~c 5xx", &get));
    assert!(m("~c 5XX", &post));
    assert!(m("~d ^api\\.", &get));
    assert!(!m("~d auth", &get));
    assert!(m("~u users/\\d+", &get));
    assert!(m("~h user-agent:\\s*curl", &get));
    assert!(!m("~h x-missing", &get));
    assert!(m("~b ada", &post));
    assert!(!m("~b ada", &get));
    assert!(m("~p 4242", &get));
    assert!(m("~p ^cur", &get));
    assert!(!m("~p 1", &get));
    assert!(m("~t json", &post));
    assert!(m("~t text/plain", &get));
    // A bare word is a URL regex.
    assert!(m("users", &get));
    assert!(m("https://api", &get));
    assert!(m("'^https://api\\.example\\.com/users/42\\?x=1$'", &get));
    let mut abs = ex(3, "GET", "h", "http://other.example:8080/p", Some(200), 1);
    assert!(m("'^http://other\\.example:8080/p$'", &abs));
    abs.request.headers.clear();
    assert!(m("~d ^93\\.184", &abs), "no Host header: the peer address");
    assert!(!m("login", &get));
}

#[test]
fn operators_and_precedence() {
    let get404 = ex(1, "GET", "api.example.com", "/a", Some(404), 5);
    let post500 = ex(2, "POST", "api.example.com", "/b", Some(500), 5);
    let get200 = ex(3, "GET", "api.example.com", "/c", Some(200), 5);
    let f = "~m GET & (~c 404 | ~c 5xx)";
    assert!(m(f, &get404));
    assert!(!m(f, &post500));
    assert!(!m(f, &get200));
    // & binds tighter than |.
    assert!(m("~m POST | ~m GET & ~c 404", &post500));
    assert!(!m("(~m POST | ~m GET) & ~c 404", &post500));
    // Juxtaposition is and; words and/or/not work too.
    assert!(m("~m GET ~c 404", &get404));
    assert!(!m("~m GET ~c 404", &get200));
    assert!(m("~c 404 or ~c 5xx", &post500));
    assert!(m("not ~c 404", &get200));
    assert!(m("!~c 404", &get200));
    assert!(!m("!(~c 404 | ~c 200)", &get200));
    assert!(m("!!~c 200", &get200));
    // Quoted arguments keep spaces and operators.
    let mut e = ex(4, "GET", "x", "/q", Some(200), 1);
    e.request.headers.push(("X-Note".into(), "a | b".into()));
    assert!(m("~h 'a | b'", &e));
    assert!(m("~h \"X-Note: a\"", &e));
}

#[test]
fn no_response_matches_no_status() {
    let e = ex(1, "GET", "h", "/", None, 0);
    assert!(!m("~c 200", &e));
    assert!(!m("~c 2xx", &e));
    assert!(m("!~c 2xx", &e));
}

#[test]
fn empty_is_no_filter() {
    assert!(Filter::parse("").expect("ok").is_none());
    assert!(Filter::parse("   ").expect("ok").is_none());
}

#[test]
fn errors_point_at_the_problem() {
    let cases = [
        ("~m", 0, "needs an argument"),
        ("~c 99", 0, "~c 99"),
        ("~c 6xx", 0, "~c 6xx"),
        ("~z foo", 0, "unknown ~z"),
        ("(~m GET", 0, "never closed"),
        ("~m GET)", 6, "unbalanced"),
        ("~u [a", 0, "invalid regex"),
        ("~m GET ~b 'a('", 7, "invalid regex"),
        ("~m GET &", 8, "ends too early"),
        ("| ~m GET", 0, "on its left"),
        ("~h 'open", 3, "unterminated"),
        ("~", 0, "needs a letter"),
    ];
    for (src, at, msg) in cases {
        let err = Filter::parse(src).expect_err(src);
        assert_eq!(err.at, at, "{src}: {err}");
        assert!(err.message.contains(msg), "{src}: {}", err.message);
    }
}

#[test]
fn help_table_covers_every_primitive_the_parser_knows() {
    let codes: String = PRIMITIVES.iter().map(|p| p.code).collect();
    assert_eq!(codes, "mcduhbpt");
    for p in PRIMITIVES {
        // Every listed primitive parses with a sample argument.
        let arg = match p.code {
            'c' => "200",
            'p' => "1",
            _ => "x",
        };
        assert!(
            Filter::parse(&format!("~{} {arg}", p.code)).is_ok(),
            "~{}",
            p.code
        );
        assert!(!p.help.is_empty());
    }
}
