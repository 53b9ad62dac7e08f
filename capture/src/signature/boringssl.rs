//! `SSL_read` and `SSL_write` of a statically linked, stripped BoringSSL, found by its code.
//!
//! BoringSSL reports errors with `OPENSSL_PUT_ERROR(lib, reason)`, a call
//! `ERR_put_error(lib, 0, reason, __FILE__, __LINE__)`. `strip` removes symbols, not these calls:
//! every site still loads the source file's name (`…/ssl/ssl_lib.cc`, one string), the library
//! (`ERR_LIB_SSL` = 16) and a reason code — codes are part of BoringSSL's API (`ssl.h`,
//! `err.h`) and never renumbered. The functions we want report a recognisable set:
//! - `SSL_write`: `SSL_R_UNINITIALIZED` (226), `SSL_R_SSL_HANDSHAKE_FAILURE` (215) and
//!   `SSL_R_BAD_LENGTH` (111), in that source order — no other function reports all three;
//! - `ssl_read_impl`: 226 and 215 but not 111;
//! - `SSL_read` and `SSL_peek` (the former inlines the latter): `ERR_R_SHOULD_NOT_HAVE_BEEN_CALLED`
//!   (66) at the same line, and a call to `ssl_read_impl`. `SSL_read` then consumes what it copied
//!   (it stores into the connection's state after the call); `SSL_peek` does not.
//!
//! Each rule must match exactly one function (or, for the readers, one consumer and at most one
//! peek at the same line), all sites must go to one reporting function, and every function is
//! bounded by the unwind table ([`super::functions`]), so the addresses returned are function
//! starts. Anything else is refused with the reason: a probe on a wrong address would corrupt
//! the program, and one on the wrong function would report wrong bytes.

use std::collections::{BTreeMap, BTreeSet};

use super::functions::{self, Range};
use super::NOT_BORINGSSL;
use crate::x86::{self, Register};

const ERR_LIB_SSL: u64 = 16;
const ERR_R_SHOULD_NOT_HAVE_BEEN_CALLED: u64 = 66;
const SSL_R_BAD_LENGTH: u64 = 111;
const SSL_R_SSL_HANDSHAKE_FAILURE: u64 = 215;
const SSL_R_UNINITIALIZED: u64 = 226;

/// Bounds for hostile or unusual input: unwind entries kept, references followed, bytes of one
/// function decoded.
const MAX_FUNCTIONS: usize = 2_000_000;
const MAX_REFERENCES: usize = 4_096;
const MAX_FUNCTION_BYTES: u64 = 256 * 1024;

/// What the finder found: the two functions, and how, for the picker and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub ssl_read: Range,
    pub ssl_write: Range,
    /// `ssl_lib.cc error sites: SSL_write 4 (lines 956-982), SSL_read 1 (line 935)`.
    pub evidence: String,
}

/// One section of the object: where it is loaded and its bytes.
#[derive(Clone, Copy, Debug)]
pub struct Section<'a> {
    pub addr: u64,
    pub data: &'a [u8],
    pub executable: bool,
}

/// The loaded image of an object, as the finder needs it.
#[derive(Clone, Debug, Default)]
pub struct Image<'a> {
    pub sections: Vec<Section<'a>>,
    /// `.eh_frame`: (address, bytes).
    pub eh_frame: Option<(u64, &'a [u8])>,
}

impl<'a> Image<'a> {
    /// The sections of an ELF file.
    pub fn from_elf(data: &'a [u8]) -> Result<Self, String> {
        use object::{Object, ObjectSection, SectionFlags};
        let elf = object::File::parse(data).map_err(|e| format!("not an ELF object: {e}"))?;
        let mut image = Image::default();
        for s in elf.sections() {
            let SectionFlags::Elf { sh_flags } = s.flags() else {
                continue;
            };
            if sh_flags & u64::from(object::elf::SHF_ALLOC) == 0 {
                continue;
            }
            let Ok(bytes) = s.data() else { continue };
            if s.name() == Ok(".eh_frame") {
                image.eh_frame = Some((s.address(), bytes));
            }
            image.sections.push(Section {
                addr: s.address(),
                data: bytes,
                executable: sh_flags & u64::from(object::elf::SHF_EXECINSTR) != 0,
            });
        }
        Ok(image)
    }

    /// The bytes from `r.start` to `r.end` when one executable section holds them all.
    fn code(&self, r: Range) -> Option<&'a [u8]> {
        self.sections.iter().filter(|s| s.executable).find_map(|s| {
            let from = usize::try_from(r.start.checked_sub(s.addr)?).ok()?;
            let to = usize::try_from(r.end.checked_sub(s.addr)?).ok()?;
            s.data.get(from..to)
        })
    }
}

/// Finds `SSL_read` and `SSL_write` in `image`, or says why not.
pub fn find(image: &Image) -> Result<Found, String> {
    let file = ssl_lib_string(image)?;
    let (eh_addr, eh) = image
        .eh_frame
        .ok_or("no .eh_frame: function bounds unknown")?;
    let ranges = functions::eh_frame_ranges(eh, eh_addr, MAX_FUNCTIONS);
    if ranges.is_empty() {
        return Err("no function bounds in .eh_frame".into());
    }
    let funcs = functions_referencing(image, &ranges, file)?;
    identify(&funcs)
}

/// The address of the `…/ssl/ssl_lib.cc` string: exactly one such string.
fn ssl_lib_string(image: &Image) -> Result<u64, String> {
    let mut found = BTreeSet::new();
    for s in image.sections.iter().filter(|s| !s.executable) {
        for end in memchr::memmem::find_iter(s.data, super::ssl_lib_file()) {
            // The string starts after the previous NUL (a path of at most 4 KiB).
            let from = end.saturating_sub(4096);
            let start = memchr::memrchr(0, &s.data[from..end]).map_or(from, |p| from + p + 1);
            found.insert(s.addr + start as u64);
        }
    }
    match found.len() {
        0 => Err(
            "no boringssl ssl_lib.cc error strings (not boringssl, or built without them)".into(),
        ),
        1 => Ok(*found.first().unwrap_or(&0)),
        n => Err(format!(
            "{n} different ssl_lib.cc strings (several boringssl copies?)"
        )),
    }
}

/// One `OPENSSL_PUT_ERROR` call decoded: library, reason, line and the reporting function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ErrorSite {
    lib: u64,
    reason: u64,
    line: u64,
    reporter: u64,
}

/// What one function referencing the file name does.
#[derive(Debug, Default)]
struct FuncFacts {
    range: Option<Range>,
    sites: Vec<ErrorSite>,
    /// Direct call targets, in order, each with whether a non-stack store follows it (in linear
    /// order) anywhere in the function.
    calls: Vec<(u64, bool)>,
}

impl FuncFacts {
    fn reasons(&self) -> BTreeSet<u64> {
        self.sites.iter().map(|s| s.reason).collect()
    }
    fn line_of(&self, reason: u64) -> Option<u64> {
        self.sites
            .iter()
            .find(|s| s.reason == reason)
            .map(|s| s.line)
    }
}

/// The functions (by unwind range) whose code loads `file` with `lea …(%rip)`, with their
/// error sites and calls.
fn functions_referencing(
    image: &Image,
    ranges: &[Range],
    file: u64,
) -> Result<BTreeMap<u64, FuncFacts>, String> {
    let mut starts = BTreeSet::new();
    let mut refs = 0usize;
    for s in image.sections.iter().filter(|s| s.executable) {
        // `lea disp32(%rip),%reg`: REX.W (48 or 4c), 8d, ModRM with mod 00 and r/m 101.
        for i in memchr::memchr_iter(0x8d, s.data) {
            let Some(at) = i.checked_sub(1) else { continue };
            let b = s.data;
            if !matches!(b[at], 0x48 | 0x4c) || i + 6 > b.len() || b[i + 1] & 0xc7 != 0x05 {
                continue;
            }
            let disp = i32::from_le_bytes([b[i + 2], b[i + 3], b[i + 4], b[i + 5]]);
            let next = s.addr + (i + 6) as u64;
            if next.wrapping_add_signed(i64::from(disp)) != file {
                continue;
            }
            refs += 1;
            if refs > MAX_REFERENCES {
                return Err(format!(
                    "more than {MAX_REFERENCES} references to ssl_lib.cc"
                ));
            }
            if let Some(r) = functions::containing(ranges, s.addr + at as u64) {
                starts.insert(r);
            }
        }
    }
    let mut out = BTreeMap::new();
    for r in starts {
        if r.end - r.start > MAX_FUNCTION_BYTES {
            continue;
        }
        let Some(code) = image.code(r) else { continue };
        out.insert(r.start, facts(code, r, file));
    }
    if out.is_empty() {
        return Err(format!(
            "{NOT_BORINGSSL} (the name is never loaded by code)"
        ));
    }
    Ok(out)
}

/// Decodes one function and collects its error sites and calls.
fn facts(code: &[u8], r: Range, file: u64) -> FuncFacts {
    let insns = x86::decode(code, r.start);
    let mut f = FuncFacts {
        range: Some(r),
        ..Default::default()
    };
    // Constants in %rdi, %rdx, %r8 since the last control transfer, and whether %rcx holds the
    // file name.
    let mut consts: [Option<u64>; 3] = [None; 3];
    let regs = [Register::RDI, Register::RDX, Register::R8];
    let mut rcx_is_file = false;
    let mut calls: Vec<(usize, u64)> = Vec::new();
    for (k, i) in insns.iter().enumerate() {
        if let Some(target) = x86::call_target(i) {
            if rcx_is_file {
                if let [Some(lib), Some(reason), Some(line)] = consts {
                    f.sites.push(ErrorSite {
                        lib,
                        reason,
                        line,
                        reporter: target,
                    });
                }
            }
            calls.push((k, target));
        }
        if x86::is_control_transfer(i) {
            consts = [None; 3];
            rcx_is_file = false;
            continue;
        }
        if i.mnemonic() == iced_x86::Mnemonic::Lea && i.op0_register() == Register::RCX {
            rcx_is_file = x86::rip_relative_target(i) == Some(file);
            continue;
        }
        let constant = x86::constant_to_reg(i);
        for (slot, reg) in consts.iter_mut().zip(regs) {
            if x86::writes_reg(i, reg) {
                *slot = constant.filter(|(r, _)| *r == reg).map(|(_, v)| v);
            }
        }
        if x86::writes_reg(i, Register::RCX) {
            rcx_is_file = false;
        }
    }
    // Whether a non-stack store follows each call.
    let last_store = insns.iter().rposition(x86::writes_non_stack_memory);
    f.calls = calls
        .into_iter()
        .map(|(k, t)| (t, last_store.is_some_and(|s| s > k)))
        .collect();
    f
}

/// Applies the rules of the module doc to the functions found.
fn identify(funcs: &BTreeMap<u64, FuncFacts>) -> Result<Found, String> {
    let ssl_sites = funcs
        .values()
        .flat_map(|f| f.sites.iter())
        .filter(|s| s.lib == ERR_LIB_SSL);
    let reporters: BTreeSet<u64> = ssl_sites.map(|s| s.reporter).collect();
    match reporters.len() {
        1 => {}
        // The name without BoringSSL's error calls (a program that merely holds the string,
        // apitop itself among them): not BoringSSL.
        0 => return Err(format!("{NOT_BORINGSSL} (the name is never reported)")),
        n => {
            return Err(format!(
                "ssl_lib.cc error sites call {n} different functions"
            ))
        }
    }
    let has = |f: &FuncFacts, want: &[u64]| {
        let r = f.reasons();
        want.iter().all(|w| r.contains(w))
    };
    let unique = |what: &str, v: Vec<&FuncFacts>| -> Result<Range, String> {
        match v.as_slice() {
            [one] => one.range.ok_or_else(|| format!("no range for {what}")),
            [] => Err(format!("no {what} signature")),
            many => Err(format!(
                "no unique {what} signature ({} matches)",
                many.len()
            )),
        }
    };
    let write_set = [
        SSL_R_UNINITIALIZED,
        SSL_R_SSL_HANDSHAKE_FAILURE,
        SSL_R_BAD_LENGTH,
    ];
    let writers: Vec<&FuncFacts> = funcs.values().filter(|f| has(f, &write_set)).collect();
    let ssl_write = unique("SSL_write", writers.clone())?;
    let w = writers[0];
    let lines: Vec<Option<u64>> = write_set.iter().map(|r| w.line_of(*r)).collect();
    if !lines.windows(2).all(|p| p[0] < p[1]) {
        return Err(format!(
            "SSL_write's error sites are out of source order ({lines:?})"
        ));
    }

    let impls: BTreeSet<u64> = funcs
        .iter()
        .filter(|(_, f)| {
            has(f, &[SSL_R_UNINITIALIZED, SSL_R_SSL_HANDSHAKE_FAILURE])
                && !f.reasons().contains(&SSL_R_BAD_LENGTH)
        })
        .map(|(start, _)| *start)
        .collect();
    // Readers: report 66 and call one of the read implementations.
    let readers: Vec<(&FuncFacts, u64, bool)> = funcs
        .values()
        .filter(|f| f.reasons().contains(&ERR_R_SHOULD_NOT_HAVE_BEEN_CALLED))
        .filter_map(|f| {
            let (target, store_after) = f.calls.iter().find(|(t, _)| impls.contains(t))?;
            Some((f, *target, *store_after))
        })
        .collect();
    let impl_targets: BTreeSet<u64> = readers.iter().map(|(_, t, _)| *t).collect();
    if impl_targets.len() > 1 {
        return Err(format!(
            "readers call {} different ssl_read_impl candidates",
            impl_targets.len()
        ));
    }
    let (consumers, peeks): (Vec<_>, Vec<_>) = readers.iter().partition(|(_, _, s)| *s);
    let ssl_read = unique("SSL_read", consumers.iter().map(|(f, _, _)| *f).collect())?;
    if peeks.len() > 1 {
        return Err(format!("{} SSL_peek candidates", peeks.len()));
    }
    let read_line = consumers[0].0.line_of(ERR_R_SHOULD_NOT_HAVE_BEEN_CALLED);
    if let Some((peek, _, _)) = peeks.first() {
        let peek_line = peek.line_of(ERR_R_SHOULD_NOT_HAVE_BEEN_CALLED);
        if peek_line != read_line {
            return Err(format!(
                "SSL_read ({read_line:?}) and SSL_peek ({peek_line:?}) disagree on SSL_peek's line"
            ));
        }
    }
    if ssl_read == ssl_write {
        return Err("SSL_read and SSL_write resolve to one function".into());
    }
    let span = |l: &[Option<u64>]| {
        let l: Vec<u64> = l.iter().flatten().copied().collect();
        match (l.first(), l.last()) {
            (Some(a), Some(b)) if a != b => format!("lines {a}-{b}"),
            (Some(a), _) => format!("line {a}"),
            _ => "no line".into(),
        }
    };
    Ok(Found {
        ssl_read,
        ssl_write,
        evidence: format!(
            "ssl_lib.cc error sites: SSL_write {} ({}), SSL_read {} ({})",
            w.sites.len(),
            span(&lines),
            consumers[0].0.sites.len(),
            span(&[read_line])
        ),
    })
}
