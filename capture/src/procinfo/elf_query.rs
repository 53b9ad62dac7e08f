//! Uncached questions about one ELF file by path, for callers without an [`Inspector`] (which
//! caches the same answers by file identity).
//!
//! [`Inspector`]: super::Inspector
use std::io;
use std::path::Path;

use super::{elf, SymTable};

/// Whether the ELF file at `path` exports the function `sym` in `.dynsym`. Uncached; see
/// [`Inspector::elf_defines`](super::Inspector::elf_defines) for `.symtab` too.
pub fn elf_exports(path: &Path, sym: &str) -> bool {
    let req = elf::Request {
        dyn_symbols: &[sym],
        ..elf::Request::default()
    };
    matches!(elf::inspect(path, &req), Ok(Some(a)) if a.dyn_found[0])
}

/// Where the ELF file at `path` defines the function `sym`: `.dynsym`, else `.symtab`. Uncached.
pub fn elf_defines(path: &Path, sym: &str) -> Option<SymTable> {
    let req = elf::Request {
        dyn_symbols: &[sym],
        symtab_too: true,
        ..elf::Request::default()
    };
    match elf::inspect(path, &req) {
        Ok(Some(a)) if a.dyn_found[0] => Some(SymTable::Dynsym),
        Ok(Some(a)) if a.symtab_found[0] => Some(SymTable::Symtab),
        _ => None,
    }
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

/// The most telling of [`static_tls_markers`](super::static_tls_markers) (their order) found in the `.rodata` of the ELF file at `path` (the
/// whole file if it has no section headers); `None` if none, or not ELF.
pub fn static_tls_marker(path: &Path) -> io::Result<Option<&'static str>> {
    let req = elf::Request {
        static_tls: true,
        ..elf::Request::default()
    };
    Ok(elf::inspect(path, &req)?.and_then(|a| a.static_marker))
}
