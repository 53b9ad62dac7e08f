//! Stripped static BoringSSL among a process's mapped objects, found by code
//! ([`crate::signature`]): which objects are scanned, what `--list` and the picker say, and the
//! objects live capture attaches to.
//!
//! Scanned: each distinct mapped file of at least [`MIN_BYTES`] outside the distribution's shared
//! library directories (whose libraries link the system's TLS libraries, found by symbols). A
//! scan reads the file once (a streaming search for BoringSSL's file name first); its result is
//! cached by file identity, so listing processes every second costs a `stat` per object.
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::maps::{candidates, Mapping};
use super::{Inspector, MappedObject, ProcError, TlsKind, TlsStatus};
use crate::signature::{self, boringssl::Found, NOT_BORINGSSL};

/// Smaller objects are not scanned: BoringSSL's TLS code alone is larger.
const MIN_BYTES: u64 = 1 << 20;

/// Directories of the distribution's shared libraries.
const SYSTEM_LIBS: [&str; 4] = [
    "/usr/lib/x86_64-linux-gnu/",
    "/lib/x86_64-linux-gnu/",
    "/usr/lib64/",
    "/lib64/",
];

/// One mapped object in which BoringSSL's file name was found: where it is and what the finder
/// concluded.
pub(super) struct Scanned {
    pub mapping: Mapping,
    pub open_path: PathBuf,
    pub result: signature::Scan,
}

impl Inspector {
    /// The mapped objects of `pid` holding BoringSSL, with the finder's answer for each (objects
    /// without it are left out).
    pub(super) fn boringssl_objects(&mut self, pid: u32, mappings: &[Mapping]) -> Vec<Scanned> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for m in mappings {
            if !seen.insert(m.key()) || SYSTEM_LIBS.iter().any(|d| m.path.starts_with(d)) {
                continue;
            }
            let Some(path) = candidates(pid, m).into_iter().find(|p| p.exists()) else {
                continue;
            };
            if std::fs::metadata(&path).map_or(true, |md| md.len() < MIN_BYTES) {
                continue;
            }
            let result = signature::cached(&path);
            if matches!(&*result, Err(e) if e.starts_with(NOT_BORINGSSL)) {
                continue;
            }
            out.push(Scanned {
                mapping: m.clone(),
                open_path: path,
                result,
            });
        }
        out
    }

    /// The objects of `pid` where `SSL_read`/`SSL_write` were found by signature, to attach to
    /// (placement plans them through [`crate::placement::plan_object`], which falls back to the same
    /// cached scan).
    pub fn objects_by_signature(&mut self, pid: u32) -> Result<Vec<MappedObject>, ProcError> {
        let mappings = super::pids::read_maps(pid)?;
        Ok(self
            .boringssl_objects(pid, &mappings)
            .into_iter()
            .filter(|s| s.result.is_ok())
            .map(|s| MappedObject {
                path: PathBuf::from(&s.mapping.path),
                open_path: s.open_path,
                dev: s.mapping.dev,
                inode: s.mapping.inode,
                symbols: vec!["SSL_read".into(), "SSL_write".into()],
                tables: Vec::new(),
                deleted: s.mapping.deleted,
            })
            .collect())
    }

    /// `base` (the status from symbols) completed with what the signature finder says about the
    /// process's objects.
    pub(super) fn with_signatures(
        &mut self,
        base: TlsStatus,
        pid: u32,
        mappings: &[Mapping],
    ) -> TlsStatus {
        let mut status = base;
        for s in self.boringssl_objects(pid, mappings) {
            let file = Path::new(&s.mapping.path)
                .file_name()
                .map_or(s.mapping.path.clone(), |f| f.to_string_lossy().into_owned());
            match &*s.result {
                Ok(found) => {
                    // The probe sites, planned once per object (cached like every other plan).
                    let paths = [s.open_path.clone()];
                    let probes = self
                        .with_probes(TlsStatus::no_tls(), s.mapping.key(), &paths)
                        .probes
                        .unwrap_or_default();
                    status = found_status(status, &s, &file, found, probes);
                }
                Err(why) if status.capturable => {
                    status.reason = format!(
                        "{}; boringssl static in {file} not capturable: {why}",
                        status.reason
                    );
                }
                Err(why) => {
                    status = TlsStatus::new(
                        TlsKind::StaticNoSymbols,
                        false,
                        format!("boringssl static in {}, stripped; {why}", s.mapping.path),
                    );
                }
            }
        }
        status
    }
}

/// `status` with BoringSSL `found` in `s` added (or replaced, when `status` captured nothing).
fn found_status(
    status: TlsStatus,
    s: &Scanned,
    file: &str,
    found: &Found,
    probes: String,
) -> TlsStatus {
    if status.capturable {
        let probes = match status.probes {
            Some(p) => format!("{p}; {probes}"),
            None => probes,
        };
        return TlsStatus {
            reason: format!(
                "{}; boringssl (static in {file}, found by signature)",
                status.reason
            ),
            probes: Some(probes),
            ..status
        };
    }
    TlsStatus {
        probes: Some(probes),
        ..TlsStatus::new(
            TlsKind::BoringSslSignature,
            true,
            format!(
                "boringssl (static in {}, stripped; found by signature: {})",
                s.mapping.path, found.evidence
            ),
        )
    }
}
