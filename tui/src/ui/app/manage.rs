//! Mark and manage what was captured, the way mitmproxy's console does: `m` marks the selected
//! exchange, `M` shows only marked ones, `d` deletes the selected one, `z` clears everything,
//! `w` writes the marked (or else the shown) exchanges to a file named in a prompt.
use std::path::PathBuf;

use capture::exchange::Exchange;
use crossterm::event::KeyEvent;

use super::{typed, App, Effect};
use crate::ui::keymap::Action;

/// The `w` prompt: the file name being typed and what will be written.
pub struct WritePrompt {
    pub path: String,
    /// "3 marked" or "120 shown": said in the prompt so the user knows what goes out.
    pub what: String,
    /// `b`: a body's bytes to save instead of exchanges.
    pub body: Option<Vec<u8>>,
}

impl App {
    /// `m`: marks or unmarks the selected exchange.
    pub(super) fn toggle_mark(&mut self) {
        let Some(seq) = self.selected else {
            self.notify("nothing selected to mark".into(), true);
            return;
        };
        let marked = self.store.toggle_mark(seq);
        if !marked && self.only_marked {
            // It no longer belongs in a marked-only view.
            self.rebuild_view();
        }
    }

    /// `M`: only marked exchanges, or all again.
    pub(super) fn toggle_only_marked(&mut self) {
        if !self.only_marked && self.store.marked() == 0 {
            self.notify(
                "nothing marked (m marks the selected exchange)".into(),
                true,
            );
            return;
        }
        self.only_marked = !self.only_marked;
        self.rebuild_view();
        let text = if self.only_marked {
            format!("showing the {} marked (M shows all)", self.store.marked())
        } else {
            "showing all".to_string()
        };
        self.notify(text, false);
    }

    /// `d`: deletes the selected exchange from the store, the list and the endpoint tree.
    pub(super) fn delete_selected(&mut self) {
        let Some(seq) = self.selected else {
            self.notify("nothing selected to delete".into(), true);
            return;
        };
        let mut removed = Vec::new();
        let (tree, filter, filtered) = (&mut self.tree, &self.filter, &mut self.tree_filtered);
        let deleted = self.store.delete(seq, |e| {
            crate::ui::evict::forget(tree, filter.as_ref(), filtered, e, &mut removed)
        });
        if !deleted {
            return;
        }
        if !removed.is_empty() {
            self.nodes_removed(&removed);
        }
        self.highlighted.retain(|(s, _), _| *s != seq);
        if self.newest_match == Some(seq) {
            self.newest_match = self.newest_in_view();
        }
        // The selection moves to what took the deleted row's place (`sync` lands it there).
        self.selected = None;
        self.follow = false;
    }

    /// `z`: forgets every exchange captured so far (and the endpoint tree built from them).
    pub(super) fn clear_all(&mut self) {
        let n = self.store.len() as u64;
        self.store.clear();
        self.tree = crate::ui::endpoints::EndpointTree::with_max_nodes(self.cfg.max_tree_nodes);
        self.tree_filtered = self.filter.as_ref().map(|_| Vec::new());
        self.collapsed.clear();
        self.tree_sel = None;
        self.tree_rows_gen = None;
        self.drill = None;
        self.only_marked = false;
        self.selected = None;
        self.newest_match = None;
        self.detail = None;
        self.highlighted.clear();
        self.follow = true;
        self.notify(format!("cleared {n} exchanges"), false);
    }

    /// `w`: opens the prompt for the file to write.
    pub(super) fn open_write(&mut self) {
        let marked = self.store.marked();
        let what = if marked > 0 {
            format!("{marked} marked")
        } else {
            format!("{} shown", self.store.view_len())
        };
        if marked == 0 && self.store.view_len() == 0 {
            self.notify("nothing to write".into(), true);
            return;
        }
        let stamp = crate::ui::format::file_stamp(self.now, self.utc_offset());
        self.write_prompt = Some(WritePrompt {
            path: format!("apitop-{stamp}.har"),
            what,
            body: None,
        });
    }

    /// Keys while the `w` prompt is open.
    pub(super) fn write_key(&mut self, action: Option<Action>, k: KeyEvent, fx: &mut Vec<Effect>) {
        let Some(prompt) = &mut self.write_prompt else {
            return;
        };
        match action {
            Some(Action::Accept) => {
                let path = PathBuf::from(prompt.path.trim());
                let body = prompt.body.take();
                self.write_prompt = None;
                if path.as_os_str().is_empty() {
                    self.notify("no file name given: nothing written".into(), true);
                    return;
                }
                fx.push(match body {
                    Some(bytes) => Effect::SaveBody { path, bytes },
                    None => Effect::Write {
                        path,
                        exchanges: self.to_write(),
                    },
                });
            }
            Some(Action::Cancel) => self.write_prompt = None,
            Some(Action::DeleteBack) => {
                prompt.path.pop();
            }
            Some(Action::ClearInput) => prompt.path.clear(),
            _ => {
                if let Some(c) = typed(&k) {
                    prompt.path.push(c);
                }
            }
        }
    }

    /// The marked exchanges if any are marked, else the shown ones, in capture order.
    fn to_write(&self) -> Vec<Exchange> {
        if self.store.marked() > 0 {
            return self
                .store
                .iter()
                .filter(|(_, e)| e.marked && !e.deleted)
                .map(|(_, e)| (*e.ex).clone())
                .collect();
        }
        let mut seqs: Vec<_> = (0..self.store.view_len())
            .filter_map(|row| self.store.at(row, false))
            .collect();
        seqs.sort_unstable();
        seqs.iter()
            .filter_map(|&s| self.store.get(s))
            .map(|e| (*e.ex).clone())
            .collect()
    }

    pub fn write_prompt(&self) -> Option<&WritePrompt> {
        self.write_prompt.as_ref()
    }

    pub fn only_marked(&self) -> bool {
        self.only_marked
    }
}
