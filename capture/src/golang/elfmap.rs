//! The parts of a 64-bit little-endian ELF file the Go table reader needs: load segments,
//! section headers (when present), dynamic relocations (for PIE pointer fields), and bounded
//! reads and scans. Headers are parsed with `object`; everything else is read on demand with
//! `pread`, never the whole file.
//!
//! Section headers are optional here: Go binaries run fine without them, and some
//! distributions or packers remove them, so everything has a segment-based fallback.
use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::OnceLock;

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader, SectionHeader};
use object::read::ReadCache;
use object::Endianness;

use super::GoError;

/// Largest single read we agree to make: bounds allocations when a malformed header claims
/// gigantic sizes.
pub(crate) const MAX_READ: u64 = 256 << 20;

/// Scans read this much of the file at a time.
const SCAN_CHUNK: usize = 4 << 20;

/// One `PT_LOAD` segment; `filesz` is clamped to the file's length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Segment {
    pub vaddr: u64,
    pub memsz: u64,
    pub offset: u64,
    pub filesz: u64,
    pub exec: bool,
    pub write: bool,
}

/// A stretch of the file: `len` bytes at file offset `offset`, mapped at `vaddr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Area {
    pub offset: u64,
    pub vaddr: u64,
    pub len: u64,
}

impl Segment {
    /// The file-backed part.
    pub fn area(&self) -> Area {
        Area {
            offset: self.offset,
            vaddr: self.vaddr,
            len: self.filesz,
        }
    }

    /// File offset of `len` bytes at `vaddr`, when they are all backed by the file.
    pub fn file_offset(&self, vaddr: u64, len: u64) -> Option<u64> {
        let rel = vaddr.checked_sub(self.vaddr)?;
        (rel.checked_add(len)? <= self.filesz).then(|| self.offset + rel)
    }
}

thread_local! {
    /// Bytes this thread read through [`ElfFile::read_at`] (everything past the headers).
    static READ_PAST_HEADERS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Bytes of ELF files this thread has read past their headers (tables, scans, code), for tests
/// that check a decision was made from the headers alone.
pub fn bytes_read_past_headers() -> u64 {
    READ_PAST_HEADERS.with(|n| n.get())
}

/// A section header, with its name.
#[derive(Clone, Debug)]
pub(crate) struct Section {
    pub name: String,
    pub addr: u64,
    pub offset: u64,
    pub size: u64,
    /// False for `SHT_NOBITS` (no bytes in the file).
    pub in_file: bool,
}

/// An open ELF file.
pub(crate) struct ElfFile {
    file: File,
    pub len: u64,
    pub machine: u16,
    /// `ET_DYN` (PIE): pointer fields may carry their value in a relocation.
    pub pie: bool,
    pub segments: Vec<Segment>,
    /// Empty when the file has no (readable) section headers.
    pub sections: Vec<Section>,
    /// `PT_DYNAMIC` (file offset, size), if any.
    dynamic: Option<(u64, u64)>,
    /// `R_*_RELATIVE` relocations: target address → addend. Loaded on first use.
    relative: OnceLock<HashMap<u64, u64>>,
}

impl ElfFile {
    pub fn open(path: &Path) -> Result<ElfFile, GoError> {
        let file = File::open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(GoError::NotElf);
        }
        let len = meta.len();
        let mut ident = [0u8; 16];
        if len < 16 {
            return Err(GoError::NotElf);
        }
        file.read_exact_at(&mut ident, 0)?;
        if ident[..4] != elf::ELFMAG {
            return Err(GoError::NotElf);
        }
        // e_ident[EI_CLASS], e_ident[EI_DATA]
        if ident[4] != elf::ELFCLASS64 {
            return Err(GoError::Unsupported(
                "32-bit ELF files are not supported".into(),
            ));
        }
        if ident[5] != elf::ELFDATA2LSB {
            return Err(GoError::Unsupported(
                "big-endian ELF files are not supported".into(),
            ));
        }
        let cache = ReadCache::new(file);
        let parsed = parse_headers(&cache, len);
        let file = cache.into_inner();
        let (machine, pie, segments, sections, dynamic) = parsed?;
        Ok(ElfFile {
            file,
            len,
            machine,
            pie,
            segments,
            sections,
            dynamic,
            relative: OnceLock::new(),
        })
    }

    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name && s.in_file)
    }

    /// Reads exactly `len` bytes at file offset `off`; an error past the end of the file.
    pub fn read_at(&self, off: u64, len: u64) -> io::Result<Vec<u8>> {
        let end = off.checked_add(len);
        if len > MAX_READ || end.is_none_or(|end| end > self.len) {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("read of {len} bytes at {off:#x} is outside the file"),
            ));
        }
        let mut buf = vec![0u8; len as usize];
        self.file.read_exact_at(&mut buf, off)?;
        READ_PAST_HEADERS.with(|n| n.set(n.get() + len));
        Ok(buf)
    }

    /// The `PT_LOAD` segment holding `len` file-backed bytes at `vaddr`.
    pub fn segment_of(&self, vaddr: u64, len: u64) -> Option<&Segment> {
        self.segments
            .iter()
            .find(|s| s.file_offset(vaddr, len).is_some())
    }

    /// File offset of `len` file-backed bytes at `vaddr`.
    pub fn vaddr_offset(&self, vaddr: u64, len: u64) -> Option<u64> {
        self.segment_of(vaddr, len)?.file_offset(vaddr, len)
    }

    /// `len` bytes at virtual address `vaddr`; `None` when they are not all in the file.
    pub fn read_vaddr(&self, vaddr: u64, len: u64) -> io::Result<Option<Vec<u8>>> {
        match self.vaddr_offset(vaddr, len) {
            Some(off) => self.read_at(off, len).map(Some),
            None => Ok(None),
        }
    }

    /// The pointer stored at `vaddr` as the loader will see it, relative to the ELF addresses:
    /// in a PIE, the addend of an `R_*_RELATIVE` relocation there when there is one (some
    /// linkers, lld by default, leave 0 in the file). `None` when unreadable, or when the file
    /// and the relocation disagree.
    pub fn read_ptr(&self, vaddr: u64) -> io::Result<Option<u64>> {
        let Some(bytes) = self.read_vaddr(vaddr, 8)? else {
            return Ok(None);
        };
        let stored = le64(&bytes, 0);
        Ok(self.relocated(vaddr, stored))
    }

    /// Like [`read_ptr`](Self::read_ptr) for a value already read from the file at `vaddr`.
    pub fn relocated(&self, vaddr: u64, stored: u64) -> Option<u64> {
        if !self.pie {
            return Some(stored);
        }
        match self.relative_relocs().get(&vaddr) {
            Some(&addend) if stored == 0 || stored == addend => Some(addend),
            Some(_) => None,
            None => Some(stored),
        }
    }

    /// Addresses whose `R_*_RELATIVE` relocation has `addend` (PIE only).
    pub fn relocs_with_addend(&self, addend: u64) -> Vec<u64> {
        if !self.pie {
            return Vec::new();
        }
        let mut found: Vec<u64> = self
            .relative_relocs()
            .iter()
            .filter(|&(_, &a)| a == addend)
            .map(|(&at, _)| at)
            .collect();
        found.sort_unstable();
        found
    }

    fn relative_relocs(&self) -> &HashMap<u64, u64> {
        // An unreadable relocation table just means no relocated values: the file's values
        // are then used and validated like any other.
        self.relative
            .get_or_init(|| self.load_relative().unwrap_or_default())
    }

    /// Reads `DT_RELA` through `PT_DYNAMIC` (present with or without section headers).
    fn load_relative(&self) -> io::Result<HashMap<u64, u64>> {
        let mut map = HashMap::new();
        let Some((off, size)) = self.dynamic else {
            return Ok(map);
        };
        let dynamic = self.read_at(off, size.min(1 << 20))?;
        let (mut rela, mut relasz, mut relaent) = (None, None, 24u64);
        for entry in dynamic.chunks_exact(16) {
            let (tag, val) = (le64(entry, 0), le64(entry, 8));
            let Ok(tag) = u32::try_from(tag) else {
                continue;
            };
            match tag {
                elf::DT_NULL => break,
                elf::DT_RELA => rela = Some(val),
                elf::DT_RELASZ => relasz = Some(val),
                elf::DT_RELAENT => relaent = val,
                _ => {}
            }
        }
        let (Some(rela), Some(relasz)) = (rela, relasz) else {
            return Ok(map);
        };
        if relaent != 24 {
            return Ok(map);
        }
        let relative = match self.machine {
            elf::EM_X86_64 => elf::R_X86_64_RELATIVE,
            elf::EM_AARCH64 => elf::R_AARCH64_RELATIVE,
            _ => return Ok(map),
        };
        let Some(table) = self.read_vaddr(rela, relasz)? else {
            return Ok(map);
        };
        for r in table.chunks_exact(24) {
            if le64(r, 8) & 0xffff_ffff == u64::from(relative) {
                map.insert(le64(r, 0), le64(r, 16));
            }
        }
        Ok(map)
    }

    /// Scans `area` for `width`-byte windows at `align`-aligned virtual addresses accepted by
    /// `pred(file offset, window)`; returns their file offsets. Stops after `max_hits`.
    pub fn scan(
        &self,
        area: Area,
        align: u64,
        width: usize,
        max_hits: usize,
        mut pred: impl FnMut(u64, &[u8]) -> bool,
    ) -> io::Result<Vec<u64>> {
        let mut hits = Vec::new();
        let align = align.max(1);
        let end = area.offset.saturating_add(area.len).min(self.len);
        // First aligned position.
        let mut pos = area.offset + (align - area.vaddr % align) % align;
        while pos < end && hits.len() < max_hits {
            let chunk_len = (end - pos).min(SCAN_CHUNK as u64);
            let buf = self.read_at(pos, chunk_len)?;
            let mut i = 0usize;
            while i + width <= buf.len() {
                if pred(pos + i as u64, &buf[i..i + width]) {
                    hits.push(pos + i as u64);
                    if hits.len() >= max_hits {
                        break;
                    }
                }
                i += align as usize;
            }
            if pos + chunk_len >= end {
                break;
            }
            // Continue at the first aligned window not fully inside this chunk.
            pos += i as u64;
        }
        Ok(hits)
    }
}

type Headers = (u16, bool, Vec<Segment>, Vec<Section>, Option<(u64, u64)>);

fn parse_headers(cache: &ReadCache<File>, len: u64) -> Result<Headers, GoError> {
    let malformed = |e: object::read::Error| GoError::Malformed(format!("ELF headers: {e}"));
    let header = elf::FileHeader64::<Endianness>::parse(cache).map_err(malformed)?;
    let endian = header.endian().map_err(malformed)?;
    let machine = header.e_machine(endian);
    let pie = header.e_type(endian) == elf::ET_DYN;
    let mut segments = Vec::new();
    let mut dynamic = None;
    for ph in header.program_headers(endian, cache).map_err(malformed)? {
        let (offset, filesz) = (ph.p_offset(endian), ph.p_filesz(endian));
        // Clamp to the file so that scans of a truncated file stay inside it.
        let filesz = filesz.min(len.saturating_sub(offset));
        match ph.p_type(endian) {
            elf::PT_LOAD => {
                let (vaddr, memsz) = (ph.p_vaddr(endian), ph.p_memsz(endian));
                if vaddr.checked_add(memsz.max(filesz)).is_none() {
                    continue;
                }
                let flags = ph.p_flags(endian);
                segments.push(Segment {
                    vaddr,
                    memsz,
                    offset,
                    filesz: filesz.min(memsz),
                    exec: flags & elf::PF_X != 0,
                    write: flags & elf::PF_W != 0,
                });
            }
            elf::PT_DYNAMIC => dynamic = Some((offset, filesz)),
            _ => {}
        }
    }
    // Section headers are optional: a file without readable ones is handled by scanning.
    let mut sections = Vec::new();
    if let Ok(table) = header.sections(endian, cache) {
        for sh in table.iter() {
            let Ok(name) = table.section_name(endian, sh) else {
                continue;
            };
            let (offset, size) = (sh.sh_offset(endian), sh.sh_size(endian));
            let in_file = sh.sh_type(endian) != elf::SHT_NOBITS
                && offset.checked_add(size).is_some_and(|end| end <= len);
            sections.push(Section {
                name: String::from_utf8_lossy(name).into_owned(),
                addr: sh.sh_addr(endian),
                offset,
                size,
                in_file,
            });
        }
    }
    Ok((machine, pie, segments, sections, dynamic))
}

/// Little-endian u64 at `at`; callers guarantee the bounds.
pub(crate) fn le64(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// Little-endian u32 at `at`; callers guarantee the bounds.
pub(crate) fn le32(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}
