//! The stats view: per endpoint template, count, errors, latency quantiles, bytes and rate,
//! with the selected endpoint's latency histogram as a sparkline underneath.
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Sparkline};
use ratatui::Frame;

use crate::ui::app::App;
use crate::ui::format::{self, fit, fit_right};
use crate::ui::stats_table::{Column, Row};

/// Widths of the figure columns (the endpoint takes what is left).
const FIG_W: usize = 7;
const BYTES_W: usize = 8;

fn width(c: Column) -> usize {
    match c {
        Column::Endpoint => 0,
        Column::ReqBytes | Column::RespBytes => BYTES_W,
        _ => FIG_W,
    }
}

fn cell(r: &Row, c: Column) -> String {
    let q = |q| format::duration(r.quantile(q));
    match c {
        Column::Endpoint => r.template.clone(),
        Column::Count => format::count(r.count),
        Column::Errors => format::count(r.errors),
        Column::P50 => q(0.5),
        Column::P90 => q(0.9),
        Column::P99 => q(0.99),
        Column::Max => format::duration(r.latency.max()),
        Column::ReqBytes => format::size(r.req_bytes),
        Column::RespBytes => format::size(r.resp_bytes),
        Column::Rate => format!("{:.1}", r.rate()),
    }
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let Some(v) = app.stats_view() else {
        return;
    };
    let p = &app.theme.palette;
    let dim = Style::default().fg(p.dim);
    let arrow = if v.reverse { "↑" } else { "↓" };
    let mut title = vec![
        Span::styled(
            " Stats per endpoint ",
            Style::default().fg(p.title).add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!("{} ", v.rows.len())),
        Span::styled(format!("sort {}{arrow} ", v.sort.title()), dim),
    ];
    if let Some(f) = app.active_filter() {
        title.push(Span::styled(format!("filter {f} "), dim));
    }
    if app.only_marked() {
        title.push(Span::styled("marked only ", dim));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::default().fg(p.border_focused))
        .title(Line::from(title));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height < 2 || inner.width < 20 {
        return;
    }
    let [table, spark] = if inner.height >= 12 {
        Layout::vertical([Constraint::Min(4), Constraint::Length(4)]).areas(inner)
    } else {
        [inner, Rect::default()]
    };
    let figures: usize = Column::ALL.iter().map(|&c| width(c) + 1).sum();
    let endpoint_w = usize::from(table.width).saturating_sub(figures).max(8);
    let w = |c: Column| {
        if c == Column::Endpoint {
            endpoint_w
        } else {
            width(c)
        }
    };
    let header: Vec<Span> = Column::ALL
        .iter()
        .map(|&c| {
            let text = if c == Column::Endpoint {
                fit(c.title(), w(c))
            } else {
                fit_right(c.title(), w(c))
            };
            let sorted = if c == v.sort {
                Modifier::UNDERLINED
            } else {
                Modifier::empty()
            };
            Span::styled(
                format!("{text} "),
                Style::default()
                    .fg(p.header)
                    .add_modifier(Modifier::BOLD | sorted),
            )
        })
        .collect();
    let mut lines = vec![Line::from(header)];
    let rows = usize::from(table.height - 1);
    let offset = crate::ui::layout::scroll(v.offset, v.cursor, rows, v.rows.len());
    for (i, r) in v.rows.iter().enumerate().skip(offset).take(rows) {
        let selected = i == v.cursor;
        let spans = Column::ALL.iter().map(|&c| {
            let text = cell(r, c);
            let text = if c == Column::Endpoint {
                fit(&format::clean(&text), w(c))
            } else {
                fit_right(&text, w(c))
            };
            let style = match c {
                _ if selected => Style::default().fg(p.selected_fg).bg(p.selected_bg),
                Column::Errors if r.errors > 0 => Style::default().fg(p.error),
                Column::Endpoint => Style::default(),
                _ => dim,
            };
            Span::styled(format!("{text} "), style)
        });
        lines.push(Line::from(spans.collect::<Vec<_>>()));
    }
    if v.rows.is_empty() {
        lines.push(Line::styled("no exchanges in the list", dim));
    }
    frame.render_widget(Paragraph::new(lines), table);
    if spark.height == 0 {
        return;
    }
    let Some(r) = v.rows.get(v.cursor) else {
        return;
    };
    let hist = r.latency.histogram();
    let (lo, hi) = match (hist.first(), hist.last()) {
        (Some(a), Some(b)) => (a.0, b.0),
        _ => return,
    };
    let [label, bars] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(spark);
    frame.render_widget(
        Paragraph::new(Line::styled(
            format!(
                "latency of {}: {} … {} ({} exchanges)",
                format::clean(&r.template),
                format::duration(Some(lo)),
                format::duration(Some(hi)),
                format::count(r.count)
            ),
            dim,
        )),
        label,
    );
    let data: Vec<u64> = hist.iter().map(|&(_, n)| u64::from(n)).collect();
    frame.render_widget(
        Sparkline::default()
            .data(&data)
            .style(Style::default().fg(p.accent)),
        bars,
    );
}
