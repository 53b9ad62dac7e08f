//! Copy as an HTTPie command (`http`, 3.x). The body comes from stdin through the same `printf`
//! pipe as curl's, so any bytes arrive exactly; without a body `--ignore-stdin` stops HTTPie
//! from reading one when stdin is not a terminal (scripts, CI).
use capture::exchange::Exchange;

use super::request::replay;
use super::shell::{join, printf_pipe};
use super::{comments, Snippet};

/// The characters HTTPie's request items treat as separators (`:`, `;`, `=`, `@` and their
/// combinations `:=`, `:@`, `==`…).
const SPECIAL: &[char] = &[':', ';', '=', '@'];

pub fn httpie(ex: &Exchange) -> Result<Snippet, String> {
    let r = replay(ex);
    r.needs_http2("HTTPie")?;
    // HTTPie takes its first word for the method only when it is letters.
    if r.method.is_empty() || !r.method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(format!(
            "HTTPie takes only letters as a method: {:?}",
            r.method
        ));
    }
    let mut argv = vec!["http".to_string()];
    if r.body.is_empty() {
        argv.push("--ignore-stdin".into());
    }
    argv.push(r.method.to_string());
    argv.push(r.url.clone());
    for (name, value) in &r.headers {
        argv.push(header_item(name, value)?);
    }
    let mut notes = r.notes.clone();
    notes.extend(r.downgrade_note("HTTPie"));
    notes.extend(r.rewrite_note("HTTPie"));
    let mut text = comments("#", &notes);
    if !r.body.is_empty() {
        text.push_str(&printf_pipe(r.body));
    }
    text.push_str(&join(&argv));
    Ok(Snippet { text, notes })
}

/// `Name:value`, or `Name;` for an empty value (`Name:` would remove the header). HTTPie reads
/// `\` before a separator character as an escape, so a separator in the name and an `=`/`@`
/// right after the colon (`:=` would be raw JSON, `:@` a file) are escaped; a backslash before
/// a separator cannot be written at all.
fn header_item(name: &str, value: &str) -> Result<String, String> {
    let backslash_before_special = |s: &str| {
        s.as_bytes()
            .windows(2)
            .any(|w| w[0] == b'\\' && SPECIAL.contains(&char::from(w[1])))
    };
    if name.contains('\\') || backslash_before_special(value) {
        return Err(format!(
            "HTTPie cannot express a backslash before one of {SPECIAL:?} in header {name:?}"
        ));
    }
    if name.starts_with('-') {
        return Err(format!("HTTPie would read header {name:?} as an option"));
    }
    let mut item = String::new();
    for c in name.chars() {
        if SPECIAL.contains(&c) {
            item.push('\\');
        }
        item.push(c);
    }
    if value.is_empty() {
        item.push(';');
        return Ok(item);
    }
    item.push(':');
    if value.starts_with(['=', '@']) {
        item.push('\\');
    }
    item.push_str(value);
    Ok(item)
}
