//! Live capture: loads the kernel programs, attaches them to the objects the targets map, and
//! turns ring-buffer records into [`Event`]s.
//!
//! Uprobes are attached once per ELF object (deduplicated by device and inode) for all
//! processes; the kernel programs keep only calls from tgids in the `TARGETS` map. That way a
//! child forked by a target, or a process exec'd under a watched name, is captured from its first
//! call without attaching anything new.
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aya::maps::{HashMap as BpfHashMap, MapData, PerCpuArray, RingBuf};
use aya::programs::uprobe::UProbeAttachLocation;
use aya::{Ebpf, EbpfLoader};
use capture_ebpf::{
    socket_key, SocketInfo, COMM_LEN, CTR_GO_UNPAIRED, CTR_MAP_FULL, CTR_NO_SCRATCH,
    CTR_READ_FAULT, CTR_RING_FULL, CTR_TRUNCATED_BYTES, DIR_READ, FLAG_PLAIN, HEADER_SIZE,
    KIND_ADDR, KIND_CLOSE, KIND_DATA, KIND_EXEC, KIND_EXIT, KIND_FD, KIND_NEW_TARGET, NUM_COUNTERS,
    RING_SIZE, SOCKADDR_LEN, SOCK_NEW,
};

use crate::event::{ConnKey, Direction, Event, LossCounters};
use crate::exchange::UnixNanos;
use crate::placement;
use crate::procinfo::{self, Inspector};

mod go;
pub mod kernel;
mod programs;
mod records;

use programs::*;
pub use records::now;
use records::*;

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("live capture needs root (CAP_BPF and CAP_PERFMON): run with sudo, or use -r FILE to read a recording")]
    NotRoot,
    #[error("the kernel has no BTF (/sys/kernel/btf/vmlinux missing): a kernel built with CONFIG_DEBUG_INFO_BTF=y is needed")]
    NoBtf,
    #[error("the kernel refused to load the probes ({0}); is BPF allowed here (kernel.unprivileged_bpf_disabled, lockdown, seccomp)?")]
    Load(String),
    #[error("attaching {what} failed: {detail}")]
    Attach { what: String, detail: String },
    #[error("no process with pid {0}")]
    NoSuchProcess(u32),
    #[error("pid {pid} ({comm}): {reason}: nothing apitop can capture there yet")]
    NotCapturable {
        pid: u32,
        comm: String,
        reason: String,
    },
    #[error("the target map is full (8192 processes)")]
    TooManyTargets,
    #[error("kernel {release} is too old: apitop needs Linux {}.{} or newer (bpf_loop, ring buffers, BTF)", kernel::MIN_KERNEL.0, kernel::MIN_KERNEL.1)]
    KernelTooOld { release: String },
    #[error(transparent)]
    Layout(#[from] kernel::LayoutError),
    #[error("--ring-size {0} MiB: the ring buffer must be a power of two from 1 to 1024 MiB")]
    RingSize(u32),
}

/// Settings of a live capture.
#[derive(Clone, Copy, Debug)]
pub struct LiveOptions {
    /// Capture plain (non-TLS) TCP traffic too: the syscall tracepoints.
    pub plain: bool,
    /// Kernel ring buffer size in MiB (a power of two). Records wait there between drains; a
    /// full ring drops records (counted). 64 MiB holds ~1 s of 64 KiB responses at 1,000/s.
    pub ring_mib: u32,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            plain: true,
            ring_mib: RING_SIZE >> 20,
        }
    }
}

/// Checks that live capture can work at all, before any terminal or output is set up.
pub fn preflight() -> Result<(), LiveError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(LiveError::NotRoot);
    }
    if let Some(release) = kernel::running_release() {
        if kernel::parse_release(&release).is_some_and(|v| v < kernel::MIN_KERNEL) {
            return Err(LiveError::KernelTooOld { release });
        }
    }
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        return Err(LiveError::NoBtf);
    }
    Ok(())
}

/// The loaded programs and what is attached where.
pub struct LiveCapture {
    ebpf: Ebpf,
    ring: RingBuf<MapData>,
    inspector: Inspector,
    /// (dev, inode) of objects with uprobes attached.
    attached: HashSet<(u64, u64)>,
    targets: HashSet<u32>,
    /// Names watched with `-n`: processes exec'd under them become targets in the kernel.
    names: Vec<String>,
    /// CLOCK_REALTIME − CLOCK_MONOTONIC, to stamp kernel times as wall-clock times.
    clock_offset: i128,
    counters: [u64; NUM_COUNTERS as usize],
    /// Connections whose addresses were already looked up.
    addrs_known: HashSet<ConnKey>,
    last_rescan: Instant,
    /// Plain (non-TLS) socket capture is on.
    plain: bool,
    /// Generation given to sockets found in /proc (the kernel stamps the ones it sees created).
    next_gen: u32,
    /// Processes gone or detached whose `SOCKETS` entries are still to be removed.
    purge: HashSet<u32>,
    /// Addresses of plain connections looked up before their first data event.
    plain_addrs: std::collections::HashMap<ConnKey, (String, String)>,
    /// Addresses of the targets' sockets from `connect()`/`accept()`, by (pid, fd): a TLS
    /// connection that names its fd (Go, nested syscalls) finds its peer here even when the
    /// socket is gone from /proc by the time its data is read. Replaced when an fd is reused,
    /// dropped when the process exits.
    fd_addrs: std::collections::HashMap<(u32, i32), (String, String)>,
    /// The Go programs are loaded (verified) with the first Go target, not at start.
    go_loaded: bool,
    /// The buffer `poll` copies ring records into, reused from drain to drain.
    drained: Vec<u8>,
    /// The kernel's `sched_process_exit` has no `group_dead`: target exits are found by looking
    /// at /proc every rescan instead.
    exits_polled: bool,
}

impl LiveCapture {
    /// Loads the kernel programs and attaches the process tracepoints and the uprobes on the
    /// system's libssl. Targets are added with [`Self::add_pid`] and [`Self::watch_name`].
    /// Plain (non-TLS) HTTP is captured too; see [`Self::with_options`].
    pub fn new() -> Result<Self, LiveError> {
        Self::with_options(LiveOptions::default())
    }

    /// As [`Self::new`], with the ring buffer size and whether plain TCP traffic (HTTP/1.1 and
    /// cleartext HTTP/2) is captured too.
    pub fn with_options(opts: LiveOptions) -> Result<Self, LiveError> {
        let LiveOptions { plain, ring_mib } = opts;
        if !(1..=1024).contains(&ring_mib) || !ring_mib.is_power_of_two() {
            return Err(LiveError::RingSize(ring_mib));
        }
        preflight()?;
        ensure_tracefs();
        let layout = kernel::SchedLayout::read()?;
        let ring_bytes = ring_mib << 20;
        let wake_at = u64::from(ring_bytes / 4);
        let fork_at = layout.fork_child_pid;
        let exit_at = layout.exit_group_dead.unwrap_or(0);
        let mut ebpf = EbpfLoader::new()
            .map_max_entries("EVENTS", ring_bytes)
            .override_global("WAKE_AT_BYTES", &wake_at, true)
            .override_global("FORK_CHILD_PID_OFFSET", &fork_at, true)
            .override_global("EXIT_GROUP_DEAD_OFFSET", &exit_at, true)
            .load(aya::include_bytes_aligned!(concat!(
                env!("OUT_DIR"),
                "/apitop-probes"
            )))
            .map_err(|e| LiveError::Load(error_chain(&e)))?;
        let mut loaded = HashSet::new();
        for prog in ENTRY_PROGRAMS {
            if loaded.insert(*prog) {
                load_uprobe(&mut ebpf, prog)?;
            }
        }
        load_uprobe(&mut ebpf, "ssl_call_ret")?;
        for (prog, tp) in [
            ("sched_fork", "sched_process_fork"),
            ("sched_exec", "sched_process_exec"),
            ("sched_exit", "sched_process_exit"),
        ] {
            attach_tracepoint(&mut ebpf, prog, &[("sched", tp)])?;
        }
        if plain {
            for (prog, syscalls) in PLAIN_ENTRY {
                let points: Vec<(&str, &str)> = syscalls.iter().map(|s| ("syscalls", *s)).collect();
                attach_tracepoint(&mut ebpf, prog, &points)?;
            }
        } else {
            let fd_points: Vec<(&str, &str)> =
                FD_SYSCALLS.iter().map(|s| ("syscalls", *s)).collect();
            attach_tracepoint(&mut ebpf, "sys_enter_fd", &fd_points)?;
        }
        let ring = ebpf
            .take_map("EVENTS")
            .ok_or_else(|| LiveError::Load("EVENTS map missing".into()))
            .and_then(|m| RingBuf::try_from(m).map_err(|e| LiveError::Load(e.to_string())))?;
        let mut live = LiveCapture {
            ebpf,
            ring,
            inspector: Inspector::new(),
            attached: HashSet::new(),
            targets: HashSet::new(),
            names: Vec::new(),
            clock_offset: clock_offset(),
            counters: [0; NUM_COUNTERS as usize],
            addrs_known: HashSet::new(),
            last_rescan: Instant::now(),
            plain,
            next_gen: 1,
            purge: HashSet::new(),
            plain_addrs: std::collections::HashMap::new(),
            fd_addrs: std::collections::HashMap::new(),
            go_loaded: false,
            exits_polled: layout.exit_group_dead.is_none(),
            drained: Vec::new(),
        };
        // Most programs use the system libssl (or libgnutls): attaching them up front means a new
        // target (a child, an exec'd name) is captured from its first call, before any rescan.
        for lib in procinfo::system_libssl()
            .into_iter()
            .chain(procinfo::system_libgnutls())
        {
            live.attach_object(&lib, &lib)?;
        }
        Ok(live)
    }

    /// Makes `pid` a target: attaches to every object it maps that exports OpenSSL's API.
    /// Returns the [`Event::Process`] to record.
    pub fn add_pid(&mut self, pid: u32) -> Result<Event, LiveError> {
        let info = self
            .inspector
            .process(pid)
            .map_err(|_| LiveError::NoSuchProcess(pid))?;
        let objects = self
            .inspector
            .objects_exporting(pid, TLS_SYMBOLS)
            .map_err(|_| LiveError::NoSuchProcess(pid))?;
        let go = self.attach_go(pid)?;
        if objects.is_empty() && !go && !self.plain {
            return Err(LiveError::NotCapturable {
                pid,
                comm: info.comm,
                reason: info.tls.reason,
            });
        }
        for o in &objects {
            if let Err(e) = self.attach_object(&o.open_path, &o.path) {
                // Its /proc/PID/root path vanishes when the process exits mid-attach.
                return Err(if procinfo::is_alive(pid) {
                    e
                } else {
                    LiveError::NoSuchProcess(pid)
                });
            }
        }
        self.set_target(pid, true)?;
        self.seed_sockets(pid);
        Ok(Event::Process {
            ts: now(),
            pid,
            comm: info.comm,
        })
    }

    /// Registers `pid` before it has mapped anything (a command spawned paused), attaching to its
    /// executable if that carries OpenSSL itself.
    pub fn add_spawned(&mut self, pid: u32, exe: &Path, comm: &str) -> Result<Event, LiveError> {
        self.attach_executable(exe)?;
        self.set_target(pid, true)?;
        self.seed_sockets(pid);
        Ok(Event::Process {
            ts: now(),
            pid,
            comm: comm.to_string(),
        })
    }

    /// Attaches to an executable that carries its own TLS (OpenSSL inside, or Go) before any
    /// process runs it, so its first calls are seen.
    fn attach_executable(&mut self, exe: &Path) -> Result<(), LiveError> {
        if self.inspector.elf_exports(exe, "SSL_write") {
            self.attach_object(exe, exe)?;
        }
        if let Some((path, Ok(plan))) = self.inspector.go_file(exe) {
            self.attach_go_plan(&plan, &path, exe)?;
        }
        Ok(())
    }

    /// Attaches the Go `crypto/tls` probes to `pid`'s executable if it is a Go program apitop can
    /// probe. Ok(false): not Go, or a Go program it refuses (the process list says why).
    fn attach_go(&mut self, pid: u32) -> Result<bool, LiveError> {
        let Some((path, plan)) = self.inspector.go_exe(pid) else {
            return Ok(false);
        };
        let Ok(plan) = plan else {
            return Ok(false);
        };
        let shown = std::fs::read_link(&path).unwrap_or_else(|_| path.clone());
        self.attach_go_plan(&plan, &path, &shown)?;
        Ok(true)
    }

    fn attach_go_plan(
        &mut self,
        plan: &crate::golang::plan::GoPlan,
        path: &Path,
        shown: &Path,
    ) -> Result<(), LiveError> {
        if !self.first_attach(path, shown)? {
            return Ok(());
        }
        if !self.go_loaded {
            for prog in go::PROGRAMS {
                load_uprobe(&mut self.ebpf, prog)?;
            }
            self.go_loaded = true;
        }
        go::attach(&mut self.ebpf, plan, path, shown)
    }

    /// Stops capturing `pid` (uprobes stay: they are shared and filtered in the kernel).
    pub fn remove_pid(&mut self, pid: u32) {
        let _ = self.set_target(pid, false);
        self.purge.insert(pid);
    }

    /// Tells the kernel about the TCP sockets `pid` already has (connections opened before
    /// attach, listeners, fds inherited from a parent). Best effort: a socket closed meanwhile
    /// is skipped, and one missed is only not captured.
    fn seed_sockets(&mut self, pid: u32) {
        if !self.plain {
            return;
        }
        let fds = procinfo::tcp_socket_fds(pid);
        if fds.is_empty() {
            return;
        }
        let Some(map) = self.ebpf.map_mut("SOCKETS") else {
            return;
        };
        let Ok(mut map) = BpfHashMap::<_, u64, u64>::try_from(map) else {
            return;
        };
        for fd in fds {
            let key = socket_key(pid, fd as u32);
            // A socket the kernel already tracks (created or accepted since) keeps its entry.
            if map.get(&key, 0).is_ok() {
                continue;
            }
            // Generations from userspace count down from the top, away from the kernel's.
            self.next_gen = self.next_gen.wrapping_add(1);
            let info = SocketInfo {
                gen: 0xFFFF - (self.next_gen & 0x7FFF),
                state: SOCK_NEW,
            };
            let _ = map.insert(key, socket_info_value(info), 0);
        }
    }

    /// Removes the `SOCKETS` entries of processes that exited or were detached.
    fn purge_sockets(&mut self) {
        if self.purge.is_empty() {
            return;
        }
        let gone = std::mem::take(&mut self.purge);
        let Some(map) = self.ebpf.map_mut("SOCKETS") else {
            return;
        };
        let Ok(mut map) = BpfHashMap::<_, u64, u64>::try_from(map) else {
            return;
        };
        let stale: Vec<u64> = map
            .keys()
            .flatten()
            .filter(|k| {
                gone.contains(&((k >> 32) as u32)) && !self.targets.contains(&((k >> 32) as u32))
            })
            .collect();
        for k in stale {
            let _ = map.remove(&k);
        }
    }

    /// Watches a process name (`-n`): running processes with that name become targets now, and
    /// processes that exec under it later become targets in the kernel. Returns the
    /// [`Event::Process`] of each current match.
    pub fn watch_name(&mut self, name: &str) -> Result<Vec<Event>, LiveError> {
        let key = comm_key(name);
        let mut names: BpfHashMap<_, [u8; COMM_LEN], u8> = self
            .ebpf
            .map_mut("NAMES")
            .ok_or_else(|| LiveError::Load("NAMES map missing".into()))
            .and_then(|m| BpfHashMap::try_from(m).map_err(|e| LiveError::Load(e.to_string())))?;
        names
            .insert(key, 1, 0)
            .map_err(|e| LiveError::Load(format!("watching {name}: {e}")))?;
        self.names.push(name.to_string());
        // The program that name will most likely run: probed now, so a process started later is
        // seen from its first call (uprobes follow the file into every process that maps it).
        // Others are attached when they exec, racing their first calls.
        if let Some(exe) = procinfo::on_path(name) {
            self.attach_executable(&exe)?;
        }
        let mut out = Vec::new();
        for pid in procinfo::pids_named(name) {
            match self.add_pid(pid) {
                Ok(ev) => out.push(ev),
                // Without a TLS library yet (loaded later with dlopen, or a wrapper script that
                // execs), the process stays a target: the periodic rescan attaches later.
                Err(LiveError::NotCapturable { comm, .. }) => {
                    self.set_target(pid, true)?;
                    self.seed_sockets(pid);
                    out.push(Event::Process {
                        ts: now(),
                        pid,
                        comm,
                    });
                }
                Err(LiveError::NoSuchProcess(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    pub fn targets(&self) -> impl Iterator<Item = u32> + '_ {
        self.targets.iter().copied()
    }

    /// Blocks until the kernel wakes the reader (the ring is filling up, or a process or
    /// connection event arrived while the reader was idle) or `timeout` passes. Data records do
    /// not wake it one by one: the caller drains on this timer, which costs far less.
    pub fn wait(&self, timeout: Duration) {
        use std::os::fd::AsRawFd;
        let mut pfd = libc::pollfd {
            fd: self.ring.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd for the duration of the call; EINTR (a signal) just returns.
        unsafe { libc::poll(&mut pfd, 1, ms) };
    }

    /// Drains the ring buffer into `out`. Also, at most every 250 ms, picks up libraries loaded
    /// since attach (dlopen) and reports new losses.
    pub fn poll(&mut self, out: &mut Vec<Event>) {
        // Records are copied out of the ring (freeing its space at once) into one reused buffer:
        // a Vec per record was a malloc and a free per chunk on the draining path.
        let mut buf = std::mem::take(&mut self.drained);
        let mut ends: Vec<usize> = Vec::new();
        buf.clear();
        while let Some(item) = self.ring.next() {
            buf.extend_from_slice(&item);
            ends.push(buf.len());
            // Bounded per drain in records and bytes; the rest waits for the next call.
            if ends.len() >= 4096 || buf.len() >= 8 << 20 {
                break;
            }
        }
        let mut start = 0;
        for end in ends {
            self.convert(&buf[start..end], out);
            start = end;
        }
        // Kept for the next drain unless a burst of large records grew it well past its bound.
        if buf.capacity() <= 16 << 20 {
            self.drained = buf;
        }
        if self.last_rescan.elapsed() >= Duration::from_millis(250) {
            self.last_rescan = Instant::now();
            if self.exits_polled {
                self.poll_exits(out);
            }
            self.rescan();
            self.purge_sockets();
            if let Some(lost) = self.read_losses() {
                out.push(lost);
            }
        }
    }

    fn convert(&mut self, rec: &[u8], out: &mut Vec<Event>) {
        let Some(h) = parse_header(rec) else {
            return;
        };
        let ts = self.wall_clock(h.ts_ns);
        let key = ConnKey {
            pid: h.tgid,
            conn: h.conn,
        };
        match h.kind {
            KIND_DATA => {
                let end = HEADER_SIZE + h.len as usize;
                let Some(bytes) = rec.get(HEADER_SIZE..end) else {
                    return;
                };
                let plain = h.flags & FLAG_PLAIN != 0;
                // A plain connection's first event must be its data, which says it is not TLS;
                // its addresses follow.
                if h.fd >= 0 && !plain {
                    self.learn_addrs(ts, key, h.fd, out);
                }
                out.push(Event::Data {
                    ts,
                    key,
                    tid: h.tid,
                    fd: h.fd,
                    dir: if h.dir == DIR_READ {
                        Direction::Read
                    } else {
                        Direction::Write
                    },
                    total: h.total,
                    offset: h.offset,
                    bytes: bytes.to_vec(),
                    tls: !plain,
                });
                if h.fd >= 0 && plain {
                    if let Some((local, peer)) = self.plain_addrs.remove(&key) {
                        out.push(Event::Addrs {
                            ts,
                            key,
                            local,
                            peer,
                        });
                    } else {
                        self.learn_addrs(ts, key, h.fd, out);
                    }
                }
            }
            KIND_CLOSE => {
                self.addrs_known.remove(&key);
                self.plain_addrs.remove(&key);
                out.push(Event::Close { ts, key });
            }
            KIND_ADDR => {
                // The peer from connect()/accept(); the local side from /proc while the socket
                // exists, else from the listener (accept), else unknown.
                let Some(raw) = rec.get(HEADER_SIZE..HEADER_SIZE + SOCKADDR_LEN) else {
                    return;
                };
                let Some(peer) = parse_sockaddr(raw) else {
                    return;
                };
                let local = procinfo::socket_addrs(key.pid, h.fd)
                    .map(|(l, _)| l)
                    .or_else(|| {
                        (h.total != u32::MAX)
                            .then(|| procinfo::socket_addrs(key.pid, h.total as i32))
                            .flatten()
                            .map(|(l, _)| l)
                    })
                    .unwrap_or_else(|| "?".into());
                self.addrs_known.insert(key);
                let addrs = (local, peer.to_string());
                self.fd_addrs.insert((key.pid, h.fd), addrs.clone());
                self.plain_addrs.insert(key, addrs);
            }
            // A plain connection's first data follows: its addresses are looked up now, while
            // the socket exists, and reported after that data.
            KIND_FD if h.flags & FLAG_PLAIN != 0 && self.addrs_known.insert(key) => {
                if let Some(addrs) = procinfo::socket_addrs(key.pid, h.fd) {
                    self.plain_addrs.insert(key, addrs);
                }
            }
            KIND_FD if h.flags & FLAG_PLAIN != 0 => {}
            KIND_FD => {
                out.push(Event::Fd { ts, key, fd: h.fd });
                self.addrs_known.remove(&key);
                self.learn_addrs(ts, key, h.fd, out);
            }
            KIND_NEW_TARGET => {
                let pid = h.tgid;
                // sched_process_fork also fires for new threads: those share their process's
                // target entry, so drop theirs.
                // An exec'd process (tid == tgid in its record) is one whatever /proc says by
                // now: a short-lived one may already be gone.
                if h.tid != h.tgid && tgid_of(pid) != Some(pid) {
                    let _ = self.set_target(pid, false);
                    return;
                }
                self.targets.insert(pid);
                // An exec'd Go program under a watched name: probe it now, not at the next
                // rescan, or a short-lived client's requests are over before it is attached.
                // Cached per executable; a fork of a probed program finds it attached.
                let _ = self.attach_go(pid);
                // Sockets inherited from the parent (a forked server's listener and
                // connections): best effort, the child may already have closed some.
                self.seed_sockets(pid);
                let comm = record_comm(rec)
                    .or_else(|| procinfo::comm(pid))
                    .unwrap_or_default();
                out.push(Event::Process { ts, pid, comm });
            }
            KIND_EXEC => {
                if let Some(comm) = record_comm(rec) {
                    out.push(Event::Process {
                        ts,
                        pid: h.tgid,
                        comm,
                    });
                }
            }
            KIND_EXIT => self.exited(ts, h.tgid, out),
            _ => {}
        }
    }

    /// A target process ended: forget its state and report it.
    fn exited(&mut self, ts: UnixNanos, pid: u32, out: &mut Vec<Event>) {
        self.targets.remove(&pid);
        self.purge.insert(pid);
        self.addrs_known.retain(|k| k.pid != pid);
        self.fd_addrs.retain(|k, _| k.0 != pid);
        self.plain_addrs.retain(|k, _| k.pid != pid);
        out.push(Event::Exit { ts, pid });
    }

    /// Where the kernel cannot say when a process ends (no `group_dead`): targets that are gone
    /// or zombies are reported as exited.
    fn poll_exits(&mut self, out: &mut Vec<Event>) {
        let gone: Vec<u32> = self
            .targets
            .iter()
            .copied()
            .filter(|&pid| !procinfo::is_alive(pid))
            .collect();
        for pid in gone {
            let _ = self.set_target(pid, false);
            self.exited(now(), pid, out);
        }
    }

    fn learn_addrs(&mut self, ts: UnixNanos, key: ConnKey, fd: i32, out: &mut Vec<Event>) {
        if !self.addrs_known.insert(key) {
            return;
        }
        let known = self.fd_addrs.get(&(key.pid, fd)).cloned();
        if let Some((local, peer)) = known.or_else(|| procinfo::socket_addrs(key.pid, fd)) {
            out.push(Event::Addrs {
                ts,
                key,
                local,
                peer,
            });
        }
    }

    /// Attaches to objects mapped since the last look (dlopen, exec).
    fn rescan(&mut self) {
        let pids: Vec<u32> = self.targets.iter().copied().collect();
        for pid in pids {
            // An exec'd target may now run a Go program; a failure is retried next time.
            let _ = self.attach_go(pid);
            let Ok(objects) = self.inspector.objects_exporting(pid, TLS_SYMBOLS) else {
                continue;
            };
            for o in objects {
                // A failure here (object gone, unreadable) is retried on the next rescan.
                let _ = self.attach_object(&o.open_path, &o.path);
            }
        }
    }

    /// Loss counters since the last call, summed over CPUs; None when nothing new was lost.
    fn read_losses(&mut self) -> Option<Event> {
        let arr: PerCpuArray<_, u64> = PerCpuArray::try_from(self.ebpf.map("COUNTERS")?).ok()?;
        let mut now_vals = [0u64; NUM_COUNTERS as usize];
        for (i, v) in now_vals.iter_mut().enumerate() {
            if let Ok(per_cpu) = arr.get(&(i as u32), 0) {
                *v = per_cpu.iter().sum();
            }
        }
        let d = |i: u32| now_vals[i as usize].saturating_sub(self.counters[i as usize]);
        let delta = LossCounters {
            ring_full: d(CTR_RING_FULL) + d(CTR_NO_SCRATCH),
            truncated_bytes: d(CTR_TRUNCATED_BYTES),
            read_faults: d(CTR_READ_FAULT) + d(CTR_GO_UNPAIRED),
            map_full: d(CTR_MAP_FULL),
        };
        self.counters = now_vals;
        (!delta.is_zero()).then(|| Event::Lost {
            ts: now(),
            counters: delta,
        })
    }

    fn set_target(&mut self, pid: u32, on: bool) -> Result<(), LiveError> {
        let mut map: BpfHashMap<_, u32, u8> = self
            .ebpf
            .map_mut("TARGETS")
            .ok_or_else(|| LiveError::Load("TARGETS map missing".into()))
            .and_then(|m| BpfHashMap::try_from(m).map_err(|e| LiveError::Load(e.to_string())))?;
        if on {
            map.insert(pid, 1, 0)
                .map_err(|_| LiveError::TooManyTargets)?;
            self.targets.insert(pid);
        } else {
            let _ = map.remove(&pid);
            self.targets.remove(&pid);
        }
        Ok(())
    }

    /// Whether the file at `path` gets its probes now: false when this (dev, inode) already has
    /// them (another path to the same file, another process running it).
    fn first_attach(&mut self, path: &Path, shown: &Path) -> Result<bool, LiveError> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).map_err(|e| LiveError::Attach {
            what: shown.display().to_string(),
            detail: e.to_string(),
        })?;
        Ok(self.attached.insert((meta.dev(), meta.ino())))
    }

    /// Attaches every probe whose function `open_path` exports, once per (dev, inode).
    /// `shown` is the path used in messages.
    fn attach_object(&mut self, open_path: &Path, shown: &Path) -> Result<(), LiveError> {
        // GnuTLS's OpenSSL compatibility layer wraps gnutls_record_*: probing both would report
        // every call twice.
        if shown
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("libgnutls-openssl"))
        {
            return Ok(());
        }
        if !self.first_attach(open_path, shown)? {
            return Ok(());
        }
        let path: PathBuf = open_path.to_path_buf();
        // GnuTLS's record calls have SSL_write/SSL_read's shape (session, buffer, length →
        // count), so the same programs serve.
        let pairs = placement::plan_object(&path).map_err(|detail| LiveError::Attach {
            what: shown.display().to_string(),
            detail,
        })?;
        for pair in &pairs {
            let prog = data_program(pair.write, pair.placement.abi);
            let at = || UProbeAttachLocation::AbsoluteOffset(pair.offset);
            let what = &pair.placement.what;
            attach_uprobe_at(&mut self.ebpf, prog, at(), what, &path, shown)?;
            attach_uprobe_at(&mut self.ebpf, "ssl_call_ret", at(), what, &path, shown)?;
        }
        for (prog, sym) in CONTROL_PROBES {
            if self.inspector.elf_exports(&path, sym) {
                let at = UProbeAttachLocation::Symbol(sym);
                attach_uprobe_at(&mut self.ebpf, prog, at, sym, &path, shown)?;
            }
        }
        Ok(())
    }

    fn wall_clock(&self, mono_ns: u64) -> UnixNanos {
        (mono_ns as i128 + self.clock_offset).max(0) as UnixNanos
    }
}
