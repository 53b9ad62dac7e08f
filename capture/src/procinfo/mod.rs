//! Which processes exist, and which TLS library each one uses — all from `/proc`, no eBPF.
//!
//! [`Inspector`] lists processes and classifies their TLS stack ([`TlsKind`]); it caches what it
//! learns about each ELF file by (device, inode), so listing every second stays cheap even with
//! a 100 MB `node` running. [`Inspector::objects_exporting`] finds the mapped objects to attach
//! uprobes to.
use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::golang::plan::GoPlan;

mod classify;
mod elf;
mod elf_query;
mod facts;
mod list_line;
mod maps;
mod net;
mod pids;
mod signature;
mod status;
mod system;
mod users;

pub use elf::{static_tls_library, static_tls_markers};
pub use elf_query::{elf_defines, elf_exports, elf_is_go, static_tls_marker};
use facts::{ObjFacts, ObjKey, Want};
pub use list_line::{format_list_header, format_list_line};
use maps::{candidates, open_path};
pub use net::{AddrLookup, AddrSource, LookupStats};
use pids::{all_pids, read_cmdline, read_maps, read_proc, read_stat};
pub use pids::{comm, is_alive, pids_named};
pub use status::{TlsKind, TlsStatus};
pub use system::{system_libgnutls, system_libssl};
pub use users::user_name;

/// The TLS function whose export marks an OpenSSL-compatible library (OpenSSL, BoringSSL,
/// LibreSSL — and node, which exports its bundled OpenSSL).
const OPENSSL_PROBE_SYMBOL: &str = "SSL_write";

/// The symbol table an object defines a function in: `.dynsym` (exported), or only `.symtab`
/// (a static build that kept its symbol table: OpenSSL or BoringSSL linked into a program).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum SymTable {
    #[serde(rename = ".dynsym")]
    Dynsym,
    #[serde(rename = ".symtab")]
    Symtab,
}

impl SymTable {
    /// The section's name, as `--list` prints it.
    pub fn section(self) -> &'static str {
        match self {
            SymTable::Dynsym => ".dynsym",
            SymTable::Symtab => ".symtab",
        }
    }
}

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

/// An ELF object mapped by a process that defines some of the requested functions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappedObject {
    /// The path as `/proc/PID/maps` shows it (in the process's mount namespace).
    pub path: PathBuf,
    /// Where to open it from here: `/proc/PID/root/<path>`, or `/proc/PID/map_files/…` if the
    /// file was deleted (replaced by a package upgrade) after the process mapped it.
    pub open_path: PathBuf,
    pub dev: u64,
    pub inode: u64,
    /// Which of the requested functions it defines, in request order.
    pub symbols: Vec<String>,
    /// Where each of `symbols` was found.
    pub tables: Vec<SymTable>,
    /// The file was unlinked after it was mapped (`open_path` is then its `map_files` entry).
    pub deleted: bool,
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

/// Lists and classifies processes, caching ELF analysis by (dev, inode).
#[derive(Debug, Default)]
pub struct Inspector {
    objects: HashMap<ObjKey, ObjFacts>,
    users: HashMap<u32, String>,
    /// Object files read and analysed (ELF headers and symbols, probe placement, Go plan).
    analyses: u64,
}

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

    /// Every ELF object mapped by `pid` that defines any of `symbols` (functions in `.dynsym`,
    /// else in `.symtab`), deduplicated by (dev, inode) and sorted by path. Deleted files are
    /// opened through `/proc/PID/map_files/`.
    pub fn objects_exporting(
        &mut self,
        pid: u32,
        symbols: &[&str],
    ) -> Result<Vec<MappedObject>, ProcError> {
        let mappings = read_maps(pid)?;
        let mut out = Vec::new();
        for m in &mappings {
            let open_path = open_path(pid, m);
            let found = self.defined(m.key(), &candidates(pid, m), symbols);
            let (names, tables): (Vec<String>, Vec<SymTable>) = symbols
                .iter()
                .zip(found)
                .filter_map(|(s, f)| Some((s.to_string(), f?)))
                .unzip();
            if !names.is_empty() {
                out.push(MappedObject {
                    path: PathBuf::from(&m.path),
                    open_path,
                    dev: m.dev,
                    inode: m.inode,
                    symbols: names,
                    tables,
                    deleted: m.deleted,
                });
            }
        }
        if out.is_empty() && !Path::new(&format!("/proc/{pid}")).exists() {
            return Err(ProcError::NoSuchProcess(pid));
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Whether the ELF file at `path` defines the function `sym` (`.dynsym` or `.symtab`), cached
    /// by the file's (dev, inode).
    pub fn elf_defines(&mut self, path: &Path, sym: &str) -> bool {
        let Ok(meta) = fs::metadata(path) else {
            return false;
        };
        self.defined((meta.dev(), meta.ino()), &[path.to_path_buf()], &[sym])[0].is_some()
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
                Ok(mappings) => self.classify(pid, stat.uid, &mappings, exe.as_deref()),
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
