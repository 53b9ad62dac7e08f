//! Drawing the pane: the tabs and search position in its title, the built lines sliced at the
//! scroll position, wrapped to its width and with search hits marked.
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use crate::ui::app::{App, Tab};
use crate::ui::format::clean;

pub fn render(frame: &mut Frame, area: Rect, app: &App, focused: bool) {
    let theme = &app.theme;
    let p = &theme.palette;
    let tab_style = |t: Tab| {
        if app.detail_tab() == t {
            Style::default()
                .fg(p.tab_active)
                .add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
        } else {
            Style::default().fg(p.dim)
        }
    };
    let mut title = vec![
        Span::raw(" "),
        Span::styled("Request", tab_style(Tab::Request)),
        Span::styled(" │ ", Style::default().fg(p.dim)),
        Span::styled("Response", tab_style(Tab::Response)),
        Span::raw(" "),
    ];
    if app.detail_pending() {
        title.push(Span::styled("highlighting… ", Style::default().fg(p.dim)));
    }
    let term = app.search_term();
    if let (Some(t), Some((at, of))) = (&term, app.search_position()) {
        title.push(Span::styled(
            format!("/{} {at}/{of} ", clean(t)),
            Style::default().fg(if of == 0 { p.error } else { p.accent }),
        ));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::default().fg(if focused { p.border_focused } else { p.border }))
        .title(Line::from(title));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(lines) = app.detail_lines() else {
        frame.render_widget(
            Paragraph::new("no exchange selected").style(Style::default().fg(p.dim)),
            inner,
        );
        return;
    };
    let rows = usize::from(inner.height);
    let start = app.detail_scroll().min(lines.len().saturating_sub(1));
    // Long lines (tokens, cookies, minified bodies) wrap rather than vanish at the edge; scrolling
    // stays in whole logical lines.
    let mut visible: Vec<Line> = Vec::with_capacity(rows);
    let hit = Style::default().fg(p.selected_fg).bg(p.warning);
    for line in lines.iter().skip(start) {
        if visible.len() >= rows {
            break;
        }
        match &term {
            Some(t) => visible.extend(wrap(
                &crate::ui::search::mark(line, t, hit),
                usize::from(inner.width),
            )),
            None => visible.extend(wrap(line, usize::from(inner.width))),
        }
    }
    visible.truncate(rows);
    frame.render_widget(Paragraph::new(visible), inner);
}

/// Splits `line` into rows of at most `width` columns, keeping each span's style.
fn wrap(line: &Line<'static>, width: usize) -> Vec<Line<'static>> {
    use unicode_width::UnicodeWidthChar;
    if width == 0 || line.width() <= width {
        return vec![line.clone()];
    }
    let mut rows = Vec::new();
    let mut row: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    for span in &line.spans {
        let mut piece = String::new();
        for ch in span.content.chars() {
            let w = ch.width().unwrap_or(0);
            if used + w > width && used > 0 {
                if !piece.is_empty() {
                    row.push(Span::styled(std::mem::take(&mut piece), span.style));
                }
                rows.push(Line::from(std::mem::take(&mut row)).style(line.style));
                used = 0;
            }
            piece.push(ch);
            used += w;
        }
        if !piece.is_empty() {
            row.push(Span::styled(piece, span.style));
        }
    }
    if !row.is_empty() {
        rows.push(Line::from(row).style(line.style));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::style::Color;

    #[test]
    fn long_lines_wrap_keeping_styles() {
        let name = Style::default().fg(Color::Cyan);
        let line = Line::from(vec![
            Span::styled("Authorization: ", name),
            Span::raw("Bearer eyJhbGciOiJIUzI1NiJ9"),
        ]);
        let rows = wrap(&line, 20);
        let text: Vec<String> = rows.iter().map(|l| l.to_string()).collect();
        assert_eq!(text, ["Authorization: Beare", "r eyJhbGciOiJIUzI1Ni", "J9"]);
        assert_eq!(rows[0].spans[0].style, name);
        assert_eq!(rows[0].spans[1].content, "Beare");
        assert!(rows.iter().all(|l| l.width() <= 20));
    }

    #[test]
    fn wide_characters_never_overflow() {
        let rows = wrap(&Line::from("日本語のテキスト"), 5);
        assert!(rows.iter().all(|l| l.width() <= 5), "{rows:?}");
        assert_eq!(
            rows.iter().map(|l| l.to_string()).collect::<String>(),
            "日本語のテキスト"
        );
        assert_eq!(wrap(&Line::from("short"), 10).len(), 1);
    }
}
