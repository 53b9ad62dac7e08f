//! The clipboard route: arboard (one handle kept for the whole run, because on X11 the text
//! vanishes with the handle), else an OSC 52 escape that the terminal (or tmux with
//! `set-clipboard on`) puts on the clipboard — which also works over SSH and under sudo.
use std::io::Write;

use crossterm::clipboard::CopyToClipboard;

/// How a copy was delivered, for the popup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// The system clipboard, via arboard.
    System,
    /// An OSC 52 escape sent to the terminal; the reason the system clipboard was not used.
    Osc52 { why: String },
    /// Neither worked.
    Failed { why: String },
}

impl Route {
    pub fn describe(&self) -> String {
        match self {
            Route::System => "copied to the system clipboard".into(),
            Route::Osc52 { why } => format!("sent to the terminal as OSC 52 ({why})"),
            Route::Failed { why } => format!("not copied: {why}"),
        }
    }
}

pub struct Clipboard {
    handle: Result<arboard::Clipboard, String>,
}

impl Default for Clipboard {
    fn default() -> Self {
        Self::new()
    }
}

impl Clipboard {
    pub fn new() -> Clipboard {
        // Over SSH a display clipboard (if any) is the remote machine's: the user wants theirs.
        let handle = if std::env::var_os("SSH_CONNECTION").is_some() {
            Err("over SSH".to_string())
        } else if std::env::var_os("DISPLAY").is_none()
            && std::env::var_os("WAYLAND_DISPLAY").is_none()
        {
            // Typical under sudo (which drops DISPLAY) and on consoles.
            Err("no display".to_string())
        } else {
            arboard::Clipboard::new().map_err(|e| short(&e.to_string()))
        };
        Clipboard { handle }
    }

    /// Copies `text`; `term` is where OSC 52 goes (the terminal the UI draws on).
    pub fn copy(&mut self, text: &str, term: &mut impl Write) -> Route {
        let why = match &mut self.handle {
            Ok(cb) => match cb.set_text(text.to_string()) {
                Ok(()) => return Route::System,
                Err(e) => short(&e.to_string()),
            },
            Err(why) => why.clone(),
        };
        match crossterm::execute!(term, CopyToClipboard::to_clipboard_from(text)) {
            Ok(()) => Route::Osc52 { why },
            Err(e) => Route::Failed {
                why: format!("{why}; OSC 52: {e}"),
            },
        }
    }
}

fn short(s: &str) -> String {
    let line = s.lines().next().unwrap_or(s);
    if line.chars().count() > 60 {
        line.chars().take(59).chain(['…']).collect()
    } else {
        line.to_string()
    }
}
