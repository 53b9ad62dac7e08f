//! The socket the agents connect to, read on its own thread.
//!
//! Each attached JVM gets its own listening socket (see [`super::drop_dir`] for where it lives
//! and why), so the peer a connection must come from is known: a connection whose
//! `SO_PEERCRED` pid is not that JVM's host pid, or whose first frame is not a HELLO with the
//! token given to that JVM, is closed and counted. Frames become [`Event`]s sent through a
//! bounded channel: when the capture's consumer falls behind, this thread stops reading, the
//! agents' bounded queues fill and they drop (and report DROPPED) — memory here stays bounded and
//! nothing blocks the ring-draining thread.
use std::collections::HashSet;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use super::frames::{Decoder, Frame, VERSION};
use super::java_conn;
use crate::event::{ConnKey, Direction, Event, LossCounters};
use crate::exchange::UnixNanos;

/// Events waiting for the consumer: at most this many (DATA carries up to 64 KiB: 32 MiB).
pub const CHANNEL_BOUND: usize = 512;
/// Open connections tracked per agent (to close them when the agent goes); beyond it, a
/// connection is still captured but not closed on the agent's disconnect.
const MAX_OPEN_PER_AGENT: usize = 65_536;
/// Agent connections per JVM at once (a reconnecting agent; more is not an agent).
const MAX_AGENTS_PER_JVM: usize = 4;
/// Bytes read from a socket at a time.
const READ_CHUNK: usize = 64 * 1024;

/// Counters of the receiver, shared with whoever reports them.
#[derive(Debug, Default)]
pub struct ReceiverStats {
    /// Agent connections accepted (peer and HELLO checked).
    pub agents: AtomicU64,
    /// Connections refused: wrong peer, no or bad HELLO, too many.
    pub rejected: AtomicU64,
    /// Connections closed because of a malformed frame.
    pub bad_frames: AtomicU64,
    pub frames: AtomicU64,
    /// Plaintext bytes received in DATA frames.
    pub bytes: AtomicU64,
}

/// A JVM the receiver accepts agents from.
pub struct Registration {
    /// Its host pid (what `SO_PEERCRED` says).
    pub pid: u32,
    /// The token given in its agent's options.
    pub token: String,
    /// Bound and listening.
    pub listener: UnixListener,
}

/// The receiving thread. Dropping it stops the thread and closes every socket.
pub struct JavaReceiver {
    register: Sender<Registration>,
    /// Behind a lock only so that the receiver can be shared (the attaching thread registers,
    /// the capture drains); one thread drains.
    events: Mutex<Receiver<Event>>,
    stop: Arc<AtomicBool>,
    stats: Arc<ReceiverStats>,
    thread: Option<JoinHandle<()>>,
}

impl JavaReceiver {
    pub fn start() -> io::Result<Self> {
        let (register, registrations) = mpsc::channel();
        let (tx, events) = mpsc::sync_channel(CHANNEL_BOUND);
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(ReceiverStats::default());
        let mut worker = Worker {
            registrations,
            tx,
            stop: stop.clone(),
            stats: stats.clone(),
            listeners: Vec::new(),
            agents: Vec::new(),
        };
        let thread = std::thread::Builder::new()
            .name("apitop-java".into())
            .spawn(move || worker.run())?;
        Ok(JavaReceiver {
            register,
            events: Mutex::new(events),
            stop,
            stats,
            thread: Some(thread),
        })
    }

    /// Accepts agents of `reg.pid` on `reg.listener` from now on.
    pub fn register(&self, reg: Registration) {
        let _ = self.register.send(reg);
    }

    /// Moves up to `max` waiting events to `out`.
    pub fn drain(&self, out: &mut Vec<Event>, max: usize) -> usize {
        let before = out.len();
        let events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        out.extend(events.try_iter().take(max));
        out.len() - before
    }

    /// Waits up to `timeout` for one event (tests).
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Event> {
        let events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        events.recv_timeout(timeout).ok()
    }

    pub fn stats(&self) -> &ReceiverStats {
        &self.stats
    }
}

impl Drop for JavaReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // A send blocked on a full channel must return for the thread to see `stop`: drain.
        let events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        while events.try_recv().is_ok() {}
        if let Some(t) = self.thread.take() {
            // The thread checks `stop` at least every poll timeout.
            let deadline = std::time::Instant::now() + Duration::from_secs(2);
            while !t.is_finished() && std::time::Instant::now() < deadline {
                while events.try_recv().is_ok() {}
                std::thread::sleep(Duration::from_millis(5));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

struct Listener {
    pid: u32,
    token: String,
    listener: UnixListener,
}

/// One connected agent.
struct Agent {
    pid: u32,
    token: String,
    stream: UnixStream,
    decoder: Decoder,
    hello: bool,
    open: HashSet<u64>,
}

/// Why an agent connection ends.
enum End {
    Eof,
    Error,
    Rejected,
    /// The consumer is gone: the whole thread ends.
    Stopped,
}

struct Worker {
    registrations: Receiver<Registration>,
    tx: SyncSender<Event>,
    stop: Arc<AtomicBool>,
    stats: Arc<ReceiverStats>,
    listeners: Vec<Listener>,
    agents: Vec<Agent>,
}

impl Worker {
    fn run(&mut self) {
        let mut scratch = vec![0u8; READ_CHUNK];
        while !self.stop.load(Ordering::SeqCst) {
            loop {
                match self.registrations.try_recv() {
                    Ok(r) => {
                        let _ = r.listener.set_nonblocking(true);
                        self.listeners.push(Listener {
                            pid: r.pid,
                            token: r.token,
                            listener: r.listener,
                        });
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return,
                }
            }
            let mut fds: Vec<libc::pollfd> = self
                .listeners
                .iter()
                .map(|l| l.listener.as_raw_fd())
                .chain(self.agents.iter().map(|a| a.stream.as_raw_fd()))
                .map(|fd| libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
            // SAFETY: `fds` is a valid array of pollfd of the given length for the call.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 100) };
            if n <= 0 {
                continue;
            }
            let nl = self.listeners.len();
            for (i, fd) in fds[..nl].iter().enumerate() {
                if fd.revents != 0 {
                    self.accept(i);
                }
            }
            let mut ended = Vec::new();
            for (j, fd) in fds[nl..].iter().enumerate() {
                if fd.revents == 0 {
                    continue;
                }
                match self.read_agent(j, &mut scratch) {
                    Ok(()) => {}
                    Err(End::Stopped) => return,
                    Err(end) => ended.push((j, end)),
                }
            }
            for (j, end) in ended.into_iter().rev() {
                let agent = self.agents.swap_remove(j);
                match end {
                    End::Error => {
                        self.stats.bad_frames.fetch_add(1, Ordering::Relaxed);
                    }
                    End::Rejected => {
                        self.stats.rejected.fetch_add(1, Ordering::Relaxed);
                    }
                    End::Eof | End::Stopped => {}
                }
                if self.close_all(agent).is_err() {
                    return;
                }
            }
        }
    }

    fn accept(&mut self, i: usize) {
        let l = &self.listeners[i];
        while let Ok((stream, _)) = l.listener.accept() {
            let peer = peer_pid(&stream);
            let count = self.agents.iter().filter(|a| a.pid == l.pid).count();
            if peer != Some(l.pid) || count >= MAX_AGENTS_PER_JVM {
                self.stats.rejected.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let _ = stream.set_nonblocking(true);
            self.agents.push(Agent {
                pid: l.pid,
                token: l.token.clone(),
                stream,
                decoder: Decoder::new(),
                hello: false,
                open: HashSet::new(),
            });
        }
    }

    /// Reads what agent `j` sent and forwards its frames.
    fn read_agent(&mut self, j: usize, scratch: &mut [u8]) -> Result<(), End> {
        let agent = &mut self.agents[j];
        let n = match agent.stream.read(scratch) {
            Ok(0) => return Err(End::Eof),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(_) => return Err(End::Eof),
        };
        agent.decoder.push(&scratch[..n]);
        // One read's frames (at most 64 KiB of them) are converted, then sent: a full channel
        // blocks here, and this socket is not read again until it drains.
        let mut events = Vec::new();
        let mut end = None;
        loop {
            match agent.decoder.next_frame() {
                Ok(Some(frame)) => {
                    self.stats.frames.fetch_add(1, Ordering::Relaxed);
                    match frame_events(agent, frame, &self.stats) {
                        Ok(evs) => events.extend(evs),
                        Err(e) => {
                            end = Some(e);
                            break;
                        }
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    end = Some(End::Error);
                    break;
                }
            }
        }
        for ev in events {
            if self.tx.send(ev).is_err() {
                return Err(End::Stopped);
            }
        }
        end.map_or(Ok(()), Err)
    }

    /// Closes every connection an agent left open (its JVM exited or apitop's socket broke).
    fn close_all(&mut self, agent: Agent) -> Result<(), ()> {
        let ts = super::now();
        let mut ids: Vec<u64> = agent.open.into_iter().collect();
        ids.sort_unstable();
        for id in ids {
            let key = ConnKey {
                pid: agent.pid,
                conn: java_conn(id),
            };
            self.tx.send(Event::Close { ts, key }).map_err(|_| ())?;
        }
        Ok(())
    }
}

/// The events one frame of `agent` makes; an error ends the agent's connection.
fn frame_events(agent: &mut Agent, frame: Frame, stats: &ReceiverStats) -> Result<Vec<Event>, End> {
    let key = |id: u64| ConnKey {
        pid: agent.pid,
        conn: java_conn(id),
    };
    if !agent.hello {
        return match frame {
            Frame::Hello { version, token, .. } if version == VERSION && token == agent.token => {
                agent.hello = true;
                stats.agents.fetch_add(1, Ordering::Relaxed);
                let comm = crate::procinfo::comm(agent.pid).unwrap_or_else(|| "java".into());
                Ok(vec![Event::Process {
                    ts: super::now(),
                    pid: agent.pid,
                    comm,
                }])
            }
            _ => Err(End::Rejected),
        };
    }
    let valid_id = |id: u64| id != 0 && id < 1 << 48;
    let events = match frame {
        Frame::Hello { .. } => return Err(End::Error),
        Frame::Conn {
            id, local, peer, ..
        } => {
            if !valid_id(id) {
                return Err(End::Error);
            }
            if agent.open.len() < MAX_OPEN_PER_AGENT {
                agent.open.insert(id);
            }
            if local.is_empty() && peer.is_empty() {
                return Ok(Vec::new());
            }
            vec![Event::Addrs {
                ts: super::now(),
                key: key(id),
                local,
                peer,
            }]
        }
        Frame::Data {
            id,
            ts,
            received,
            bytes,
        } => {
            if !valid_id(id) {
                return Err(End::Error);
            }
            stats.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            vec![Event::Data {
                ts: ts as UnixNanos,
                key: key(id),
                tid: agent.pid,
                fd: -1,
                dir: if received {
                    Direction::Read
                } else {
                    Direction::Write
                },
                total: bytes.len() as u32,
                offset: 0,
                bytes,
                tls: true,
            }]
        }
        Frame::Close { id } => {
            if !valid_id(id) {
                return Err(End::Error);
            }
            agent.open.remove(&id);
            vec![Event::Close {
                ts: super::now(),
                key: key(id),
            }]
        }
        Frame::Dropped { bytes } => vec![Event::Lost {
            ts: super::now(),
            counters: LossCounters {
                java_dropped_bytes: bytes,
                ..LossCounters::default()
            },
        }],
    };
    Ok(events)
}

/// The pid of the process at the other end (in apitop's pid namespace), from `SO_PEERCRED`.
pub fn peer_pid(s: &UnixStream) -> Option<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`, a ucred of that size.
    let r = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (r == 0 && cred.pid > 0).then_some(cred.pid as u32)
}

#[cfg(test)]
#[path = "receiver_tests.rs"]
mod tests;
