//! The stats view (`s`): a table per endpoint template of what the list shows, sortable by
//! each column (`<`/`>` pick it, `v` flips it; `S` slow and `B` big presets), refreshed once a
//! second while open; Enter drills the list into the selected endpoint.
use capture::exchange::UnixNanos;

use super::App;
use crate::ui::keymap::Action;
use crate::ui::stats_table::{self, Column, Row};

/// How often an open stats view is rebuilt from the store, at most.
const REFRESH_NS: u64 = 1_000_000_000;
/// A rebuild takes at most this share of the UI thread: over a large store (~55 ms per 100k
/// exchanges) the view refreshes less often rather than stall typing.
const MAX_SHARE: u32 = 10;

pub struct StatsView {
    pub rows: Vec<Row>,
    pub cursor: usize,
    pub offset: usize,
    pub sort: Column,
    pub reverse: bool,
    built: UnixNanos,
    /// What the last rebuild cost, and what it saw (newest seq, list length): no change, no
    /// rebuild.
    cost: std::time::Duration,
    seen: (Option<u64>, usize),
}

impl App {
    /// `s`: opens the stats view over what the list shows.
    pub(super) fn open_stats(&mut self) {
        self.stats_view = Some(StatsView {
            rows: Vec::new(),
            cursor: 0,
            offset: 0,
            sort: Column::Count,
            reverse: false,
            built: 0,
            cost: std::time::Duration::ZERO,
            seen: (None, 0),
        });
        self.rebuild_stats();
    }

    /// Rebuilds the rows from the list's exchanges, keeping the cursor on its endpoint.
    pub(super) fn rebuild_stats(&mut self) {
        let t = std::time::Instant::now();
        self.store.flush();
        let seen = (self.store.last_seq(), self.store.view_len());
        let store = &self.store;
        let rows = stats_table::build(
            (0..store.view_len())
                .filter_map(|row| store.at(row, false))
                .filter_map(|seq| store.get(seq))
                .map(|e| (&*e.ex, e.node)),
            &self.tree,
        );
        let now = self.now;
        let Some(v) = &mut self.stats_view else {
            return;
        };
        let at = v.rows.get(v.cursor).map(|r| r.node);
        v.rows = rows;
        stats_table::sort(&mut v.rows, v.sort, v.reverse);
        v.cursor = at
            .and_then(|n| v.rows.iter().position(|r| r.node == n))
            .unwrap_or(v.cursor)
            .min(v.rows.len().saturating_sub(1));
        v.built = now;
        v.seen = seen;
        v.cost = t.elapsed();
    }

    /// Called each tick: an open view follows new traffic once a second.
    pub(super) fn refresh_stats(&mut self) {
        let seen = (self.store.last_seq(), self.store.view_len());
        let due = |v: &StatsView| {
            let every = (REFRESH_NS as u128).max(v.cost.as_nanos() * u128::from(MAX_SHARE));
            v.seen != seen && u128::from(self.now.saturating_sub(v.built)) >= every
        };
        if self.stats_view.as_ref().is_some_and(due) {
            self.rebuild_stats();
        }
    }

    pub(super) fn stats_key(&mut self, action: Option<Action>) {
        let rows = self.stats_rows();
        let Some(v) = &mut self.stats_view else {
            return;
        };
        let n = v.rows.len();
        let resort = |v: &mut StatsView, col: Column, reverse: bool| {
            let at = v.rows.get(v.cursor).map(|r| r.node);
            v.sort = col;
            v.reverse = reverse;
            stats_table::sort(&mut v.rows, col, reverse);
            v.cursor = at
                .and_then(|n| v.rows.iter().position(|r| r.node == n))
                .unwrap_or(0);
        };
        match action {
            Some(Action::Close) => self.stats_view = None,
            Some(a) if super::is_move(a) => v.cursor = super::step(v.cursor, a, rows.max(1), n),
            Some(Action::NextTab) => {
                let (c, r) = (v.sort.next(), v.reverse);
                resort(v, c, r);
            }
            Some(Action::PrevTab) => {
                let (c, r) = (v.sort.prev(), v.reverse);
                resort(v, c, r);
            }
            Some(Action::Reverse) => {
                let (c, r) = (v.sort, !v.reverse);
                resort(v, c, r);
            }
            Some(Action::SlowPreset) => resort(v, Column::P99, false),
            Some(Action::BigPreset) => resort(v, Column::RespBytes, false),
            Some(Action::Enter) => {
                let Some(node) = v.rows.get(v.cursor).map(|r| r.node) else {
                    return;
                };
                self.stats_view = None;
                self.drill = Some(node);
                self.drill_exact = true;
                self.tree_sel = Some(node);
                self.focus = crate::ui::layout::Pane::List;
                self.rebuild_view();
                let t = self.tree.template(node);
                self.notify(format!("list limited to {t} (Esc clears)"), false);
            }
            _ => {}
        }
    }

    /// Table rows that fit on screen (for paging).
    fn stats_rows(&self) -> usize {
        usize::from(self.size.height.saturating_sub(8))
    }

    pub fn stats_view(&self) -> Option<&StatsView> {
        self.stats_view.as_ref()
    }
}
