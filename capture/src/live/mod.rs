//! Live capture: loads the kernel programs, attaches them to the objects the targets map, and
//! turns ring-buffer records into [`Event`]s.
//!
//! Uprobes are attached once per ELF object (deduplicated by device and inode) for all
//! processes; the kernel programs keep only calls from tgids in the `TARGETS` map. That way a
//! child forked by a target, or a process exec'd under a watched name, is captured from its first
//! call without attaching anything new.
use std::collections::HashSet;
use std::path::Path;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use aya::maps::{MapData, RingBuf};
use aya::EbpfLoader;
use capture_ebpf::RING_SIZE;

use crate::event::Event;
use crate::procinfo::{self, AddrLookup, AddrSource};

mod attach;
mod drain;
mod go;
pub mod kernel;
mod maintenance;
mod programs;
mod records;

use attach::Probes;
use drain::Drain;
use maintenance::{Maintenance, Msg};
use programs::*;
pub use records::now;

/// The targets' pids, shared by the draining thread (the kernel's new targets and exits), the
/// maintenance thread and the caller. Held only to add, remove or copy.
type Targets = Arc<Mutex<HashSet<u32>>>;

/// A lock that outlives a panic elsewhere: the state behind it stays usable (at worst one
/// attach half done, which the next rescan retries).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

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

/// A live capture: the ring buffer and its reader on the caller's thread, the probes and their
/// upkeep on a maintenance thread (see [`maintenance`]), so draining never waits for /proc or
/// for attaching.
pub struct LiveCapture {
    ring: RingBuf<MapData>,
    drain: Drain,
    /// The programs, maps and attach state, shared with the maintenance thread.
    probes: Arc<Mutex<Probes>>,
    targets: Targets,
    maintenance: Maintenance,
    /// Events from the maintenance thread (exits found by polling, losses).
    from_maintenance: Receiver<Event>,
    /// Maintenance events held back while the ring still had records left (see `poll`).
    held: Vec<Event>,
}

/// Returned by [`LiveCapture::stall_maintenance`]: the maintenance thread holds the probes'
/// lock until this is dropped. Drop it before the capture: the capture's end waits for the
/// thread. (It borrows nothing, so that the stalled capture can still be polled.)
#[doc(hidden)]
pub struct MaintenanceStall {
    _release: mpsc::Sender<()>,
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
        attach_btf_tracepoints(
            &mut ebpf,
            if plain {
                SYSCALLS_PLAIN
            } else {
                SYSCALLS_FD_ONLY
            },
        )?;
        // The ring leaves the `Ebpf` object: the draining thread reads it without the lock.
        let ring = ebpf
            .take_map("EVENTS")
            .ok_or_else(|| LiveError::Load("EVENTS map missing".into()))
            .and_then(|m| RingBuf::try_from(m).map_err(|e| LiveError::Load(e.to_string())))?;
        let targets: Targets = Arc::default();
        let mut probes = Probes::new(ebpf, targets.clone(), plain);
        // Most programs use the system libssl (or libgnutls): attaching them up front means a new
        // target (a child, an exec'd name) is captured from its first call, before any rescan.
        for lib in procinfo::system_libssl()
            .into_iter()
            .chain(procinfo::system_libgnutls())
        {
            probes.attach_object(&lib, &lib)?;
        }
        let probes = Arc::new(Mutex::new(probes));
        let (events, from_maintenance) = mpsc::channel();
        let exits_polled = layout.exit_group_dead.is_none();
        let maintenance = Maintenance::start(probes.clone(), targets.clone(), exits_polled, events)
            .map_err(|e| LiveError::Load(format!("starting the maintenance thread: {e}")))?;
        Ok(LiveCapture {
            ring,
            drain: Drain::new(targets.clone()),
            probes,
            targets,
            maintenance,
            from_maintenance,
            held: Vec::new(),
        })
    }

    /// Makes `pid` a target: attaches to every object it maps that exports OpenSSL's API.
    /// Returns the [`Event::Process`] to record.
    pub fn add_pid(&mut self, pid: u32) -> Result<Event, LiveError> {
        lock(&self.probes).add_pid(pid)
    }

    /// Registers `pid` before it has mapped anything (a command spawned paused), attaching to its
    /// executable if that carries OpenSSL itself.
    pub fn add_spawned(&mut self, pid: u32, exe: &Path, comm: &str) -> Result<Event, LiveError> {
        lock(&self.probes).add_spawned(pid, exe, comm)
    }

    /// Stops capturing `pid` (uprobes stay: they are shared and filtered in the kernel).
    pub fn remove_pid(&mut self, pid: u32) {
        lock(&self.probes).remove_pid(pid);
    }

    /// Watches a process name (`-n`): running processes with that name become targets now, and
    /// processes that exec under it later become targets in the kernel. Returns the
    /// [`Event::Process`] of each current match.
    pub fn watch_name(&mut self, name: &str) -> Result<Vec<Event>, LiveError> {
        lock(&self.probes).watch_name(name)
    }

    /// The current targets (a copy: the set changes under other threads).
    pub fn targets(&self) -> impl Iterator<Item = u32> + '_ {
        let pids: Vec<u32> = lock(&self.targets).iter().copied().collect();
        pids.into_iter()
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

    /// Drains the ring buffer into `out`, then adds what the maintenance thread reported
    /// (exits found by polling, losses).
    pub fn poll(&mut self, out: &mut Vec<Event>) {
        // Taken before the ring is read: a process the thread found gone had written all its
        // records by then, so they are all in this drain and its Exit can follow them.
        self.held.extend(self.from_maintenance.try_iter());
        // Each record is converted where it lies in the ring, its payload copied once, into its
        // event; its space is freed as the next is taken. (Copying the records out first, to
        // free the ring sooner, was a second pass over every byte: a tenth of apitop's CPU at
        // 64 KiB bodies, for space the ring gets back microseconds later anyway.)
        // One lookup state per batch: each netns's TCP table is read at most once for all the
        // new connections in it, and each process's pidfd opened once.
        let mut lookup = AddrLookup::new(AddrSource::Pidfd);
        let (mut records, mut bytes) = (0usize, 0usize);
        let mut bounded = false;
        while let Some(item) = self.ring.next() {
            self.drain
                .convert(&item, out, &mut lookup, &self.maintenance);
            records += 1;
            bytes += item.len();
            // Bounded per drain in records and bytes; the rest waits for the next call.
            if records >= 4096 || bytes >= 8 << 20 {
                bounded = true;
                break;
            }
        }
        // Records left in the ring may be older than an exit the thread found: exits wait until
        // a drain empties the ring. Losses have no order to keep.
        for ev in std::mem::take(&mut self.held) {
            match ev {
                Event::Exit { .. } if bounded => self.held.push(ev),
                Event::Exit { pid, .. } => {
                    self.drain.forget(pid);
                    out.push(ev);
                }
                ev => out.push(ev),
            }
        }
    }

    /// The capture's last drain: what the ring holds, then the loss counters read now rather
    /// than at the maintenance thread's next tick, so that losses in the last quarter second
    /// are in the final count too ("every loss counted"). Call when the capture ends.
    pub fn poll_final(&mut self, out: &mut Vec<Event>) {
        self.poll(out);
        if let Some(lost) = lock(&self.probes).read_losses() {
            out.push(lost);
        }
    }

    /// Test hook: makes the maintenance thread hold the probes' lock, as a very slow attach
    /// would, until the returned guard is dropped. Returns once the thread holds it. Draining
    /// must go on meanwhile; `add_pid` and the like would wait.
    #[doc(hidden)]
    pub fn stall_maintenance(&self) -> MaintenanceStall {
        let (release, wait) = mpsc::channel();
        let (held_tx, held) = mpsc::channel();
        self.maintenance.ask(Msg::Stall(wait, held_tx));
        let _ = held.recv();
        MaintenanceStall { _release: release }
    }
}

/// How much the thread that drains the ring is favoured over the machine's other work (nice
/// -5): at full load on a busy machine, a drain that waits its turn behind the traced programs
/// or their clients lets the ring fill, and what fills it is lost. Other threads keep nice 0.
pub const DRAIN_NICE: i32 = -5;

/// Gives the calling thread (the one that will drain the ring) [`DRAIN_NICE`]. Needs root
/// (CAP_SYS_NICE), which live capture has; returns the error otherwise.
pub fn favour_this_thread() -> std::io::Result<()> {
    // SAFETY: gettid has no preconditions; setpriority with PRIO_PROCESS and a thread id sets
    // that thread's nice value on Linux.
    let r = unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, DRAIN_NICE)
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod favour_tests {
    /// The drain thread's nice value is what `favour_this_thread` says, and only that thread's.
    #[test]
    fn favour_sets_this_threads_nice_only() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            assert_ne!(
                std::env::var("APITOP_REQUIRE_EBPF").as_deref(),
                Ok("1"),
                "needs root"
            );
            eprintln!("SKIPPED favour_sets_this_threads_nice_only: needs root (CAP_SYS_NICE)");
            return;
        }
        // Field 19 of /proc/thread-self/stat, after the command name's closing parenthesis.
        let nice = || -> i32 {
            let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
            let after = &stat[stat.rfind(')').unwrap() + 2..];
            after.split(' ').nth(16).unwrap().parse().unwrap()
        };
        let main_before = nice();
        let got = std::thread::spawn(move || {
            super::favour_this_thread().unwrap();
            nice()
        })
        .join()
        .unwrap();
        assert_eq!(got, super::DRAIN_NICE);
        assert_eq!(nice(), main_before, "other threads keep theirs");
    }
}
