//! Which TLS stack a process uses, from its mappings: the first match in a fixed order
//! (`libssl.so*` by name, the executable's own OpenSSL, any object defining `SSL_write`, Go,
//! the JVM, GnuTLS, NSS, then TLS strings in the executable's `.rodata`).
//!
//! OpenSSL's functions are looked up in `.dynsym`, then in `.symtab`: a program that links
//! OpenSSL or BoringSSL statically exports nothing, but keeps its symbol table unless stripped.
//! The reason then names the file and the table (`openssl (static in /srv/app, .symtab:
//! SSL_read, SSL_write)`), and a file unlinked after it was mapped (Netty deletes the
//! netty-tcnative `.so` it extracted once loaded) says it is read through `map_files`. When
//! nothing can be probed the reason says why, down to "stripped: no symbols".
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::facts::Want;
use super::maps::{candidates, Mapping};
use super::{Inspector, SymTable, TlsKind, TlsStatus};

/// The OpenSSL data functions named in a reason, in this order.
const OPENSSL_DATA: [&str; 4] = ["SSL_read", "SSL_write", "SSL_read_ex", "SSL_write_ex"];

impl Inspector {
    /// The process's TLS status: by symbols, then completed by the signature finder (a stripped
    /// static BoringSSL, alone or beside a libssl).
    pub(super) fn classify(
        &mut self,
        pid: u32,
        uid: u32,
        mappings: &[Mapping],
        exe: Option<&Path>,
    ) -> TlsStatus {
        let base = self.classify_by_symbols(pid, uid, mappings, exe);
        self.with_signatures(base, pid, mappings)
    }

    fn classify_by_symbols(
        &mut self,
        pid: u32,
        uid: u32,
        mappings: &[Mapping],
        exe: Option<&Path>,
    ) -> TlsStatus {
        let named = |pred: &dyn Fn(&str) -> bool| -> Option<&Mapping> {
            mappings.iter().find(|m| pred(m.file_name()))
        };
        if let Some(m) = named(&|n| n.starts_with("libssl.so")) {
            let paths = candidates(pid, m);
            let status = self.openssl_object(&paths, m);
            return self.with_probes(status, m.key(), &paths);
        }
        // The executable: its own mapping (for the cache key), opened through /proc/PID/exe,
        // which works for deleted files and other mount namespaces.
        let exe_str = exe.and_then(Path::to_str);
        let exe_shown = exe_str.map(|e| e.strip_suffix(" (deleted)").unwrap_or(e));
        let exe_map = exe_shown.and_then(|e| mappings.iter().find(|m| m.path == e));
        let exe_key = match exe_map {
            Some(m) => Some(m.key()),
            None => fs::metadata(format!("/proc/{pid}/exe"))
                .ok()
                .map(|md| (md.dev(), md.ino())),
        };
        let exe_paths = vec![PathBuf::from(format!("/proc/{pid}/exe"))];
        if let Some(key) = exe_key {
            let found = self.defined(key, &exe_paths, &OPENSSL_DATA);
            match found[1] {
                Some(SymTable::Dynsym) => {
                    return self.with_probes(TlsStatus::openssl_in_exe(), key, &exe_paths);
                }
                Some(SymTable::Symtab) => {
                    let shown = exe_shown.unwrap_or("executable");
                    let status = TlsStatus::openssl_static(
                        TlsKind::OpenSslInExe,
                        shown,
                        false,
                        &symtab_names(&found),
                    );
                    return self.with_probes(status, key, &exe_paths);
                }
                None => {}
            }
        }
        for m in mappings {
            if Some(m.key()) == exe_key || m.file_name().starts_with("libgnutls") {
                continue;
            }
            let paths = candidates(pid, m);
            if self.defined(m.key(), &paths, &[super::OPENSSL_PROBE_SYMBOL])[0].is_some() {
                let status = self.openssl_object(&paths, m);
                return self.with_probes(status, m.key(), &paths);
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
            let mapped: Vec<&str> = mappings.iter().map(|m| m.path.as_str()).collect();
            let jvm = crate::java::JvmProcess {
                pid,
                uid,
                mapped: &mapped,
            };
            // SAFETY: geteuid has no preconditions.
            let euid = unsafe { libc::geteuid() };
            return TlsStatus::jvm(crate::java::inspect(&jvm, euid));
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
            if let Some(marker) = facts.and_then(|f| f.static_marker).flatten() {
                return TlsStatus::static_no_symbols(marker, exe_shown.unwrap_or("executable"));
            }
        }
        TlsStatus::no_tls()
    }

    /// The status of an OpenSSL-compatible object `m` (a `libssl.so*`, or any object defining
    /// `SSL_write`): where its functions were found, and whether it is read through
    /// `map_files`.
    fn openssl_object(&mut self, paths: &[PathBuf], m: &Mapping) -> TlsStatus {
        let found = self.defined(m.key(), paths, &OPENSSL_DATA);
        if found[1] == Some(SymTable::Symtab) {
            let names = symtab_names(&found);
            return TlsStatus::openssl_static(TlsKind::OpenSslShared, &m.path, m.deleted, &names);
        }
        if m.deleted {
            TlsStatus::openssl_shared_deleted(m.file_name())
        } else {
            TlsStatus::openssl_shared(m.file_name())
        }
    }
}

/// The names of [`OPENSSL_DATA`] found only in `.symtab`.
fn symtab_names(found: &[Option<SymTable>]) -> Vec<&'static str> {
    OPENSSL_DATA
        .iter()
        .zip(found)
        .filter(|(_, t)| **t == Some(SymTable::Symtab))
        .map(|(n, _)| *n)
        .collect()
}
