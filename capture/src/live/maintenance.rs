//! The maintenance thread: the slow work of a live capture, off the thread that drains the ring
//! buffer.
//!
//! Every 250 ms it rescans the targets' mappings and attaches to what they loaded since (dlopen,
//! exec), finds exited targets where the kernel cannot report them, removes the `SOCKETS`
//! entries of processes gone, and reads the loss counters. Between ticks it does the work the
//! draining thread asks for from records ([`Msg`]) as soon as it is asked: a new target's Go
//! executable is probed and its inherited sockets seeded at once, because a short-lived exec'd
//! client is over long before the next tick. Its requests are also served between the targets
//! of a rescan, so one slow rescan does not hold them back. While a target is young (its first
//! [`YOUNG`]) the rescans come every [`FAST_TICK`]: a program loads its TLS library by `dlopen`
//! (Python's gRPC, a plugin) soon after it starts, and makes its first calls soon after that.
//!
//! What it finds out (exits, losses) goes back as [`Event`]s on a channel that
//! `LiveCapture::poll` empties into its output after the ring records of the same call: an
//! exit is never delivered ahead of data the process wrote before it ended.
//!
//! The thread ends when its request channel closes (the capture is dropped).
use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::attach::Probes;
use super::records::now;
use super::{lock, Targets};
use crate::event::Event;
use crate::procinfo;

/// How often the periodic work runs.
pub(super) const TICK: Duration = Duration::from_millis(250);
/// How often it runs while some target is younger than [`YOUNG`] (as seen by this thread).
const FAST_TICK: Duration = Duration::from_millis(20);
const YOUNG: Duration = Duration::from_secs(3);

/// Test hook: `APITOP_TEST_RESCAN_MS` replaces both periods, so that a test can show a library
/// was probed because the kernel reported its mapping, not because a periodic rescan happened to
/// come in time. Read once; not for users (their captures need the rescans' other work too).
fn periods() -> (Duration, Duration) {
    static PERIODS: std::sync::OnceLock<(Duration, Duration)> = std::sync::OnceLock::new();
    *PERIODS.get_or_init(|| {
        match std::env::var("APITOP_TEST_RESCAN_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&ms: &u64| ms > 0)
        {
            Some(ms) => (Duration::from_millis(ms), Duration::from_millis(ms)),
            None => (TICK, FAST_TICK),
        }
    })
}

/// Work a record asks for, in the order the records came.
pub(super) enum Msg {
    /// A process the kernel made a target (a target's fork, an exec under a watched name):
    /// probe its executable if it is Go, tell the kernel about the sockets it inherited.
    NewTarget(u32),
    /// A target exec'd another program: probe it now if it is Go.
    Exec(u32),
    /// A fork record that was a new thread: its `TARGETS` entry goes.
    NotTarget(u32),
    /// A target ended (the kernel said so): its `SOCKETS` entries are purged at the next tick.
    Exited(u32),
    /// A target mapped a file executable (a library loaded, e.g. with `dlopen`): its mappings
    /// are rescanned now, not at the next tick, so a TLS library is probed before its first
    /// calls. A burst (a program starting maps dozens of libraries) costs one rescan.
    Mapped(u32),
    /// Test hook ([`super::LiveCapture::stall_maintenance`]): hold the lock, as a very slow
    /// attach would, until the other end of the first channel is dropped.
    Stall(Receiver<()>, Sender<()>),
}

pub(super) struct Maintenance {
    /// Dropped first when the capture ends: the thread sees it closed and returns.
    requests: Option<Sender<Msg>>,
    thread: Option<JoinHandle<()>>,
}

impl Maintenance {
    /// Starts the thread; its events arrive on `events`.
    pub(super) fn start(
        probes: Arc<Mutex<Probes>>,
        targets: Targets,
        exits_polled: bool,
        events: Sender<Event>,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let worker = Worker {
            probes,
            targets,
            exits_polled,
            events,
            requests: rx,
        };
        let thread = std::thread::Builder::new()
            .name("apitop-maint".into())
            .spawn(move || worker.run())?;
        Ok(Maintenance {
            requests: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues work for the thread and wakes it. A thread already gone (it panicked) just
    /// leaves the work undone: capture goes on without it.
    pub(super) fn ask(&self, msg: Msg) {
        if let Some(tx) = &self.requests {
            let _ = tx.send(msg);
        }
    }
}

impl Drop for Maintenance {
    fn drop(&mut self) {
        // Closing the channel ends the thread after the work in hand (one object's attach at
        // most: a rescan checks for the end between targets).
        self.requests = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Worker {
    probes: Arc<Mutex<Probes>>,
    targets: Targets,
    exits_polled: bool,
    events: Sender<Event>,
    requests: Receiver<Msg>,
}

impl Worker {
    fn run(self) {
        // When each target was first seen here.
        let mut first_seen: HashMap<u32, Instant> = HashMap::new();
        let mut next_tick = Instant::now() + periods().1;
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            match self.requests.recv_timeout(wait) {
                Ok(Msg::Mapped(pid)) => {
                    if !self.rescan_mapped(pid) {
                        return;
                    }
                }
                Ok(msg) => self.handle(msg),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            // A steady stream of requests must not starve the periodic work.
            if Instant::now() >= next_tick {
                if !self.tick() {
                    return;
                }
                next_tick = Instant::now() + self.interval(&mut first_seen);
            }
        }
    }

    /// [`FAST_TICK`] while a target is young, else [`TICK`].
    fn interval(&self, first_seen: &mut HashMap<u32, Instant>) -> Duration {
        let now = Instant::now();
        let targets = lock(&self.targets);
        first_seen.retain(|pid, _| targets.contains(pid));
        for pid in targets.iter() {
            first_seen.entry(*pid).or_insert(now);
        }
        let (tick, fast) = periods();
        if first_seen.values().any(|t| now.duration_since(*t) < YOUNG) {
            fast
        } else {
            tick
        }
    }

    fn handle(&self, msg: Msg) {
        let mut p = lock(&self.probes);
        match msg {
            Msg::NewTarget(pid) => {
                // Cached per executable: a fork of a probed program finds it attached.
                let _ = p.attach_go(pid);
                // Best effort: the child may already have closed some of them.
                p.seed_sockets(pid);
            }
            Msg::Exec(pid) => {
                let _ = p.attach_go(pid);
            }
            Msg::NotTarget(pid) => {
                let _ = p.set_target(pid, false);
            }
            Msg::Exited(pid) => {
                p.purge.insert(pid);
            }
            Msg::Mapped(pid) => p.rescan_pid(pid),
            Msg::Stall(release, held) => {
                let _ = held.send(());
                let _ = release.recv();
            }
        }
    }

    /// Rescans `pid` and every other target whose mapping notices are already waiting, each
    /// once; other requests waiting meanwhile are served in order. False when the capture is
    /// gone.
    fn rescan_mapped(&self, pid: u32) -> bool {
        let mut pids = vec![pid];
        let mut open = true;
        loop {
            match self.requests.try_recv() {
                Ok(Msg::Mapped(p)) if !pids.contains(&p) => pids.push(p),
                Ok(Msg::Mapped(_)) => {}
                Ok(msg) => self.handle(msg),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        for pid in pids {
            // Not if it ended meanwhile.
            if lock(&self.targets).contains(&pid) {
                lock(&self.probes).rescan_pid(pid);
            }
        }
        open
    }

    /// Requests that arrived meanwhile; false when the capture is gone.
    fn serve_pending(&self) -> bool {
        loop {
            match self.requests.try_recv() {
                Ok(msg) => self.handle(msg),
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => return false,
            }
        }
    }

    /// The periodic work; false when the capture is gone.
    fn tick(&self) -> bool {
        if self.exits_polled {
            self.poll_exits();
        }
        let pids: Vec<u32> = lock(&self.targets).iter().copied().collect();
        for pid in pids {
            if !self.serve_pending() {
                return false;
            }
            // The lock is taken per target so that `add_pid` and friends wait for one
            // target's attach at most.
            lock(&self.probes).rescan_pid(pid);
        }
        let lost = {
            let mut p = lock(&self.probes);
            p.purge_sockets();
            p.read_losses()
        };
        if let Some(ev) = lost {
            let _ = self.events.send(ev);
        }
        true
    }

    /// Where the kernel cannot say when a process ends (no `group_dead`): targets that are gone
    /// or zombies are reported as exited.
    fn poll_exits(&self) {
        let pids: Vec<u32> = lock(&self.targets).iter().copied().collect();
        for pid in pids.into_iter().filter(|&pid| !procinfo::is_alive(pid)) {
            {
                let mut p = lock(&self.probes);
                let _ = p.set_target(pid, false);
                p.purge.insert(pid);
            }
            let _ = self.events.send(Event::Exit { ts: now(), pid });
        }
    }
}
