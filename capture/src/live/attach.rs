//! The loaded programs and everything that changes what they see: attaching uprobes to objects
//! and Go executables, the `TARGETS`, `NAMES` and `SOCKETS` maps, and the loss counters.
//!
//! [`Probes`] is shared behind a mutex by the caller's thread (`add_pid`, `watch_name`, ...)
//! and the maintenance thread (rescans, exits, purges, work asked for by records). The thread
//! draining the ring buffer never takes that lock: attaching can take tens of milliseconds
//! (ELF parsing, instruction decoding, one perf event per probe), and the ring must not wait
//! for it.
//!
//! # Which files, and through which path
//! An object is probed when it defines OpenSSL's (or GnuTLS') data functions in `.dynsym`, or
//! in `.symtab` when it exports nothing (OpenSSL or BoringSSL linked statically into a program
//! that kept its symbol table); the sites come from the same placement analysis either way
//! ([`placement::plan_object`]). Files are opened through `/proc/PID/root/<path>`, or through
//! `/proc/PID/map_files/<start>-<end>` when the process's mapping says `(deleted)`: Netty
//! unlinks the netty-tcnative `.so` it extracted as soon as it is loaded, and a package upgrade
//! replaces libraries under running programs.
//!
//! The uprobe is attached to that same `map_files` path. aya hands the path string to
//! `perf_event_open` (the uprobe PMU) unchanged, and the kernel resolves it with `kern_path()`
//! following links, like `open()`: a `map_files` entry is a "magic" link that resolves to the
//! mapped file itself, not to its (vanished) name, so the probe lands on the very inode the
//! process runs, which the mapping keeps alive. It is therefore also seen by every other
//! process mapping that inode, and keyed in `attached` by it (the `stat` of the path). Opening
//! `map_files` needs `CAP_SYS_ADMIN`, which attaching probes needs anyway. Once the process
//! exits the path is gone, but the probe stays on the inode until apitop ends, harmlessly.
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use aya::maps::{HashMap as BpfHashMap, PerCpuArray};
use aya::programs::uprobe::UProbeAttachLocation;
use aya::Ebpf;
use capture_ebpf::{
    socket_key, SocketInfo, COMM_LEN, CTR_GO_UNPAIRED, CTR_MAP_FULL, CTR_NO_SCRATCH,
    CTR_READ_FAULT, CTR_RING_FULL, CTR_TRUNCATED_BYTES, KERNEL_GEN_MAX, NUM_COUNTERS, SOCK_NEW,
};

use super::programs::*;
use super::records::{comm_key, now, socket_info_value};
use super::{go, lock, LiveError, Targets};
use crate::event::{Event, LossCounters};
use crate::placement;
use crate::procinfo::{self, Inspector};

pub(super) struct Probes {
    pub(super) ebpf: Ebpf,
    inspector: Inspector,
    /// (dev, inode) of objects with uprobes attached.
    attached: HashSet<(u64, u64)>,
    /// Shared with the draining thread, which adds the targets the kernel announces.
    targets: Targets,
    /// Names watched with `-n`: processes exec'd under them become targets in the kernel.
    names: Vec<String>,
    counters: [u64; NUM_COUNTERS as usize],
    /// Plain (non-TLS) socket capture is on.
    plain: bool,
    /// Generation given to sockets found in /proc (the kernel stamps the ones it sees created).
    next_gen: u32,
    /// Processes gone or detached whose `SOCKETS` entries are still to be removed.
    pub(super) purge: HashSet<u32>,
    /// The Go programs are loaded (verified) with the first Go target, not at start.
    go_loaded: bool,
}

impl Probes {
    pub(super) fn new(ebpf: Ebpf, targets: Targets, plain: bool) -> Self {
        Probes {
            ebpf,
            inspector: Inspector::new(),
            attached: HashSet::new(),
            targets,
            names: Vec::new(),
            counters: [0; NUM_COUNTERS as usize],
            plain,
            next_gen: 1,
            purge: HashSet::new(),
            go_loaded: false,
        }
    }

    /// Makes `pid` a target: attaches to every object it maps that defines OpenSSL's API.
    /// Returns the [`Event::Process`] to record.
    pub(super) fn add_pid(&mut self, pid: u32) -> Result<Event, LiveError> {
        let info = self
            .inspector
            .process(pid)
            .map_err(|_| LiveError::NoSuchProcess(pid))?;
        let objects = self
            .tls_objects(pid)
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
    pub(super) fn add_spawned(
        &mut self,
        pid: u32,
        exe: &Path,
        comm: &str,
    ) -> Result<Event, LiveError> {
        self.attach_executable(exe)?;
        self.set_target(pid, true)?;
        self.seed_sockets(pid);
        Ok(Event::Process {
            ts: now(),
            pid,
            comm: comm.to_string(),
        })
    }

    /// Watches a process name (`-n`): running processes with that name become targets now, and
    /// processes that exec under it later become targets in the kernel.
    pub(super) fn watch_name(&mut self, name: &str) -> Result<Vec<Event>, LiveError> {
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

    /// Stops capturing `pid` (uprobes stay: they are shared and filtered in the kernel).
    pub(super) fn remove_pid(&mut self, pid: u32) {
        let _ = self.set_target(pid, false);
        self.purge.insert(pid);
    }

    /// Attaches to an executable that carries its own TLS (OpenSSL inside, or Go) before any
    /// process runs it, so its first calls are seen.
    fn attach_executable(&mut self, exe: &Path) -> Result<(), LiveError> {
        if self.inspector.elf_defines(exe, "SSL_write") {
            self.attach_object(exe, exe)?;
        }
        if let Some((path, Ok(plan))) = self.inspector.go_file(exe) {
            self.attach_go_plan(&plan, &path, exe)?;
        }
        Ok(())
    }

    /// Attaches the Go `crypto/tls` probes to `pid`'s executable if it is a Go program apitop can
    /// probe. Ok(false): not Go, or a Go program it refuses (the process list says why).
    pub(super) fn attach_go(&mut self, pid: u32) -> Result<bool, LiveError> {
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

    /// Tells the kernel about the TCP sockets `pid` already has (connections opened before
    /// attach, listeners, fds inherited from a parent). Best effort: a socket closed meanwhile
    /// is skipped, and one missed is only not captured.
    pub(super) fn seed_sockets(&mut self, pid: u32) {
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
                gen: 0xFFFF - (self.next_gen & KERNEL_GEN_MAX),
                state: SOCK_NEW,
            };
            let _ = map.insert(key, socket_info_value(info), 0);
        }
    }

    /// Removes the `SOCKETS` entries of processes that exited or were detached.
    pub(super) fn purge_sockets(&mut self) {
        if self.purge.is_empty() {
            return;
        }
        let gone = std::mem::take(&mut self.purge);
        let targets = lock(&self.targets).clone();
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
                let pid = (k >> 32) as u32;
                gone.contains(&pid) && !targets.contains(&pid)
            })
            .collect();
        for k in stale {
            let _ = map.remove(&k);
        }
    }

    /// The objects of `pid` to probe: those defining TLS functions by name, then stripped static
    /// BoringSSL found by its code.
    fn tls_objects(
        &mut self,
        pid: u32,
    ) -> Result<Vec<procinfo::MappedObject>, procinfo::ProcError> {
        let mut objects = self.inspector.objects_exporting(pid, TLS_SYMBOLS)?;
        for o in self.inspector.objects_by_signature(pid)? {
            if !objects.iter().any(|n| (n.dev, n.inode) == (o.dev, o.inode)) {
                objects.push(o);
            }
        }
        Ok(objects)
    }

    /// Attaches to objects `pid` mapped since the last look (dlopen, exec).
    pub(super) fn rescan_pid(&mut self, pid: u32) {
        // An exec'd target may now run a Go program; a failure is retried next time.
        let _ = self.attach_go(pid);
        let Ok(objects) = self.tls_objects(pid) else {
            return;
        };
        for o in objects {
            // A failure here (object gone, unreadable) is retried on the next rescan.
            let _ = self.attach_object(&o.open_path, &o.path);
        }
    }

    /// Loss counters since the last call, summed over CPUs; None when nothing new was lost.
    pub(super) fn read_losses(&mut self) -> Option<Event> {
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
            java_dropped_bytes: 0,
        };
        self.counters = now_vals;
        (!delta.is_zero()).then(|| Event::Lost {
            ts: now(),
            counters: delta,
        })
    }

    pub(super) fn set_target(&mut self, pid: u32, on: bool) -> Result<(), LiveError> {
        let mut map: BpfHashMap<_, u32, u8> = self
            .ebpf
            .map_mut("TARGETS")
            .ok_or_else(|| LiveError::Load("TARGETS map missing".into()))
            .and_then(|m| BpfHashMap::try_from(m).map_err(|e| LiveError::Load(e.to_string())))?;
        if on {
            map.insert(pid, 1, 0)
                .map_err(|_| LiveError::TooManyTargets)?;
            lock(&self.targets).insert(pid);
        } else {
            let _ = map.remove(&pid);
            lock(&self.targets).remove(&pid);
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

    /// Attaches every probe whose function `open_path` defines (`.dynsym`, else `.symtab`),
    /// once per (dev, inode). `shown` is the path used in messages.
    pub(super) fn attach_object(
        &mut self,
        open_path: &Path,
        shown: &Path,
    ) -> Result<(), LiveError> {
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
            if self.inspector.elf_defines(&path, sym) {
                let at = UProbeAttachLocation::Symbol(sym);
                attach_uprobe_at(&mut self.ebpf, prog, at, sym, &path, shown)?;
            }
        }
        Ok(())
    }
}
