//! Which processes exist, and which TLS library each one uses — all from `/proc`, no eBPF.
//!
//! [`Inspector`] lists processes and classifies their TLS stack ([`TlsKind`]); it caches what it
//! learns about each ELF file by (device, inode), so listing every second stays cheap even with
//! a 100 MB `node` running. [`Inspector::objects_exporting`] finds the mapped objects to attach
//! uprobes to.
use std::collections::{HashMap, HashSet};
use std::ffi::CStr;
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::golang::plan::GoPlan;
use crate::placement::{self, ProbePair};

mod elf;
mod maps;
mod net;
mod status;

pub use elf::static_tls_markers;
use maps::Mapping;
pub use net::{AddrLookup, AddrSource, LookupStats};
pub use status::{TlsKind, TlsStatus};

/// The TLS function whose export marks an OpenSSL-compatible library (OpenSSL, BoringSSL,
/// LibreSSL — and node, which exports its bundled OpenSSL).
const OPENSSL_PROBE_SYMBOL: &str = "SSL_write";

/// A process as shown by `--list` and the picker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProcessInfo {
    pub pid: u32,
    pub ppid: u32,
    /// Effective uid.
    pub uid: u32,
    /// User name for `uid`, or the number if it has none.
    pub user: String,
    pub comm: String,
    /// Arguments joined with spaces (empty for zombies).
    pub cmdline: String,
    /// `/proc/PID/exe`'s target; `None` if unreadable.
    pub exe: Option<PathBuf>,
    pub tls: TlsStatus,
}

/// An ELF object mapped by a process that exports some of the requested symbols.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappedObject {
    /// The path as `/proc/PID/maps` shows it (in the process's mount namespace).
    pub path: PathBuf,
    /// Where to open it from here: `/proc/PID/root/<path>`, or `/proc/PID/map_files/…` if the
    /// file was deleted (replaced by a package upgrade) after the process mapped it.
    pub open_path: PathBuf,
    pub dev: u64,
    pub inode: u64,
    /// Which of the requested symbols it exports, in request order.
    pub symbols: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    #[error(
        "no process with pid {0}: it may have exited (see `apitop --list` for running processes)"
    )]
    NoSuchProcess(u32),
    #[error(
        "permission denied inspecting pid {pid}: run apitop as root (or grant it CAP_SYS_PTRACE and CAP_SYS_ADMIN)"
    )]
    PermissionDenied { pid: u32 },
    #[error("cannot read {} for pid {pid}: {source}", path.display())]
    Io {
        pid: u32,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl ProcError {
    fn from_io(pid: u32, path: impl Into<PathBuf>, err: io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::NotFound => ProcError::NoSuchProcess(pid),
            io::ErrorKind::PermissionDenied => ProcError::PermissionDenied { pid },
            _ if err.raw_os_error() == Some(libc::ESRCH) => ProcError::NoSuchProcess(pid),
            _ => ProcError::Io {
                pid,
                path: path.into(),
                source: err,
            },
        }
    }
}

/// What is known about one ELF file, keyed by (dev, inode).
#[derive(Debug, Default)]
struct ObjFacts {
    /// `stat` of the file when analysed: inodes are reused (a rebuilt binary often gets the
    /// inode of the one it replaced), so a cached entry is only trusted while this matches.
    fingerprint: Fingerprint,
    /// False: not an ELF file; everything else stays empty.
    elf: bool,
    /// Dynamic function symbols looked up so far → defined or not.
    exports: HashMap<String, bool>,
    go: Option<bool>,
    /// Where to probe a Go executable, or why not (computed once per file: it decodes code).
    go_plan: Option<Result<GoPlan, String>>,
    /// Where the TLS data probes of an OpenSSL/GnuTLS object go (decoded once per file).
    tls_probes: Option<Result<Vec<ProbePair>, String>>,
    static_marker: Option<Option<&'static str>>,
}

/// Which facts a caller needs.
#[derive(Clone, Copy, Default)]
struct Want<'a> {
    syms: &'a [&'a str],
    go: bool,
    static_tls: bool,
}

type ObjKey = (u64, u64);

/// (inode, size, mtime ns, ctime ns).
type Fingerprint = (u64, u64, i64, i64);

fn fingerprint(md: &fs::Metadata) -> Fingerprint {
    (
        md.ino(),
        md.size(),
        md.mtime() * 1_000_000_000 + md.mtime_nsec(),
        md.ctime() * 1_000_000_000 + md.ctime_nsec(),
    )
}

/// Lists and classifies processes, caching ELF analysis by (dev, inode).
#[derive(Debug, Default)]
pub struct Inspector {
    objects: HashMap<ObjKey, ObjFacts>,
    users: HashMap<u32, String>,
    /// Object files read and analysed (ELF headers and symbols, probe placement, Go plan).
    analyses: u64,
}

/// What `/proc/PID/stat` and `status` say.
struct Stat {
    state: char,
    ppid: u32,
    uid: u32,
    kernel_thread: bool,
}

const PF_KTHREAD: u64 = 0x0020_0000;

impl Inspector {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many times a file was read and analysed (ELF headers and symbols, TLS probe
    /// placement, a Go plan) since this inspector was made. What the cache answers adds nothing:
    /// listing the same processes again leaves it unchanged.
    pub fn files_analysed(&self) -> u64 {
        self.analyses
    }

    /// Forgets all cached ELF analysis (e.g. after files were rebuilt in place).
    pub fn clear_cache(&mut self) {
        self.objects.clear();
    }

    /// All user processes (kernel threads and zombies excluded), sorted by pid. Processes that
    /// exit while being listed are skipped.
    pub fn list(&mut self) -> Vec<ProcessInfo> {
        let mut out: Vec<ProcessInfo> = all_pids()
            .into_iter()
            .filter_map(|pid| match self.gather(pid) {
                Ok((info, false)) => Some(info),
                _ => None,
            })
            .collect();
        out.sort_by_key(|p| p.pid);
        out
    }

    /// One process. Kernel threads are reported with reason `kernel thread — not capturable`,
    /// zombies with `exited`; a process whose memory map cannot be read gets
    /// [`TlsKind::Unknown`] (`cannot inspect: permission denied`) rather than an error.
    pub fn process(&mut self, pid: u32) -> Result<ProcessInfo, ProcError> {
        self.gather(pid).map(|(info, _)| info)
    }

    /// Every ELF object mapped by `pid` that exports any of `symbols` (defined functions in
    /// `.dynsym`), deduplicated by (dev, inode) and sorted by path.
    pub fn objects_exporting(
        &mut self,
        pid: u32,
        symbols: &[&str],
    ) -> Result<Vec<MappedObject>, ProcError> {
        let mappings = read_maps(pid)?;
        let mut out = Vec::new();
        for m in &mappings {
            let open_path = open_path(pid, m);
            let found = self.exports(m.key(), &candidates(pid, m), symbols);
            let names: Vec<String> = symbols
                .iter()
                .zip(found)
                .filter(|(_, f)| *f)
                .map(|(s, _)| s.to_string())
                .collect();
            if !names.is_empty() {
                out.push(MappedObject {
                    path: PathBuf::from(&m.path),
                    open_path,
                    dev: m.dev,
                    inode: m.inode,
                    symbols: names,
                });
            }
        }
        if out.is_empty() && !Path::new(&format!("/proc/{pid}")).exists() {
            return Err(ProcError::NoSuchProcess(pid));
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Whether the ELF file at `path` exports the function `sym`, cached by the file's
    /// (dev, inode).
    pub fn elf_exports(&mut self, path: &Path, sym: &str) -> bool {
        let Ok(meta) = fs::metadata(path) else {
            return false;
        };
        self.exports((meta.dev(), meta.ino()), &[path.to_path_buf()], &[sym])[0]
    }

    /// The Go executable of `pid` and where to probe it (or why not); None when `pid` does not
    /// run a Go program. The path is `/proc/PID/exe`, which opens the very file the process runs.
    pub fn go_exe(&mut self, pid: u32) -> Option<(PathBuf, Result<GoPlan, String>)> {
        self.go_file(&PathBuf::from(format!("/proc/{pid}/exe")))
    }

    /// As [`Self::go_exe`], for an executable file.
    pub fn go_file(&mut self, path: &Path) -> Option<(PathBuf, Result<GoPlan, String>)> {
        let md = fs::metadata(path).ok()?;
        let key = (md.dev(), md.ino());
        let paths = [path.to_path_buf()];
        let want = Want {
            go: true,
            ..Want::default()
        };
        if self.facts(key, &paths, want).and_then(|f| f.go) != Some(true) {
            return None;
        }
        let plan = self.go_plan_cached(key, path)?.clone();
        Some((path.to_path_buf(), plan))
    }

    /// `status` with where the data probes go in the TLS library `key` (decoded once per file).
    fn with_probes(&mut self, status: TlsStatus, key: ObjKey, paths: &[PathBuf]) -> TlsStatus {
        let Some(path) = paths.iter().find(|p| p.exists()).cloned() else {
            return status;
        };
        if self.facts(key, paths, Want::default()).is_none() {
            return status;
        }
        let Some(facts) = self.objects.get_mut(&key) else {
            return status;
        };
        let analyses = &mut self.analyses;
        let plan = facts.tls_probes.get_or_insert_with(|| {
            *analyses += 1;
            placement::plan_object(&path)
        });
        let probes = match plan {
            Ok(pairs) => placement::describe(pairs),
            Err(e) => format!("cannot place probes: {e}"),
        };
        TlsStatus {
            probes: Some(probes),
            ..status
        }
    }

    /// The cached Go plan of the object `key` (known to be Go), computed from `path` once.
    fn go_plan_cached(&mut self, key: ObjKey, path: &Path) -> Option<&Result<GoPlan, String>> {
        let facts = self.objects.get_mut(&key)?;
        if facts.go_plan.is_none() {
            self.analyses += 1;
            facts.go_plan = Some(crate::golang::plan::plan(path));
        }
        facts.go_plan.as_ref()
    }

    /// The process, and whether to leave it out of [`Inspector::list`] (kernel thread, zombie).
    fn gather(&mut self, pid: u32) -> Result<(ProcessInfo, bool), ProcError> {
        let stat = read_stat(pid)?;
        let comm = read_proc(pid, "comm")
            .map(|c| c.trim_end_matches('\n').to_string())
            .unwrap_or_default();
        let cmdline = read_cmdline(pid).unwrap_or_default();
        let exe = fs::read_link(format!("/proc/{pid}/exe")).ok();
        let zombie = matches!(stat.state, 'Z' | 'X' | 'x');
        let kernel_thread = stat.kernel_thread || (cmdline.is_empty() && exe.is_none());
        let tls = if zombie {
            TlsStatus::new(TlsKind::NoTls, false, "exited")
        } else if kernel_thread {
            TlsStatus::kernel_thread()
        } else {
            match read_maps(pid) {
                Ok(mappings) => self.classify(pid, &mappings, exe.as_deref()),
                Err(ProcError::PermissionDenied { .. }) => {
                    TlsStatus::cannot_inspect("permission denied")
                }
                Err(ProcError::NoSuchProcess(p)) => return Err(ProcError::NoSuchProcess(p)),
                Err(e) => TlsStatus::cannot_inspect(&e.to_string()),
            }
        };
        let user = self.user(stat.uid);
        Ok((
            ProcessInfo {
                pid,
                ppid: stat.ppid,
                uid: stat.uid,
                user,
                comm,
                cmdline,
                exe,
                tls,
            },
            kernel_thread || zombie,
        ))
    }

    fn user(&mut self, uid: u32) -> String {
        self.users
            .entry(uid)
            .or_insert_with(|| user_name(uid))
            .clone()
    }

    fn classify(&mut self, pid: u32, mappings: &[Mapping], exe: Option<&Path>) -> TlsStatus {
        let named = |pred: &dyn Fn(&str) -> bool| -> Option<&Mapping> {
            mappings.iter().find(|m| pred(m.file_name()))
        };
        if let Some(m) = named(&|n| n.starts_with("libssl.so")) {
            let status = TlsStatus::openssl_shared(m.file_name());
            return self.with_probes(status, m.key(), &candidates(pid, m));
        }
        // The executable: its own mapping (for the cache key), opened through /proc/PID/exe,
        // which works for deleted files and other mount namespaces.
        let exe_str = exe.and_then(Path::to_str);
        let exe_map = exe_str.and_then(|e| {
            let e = e.strip_suffix(" (deleted)").unwrap_or(e);
            mappings.iter().find(|m| m.path == e)
        });
        let exe_key = match exe_map {
            Some(m) => Some(m.key()),
            None => fs::metadata(format!("/proc/{pid}/exe"))
                .ok()
                .map(|md| (md.dev(), md.ino())),
        };
        let exe_paths = vec![PathBuf::from(format!("/proc/{pid}/exe"))];
        if let Some(key) = exe_key {
            if self.exports(key, &exe_paths, &[OPENSSL_PROBE_SYMBOL])[0] {
                return self.with_probes(TlsStatus::openssl_in_exe(), key, &exe_paths);
            }
        }
        for m in mappings {
            if Some(m.key()) == exe_key || m.file_name().starts_with("libgnutls") {
                continue;
            }
            let paths = candidates(pid, m);
            if self.exports(m.key(), &paths, &[OPENSSL_PROBE_SYMBOL])[0] {
                return self.with_probes(TlsStatus::openssl_shared(m.file_name()), m.key(), &paths);
            }
        }
        if let Some(key) = exe_key {
            let go = self.facts(
                key,
                &exe_paths,
                Want {
                    go: true,
                    ..Want::default()
                },
            );
            if go.and_then(|f| f.go) == Some(true) {
                return match self.go_plan_cached(key, &exe_paths[0]) {
                    Some(plan) => TlsStatus::go_plan(plan),
                    None => TlsStatus::go_refused("go (crypto/tls) — executable unreadable"),
                };
            }
        }
        if named(&|n| n == "libjvm.so").is_some() {
            return TlsStatus::jvm();
        }
        if let Some(m) = named(&|n| n.starts_with("libgnutls.so")) {
            let status = TlsStatus::gnutls(m.file_name());
            return self.with_probes(status, m.key(), &candidates(pid, m));
        }
        if let Some(m) = named(&|n| n.starts_with("libnspr4.so"))
            .or_else(|| named(&|n| n.starts_with("libssl3.so") || n.starts_with("libnss3.so")))
        {
            return TlsStatus::nss(m.file_name());
        }
        if let Some(key) = exe_key {
            let facts = self.facts(
                key,
                &exe_paths,
                Want {
                    static_tls: true,
                    ..Want::default()
                },
            );
            if facts.and_then(|f| f.static_marker).flatten().is_some() {
                return TlsStatus::static_no_symbols();
            }
        }
        TlsStatus::no_tls()
    }

    /// For each of `syms`: whether the object exports it. Unreadable objects export nothing.
    fn exports(&mut self, key: ObjKey, paths: &[PathBuf], syms: &[&str]) -> Vec<bool> {
        let want = Want {
            syms,
            ..Want::default()
        };
        match self.facts(key, paths, want) {
            Some(f) => syms
                .iter()
                .map(|s| f.exports.get(*s).copied().unwrap_or(false))
                .collect(),
            None => vec![false; syms.len()],
        }
    }

    /// The cached facts for `key`, computing what `want` asks for and the cache lacks from the
    /// first of `paths` that exists. `None` if none could be read (not cached: may be transient).
    fn facts(&mut self, key: ObjKey, paths: &[PathBuf], want: Want) -> Option<&ObjFacts> {
        let (path, fp) = paths
            .iter()
            .find_map(|p| fs::metadata(p).ok().map(|md| (p, fingerprint(&md))))?;
        if self.objects.get(&key).is_some_and(|f| f.fingerprint != fp) {
            self.objects.remove(&key);
        }
        let needed = match self.objects.get(&key) {
            Some(f) if !f.elf => None,
            Some(f) => Some((
                want.syms
                    .iter()
                    .copied()
                    .filter(|s| !f.exports.contains_key(*s))
                    .collect::<Vec<_>>(),
                want.go && f.go.is_none(),
                want.static_tls && f.static_marker.is_none(),
            )),
            None => Some((want.syms.to_vec(), want.go, want.static_tls)),
        };
        let (missing_syms, need_go, need_static) = match needed {
            Some((syms, go, st))
                if !syms.is_empty() || go || st || !self.objects.contains_key(&key) =>
            {
                (syms, go, st)
            }
            _ => return self.objects.get(&key),
        };
        let request = elf::Request {
            dyn_symbols: &missing_syms,
            go: need_go,
            static_tls: need_static,
        };
        self.analyses += 1;
        let answer = elf::inspect(path, &request).ok()?;
        let facts = self.objects.entry(key).or_default();
        facts.fingerprint = fp;
        match answer {
            None => {
                *facts = ObjFacts {
                    fingerprint: fp,
                    ..ObjFacts::default()
                }
            }
            Some(a) => {
                facts.elf = true;
                for (s, found) in missing_syms.iter().zip(a.dyn_found) {
                    facts.exports.insert(s.to_string(), found);
                }
                if need_go {
                    facts.go = Some(a.go);
                }
                if need_static {
                    facts.static_marker = Some(a.static_marker);
                }
            }
        }
        Some(facts)
    }
}

/// Paths to try, in order, to open a mapped file from this process's point of view.
fn candidates(pid: u32, m: &Mapping) -> Vec<PathBuf> {
    let root = root_path(pid, &m.path);
    let mapped = PathBuf::from(format!("/proc/{pid}/map_files/{:x}-{:x}", m.start, m.end));
    if m.deleted {
        vec![mapped, root]
    } else {
        vec![root, mapped]
    }
}

fn open_path(pid: u32, m: &Mapping) -> PathBuf {
    candidates(pid, m).swap_remove(0)
}

fn root_path(pid: u32, path: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/root{path}"))
}

fn all_pids() -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    pids
}

fn read_proc(pid: u32, file: &str) -> Result<String, ProcError> {
    let path = format!("/proc/{pid}/{file}");
    let bytes = fs::read(&path).map_err(|e| ProcError::from_io(pid, &path, e))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn read_maps(pid: u32) -> Result<Vec<Mapping>, ProcError> {
    let text = read_proc(pid, "maps")?;
    Ok(maps::parse_unique(&text))
}

fn read_stat(pid: u32) -> Result<Stat, ProcError> {
    if pid == 0 {
        return Err(ProcError::NoSuchProcess(0));
    }
    let stat = read_proc(pid, "stat")?;
    let status = read_proc(pid, "status")?;
    let bad = || ProcError::Io {
        pid,
        path: PathBuf::from(format!("/proc/{pid}/stat")),
        source: io::Error::new(io::ErrorKind::InvalidData, "unexpected format"),
    };
    // "pid (comm) state ppid pgrp session tty_nr tpgid flags ..."; comm may contain ") ".
    let after = &stat[stat.rfind(')').ok_or_else(bad)? + 1..];
    let fields: Vec<&str> = after.split_ascii_whitespace().collect();
    let ppid = fields.get(1).and_then(|f| f.parse().ok()).ok_or_else(bad)?;
    let flags: u64 = fields.get(6).and_then(|f| f.parse().ok()).ok_or_else(bad)?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_ascii_whitespace().nth(1))
        .and_then(|u| u.parse().ok())
        .ok_or_else(bad)?;
    let state = fields
        .first()
        .and_then(|f| f.chars().next())
        .ok_or_else(bad)?;
    Ok(Stat {
        state,
        ppid,
        uid,
        kernel_thread: flags & PF_KTHREAD != 0,
    })
}

/// State letter from `/proc/PID/stat`.
fn proc_state(pid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

fn read_cmdline(pid: u32) -> Result<String, ProcError> {
    let raw = read_proc(pid, "cmdline")?;
    Ok(raw
        .trim_end_matches('\0')
        .split('\0')
        .collect::<Vec<_>>()
        .join(" "))
}

fn argv0(pid: u32) -> Option<String> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let first = raw.split(|&b| b == 0).next()?;
    (!first.is_empty()).then(|| String::from_utf8_lossy(first).into_owned())
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The user name for `uid` from the password database, or the number.
pub fn user_name(uid: u32) -> String {
    let mut buf = vec![0u8; 4096];
    loop {
        // SAFETY: passwd is plain data (integers and pointers): all zeroes is a valid value.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: getpwuid_r writes into `pwd` and `buf` (of the stated length) and sets
        // `result` to null or to `&pwd`.
        let rc = unsafe {
            libc::getpwuid_r(
                uid,
                &mut pwd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
            return uid.to_string();
        }
        // SAFETY: on success pw_name points to a NUL-terminated string inside `buf`.
        let name = unsafe { CStr::from_ptr(pwd.pw_name) };
        return name.to_string_lossy().into_owned();
    }
}

/// `/proc/PID/comm` without the newline.
pub fn comm(pid: u32) -> Option<String> {
    let c = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(c.trim_end_matches('\n').to_string())
}

/// Pids whose comm is exactly `name`, or whose executable's or argv\[0\]'s file name is `name`.
/// Sorted; zombies excluded.
pub fn pids_named(name: &str) -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|&pid| {
            let matches = comm(pid).as_deref() == Some(name)
                || fs::read_link(format!("/proc/{pid}/exe"))
                    .ok()
                    .and_then(|p| {
                        let s = p.to_str()?;
                        let s = s.strip_suffix(" (deleted)").unwrap_or(s);
                        Some(base_name(s) == name)
                    })
                    .unwrap_or(false)
                || argv0(pid).is_some_and(|a| base_name(&a) == name);
            matches && is_alive(pid)
        })
        .collect()
}

/// Whether `pid` exists and has not exited (zombies count as exited).
pub fn is_alive(pid: u32) -> bool {
    pid != 0 && matches!(proc_state(pid), Some(s) if s != 'Z' && s != 'X' && s != 'x')
}

/// Local and peer address of TCP socket `fd` in `pid`, e.g. `("127.0.0.1:443",
/// "127.0.0.1:51234")`; IPv6 as `[::1]:443`, IPv4-mapped IPv6 as IPv4. `None` if `fd` is not a
/// TCP socket (or the process is gone).
pub fn socket_addrs(pid: u32, fd: i32) -> Option<(String, String)> {
    net::socket_addrs(pid, fd)
}

/// The fds of `pid` that are TCP sockets (any state, listeners included), sorted.
pub fn tcp_socket_fds(pid: u32) -> Vec<i32> {
    net::tcp_socket_fds(pid)
}

/// TCP ports `pid` listens on (sockets in LISTEN state among its fds), sorted.
pub fn listening_ports(pid: u32) -> Vec<u16> {
    net::listening_ports(pid)
}

/// The executable `name` resolves to on `PATH` (as a shell would find it), if any.
pub fn on_path(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        return None;
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// Whether the ELF file at `path` exports the function `sym` in `.dynsym`. Uncached; see
/// [`Inspector::elf_exports`].
pub fn elf_exports(path: &Path, sym: &str) -> bool {
    let req = elf::Request {
        dyn_symbols: &[sym],
        ..elf::Request::default()
    };
    matches!(elf::inspect(path, &req), Ok(Some(a)) if a.dyn_found[0])
}

/// Whether the ELF file at `path` is a Go program (`.go.buildinfo`/`.gopclntab` sections or a
/// `runtime.buildVersion` symbol).
pub fn elf_is_go(path: &Path) -> bool {
    let req = elf::Request {
        go: true,
        ..elf::Request::default()
    };
    matches!(elf::inspect(path, &req), Ok(Some(a)) if a.go)
}

/// The first of [`static_tls_markers`] found in the `.rodata` of the ELF file at `path` (the
/// whole file if it has no section headers); `None` if none, or not ELF.
pub fn static_tls_marker(path: &Path) -> io::Result<Option<&'static str>> {
    let req = elf::Request {
        static_tls: true,
        ..elf::Request::default()
    };
    Ok(elf::inspect(path, &req)?.and_then(|a| a.static_marker))
}

/// The system's OpenSSL `libssl.so*` files for this machine's architecture, from `ldconfig -p`
/// and the usual library directories; canonical paths, deduplicated by inode, sorted. Only files
/// exporting `SSL_write` are returned (so NSS's `libssl3.so` and linker scripts are not).
pub fn system_libssl() -> Vec<PathBuf> {
    system_library("libssl.so", OPENSSL_PROBE_SYMBOL)
}

/// The system's GnuTLS `libgnutls.so*` files exporting `gnutls_record_send` (wget, some curl
/// builds, GNOME programs), found the same way as [`system_libssl`].
pub fn system_libgnutls() -> Vec<PathBuf> {
    system_library("libgnutls.so", "gnutls_record_send")
}

/// Shared objects named `prefix*` that export `symbol`, for this machine's architecture.
fn system_library(prefix: &str, symbol: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = Vec::new();
    for ldconfig in ["ldconfig", "/sbin/ldconfig", "/usr/sbin/ldconfig"] {
        let Ok(out) = std::process::Command::new(ldconfig)
            .arg("-p")
            .stderr(std::process::Stdio::null())
            .output()
        else {
            continue;
        };
        if !out.status.success() {
            continue;
        }
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            // "	libssl.so.3 (libc6,x86-64) => /lib/x86_64-linux-gnu/libssl.so.3"
            let Some((lhs, path)) = line.split_once(" => ") else {
                continue;
            };
            if lhs.trim_start().starts_with(prefix) {
                found.push(PathBuf::from(path.trim()));
            }
        }
        break;
    }
    let multiarch = format!("{}-linux-gnu", std::env::consts::ARCH);
    let dirs = [
        format!("/usr/lib/{multiarch}"),
        format!("/lib/{multiarch}"),
        "/lib64".to_string(),
        "/usr/lib64".to_string(),
        "/usr/lib".to_string(),
        "/lib".to_string(),
        "/usr/local/lib".to_string(),
        "/usr/local/lib64".to_string(),
        format!("/usr/local/lib/{multiarch}"),
    ];
    for dir in dirs {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(prefix) {
                found.push(e.path());
            }
        }
    }
    let own = own_machine();
    let symbols = [symbol];
    let req = elf::Request {
        dyn_symbols: &symbols,
        ..elf::Request::default()
    };
    let mut inodes = HashSet::new();
    let mut out: Vec<PathBuf> = found
        .into_iter()
        .filter_map(|p| fs::canonicalize(p).ok())
        .filter(|p| {
            let Ok(md) = fs::metadata(p) else {
                return false;
            };
            if !inodes.insert((md.dev(), md.ino())) {
                return false;
            }
            match elf::inspect(p, &req) {
                Ok(Some(a)) => a.dyn_found[0] && own.is_none_or(|m| m == (a.machine, a.is_64)),
                _ => false,
            }
        })
        .collect();
    out.sort();
    out
}

/// (e_machine, 64-bit) of the running executable.
fn own_machine() -> Option<(u16, bool)> {
    let a = elf::inspect(Path::new("/proc/self/exe"), &elf::Request::default()).ok()??;
    Some((a.machine, a.is_64))
}

/// Column header matching [`format_list_line`].
pub fn format_list_header() -> String {
    format!("{:>7}  {:<12} {:<16} {}", "PID", "USER", "NAME", "TLS")
}

/// One aligned `--list` line: `PID USER NAME TLS-REASON`.
pub fn format_list_line(p: &ProcessInfo) -> String {
    format!(
        "{:>7}  {:<12} {:<16} {}",
        p.pid,
        clip(&p.user, 12),
        clip(&p.comm, 16),
        p.tls.reason
    )
}

/// `s` cut to `width` characters, the last one replaced by `+` when cut.
fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut out: String = s.chars().take(width - 1).collect();
    out.push('+');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alive_zombie_and_gone() {
        assert!(is_alive(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Exited but not reaped: a zombie until wait().
        for _ in 0..200 {
            if !is_alive(pid) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(!is_alive(pid), "an exited, unreaped child is not alive");
        child.wait().unwrap();
        assert!(!is_alive(pid));
    }

    #[test]
    fn list_line_is_aligned_and_clipped() {
        let p = ProcessInfo {
            pid: 42,
            ppid: 1,
            uid: 1000,
            user: "averyveryverylongname".into(),
            comm: "python3".into(),
            cmdline: "python3 -c pass".into(),
            exe: None,
            tls: TlsStatus::openssl_shared("libssl.so.3"),
        };
        let line = format_list_line(&p);
        assert_eq!(
            line,
            "     42  averyveryve+ python3          openssl (libssl.so.3)"
        );
        let header = format_list_header();
        assert_eq!(header.find("USER"), line.find("averyvery"));
        assert_eq!(header.find("TLS"), line.find("openssl"));
    }

    #[test]
    fn kind_serializes_snake_case() {
        let s = serde_json::to_string(&TlsStatus::openssl_in_exe()).unwrap();
        assert_eq!(
            s,
            r#"{"kind":"openssl_in_exe","capturable":true,"reason":"openssl (in executable)"}"#
        );
        assert_eq!(
            serde_json::to_string(&TlsKind::StaticNoSymbols).unwrap(),
            r#""static_no_symbols""#
        );
    }

    #[test]
    fn unknown_user_is_numeric() {
        assert_eq!(user_name(0), "root");
        assert_eq!(user_name(3_999_999_999), "3999999999");
    }
}
