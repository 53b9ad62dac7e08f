//! What is known about each ELF file a process maps (the functions it defines, whether it is Go,
//! where TLS probes go, static TLS markers), cached by (dev, inode) and computed only as asked:
//! listing processes every second must not re-read a 100 MB executable.
use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::golang::plan::GoPlan;
use crate::placement::{self, ProbePair};

use super::{elf, Inspector, SymTable, TlsStatus};

/// What is known about one ELF file, keyed by (dev, inode).
#[derive(Debug, Default)]
pub(super) struct ObjFacts {
    /// `stat` of the file when analysed: inodes are reused (a rebuilt binary often gets the
    /// inode of the one it replaced), so a cached entry is only trusted while this matches.
    fingerprint: Fingerprint,
    /// False: not an ELF file; everything else stays empty.
    elf: bool,
    /// Function symbols looked up so far → where defined (`.dynsym` first), if anywhere.
    exports: HashMap<String, Option<SymTable>>,
    pub(super) go: Option<bool>,
    /// Where to probe a Go executable, or why not (computed once per file: it decodes code).
    go_plan: Option<Result<GoPlan, String>>,
    /// Where the TLS data probes of an OpenSSL/GnuTLS object go (decoded once per file).
    tls_probes: Option<Result<Vec<ProbePair>, String>>,
    pub(super) static_marker: Option<Option<&'static str>>,
}

/// Which facts a caller needs.
#[derive(Clone, Copy, Default)]
pub(super) struct Want<'a> {
    pub(super) syms: &'a [&'a str],
    pub(super) go: bool,
    pub(super) static_tls: bool,
}

pub(super) type ObjKey = (u64, u64);

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

impl Inspector {
    /// `status` with where the data probes go in the TLS library `key` (decoded once per file).
    pub(super) fn with_probes(
        &mut self,
        status: TlsStatus,
        key: ObjKey,
        paths: &[PathBuf],
    ) -> TlsStatus {
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
    pub(super) fn go_plan_cached(
        &mut self,
        key: ObjKey,
        path: &Path,
    ) -> Option<&Result<GoPlan, String>> {
        let facts = self.objects.get_mut(&key)?;
        if facts.go_plan.is_none() {
            self.analyses += 1;
            facts.go_plan = Some(crate::golang::plan::plan(path));
        }
        facts.go_plan.as_ref()
    }

    /// For each of `syms`: where the object defines it, if it does. Unreadable objects define
    /// nothing.
    pub(super) fn defined(
        &mut self,
        key: ObjKey,
        paths: &[PathBuf],
        syms: &[&str],
    ) -> Vec<Option<SymTable>> {
        let want = Want {
            syms,
            ..Want::default()
        };
        match self.facts(key, paths, want) {
            Some(f) => syms
                .iter()
                .map(|s| f.exports.get(*s).copied().flatten())
                .collect(),
            None => vec![None; syms.len()],
        }
    }

    /// The cached facts for `key`, computing what `want` asks for and the cache lacks from the
    /// first of `paths` that exists. `None` if none could be read (not cached: may be transient).
    pub(super) fn facts(
        &mut self,
        key: ObjKey,
        paths: &[PathBuf],
        want: Want,
    ) -> Option<&ObjFacts> {
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
            symtab_too: true,
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
                for (i, s) in missing_syms.iter().enumerate() {
                    let table = if a.dyn_found[i] {
                        Some(SymTable::Dynsym)
                    } else if a.symtab_found.get(i) == Some(&true) {
                        Some(SymTable::Symtab)
                    } else {
                        None
                    };
                    facts.exports.insert(s.to_string(), table);
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
