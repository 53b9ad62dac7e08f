//! The system's TLS libraries (`libssl.so*`, `libgnutls.so*`) for this machine's architecture:
//! probed when capture starts, so a new target is captured from its first call.
use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{elf, OPENSSL_PROBE_SYMBOL};

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
