//! `--json`, `--har`, `--otlp` (headless) and `--list`: output for scripts, pipes and files.
use std::io::Write;
use std::sync::Arc;

use anyhow::Result;
use capture::output::Output;
use capture::procinfo::{self, Inspector};

use crate::har::{HarFile, HarWriter};
use crate::otlp;
use crate::session::{self, Ended, Session};
use capture::handoff::Handoff;

/// Where headless output goes: JSON lines on stdout (`--json`), a HAR file (`--har`), or both.
pub struct Sinks {
    stdout: Option<Handoff>,
    har: Option<HarWriter<HarFile>>,
    /// The first HAR write error: the capture ends with it.
    har_error: Option<anyhow::Error>,
    /// `--otlp`: the session exports each exchange itself; this handle reports and finishes.
    otlp: Option<Arc<otlp::Exporter>>,
}

impl Sinks {
    /// `json`: print JSON lines on stdout; `har`: a HAR file made by [`crate::har::create`].
    pub fn new(json: bool, har: Option<HarWriter<HarFile>>) -> Self {
        Sinks {
            stdout: json.then(stdout_writer),
            har,
            har_error: None,
            otlp: None,
        }
    }

    /// Reports on and finishes `--otlp` export (the session, given the same exporter, feeds it).
    pub fn with_otlp(mut self, otlp: Option<Arc<otlp::Exporter>>) -> Self {
        self.otlp = otlp;
        self
    }

    /// Whether output can go on: stdout, when printing there, is open and the HAR file writable.
    fn open(&self) -> bool {
        self.stdout.as_ref().is_none_or(|w| w.error().is_none()) && self.har_error.is_none()
    }

    /// Does `write` to the HAR file, if there is one and it has not failed; keeps the first
    /// error, which ends the capture.
    fn with_har(&mut self, write: impl FnOnce(&mut HarWriter<HarFile>) -> Result<()>) {
        if self.har_error.is_some() {
            return;
        }
        if let Some(h) = self.har.as_mut() {
            if let Err(e) = write(h) {
                self.har_error = Some(e);
            }
        }
    }

    /// Writes what is left, closes the HAR document; the HAR file's error, if any.
    fn finish(mut self) -> Result<()> {
        // A closed stdout is how a reader says it has had enough: not an error.
        if let Some(w) = self.stdout.take() {
            let _ = w.finish();
        }
        let har = self.har.take();
        if let Some(e) = self.har_error.take() {
            if let Some(h) = har {
                // Best effort: the file is already known to be short.
                let _ = crate::har::close(h);
            }
            return Err(e);
        }
        if let Some(h) = har {
            let entries = crate::har::close(h)?;
            eprintln!("apitop: {entries} HAR entries written");
        }
        Ok(())
    }
}

/// Runs a session to its end, printing one JSON line per exchange (flushed as it completes)
/// and/or adding it to a HAR file. Returns when the session ends by itself, on SIGINT/SIGTERM,
/// when stdout is closed, or when the HAR file cannot be written.
pub fn run(mut session: Session, names: &[String], mut sinks: Sinks) -> Result<()> {
    session::install_stop_signals();
    let mut notes = Notes {
        names: names.to_vec(),
        ..Notes::default()
    };
    for n in names {
        eprintln!("apitop: watching for processes named {n}");
    }
    session.favour_this_thread();
    let otlp = sinks.otlp.take();
    if let Some(e) = &otlp {
        eprintln!(
            "apitop: exporting spans to {} (OTLP/HTTP protobuf)",
            e.endpoint()
        );
    }
    let mut out = Vec::new();
    let mut open = true;
    let replay = session.is_replay();
    loop {
        let step = session.step(&mut out);
        open &= print(&mut sinks, &mut out, &mut notes);
        for n in session.java_notes() {
            eprintln!("apitop: {n}");
        }
        warn(otlp.as_deref());
        let ended = match step {
            Ok(e) => e,
            Err(e) => {
                // A damaged recording: report what was decoded, then the error.
                let stats = session.finish(&mut out)?;
                print(&mut sinks, &mut out, &mut notes);
                let har = sinks.finish();
                eprintln!("{}", crate::json::summary_line(&stats));
                // The recording's error is the one returned; the HAR file's is only told.
                if let Err(h) = har {
                    eprintln!("apitop: {h:#}");
                }
                finish_otlp(otlp.as_deref());
                return Err(e);
            }
        };
        if let Some(Ended::CommandExited(status)) = &ended {
            eprintln!("apitop: the command exited ({status})");
        }
        if ended.is_some() || !open {
            break;
        }
        if session::stop_requested() {
            // What the probes captured before the signal is still queued: take it in first.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
            while open && std::time::Instant::now() < deadline {
                session.step(&mut out)?;
                open &= print(&mut sinks, &mut out, &mut notes);
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
    let java = session.java_summary();
    let stats = session.finish(&mut out)?;
    print(&mut sinks, &mut out, &mut notes);
    // Every line and entry is out before the summary says how many there were.
    let har = sinks.finish();
    eprintln!("{}", crate::json::summary_line(&stats));
    if let Some(j) = java {
        eprintln!("{j}");
    }
    finish_otlp(otlp.as_deref());
    har
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
    names: Vec<String>,
    announced: std::collections::HashMap<u32, String>,
}

/// Hands `out`'s exchanges to the sinks and clears `out`; false once stdout is gone (a closed
/// pipe ends the capture quietly) or the HAR file failed. The exchanges of one drain are handed
/// over together: a line still leaves within one drain interval, without a write per exchange.
fn print(sinks: &mut Sinks, out: &mut Vec<Output>, notes: &mut Notes) -> bool {
    for o in out.drain(..) {
        match o {
            Output::Exchange(x) => {
                if let Some(w) = sinks.stdout.as_mut() {
                    let lines = w.buffer();
                    crate::json::write_exchange(lines, &x);
                    lines.push(b'\n');
                    w.item_done();
                }
                sinks.with_har(|h| h.entry(&x));
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
    if let Some(w) = sinks.stdout.as_mut() {
        w.flush();
    }
    sinks.with_har(|h| h.flush());
    sinks.open()
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
            let mut v = serde_json::json!({
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
            if let Some(j) = &p.tls.java {
                v["java"] = serde_json::to_value(j)?;
            }
            writeln!(w, "{v}")?;
        } else {
            writeln!(w, "{}", procinfo::format_list_line(p))?;
        }
    }
    Ok(())
}
