//! JSON pretty-printing and syntect highlighting into ratatui lines. Pure CPU work: small
//! bodies are highlighted in `App::handle`, large ones by the runtime on a blocking task.
use std::sync::OnceLock;

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use syntect::easy::HighlightLines;
use syntect::highlighting::{FontStyle, Theme as SynTheme, ThemeSet};
use syntect::parsing::SyntaxSet;
use syntect::util::LinesWithEndings;

use super::theme::Theme;

/// Loaded once per process: parsing syntect's bundled dumps takes tens of milliseconds.
fn syntaxes() -> &'static SyntaxSet {
    static SET: OnceLock<SyntaxSet> = OnceLock::new();
    SET.get_or_init(SyntaxSet::load_defaults_newlines)
}

fn themes() -> &'static ThemeSet {
    static SET: OnceLock<ThemeSet> = OnceLock::new();
    SET.get_or_init(ThemeSet::load_defaults)
}

pub struct Highlighter {
    theme: SynTheme,
    /// Why the configured syntax theme was not used, if it was not.
    pub warning: Option<String>,
}

impl Highlighter {
    pub fn new(theme: &Theme) -> Highlighter {
        let mut warning = None;
        if let Some(path) = &theme.syntax_theme_file {
            match ThemeSet::get_theme(path) {
                Ok(t) => return Highlighter { theme: t, warning },
                Err(e) => {
                    warning = Some(format!("syntax theme {}: {e}", path.display()));
                }
            }
        }
        let set = themes();
        let t = match set.themes.get(&theme.syntax_theme) {
            Some(t) => t.clone(),
            None => {
                warning.get_or_insert_with(|| {
                    let mut names: Vec<&str> = set.themes.keys().map(String::as_str).collect();
                    names.sort_unstable();
                    format!(
                        "no syntax theme {:?}; bundled: {}",
                        theme.syntax_theme,
                        names.join(", ")
                    )
                });
                set.themes
                    .get("base16-ocean.dark")
                    .or_else(|| set.themes.values().next())
                    .cloned()
                    .unwrap_or_default()
            }
        };
        Highlighter { theme: t, warning }
    }

    /// `text` (pretty JSON) as highlighted lines. Falls back to plain lines if syntect fails.
    pub fn json(&self, text: &str) -> Vec<Line<'static>> {
        let ss = syntaxes();
        let Some(syntax) = ss.find_syntax_by_extension("json") else {
            return plain_lines(text);
        };
        let mut h = HighlightLines::new(syntax, &self.theme);
        let mut out = Vec::new();
        for line in LinesWithEndings::from(text) {
            match h.highlight_line(line, ss) {
                Ok(ranges) => out.push(Line::from(
                    ranges
                        .into_iter()
                        .map(|(style, s)| {
                            Span::styled(
                                s.trim_end_matches(['\n', '\r']).to_string(),
                                convert(style),
                            )
                        })
                        .filter(|s| !s.content.is_empty())
                        .collect::<Vec<_>>(),
                )),
                Err(_) => out.push(Line::raw(line.trim_end_matches(['\n', '\r']).to_string())),
            }
        }
        out
    }
}

/// Foreground and font style only: the pane's background belongs to the UI theme.
fn convert(s: syntect::highlighting::Style) -> Style {
    let mut style = Style::default().fg(Color::Rgb(s.foreground.r, s.foreground.g, s.foreground.b));
    if s.font_style.contains(FontStyle::BOLD) {
        style = style.add_modifier(Modifier::BOLD);
    }
    if s.font_style.contains(FontStyle::ITALIC) {
        style = style.add_modifier(Modifier::ITALIC);
    }
    if s.font_style.contains(FontStyle::UNDERLINE) {
        style = style.add_modifier(Modifier::UNDERLINED);
    }
    style
}

pub fn plain_lines(text: &str) -> Vec<Line<'static>> {
    text.lines().map(|l| Line::raw(l.to_string())).collect()
}

/// `data` re-indented with two spaces if it is valid JSON; key order and number spelling are
/// kept (unlike a round trip through `serde_json::Value`).
pub fn pretty_json(data: &[u8]) -> Option<String> {
    serde_json::from_slice::<serde::de::IgnoredAny>(data).ok()?;
    let text = std::str::from_utf8(data).ok()?;
    let mut out = String::with_capacity(text.len() + text.len() / 2);
    let mut depth = 0usize;
    let mut in_str = false;
    let mut escaped = false;
    let mut chars = text.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    };
    while let Some(c) = chars.next() {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                // Keep `{}` and `[]` on one line.
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                if matches!(chars.peek(), Some('}' | ']')) {
                    if let Some(close) = chars.next() {
                        out.push(close);
                    }
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    Some(out)
}
