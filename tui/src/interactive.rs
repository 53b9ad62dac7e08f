//! The terminal UI driven by a capture session: the session runs on its own thread and feeds the
//! UI through a bounded channel; the UI's attach/detach requests come back on another.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::sync::mpsc;

use crate::session::{Ended, Session};
use crate::ui::runtime::{Control, UiInput};

/// How often the status bar's totals are refreshed.
const STATS_EVERY: Duration = Duration::from_millis(250);

/// Runs the UI until the user quits. The session is set up (and its errors reported) before the
/// terminal is touched.
/// With `--otlp`, the session exports as it goes; `otlp` is for the warning and the totals.
pub fn run(
    session: Session,
    config: crate::ui::Config,
    otlp: Option<Arc<crate::otlp::Exporter>>,
) -> Result<()> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        anyhow::bail!("the terminal UI needs a terminal on stdout; use --json for pipes and files");
    }
    let (tx, rx) = mpsc::channel::<UiInput>(4096);
    let (ctl_tx, ctl_rx) = mpsc::channel::<Control>(64);
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = {
        let stop = stop.clone();
        let otlp = otlp.clone();
        std::thread::Builder::new()
            .name("capture".into())
            .spawn(move || {
                session.favour_this_thread();
                feed(session, tx, ctl_rx, &stop, otlp.as_deref())
            })
            .context("starting the capture thread")?
    };
    let ui = crate::ui::runtime::run_blocking(config, rx, ctl_tx);
    stop.store(true, Ordering::SeqCst);
    let fed = feeder
        .join()
        .map_err(|_| anyhow::anyhow!("the capture thread panicked"))?;
    // The terminal is the user's again: totals go to stderr, spans still queued get their
    // bounded chance to leave even when the UI failed.
    let result = ui.and_then(|()| {
        if let Some(stats) = fed? {
            eprintln!("{}", crate::json::summary_line(&stats));
        }
        Ok(())
    });
    crate::headless::finish_otlp(otlp.as_deref());
    result
}

/// The capture thread: steps the session, forwards outputs and stats, applies control requests.
/// Returns the final totals once the UI has gone.
fn feed(
    mut session: Session,
    tx: mpsc::Sender<UiInput>,
    mut ctl: mpsc::Receiver<Control>,
    stop: &AtomicBool,
    otlp: Option<&crate::otlp::Exporter>,
) -> Result<Option<capture::output::CaptureStats>> {
    let mut out = Vec::new();
    let mut last_stats = Instant::now() - STATS_EVERY;
    let mut ended = false;
    let replay = session.is_replay();
    while !stop.load(Ordering::SeqCst) {
        while let Ok(c) = ctl.try_recv() {
            if let Some(note) = control(&mut session, c, &mut out) {
                if tx.blocking_send(UiInput::Notice(note)).is_err() {
                    return finish(session);
                }
            }
        }
        // What became of the JVMs the user had the agent loaded into.
        for note in session.java_notes() {
            if tx.blocking_send(UiInput::Notice(note)).is_err() {
                return finish(session);
            }
        }
        if !ended {
            match session.step(&mut out) {
                Ok(Some(why)) => {
                    ended = true;
                    // Connections still open are completed, as headless output does.
                    session.complete_open(&mut out);
                    let text = match why {
                        Ended::CommandExited(s) => format!("the command exited ({s})"),
                        Ended::NoTargetsLeft => "every target exited".into(),
                        Ended::EndOfRecording => "end of recording".into(),
                    };
                    send_all(&tx, &mut out)?;
                    let _ = tx.blocking_send(UiInput::Stats(session.stats()));
                    let _ = tx.blocking_send(UiInput::Ended(Some(text)));
                }
                Ok(None) => {}
                Err(e) => {
                    ended = true;
                    send_all(&tx, &mut out)?;
                    let _ = tx.blocking_send(UiInput::Notice(format!("{e:#}")));
                    let _ =
                        tx.blocking_send(UiInput::Ended(Some("the recording is damaged".into())));
                }
            }
            if send_all(&tx, &mut out).is_err() {
                break;
            }
        }
        if last_stats.elapsed() >= STATS_EVERY {
            last_stats = Instant::now();
            // A failing collector is said once, in the UI, not on the terminal it draws on.
            if let Some(w) = otlp.and_then(crate::otlp::Exporter::take_warning) {
                if tx.blocking_send(UiInput::Notice(w)).is_err() {
                    break;
                }
            }
            if tx.blocking_send(UiInput::Stats(session.stats())).is_err() {
                break;
            }
        }
        if ended {
            std::thread::sleep(Duration::from_millis(5));
        } else if !replay {
            // Drained on this timer, or at once when the kernel wakes the reader (ring filling).
            session.wait(Duration::from_millis(5));
        }
    }
    finish(session)
}

fn finish(session: Session) -> Result<Option<capture::output::CaptureStats>> {
    let mut out = Vec::new();
    Ok(Some(session.finish(&mut out)?))
}

fn send_all(tx: &mpsc::Sender<UiInput>, out: &mut Vec<capture::output::Output>) -> Result<()> {
    for o in out.drain(..) {
        tx.blocking_send(UiInput::Output(o))
            .map_err(|_| anyhow::anyhow!("the UI has gone"))?;
    }
    Ok(())
}

/// Applies one request from the UI; returns a notice for the user when it failed.
fn control(
    session: &mut Session,
    c: Control,
    out: &mut Vec<capture::output::Output>,
) -> Option<String> {
    #[cfg(feature = "live")]
    {
        let mut failures = Vec::new();
        match c {
            Control::Attach(pids) => {
                for pid in pids {
                    if let Err(e) = session.attach(pid, out) {
                        failures.push(format!("attach {pid}: {e:#}"));
                    }
                }
            }
            Control::AttachJava(pids) => {
                for pid in pids {
                    if let Err(e) = session.attach_java(pid) {
                        failures.push(format!("Java agent for {pid}: {e:#}"));
                    }
                }
            }
            Control::Detach(pid) => {
                if let Err(e) = session.detach(pid, out) {
                    failures.push(format!("detach {pid}: {e:#}"));
                }
            }
        }
        (!failures.is_empty()).then(|| failures.join("; "))
    }
    #[cfg(not(feature = "live"))]
    {
        let _ = (session, c, out);
        Some("this apitop was built without live capture".into())
    }
}
