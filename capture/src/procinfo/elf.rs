//! Reading just enough of an ELF file to classify it: function symbols (`.dynsym`, then `.symtab`
//! for what a static build keeps there), Go markers and TLS strings in `.rodata`. Files are read lazily (headers, section table, the few sections we
//! need), never whole: node's executable is ~100 MB.
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use object::elf;
use object::read::elf::{FileHeader, SectionHeader, SectionTable, Sym};
use object::read::{ReadCache, StringTable};
use object::{Endianness, SectionIndex};

/// Strings whose presence in an executable's read-only data suggests a TLS implementation linked
/// in statically, most telling first: the library's name, then `ssl/ssl_lib.c` (OpenSSL's error
/// macros pass `__FILE__`, BoringSSL's `OPENSSL_PUT_ERROR` its `ssl/ssl_lib.cc`: the only one a
/// stripped static OpenSSL reliably keeps, as its version string is linked in only when used),
/// then what any TLS 1.3 stack (rustls too) carries: `tls13 ` is the key-schedule label prefix
/// (RFC 8446 §7.1).
///
/// Stored reversed so that apitop's own binary does not contain them and classify itself.
const STATIC_TLS_MARKERS_REVERSED: [&str; 6] = [
    "LSSgniroB",
    ".3 LSSnepO",
    ".1 LSSnepO",
    "c.bil_lss/lss",
    "3.1 SLT",
    " 31slt",
];

/// [`STATIC_TLS_MARKERS_REVERSED`], the right way round.
pub fn static_tls_markers() -> &'static [String] {
    static MARKERS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    MARKERS.get_or_init(|| {
        STATIC_TLS_MARKERS_REVERSED
            .iter()
            .map(|m| m.chars().rev().collect())
            .collect()
    })
}

/// The TLS library a marker of [`static_tls_markers`] names, if it names one (the TLS 1.3 labels
/// do not: rustls carries them too).
pub fn static_tls_library(marker: &str) -> Option<&'static str> {
    match static_tls_markers().iter().position(|m| m == marker)? {
        0 => Some("boringssl"),
        1 | 2 => Some("openssl"),
        3 => Some("openssl/boringssl"),
        _ => None,
    }
}

/// What to find out about one file.
#[derive(Default)]
pub(crate) struct Request<'a> {
    /// Names to look up among the defined functions of `.dynsym`.
    pub dyn_symbols: &'a [&'a str],
    /// Whether to look up the names `.dynsym` lacks in `.symtab` too.
    pub symtab_too: bool,
    /// Whether to check for Go (`.go.buildinfo`, `.gopclntab`, `runtime.buildVersion`).
    pub go: bool,
    /// Whether to scan `.rodata` for [`static_tls_markers`].
    pub static_tls: bool,
}

/// The answers to a [`Request`].
#[derive(Debug, Default)]
pub(crate) struct Answer {
    pub machine: u16,
    pub is_64: bool,
    /// One entry per requested dynamic symbol.
    pub dyn_found: Vec<bool>,
    /// One entry per requested symbol: defined in `.symtab` and not in `.dynsym` (only with
    /// [`Request::symtab_too`]; else all false).
    pub symtab_found: Vec<bool>,
    pub go: bool,
    pub static_marker: Option<&'static str>,
}

/// Inspects the file at `path`. `Ok(None)`: not an ELF file (or not a regular file).
pub(crate) fn inspect(path: &Path, req: &Request) -> io::Result<Option<Answer>> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Ok(None);
    }
    let file = File::open(path)?;
    inspect_file(file, req)
}

fn inspect_file(file: File, req: &Request) -> io::Result<Option<Answer>> {
    let mut ident = [0u8; 16];
    if file.read_at(&mut ident, 0)? < ident.len() || ident[..4] != elf::ELFMAG {
        return Ok(None);
    }
    let cache = ReadCache::new(file);
    let parsed = match ident[4 /* EI_CLASS */] {
        elf::ELFCLASS64 => inspect_class::<elf::FileHeader64<Endianness>>(&cache, req),
        elf::ELFCLASS32 => inspect_class::<elf::FileHeader32<Endianness>>(&cache, req),
        _ => return Ok(None),
    };
    let Ok((mut answer, rodata)) = parsed else {
        return Ok(None);
    };
    if req.static_tls {
        let file = cache.into_inner();
        let (start, len) = match rodata {
            Some(range) => range,
            // No section headers to go by: scan the whole file.
            None => (0, file.metadata()?.len()),
        };
        answer.static_marker = scan_for(&file, start, len, static_tls_markers())?;
    }
    Ok(Some(answer))
}

type Parsed = (Answer, Option<(u64, u64)>);

fn inspect_class<Elf: FileHeader<Endian = Endianness>>(
    data: &ReadCache<File>,
    req: &Request,
) -> object::read::Result<Parsed> {
    let header = Elf::parse(data)?;
    let endian = header.endian()?;
    let sections = header.sections(endian, data)?;
    let mut answer = Answer {
        machine: header.e_machine(endian),
        is_64: header.is_class_64(),
        ..Answer::default()
    };
    if !req.dyn_symbols.is_empty() {
        answer.dyn_found =
            find_functions(&sections, endian, data, elf::SHT_DYNSYM, req.dyn_symbols)?;
        answer.symtab_found = vec![false; req.dyn_symbols.len()];
        let missing: Vec<&str> = req
            .dyn_symbols
            .iter()
            .zip(&answer.dyn_found)
            .filter(|(_, &found)| !found)
            .map(|(n, _)| *n)
            .collect();
        if req.symtab_too && !missing.is_empty() {
            let found = find_functions(&sections, endian, data, elf::SHT_SYMTAB, &missing)?;
            let mut found = found.into_iter();
            for (slot, dyn_found) in answer.symtab_found.iter_mut().zip(&answer.dyn_found) {
                if !dyn_found {
                    *slot = found.next().unwrap_or(false);
                }
            }
        }
    }
    if req.go {
        answer.go = [&b".go.buildinfo"[..], b".gopclntab", b".note.go.buildid"]
            .iter()
            .any(|name| sections.section_by_name(endian, name).is_some())
            || find_any(
                &sections,
                endian,
                data,
                elf::SHT_SYMTAB,
                &["runtime.buildVersion"],
            )?
            .iter()
            .any(|&found| found);
    }
    let mut rodata = None;
    if req.static_tls {
        if let Some((_, section)) = sections.section_by_name(endian, b".rodata") {
            rodata = Some(section.file_range(endian).unwrap_or((0, 0)));
        }
    }
    Ok((answer, rodata))
}

/// For each of `names`: whether the symbol table of type `sh_type` defines a function so named.
fn find_functions<'d, Elf: FileHeader<Endian = Endianness>>(
    sections: &SectionTable<'d, Elf, &'d ReadCache<File>>,
    endian: Endianness,
    data: &'d ReadCache<File>,
    sh_type: u32,
    names: &[&str],
) -> object::read::Result<Vec<bool>> {
    lookup(sections, endian, data, sh_type, names, |sym| {
        matches!(sym.st_type(), elf::STT_FUNC | elf::STT_GNU_IFUNC)
    })
}

/// Like [`find_functions`], for symbols of any type.
fn find_any<'d, Elf: FileHeader<Endian = Endianness>>(
    sections: &SectionTable<'d, Elf, &'d ReadCache<File>>,
    endian: Endianness,
    data: &'d ReadCache<File>,
    sh_type: u32,
    names: &[&str],
) -> object::read::Result<Vec<bool>> {
    lookup(sections, endian, data, sh_type, names, |_| true)
}

fn lookup<'d, Elf: FileHeader<Endian = Endianness>>(
    sections: &SectionTable<'d, Elf, &'d ReadCache<File>>,
    endian: Endianness,
    data: &'d ReadCache<File>,
    sh_type: u32,
    names: &[&str],
    accept: impl Fn(&Elf::Sym) -> bool,
) -> object::read::Result<Vec<bool>> {
    let mut found = vec![false; names.len()];
    let Some(table) = sections.iter().find(|s| s.sh_type(endian) == sh_type) else {
        return Ok(found);
    };
    // Read the symbol and string tables in one piece each: the string table through the cache
    // would cost one read per name.
    let symbols: &[Elf::Sym] = table.data_as_array(endian, data)?;
    let strtab = sections.section(SectionIndex(table.sh_link(endian) as usize))?;
    let strtab = strtab.data(endian, data)?;
    let strings = StringTable::new(strtab, 0, strtab.len() as u64);
    let mut remaining = names.len();
    for sym in symbols {
        if sym.st_shndx(endian) == elf::SHN_UNDEF || !accept(sym) {
            continue;
        }
        let Ok(name) = sym.name(endian, strings) else {
            continue;
        };
        for (i, wanted) in names.iter().enumerate() {
            if !found[i] && name == wanted.as_bytes() {
                found[i] = true;
                remaining -= 1;
            }
        }
        if remaining == 0 {
            break;
        }
    }
    Ok(found)
}

/// Reads `len` bytes of `file` from `start` in chunks and returns the first of `needles` (in
/// their order, not the file's) found anywhere in the range: it stops early only on the first.
/// Needles are `'static` (see [`static_tls_markers`]) so the answer can borrow them.
pub(crate) fn scan_for(
    file: &File,
    start: u64,
    len: u64,
    needles: &'static [String],
) -> io::Result<Option<&'static str>> {
    const CHUNK: usize = 4 << 20;
    let overlap = needles.iter().map(|n| n.len()).max().unwrap_or(1) - 1;
    let mut buf = vec![0u8; CHUNK + overlap];
    // Bytes carried over from the previous chunk, at the front of `buf`.
    let mut carried = 0usize;
    let mut pos = start;
    let end = start.saturating_add(len);
    // Index of the best needle found so far.
    let mut best: Option<usize> = None;
    while pos < end {
        let want = ((end - pos) as usize).min(CHUNK);
        let got = file.read_at(&mut buf[carried..carried + want], pos)?;
        if got == 0 {
            break;
        }
        let filled = carried + got;
        let better = best.unwrap_or(needles.len());
        if let Some(i) = needles[..better]
            .iter()
            .position(|n| contains(&buf[..filled], n.as_bytes()))
        {
            best = Some(i);
            if i == 0 {
                break;
            }
        }
        pos += got as u64;
        let keep = overlap.min(filled);
        buf.copy_within(filled - keep..filled, 0);
        carried = keep;
    }
    Ok(best.map(|i| needles[i].as_str()))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    if haystack.len() < needle.len() {
        return false;
    }
    // SAFETY: both pointers and lengths come from live slices; memmem only reads them.
    let hit = unsafe {
        libc::memmem(
            haystack.as_ptr().cast(),
            haystack.len(),
            needle.as_ptr().cast(),
            needle.len(),
        )
    };
    !hit.is_null()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn scan_finds_needle_across_chunk_boundary() {
        let mut tmp = std::env::temp_dir();
        tmp.push(format!("apitop-scan-{}", std::process::id()));
        let mut f = File::create(&tmp).unwrap();
        let mut data = vec![b'x'; (4 << 20) - 3];
        data.extend_from_slice(b"tls13 derived");
        data.extend(vec![b'y'; 100]);
        f.write_all(&data).unwrap();
        drop(f);
        let f = File::open(&tmp).unwrap();
        let len = data.len() as u64;
        assert_eq!(
            scan_for(&f, 0, len, static_tls_markers()).unwrap(),
            Some("tls13 ")
        );
        assert_eq!(
            scan_for(&f, 0, (4 << 20) - 3, static_tls_markers()).unwrap(),
            None
        );
        std::fs::remove_file(&tmp).unwrap();
    }
}
