//! The event loop: owns the terminal, feeds [`App::handle`], runs the effects it returns.
//!
//! Entry point for the binary:
//!
//! ```ignore
//! pub async fn run(config: Config, rx: mpsc::Receiver<UiInput>, control: mpsc::Sender<Control>)
//!     -> anyhow::Result<()>
//! pub fn run_blocking(config, rx, control) -> anyhow::Result<()>   // builds its own runtime
//! ```
//!
//! The caller creates both channels (`tokio::sync::mpsc::channel(4096)` is plenty), feeds
//! `UiInput::Output` / `UiInput::Stats` from a capture thread (live or a recording) with
//! `blocking_send`, drops the sender when the source ends (the UI then says so and keeps
//! running), and acts on `Control::Attach(pids)` / `Control::Detach(pid)` from `control`,
//! reporting failures back as `UiInput::Notice`. `run` returns when the user quits (`q`,
//! `Ctrl-c`) or on SIGTERM; the terminal is restored on every exit, panics included.
//! `Config::theme` comes from `Theme::load(name_or_path)`; `Config::open_picker` is true when
//! no target was given.
use std::io::{self, Stdout, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use capture::output::{CaptureStats, Output};
use capture::procinfo::{listening_ports, Inspector};
use crossterm::event::{Event, EventStream};
use crossterm::terminal::{self, EnterAlternateScreen, LeaveAlternateScreen};
use futures_util::StreamExt;
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use tokio::sync::mpsc;

use super::app::{App, Config, Effect, Msg};
use super::clipboard::Clipboard;
use super::picker::ProcessRow;
use super::views;

/// What the capture side sends the UI.
#[derive(Debug)]
pub enum UiInput {
    Output(Output),
    Stats(CaptureStats),
    /// A message for the user (e.g. "attach to 123 failed: ...").
    Notice(String),
    /// The source ended; the text says why ("end of recording").
    Ended(Option<String>),
}

/// What the UI asks of the capture side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    Attach(Vec<u32>),
    /// Load apitop's Java agent into these JVMs (confirmed by the user).
    AttachJava(Vec<u32>),
    Detach(u32),
}

const FRAME: Duration = Duration::from_millis(33);
/// Capture items handled per wake before keys and frames get their turn.
const DRAIN_BUDGET: usize = 20_000;

/// Runs [`run`] on a current-thread tokio runtime of its own.
pub fn run_blocking(
    config: Config,
    rx: mpsc::Receiver<UiInput>,
    control: mpsc::Sender<Control>,
) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .enable_io()
        .build()?
        .block_on(run(config, rx, control))
}

pub async fn run(
    mut config: Config,
    mut rx: mpsc::Receiver<UiInput>,
    control: mpsc::Sender<Control>,
) -> anyhow::Result<()> {
    if config.utc_offset.is_none() {
        config.utc_offset = Some(local_utc_offset());
    }
    let mut term = TerminalGuard::enter()?;
    let mut app = App::new(config);
    let (w, h) = terminal::size()?;
    app.handle(Msg::Resize(w, h));
    let (tx_int, mut rx_int) = mpsc::unbounded_channel::<Msg>();
    let mut fx_ctx = EffectCtx {
        control,
        internal: tx_int,
        clipboard: None,
        inspector: Arc::new(Mutex::new(Inspector::new())),
        highlighter: app.highlighter(),
        highlighting: false,
        highlight_next: None,
    };
    let start = app.start();
    let mut quit = fx_ctx.run(start, &mut app, term.terminal.backend_mut());

    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(FRAME);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut capture_open = true;
    let mut dirty = true;
    let mut last_draw = std::time::Instant::now();

    while !quit {
        let fx = tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(k))) => { dirty = true; app.handle(Msg::Key(k)) }
                Some(Ok(Event::Resize(w, h))) => { dirty = true; app.handle(Msg::Resize(w, h)) }
                Some(Ok(_)) => Vec::new(),
                Some(Err(e)) => return Err(e.into()),
                None => break,
            },
            input = rx.recv(), if capture_open => {
                dirty = true;
                let mut fx = Vec::new();
                match input {
                    Some(i) => {
                        fx.extend(app.handle(input_msg(i)));
                        // Drain what is already queued: one wake per batch, not per exchange.
                        for _ in 0..DRAIN_BUDGET {
                            match rx.try_recv() {
                                Ok(i) => fx.extend(app.handle(input_msg(i))),
                                Err(_) => break,
                            }
                        }
                    }
                    None => {
                        capture_open = false;
                        fx.extend(app.handle(Msg::CaptureEnded(None)));
                    }
                }
                fx
            },
            Some(msg) = rx_int.recv() => {
                dirty = true;
                if matches!(msg, Msg::Highlighted { .. }) {
                    fx_ctx.highlight_done();
                }
                app.handle(msg)
            },
            _ = tick.tick() => {
                if let Some(what) = PANICKED.get() {
                    // The hook has restored the terminal: stop drawing over the message.
                    drop(term);
                    anyhow::bail!("internal error, apitop stopped: {what}");
                }
                let fx = app.handle(Msg::Tick(now_ns()));
                // Drawn at most once per frame, and only when something changed (or once a
                // second so the rate and notices age).
                if dirty || last_draw.elapsed() >= Duration::from_secs(1) {
                    term.terminal.draw(|f| views::draw(f, &app))?;
                    dirty = false;
                    last_draw = std::time::Instant::now();
                }
                fx
            },
            _ = sigterm.recv() => break,
        };
        quit = fx_ctx.run(fx, &mut app, term.terminal.backend_mut()) || app.should_quit();
    }
    drop(term);
    Ok(())
}

fn input_msg(i: UiInput) -> Msg {
    match i {
        UiInput::Output(o) => Msg::Capture(o),
        UiInput::Stats(s) => Msg::Stats(s),
        UiInput::Notice(n) => Msg::Notice(n),
        UiInput::Ended(why) => Msg::CaptureEnded(why),
    }
}

struct EffectCtx {
    control: mpsc::Sender<Control>,
    internal: mpsc::UnboundedSender<Msg>,
    /// Created on first copy (connecting to a display can take a moment), then kept.
    clipboard: Option<Clipboard>,
    /// Kept across refreshes: it caches ELF analysis per file.
    inspector: Arc<Mutex<Inspector>>,
    highlighter: Arc<super::highlight::Highlighter>,
    /// A highlight job is running.
    highlighting: bool,
    /// The newest highlight request made while one was running.
    highlight_next: Option<(u64, String)>,
}

impl EffectCtx {
    /// Runs effects; true when one of them is `Quit`.
    fn run(&mut self, fx: Vec<Effect>, app: &mut App, term: &mut impl Write) -> bool {
        let mut quit = false;
        let mut queue: std::collections::VecDeque<Effect> = fx.into();
        while let Some(e) = queue.pop_front() {
            match e {
                Effect::Quit => quit = true,
                Effect::Attach(pids) => self.send(Control::Attach(pids), app),
                Effect::AttachJava(pids) => self.send(Control::AttachJava(pids), app),
                Effect::Detach(pid) => self.send(Control::Detach(pid), app),
                Effect::Clipboard(text) => {
                    let cb = self.clipboard.get_or_insert_with(Clipboard::new);
                    let route = cb.copy(&text, term);
                    queue.extend(app.handle(Msg::Copied(route)));
                }
                Effect::Highlight { gen, text } => {
                    // One job at a time: scrolling through large bodies queued a job per
                    // selection. The newest request waits for the running one; older waiting
                    // ones are dropped (their selection is gone).
                    if self.highlighting {
                        self.highlight_next = Some((gen, text));
                    } else {
                        self.start_highlight(gen, text);
                    }
                }
                Effect::Write { path, exchanges } => {
                    let tx = self.internal.clone();
                    tokio::task::spawn_blocking(move || {
                        let _ = tx.send(Msg::Written(super::export::write(&path, &exchanges)));
                    });
                }
                Effect::SaveBody { path, bytes } => {
                    let tx = self.internal.clone();
                    tokio::task::spawn_blocking(move || {
                        let _ = tx.send(Msg::Written(super::export::save_body(&path, &bytes)));
                    });
                }
                Effect::RefreshProcesses => {
                    let insp = self.inspector.clone();
                    let tx = self.internal.clone();
                    tokio::task::spawn_blocking(move || {
                        let procs = match insp.lock() {
                            Ok(mut i) => i.list(),
                            Err(poisoned) => poisoned.into_inner().list(),
                        };
                        let rows = procs
                            .into_iter()
                            .map(|info| ProcessRow {
                                ports: listening_ports(info.pid),
                                info,
                            })
                            .collect();
                        let _ = tx.send(Msg::Processes(rows));
                    });
                }
            }
        }
        quit
    }

    fn start_highlight(&mut self, gen: u64, text: String) {
        self.highlighting = true;
        let hl = self.highlighter.clone();
        let tx = self.internal.clone();
        tokio::task::spawn_blocking(move || {
            let lines = hl.json(&text);
            let _ = tx.send(Msg::Highlighted { gen, lines });
        });
    }

    /// A highlight job finished: starts the one that waited, if any.
    fn highlight_done(&mut self) {
        self.highlighting = false;
        if let Some((gen, text)) = self.highlight_next.take() {
            self.start_highlight(gen, text);
        }
    }

    fn send(&self, c: Control, app: &mut App) {
        if let Err(e) = self.control.try_send(c) {
            app.handle(Msg::Notice(format!(
                "capture did not take the request: {e}"
            )));
        }
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Seconds east of UTC, from the C library (which reads TZ and /etc/localtime).
pub fn local_utc_offset() -> i32 {
    let t = (now_ns() / 1_000_000_000) as libc::time_t;
    // SAFETY: `tm` is plain data that localtime_r fills in; `t` outlives the call.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the duration of the call; localtime_r is re-entrant.
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if ok {
        tm.tm_gmtoff as i32
    } else {
        0
    }
}

/// The first panic's message and place, from any thread, set by the panic hook.
static PANICKED: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn panic_text(info: &std::panic::PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into());
    match info.location() {
        Some(l) => format!("{msg} (at {}:{})", l.file(), l.line()),
        None => msg,
    }
}

/// Raw mode and the alternate screen, undone on drop and by the panic hook.
struct TerminalGuard {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl TerminalGuard {
    fn enter() -> anyhow::Result<TerminalGuard> {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
            // The UI loop sees this at its next frame and stops: a panic on the capture thread
            // or in a background job must not leave the UI drawing over the message. Set after
            // the message is printed, or the process may exit while it is half-written.
            let _ = PANICKED.set(panic_text(info));
        }));
        ENTERED.store(true, std::sync::atomic::Ordering::SeqCst);
        terminal::enable_raw_mode()?;
        let mut out = io::stdout();
        if let Err(e) = crossterm::execute!(out, EnterAlternateScreen, crossterm::cursor::Hide) {
            restore();
            return Err(e.into());
        }
        let terminal = match Terminal::new(CrosstermBackend::new(out)) {
            Ok(t) => t,
            Err(e) => {
                restore();
                return Err(e.into());
            }
        };
        Ok(TerminalGuard { terminal })
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// The terminal is in raw mode on the alternate screen. Restoring twice is not harmless: leaving
/// the alternate screen again moves the cursor back to where the UI started, and what is printed
/// next (the panic message's tail) is overwritten.
static ENTERED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn restore() {
    if !ENTERED.swap(false, std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    let _ = terminal::disable_raw_mode();
    let _ = crossterm::execute!(io::stdout(), LeaveAlternateScreen, crossterm::cursor::Show);
}
