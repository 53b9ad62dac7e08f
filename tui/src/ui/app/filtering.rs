//! The filter, the drill-down and the marked-only view: which exchanges the list shows, and
//! rebuilding the view (and the tree's filtered stats) when that changes.
use crossterm::event::KeyEvent;

use super::*;

impl App {
    pub(super) fn filter_key(&mut self, action: Option<Action>, k: KeyEvent) {
        match action {
            Some(Action::Accept) => {
                self.filter_open = false;
                if self.refilter_due.take().is_some() {
                    self.rebuild_view_and_tree();
                }
            }
            Some(Action::Cancel) => {
                self.filter_open = false;
                let before = std::mem::take(&mut self.filter_before);
                self.set_filter(before);
            }
            Some(Action::DeleteBack) => {
                let mut t = self.filter_text.clone();
                t.pop();
                self.set_filter(t);
            }
            Some(Action::ClearInput) => self.set_filter(String::new()),
            _ => {
                if let Some(c) = typed(&k) {
                    let mut t = self.filter_text.clone();
                    t.push(c);
                    self.set_filter(t);
                }
            }
        }
    }

    /// Applies a new expression as typed: a valid one replaces the filter, an invalid one is
    /// reported and the last valid filter stays in force.
    pub fn set_filter(&mut self, text: String) {
        self.filter_text = text;
        match Filter::parse(&self.filter_text) {
            Ok(f) => {
                let changed =
                    f.as_ref().map(Filter::source) != self.filter.as_ref().map(Filter::source);
                self.filter = f;
                self.filter_error = None;
                if changed {
                    if self.store.len() >= REFILTER_DEBOUNCE_FROM && self.filter_open {
                        // Typing over a large store: one pass once the typing pauses, not one
                        // per key (a pass over a million exchanges takes a good part of a
                        // second and would make every key wait).
                        self.refilter_due = Some(self.now + REFILTER_PAUSE_NS);
                    } else {
                        self.refilter_due = None;
                        self.rebuild_view_and_tree();
                    }
                }
            }
            Err(e) => self.filter_error = Some(e),
        }
    }

    /// A node's stats as the tree shows them: of the filtered exchanges while a filter is in
    /// force, else of everything.
    pub fn node_stats(&self, id: NodeId) -> &Stats {
        static EMPTY: std::sync::OnceLock<Stats> = std::sync::OnceLock::new();
        match &self.tree_filtered {
            Some(v) => v
                .get(id as usize)
                .unwrap_or_else(|| EMPTY.get_or_init(Stats::default)),
            None => &self.tree.node(id).stats,
        }
    }

    /// Whether the tree shows filtered stats.
    pub fn tree_is_filtered(&self) -> bool {
        self.tree_filtered.is_some()
    }

    pub(super) fn rebuild_view(&mut self) {
        self.rebuild(false);
    }

    /// The filter changed: the list and the tree's filtered stats, in one pass over the store.
    pub(super) fn rebuild_view_and_tree(&mut self) {
        self.rebuild(true);
    }

    pub(super) fn rebuild(&mut self, tree_stats: bool) {
        self.rebuild_sorted(self.store.sort(), tree_stats);
    }

    /// The view from scratch under `sort`; with `tree_stats`, the tree's filtered stats too.
    pub(super) fn rebuild_sorted(&mut self, sort: SortKey, tree_stats: bool) {
        let filter = self.filter.as_ref();
        let drill = self.drill_spec();
        let tree = &self.tree;
        let mut stats =
            (tree_stats && filter.is_some()).then(|| vec![Stats::default(); tree.len()]);
        let only_marked = self.only_marked;
        self.store.rebuild(sort, |e| {
            let m = filter.is_none_or(|f| f.matches(&e.ex));
            if let (true, Some(s)) = (m, stats.as_mut()) {
                for n in tree.path_to_root(e.node) {
                    s[n as usize].add(&e.ex);
                }
            }
            shown(e, m, only_marked, drill, tree)
        });
        if tree_stats {
            self.tree_filtered = stats;
        }
        self.newest_match = self.newest_in_view();
    }

    /// The newest exchange in the view: scans back from the newest (usually a few steps).
    pub(super) fn newest_in_view(&self) -> Option<Seq> {
        let (filter, drill, tree) = (self.filter.as_ref(), self.drill_spec(), &self.tree);
        self.store
            .iter()
            .rev()
            .find(|(_, e)| {
                let matched = filter.is_none_or(|f| f.matches(&e.ex));
                shown(e, matched, self.only_marked, drill, tree)
            })
            .map(|(s, _)| s)
    }

    pub(super) fn resort(&mut self, sort: SortKey) {
        self.rebuild_sorted(sort, false);
    }

    pub(super) fn drill_spec(&self) -> Option<(NodeId, bool)> {
        self.drill.map(|d| (d, self.drill_exact))
    }
}

/// Whether the list shows entry `e`; `matched`: it passes the filter.
fn shown(
    e: &Entry,
    matched: bool,
    only_marked: bool,
    drill: Option<(NodeId, bool)>,
    tree: &EndpointTree,
) -> bool {
    !e.deleted && matched && (!only_marked || e.marked) && in_drill(tree, e.node, drill)
}

/// Whether an exchange counted at `node` is in the drill-down `(node, exact)`, if any.
pub(super) fn in_drill(tree: &EndpointTree, node: NodeId, drill: Option<(NodeId, bool)>) -> bool {
    match drill {
        None => true,
        Some((d, true)) => node == d,
        Some((d, false)) => tree.is_within(node, d),
    }
}
