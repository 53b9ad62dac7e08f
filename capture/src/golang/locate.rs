//! Finding Go's function table in an ELF file (its section, a scan of `.data.rel.ro`, or a scan
//! of the load segments when section headers are gone) and the module data
//! (`runtime.firstmoduledata`) that says where the code the table describes starts.
use std::io;

use super::elfmap::{le64, Area, ElfFile};
use super::pclntab::*;
use super::GoError;

/// A table in the file: `len` bytes available at file offset `offset`.
struct FileWindow<'a> {
    elf: &'a ElfFile,
    offset: u64,
    len: u64,
}

impl TableSource for FileWindow<'_> {
    fn table_len(&self) -> u64 {
        self.len
    }

    fn read(&self, off: u64, len: u64) -> io::Result<Vec<u8>> {
        if off.checked_add(len).is_none_or(|end| end > self.len) {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "read outside the table",
            ));
        }
        self.elf.read_at(self.offset + off, len)
    }
}

/// The function table of an ELF file.
#[derive(Clone, Debug)]
pub(crate) struct Located {
    pub table: Table,
    /// Virtual address of the header.
    pub vaddr: u64,
    pub source: &'static str,
}

/// Finds and reads the function table of `elf`: the `.gopclntab` section (or Go's PIE name
/// for it), else a scan of `.data.rel.ro` (external linkers merge it there), else a scan of
/// the load segments (no usable section headers).
pub(crate) fn locate(elf: &ElfFile, quantum: u8, names: &[&str]) -> Result<Located, GoError> {
    for name in [".gopclntab", ".data.rel.ro.gopclntab"] {
        if let Some(s) = elf.section(name) {
            let src = FileWindow {
                elf,
                offset: s.offset,
                len: s.size,
            };
            let table = Table::read(&src, quantum, names)?;
            return Ok(Located {
                table,
                vaddr: s.addr,
                source: name,
            });
        }
    }
    // Scan passes, most specific first.
    let mut passes: Vec<(&'static str, Vec<Area>)> = Vec::new();
    if let Some(s) = elf.section(".data.rel.ro") {
        let area = Area {
            offset: s.offset,
            vaddr: s.addr,
            len: s.size,
        };
        passes.push((".data.rel.ro scan", vec![area]));
    }
    // All segments: gold puts read-only data in the executable one.
    let segs = elf.segments.iter().filter(|s| s.filesz > 0);
    let source = if elf.sections.is_empty() {
        "file scan (no section headers)"
    } else {
        "PT_LOAD scan"
    };
    passes.push((source, segs.map(|s| s.area()).collect()));
    let mut unsupported = None;
    for (source, areas) in passes {
        let valid = scan_areas(elf, quantum, names, source, &areas, &mut unsupported)?;
        if let Some(located) = pick_table(elf, valid)? {
            return Ok(located);
        }
    }
    Err(unsupported.unwrap_or(GoError::TableNotFound))
}

/// The valid tables whose headers lie in `areas`. Unsupported tables are remembered in
/// `unsupported` for the error message.
fn scan_areas(
    elf: &ElfFile,
    quantum: u8,
    names: &[&str],
    source: &'static str,
    areas: &[Area],
    unsupported: &mut Option<GoError>,
) -> Result<Vec<Located>, GoError> {
    let mut valid = Vec::new();
    for &area in areas {
        let hits = elf.scan(area, 8, 8, 64, |_, w| header_magic(w, quantum).is_some())?;
        for hit in hits {
            let rel = hit - area.offset;
            // A section's address comes from the file unchecked.
            let Some(vaddr) = area.vaddr.checked_add(rel) else {
                continue;
            };
            let src = FileWindow {
                elf,
                offset: hit,
                len: area.len - rel,
            };
            match Table::read(&src, quantum, names) {
                Ok(table) => valid.push(Located {
                    table,
                    vaddr,
                    source,
                }),
                Err(e @ GoError::Unsupported(_)) => {
                    unsupported.get_or_insert(e);
                }
                // Bytes that merely looked like a header.
                Err(_) => {}
            }
        }
    }
    Ok(valid)
}

/// The one table among `valid`, if any; an error when several cannot be told apart.
fn pick_table(elf: &ElfFile, mut valid: Vec<Located>) -> Result<Option<Located>, GoError> {
    if valid.len() <= 1 {
        return Ok(valid.pop());
    }
    // A program embedding another Go executable: keep the table this program's module data
    // points at.
    let count = valid.len();
    let mut mine = Vec::new();
    for located in valid {
        if find_moduledata(elf, located.vaddr, &located.table)?.is_some() {
            mine.push(located);
        }
    }
    if mine.len() == 1 {
        Ok(mine.pop())
    } else {
        Err(GoError::Unsupported(format!(
            "{count} candidate Go function tables found: cannot tell which is the program's"
        )))
    }
}

/// The module data (`runtime.moduledata`) describing a table: where the code starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ModuleData {
    pub vaddr: u64,
    /// `text`: the code base of the functab offsets.
    pub text: u64,
    pub source: &'static str,
}

/// Bytes of `runtime.moduledata` checked: pcHeader, six slices, findfunctab, minpc, maxpc,
/// text, etext. This prefix has the same layout from Go 1.16 through 1.26.
const MODULEDATA_PREFIX: u64 = 192;

/// Finds the module data pointing at the table whose header is at `header_vaddr`: the
/// `.go.module` section (Go 1.26+), else any 8-byte-aligned word in a writable segment (or,
/// in a PIE, any relocation) holding `header_vaddr` whose surrounding struct checks out.
/// `Ok(None)` when there is none; an error when several disagree.
pub(crate) fn find_moduledata(
    elf: &ElfFile,
    header_vaddr: u64,
    table: &Table,
) -> Result<Option<ModuleData>, GoError> {
    if let Some(s) = elf.section(".go.module") {
        if let Some(text) = check_moduledata(elf, s.addr, header_vaddr, table)? {
            return Ok(Some(ModuleData {
                vaddr: s.addr,
                text,
                source: "moduledata (.go.module)",
            }));
        }
    }
    let mut candidates = Vec::new();
    for seg in elf.segments.iter().filter(|s| s.write && s.filesz > 0) {
        let hits = elf.scan(seg.area(), 8, 8, 64, |_, w| le64(w, 0) == header_vaddr)?;
        candidates.extend(hits.into_iter().map(|off| seg.vaddr + (off - seg.offset)));
    }
    // lld leaves relocated pointers 0 in the file: their value is only in the relocation.
    candidates.extend(elf.relocs_with_addend(header_vaddr));
    candidates.sort_unstable();
    candidates.dedup();
    let mut found: Option<ModuleData> = None;
    for vaddr in candidates {
        let Some(text) = check_moduledata(elf, vaddr, header_vaddr, table)? else {
            continue;
        };
        match &found {
            Some(m) if m.text != text => {
                return Err(GoError::BaseUnknown(format!(
                    "code base ambiguous (module data at {:#x} and {vaddr:#x} disagree): refusing to probe",
                    m.vaddr
                )))
            }
            Some(_) => {}
            None => {
                found = Some(ModuleData {
                    vaddr,
                    text,
                    source: "moduledata (scan)",
                })
            }
        }
    }
    Ok(found)
}

/// If the bytes at `vaddr` are module data for the table at `header_vaddr`: its `text`.
fn check_moduledata(
    elf: &ElfFile,
    vaddr: u64,
    header_vaddr: u64,
    table: &Table,
) -> io::Result<Option<u64>> {
    let Some(b) = elf.read_vaddr(vaddr, MODULEDATA_PREFIX)? else {
        return Ok(None);
    };
    let h = &table.header;
    let word = |off: u64| le64(&b, off as usize);
    let ptr = |off: u64| elf.relocated(vaddr + off, word(off));
    let at = |off: u64| header_vaddr.checked_add(off);
    // Slices are {ptr, len, cap}: each sub-table pointer must match the header's offsets.
    let pointers_match = ptr(0) == Some(header_vaddr)
        && ptr(8) == at(h.funcname_offset)
        && ptr(32) == at(h.cu_offset)
        && ptr(56) == at(h.filetab_offset)
        && ptr(80) == at(h.pctab_offset)
        && ptr(104) == at(h.pcln_offset)
        && ptr(128) == at(h.pcln_offset)
        && word(136) == h.nfunc + 1;
    if !pointers_match {
        return Ok(None);
    }
    let (Some(minpc), Some(maxpc), Some(text), Some(etext)) =
        (ptr(160), ptr(168), ptr(176), ptr(184))
    else {
        return Ok(None);
    };
    // minpc and maxpc are the first entry and the end of the last function, as addresses.
    let base = if h.format.absolute_entries() { 0 } else { text };
    let consistent = text != 0
        && base.checked_add(table.first_entry) == Some(minpc)
        && base.checked_add(table.last_end) == Some(maxpc)
        && text <= minpc
        && maxpc <= etext;
    Ok(consistent.then_some(text))
}
