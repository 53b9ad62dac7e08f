//! `--json` and `--list`: output for scripts and pipes.
use std::io::Write;

use anyhow::Result;
use capture::output::Output;
use capture::procinfo::{self, Inspector};

use crate::session::{self, Ended, Session};

/// Runs a session to its end, printing one JSON line per exchange (flushed as it completes).
/// Returns when the session ends by itself, on SIGINT/SIGTERM, or when stdout is closed.
pub fn run(mut session: Session, names: &[String]) -> Result<()> {
    session::install_stop_signals();
    let mut notes = Notes {
        names: names.to_vec(),
        ..Notes::default()
    };
    for n in names {
        eprintln!("apitop: watching for processes named {n}");
    }
    let stdout = std::io::stdout();
    let mut out = Vec::new();
    let mut stdout_open = true;
    let replay = session.is_replay();
    loop {
        let step = session.step(&mut out);
        stdout_open &= print(&mut stdout.lock(), &mut out, &mut notes);
        let ended = match step {
            Ok(e) => e,
            Err(e) => {
                // A damaged recording: report what was decoded, then the error.
                let stats = session.finish(&mut out)?;
                print(&mut stdout.lock(), &mut out, &mut notes);
                eprintln!("{}", crate::json::summary_line(&stats));
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
                stdout_open &= print(&mut stdout.lock(), &mut out, &mut notes);
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
    print(&mut stdout.lock(), &mut out, &mut notes);
    eprintln!("{}", crate::json::summary_line(&stats));
    Ok(())
}

/// Which process lines go to stderr: the targets asked for, not every short-lived child.
#[derive(Default)]
struct Notes {
    started: bool,
    names: Vec<String>,
    announced: std::collections::HashMap<u32, String>,
    /// The output buffer, reused from drain to drain (growing a fresh one each time was a tenth
    /// of apitop's CPU at 25k exchanges/s); written out whenever it passes `WRITE_AT`.
    lines: Vec<u8>,
}

/// Bytes of JSON lines held before they are written, even within one drain: bounds the buffer.
const WRITE_AT: usize = 256 << 10;

/// Prints and clears `out`; false once stdout is gone (a closed pipe ends the capture quietly).
/// The exchanges of one drain are written and flushed together: a line still leaves within one
/// drain interval, without a write syscall per exchange (a quarter of apitop's CPU at 20k/s).
fn print(w: &mut impl Write, out: &mut Vec<Output>, notes: &mut Notes) -> bool {
    let mut ok = true;
    let mut lines = std::mem::take(&mut notes.lines);
    for o in out.drain(..) {
        match o {
            Output::Exchange(x) => {
                crate::json::write_exchange(&mut lines, &x);
                lines.push(b'\n');
                if lines.len() >= WRITE_AT {
                    ok &= ok && w.write_all(&lines).is_ok();
                    lines.clear();
                }
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
    ok &= ok && w.write_all(&lines).and_then(|_| w.flush()).is_ok();
    lines.clear();
    notes.lines = lines;
    ok
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
