//! Comparing two exchanges (`=` on two marked ones): request line, status, headers by name, and
//! bodies. JSON bodies are compared structurally: both are flattened to `path = value` leaves
//! (`.items[0].id`), so a reordered object or reformatted document shows no difference and a
//! changed field shows exactly where. Other bodies are compared line by line.
use std::collections::BTreeMap;

use capture::exchange::{Body, Exchange};
use serde_json::Value;

/// Rows past this are cut (with a last row saying so): a pane never needs more.
pub const MAX_ROWS: usize = 20_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A section title.
    Section,
    Same,
    Changed,
    /// Only in the first (left) exchange.
    Left,
    /// Only in the second (right).
    Right,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub kind: Kind,
    /// Header name, JSON path, or line number.
    pub key: String,
    pub left: String,
    pub right: String,
}

fn row(
    kind: Kind,
    key: impl Into<String>,
    left: impl Into<String>,
    right: impl Into<String>,
) -> Row {
    Row {
        kind,
        key: key.into(),
        left: left.into(),
        right: right.into(),
    }
}

fn pair(key: &str, l: Option<String>, r: Option<String>) -> Row {
    match (l, r) {
        (Some(l), Some(r)) if l == r => row(Kind::Same, key, l, r),
        (Some(l), Some(r)) => row(Kind::Changed, key, l, r),
        (Some(l), None) => row(Kind::Left, key, l, ""),
        (None, Some(r)) => row(Kind::Right, key, "", r),
        (None, None) => row(Kind::Same, key, "", ""),
    }
}

/// The rows comparing `a` (left) with `b` (right).
pub fn compare(a: &Exchange, b: &Exchange) -> Vec<Row> {
    let mut out = vec![row(Kind::Section, "request", "", "")];
    out.push(pair(
        "method",
        Some(a.request.method.clone()),
        Some(b.request.method.clone()),
    ));
    out.push(pair("url", Some(a.url()), Some(b.url())));
    headers(&mut out, &a.request.headers, &b.request.headers);
    body(&mut out, &a.request.body, &b.request.body);
    out.push(row(Kind::Section, "response", "", ""));
    let status = |x: &Exchange| x.response.as_ref().map(|r| r.status.to_string());
    out.push(pair("status", status(a), status(b)));
    let took = |x: &Exchange| Some(super::format::duration(x.duration_ns()));
    out.push(pair("took", took(a), took(b)));
    let none = Vec::new();
    let (ra, rb) = (a.response.as_ref(), b.response.as_ref());
    headers(
        &mut out,
        ra.map_or(&none, |r| &r.headers),
        rb.map_or(&none, |r| &r.headers),
    );
    let empty = Body::default();
    body(
        &mut out,
        ra.map_or(&empty, |r| &r.body),
        rb.map_or(&empty, |r| &r.body),
    );
    if out.len() > MAX_ROWS {
        out.truncate(MAX_ROWS);
        out.push(row(
            Kind::Section,
            format!("… cut at {MAX_ROWS} rows"),
            "",
            "",
        ));
    }
    out
}

/// Headers by lower-cased name, repeated ones joined, in name order.
fn headers(out: &mut Vec<Row>, a: &[(String, String)], b: &[(String, String)]) {
    let (ma, mb) = (by_name(a), by_name(b));
    let mut names: Vec<&String> = ma.keys().chain(mb.keys()).collect();
    names.sort();
    names.dedup();
    for n in names {
        let get = |m: &BTreeMap<String, Vec<&str>>| m.get(n).map(|v| v.join(", "));
        out.push(pair(n, get(&ma), get(&mb)));
    }
}

/// Header values by lower-cased name.
fn by_name(h: &[(String, String)]) -> BTreeMap<String, Vec<&str>> {
    let mut m: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (n, v) in h {
        m.entry(n.to_ascii_lowercase()).or_default().push(v);
    }
    m
}

fn body(out: &mut Vec<Row>, a: &Body, b: &Body) {
    if a.data.is_empty() && b.data.is_empty() {
        return;
    }
    let json = |d: &[u8]| serde_json::from_slice::<Value>(d).ok();
    match (json(&a.data), json(&b.data)) {
        (Some(ja), Some(jb)) => {
            let (mut la, mut lb) = (BTreeMap::new(), BTreeMap::new());
            flatten(&ja, String::new(), &mut la);
            flatten(&jb, String::new(), &mut lb);
            let mut paths: Vec<&String> = la.keys().chain(lb.keys()).collect();
            paths.sort();
            paths.dedup();
            for p in paths {
                let key = if p.is_empty() { "body" } else { p.as_str() };
                out.push(pair(key, la.get(p).cloned(), lb.get(p).cloned()));
                if out.len() > MAX_ROWS {
                    return;
                }
            }
        }
        _ => {
            let text = |d: &[u8]| String::from_utf8_lossy(d).into_owned();
            let (ta, tb) = (text(&a.data), text(&b.data));
            let (la, lb): (Vec<&str>, Vec<&str>) = (ta.lines().collect(), tb.lines().collect());
            for i in 0..la.len().max(lb.len()) {
                let get = |l: &[&str]| l.get(i).map(|s| s.to_string());
                out.push(pair(&format!("body line {}", i + 1), get(&la), get(&lb)));
                if out.len() > MAX_ROWS {
                    return;
                }
            }
        }
    }
}

/// JSON leaves by path: `.a.b`, `[0]`, `.["odd key"]`; empty containers are leaves too.
fn flatten(v: &Value, path: String, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                let simple = !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                let p = if simple {
                    format!("{path}.{k}")
                } else {
                    format!("{path}[{}]", Value::String(k.clone()))
                };
                flatten(v, p, out);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, v) in a.iter().enumerate() {
                flatten(v, format!("{path}[{i}]"), out);
            }
        }
        leaf => {
            out.insert(path, leaf.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_json(id: u64, body: &str) -> Exchange {
        let mut x = *crate::ui::testing::ex(id, "api.test", "/users/1", 0, 0);
        x.end = Some(x.start + 1_000_000);
        if let Some(r) = x.response.as_mut() {
            r.body.data = body.as_bytes().to_vec();
        }
        x
    }

    fn changed(rows: &[Row]) -> Vec<(Kind, &str, &str, &str)> {
        rows.iter()
            .filter(|r| !matches!(r.kind, Kind::Same | Kind::Section))
            .map(|r| (r.kind, r.key.as_str(), r.left.as_str(), r.right.as_str()))
            .collect()
    }

    #[test]
    fn json_is_compared_by_structure_not_text() {
        let a = with_json(
            1,
            r#"{"id":1,"name":"Ada","tags":["a","b"],"x":{"y":null}}"#,
        );
        // Reordered and reformatted, one field changed, one added, one array shorter.
        let b = with_json(
            2,
            "{\n  \"tags\": [\"a\"],\n  \"name\": \"Grace\",\n  \"id\": 1,\n  \"x\": {\"y\": null},\n  \"new field\": true\n}",
        );
        let rows = compare(&a, &b);
        assert_eq!(
            changed(&rows),
            [
                (Kind::Changed, ".name", "\"Ada\"", "\"Grace\""),
                (Kind::Left, ".tags[1]", "\"b\"", ""),
                (Kind::Right, "[\"new field\"]", "", "true"),
            ]
        );
        assert!(rows.iter().any(|r| r.kind == Kind::Same && r.key == ".x.y"));
    }

    #[test]
    fn headers_by_name_and_text_bodies_by_line() {
        let mut a = with_json(1, "line one\nline two");
        let mut b = with_json(2, "line one\nline 2\nline three");
        a.request.headers = vec![("Accept".into(), "a".into()), ("X-A".into(), "1".into())];
        b.request.headers = vec![("accept".into(), "a".into()), ("X-B".into(), "2".into())];
        if let Some(r) = b.response.as_mut() {
            r.status = 500;
        }
        let rows = compare(&a, &b);
        let c = changed(&rows);
        assert!(c.contains(&(Kind::Left, "x-a", "1", "")), "{c:?}");
        assert!(c.contains(&(Kind::Right, "x-b", "", "2")), "{c:?}");
        assert!(
            c.contains(&(Kind::Changed, "status", "200", "500")),
            "{c:?}"
        );
        assert!(c.contains(&(Kind::Changed, "body line 2", "line two", "line 2")));
        assert!(c.contains(&(Kind::Right, "body line 3", "", "line three")));
        assert!(
            !c.iter().any(|r| r.1 == "accept"),
            "same header, other case"
        );
    }

    #[test]
    fn huge_bodies_are_cut() {
        let big: Vec<u64> = (0..30_000).collect();
        let a = with_json(1, &serde_json::to_string(&big).unwrap());
        let b = with_json(2, "[]");
        let rows = compare(&a, &b);
        assert_eq!(rows.len(), MAX_ROWS + 1);
        assert!(rows.last().unwrap().key.contains("cut"));
    }
}
