//! The help overlay: every key of the current screen, generated from the keymap tables, and
//! for the list the filter primitives from the parser's own table.
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use crate::ui::app::App;
use crate::ui::filter::{OPERATORS, PRIMITIVES};
use crate::ui::format::fit;
use crate::ui::keymap::{help_rows, Mode};

const KEY_W: usize = 22;

/// The help text for `mode` (also used by tests).
pub fn lines(mode: Mode, theme: &crate::ui::theme::Theme) -> Vec<Line<'static>> {
    let p = &theme.palette;
    let key_style = Style::default().fg(p.accent).add_modifier(Modifier::BOLD);
    let head = Style::default().fg(p.header).add_modifier(Modifier::BOLD);
    let mut out = vec![Line::styled(format!("Keys: {}", mode.title()), head)];
    for (keys, help) in help_rows(mode) {
        out.push(Line::from(vec![
            Span::styled(fit(&keys, KEY_W), key_style),
            Span::raw(help),
        ]));
    }
    // The menu's keys are shown here, where `c` is: its own screen has no room for help.
    if matches!(mode, Mode::List | Mode::Tree | Mode::Detail) {
        out.push(Line::raw(""));
        out.push(Line::styled("Copy as… menu (c)", head));
        let rows = help_rows(Mode::Popup);
        // Quitting is listed above already.
        for (keys, help) in rows.into_iter().filter(|(_, h)| *h != "quit") {
            out.push(Line::from(vec![
                Span::styled(fit(&keys, KEY_W), key_style),
                Span::raw(help),
            ]));
        }
    }
    if matches!(mode, Mode::List | Mode::Tree | Mode::Detail | Mode::Filter) {
        out.push(Line::raw(""));
        out.push(Line::styled("Filter expressions", head));
        for prim in PRIMITIVES {
            out.push(Line::from(vec![
                Span::styled(
                    fit(&format!("~{} {}", prim.code, prim.arg), KEY_W),
                    key_style,
                ),
                Span::raw(prim.help),
            ]));
        }
        for (syntax, help) in OPERATORS {
            out.push(Line::from(vec![
                Span::styled(fit(syntax, KEY_W), key_style),
                Span::raw(*help),
            ]));
        }
    }
    out
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let Some((mode, scroll)) = app.help() else {
        return;
    };
    let p = &app.theme.palette;
    let all = lines(mode, &app.theme);
    let r = super::centered(area, 76, (all.len() as u16).saturating_add(2));
    frame.render_widget(Clear, r);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::default().fg(p.popup_border))
        .title(" Help · Esc closes · j/k scroll ");
    let rows = usize::from(r.height.saturating_sub(2));
    let start = scroll.min(all.len().saturating_sub(rows));
    let shown: Vec<Line> = all.into_iter().skip(start).collect();
    frame.render_widget(
        Paragraph::new(shown)
            .block(block)
            .style(Style::default().fg(p.fg).bg(p.bg)),
        r,
    );
}
