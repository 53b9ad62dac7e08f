//! Attaching on a thread of its own: loading an agent waits for the JVM (up to seconds for its
//! attach listener to start and its `agentmain` to run), which must not hold up the capture's
//! draining or the UI. The session asks with [`JavaAgents::request`] for every target; this
//! thread works out which are JVMs (a `--` command or a `-n` match becomes one only once it has
//! mapped `libjvm.so`), attaches once each, retries a JVM still starting, and reports one
//! line per JVM.
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::attach::AttachError;
use super::receiver::{JavaReceiver, ReceiverStats};
use super::session::{JavaCapture, JavaError};
use crate::event::Event;

/// How often a target that is not (yet) a JVM is looked at again, and for how long.
const RECHECK: Duration = Duration::from_secs(1);
const RECHECKS: u32 = 30;

/// What became of one JVM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub pid: u32,
    /// The agent is loaded and connects to this session.
    pub attached: bool,
    /// One line for the user: `pid 123 (java): Java 17.0.15: agent loaded, TLS captured`.
    pub text: String,
}

pub struct JavaAgents {
    receiver: Arc<JavaReceiver>,
    requests: Option<Sender<u32>>,
    notes: Receiver<Note>,
    thread: Option<JoinHandle<()>>,
}

impl JavaAgents {
    /// Starts the receiver and the attaching thread.
    pub fn start(jar: PathBuf, helper: PathBuf) -> Result<Self, JavaError> {
        let receiver = Arc::new(JavaReceiver::start().map_err(JavaError::Thread)?);
        let mut capture = JavaCapture::with_receiver(jar, helper, receiver.clone());
        let (requests, incoming) = mpsc::channel::<u32>();
        let (note_tx, notes) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("apitop-java-attach".into())
            .spawn(move || run(&mut capture, incoming, note_tx))
            .map_err(JavaError::Thread)?;
        Ok(JavaAgents {
            receiver,
            requests: Some(requests),
            notes,
            thread: Some(thread),
        })
    }

    /// Asks for the agent in `pid` if it is (or becomes) a JVM; repeated requests are ignored.
    pub fn request(&self, pid: u32) {
        if let Some(r) = &self.requests {
            let _ = r.send(pid);
        }
    }

    /// The notes of JVMs dealt with since the last call.
    pub fn take_notes(&self) -> Vec<Note> {
        self.notes.try_iter().collect()
    }

    /// Waits until a note for each of `pids` arrived or `timeout` passed; returns the notes
    /// (of these pids and any other).
    pub fn wait_notes(&self, pids: &[u32], timeout: Duration) -> Vec<Note> {
        let deadline = Instant::now() + timeout;
        let mut got: Vec<Note> = Vec::new();
        while !pids.iter().all(|p| got.iter().any(|n| n.pid == *p)) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.notes.recv_timeout(left) {
                Ok(n) => got.push(n),
                Err(_) => break,
            }
        }
        got
    }

    /// Moves up to `max` events from the agents to `out`.
    pub fn drain(&self, out: &mut Vec<Event>, max: usize) -> usize {
        self.receiver.drain(out, max)
    }

    pub fn stats(&self) -> &ReceiverStats {
        self.receiver.stats()
    }
}

impl Drop for JavaAgents {
    fn drop(&mut self) {
        // The thread ends at its next wake-up (every 250 ms) once the requests are gone, and
        // removes the JVMs' directories as it ends: waited for, so that they are gone when
        // apitop exits. An attach under way could take up to its timeouts: not waited for.
        self.requests.take();
        if let Some(t) = self.thread.take() {
            let deadline = Instant::now() + Duration::from_secs(2);
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

/// A target and how many more times to look at it.
struct Pending {
    checks_left: u32,
    next: Instant,
}

fn run(capture: &mut JavaCapture, incoming: Receiver<u32>, notes: Sender<Note>) {
    let mut pending: HashMap<u32, Pending> = HashMap::new();
    let mut done: std::collections::HashSet<u32> = Default::default();
    loop {
        match incoming.recv_timeout(Duration::from_millis(250)) {
            Ok(pid) => {
                if !done.contains(&pid) {
                    pending.entry(pid).or_insert(Pending {
                        checks_left: RECHECKS,
                        next: Instant::now(),
                    });
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        let due: Vec<u32> = pending
            .iter()
            .filter(|(_, p)| p.next <= now)
            .map(|(pid, _)| *pid)
            .collect();
        for pid in due {
            let note = match capture.attach(pid) {
                Ok(status) => Some(Note {
                    pid,
                    attached: true,
                    text: format!(
                        "pid {pid} ({}): {}, its TLS is captured",
                        comm(pid),
                        status.describe()
                    ),
                }),
                Err(JavaError::NotJvm(_)) => None,
                // Still starting: its SIGQUIT handler or attach listener is not there yet.
                Err(JavaError::Attach {
                    source: AttachError::NoQuitHandler | AttachError::NoSocket(_),
                    ..
                }) if young(pid) => None,
                Err(e) => Some(Note {
                    pid,
                    attached: false,
                    text: format!("{e}; only its plain HTTP is captured"),
                }),
            };
            let alive = crate::procinfo::is_alive(pid);
            let p = pending.get_mut(&pid).expect("due pids are pending");
            p.checks_left = p.checks_left.saturating_sub(1);
            p.next = Instant::now() + RECHECK;
            if note.is_some() || p.checks_left == 0 || !alive {
                pending.remove(&pid);
                done.insert(pid);
            }
            if let Some(n) = note {
                if notes.send(n).is_err() {
                    return;
                }
            }
        }
    }
}

/// Whether `pid` started less than 30 s ago (a JVM that young may still be starting).
fn young(pid: u32) -> bool {
    let Some(start) = start_ticks(pid) else {
        return false;
    };
    let Some(uptime) = std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|u| u.split_whitespace().next()?.parse::<f64>().ok())
    else {
        return false;
    };
    // SAFETY: sysconf has no memory preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    uptime - start as f64 / hz < 30.0
}

/// Field 22 of `/proc/PID/stat`: the start time in clock ticks since boot.
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..]
        .split_ascii_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

fn comm(pid: u32) -> String {
    crate::procinfo::comm(pid).unwrap_or_else(|| "?".into())
}
