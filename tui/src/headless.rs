//! `--json` and `--list`: output for scripts and pipes.
use std::io::Write;
use std::sync::Arc;

use anyhow::Result;
use capture::output::Output;
use capture::procinfo::{self, Inspector};

use crate::otlp;
use crate::session::{self, Ended, Session};
use capture::handoff::Handoff;

/// Where a headless session's exchanges go besides the summary.
pub struct Outputs {
    /// `--json`: one line per exchange on stdout.
    pub lines: bool,
    /// `--otlp`: the session exports each exchange itself; this handle reports and finishes.
    pub otlp: Option<Arc<otlp::Exporter>>,
}

/// Runs a session to its end, printing one JSON line per exchange (flushed as it completes)
/// when asked to. Returns when the session ends by itself, on SIGINT/SIGTERM, or when stdout is
/// closed.
pub fn run(mut session: Session, names: &[String], outputs: Outputs) -> Result<()> {
    session::install_stop_signals();
    let mut notes = Notes {
        names: names.to_vec(),
        lines: outputs.lines,
        ..Notes::default()
    };
    for n in names {
        eprintln!("apitop: watching for processes named {n}");
    }
    let otlp = outputs.otlp;
    if let Some(e) = &otlp {
        eprintln!(
            "apitop: exporting spans to {} (OTLP/HTTP protobuf)",
            e.endpoint()
        );
    }
    let mut stdout = stdout_writer();
    let mut out = Vec::new();
    let mut stdout_open = true;
    let replay = session.is_replay();
    loop {
        let step = session.step(&mut out);
        stdout_open &= print(&mut stdout, &mut out, &mut notes);
        warn(otlp.as_deref());
        let ended = match step {
            Ok(e) => e,
            Err(e) => {
                // A damaged recording: report what was decoded, then the error.
                let stats = session.finish(&mut out)?;
                print(&mut stdout, &mut out, &mut notes);
                // A closed stdout is how a reader says it has had enough: not an error.
                let _ = stdout.finish();
                eprintln!("{}", crate::json::summary_line(&stats));
                finish_otlp(otlp.as_deref());
                return Err(e);
            }
        };
        if let Some(Ended::CommandExited(status)) = &ended {
            eprintln!("apitop: the command exited ({status})");
        }
        if ended.is_some() || !stdout_open {
            break;
        }
        if session::stop_requested() {
            // What the probes captured before the signal is still queued: take it in first.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
            while stdout_open && std::time::Instant::now() < deadline {
                session.step(&mut out)?;
                stdout_open &= print(&mut stdout, &mut out, &mut notes);
                if session.last_batch() == 0 {
                    break;
                }
            }
            break;
        }
        if !replay {
            session.wait(DRAIN_EVERY);
        }
    }
    let stats = session.finish(&mut out)?;
    print(&mut stdout, &mut out, &mut notes);
    // Every line is out before the summary says how many there were.
    let _ = stdout.finish();
    eprintln!("{}", crate::json::summary_line(&stats));
    finish_otlp(otlp.as_deref());
    Ok(())
}

/// The collector's one warning, when it has just failed.
fn warn(otlp: Option<&otlp::Exporter>) {
    if let Some(w) = otlp.and_then(otlp::Exporter::take_warning) {
        eprintln!("apitop: {w}");
    }
}

/// Sends what is still queued (bounded: an unreachable collector does not hold up exit) and
/// reports the span totals.
pub fn finish_otlp(otlp: Option<&otlp::Exporter>) {
    if let Some(e) = otlp {
        let report = e.finish(otlp::SHUTDOWN_TIMEOUT);
        warn(Some(e));
        eprintln!("{}", report.line());
    }
}

/// Which process lines go to stderr: the targets asked for, not every short-lived child.
#[derive(Default)]
struct Notes {
    started: bool,
    /// Whether exchanges are printed (`--json`); without it they only go to `--otlp`.
    lines: bool,
    names: Vec<String>,
    announced: std::collections::HashMap<u32, String>,
}

/// Hands `out`'s exchanges to the writer and clears `out`; false once stdout is gone (a closed
/// pipe ends the capture quietly). The exchanges of one drain are handed over together: a line
/// still leaves within one drain interval, without a write per exchange.
fn print(w: &mut Handoff, out: &mut Vec<Output>, notes: &mut Notes) -> bool {
    for o in out.drain(..) {
        match o {
            Output::Exchange(_) if !notes.lines => {}
            Output::Exchange(x) => {
                let lines = w.buffer();
                crate::json::write_exchange(lines, &x);
                lines.push(b'\n');
                w.item_done();
            }
            Output::Opaque(c) => eprintln!("{}", crate::json::opaque_line(&c)),
            Output::Process { pid, comm, .. } => {
                let known = notes.announced.get(&pid) == Some(&comm);
                if !known && (!notes.started || notes.names.contains(&comm)) {
                    eprintln!("apitop: capturing pid {pid} ({comm})");
                    notes.announced.insert(pid, comm);
                }
            }
            Output::Exit { pid, .. } => {
                if let Some(comm) = notes.announced.remove(&pid) {
                    eprintln!("apitop: pid {pid} ({comm}) exited");
                }
            }
        }
    }
    notes.started = true;
    w.flush();
    w.error().is_none()
}

/// The stdout pipe is asked to hold this much (`F_SETPIPE_SZ`), so that a line with a large body
/// fits whole and the reader is woken once per buffer handed over, not once per 64 KiB.
const PIPE_BYTES: libc::c_int = 1 << 20;

/// JSON lines go to stdout from a thread of their own ([`Handoff`] says why).
fn stdout_writer() -> Handoff {
    // Best effort: a pipe that cannot grow (not a pipe, or past `fs.pipe-max-size` without
    // CAP_SYS_RESOURCE) works as before.
    // SAFETY: fcntl on this process's stdout; F_SETPIPE_SZ fails harmlessly on a non-pipe.
    unsafe {
        libc::fcntl(libc::STDOUT_FILENO, libc::F_SETPIPE_SZ, PIPE_BYTES);
    }
    Handoff::new("apitop-stdout", std::io::stdout())
}

/// How often the ring buffer is drained when the kernel does not wake the reader sooner.
const DRAIN_EVERY: std::time::Duration = std::time::Duration::from_millis(5);

/// `--list`: one line per process (or one JSON object with `--json`).
pub fn list(json: bool) -> Result<()> {
    let procs = Inspector::new().list();
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    if !json {
        writeln!(w, "{}", procinfo::format_list_header())?;
    }
    for p in &procs {
        if json {
            let v = serde_json::json!({
                "pid": p.pid,
                "ppid": p.ppid,
                "user": p.user,
                "comm": p.comm,
                "cmdline": p.cmdline,
                "exe": p.exe,
                "tls": p.tls.kind,
                "capturable": p.tls.capturable,
                "reason": p.tls.reason,
                "probes": p.tls.probes,
            });
            writeln!(w, "{v}")?;
        } else {
            writeln!(w, "{}", procinfo::format_list_line(p))?;
        }
    }
    Ok(())
}
