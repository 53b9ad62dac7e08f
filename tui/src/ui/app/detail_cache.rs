//! The detail pane's lines: built once per (exchange, tab), with large JSON bodies
//! highlighted off the UI thread and remembered.
use ratatui::text::Line;

use super::*;

/// The built lines of the selected exchange's shown tab.
pub(super) struct DetailCache {
    pub(super) key: (Seq, Tab),
    pub(super) lines: Vec<Line<'static>>,
    body_start: usize,
    /// Generation of the highlight job this cache waits for.
    pub(super) pending: Option<u64>,
}

impl App {
    pub(super) fn sync_detail(&mut self, fx: &mut Vec<Effect>) {
        let Some(seq) = self.selected else {
            self.detail = None;
            return;
        };
        let key = (seq, self.tab);
        if self.detail.as_ref().is_some_and(|d| d.key == key) {
            return;
        }
        let visible = self.panes.zoom_detail || self.areas().detail.is_some();
        if !visible {
            return;
        }
        let Some(e) = self.store.get(seq) else { return };
        let offset = self.cfg.utc_offset.unwrap_or(0);
        let built = detail::build(&e.ex, self.tab, &self.theme, offset, self.cfg.max_body);
        let mut cache = DetailCache {
            key,
            lines: built.lines,
            body_start: built.body_start,
            pending: None,
        };
        if let Some(json) = built.json {
            if let Some(hl) = self.highlighted.get(&key) {
                splice(&mut cache, hl.as_ref().clone());
            } else if json.len() <= HIGHLIGHT_INLINE_MAX {
                let hl = self.highlighter.json(&json);
                self.remember(key, hl.clone());
                splice(&mut cache, hl);
            } else {
                self.highlight_gen += 1;
                cache.pending = Some(self.highlight_gen);
                fx.push(Effect::Highlight {
                    gen: self.highlight_gen,
                    text: json,
                });
            }
        }
        if self.detail.as_ref().is_none_or(|d| d.key.0 != seq) {
            self.detail_scroll = 0;
        }
        self.detail = Some(cache);
        // Another exchange or tab: a kept search starts again from its top.
        self.refresh_hits();
    }

    pub(super) fn remember(&mut self, key: (Seq, Tab), lines: Vec<Line<'static>>) {
        if self.highlighted.len() >= 32 {
            self.highlighted.clear();
        }
        self.highlighted.insert(key, Arc::new(lines));
    }

    pub(super) fn highlighted(&mut self, gen: u64, lines: Vec<Line<'static>>) {
        // A result for anything but the body on screen now is stale: drop it.
        let Some(d) = &mut self.detail else { return };
        if d.pending != Some(gen) {
            return;
        }
        let key = d.key;
        splice(d, lines.clone());
        d.pending = None;
        self.remember(key, lines);
        let current = self.detail_search.as_ref().and_then(|s| s.current);
        self.refresh_hits();
        if let Some(s) = &mut self.detail_search {
            s.current = current;
        }
    }
}

fn splice(d: &mut DetailCache, body: Vec<Line<'static>>) {
    // Only the body's own lines are replaced; trailers (if any) follow the plain body.
    let plain_body_len = body.len();
    let end = (d.body_start + plain_body_len).min(d.lines.len());
    d.lines.splice(d.body_start..end, body);
}
