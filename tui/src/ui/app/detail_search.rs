//! `/` in the detail pane: search its headers and (pretty) body as you type, matches
//! highlighted, `n`/`N` step through them; Enter keeps the search, Esc drops it. `b` saves the
//! shown tab's body (content-decoded) to a file, for bodies too large to read here.
use crossterm::event::KeyEvent;

use super::{typed, App, Tab};
use crate::ui::keymap::Action;
use crate::ui::search;

pub struct DetailSearch {
    /// As typed.
    pub term: String,
    /// The bar is open for typing.
    pub editing: bool,
    /// The line of the match last jumped to.
    pub current: Option<usize>,
    /// Lines of the pane holding the term: found when the term or the lines change, so that
    /// drawing (the position in the title) does not scan a 50,000-line body every frame.
    hits: Vec<usize>,
}

/// Lines kept above a match when jumping to it, for context.
const CONTEXT: usize = 2;

impl App {
    pub(super) fn open_search(&mut self) {
        self.detail_search = Some(DetailSearch {
            term: String::new(),
            editing: true,
            current: None,
            hits: Vec::new(),
        });
    }

    /// Finds the lines holding the term again, from the top: the term or the lines changed.
    pub(super) fn refresh_hits(&mut self) {
        let term = self.search_term();
        let hits = match (term, self.detail.as_ref()) {
            (Some(t), Some(d)) => search::matching_lines(&d.lines, &t),
            _ => Vec::new(),
        };
        if let Some(s) = &mut self.detail_search {
            s.hits = hits;
            s.current = None;
        }
    }

    pub(super) fn search_key(&mut self, action: Option<Action>, k: KeyEvent) {
        let Some(s) = &mut self.detail_search else {
            return;
        };
        match action {
            Some(Action::Accept) => {
                s.editing = false;
                if s.term.is_empty() {
                    self.detail_search = None;
                }
                return;
            }
            Some(Action::Cancel) => {
                self.detail_search = None;
                return;
            }
            Some(Action::DeleteBack) => {
                s.term.pop();
            }
            Some(Action::ClearInput) => s.term.clear(),
            _ => match typed(&k) {
                Some(c) => s.term.push(c),
                None => return,
            },
        }
        // As you type: to the first match from the top of the pane.
        self.refresh_hits();
        self.jump_to_match(true);
    }

    /// `n` (forward) / `N`: scrolls to the next or previous line holding a match, wrapping.
    /// With no match jumped to yet, forward starts at the top line of the pane.
    pub(super) fn jump_to_match(&mut self, forward: bool) {
        let Some(term) = self.search_term() else {
            return;
        };
        let Some(s) = &self.detail_search else {
            return;
        };
        let (hits, current) = (&s.hits, s.current);
        let Some((&first, &last)) = hits.first().zip(hits.last()) else {
            self.notify(format!("not found: {term}"), true);
            return;
        };
        let next = match (forward, current) {
            (true, Some(c)) => hits.iter().find(|&&h| h > c),
            (true, None) => hits.iter().find(|&&h| h >= self.detail_scroll),
            (false, Some(c)) => hits.iter().rev().find(|&&h| h < c),
            (false, None) => hits.iter().rev().find(|&&h| h < self.detail_scroll),
        };
        let next = *next.unwrap_or(if forward { &first } else { &last });
        if let Some(s) = &mut self.detail_search {
            s.current = Some(next);
        }
        self.detail_scroll = next.saturating_sub(CONTEXT);
    }

    /// The search in force (normalized), if any.
    pub fn search_term(&self) -> Option<String> {
        self.detail_search
            .as_ref()
            .filter(|s| !s.term.is_empty())
            .map(|s| search::normalize(&s.term))
    }

    pub fn detail_search(&self) -> Option<&DetailSearch> {
        self.detail_search.as_ref()
    }

    /// Where the search stands: (the line matched last, 1-based among the matching lines, or
    /// 0 before any; how many lines match).
    pub fn search_position(&self) -> Option<(usize, usize)> {
        self.search_term()?;
        let s = self.detail_search.as_ref()?;
        let at = s.current.and_then(|c| s.hits.iter().position(|&h| h == c));
        Some((at.map_or(0, |i| i + 1), s.hits.len()))
    }

    /// `b`: asks where to save the shown tab's body.
    pub(super) fn open_save_body(&mut self) {
        let Some(ex) = self.selected_exchange() else {
            self.notify("nothing selected".into(), true);
            return;
        };
        let (body, tab) = match self.tab {
            Tab::Request => (&ex.request.body, "request"),
            Tab::Response => match &ex.response {
                Some(r) => (&r.body, "response"),
                None => {
                    self.notify("no response".into(), true);
                    return;
                }
            },
        };
        if body.data.is_empty() {
            let why = if body.evicted {
                "its body was evicted (memory budget)"
            } else {
                "it has no body"
            };
            self.notify(format!("nothing to save: {why}"), true);
            return;
        }
        let what = format!("the {tab} body ({} bytes)", body.data.len());
        let bytes = body.data.clone();
        let stamp = crate::ui::format::file_stamp(self.now, self.utc_offset());
        self.write_prompt = Some(super::WritePrompt {
            path: format!("apitop-{stamp}-{tab}.body"),
            what,
            body: Some(bytes),
        });
    }
}
