//! The diff view: key, left value, right value per row; changed rows in the warning colour,
//! rows only on one side in that side's colour, sections as headings.
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use crate::ui::app::App;
use crate::ui::diff::Kind;
use crate::ui::format::{clean, fit};

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let Some(v) = app.diff_view() else {
        return;
    };
    let p = &app.theme.palette;
    let rows = v.shown();
    let changes = v
        .rows
        .iter()
        .filter(|r| !matches!(r.kind, Kind::Same | Kind::Section))
        .count();
    let title = Line::from(vec![
        Span::styled(
            format!(" Compare #{} ↔ #{} ", v.ids.0, v.ids.1),
            Style::default().fg(p.title).add_modifier(Modifier::BOLD),
        ),
        Span::styled(
            format!(
                "{changes} differences{} ",
                if v.only_changes {
                    ", only those shown"
                } else {
                    ""
                }
            ),
            Style::default().fg(p.dim),
        ),
    ]);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::default().fg(p.border_focused))
        .title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    if width < 20 || inner.height == 0 {
        return;
    }
    let key_w = (width / 4).clamp(8, 40);
    let side_w = (width.saturating_sub(key_w + 2)) / 2;
    let dim = Style::default().fg(p.dim);
    let mut lines = Vec::new();
    let start = v.scroll.min(rows.len().saturating_sub(1));
    for r in rows.iter().skip(start).take(usize::from(inner.height)) {
        let (kl, kr) = match r.kind {
            Kind::Same => (dim, dim),
            Kind::Changed => (
                Style::default().fg(p.warning),
                Style::default().fg(p.warning),
            ),
            Kind::Left => (Style::default().fg(p.error), dim),
            Kind::Right => (dim, Style::default().fg(p.accent)),
            Kind::Section => {
                lines.push(Line::styled(
                    format!("── {} ──", clean(&r.key)),
                    Style::default().fg(p.header).add_modifier(Modifier::BOLD),
                ));
                continue;
            }
        };
        let key_style = if r.kind == Kind::Same {
            dim
        } else {
            Style::default().add_modifier(Modifier::BOLD)
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{} ", fit(&clean(&r.key), key_w)), key_style),
            Span::styled(format!("{} ", fit(&clean(&r.left), side_w)), kl),
            Span::styled(fit(&clean(&r.right), side_w), kr),
        ]));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
