//! The endpoint tree pane: template, count, methods, status mix, p50/p95 and an example.
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use crate::ui::app::App;
use crate::ui::endpoints::Stats;
use crate::ui::format::{self, fit, fit_right};

pub fn render(frame: &mut Frame, area: Rect, app: &App, focused: bool) {
    let p = &app.theme.palette;
    let tree = app.tree();
    let mut title = vec![Span::styled(
        " Endpoints ",
        Style::default().fg(p.title).add_modifier(Modifier::BOLD),
    )];
    if app.tree_is_filtered() {
        title.push(Span::styled("filtered ", Style::default().fg(p.accent)));
    }
    if let Some(d) = app.drill() {
        title.push(Span::styled(
            format!("⊂ {} ", tree.template(d)),
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
    let width = usize::from(inner.width);
    // Optional columns appear as width allows: count, p50/p95, status mix, methods, example.
    let show_lat = width >= 44;
    let show_status = width >= 64;
    let show_methods = width >= 80;
    let show_example = width >= 100;
    let mut fixed = 7;
    if show_lat {
        fixed += 14;
    }
    if show_status {
        fixed += 20;
    }
    if show_methods {
        fixed += 10;
    }
    let example_w = if show_example { (width - fixed) / 3 } else { 0 };
    let name_w = width.saturating_sub(fixed + example_w).max(4);
    let hdr = Style::default().fg(p.header).add_modifier(Modifier::BOLD);
    let mut header = vec![
        Span::styled(fit("ENDPOINT", name_w), hdr),
        Span::styled(fit_right("COUNT", 6) + " ", hdr),
    ];
    if show_methods {
        header.push(Span::styled(fit("METHODS", 9) + " ", hdr));
    }
    if show_status {
        header.push(Span::styled(fit_right("2xx 3xx 4xx 5xx", 19) + " ", hdr));
    }
    if show_lat {
        header.push(Span::styled(fit_right("p50", 6) + " ", hdr));
        header.push(Span::styled(fit_right("p95", 6) + " ", hdr));
    }
    if show_example {
        header.push(Span::styled(fit("EXAMPLE", example_w), hdr));
    }
    let mut lines = vec![Line::from(header)];
    let rows = usize::from(inner.height - 1);
    let sel_row = app
        .tree_selected()
        .and_then(|s| app.tree_rows.iter().position(|&n| n == s))
        .unwrap_or(0);
    let offset = crate::ui::layout::scroll(app.tree_offset, sel_row, rows, app.tree_rows.len());
    for &id in app.tree_rows.iter().skip(offset).take(rows) {
        let n = tree.node(id);
        let st = app.node_stats(id);
        let selected = app.tree_selected() == Some(id);
        let marker = if n.children.is_empty() {
            "  "
        } else if app.is_collapsed(id) {
            "▸ "
        } else {
            "▾ "
        };
        let indent = "  ".repeat(usize::from(n.depth.saturating_sub(1)));
        let label = if n.is_host() {
            n.segment.clone()
        } else {
            format!("/{}", n.segment)
        };
        let base = if selected {
            Style::default().fg(p.selected_fg).bg(p.selected_bg)
        } else if app.drill() == Some(id) {
            Style::default().fg(p.accent).add_modifier(Modifier::BOLD)
        } else if st.count == 0 {
            // Nothing here matches the filter.
            Style::default().fg(p.dim)
        } else if n.is_host() {
            Style::default().add_modifier(Modifier::BOLD)
        } else {
            Style::default()
        };
        let mut spans = vec![
            Span::styled(fit(&format!("{indent}{marker}{label}"), name_w), base),
            Span::styled(fit_right(&format::count(st.count), 6) + " ", base),
        ];
        let pick = |s: Style| if selected { base } else { s };
        if show_methods {
            spans.push(Span::styled(
                fit(&methods(st), 9) + " ",
                pick(Style::default().fg(p.method)),
            ));
        }
        if show_status {
            for (i, class) in [1usize, 2, 3, 4].iter().enumerate() {
                let v = st.status[*class];
                let text = if v == 0 {
                    "·".to_string()
                } else {
                    short_count(v)
                };
                let w = if i == 0 { 4 } else { 5 };
                spans.push(Span::styled(
                    fit_right(&text, w),
                    pick(
                        Style::default()
                            .fg(app.theme.status_color(Some((*class as u16 + 1) * 100))),
                    ),
                ));
            }
            spans.push(Span::styled(" ", base));
        }
        if show_lat {
            spans.push(Span::styled(
                fit_right(&format::duration(st.latency.quantile(0.5)), 6) + " ",
                base,
            ));
            spans.push(Span::styled(
                fit_right(&format::duration(st.latency.quantile(0.95)), 6) + " ",
                base,
            ));
        }
        if show_example {
            spans.push(Span::styled(
                fit(&n.example, example_w),
                pick(Style::default().fg(p.dim)),
            ));
        }
        lines.push(Line::from(spans));
    }
    if app.tree_rows.is_empty() {
        lines.push(Line::styled("no endpoints yet", Style::default().fg(p.dim)));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

fn methods(st: &Stats) -> String {
    st.methods
        .iter()
        .map(|(m, _)| m.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn short_count(v: u64) -> String {
    match v {
        0..=9_999 => v.to_string(),
        10_000..=999_999 => format!("{}k", v / 1000),
        _ => format!("{}M", v / 1_000_000),
    }
}
