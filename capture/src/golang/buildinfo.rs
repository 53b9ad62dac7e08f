//! The Go version a binary was built with: from the build information block
//! (`.go.buildinfo`, magic `\xff Go buildinf:`), or, when a build removed that block (esbuild's
//! releases do), from the `runtime.buildVersion` string variable found by scanning.
//!
//! The block's 32-byte header is the magic (14 bytes), the pointer size and a flags byte. With
//! flag bit 1 (Go 1.18+) the version string follows inline, as a uvarint length and the bytes;
//! before, the header holds pointers to the version's and the module info's string headers.
use std::collections::{BTreeSet, HashSet};
use std::io;

use super::elfmap::{le64, ElfFile, Segment};

/// Start of the build information block; it is 16-byte aligned.
pub const MAGIC: &[u8; 14] = b"\xff Go buildinf:";

/// Longest version string accepted ("go1.21.3 X:boringcrypto,..." stays well below).
const MAX_VERSION_LEN: u64 = 128;

/// A version string and where it was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    pub text: String,
    /// ".go.buildinfo", "buildinfo (scan)" or "runtime.buildVersion (scan)".
    pub source: &'static str,
}

/// (major, minor) of a Go version string: "go1.19.8" → (1, 19); "go1.21rc2" → (1, 21);
/// "devel go1.23-abc" → (1, 23). `None` for anything else.
pub fn version_number(version: &str) -> Option<(u32, u32)> {
    let v = version.strip_prefix("devel ").unwrap_or(version);
    let rest = v.strip_prefix("go")?;
    let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
    let major_len = digits(rest);
    let major = rest[..major_len].parse().ok()?;
    let rest = rest[major_len..].strip_prefix('.')?;
    let minor = rest[..digits(rest)].parse().ok()?;
    Some((major, minor))
}

/// Whether `s` looks like a Go version string: "go1.N…" or "devel …", printable ASCII.
pub fn is_version(s: &[u8]) -> bool {
    let printable = s.iter().all(|b| (0x20..0x7f).contains(b));
    printable
        && (s.starts_with(b"devel ")
            || (s.starts_with(b"go1.") && s.get(4).is_some_and(u8::is_ascii_digit)))
}

/// Decodes the version string stored inline after the 32-byte header (Go 1.18+ layout, flag
/// bit 1): a uvarint length and the bytes.
pub fn decode_inline(after_header: &[u8]) -> Option<String> {
    let (len, used) = uvarint(after_header)?;
    let start = used;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    let text = after_header.get(start..end)?;
    is_version(text).then(|| String::from_utf8_lossy(text).into_owned())
}

fn uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// Reads the Go version of `elf`. `Ok(None)` when it cannot be established.
pub(crate) fn read_version(elf: &ElfFile) -> io::Result<Option<Version>> {
    let mut blocks = Vec::new();
    let source;
    if let Some(s) = elf.section(".go.buildinfo") {
        blocks.push(s.addr);
        source = ".go.buildinfo";
    } else {
        source = "buildinfo (scan)";
        if elf.sections.is_empty() {
            for seg in elf.segments.iter().filter(|s| s.write && s.filesz > 0) {
                let hits = elf.scan(seg.area(), 16, 14, 4, |_, w| w == MAGIC)?;
                blocks.extend(hits.into_iter().map(|off| seg.vaddr + (off - seg.offset)));
            }
        }
    }
    let mut versions = BTreeSet::new();
    for vaddr in blocks {
        if let Some(v) = decode_block(elf, vaddr)? {
            versions.insert(v);
        }
    }
    if versions.len() == 1 {
        return Ok(versions.pop_first().map(|text| Version { text, source }));
    }
    if !versions.is_empty() {
        return Ok(None);
    }
    Ok(scan_build_version(elf)?.map(|text| Version {
        text,
        source: "runtime.buildVersion (scan)",
    }))
}

/// The version in the build information block at `vaddr`.
fn decode_block(elf: &ElfFile, vaddr: u64) -> io::Result<Option<String>> {
    let Some(seg) = elf.segment_of(vaddr, 32) else {
        return Ok(None);
    };
    let avail = seg.vaddr + seg.filesz - vaddr;
    let Some(block) = elf.read_vaddr(vaddr, avail.min(32 + 10 + MAX_VERSION_LEN))? else {
        return Ok(None);
    };
    if block.len() < 32 || &block[..14] != MAGIC {
        return Ok(None);
    }
    let (ptr_size, flags) = (block[14], block[15]);
    if flags & 2 != 0 {
        return Ok(decode_inline(&block[32..]));
    }
    // Before Go 1.18: pointers to the version and module-info string headers. Only 64-bit
    // little-endian is read (flag bit 0 means big-endian).
    if ptr_size != 8 || flags & 1 != 0 {
        return Ok(None);
    }
    let Some(header) = elf.read_ptr(vaddr + 16)? else {
        return Ok(None);
    };
    let (Some(data), Some(len)) = (
        elf.read_ptr(header)?,
        elf.read_vaddr(header.saturating_add(8), 8)?,
    ) else {
        return Ok(None);
    };
    let len = le64(&len, 0);
    if len == 0 || len > MAX_VERSION_LEN {
        return Ok(None);
    }
    Ok(elf
        .read_vaddr(data, len)?
        .filter(|text| is_version(text))
        .map(|text| String::from_utf8_lossy(&text).into_owned()))
}

/// Finds `runtime.buildVersion`: a string header {ptr, len} in writable data whose bytes are
/// a Go version. Every such header must agree, else `None`.
fn scan_build_version(elf: &ElfFile) -> io::Result<Option<String>> {
    // Where "go1.<digit>" occurs in read-only data; in the executable segment only when that
    // is where read-only data is (gold links it so).
    let read_only = |s: &&Segment| !s.write && s.filesz > 0;
    let separate = elf.segments.iter().any(|s| read_only(&s) && !s.exec);
    let mut starts = HashSet::new();
    for seg in elf
        .segments
        .iter()
        .filter(read_only)
        .filter(|s| !(separate && s.exec))
    {
        let hits = elf.scan(seg.area(), 1, 5, 4096, |_, w| {
            w.starts_with(b"go1.") && w[4].is_ascii_digit()
        })?;
        starts.extend(hits.into_iter().map(|off| seg.vaddr + (off - seg.offset)));
    }
    if starts.is_empty() {
        return Ok(None);
    }
    let mut versions = BTreeSet::new();
    for seg in elf.segments.iter().filter(|s| s.write && s.filesz > 0) {
        let hits = elf.scan(seg.area(), 8, 16, 256, |off, w| {
            let len = le64(w, 8);
            if !(5..=MAX_VERSION_LEN).contains(&len) {
                return false;
            }
            let at = seg.vaddr + (off - seg.offset);
            elf.relocated(at, le64(w, 0))
                .is_some_and(|ptr| starts.contains(&ptr))
        })?;
        for off in hits {
            let at = seg.vaddr + (off - seg.offset);
            let (Some(ptr), Some(len)) = (elf.read_ptr(at)?, elf.read_vaddr(at + 8, 8)?) else {
                continue;
            };
            if let Some(text) = elf.read_vaddr(ptr, le64(&len, 0))? {
                if is_version(&text) {
                    versions.insert(String::from_utf8_lossy(&text).into_owned());
                }
            }
        }
    }
    Ok(if versions.len() == 1 {
        versions.pop_first()
    } else {
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_numbers() {
        assert_eq!(version_number("go1.19.8"), Some((1, 19)));
        assert_eq!(version_number("go1.26.5"), Some((1, 26)));
        assert_eq!(version_number("go1.21rc2"), Some((1, 21)));
        assert_eq!(version_number("go1.20 X:boringcrypto"), Some((1, 20)));
        assert_eq!(version_number("devel go1.23-abcdef Tue"), Some((1, 23)));
        assert_eq!(version_number("devel +abcdef"), None);
        assert_eq!(version_number("go"), None);
        assert_eq!(version_number("go1."), None);
    }

    #[test]
    fn inline_strings() {
        assert_eq!(decode_inline(b"\x08go1.19.8\x00"), Some("go1.19.8".into()));
        assert_eq!(decode_inline(b"\x09go1.19.8"), None);
        assert_eq!(decode_inline(b"\x08notgo!!!"), None);
        assert_eq!(
            decode_inline(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"),
            None
        );
        assert_eq!(decode_inline(b""), None);
    }
}
