//! `=`: the two marked exchanges side by side (`ui::diff`), `j`/`k` scroll, `x` shows only
//! the differences, Esc closes.
use super::App;
use crate::ui::diff::{self, Row};
use crate::ui::keymap::Action;

pub struct DiffView {
    /// Ids of the left and right exchanges.
    pub ids: (u64, u64),
    pub rows: Vec<Row>,
    pub scroll: usize,
    /// Hide the rows that are the same.
    pub only_changes: bool,
}

impl DiffView {
    /// The rows shown, under `only_changes`.
    pub fn shown(&self) -> Vec<&Row> {
        self.rows
            .iter()
            .filter(|r| !self.only_changes || r.kind != diff::Kind::Same)
            .collect()
    }
}

impl App {
    /// `=`: compares the two marked exchanges (older on the left).
    pub(super) fn open_diff(&mut self) {
        let marked: Vec<_> = self
            .store
            .iter()
            .filter(|(_, e)| e.marked && !e.deleted)
            .map(|(_, e)| &e.ex)
            .collect();
        let [a, b] = marked[..] else {
            let n = marked.len();
            self.notify(
                format!("mark exactly two exchanges to compare (m marks; {n} marked)"),
                true,
            );
            return;
        };
        self.diff_view = Some(DiffView {
            ids: (a.id, b.id),
            rows: diff::compare(a, b),
            scroll: 0,
            only_changes: false,
        });
    }

    pub(super) fn diff_key(&mut self, action: Option<Action>) {
        let page = usize::from(self.size.height.saturating_sub(4)).max(1);
        let Some(v) = &mut self.diff_view else {
            return;
        };
        let n = v.shown().len();
        match action {
            Some(Action::Close) => self.diff_view = None,
            Some(Action::OnlyChanges) => {
                v.only_changes = !v.only_changes;
                v.scroll = 0;
            }
            Some(a) if super::is_move(a) => v.scroll = super::step(v.scroll, a, page, n),
            _ => {}
        }
    }

    pub fn diff_view(&self) -> Option<&DiffView> {
        self.diff_view.as_ref()
    }
}
