//! Keys → actions, one table per mode. The help overlay is generated from these same tables,
//! so it cannot drift from behaviour.
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    Picker,
    List,
    Detail,
    Tree,
    Filter,
    Help,
    Popup,
    /// The `w` prompt: a file name.
    Prompt,
    /// The stats view (`s`).
    Stats,
    /// Typing a search in the detail pane.
    Search,
    /// Two exchanges compared (`=`).
    Diff,
}

impl Mode {
    pub fn title(self) -> &'static str {
        match self {
            Mode::Picker => "process picker",
            Mode::List => "request list",
            Mode::Detail => "detail",
            Mode::Tree => "endpoint tree",
            Mode::Filter => "filter bar",
            Mode::Help => "help",
            Mode::Popup => "popup",
            Mode::Prompt => "write prompt",
            Mode::Stats => "stats view",
            Mode::Search => "detail search",
            Mode::Diff => "compare",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Quit,
    Help,
    FocusNext,
    FocusPrev,
    OpenFilter,
    OpenPicker,
    ToggleTree,
    ToggleDetail,
    Grow,
    Shrink,
    Copy,
    /// Copy menu: choose a format by its digit (or `g`, grpcurl).
    Pick,
    Follow,
    Sort,
    Reverse,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// List: open the detail; tree: filter the list to the subtree.
    Enter,
    /// Detail: back to the list; list/tree: clear the drill-down.
    Back,
    PrevTab,
    NextTab,
    Expand,
    Collapse,
    ToggleExpand,
    /// Picker: mark a process; list/detail: mark the selected exchange.
    Mark,
    /// Show only marked exchanges, or all again.
    OnlyMarked,
    /// Delete the selected exchange.
    Delete,
    /// Forget every exchange.
    ClearAll,
    /// Write the marked (or shown) exchanges to a file.
    Write,
    /// Open the stats view.
    Stats,
    /// Stats view: sort by p99 latency.
    SlowPreset,
    /// Stats view: sort by response bytes.
    BigPreset,
    /// Detail: search its text.
    Search,
    NextMatch,
    PrevMatch,
    /// Detail: save the shown body to a file.
    SaveBody,
    /// Compare the two marked exchanges.
    Diff,
    /// Compare: show only the differences, or everything.
    OnlyChanges,
    Attach,
    Detach,
    Refresh,
    Close,
    /// Filter bar: keep the expression and close the bar; copy menu: copy.
    Accept,
    /// Filter bar: restore the expression from before the bar opened.
    Cancel,
    DeleteBack,
    ClearInput,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

const fn k(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        mods: KeyModifiers::NONE,
    }
}

const fn code(code: KeyCode) -> Key {
    Key {
        code,
        mods: KeyModifiers::NONE,
    }
}

const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        mods: KeyModifiers::CONTROL,
    }
}

pub struct Binding {
    pub keys: &'static [Key],
    pub action: Action,
    pub help: &'static str,
}

const fn b(keys: &'static [Key], action: Action, help: &'static str) -> Binding {
    Binding { keys, action, help }
}

const MOVE: &[Binding] = &[
    b(&[k('k'), code(KeyCode::Up)], Action::Up, "up"),
    b(&[k('j'), code(KeyCode::Down)], Action::Down, "down"),
    b(
        &[code(KeyCode::PageUp), ctrl('b')],
        Action::PageUp,
        "page up",
    ),
    b(
        &[code(KeyCode::PageDown), ctrl('f')],
        Action::PageDown,
        "page down",
    ),
    b(&[k('g'), code(KeyCode::Home)], Action::Top, "first"),
    b(&[k('G'), code(KeyCode::End)], Action::Bottom, "last"),
];

/// Keys of the main view, whichever pane has focus.
const MAIN: &[Binding] = &[
    b(&[code(KeyCode::Tab)], Action::FocusNext, "next pane"),
    b(
        &[code(KeyCode::BackTab)],
        Action::FocusPrev,
        "previous pane",
    ),
    b(
        &[k('/'), k('f')],
        Action::OpenFilter,
        "filter (as you type)",
    ),
    b(
        &[k('c')],
        Action::Copy,
        "copy request as… curl, HTTPie, raw, Python, fetch",
    ),
    b(&[k('F')], Action::Follow, "follow newest on/off"),
    b(
        &[k('o')],
        Action::Sort,
        "sort: time, duration, size, status",
    ),
    b(&[k('v')], Action::Reverse, "reverse sort"),
    b(&[k('m')], Action::Mark, "mark / unmark exchange"),
    b(&[k('M')], Action::OnlyMarked, "only marked / all"),
    b(&[k('d')], Action::Delete, "delete exchange"),
    b(&[k('z')], Action::ClearAll, "clear all exchanges"),
    b(
        &[k('w')],
        Action::Write,
        "write marked (or shown) to .har or .apitop",
    ),
    b(&[k('s')], Action::Stats, "stats per endpoint"),
    b(&[k('t')], Action::ToggleTree, "show/hide endpoint tree"),
    b(&[k('D')], Action::ToggleDetail, "show/hide detail"),
    b(&[k('=')], Action::Diff, "compare the two marked exchanges"),
    b(&[k('+')], Action::Grow, "grow focused pane"),
    b(&[k('-')], Action::Shrink, "shrink focused pane"),
    b(&[k('p')], Action::OpenPicker, "process picker"),
    b(&[k('?')], Action::Help, "help"),
    b(&[k('q'), ctrl('c')], Action::Quit, "quit"),
];

const LIST: &[Binding] = &[
    b(&[code(KeyCode::Enter)], Action::Enter, "open detail"),
    b(
        &[code(KeyCode::Esc)],
        Action::Back,
        "clear endpoint drill-down",
    ),
];

const DETAIL: &[Binding] = &[
    b(
        &[code(KeyCode::Left), k('h'), k('[')],
        Action::PrevTab,
        "request tab",
    ),
    b(
        &[code(KeyCode::Right), k('l'), k(']')],
        Action::NextTab,
        "response tab",
    ),
    b(&[k('/')], Action::Search, "search headers and body"),
    b(&[k('n')], Action::NextMatch, "next match"),
    b(&[k('N')], Action::PrevMatch, "previous match"),
    b(&[k('b')], Action::SaveBody, "save the body to a file"),
    b(&[code(KeyCode::Esc)], Action::Back, "back to the list"),
];

const TREE: &[Binding] = &[
    b(
        &[code(KeyCode::Enter)],
        Action::Enter,
        "filter list to this subtree",
    ),
    b(&[code(KeyCode::Esc)], Action::Back, "clear drill-down"),
    b(&[code(KeyCode::Right), k('l')], Action::Expand, "expand"),
    b(&[code(KeyCode::Left), k('h')], Action::Collapse, "collapse"),
    b(&[k(' ')], Action::ToggleExpand, "expand/collapse"),
];

const PICKER: &[Binding] = &[
    b(&[code(KeyCode::Up)], Action::Up, "up"),
    b(&[code(KeyCode::Down)], Action::Down, "down"),
    b(&[code(KeyCode::PageUp)], Action::PageUp, "page up"),
    b(&[code(KeyCode::PageDown)], Action::PageDown, "page down"),
    b(&[k(' ')], Action::Mark, "mark / unmark"),
    b(
        &[code(KeyCode::Enter)],
        Action::Attach,
        "attach to marked (or highlighted)",
    ),
    b(&[ctrl('d')], Action::Detach, "detach highlighted target"),
    b(
        &[ctrl('r'), code(KeyCode::F(5))],
        Action::Refresh,
        "refresh list",
    ),
    b(&[ctrl('u')], Action::ClearInput, "clear search"),
    b(&[code(KeyCode::Backspace)], Action::DeleteBack, "delete"),
    b(&[code(KeyCode::F(1))], Action::Help, "help"),
    b(&[code(KeyCode::Esc)], Action::Close, "close picker"),
    b(&[ctrl('c')], Action::Quit, "quit"),
];

const FILTER: &[Binding] = &[
    b(
        &[code(KeyCode::Enter)],
        Action::Accept,
        "keep filter, close bar",
    ),
    b(
        &[code(KeyCode::Esc)],
        Action::Cancel,
        "undo edits, close bar",
    ),
    b(&[code(KeyCode::Backspace)], Action::DeleteBack, "delete"),
    b(&[ctrl('u')], Action::ClearInput, "clear"),
    b(&[ctrl('c')], Action::Quit, "quit"),
];

const SEARCH: &[Binding] = &[
    b(
        &[code(KeyCode::Enter)],
        Action::Accept,
        "keep the search (n/N step)",
    ),
    b(&[code(KeyCode::Esc)], Action::Cancel, "drop the search"),
    b(&[code(KeyCode::Backspace)], Action::DeleteBack, "delete"),
    b(&[ctrl('u')], Action::ClearInput, "clear"),
    b(&[ctrl('c')], Action::Quit, "quit"),
];

const DIFF: &[Binding] = &[
    b(
        &[k('x')],
        Action::OnlyChanges,
        "only differences / everything",
    ),
    b(
        &[code(KeyCode::Esc), k('q'), k('=')],
        Action::Close,
        "close",
    ),
    b(&[k('?')], Action::Help, "help"),
    b(&[ctrl('c')], Action::Quit, "quit"),
];

const PROMPT: &[Binding] = &[
    b(&[code(KeyCode::Enter)], Action::Accept, "write the file"),
    b(&[code(KeyCode::Esc)], Action::Cancel, "cancel"),
    b(&[code(KeyCode::Backspace)], Action::DeleteBack, "delete"),
    b(&[ctrl('u')], Action::ClearInput, "clear"),
    b(&[ctrl('c')], Action::Quit, "quit"),
];

const STATS: &[Binding] = &[
    b(
        &[code(KeyCode::Enter)],
        Action::Enter,
        "list this endpoint's exchanges",
    ),
    b(
        &[k('>'), code(KeyCode::Right), k('l')],
        Action::NextTab,
        "sort by the next column",
    ),
    b(
        &[k('<'), code(KeyCode::Left), k('h')],
        Action::PrevTab,
        "sort by the previous column",
    ),
    b(&[k('v')], Action::Reverse, "reverse sort"),
    b(&[k('S')], Action::SlowPreset, "slow: sort by p99"),
    b(&[k('B')], Action::BigPreset, "big: sort by response bytes"),
    b(
        &[code(KeyCode::Esc), k('q'), k('s')],
        Action::Close,
        "close stats",
    ),
    b(&[k('?')], Action::Help, "help"),
    b(&[ctrl('c')], Action::Quit, "quit"),
];

const HELP: &[Binding] = &[
    b(
        &[code(KeyCode::Esc), k('?'), k('q'), code(KeyCode::F(1))],
        Action::Close,
        "close help",
    ),
    b(&[k('k'), code(KeyCode::Up)], Action::Up, "scroll up"),
    b(&[k('j'), code(KeyCode::Down)], Action::Down, "scroll down"),
    b(&[ctrl('c')], Action::Quit, "quit"),
];

const POPUP: &[Binding] = &[
    b(&[k('k'), code(KeyCode::Up)], Action::Up, "previous format"),
    b(&[k('j'), code(KeyCode::Down)], Action::Down, "next format"),
    b(
        &[k('1'), k('2'), k('3'), k('4'), k('5'), k('6'), k('g')],
        Action::Pick,
        "choose a format by its number (g: grpcurl)",
    ),
    b(
        &[code(KeyCode::Enter)],
        Action::Accept,
        "copy the selected format",
    ),
    b(
        &[code(KeyCode::Esc), k('q'), k('c')],
        Action::Close,
        "close",
    ),
    b(&[ctrl('c')], Action::Quit, "quit"),
];

/// The tables consulted for `mode`, most specific first.
pub fn tables(mode: Mode) -> &'static [&'static [Binding]] {
    match mode {
        Mode::List => &[LIST, MOVE, MAIN],
        Mode::Detail => &[DETAIL, MOVE, MAIN],
        Mode::Tree => &[TREE, MOVE, MAIN],
        Mode::Picker => &[PICKER],
        Mode::Filter => &[FILTER],
        Mode::Help => &[HELP],
        Mode::Popup => &[POPUP],
        Mode::Prompt => &[PROMPT],
        Mode::Stats => &[STATS, MOVE],
        Mode::Search => &[SEARCH],
        Mode::Diff => &[DIFF, MOVE],
    }
}

/// The action bound to `ev` in `mode`.
pub fn action(mode: Mode, ev: &KeyEvent) -> Option<Action> {
    // Shift is part of the character ('G', '?'), so it is not compared for character keys.
    let mods = match ev.code {
        KeyCode::Char(_) => ev.modifiers - KeyModifiers::SHIFT,
        _ => ev.modifiers,
    };
    tables(mode)
        .iter()
        .flat_map(|t| t.iter())
        .find(|bnd| {
            bnd.keys
                .iter()
                .any(|key| key.code == ev.code && key.mods == mods)
        })
        .map(|bnd| bnd.action)
}

/// `Ctrl-c`, `PgDn`, `j`.
pub fn key_name(key: &Key) -> String {
    let base = match key.code {
        KeyCode::Char(' ') => "Space".to_string(),
        KeyCode::Char(c) => c.to_string(),
        KeyCode::Up => "↑".into(),
        KeyCode::Down => "↓".into(),
        KeyCode::Left => "←".into(),
        KeyCode::Right => "→".into(),
        KeyCode::PageUp => "PgUp".into(),
        KeyCode::PageDown => "PgDn".into(),
        KeyCode::Home => "Home".into(),
        KeyCode::End => "End".into(),
        KeyCode::Enter => "Enter".into(),
        KeyCode::Esc => "Esc".into(),
        KeyCode::Tab => "Tab".into(),
        KeyCode::BackTab => "S-Tab".into(),
        KeyCode::Backspace => "Bksp".into(),
        KeyCode::F(n) => format!("F{n}"),
        other => format!("{other:?}"),
    };
    if key.mods.contains(KeyModifiers::CONTROL) {
        format!("Ctrl-{base}")
    } else {
        base
    }
}

/// Help rows for `mode`: (keys, what they do), generated from the tables.
pub fn help_rows(mode: Mode) -> Vec<(String, &'static str)> {
    tables(mode)
        .iter()
        .flat_map(|t| t.iter())
        .map(|bnd| {
            let keys: Vec<String> = bnd.keys.iter().map(key_name).collect();
            (keys.join(" "), bnd.help)
        })
        .collect()
}
