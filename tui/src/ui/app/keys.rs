//! Keys of the main view: what each action does to the panes, the list, the tree and the
//! detail, and which mode's table a key is looked up in.
use crossterm::event::KeyEvent;

use super::*;

impl App {
    pub(super) fn key(&mut self, k: KeyEvent, fx: &mut Vec<Effect>) {
        if k.kind == crossterm::event::KeyEventKind::Release {
            return;
        }
        let mode = self.mode();
        let action = keymap::action(mode, &k);
        match (mode, action) {
            (_, Some(Action::Quit)) => self.quit = true,
            (Mode::Popup, a) => copy_menu::key(&mut self.popup, &mut self.copy_format, a, &k, fx),
            (Mode::Help, Some(Action::Close)) => self.help = None,
            (Mode::Help, Some(Action::Down)) => {
                if let Some((_, s)) = &mut self.help {
                    *s += 1;
                }
            }
            (Mode::Help, Some(Action::Up)) => {
                if let Some((_, s)) = &mut self.help {
                    *s = s.saturating_sub(1);
                }
            }
            (Mode::Help, _) => {}
            (Mode::Filter, a) => self.filter_key(a, k),
            (Mode::Prompt, a) => self.write_key(a, k, fx),
            (Mode::Stats, Some(Action::Help)) => self.help = Some((Mode::Stats, 0)),
            (Mode::Stats, a) => self.stats_key(a),
            (Mode::Search, a) => self.search_key(a, k),
            (Mode::Diff, Some(Action::Help)) => self.help = Some((Mode::Diff, 0)),
            (Mode::Diff, a) => self.diff_key(a),
            (Mode::Picker, a) => self.picker_key(a, k, fx),
            (_, Some(a)) => self.main_action(a, fx),
            (_, None) => {}
        }
    }

    pub(super) fn main_action(&mut self, a: Action, fx: &mut Vec<Effect>) {
        match a {
            Action::Help => self.help = Some((self.mode(), 0)),
            Action::OpenFilter => {
                self.filter_open = true;
                self.filter_before = self.filter_text.clone();
            }
            Action::OpenPicker => {
                let mut p = Picker::new();
                p.message =
                    Some("Enter attaches while traffic keeps flowing; Ctrl-d detaches".into());
                self.picker = Some(p);
                fx.push(Effect::RefreshProcesses);
            }
            Action::FocusNext | Action::FocusPrev => {
                let order = self.visible_panes();
                let i = order.iter().position(|p| *p == self.focus).unwrap_or(0);
                let n = order.len();
                let next = if a == Action::FocusNext {
                    (i + 1) % n
                } else {
                    (i + n - 1) % n
                };
                self.focus = order[next];
                self.panes.zoom_detail = false;
            }
            Action::ToggleTree => {
                self.panes.show_tree = !self.panes.show_tree;
                if !self.panes.show_tree && self.focus == Pane::Tree {
                    self.focus = Pane::List;
                }
            }
            Action::ToggleDetail => {
                self.panes.show_detail = !self.panes.show_detail;
                self.panes.zoom_detail = false;
                if !self.panes.show_detail && self.focus == Pane::Detail {
                    self.focus = Pane::List;
                }
            }
            Action::Grow | Action::Shrink => {
                let d: i16 = if a == Action::Grow { 5 } else { -5 };
                let adjust = |v: &mut u16, d: i16| *v = (*v as i16 + d).clamp(15, 85) as u16;
                match self.focus {
                    Pane::Tree => adjust(&mut self.panes.tree_pct, d),
                    Pane::List => adjust(&mut self.panes.list_pct, d),
                    Pane::Detail => adjust(&mut self.panes.list_pct, -d),
                }
            }
            Action::Copy => self.copy(),
            Action::Mark => self.toggle_mark(),
            Action::OnlyMarked => self.toggle_only_marked(),
            Action::Delete => self.delete_selected(),
            Action::ClearAll => self.clear_all(),
            Action::Write => self.open_write(),
            Action::Stats => self.open_stats(),
            Action::Search => self.open_search(),
            Action::NextMatch => self.jump_to_match(true),
            Action::PrevMatch => self.jump_to_match(false),
            Action::SaveBody => self.open_save_body(),
            Action::Diff => self.open_diff(),
            Action::Follow => {
                self.follow = !self.follow;
                if self.follow {
                    self.selected = self.newest_match;
                }
            }
            Action::Sort => {
                let next = self.store.sort().next();
                self.resort(next);
            }
            Action::Reverse => self.reverse = !self.reverse,
            Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Top
            | Action::Bottom => self.movement(a),
            Action::Enter => match self.focus {
                Pane::List => {
                    if self.selected.is_some() {
                        self.focus = Pane::Detail;
                        self.panes.zoom_detail = true;
                        self.detail_scroll = 0;
                    }
                }
                Pane::Tree => {
                    if let Some(n) = self.tree_sel {
                        self.drill = Some(n);
                        self.drill_exact = false;
                        self.rebuild_view();
                        let t = self.tree.template(n);
                        self.notify(format!("list limited to {t} (Esc clears)"), false);
                    }
                }
                Pane::Detail => {}
            },
            Action::Back => match self.focus {
                Pane::Detail => {
                    self.focus = Pane::List;
                    self.panes.zoom_detail = false;
                }
                _ => {
                    if self.drill.take().is_some() {
                        self.rebuild_view();
                    }
                }
            },
            Action::PrevTab => self.set_tab(Tab::Request),
            Action::NextTab => self.set_tab(Tab::Response),
            Action::Expand | Action::Collapse | Action::ToggleExpand => {
                if let Some(n) = self.tree_sel {
                    let has_children = !self.tree.node(n).children.is_empty();
                    match a {
                        Action::Expand => {
                            self.collapsed.remove(&n);
                        }
                        Action::Collapse if has_children && !self.collapsed.contains(&n) => {
                            self.collapsed.insert(n);
                        }
                        Action::Collapse => {
                            // Already collapsed (or a leaf): go to the parent, like a file tree.
                            let parent = self.tree.node(n).parent;
                            if parent != crate::ui::endpoints::ROOT {
                                self.tree_sel = Some(parent);
                            }
                        }
                        _ => {
                            if !self.collapsed.remove(&n) && has_children {
                                self.collapsed.insert(n);
                            }
                        }
                    }
                    self.tree_rows_gen = None;
                }
            }
            _ => {}
        }
    }

    pub(super) fn movement(&mut self, a: Action) {
        match self.focus {
            Pane::List => {
                let n = self.store.view_len();
                if n == 0 {
                    return;
                }
                self.follow = false;
                let page = self.list_rows().max(1);
                let cur = self
                    .selected
                    .and_then(|s| self.store.row_of(s, self.reverse))
                    .unwrap_or(self.sel_row.min(n - 1));
                let row = step(cur, a, page, n);
                self.selected = self.store.at(row, self.reverse);
                self.sel_row = row;
            }
            Pane::Detail => {
                let len = self.detail.as_ref().map_or(0, |d| d.lines.len());
                let page = layout::inner_rows(self.areas().detail, 0).max(1);
                let max = len.saturating_sub(page);
                let cur = self.detail_scroll.min(max);
                self.detail_scroll = step(cur, a, page, max + 1);
            }
            Pane::Tree => {
                self.refresh_tree_rows();
                let n = self.tree_rows.len();
                if n == 0 {
                    return;
                }
                let page = layout::inner_rows(self.areas().tree, 1).max(1);
                let cur = self.tree_row().unwrap_or(0);
                let row = step(cur, a, page, n);
                self.tree_sel = Some(self.tree_rows[row]);
            }
        }
    }

    // ----- per-frame maintenance

    pub(super) fn set_tab(&mut self, t: Tab) {
        if self.tab != t {
            self.tab = t;
            self.detail_scroll = 0;
        }
    }

    pub(super) fn visible_panes(&self) -> Vec<Pane> {
        let a = self.areas();
        let mut v = Vec::new();
        if a.tree.is_some() || (self.panes.show_tree && self.panes.zoom_detail) {
            v.push(Pane::Tree);
        }
        v.push(Pane::List);
        if a.detail.is_some() || self.panes.zoom_detail {
            v.push(Pane::Detail);
        }
        v
    }

    pub(super) fn copy(&mut self) {
        let Some(e) = self.selected.and_then(|s| self.store.get(s)) else {
            self.notify("nothing selected to copy".into(), true);
            return;
        };
        self.popup = Some(CopyMenu::open(&e.ex, self.copy_format));
    }
}
