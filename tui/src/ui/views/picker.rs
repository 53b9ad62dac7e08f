//! The process picker screen.
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

use crate::ui::app::App;
use crate::ui::format::{fit, fit_right};
use crate::ui::picker::expectation;

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let Some(pk) = app.picker() else { return };
    let p = &app.theme.palette;
    let title = Line::from(vec![
        Span::styled(
            " Pick processes ",
            Style::default().fg(p.title).add_modifier(Modifier::BOLD),
        ),
        Span::styled(
            "type to narrow · Space marks · Enter attaches · Esc closes · F1 help ",
            Style::default().fg(p.dim),
        ),
    ]);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::default().fg(p.border_focused))
        .title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 {
        return;
    }
    let width = usize::from(inner.width);
    let mut lines = vec![Line::from(vec![
        Span::styled("search: ", Style::default().fg(p.dim)),
        Span::raw(pk.query.clone()),
        Span::styled("█", Style::default().fg(p.accent)),
        Span::styled(
            format!(
                "  {} of {} · {} marked",
                pk.matches.len(),
                pk.procs.len(),
                pk.marked.len()
            ),
            Style::default().fg(p.dim),
        ),
    ])];
    // PID, user, name, ports, then the TLS reason takes the rest.
    let (pid_w, user_w, name_w, ports_w) = (7, 10, 16, 12);
    let show_user = width >= 70;
    let show_ports = width >= 90;
    let mut fixed = 4 + pid_w + 1 + name_w + 1;
    if show_user {
        fixed += user_w + 1;
    }
    if show_ports {
        fixed += ports_w + 1;
    }
    let tls_w = width.saturating_sub(fixed);
    let hdr = Style::default().fg(p.header).add_modifier(Modifier::BOLD);
    let mut header = vec![
        Span::styled("    ", hdr),
        Span::styled(fit_right("PID", pid_w) + " ", hdr),
    ];
    if show_user {
        header.push(Span::styled(fit("USER", user_w) + " ", hdr));
    }
    header.push(Span::styled(fit("NAME", name_w) + " ", hdr));
    if show_ports {
        header.push(Span::styled(fit("LISTENING", ports_w) + " ", hdr));
    }
    header.push(Span::styled(fit("TLS", tls_w), hdr));
    lines.push(Line::from(header));
    // Two lines for the search and header, two at the bottom for the expectation and message.
    let rows = usize::from(inner.height).saturating_sub(5);
    if pk.loading {
        lines.push(Line::styled(
            "listing processes…",
            Style::default().fg(p.dim),
        ));
    }
    let offset = crate::ui::layout::scroll(pk.offset, pk.cursor, rows, pk.matches.len());
    for (i, row) in pk.rows().enumerate().skip(offset).take(rows) {
        let info = &row.info;
        let cur = i == pk.cursor;
        let marked = pk.marked.contains(&info.pid);
        let attached = app.targets().iter().any(|t| t.pid == info.pid && t.alive);
        let base = if cur {
            Style::default().fg(p.selected_fg).bg(p.selected_bg)
        } else if !info.tls.capturable {
            Style::default().fg(p.dim)
        } else {
            Style::default()
        };
        let mark = format!(
            "{}{} ",
            if marked { "✔" } else { " " },
            if attached { "●" } else { " " }
        );
        let mut spans = vec![
            Span::styled(
                format!("{mark} "),
                if marked && !cur {
                    base.fg(p.marked)
                } else {
                    base
                },
            ),
            Span::styled(fit_right(&info.pid.to_string(), pid_w) + " ", base),
        ];
        if show_user {
            spans.push(Span::styled(fit(&info.user, user_w) + " ", base));
        }
        spans.push(Span::styled(fit(&info.comm, name_w) + " ", base));
        if show_ports {
            let ports: Vec<String> = row.ports.iter().map(u16::to_string).collect();
            spans.push(Span::styled(fit(&ports.join(","), ports_w) + " ", base));
        }
        let tls_style = if cur {
            base
        } else if info.tls.capturable {
            Style::default().fg(p.ok)
        } else {
            Style::default().fg(p.dim)
        };
        spans.push(Span::styled(fit(&info.tls.reason, tls_w), tls_style));
        lines.push(Line::from(spans));
    }
    if !pk.loading && pk.matches.is_empty() {
        lines.push(Line::styled(
            "no process matches",
            Style::default().fg(p.dim),
        ));
    }
    let list_h = (lines.len() as u16).min(inner.height);
    frame.render_widget(
        Paragraph::new(lines),
        Rect {
            height: list_h,
            ..inner
        },
    );
    // The footer: what attaching the highlighted process will show, and the last outcome.
    let mut footer = Vec::new();
    if let Some(cur) = pk.current() {
        let style = if cur.info.tls.capturable {
            Style::default().fg(p.ok)
        } else {
            Style::default().fg(p.warning)
        };
        footer.push(Line::styled(expectation(&cur.info), style));
    }
    if let Some(m) = &pk.message {
        footer.push(Line::styled(m.clone(), Style::default().fg(p.accent)));
    }
    // Each footer line may wrap once on narrow terminals.
    let want = footer
        .iter()
        .map(|l| (l.width() as u16).div_ceil(inner.width.max(1)))
        .sum::<u16>();
    let fh = want.min(inner.height.saturating_sub(list_h));
    if fh > 0 {
        let r = Rect {
            y: inner.y + inner.height - fh,
            height: fh,
            ..inner
        };
        frame.render_widget(Paragraph::new(footer).wrap(Wrap { trim: true }), r);
    }
}
