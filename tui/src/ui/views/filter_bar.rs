//! The filter bar: the expression as typed, marked red where it does not compile, with the
//! filter in force and the drill-down; notices and the `w` prompt use the same row.
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::ui::app::App;
use crate::ui::format::clean;

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let p = &app.theme.palette;
    if let Some(w) = app.write_prompt() {
        let line = Line::from(vec![
            Span::styled(
                format!("write {} to: ", w.what),
                Style::default().fg(p.accent).add_modifier(Modifier::BOLD),
            ),
            Span::raw(clean(&w.path).into_owned()),
            Span::styled("█", Style::default().fg(p.accent)),
            Span::styled("  Enter writes · Esc cancels", Style::default().fg(p.dim)),
        ]);
        frame.render_widget(Paragraph::new(line), area);
        return;
    }
    if let Some(s) = app.detail_search().filter(|s| s.editing) {
        let found = app
            .search_position()
            .map(|(_, of)| format!("  {of} lines match"))
            .unwrap_or_default();
        let line = Line::from(vec![
            Span::styled(
                "search: ",
                Style::default().fg(p.accent).add_modifier(Modifier::BOLD),
            ),
            Span::raw(clean(&s.term).into_owned()),
            Span::styled("█", Style::default().fg(p.accent)),
            Span::styled(found, Style::default().fg(p.dim)),
            Span::styled(
                "  Enter keeps (n/N step) · Esc drops",
                Style::default().fg(p.dim),
            ),
        ]);
        frame.render_widget(Paragraph::new(line), area);
        return;
    }
    let mut spans = Vec::new();
    if !app.filter_open() {
        if let Some(n) = app.notice() {
            let style = Style::default().fg(if n.error { p.error } else { p.accent });
            frame.render_widget(
                Paragraph::new(Line::styled(clean(&n.text).into_owned(), style)),
                area,
            );
            return;
        }
    }
    if app.filter_open() || !app.filter_text().is_empty() {
        spans.push(Span::styled(
            "/ ",
            Style::default().fg(p.accent).add_modifier(Modifier::BOLD),
        ));
        let text = clean(app.filter_text()).into_owned();
        match app.filter_error() {
            Some(e) => {
                // Everything from the error position on is marked.
                let at = e.at.min(text.chars().count());
                let head: String = text.chars().take(at).collect();
                let tail: String = text.chars().skip(at).collect();
                spans.push(Span::raw(head));
                spans.push(Span::styled(
                    if tail.is_empty() {
                        " ".to_string()
                    } else {
                        tail
                    },
                    Style::default()
                        .fg(p.error)
                        .add_modifier(Modifier::UNDERLINED),
                ));
            }
            None => spans.push(Span::raw(text)),
        }
        if app.filter_open() {
            spans.push(Span::styled("█", Style::default().fg(p.accent)));
        }
        match (app.filter_error(), app.active_filter()) {
            (Some(e), Some(active)) => {
                spans.push(Span::styled(
                    format!("  ✗ {}", e.message),
                    Style::default().fg(p.error),
                ));
                spans.push(Span::styled(
                    format!(" · in force: {active}"),
                    Style::default().fg(p.dim),
                ));
            }
            (Some(e), None) => {
                spans.push(Span::styled(
                    format!("  ✗ {}", e.message),
                    Style::default().fg(p.error),
                ));
            }
            _ => {}
        }
    }
    if let Some(d) = app.drill() {
        spans.push(Span::styled(
            format!("  ⊂ {} (Esc clears)", clean(&app.tree().template(d))),
            Style::default().fg(p.accent),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
