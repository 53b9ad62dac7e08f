//! The UI state and its one entry point, [`App::handle`]: a message in, effects out, no I/O.
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use capture::exchange::UnixNanos;
use capture::output::{CaptureStats, Output};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use ratatui::text::Line;

use super::clipboard::Route;
use super::copy_as::Format;
use super::copy_menu::{self, CopyMenu};
use super::endpoints::{EndpointTree, NodeId, Stats};
use super::filter::{Filter, FilterError};
use super::highlight::Highlighter;
use super::keymap::{self, Action, Mode};
use super::layout::{self, Areas, Pane, Panes};
use super::picker::{self, Picker, ProcessRow};
use super::store::{Entry, Seq, SortKey, Store};
use super::theme::Theme;
use super::views::detail;

mod access;
mod detail_cache;
use detail_cache::DetailCache;
use filtering::in_drill;
mod detail_search;
mod diff_view;
mod filtering;
mod keys;
mod manage;
mod picker_keys;
mod stats_view;
pub use detail_search::DetailSearch;
pub use diff_view::DiffView;
pub use manage::WritePrompt;
pub use stats_view::StatsView;

/// Stores at least this large refilter once typing in the filter bar pauses, not per key.
const REFILTER_DEBOUNCE_FROM: usize = 50_000;
/// The pause in typing after which a debounced filter is applied.
const REFILTER_PAUSE_NS: u64 = 150_000_000;

/// Pretty JSON up to this size is highlighted inside `handle`; larger goes to a task.
pub const HIGHLIGHT_INLINE_MAX: usize = 16 * 1024;
/// How long a notice stays in the bar.
const NOTICE_NS: u64 = 5_000_000_000;

#[derive(Clone, Debug)]
pub struct Config {
    /// The theme: `Theme::load("dark" | "light" | path)`.
    pub theme: Theme,
    /// The store keeps the newest this many exchanges.
    pub max_exchanges: usize,
    /// The store's byte budget (see [`super::store::heap_bytes`]).
    pub max_memory: usize,
    /// The endpoint tree's total node cap, hosts included.
    pub max_tree_nodes: usize,
    /// Start in the process picker (no targets were given).
    pub open_picker: bool,
    /// Capture's body cap, shown next to truncated bodies.
    pub max_body: Option<u64>,
    /// Targets given on the command line: (pid, name).
    pub targets: Vec<(u32, String)>,
    /// What feeds the UI, for the status bar: `live`, or a recording's file name.
    pub source: String,
    /// Seconds east of UTC for displayed times; the runtime fills in the local offset.
    pub utc_offset: Option<i32>,
    /// A fixed clock (tests): ticks are ignored and this is "now".
    pub fixed_now: Option<UnixNanos>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            theme: Theme::default(),
            max_exchanges: 100_000,
            max_memory: super::store::DEFAULT_MAX_MEMORY,
            max_tree_nodes: super::endpoints::DEFAULT_MAX_NODES,
            open_picker: false,
            max_body: None,
            targets: Vec::new(),
            source: "live".into(),
            utc_offset: None,
            fixed_now: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tab {
    Request,
    Response,
}

#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Capture(Output),
    Stats(CaptureStats),
    /// A frame tick: wall-clock now.
    Tick(UnixNanos),
    Resize(u16, u16),
    /// A highlighted body, computed off the render path for [`Effect::Highlight`].
    Highlighted {
        gen: u64,
        lines: Vec<Line<'static>>,
    },
    Processes(Vec<ProcessRow>),
    /// The outcome of an [`Effect::Clipboard`].
    Copied(Route),
    /// Something the capture side wants the user to know (attach failed, ...).
    Notice(String),
    /// The capture source ended (end of a recording, or capture stopped).
    CaptureEnded(Option<String>),
    /// The outcome of an [`Effect::Write`]: what was written, or why not.
    Written(Result<String, String>),
}

#[derive(Debug, PartialEq)]
pub enum Effect {
    Attach(Vec<u32>),
    /// Load apitop's Java agent into these JVMs (the user confirmed it in the picker).
    AttachJava(Vec<u32>),
    Detach(u32),
    Clipboard(String),
    /// Highlight `text` (pretty JSON) and answer with `Msg::Highlighted { gen, .. }`.
    Highlight {
        gen: u64,
        text: String,
    },
    /// List processes and answer with `Msg::Processes`.
    RefreshProcesses,
    /// Write `exchanges` to `path` (`w`), off the UI thread; answered with `Msg::Written`.
    Write {
        path: std::path::PathBuf,
        exchanges: Vec<capture::exchange::Exchange>,
    },
    /// Save a body's bytes to `path` (`b`), off the UI thread; answered with `Msg::Written`.
    SaveBody {
        path: std::path::PathBuf,
        bytes: Vec<u8>,
    },
    Quit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub pid: u32,
    pub comm: String,
    pub alive: bool,
}

pub struct Notice {
    pub text: String,
    pub error: bool,
    pub until: UnixNanos,
}

pub struct App {
    pub(crate) theme: Theme,
    highlighter: Arc<Highlighter>,
    cfg: Config,
    pub(crate) store: Store,
    pub(crate) tree: EndpointTree,
    /// Per-node stats of the exchanges the filter matches (indexed by node id), while a filter
    /// is in force: the tree then shows where the filtered traffic goes.
    tree_filtered: Option<Vec<Stats>>,
    size: Rect,
    pub(crate) panes: Panes,
    focus: Pane,
    help: Option<(Mode, usize)>,
    pub(crate) popup: Option<CopyMenu>,
    copy_format: Format,
    pub(crate) picker: Option<Picker>,
    filter_open: bool,
    pub(crate) filter_text: String,
    filter_before: String,
    /// A filter typed over a large store, applied at this time unless more keys come first.
    refilter_due: Option<UnixNanos>,
    filter: Option<Filter>,
    pub(crate) filter_error: Option<FilterError>,
    /// Endpoint-tree drill-down: the list shows this subtree only.
    drill: Option<NodeId>,
    /// The drill-down came from the stats view: the node's own exchanges, not its subtree's,
    /// so that the list holds what the row counted.
    drill_exact: bool,
    /// `M`: the list shows marked exchanges only.
    only_marked: bool,
    /// The `w` prompt, while open.
    write_prompt: Option<WritePrompt>,
    /// The stats view, while open.
    stats_view: Option<StatsView>,
    /// The detail pane's search, while typed or kept.
    detail_search: Option<DetailSearch>,
    /// The comparison of two marked exchanges, while open.
    diff_view: Option<DiffView>,
    selected: Option<Seq>,
    /// Display row of `selected` at the last sync (where to land if it disappears).
    sel_row: usize,
    pub(crate) list_offset: usize,
    follow: bool,
    reverse: bool,
    /// The newest exchange in the view, for follow under any sort.
    newest_match: Option<Seq>,
    tab: Tab,
    detail_scroll: usize,
    detail: Option<DetailCache>,
    highlight_gen: u64,
    /// Highlighted bodies by (exchange, tab), so revisiting one is instant.
    highlighted: HashMap<(Seq, Tab), Arc<Vec<Line<'static>>>>,
    tree_sel: Option<NodeId>,
    pub(crate) tree_offset: usize,
    collapsed: HashSet<NodeId>,
    /// Visible tree rows, recomputed when nodes are added or collapsed.
    pub(crate) tree_rows: Vec<NodeId>,
    /// The tree generation `tree_rows` was computed at (None: recompute).
    tree_rows_gen: Option<u64>,
    pub(crate) stats: CaptureStats,
    pub(crate) targets: Vec<Target>,
    pub(crate) opaque: u64,
    pub(crate) total_seen: u64,
    pub(crate) rate: f64,
    rate_mark: Option<(UnixNanos, u64)>,
    now: UnixNanos,
    pub(crate) notice: Option<Notice>,
    pub(crate) ended: Option<String>,
    quit: bool,
}

impl App {
    pub fn new(cfg: Config) -> App {
        let highlighter = Arc::new(Highlighter::new(&cfg.theme));
        let mut app = App {
            theme: cfg.theme.clone(),
            highlighter,
            store: Store::with_budget(cfg.max_exchanges, cfg.max_memory),
            tree: EndpointTree::with_max_nodes(cfg.max_tree_nodes),
            tree_filtered: None,
            size: Rect::new(0, 0, 80, 24),
            panes: Panes::default(),
            focus: Pane::List,
            help: None,
            popup: None,
            copy_format: Format::Curl,
            picker: None,
            filter_open: false,
            filter_text: String::new(),
            filter_before: String::new(),
            refilter_due: None,
            filter: None,
            filter_error: None,
            drill: None,
            drill_exact: false,
            only_marked: false,
            write_prompt: None,
            stats_view: None,
            detail_search: None,
            diff_view: None,
            selected: None,
            sel_row: 0,
            list_offset: 0,
            follow: true,
            reverse: false,
            newest_match: None,
            tab: Tab::Request,
            detail_scroll: 0,
            detail: None,
            highlight_gen: 0,
            highlighted: HashMap::new(),
            tree_sel: None,
            tree_offset: 0,
            collapsed: HashSet::new(),
            tree_rows: Vec::new(),
            tree_rows_gen: None,
            stats: CaptureStats::default(),
            targets: cfg
                .targets
                .iter()
                .map(|(pid, comm)| Target {
                    pid: *pid,
                    comm: comm.clone(),
                    alive: true,
                })
                .collect(),
            opaque: 0,
            total_seen: 0,
            rate: 0.0,
            rate_mark: None,
            now: cfg.fixed_now.unwrap_or(0),
            notice: None,
            ended: None,
            quit: false,
            cfg,
        };
        if let Some(w) = app.highlighter.warning.clone() {
            app.notify(w, true);
        }
        app
    }

    /// The effects to run at start (the picker's first process list).
    pub fn start(&mut self) -> Vec<Effect> {
        if self.cfg.open_picker {
            self.picker = Some(Picker::new());
            return vec![Effect::RefreshProcesses];
        }
        Vec::new()
    }

    pub fn highlighter(&self) -> Arc<Highlighter> {
        self.highlighter.clone()
    }

    pub fn handle(&mut self, msg: Msg) -> Vec<Effect> {
        let mut fx = Vec::new();
        match msg {
            Msg::Capture(out) => {
                // Hot path: no view maintenance here; `sync` folds arrivals in once per frame.
                self.capture(out);
                return fx;
            }
            Msg::Key(k) => self.key(k, &mut fx),
            Msg::Stats(s) => self.stats = s,
            Msg::Tick(now) => self.tick(now),
            Msg::Resize(w, h) => self.size = Rect::new(0, 0, w, h),
            Msg::Highlighted { gen, lines } => self.highlighted(gen, lines),
            Msg::Processes(procs) => {
                if let Some(p) = &mut self.picker {
                    p.set_procs(procs);
                }
            }
            Msg::Copied(route) => {
                if let Some(p) = &mut self.popup {
                    p.route = Some(route);
                }
            }
            Msg::Notice(text) => self.notify(text, true),
            Msg::Written(Ok(text)) => self.notify(text, false),
            Msg::Written(Err(text)) => self.notify(text, true),
            Msg::CaptureEnded(why) => {
                let text = why.unwrap_or_else(|| "capture ended".into());
                self.notify(text.clone(), false);
                self.ended = Some(text);
            }
        }
        self.sync(&mut fx);
        if self.quit && !fx.contains(&Effect::Quit) {
            fx.push(Effect::Quit);
        }
        fx
    }

    fn capture(&mut self, out: Output) {
        match out {
            Output::Exchange(ex) => {
                self.total_seen += 1;
                let node = self.tree.insert(&ex);
                if let (Some(f), Some(stats)) = (&self.filter, &mut self.tree_filtered) {
                    if f.matches(&ex) {
                        stats.resize_with(self.tree.len(), Stats::default);
                        for n in self.tree.path_to_root(node) {
                            stats[n as usize].add(&ex);
                        }
                    }
                }
                let matches = self.matches_parts(&ex, node);
                let mut removed = Vec::new();
                let (tree, filter, filtered) =
                    (&mut self.tree, &self.filter, &mut self.tree_filtered);
                let seq = self.store.push_with(ex, node, matches, |gone| {
                    super::evict::forget(tree, filter.as_ref(), filtered, &gone, &mut removed)
                });
                if matches {
                    self.newest_match = Some(seq);
                }
                if !removed.is_empty() {
                    self.nodes_removed(&removed);
                }
            }
            Output::Opaque(c) => {
                self.opaque += 1;
                // A connection whose decoding stopped part-way says why (never-HTTP ones are
                // only counted: there are many, and nothing went wrong).
                if c.reason != "not HTTP" {
                    let peer = c.peer_addr.as_deref().unwrap_or("?");
                    self.notify(format!("{} → {peer}: {}", c.comm, c.reason), true);
                }
            }
            Output::Process { pid, comm, .. } => {
                match self.targets.iter_mut().find(|t| t.pid == pid) {
                    Some(t) => {
                        t.comm = comm;
                        t.alive = true;
                    }
                    None => self.targets.push(Target {
                        pid,
                        comm,
                        alive: true,
                    }),
                }
            }
            Output::Exit { pid, .. } => super::evict::target_exited(&mut self.targets, pid),
        }
    }

    /// Tree nodes went with evicted exchanges: nothing may keep pointing at their ids, which
    /// later inserts reuse.
    fn nodes_removed(&mut self, removed: &[NodeId]) {
        self.collapsed.retain(|n| !removed.contains(n));
        if self.tree_sel.is_some_and(|n| removed.contains(&n)) {
            self.tree_sel = None;
        }
        if self.drill.is_some_and(|n| removed.contains(&n)) {
            self.drill = None;
            self.rebuild_view();
            self.notify(
                "the endpoint shown was evicted with its exchanges".into(),
                false,
            );
        }
    }

    fn matches_parts(&self, ex: &capture::exchange::Exchange, node: NodeId) -> bool {
        // A new exchange is never marked: a marked-only view does not show it.
        !self.only_marked
            && self.filter.as_ref().is_none_or(|f| f.matches(ex))
            && in_drill(&self.tree, node, self.drill_spec())
    }

    fn tick(&mut self, now: UnixNanos) {
        let now = self.cfg.fixed_now.unwrap_or(now);
        self.now = now;
        match self.rate_mark {
            Some((t, n)) if now >= t + 1_000_000_000 => {
                let secs = (now - t) as f64 / 1e9;
                self.rate = (self.total_seen - n) as f64 / secs;
                self.rate_mark = Some((now, self.total_seen));
            }
            Some(_) => {}
            None => self.rate_mark = Some((now, self.total_seen)),
        }
        if self.notice.as_ref().is_some_and(|n| n.until <= now) {
            self.notice = None;
        }
        if self.refilter_due.is_some_and(|due| due <= now) {
            self.refilter_due = None;
            self.rebuild_view_and_tree();
        }
        self.refresh_stats();
    }

    fn notify(&mut self, text: String, error: bool) {
        self.notice = Some(Notice {
            text,
            error,
            until: self.now + NOTICE_NS,
        });
    }

    // ----- keys

    pub fn mode(&self) -> Mode {
        if self.popup.is_some() {
            Mode::Popup
        } else if self.help.is_some() {
            Mode::Help
        } else if self.write_prompt.is_some() {
            Mode::Prompt
        } else if self.diff_view.is_some() {
            Mode::Diff
        } else if self.stats_view.is_some() {
            Mode::Stats
        } else if self.detail_search.as_ref().is_some_and(|s| s.editing) {
            Mode::Search
        } else if self.filter_open {
            Mode::Filter
        } else if self.picker.is_some() {
            Mode::Picker
        } else {
            match self.focus {
                Pane::List => Mode::List,
                Pane::Detail => Mode::Detail,
                Pane::Tree => Mode::Tree,
            }
        }
    }

    /// Folds arrivals into the view, keeps the selection valid and visible, rebuilds the detail
    /// when the selection changed. Runs after every message except capture output.
    fn sync(&mut self, fx: &mut Vec<Effect>) {
        self.store.flush();
        let n = self.store.view_len();
        if n == 0 {
            self.selected = None;
        } else {
            if self.follow {
                self.selected = self.newest_match.filter(|&s| self.store.get(s).is_some());
            }
            let row = self
                .selected
                .and_then(|s| self.store.row_of(s, self.reverse));
            match row {
                Some(r) => self.sel_row = r,
                None => {
                    self.sel_row = self.sel_row.min(n - 1);
                    self.selected = self.store.at(self.sel_row, self.reverse);
                }
            }
        }
        let rows = self.list_rows();
        self.list_offset = layout::scroll(self.list_offset, self.sel_row, rows, n);
        self.refresh_tree_rows();
        if self.tree_sel.is_none() {
            self.tree_sel = self.tree_rows.first().copied();
        }
        let trow = self.tree_row().unwrap_or(0);
        let trows = layout::inner_rows(self.areas().tree, 1);
        self.tree_offset = layout::scroll(self.tree_offset, trow, trows, self.tree_rows.len());
        if let Some(p) = &mut self.picker {
            let rows = usize::from(self.size.height.saturating_sub(8));
            p.offset = layout::scroll(p.offset, p.cursor, rows, p.matches.len());
        }
        self.sync_detail(fx);
    }

    fn refresh_tree_rows(&mut self) {
        if self.tree_rows_gen != Some(self.tree.generation()) {
            self.tree_rows = self.tree.visible(&self.collapsed);
            self.tree_rows_gen = Some(self.tree.generation());
        }
    }

    fn tree_row(&self) -> Option<usize> {
        let sel = self.tree_sel?;
        self.tree_rows.iter().position(|&n| n == sel)
    }

    pub(crate) fn areas(&self) -> Areas {
        let bar = self.filter_open
            || !self.filter_text.is_empty()
            || self.drill.is_some()
            || self.notice.is_some()
            || self.write_prompt.is_some()
            || self.detail_search.as_ref().is_some_and(|s| s.editing);
        layout::areas(self.size, &self.panes, bar)
    }

    fn list_rows(&self) -> usize {
        layout::inner_rows(self.areas().list, 1)
    }
}

/// The character a key types, if it is plain typing.
fn typed(k: &KeyEvent) -> Option<char> {
    match k.code {
        KeyCode::Char(c)
            if !k
                .modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
        {
            Some(c)
        }
        _ => None,
    }
}

/// Whether `a` moves a cursor (by [`step`]).
fn is_move(a: Action) -> bool {
    matches!(
        a,
        Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Top
            | Action::Bottom
    )
}

fn step(cur: usize, a: Action, page: usize, n: usize) -> usize {
    let last = n.saturating_sub(1);
    match a {
        Action::Up => cur.saturating_sub(1),
        Action::Down => (cur + 1).min(last),
        Action::PageUp => cur.saturating_sub(page),
        Action::PageDown => (cur + page).min(last),
        Action::Top => 0,
        Action::Bottom => last,
        _ => cur,
    }
}
