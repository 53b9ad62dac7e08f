//! The "Copy as…" menu: the formats (those that cannot express the exchange greyed, with the
//! reason), the selected one's snippet, what it will not reproduce, and the clipboard route.
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::ui::app::App;
use crate::ui::format::clean;

/// The preview shows this much of a snippet: a body near the cap makes megabytes of escapes,
/// which wrapping every frame would make slow, and the popup cannot show them anyway.
const PREVIEW_MAX: usize = 4096;

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let Some(m) = app.popup() else { return };
    let p = &app.theme.palette;
    let r = super::centered(
        area,
        area.width.saturating_sub(4).min(100),
        area.height.saturating_sub(2).min(24),
    );
    frame.render_widget(Clear, r);
    let dim = Style::default().fg(p.dim);
    let status = match (&m.copied, &m.route) {
        (None, _) => Line::styled("Enter copies the selected format", dim),
        (Some(f), None) => Line::styled(format!("copying {}…", f.label()), dim),
        (Some(f), Some(route)) => {
            let ok = !matches!(route, crate::ui::clipboard::Route::Failed { .. });
            Line::styled(
                format!("{}: {}", f.label(), route.describe()),
                Style::default()
                    .fg(if ok { p.ok } else { p.error })
                    .add_modifier(Modifier::BOLD),
            )
        }
    };
    let mut lines = vec![status, Line::raw("")];
    for (i, (f, s)) in m.entries.iter().enumerate() {
        let key = if *f == crate::ui::copy_as::Format::Grpcurl {
            format!("{}/g", f.key())
        } else {
            f.key().to_string()
        };
        lines.push(match s {
            Ok(_) if i == m.selected => Line::styled(
                format!("▸ {key} {}", f.label()),
                Style::default().fg(p.accent).add_modifier(Modifier::BOLD),
            ),
            Ok(_) => Line::raw(format!("  {key} {}", f.label())),
            Err(why) => Line::styled(format!("  {key} {}: left out, {why}", f.label()), dim),
        });
    }
    if let Some((_, s)) = m.current() {
        // Before the snippet, which may run past the bottom.
        for w in &s.notes {
            lines.push(Line::styled(
                format!("⚠ {w}"),
                Style::default().fg(p.warning),
            ));
        }
        lines.push(Line::raw(""));
        let text = match s.text.char_indices().nth(PREVIEW_MAX) {
            Some((cut, _)) => format!("{}…", &s.text[..cut]),
            None => s.text.clone(),
        };
        // The raw request's CRLF would show as `·` at every line end.
        for l in text.replace("\r\n", "\n").lines() {
            lines.push(Line::raw(clean(l).into_owned()));
        }
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::default().fg(p.popup_border))
        .title(" Copy as… · ↑↓/digit choose · Enter copies · Esc closes ");
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .style(Style::default().fg(p.fg).bg(p.bg)),
        r,
    );
}
