//! The copy-as-curl popup: the command, what it cannot reproduce, and the clipboard route.
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::ui::app::App;
use crate::ui::format::clean;

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let Some(pp) = app.popup() else { return };
    let p = &app.theme.palette;
    let r = super::centered(
        area,
        area.width.saturating_sub(4).min(100),
        area.height.saturating_sub(2).min(16),
    );
    frame.render_widget(Clear, r);
    let route = match &pp.route {
        None => Line::styled("copying…", Style::default().fg(p.dim)),
        Some(route) => {
            let ok = !matches!(route, crate::ui::clipboard::Route::Failed { .. });
            Line::styled(
                route.describe(),
                Style::default()
                    .fg(if ok { p.ok } else { p.error })
                    .add_modifier(Modifier::BOLD),
            )
        }
    };
    let mut lines = vec![route, Line::raw("")];
    lines.push(Line::raw(clean(&pp.command).into_owned()));
    for w in &pp.warnings {
        lines.push(Line::styled(
            format!("⚠ {w}"),
            Style::default().fg(p.warning),
        ));
    }
    if pp.grpcurl.is_some() {
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            "g copies the grpcurl line instead",
            Style::default().fg(p.dim),
        ));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::default().fg(p.popup_border))
        .title(" Copy as curl · Esc closes ");
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .style(Style::default().fg(p.fg).bg(p.bg)),
        r,
    );
}
