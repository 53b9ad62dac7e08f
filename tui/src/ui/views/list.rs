//! The request list. Only the rows in the window are formatted, so its cost does not depend on
//! how many exchanges the store holds.
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use crate::ui::app::App;
use crate::ui::format::{self, fit, fit_right};
use crate::ui::store::SortKey;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Col {
    Time,
    Proc,
    Method,
    Host,
    Path,
    Status,
    Duration,
    Size,
}

const ALL: [Col; 8] = [
    Col::Time,
    Col::Proc,
    Col::Method,
    Col::Host,
    Col::Path,
    Col::Status,
    Col::Duration,
    Col::Size,
];

/// Dropped first to last when the pane is narrow.
const DROP_ORDER: [Col; 4] = [Col::Proc, Col::Size, Col::Host, Col::Time];
const MIN_PATH: usize = 10;

fn fixed(c: Col) -> usize {
    match c {
        Col::Time => 12,
        Col::Proc => 10,
        Col::Method => 7,
        Col::Status => 3,
        Col::Duration => 7,
        Col::Size => 6,
        Col::Host | Col::Path => 0,
    }
}

/// Column widths for an inner width: (column, width) in display order.
fn columns(width: usize) -> Vec<(Col, usize)> {
    let mut cols: Vec<Col> = ALL.to_vec();
    let need = |cols: &[Col]| -> usize {
        cols.iter().map(|&c| fixed(c) + 1).sum::<usize>()
            + MIN_PATH
            + if cols.contains(&Col::Host) { 8 } else { 0 }
    };
    for d in DROP_ORDER {
        if need(&cols) <= width {
            break;
        }
        cols.retain(|&c| c != d);
    }
    let used: usize = cols.iter().map(|&c| fixed(c) + 1).sum();
    let flex = width.saturating_sub(used);
    let host = if cols.contains(&Col::Host) {
        (flex * 35 / 100).max(8).min(flex)
    } else {
        0
    };
    let path = flex.saturating_sub(host);
    cols.into_iter()
        .map(|c| match c {
            Col::Host => (c, host),
            Col::Path => (c, path),
            _ => (c, fixed(c)),
        })
        .collect()
}

pub fn render(frame: &mut Frame, area: Rect, app: &App, focused: bool) {
    let p = &app.theme.palette;
    let sort = app.sort();
    let arrow = if app.reverse() { "↑" } else { "↓" };
    let mut title = vec![
        Span::styled(
            " Requests ",
            Style::default().fg(p.title).add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!("{} ", format::count(app.view_len() as u64))),
        Span::styled(
            format!("sort {}{arrow} ", sort.label()),
            Style::default().fg(p.dim),
        ),
    ];
    if app.follow() {
        title.push(Span::styled("FOLLOW ", Style::default().fg(p.accent)));
    }
    let marked = app.store().marked();
    if app.only_marked() {
        title.push(Span::styled(
            format!("MARKED ONLY ({marked}) "),
            Style::default().fg(p.accent).add_modifier(Modifier::BOLD),
        ));
    } else if marked > 0 {
        title.push(Span::styled(
            format!("{marked} marked "),
            Style::default().fg(p.accent),
        ));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::default().fg(if focused { p.border_focused } else { p.border }))
        .title(Line::from(title));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    // One cell before the columns for the mark.
    let cols = columns(usize::from(inner.width).saturating_sub(1));
    let header: Vec<Span> = std::iter::once(Span::raw(" "))
        .chain(cols.iter().map(|&(c, w)| {
            let (name, right) = match c {
                Col::Time => ("TIME", false),
                Col::Proc => ("PROCESS", false),
                Col::Method => ("METHOD", false),
                Col::Host => ("HOST", false),
                Col::Path => ("PATH", false),
                Col::Status => ("STS", false),
                Col::Duration => ("DUR", true),
                Col::Size => ("SIZE", true),
            };
            let sorted = match (c, sort) {
                (Col::Time, SortKey::Time)
                | (Col::Duration, SortKey::Duration)
                | (Col::Size, SortKey::Size)
                | (Col::Status, SortKey::Status) => Modifier::UNDERLINED,
                _ => Modifier::empty(),
            };
            let text = if right {
                fit_right(name, w)
            } else {
                fit(name, w)
            };
            Span::styled(
                format!("{text} "),
                Style::default()
                    .fg(p.header)
                    .add_modifier(Modifier::BOLD | sorted),
            )
        }))
        .collect();
    let mut lines = vec![Line::from(header)];
    let rows = usize::from(inner.height - 1);
    let offset =
        crate::ui::layout::scroll(app.list_offset, app.selected_row(), rows, app.view_len());
    let offset_secs = app.utc_offset();
    for row in offset..(offset + rows).min(app.view_len()) {
        let Some(seq) = app.store().at(row, app.reverse()) else {
            break;
        };
        let Some(e) = app.store().get(seq) else {
            continue;
        };
        let ex = &e.ex;
        let status = ex.response.as_ref().map(|r| r.status);
        let selected = app.selected() == Some(seq);
        let mut spans = Vec::with_capacity(2 * cols.len() + 1);
        let mark_style = Style::default().fg(p.accent).add_modifier(Modifier::BOLD);
        spans.push(match (e.marked, selected) {
            (true, true) => Span::styled("●", mark_style.bg(p.selected_bg)),
            (true, false) => Span::styled("●", mark_style),
            (false, true) => Span::styled(" ", Style::default().bg(p.selected_bg)),
            (false, false) => Span::raw(" "),
        });
        for &(c, w) in &cols {
            let (text, style) = match c {
                Col::Time => (
                    fit(&format::clock(ex.start, offset_secs), w),
                    Style::default().fg(p.dim),
                ),
                Col::Proc => (fit(&ex.comm, w), Style::default()),
                Col::Method => (fit(&ex.request.method, w), Style::default().fg(p.method)),
                Col::Host => (fit(&ex.host(), w), Style::default()),
                Col::Path => (fit(&ex.path(), w), Style::default()),
                Col::Status => (
                    fit(
                        &status.map_or_else(
                            || {
                                if ex.error.is_some() {
                                    "ERR".into()
                                } else {
                                    "—".into()
                                }
                            },
                            |s| s.to_string(),
                        ),
                        w,
                    ),
                    Style::default().fg(app.theme.status_color(status)),
                ),
                Col::Duration => (
                    fit_right(&format::duration(ex.duration_ns()), w),
                    Style::default(),
                ),
                Col::Size => (
                    fit_right(&format::size(e.size()), w),
                    Style::default().fg(p.dim),
                ),
            };
            let style = if selected {
                Style::default().fg(p.selected_fg).bg(p.selected_bg)
            } else {
                style
            };
            spans.push(Span::styled(text, style));
            spans.push(Span::styled(
                " ",
                if selected {
                    Style::default().bg(p.selected_bg)
                } else {
                    Style::default()
                },
            ));
        }
        lines.push(Line::from(spans));
    }
    if app.view_len() == 0 {
        let hint = if app.store().is_empty() {
            if app.targets().is_empty() {
                "no traffic yet — p picks processes to watch"
            } else {
                "waiting for traffic…"
            }
        } else {
            "nothing matches the filter"
        };
        lines.push(Line::styled(hint, Style::default().fg(p.dim)));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
