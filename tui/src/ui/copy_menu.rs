//! The "Copy as…" menu: every format's snippet for one exchange, one selected and previewed;
//! Enter copies it. Formats that cannot express the exchange are listed with the reason and
//! cannot be selected.
use capture::exchange::Exchange;
use crossterm::event::{KeyCode, KeyEvent};

use super::app::Effect;
use super::clipboard::Route;
use super::copy_as::{self, Format, Snippet};
use super::keymap::Action;

pub struct CopyMenu {
    /// Every format that applies to the exchange, in menu order (grpcurl only for gRPC).
    pub entries: Vec<(Format, Result<Snippet, String>)>,
    /// Index into `entries`; always an available one.
    pub selected: usize,
    /// The format last copied from this menu, until the route of the next copy is known.
    pub copied: Option<Format>,
    /// None until the runtime reports how the copy went.
    pub route: Option<Route>,
}

impl CopyMenu {
    /// The menu with `prefer` selected when it can express the exchange, else curl.
    pub fn open(ex: &Exchange, prefer: Format) -> CopyMenu {
        let grpc = capture::grpc::is_grpc(&ex.request.headers);
        let entries: Vec<_> = Format::ALL
            .into_iter()
            .filter(|f| *f != Format::Grpcurl || grpc)
            .map(|f| (f, copy_as::snippet(f, ex)))
            .collect();
        let available = |f: Format| entries.iter().position(|(g, s)| *g == f && s.is_ok());
        let selected = available(prefer).or(available(Format::Curl)).unwrap_or(0);
        CopyMenu {
            entries,
            selected,
            copied: None,
            route: None,
        }
    }

    pub fn current(&self) -> Option<(Format, &Snippet)> {
        match self.entries.get(self.selected) {
            Some((f, Ok(s))) => Some((*f, s)),
            _ => None,
        }
    }

    /// Moves to the next available entry in `step`'s direction, wrapping.
    fn step(&mut self, forward: bool) {
        let n = self.entries.len();
        for i in 1..n {
            let j = if forward {
                (self.selected + i) % n
            } else {
                (self.selected + n - i) % n
            };
            if self.entries[j].1.is_ok() {
                self.selected = j;
                return;
            }
        }
    }

    fn pick(&mut self, f: Format) {
        if let Some(i) = self.entries.iter().position(|(g, s)| *g == f && s.is_ok()) {
            self.selected = i;
        }
    }
}

/// A key while the menu is open: moves, picks, copies (remembering the format in `last` for
/// the next menu) or closes.
pub fn key(
    menu: &mut Option<CopyMenu>,
    last: &mut Format,
    action: Option<Action>,
    k: &KeyEvent,
    fx: &mut Vec<Effect>,
) {
    let Some(m) = menu else { return };
    match action {
        Some(Action::Close) => *menu = None,
        Some(Action::Up) => m.step(false),
        Some(Action::Down) => m.step(true),
        Some(Action::Pick) => match k.code {
            KeyCode::Char('g') => m.pick(Format::Grpcurl),
            KeyCode::Char(c) => {
                if let Some(f) = Format::from_key(c) {
                    m.pick(f);
                }
            }
            _ => {}
        },
        Some(Action::Accept) => {
            if let Some((f, s)) = m.current() {
                fx.push(Effect::Clipboard(s.text.clone()));
                *last = f;
                m.copied = Some(f);
                m.route = None;
            }
        }
        _ => {}
    }
}
