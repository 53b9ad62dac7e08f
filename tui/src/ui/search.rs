//! Searching the detail pane's lines (`/` there): which lines hold the term, and a line with
//! its matches restyled. ASCII case-insensitive, so byte offsets stay those of the text.
use ratatui::style::Style;
use ratatui::text::{Line, Span};

/// The text of a line, its spans joined.
fn text(line: &Line) -> String {
    line.spans.iter().map(|s| s.content.as_ref()).collect()
}

/// Byte ranges of the non-overlapping matches of `term` (lower-cased ASCII) in `text`.
fn ranges(text: &str, term: &str) -> Vec<(usize, usize)> {
    if term.is_empty() {
        return Vec::new();
    }
    let hay = text.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = hay[from..].find(term) {
        let start = from + i;
        out.push((start, start + term.len()));
        from = start + term.len();
    }
    out
}

/// The search term as matched: lower-cased ASCII.
pub fn normalize(term: &str) -> String {
    term.to_ascii_lowercase()
}

/// Indexes of the lines that hold `term` (normalized).
pub fn matching_lines(lines: &[Line], term: &str) -> Vec<usize> {
    if term.is_empty() {
        return Vec::new();
    }
    lines
        .iter()
        .enumerate()
        .filter(|(_, l)| text(l).to_ascii_lowercase().contains(term))
        .map(|(i, _)| i)
        .collect()
}

/// `line` with every match of `term` (normalized) patched with `style`, the rest as it was.
pub fn mark(line: &Line<'static>, term: &str, style: Style) -> Line<'static> {
    let hits = ranges(&text(line), term);
    if hits.is_empty() {
        return line.clone();
    }
    let mut spans = Vec::new();
    let mut at = 0; // byte offset of the current span in the line's text
    for span in &line.spans {
        let s = span.content.as_ref();
        let (lo, hi) = (at, at + s.len());
        let mut cut = lo;
        for &(a, b) in hits.iter().filter(|&&(a, b)| a < hi && b > lo) {
            let (a, b) = (a.max(lo), b.min(hi));
            if a > cut {
                spans.push(Span::styled(s[cut - lo..a - lo].to_string(), span.style));
            }
            spans.push(Span::styled(
                s[a - lo..b - lo].to_string(),
                span.style.patch(style),
            ));
            cut = b;
        }
        if cut < hi {
            spans.push(Span::styled(s[cut - lo..].to_string(), span.style));
        }
        at = hi;
    }
    Line::from(spans).style(line.style)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::style::{Color, Modifier};

    fn line() -> Line<'static> {
        Line::from(vec![
            Span::styled("Content-Type", Style::default().fg(Color::Cyan)),
            Span::raw(": application/json"),
        ])
    }

    #[test]
    fn matches_across_spans_keep_their_styles() {
        let hit = Style::default().add_modifier(Modifier::REVERSED);
        // "type: app" crosses from the cyan span into the plain one.
        let l = mark(&line(), &normalize("TYPE: APP"), hit);
        let parts: Vec<(&str, Style)> = l
            .spans
            .iter()
            .map(|s| (s.content.as_ref(), s.style))
            .collect();
        let cyan = Style::default().fg(Color::Cyan);
        assert_eq!(
            parts,
            [
                ("Content-", cyan),
                ("Type", cyan.patch(hit)),
                (": app", Style::default().patch(hit)),
                ("lication/json", Style::default()),
            ]
        );
        assert_eq!(text(&l), text(&line()), "no text lost or added");
    }

    #[test]
    fn every_match_and_only_matching_lines() {
        let lines = vec![
            Line::raw("\"id\": 1,"),
            Line::raw("\"name\": \"Ada\""),
            Line::raw("\"ids\": [\"id\"]"),
        ];
        assert_eq!(matching_lines(&lines, &normalize("ID")), [0, 2]);
        assert_eq!(ranges("\"ids\": [\"id\"]", "id"), [(1, 3), (9, 11)]);
        assert!(matching_lines(&lines, "").is_empty());
        // Non-ASCII text keeps its byte offsets (only ASCII is folded).
        let l = mark(
            &Line::raw("naïve Ïd id"),
            "id",
            Style::default().fg(Color::Red),
        );
        assert_eq!(text(&l), "naïve Ïd id");
        assert_eq!(l.spans.last().unwrap().content, "id");
    }
}
