//! What the views and tests read of the app's state.
use capture::exchange::UnixNanos;
use ratatui::layout::Rect;
use ratatui::text::Line;

use super::*;

impl App {
    pub fn size(&self) -> Rect {
        self.size
    }

    pub fn focus(&self) -> Pane {
        self.focus
    }

    pub fn follow(&self) -> bool {
        self.follow
    }

    pub fn reverse(&self) -> bool {
        self.reverse
    }

    pub fn sort(&self) -> SortKey {
        self.store.sort()
    }

    pub fn selected(&self) -> Option<Seq> {
        self.selected
    }

    pub fn selected_row(&self) -> usize {
        self.sel_row
    }

    pub fn selected_exchange(&self) -> Option<&capture::exchange::Exchange> {
        self.store.get(self.selected?).map(|e| e.ex.as_ref())
    }

    pub fn view_len(&self) -> usize {
        self.store.view_len()
    }

    /// Exchange ids of the list, top to bottom.
    pub fn visible_ids(&self) -> Vec<u64> {
        (0..self.store.view_len())
            .filter_map(|r| self.store.at(r, self.reverse))
            .filter_map(|s| self.store.get(s).map(|e| e.ex.id))
            .collect()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn tree(&self) -> &EndpointTree {
        &self.tree
    }

    pub fn is_collapsed(&self, id: NodeId) -> bool {
        self.collapsed.contains(&id)
    }

    pub fn tree_selected(&self) -> Option<NodeId> {
        self.tree_sel
    }

    pub fn drill(&self) -> Option<NodeId> {
        self.drill
    }

    pub fn filter_text(&self) -> &str {
        &self.filter_text
    }

    pub fn filter_error(&self) -> Option<&FilterError> {
        self.filter_error.as_ref()
    }

    pub fn filter_open(&self) -> bool {
        self.filter_open
    }

    /// The expression in force (the last valid one).
    pub fn active_filter(&self) -> Option<&str> {
        self.filter.as_ref().map(Filter::source)
    }

    pub fn picker(&self) -> Option<&Picker> {
        self.picker.as_ref()
    }

    pub fn popup(&self) -> Option<&CopyMenu> {
        self.popup.as_ref()
    }

    pub fn help(&self) -> Option<(Mode, usize)> {
        self.help
    }

    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    pub fn detail_tab(&self) -> Tab {
        self.tab
    }

    pub fn detail_scroll(&self) -> usize {
        self.detail_scroll
    }

    pub fn detail_lines(&self) -> Option<&[Line<'static>]> {
        self.detail.as_ref().map(|d| d.lines.as_slice())
    }

    pub fn detail_pending(&self) -> bool {
        self.detail.as_ref().is_some_and(|d| d.pending.is_some())
    }

    pub fn notice(&self) -> Option<&Notice> {
        self.notice.as_ref()
    }

    pub fn now(&self) -> UnixNanos {
        self.now
    }

    pub fn utc_offset(&self) -> i32 {
        self.cfg.utc_offset.unwrap_or(0)
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    pub fn should_quit(&self) -> bool {
        self.quit
    }
}
