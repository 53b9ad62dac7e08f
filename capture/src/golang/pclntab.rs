//! Go's function table (`runtime.pclntab`, "pclntab"): its header, the sorted function table
//! (`functab`) and the `_func` records with their names, for the Go 1.16–1.17, 1.18–1.19 and
//! 1.20+ layouts. Finding the table in a file, and the module data, is [`super::locate`]'s.
//!
//! Layout (little endian, 64-bit): the header is magic u32, two zero bytes, the instruction
//! quantum u8 and the pointer size u8, then u64 words: nfunc, nfiles, textStart (Go 1.18+
//! only; 0 from Go 1.26, which keeps it in the module data), and the offsets from the header
//! of funcnametab, cutab, filetab, pctab and pclntab. The functab opens pclntab: nfunc
//! {entry, funcoff} pairs then one lone entry, the end of the last function (2 * nfunc + 1
//! fields, as Go's `debug/gosym` sizes it); the fields are u32, entries being offsets from
//! textStart (Go 1.18+), or u64, entries being absolute addresses (Go 1.16–1.17). Each `_func`
//! record at pclntab + funcoff repeats the entry and gives its name's offset in funcnametab.
//! The records follow the functab, each at a pointer-aligned offset: in Go 1.16–1.17 the first
//! one starts right after the lone entry, with no room for a last funcoff (reading nfunc + 1
//! whole pairs there overlaps it); in Go 1.18+ the linker rounds (2 * nfunc + 1) * 4 up to 8.
//!
//! Everything is validated before use: a false match (random bytes that happen to look like a
//! header) would send probes to wrong addresses, which crashes the traced program.
use std::collections::HashMap;
use std::io;

use super::elfmap::{le32, le64, MAX_READ};
use super::GoError;

/// Go 1.2–1.15 (not supported: different `_func` layout and no name table).
pub const MAGIC_GO12: u32 = 0xffff_fffb;
/// Go 1.16–1.17.
pub const MAGIC_GO116: u32 = 0xffff_fffa;
/// Go 1.18–1.19.
pub const MAGIC_GO118: u32 = 0xffff_fff0;
/// Go 1.20 and later.
pub const MAGIC_GO120: u32 = 0xffff_fff1;

/// Upper bound on the number of functions (the largest real binaries have ~10^6).
const MAX_FUNCS: u64 = 1 << 24;

/// The table layouts this module reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Magic `0xfffffffa`: absolute entry addresses, no `textStart`.
    Go116,
    /// Magic `0xfffffff0`: entries are 32-bit offsets from `textStart`.
    Go118,
    /// Magic `0xfffffff1`: as Go118 (the change was in the pc-value tables).
    Go120,
}

impl Format {
    pub fn from_magic(magic: u32) -> Option<Format> {
        match magic {
            MAGIC_GO116 => Some(Format::Go116),
            MAGIC_GO118 => Some(Format::Go118),
            MAGIC_GO120 => Some(Format::Go120),
            _ => None,
        }
    }

    pub fn magic(self) -> u32 {
        match self {
            Format::Go116 => MAGIC_GO116,
            Format::Go118 => MAGIC_GO118,
            Format::Go120 => MAGIC_GO120,
        }
    }

    /// The Go (major, minor) versions that write this layout, inclusive.
    pub fn versions(self) -> ((u32, u32), (u32, u32)) {
        match self {
            Format::Go116 => ((1, 16), (1, 17)),
            Format::Go118 => ((1, 18), (1, 19)),
            Format::Go120 => ((1, 20), (1, u32::MAX)),
        }
    }

    /// Whether functab entries are absolute addresses (else offsets from the code base).
    pub fn absolute_entries(self) -> bool {
        self == Format::Go116
    }

    fn header_len(self) -> u64 {
        match self {
            Format::Go116 => 64,
            _ => 72,
        }
    }

    /// Size of one functab field (an entry or a funcoff): a pointer in Go 1.16–1.17.
    fn functab_field_len(self) -> u64 {
        match self {
            Format::Go116 => 8,
            _ => 4,
        }
    }

    /// Size of the functab of `nfunc` functions: nfunc {entry, funcoff} pairs and the end of
    /// the last function (`nfunc` is at most [`MAX_FUNCS`]: no overflow).
    fn functab_len(self, nfunc: u64) -> u64 {
        (2 * nfunc + 1) * self.functab_field_len()
    }

    /// Size of the `_func` prefix read: entry and name offset.
    fn func_len(self) -> u64 {
        match self {
            Format::Go116 => 12,
            _ => 8,
        }
    }
}

/// The pclntab header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub format: Format,
    pub nfunc: u64,
    pub nfiles: u64,
    /// As stored in the file (0 for Go 1.16–1.17, which has no such field, and for Go 1.26+,
    /// which keeps it in the module data only). In a PIE it may be a relocation target.
    pub text_start: u64,
    pub funcname_offset: u64,
    pub cu_offset: u64,
    pub filetab_offset: u64,
    pub pctab_offset: u64,
    pub pcln_offset: u64,
}

/// If `w` (8 bytes) looks like the start of a pclntab header of any Go version (magic
/// `0xfffffff?`, two zero bytes, instruction quantum, 8-byte pointers): its magic.
pub fn header_magic(w: &[u8], quantum: u8) -> Option<u32> {
    if w.len() < 8 {
        return None;
    }
    let magic = le32(w, 0);
    (magic & 0xffff_fff0 == 0xffff_fff0 && w[4..8] == [0, 0, quantum, 8]).then_some(magic)
}

/// The error for a table whose magic is not one this module reads.
pub fn unsupported_magic(magic: u32) -> GoError {
    let era = if magic == MAGIC_GO12 {
        " (Go 1.2–1.15)"
    } else {
        ""
    };
    GoError::Unsupported(format!(
        "Go function table magic {magic:#010x}{era} unsupported"
    ))
}

/// Parses and checks the header at the start of `bytes`; `table_len` is how many bytes the
/// table may span (section size, or what is left of the segment).
pub fn parse_header(bytes: &[u8], quantum: u8, table_len: u64) -> Result<Header, GoError> {
    let bad = |why: &str| GoError::Malformed(format!("Go function table header: {why}"));
    if bytes.len() < 8 {
        return Err(bad("truncated"));
    }
    let magic = le32(bytes, 0);
    let format = Format::from_magic(magic).ok_or_else(|| {
        if magic & 0xffff_fff0 == 0xffff_fff0 {
            unsupported_magic(magic)
        } else {
            bad(&format!("bad magic {magic:#010x}"))
        }
    })?;
    if bytes[4..6] != [0, 0] {
        return Err(bad("nonzero padding"));
    }
    if bytes[6] != quantum {
        return Err(bad(&format!(
            "instruction quantum {} (expected {quantum})",
            bytes[6]
        )));
    }
    if bytes[7] != 8 {
        return Err(bad(&format!("pointer size {} (expected 8)", bytes[7])));
    }
    let hlen = format.header_len();
    if (bytes.len() as u64) < hlen || table_len < hlen {
        return Err(bad("truncated"));
    }
    let word = |i: usize| le64(bytes, 8 + 8 * i);
    let (text_start, rest) = match format {
        Format::Go116 => (0, 2),
        _ => (word(2), 3),
    };
    let header = Header {
        format,
        nfunc: word(0),
        nfiles: word(1),
        text_start,
        funcname_offset: word(rest),
        cu_offset: word(rest + 1),
        filetab_offset: word(rest + 2),
        pctab_offset: word(rest + 3),
        pcln_offset: word(rest + 4),
    };
    if header.nfunc == 0 || header.nfunc > MAX_FUNCS {
        return Err(bad(&format!("{} functions", header.nfunc)));
    }
    if header.nfiles > MAX_FUNCS {
        return Err(bad(&format!("{} files", header.nfiles)));
    }
    // The linker lays the sub-tables out in this order, after the header.
    let order = [
        hlen,
        header.funcname_offset,
        header.cu_offset,
        header.filetab_offset,
        header.pctab_offset,
        header.pcln_offset,
    ];
    if order.windows(2).any(|w| w[0] > w[1]) || header.funcname_offset == header.cu_offset {
        return Err(bad("sub-table offsets out of order"));
    }
    let functab_len = format.functab_len(header.nfunc);
    if header
        .pcln_offset
        .checked_add(functab_len)
        .is_none_or(|end| end > table_len)
    {
        return Err(bad("function table runs past the end of the table"));
    }
    Ok(header)
}

/// Where the table's bytes come from: offsets are relative to the header.
pub trait TableSource {
    /// How many bytes the table may span.
    fn table_len(&self) -> u64;
    /// Exactly `len` bytes at `off`; an error when outside [`table_len`](Self::table_len).
    fn read(&self, off: u64, len: u64) -> io::Result<Vec<u8>>;
}

impl TableSource for [u8] {
    fn table_len(&self) -> u64 {
        self.len() as u64
    }

    fn read(&self, off: u64, len: u64) -> io::Result<Vec<u8>> {
        let range = usize::try_from(off)
            .ok()
            .zip(usize::try_from(len).ok())
            .and_then(|(off, len)| Some(off..off.checked_add(len)?))
            .and_then(|range| self.get(range));
        range
            .map(<[u8]>::to_vec)
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "read outside the table"))
    }
}

/// The functions carrying a requested name: raw functab (entry, end) values (offsets from the
/// code base, or absolute addresses for [`Format::Go116`]). Usually one; Go's ABI wrappers
/// share the name of the function they wrap (e.g. `runtime.memmove` in some programs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawFunction {
    pub name: String,
    /// At most [`MAX_SAME_NAME`], in table order.
    pub places: Vec<(u64, u64)>,
}

/// How many functions of one name are reported; more and the name is left out.
pub const MAX_SAME_NAME: usize = 8;

/// A checked function table and the requested functions found in it.
#[derive(Clone, Debug)]
pub struct Table {
    pub header: Header,
    /// Raw entry of the first function and end of the last one.
    pub first_entry: u64,
    pub last_end: u64,
    /// Name of the first function (checked to be readable).
    pub first_name: String,
    /// The requested names found, in request order (a name requested twice, once).
    pub found: Vec<RawFunction>,
}

impl Table {
    /// Reads the table from `src`, checking it throughout, and looks up `names`.
    pub fn read<S: TableSource + ?Sized>(
        src: &S,
        quantum: u8,
        names: &[&str],
    ) -> Result<Table, GoError> {
        let bad = |why: String| GoError::Malformed(format!("Go function table: {why}"));
        let io_bad = |e: io::Error| bad(e.to_string());
        let table_len = src.table_len();
        let head = src.read(0, 72.min(table_len)).map_err(io_bad)?;
        let header = parse_header(&head, quantum, table_len)?;
        let format = header.format;
        let n = header.nfunc as usize;

        // functab: nfunc {entry, funcoff} pairs, then the end of the last function alone (no
        // funcoff: the first `_func` record may start right there).
        let field_len = format.functab_field_len() as usize;
        let functab_len = format.functab_len(header.nfunc);
        let functab = src.read(header.pcln_offset, functab_len).map_err(io_bad)?;
        let mut fields = functab.chunks_exact(field_len).map(|f| match format {
            Format::Go116 => le64(f, 0),
            _ => u64::from(le32(f, 0)),
        });
        let mut entries = Vec::with_capacity(n + 1);
        let mut funcoffs = Vec::with_capacity(n);
        while let Some(entry) = fields.next() {
            entries.push(entry);
            if let Some(funcoff) = fields.next() {
                funcoffs.push(funcoff);
            }
        }
        if entries.len() != n + 1 || funcoffs.len() != n {
            return Err(bad("function table truncated".into()));
        }
        if entries.windows(2).any(|w| w[0] > w[1]) {
            return Err(bad("function entries are not sorted".into()));
        }
        let (first_entry, last_end) = (entries[0], entries[n]);
        if last_end <= first_entry {
            return Err(bad("empty code range".into()));
        }

        // The `_func` records follow the functab; read the span holding them all at once.
        let func_len = format.func_len();
        let room = table_len - header.pcln_offset;
        let (mut lo, mut hi) = (u64::MAX, 0u64);
        for &off in &funcoffs {
            if off < functab_len || off.checked_add(func_len).is_none_or(|end| end > room) {
                return Err(bad(format!("function record offset {off:#x} out of range")));
            }
            lo = lo.min(off);
            hi = hi.max(off + func_len);
        }
        if hi - lo > MAX_READ {
            return Err(bad("function records span too large".into()));
        }
        let funcs = src.read(header.pcln_offset + lo, hi - lo).map_err(io_bad)?;

        let names_len = header.cu_offset - header.funcname_offset;
        if names_len > MAX_READ {
            return Err(bad("name table too large".into()));
        }
        let funcnames = src
            .read(header.funcname_offset, names_len)
            .map_err(io_bad)?;

        let mut wanted: HashMap<&[u8], usize> = HashMap::new();
        for (i, name) in names.iter().enumerate() {
            wanted.entry(name.as_bytes()).or_insert(i);
        }
        // Per requested name: the functab indexes carrying it.
        let mut hits: Vec<Vec<usize>> = vec![Vec::new(); names.len()];
        let mut first_name = String::new();
        for (i, &off) in funcoffs.iter().enumerate() {
            let rec = &funcs[(off - lo) as usize..(off - lo + func_len) as usize];
            let (entry, name_off) = match format {
                Format::Go116 => (le64(rec, 0), le32(rec, 8)),
                _ => (u64::from(le32(rec, 0)), le32(rec, 4)),
            };
            // The record repeats the entry: a cheap, strong consistency check.
            if entry != entries[i] {
                return Err(bad(format!(
                    "function {i}: record entry {entry:#x} differs from table entry {:#x}",
                    entries[i]
                )));
            }
            let name = name_at(&funcnames, name_off)
                .ok_or_else(|| bad(format!("function {i}: name offset {name_off:#x} invalid")))?;
            if i == 0 {
                first_name = std::str::from_utf8(name)
                    .ok()
                    .filter(|s| !s.is_empty() && !s.chars().any(char::is_control))
                    .ok_or_else(|| bad("first function name unreadable".into()))?
                    .to_owned();
            }
            if let Some(&w) = wanted.get(name) {
                // One more than the limit marks "too many".
                if hits[w].len() <= MAX_SAME_NAME {
                    hits[w].push(i);
                }
            }
        }
        let found = names
            .iter()
            .enumerate()
            .filter_map(|(k, name)| {
                let w = *wanted.get(name.as_bytes())?;
                let found = &hits[w];
                // Only the first request of a repeated name is answered.
                (w == k && !found.is_empty() && found.len() <= MAX_SAME_NAME).then(|| RawFunction {
                    name: (*name).to_owned(),
                    places: found
                        .iter()
                        .map(|&i| (entries[i], entries[i + 1]))
                        .collect(),
                })
            })
            .collect();
        Ok(Table {
            header,
            first_entry,
            last_end,
            first_name,
            found,
        })
    }
}

/// The NUL-terminated name at `off` in the name table.
fn name_at(funcnames: &[u8], off: u32) -> Option<&[u8]> {
    // nameOff is an int32: a negative one is invalid.
    let off = usize::try_from(i32::from_le_bytes(off.to_le_bytes())).ok()?;
    let rest = funcnames.get(off..)?;
    let len = rest.iter().position(|&b| b == 0)?;
    Some(&rest[..len])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a table in the given layout with functions `(name, entry)` ending at `end`.
    pub(crate) fn synth(format: Format, funcs: &[(&str, u64)], end: u64) -> Vec<u8> {
        let hlen = format.header_len() as usize;
        let mut names = Vec::new();
        let mut name_offs = Vec::new();
        for (name, _) in funcs {
            name_offs.push(names.len() as u32);
            names.extend_from_slice(name.as_bytes());
            names.push(0);
        }
        let funcname = hlen as u64;
        let cu = funcname + names.len() as u64;
        let filetab = cu + 4;
        let pctab = filetab + 4;
        let pcln = pctab + 4;
        let nfunc = funcs.len() as u64;
        // As Go's linker lays it out: the records start at the first pointer-aligned offset
        // after the functab (right after it for Go 1.16–1.17).
        let functab_len = format.functab_len(nfunc);
        let recs_start = functab_len.next_multiple_of(8);
        let mut out = Vec::new();
        out.extend_from_slice(&format.magic().to_le_bytes());
        out.extend_from_slice(&[0, 0, 1, 8]);
        let mut words = vec![nfunc, 1];
        if format != Format::Go116 {
            words.push(0x40_1000);
        }
        words.extend([funcname, cu, filetab, pctab, pcln]);
        for w in words {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.resize(hlen, 0);
        out.extend_from_slice(&names);
        out.resize(pcln as usize, 0);
        let func_len = 16u64;
        let mut recs = Vec::new();
        for (i, (_, entry)) in funcs.iter().enumerate() {
            let off = recs_start + i as u64 * func_len;
            match format {
                Format::Go116 => {
                    out.extend_from_slice(&entry.to_le_bytes());
                    out.extend_from_slice(&off.to_le_bytes());
                    recs.extend_from_slice(&entry.to_le_bytes());
                    recs.extend_from_slice(&name_offs[i].to_le_bytes());
                    recs.extend_from_slice(&[0; 4]);
                }
                _ => {
                    out.extend_from_slice(&(*entry as u32).to_le_bytes());
                    out.extend_from_slice(&(off as u32).to_le_bytes());
                    recs.extend_from_slice(&(*entry as u32).to_le_bytes());
                    recs.extend_from_slice(&name_offs[i].to_le_bytes());
                    recs.extend_from_slice(&[0; 8]);
                }
            }
        }
        match format {
            Format::Go116 => out.extend_from_slice(&end.to_le_bytes()),
            _ => out.extend_from_slice(&(end as u32).to_le_bytes()),
        }
        out.resize(pcln as usize + recs_start as usize, 0);
        out.extend_from_slice(&recs);
        out
    }

    const FUNCS: &[(&str, u64)] = &[
        ("internal/abi.(*RegArgs).Dump", 0),
        ("runtime.memmove", 0x40),
        ("crypto/tls.(*Conn).Write", 0x100),
        ("crypto/tls.(*Conn).Read", 0x180),
    ];

    #[test]
    fn reads_each_layout() {
        for format in [Format::Go116, Format::Go118, Format::Go120] {
            let bytes = synth(format, FUNCS, 0x200);
            let t = Table::read(
                &bytes[..],
                1,
                &["crypto/tls.(*Conn).Read", "nope", "runtime.memmove"],
            )
            .unwrap();
            assert_eq!(t.header.format, format);
            assert_eq!(t.first_name, "internal/abi.(*RegArgs).Dump");
            assert_eq!((t.first_entry, t.last_end), (0, 0x200));
            let got: Vec<_> = t
                .found
                .iter()
                .map(|f| (f.name.as_str(), f.places.clone()))
                .collect();
            assert_eq!(
                got,
                [
                    ("crypto/tls.(*Conn).Read", vec![(0x180, 0x200)]),
                    ("runtime.memmove", vec![(0x40, 0x100)])
                ]
            );
        }
    }

    #[test]
    fn rejects_inconsistent_tables() {
        let good = synth(Format::Go118, FUNCS, 0x200);
        // Unsorted entries.
        let mut b = synth(Format::Go118, &[("a", 0x10), ("b", 0)], 0x200);
        assert!(matches!(
            Table::read(&b[..], 1, &[]),
            Err(GoError::Malformed(_))
        ));
        // Wrong quantum, pointer size, padding.
        for (at, v) in [(6, 4u8), (7, 4), (4, 1)] {
            b = good.clone();
            b[at] = v;
            assert!(Table::read(&b[..], 1, &[]).is_err(), "byte {at}");
        }
        // Old magic: unsupported, with the magic in the reason.
        b = good.clone();
        b[..4].copy_from_slice(&MAGIC_GO12.to_le_bytes());
        let err = Table::read(&b[..], 1, &[]).unwrap_err().to_string();
        assert!(err.contains("0xfffffffb"), "{err}");
        // Truncated into the last record (whose 8 last bytes the reader does not need).
        assert!(Table::read(&good[..good.len() - 8], 1, &[]).is_ok());
        assert!(Table::read(&good[..good.len() - 9], 1, &[]).is_err());
    }

    #[test]
    fn duplicate_names_are_all_reported() {
        let bytes = synth(Format::Go120, &[("f", 0), ("f", 0x10), ("g", 0x20)], 0x30);
        let t = Table::read(&bytes[..], 1, &["f", "g", "g"]).unwrap();
        assert_eq!(t.found.len(), 2);
        assert_eq!(t.found[0].places, [(0, 0x10), (0x10, 0x20)]);
        assert_eq!(t.found[1].places, [(0x20, 0x30)]);
    }

    proptest::proptest! {
        #[test]
        fn mutated_tables_never_panic(
            format in proptest::sample::select(vec![Format::Go116, Format::Go118, Format::Go120]),
            edits in proptest::collection::vec((0usize..400, proptest::num::u8::ANY), 1..8),
            cut in 0usize..64,
        ) {
            let mut b = synth(format, FUNCS, 0x200);
            for (at, v) in edits {
                if let Some(x) = b.get_mut(at) {
                    *x = v;
                }
            }
            b.truncate(b.len().saturating_sub(cut));
            let _ = Table::read(&b[..], 1, &["runtime.memmove"]);
        }
    }
}
