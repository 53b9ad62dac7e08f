//! Drawing: pure functions of `&App`. Only visible rows are touched, nothing blocks.
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::widgets::{Block, Clear};
use ratatui::Frame;

use super::app::App;
use super::layout::Pane;

pub mod detail;
pub mod diff;
pub mod filter_bar;
pub mod help;
pub mod list;
pub mod picker;
pub mod popup;
pub mod stats;
pub mod status;
pub mod tree;

/// A view's drawing function.
type Render = fn(&mut Frame, Rect, &App);

pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    let p = &app.theme.palette;
    frame.render_widget(
        Block::default().style(Style::default().fg(p.fg).bg(p.bg)),
        area,
    );
    if area.width == 0 || area.height == 0 {
        return;
    }
    let a = app.areas();
    if let Some(r) = a.tree {
        tree::render(frame, r, app, app.focus() == Pane::Tree);
    }
    if let Some(r) = a.list {
        list::render(frame, r, app, app.focus() == Pane::List);
    }
    if let Some(r) = a.detail {
        detail::render(frame, r, app, app.focus() == Pane::Detail);
    }
    if let Some(r) = a.bar {
        filter_bar::render(frame, r, app);
    }
    status::render(frame, a.status, app);
    // Full-screen views cover everything but the status bar.
    let screen = Rect {
        height: area.height.saturating_sub(1),
        ..area
    };
    let full: [(bool, Render); 3] = [
        (app.picker().is_some(), picker::render),
        (app.stats_view().is_some(), stats::render),
        (app.diff_view().is_some(), diff::render),
    ];
    for (open, render) in full {
        if open {
            frame.render_widget(Clear, screen);
            render(frame, screen, app);
        }
    }
    if app.popup().is_some() {
        popup::render(frame, area, app);
    }
    if app.help().is_some() {
        help::render(frame, area, app);
    }
}

/// A rectangle of `w`×`h` centred in `area`, shrunk to fit.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}
