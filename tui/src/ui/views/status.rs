//! The status bar: targets, rate, total, drops (never hidden), store use, evictions.
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

use crate::ui::app::App;
use crate::ui::format;

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let p = &app.theme.palette;
    let base = Style::default().fg(p.statusbar_fg).bg(p.statusbar_bg);
    let drops = app.stats.drops();
    let drop_style = if drops > 0 {
        Style::default()
            .fg(p.error)
            .bg(p.statusbar_bg)
            .add_modifier(Modifier::BOLD)
    } else {
        base
    };
    let targets = if app.targets().is_empty() {
        "no targets (p)".to_string()
    } else {
        let names: Vec<String> = app
            .targets()
            .iter()
            .map(|t| {
                let dead = if t.alive { "" } else { "✝" };
                format!("{}{dead}:{}", format::clean(&t.comm), t.pid)
            })
            .collect();
        names.join(" ")
    };
    let store = app.store();
    // (priority, text, style): when the bar is too narrow the lowest priorities go first;
    // drops have the highest and are never dropped.
    let mut segs: Vec<(u8, String, Style)> = vec![
        (
            9,
            match app.stats.top_drop() {
                Some(r) => format!(" drops {} ({}) ", format::count(drops), r.short()),
                None => format!(" drops {} ", format::count(drops)),
            },
            drop_style,
        ),
        (
            8,
            format!(" {} total ", format::count(app.total_seen)),
            base,
        ),
        (7, format!(" {:.1}/s ", app.rate()), base),
        (
            5,
            format!(
                " store {}/{} mem {}/{} ",
                format::count(store.len() as u64),
                format::count(store.cap() as u64),
                format::size_whole(store.bytes() as u64),
                format::size_whole(store.max_bytes() as u64)
            ),
            base,
        ),
        (
            4,
            // Whole exchanges, then (once there are any) bodies dropped from exchanges still
            // listed.
            if store.bodies_evicted > 0 {
                format!(
                    " evicted {} · bodies {} ",
                    format::count(store.evicted),
                    format::count(store.bodies_evicted)
                )
            } else {
                format!(" evicted {} ", format::count(store.evicted))
            },
            if store.evicted > 0 || store.bodies_evicted > 0 {
                base.fg(p.warning)
            } else {
                base
            },
        ),
        (6, format!(" {targets} "), base.add_modifier(Modifier::BOLD)),
        (2, format!(" {} ", app.config().source), base),
        (1, " ? help ".to_string(), base),
    ];
    if app.opaque > 0 {
        segs.push((
            3,
            format!(" opaque conns {} ", format::count(app.opaque)),
            base,
        ));
    }
    if let Some(e) = &app.ended {
        segs.push((6, format!(" {} ", format::clean(e)), base.fg(p.warning)));
    }
    let width = usize::from(area.width);
    let sep = 1;
    let total =
        |s: &[(u8, String, Style)]| -> usize { s.iter().map(|(_, t, _)| t.width() + sep).sum() };
    while total(&segs) > width && segs.len() > 1 {
        // Remove the lowest-priority segment.
        if let Some(i) = segs
            .iter()
            .enumerate()
            .min_by_key(|(_, s)| s.0)
            .map(|(i, _)| i)
        {
            segs.remove(i);
        }
    }
    // Display order: targets first, then the counters.
    let order = |prio: u8| match prio {
        6 => 0,
        7 => 1,
        8 => 2,
        9 => 3,
        5 => 4,
        4 => 5,
        3 => 6,
        2 => 7,
        _ => 8,
    };
    segs.sort_by_key(|s| order(s.0));
    let mut spans = Vec::new();
    for (_, text, style) in segs {
        spans.push(Span::styled(text, style));
        spans.push(Span::styled("│", base.fg(p.dim)));
    }
    spans.pop();
    frame.render_widget(Paragraph::new(Line::from(spans)).style(base), area);
}
