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
use aya::programs::uprobe::UProbeScope;
use aya::programs::{TracePoint, UProbe};
use aya::Ebpf;
use capture_ebpf::{
    EventHeader, COMM_LEN, CTR_NO_SCRATCH, CTR_READ_FAULT, CTR_RING_FULL, CTR_TRUNCATED_BYTES,
    DIR_READ, HEADER_SIZE, KIND_CLOSE, KIND_DATA, KIND_EXEC, KIND_EXIT, KIND_FD, KIND_NEW_TARGET,
    NUM_COUNTERS,
};

use crate::event::{ConnKey, Direction, Event, LossCounters};
use crate::exchange::UnixNanos;
use crate::procinfo::{self, Inspector};

/// Uprobe programs and the exported functions they attach to.
const ENTRY_PROBES: &[(&str, &str)] = &[
    ("ssl_write", "SSL_write"),
    ("ssl_write_ex", "SSL_write_ex"),
    ("ssl_read", "SSL_read"),
    ("ssl_read_ex", "SSL_read_ex"),
    ("ssl_set_fd", "SSL_set_fd"),
    ("ssl_free", "SSL_free"),
];
/// Functions whose return completes a data call.
const RETURN_PROBED: &[&str] = &["SSL_write", "SSL_write_ex", "SSL_read", "SSL_read_ex"];
/// Any of these marks an object as an OpenSSL-compatible TLS library worth attaching to.
pub const TLS_SYMBOLS: &[&str] = &["SSL_write", "SSL_read", "SSL_write_ex", "SSL_read_ex"];
/// Syscalls whose entry reveals the socket fd behind an in-flight SSL call.
const FD_SYSCALLS: &[&str] = &[
    "sys_enter_read",
    "sys_enter_write",
    "sys_enter_readv",
    "sys_enter_writev",
    "sys_enter_sendto",
    "sys_enter_recvfrom",
    "sys_enter_sendmsg",
    "sys_enter_recvmsg",
];

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
}

/// Checks that live capture can work at all, before any terminal or output is set up.
pub fn preflight() -> Result<(), LiveError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(LiveError::NotRoot);
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
}

impl LiveCapture {
    /// Loads the kernel programs and attaches the process tracepoints and the uprobes on the
    /// system's libssl. Targets are added with [`Self::add_pid`] and [`Self::watch_name`].
    pub fn new() -> Result<Self, LiveError> {
        preflight()?;
        ensure_tracefs();
        let mut ebpf = Ebpf::load(aya::include_bytes_aligned!(concat!(
            env!("OUT_DIR"),
            "/apitop-probes"
        )))
        .map_err(|e| LiveError::Load(format!("{e:#}")))?;
        for (prog, _) in ENTRY_PROBES {
            load_uprobe(&mut ebpf, prog)?;
        }
        load_uprobe(&mut ebpf, "ssl_call_ret")?;
        for (prog, tp) in [
            ("sched_fork", "sched_process_fork"),
            ("sched_exec", "sched_process_exec"),
            ("sched_exit", "sched_process_exit"),
        ] {
            attach_tracepoint(&mut ebpf, prog, &[("sched", tp)])?;
        }
        let fd_points: Vec<(&str, &str)> = FD_SYSCALLS.iter().map(|s| ("syscalls", *s)).collect();
        attach_tracepoint(&mut ebpf, "sys_enter_fd", &fd_points)?;
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
        };
        // Most programs use the system libssl: attaching it up front means a new target (a
        // child, an exec'd name) is captured from its first call, before any rescan.
        for lib in procinfo::system_libssl() {
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
        if objects.is_empty() {
            return Err(LiveError::NotCapturable {
                pid,
                comm: info.comm,
                reason: info.tls.reason,
            });
        }
        for o in &objects {
            self.attach_object(&o.open_path, &o.path)?;
        }
        self.set_target(pid, true)?;
        Ok(Event::Process {
            ts: now(),
            pid,
            comm: info.comm,
        })
    }

    /// Registers `pid` before it has mapped anything (a command spawned paused), attaching to its
    /// executable if that carries OpenSSL itself.
    pub fn add_spawned(&mut self, pid: u32, exe: &Path, comm: &str) -> Result<Event, LiveError> {
        if self.inspector.elf_exports(exe, "SSL_write") {
            self.attach_object(exe, exe)?;
        }
        self.set_target(pid, true)?;
        Ok(Event::Process {
            ts: now(),
            pid,
            comm: comm.to_string(),
        })
    }

    /// Stops capturing `pid` (uprobes stay: they are shared and filtered in the kernel).
    pub fn remove_pid(&mut self, pid: u32) {
        let _ = self.set_target(pid, false);
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
        let mut out = Vec::new();
        for pid in procinfo::pids_named(name) {
            match self.add_pid(pid) {
                Ok(ev) => out.push(ev),
                // Without a TLS library yet (loaded later with dlopen, or a wrapper script that
                // execs), the process stays a target: the periodic rescan attaches later.
                Err(LiveError::NotCapturable { comm, .. }) => {
                    self.set_target(pid, true)?;
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

    /// Drains the ring buffer into `out`. Also, at most every 250 ms, picks up libraries loaded
    /// since attach (dlopen) and reports new losses.
    pub fn poll(&mut self, out: &mut Vec<Event>) {
        let mut records: Vec<Vec<u8>> = Vec::new();
        while let Some(item) = self.ring.next() {
            records.push(item.to_vec());
            if records.len() >= 4096 {
                break;
            }
        }
        for rec in records {
            self.convert(&rec, out);
        }
        if self.last_rescan.elapsed() >= Duration::from_millis(250) {
            self.last_rescan = Instant::now();
            self.rescan();
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
                if h.fd >= 0 {
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
                    tls: true,
                });
            }
            KIND_CLOSE => {
                self.addrs_known.remove(&key);
                out.push(Event::Close { ts, key });
            }
            KIND_FD => {
                out.push(Event::Fd { ts, key, fd: h.fd });
                self.addrs_known.remove(&key);
                self.learn_addrs(ts, key, h.fd, out);
            }
            KIND_NEW_TARGET => {
                let pid = h.tgid;
                // sched_process_fork also fires for new threads: those share their process's
                // target entry, so drop theirs.
                if tgid_of(pid) != Some(pid) {
                    let _ = self.set_target(pid, false);
                    return;
                }
                self.targets.insert(pid);
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
            KIND_EXIT => {
                self.targets.remove(&h.tgid);
                self.addrs_known.retain(|k| k.pid != h.tgid);
                out.push(Event::Exit { ts, pid: h.tgid });
            }
            _ => {}
        }
    }

    fn learn_addrs(&mut self, ts: UnixNanos, key: ConnKey, fd: i32, out: &mut Vec<Event>) {
        if !self.addrs_known.insert(key) {
            return;
        }
        if let Some((local, peer)) = procinfo::socket_addrs(key.pid, fd) {
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
            read_faults: d(CTR_READ_FAULT),
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

    /// Attaches every probe whose function `open_path` exports, once per (dev, inode).
    /// `shown` is the path used in messages.
    fn attach_object(&mut self, open_path: &Path, shown: &Path) -> Result<(), LiveError> {
        let meta = std::fs::metadata(open_path).map_err(|e| LiveError::Attach {
            what: shown.display().to_string(),
            detail: e.to_string(),
        })?;
        use std::os::unix::fs::MetadataExt;
        if !self.attached.insert((meta.dev(), meta.ino())) {
            return Ok(());
        }
        let path: PathBuf = open_path.to_path_buf();
        for (prog, sym) in ENTRY_PROBES {
            if !self.inspector.elf_exports(&path, sym) {
                continue;
            }
            attach_uprobe(&mut self.ebpf, prog, sym, &path, shown)?;
            if RETURN_PROBED.contains(sym) {
                attach_uprobe(&mut self.ebpf, "ssl_call_ret", sym, &path, shown)?;
            }
        }
        Ok(())
    }

    fn wall_clock(&self, mono_ns: u64) -> UnixNanos {
        (mono_ns as i128 + self.clock_offset).max(0) as UnixNanos
    }
}

fn load_uprobe(ebpf: &mut Ebpf, prog: &str) -> Result<(), LiveError> {
    let p: &mut UProbe = program(ebpf, prog)?;
    p.load()
        .map_err(|e| LiveError::Load(format!("{prog}: {}", verifier_detail(&e))))
}

fn attach_uprobe(
    ebpf: &mut Ebpf,
    prog: &str,
    sym: &str,
    path: &Path,
    shown: &Path,
) -> Result<(), LiveError> {
    let p: &mut UProbe = program(ebpf, prog)?;
    p.attach(sym, path, UProbeScope::AllProcesses)
        .map(|_| ())
        .map_err(|e| LiveError::Attach {
            what: format!("{prog} to {sym} in {}", shown.display()),
            detail: format!("{e:#}"),
        })
}

fn attach_tracepoint(
    ebpf: &mut Ebpf,
    prog: &str,
    points: &[(&str, &str)],
) -> Result<(), LiveError> {
    let p: &mut TracePoint = program(ebpf, prog)?;
    p.load()
        .map_err(|e| LiveError::Load(format!("{prog}: {}", verifier_detail(&e))))?;
    for (category, name) in points {
        p.attach(category, name).map_err(|e| LiveError::Attach {
            what: format!("tracepoint {category}/{name}"),
            detail: format!("{e:#}"),
        })?;
    }
    Ok(())
}

fn program<'a, T>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut T, LiveError>
where
    &'a mut T: TryFrom<&'a mut aya::programs::Program>,
{
    ebpf.program_mut(name)
        .ok_or_else(|| LiveError::Load(format!("program {name} missing from the object")))?
        .try_into()
        .map_err(|_| LiveError::Load(format!("program {name} has an unexpected type")))
}

/// The verifier's log is long; its last lines say why.
fn verifier_detail(e: &aya::programs::ProgramError) -> String {
    let text = format!("{e:#}");
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines.len().saturating_sub(6);
    lines[tail..].join(" | ")
}

fn parse_header(rec: &[u8]) -> Option<EventHeader> {
    if rec.len() < HEADER_SIZE {
        return None;
    }
    // SAFETY: the record holds at least HEADER_SIZE bytes written by the kernel programs as an
    // `EventHeader` (plain integers, every bit pattern valid); read_unaligned copes with any
    // alignment of the ring-buffer slice.
    Some(unsafe { std::ptr::read_unaligned(rec.as_ptr().cast::<EventHeader>()) })
}

/// The process name carried by a `ProcEvent` record.
fn record_comm(rec: &[u8]) -> Option<String> {
    let raw = rec.get(HEADER_SIZE..HEADER_SIZE + COMM_LEN)?;
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    (end > 0).then(|| String::from_utf8_lossy(&raw[..end]).into_owned())
}

fn comm_key(name: &str) -> [u8; COMM_LEN] {
    let mut key = [0u8; COMM_LEN];
    // The kernel keeps 15 bytes of a name plus the NUL.
    for (k, b) in key.iter_mut().zip(name.bytes().take(COMM_LEN - 1)) {
        *k = b;
    }
    key
}

fn tgid_of(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
}

fn clock_ns(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer for the duration of the call.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
}

fn clock_offset() -> i128 {
    clock_ns(libc::CLOCK_REALTIME) - clock_ns(libc::CLOCK_MONOTONIC)
}

/// Wall-clock now, in the events' time base.
pub fn now() -> UnixNanos {
    clock_ns(libc::CLOCK_REALTIME).max(0) as UnixNanos
}

/// Tracepoints are found through tracefs, which a minimal system may not have mounted.
fn ensure_tracefs() {
    let dir = Path::new("/sys/kernel/tracing");
    let populated = std::fs::read_dir(dir)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if populated {
        return;
    }
    let cstr = |s: &str| std::ffi::CString::new(s).ok();
    if let (Some(src), Some(target), Some(fstype)) = (
        cstr("tracefs"),
        cstr("/sys/kernel/tracing"),
        cstr("tracefs"),
    ) {
        // SAFETY: valid NUL-terminated strings; a failure leaves the attach error to explain.
        unsafe {
            libc::mount(
                src.as_ptr(),
                target.as_ptr(),
                fstype.as_ptr(),
                0,
                std::ptr::null(),
            )
        };
    }
}
