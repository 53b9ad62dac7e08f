//! Go programs: finding functions (e.g. `crypto/tls.(*Conn).Write`) in Go executables,
//! stripped or not, so that they can be probed.
//!
//! Symbols are often stripped, but the runtime's own function table (pclntab) is always there:
//! [`GoBinary::open`] finds it (section, `.data.rel.ro` or a scan when section headers are
//! gone), establishes the code base its offsets are relative to (header `textStart`, cross-
//! checked with the module data, which is the only source from Go 1.26 on), and looks the
//! names up. Every step is checked; when the base cannot be established with certainty the
//! result is an error, never a guess: a wrong address crashes the traced program.
//!
//! Only x86-64 ELF executables are supported (Go 1.16 and later).
pub mod buildinfo;
mod elfmap;
mod locate;
pub mod pclntab;
pub mod plan;
pub mod sites;

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

pub use elfmap::bytes_read_past_headers;
use elfmap::{ElfFile, Segment};
use pclntab::Format;

/// A Go function found in the binary's function table. Addresses are ELF virtual addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoFunction {
    pub name: String,
    pub entry: u64,
    /// The next function's entry (padding included).
    pub end: u64,
}

/// Why a file cannot be used. Messages are one line, for process lists.
#[derive(Debug, thiserror::Error)]
pub enum GoError {
    #[error("not an ELF file")]
    NotElf,
    #[error("not a Go program")]
    NotGo,
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    #[error("Go function table not found")]
    TableNotFound,
    /// A format, version or machine this module does not read.
    #[error("{0}")]
    Unsupported(String),
    /// Inconsistent data: a corrupted file, or a layout this module misreads.
    #[error("malformed: {0}")]
    Malformed(String),
    /// The code base cannot be established with certainty.
    #[error("{0}")]
    BaseUnknown(String),
}

/// What apitop needs to know about one Go executable.
#[derive(Clone, Debug)]
pub struct GoBinary {
    /// From `.go.buildinfo`, e.g. "go1.19.8"; None when it cannot be read.
    pub version: Option<String>,
    /// (major, minor), e.g. (1, 19), parsed from `version`.
    pub version_num: Option<(u32, u32)>,
    /// Where `version` was read: ".go.buildinfo", "buildinfo (scan)",
    /// "runtime.buildVersion (scan)"; "" when unknown.
    pub version_source: &'static str,
    /// The function table's magic (see [`pclntab`]).
    pub table_magic: u32,
    /// The code base every function-table entry is relative to, and where it came from
    /// ("pclntab header", "moduledata (.go.module)", "moduledata (scan)"). For Go 1.16–1.17,
    /// whose entries are absolute, the module data's `text` or else the first entry
    /// ("first function (absolute entries)"), for information only.
    pub text_start: u64,
    pub text_start_source: &'static str,
    /// Address of the module data (`runtime.firstmoduledata`) that matched the table, when
    /// found; its `text` then agreed with `text_start`.
    pub module_data: Option<u64>,
    /// Where the table was found: ".gopclntab", ".data.rel.ro.gopclntab" (Go's internal PIE
    /// link), ".data.rel.ro scan", "PT_LOAD scan", "file scan (no section headers)".
    pub table_source: &'static str,
    /// The requested functions that exist, in request order.
    pub functions: Vec<GoFunction>,
    /// PT_LOAD segments, to turn addresses into file offsets.
    segments: Vec<Segment>,
    path: PathBuf,
}

/// Names of sections only Go's linker writes.
const GO_SECTIONS: [&str; 7] = [
    ".gopclntab",
    ".data.rel.ro.gopclntab",
    ".go.buildinfo",
    ".note.go.buildid",
    ".go.module",
    ".gosymtab",
    ".data.rel.ro.gosymtab",
];

/// Largest function [`GoBinary::code`] reads.
const MAX_CODE: u64 = 16 << 20;

impl GoBinary {
    /// Reads the table of the Go executable at `path` and looks up `names` (full Go symbol
    /// names such as "crypto/tls.(*Conn).Write", "runtime.memmove"). Err with a precise human
    /// reason when the file is not Go, the table is missing/unsupported, or the code base
    /// cannot be established with certainty.
    pub fn open(path: &Path, names: &[&str]) -> Result<GoBinary, GoError> {
        let elf = ElfFile::open(path)?;
        // With section headers, their names tell Go apart at once (node: ~100 MB, must be
        // quick). Without, only a scan can tell.
        let has_sections = !elf.sections.is_empty();
        if has_sections && !GO_SECTIONS.iter().any(|n| elf.section(n).is_some()) {
            return Err(GoError::NotGo);
        }
        if elf.machine != object::elf::EM_X86_64 {
            return Err(GoError::Unsupported(format!(
                "ELF machine {} unsupported (x86-64 only)",
                elf.machine
            )));
        }
        let located = match locate::locate(&elf, 1, names) {
            Err(GoError::TableNotFound) if !has_sections => return Err(GoError::NotGo),
            other => other?,
        };
        let table = &located.table;
        let format = table.header.format;

        let version = buildinfo::read_version(&elf)?;
        let (version, version_num, version_source) = match version {
            Some(v) => {
                let num = buildinfo::version_number(&v.text);
                let (lo, hi) = format.versions();
                match num {
                    Some(n) if n < lo || n > hi => {
                        if v.source == "runtime.buildVersion (scan)" {
                            // A heuristic that disagrees with the table: drop it.
                            (None, None, "")
                        } else {
                            return Err(GoError::Malformed(format!(
                                "Go version {} does not match function table magic {:#010x}",
                                v.text,
                                format.magic()
                            )));
                        }
                    }
                    _ => (Some(v.text), num, v.source),
                }
            }
            None => (None, None, ""),
        };

        let (text_start, text_start_source, module_data) = code_base(&elf, &located)?;
        let base = if format.absolute_entries() {
            0
        } else {
            text_start
        };
        let abs = |raw: u64| {
            base.checked_add(raw).ok_or_else(|| {
                GoError::BaseUnknown("code base overflows: refusing to probe".into())
            })
        };
        // The whole table must describe code in one executable segment of this file.
        let (first, last) = (abs(table.first_entry)?, abs(table.last_end)?);
        let in_exec = elf
            .segments
            .iter()
            .any(|s| s.exec && s.file_offset(first, last - first).is_some());
        if !in_exec {
            return Err(GoError::BaseUnknown(format!(
                "functions {first:#x}..{last:#x} (code base {text_start:#x} from {text_start_source}) \
                 are not in an executable segment: refusing to probe"
            )));
        }
        let mut functions = Vec::new();
        for f in &table.found {
            let places = f
                .places
                .iter()
                .map(|&(entry, end)| Ok((abs(entry)?, abs(end)?)))
                .collect::<Result<Vec<_>, GoError>>()?;
            if let Some((entry, end)) = pick_wrapped(&elf, &places)? {
                functions.push(GoFunction {
                    name: f.name.clone(),
                    entry,
                    end,
                });
            }
        }
        Ok(GoBinary {
            version,
            version_num,
            version_source,
            table_magic: format.magic(),
            text_start,
            text_start_source,
            module_data,
            table_source: located.source,
            functions,
            segments: elf.segments.clone(),
            path: path.to_owned(),
        })
    }

    pub fn function(&self, name: &str) -> Option<&GoFunction> {
        self.functions.iter().find(|f| f.name == name)
    }

    /// File offset of a virtual address inside an executable PT_LOAD segment (what uprobes
    /// attach by).
    pub fn file_offset(&self, vaddr: u64) -> Option<u64> {
        self.segments
            .iter()
            .filter(|s| s.exec)
            .find_map(|s| s.file_offset(vaddr, 1))
    }

    /// The machine code of `f` (entry..end), read from the file.
    pub fn code(&self, f: &GoFunction) -> std::io::Result<Vec<u8>> {
        let invalid = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, why);
        let len = f
            .end
            .checked_sub(f.entry)
            .filter(|&len| len > 0 && len <= MAX_CODE)
            .ok_or_else(|| invalid("bad function range"))?;
        let off = self
            .segments
            .iter()
            .filter(|s| s.exec)
            .find_map(|s| s.file_offset(f.entry, len))
            .ok_or_else(|| invalid("function not in an executable segment"))?;
        let mut buf = vec![0u8; len as usize];
        File::open(&self.path)?.read_exact_at(&mut buf, off)?;
        Ok(buf)
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Picks, among functions sharing a name, the one all the others call: Go's ABI wrappers
/// (adapting one calling convention to the other) carry the name of the function they wrap and
/// call it directly. `None` when that does not single one out: the name is then left out.
fn pick_wrapped(elf: &ElfFile, places: &[(u64, u64)]) -> Result<Option<(u64, u64)>, GoError> {
    /// Wrappers are a few instructions; longer functions are only candidates to be wrapped.
    const MAX_WRAPPER: u64 = 4096;
    if let [only] = places {
        return Ok(Some(*only));
    }
    let mut codes = Vec::new();
    for &(entry, end) in places {
        let len = end - entry;
        let code = match elf.vaddr_offset(entry, len) {
            Some(off) if len <= MAX_WRAPPER => Some(elf.read_at(off, len)?),
            _ => None,
        };
        codes.push(code);
    }
    let wrapped: Vec<_> = places
        .iter()
        .enumerate()
        .filter(|&(x, &(target, _))| {
            places
                .iter()
                .zip(&codes)
                .enumerate()
                .all(|(y, (&(at, _), code))| {
                    y == x || code.as_deref().is_some_and(|c| calls(c, at, target))
                })
        })
        .map(|(_, &place)| place)
        .collect();
    Ok(match wrapped[..] {
        [one] => Some(one),
        _ => None,
    })
}

/// Whether `code` (at address `at`) has a `call rel32` or `jmp rel32` to `target`.
fn calls(code: &[u8], at: u64, target: u64) -> bool {
    code.windows(5).enumerate().any(|(i, w)| {
        let rel = i32::from_le_bytes([w[1], w[2], w[3], w[4]]);
        matches!(w[0], 0xe8 | 0xe9)
            && at
                .wrapping_add(i as u64 + 5)
                .wrapping_add(i64::from(rel) as u64)
                == target
    })
}

/// Establishes the code base of the table's entries, or refuses.
fn code_base(
    elf: &ElfFile,
    located: &locate::Located,
) -> Result<(u64, &'static str, Option<u64>), GoError> {
    let table = &located.table;
    let md = locate::find_moduledata(elf, located.vaddr, table)?;
    let md_vaddr = md.as_ref().map(|m| m.vaddr);
    if table.header.format == Format::Go116 {
        return Ok(match md {
            Some(m) => (m.text, m.source, md_vaddr),
            None => (table.first_entry, "first function (absolute entries)", None),
        });
    }
    // textStart is the header's third word; in a PIE its value may be only in a relocation.
    let field = located.vaddr.checked_add(24);
    let header = field.map_or(Ok(None), |at| elf.read_ptr(at))?.ok_or_else(|| {
        GoError::BaseUnknown(
            "code base unknown (textStart unreadable or contradicted by its relocation): refusing to probe"
                .into(),
        )
    })?;
    match (header, md) {
        (0, None) => Err(GoError::BaseUnknown(
            "code base unknown (textStart 0 and no module data): refusing to probe".into(),
        )),
        (0, Some(m)) => Ok((m.text, m.source, md_vaddr)),
        (h, Some(m)) if h != m.text => Err(GoError::BaseUnknown(format!(
            "code base ambiguous (pclntab header {h:#x}, module data {:#x}): refusing to probe",
            m.text
        ))),
        (h, _) => Ok((h, "pclntab header", md_vaddr)),
    }
}
