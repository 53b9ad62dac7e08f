//! Where to put the entry + return probe pair for OpenSSL-compatible `SSL_write`/`SSL_read` (and
//! their `_ex` twins) and GnuTLS' `gnutls_record_send`/`gnutls_record_recv`: pure functions,
//! machine code in, probe sites out.
//!
//! # Why not simply the exported entry
//! A uprobe on an instruction the kernel emulates (`push reg`, `call`/`jmp`/`jcc` rel, `nop`;
//! see [`crate::x86`]) costs ~0.6 µs per hit; anything else is single-stepped, ~10–15 µs. OpenSSL
//! 3's `SSL_write` begins `sub $0x18,%rsp` (or `endbr64`): single-stepped, twice per call with
//! the uretprobe's entry half. But Debian's `SSL_write` and `SSL_write_ex` are thin wrappers
//! around one internal function, `ssl_write_internal(s, buf, size_t num, size_t *written)`,
//! which begins `push %r14` (`ssl_read_internal` likewise, `push %r13`). One probe pair there
//! serves both exported functions at the emulated price. It also sees what the exported entries
//! miss: OpenSSL 3's SSL BIO (`BIO_f_ssl`) calls the internal functions directly.
//!
//! # What makes a site sound
//! The pair is an entry uprobe and a uretprobe on the same address. The uretprobe replaces the
//! return address at `(%rsp)` when the site is hit, so the site must be the first instruction a
//! call executes — the return address is then the top of the stack — or come after instructions
//! that leave `%rsp` and the stack alone. Only `endbr64` is accepted as such: an `endbr64`
//! followed by an emulated `push` gives the push. An emulated instruction later in a prologue
//! (after the first `push`, say) cannot take the uretprobe, so for these entry + return
//! functions the fallback is the single-stepped exported entry, never a deeper site.
//!
//! The choice, for one family (`SSL_write` + `SSL_write_ex`, or `SSL_read` + `SSL_read_ex`):
//! 1. every exported entry given is emulated (node's bundled OpenSSL begins `push %rbp`): the
//!    entries, each with its own [`CallAbi`];
//! 2. else the *shared callee*, when both functions provably forward their arguments to one
//!    internal function that begins (after an optional `endbr64`) with an emulated `push`: one
//!    pair there, [`CallAbi::CountThroughPointer`] (see [`shared_callee`] for the checks);
//! 3. else the exported entries, single-stepped or not, as before.
//!
//! GnuTLS' functions are entries only ([`gnutls_function`]): the entry when emulated (also after
//! `endbr64`), else the single-stepped entry.
//!
//! # What the checks prove, and what they assume
//! Every address returned is a symbol's address, a direct call target found by decoding, or the
//! instruction after an `endbr64` there: an instruction start at which the return address is at
//! `(%rsp)`. That is the part whose failure would corrupt the traced program, and it is proved.
//! That the callee has the `(ssl, buf, num, size_t *done) → 1 with *done set` contract is
//! inferred: on the straight path from the entry, `SSL_write_ex` hands its four argument
//! registers to it unchanged and `SSL_write` its first three (the `int` count widened) plus the
//! address of a local, exactly as OpenSSL 1.1.1–3.x's `ssl_lib.c` does. The paths of the
//! exported functions that branch away before the call are assumed to be error returns (in
//! OpenSSL: `num < 0`); a build whose wrappers move data on another path would be traced
//! incompletely, never wrongly.

use iced_x86::{Mnemonic, OpKind};
use serde::Serialize;

pub use crate::golang::sites::FuncCode;
use crate::x86::{self, Emulation, Instruction, Register};

/// A probe pair (entry + return) for one function family in one object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Placement {
    /// Virtual address of the site (the caller turns it into a file offset).
    pub addr: u64,
    /// What the probe programs must assume at this site.
    pub abi: CallAbi,
    /// For logs and `--list --json`: `SSL_write+0 sub $0x18,%rsp (single-stepped)`,
    /// `callee@0x355a0+0 push %r14 (emulated; called by SSL_write and SSL_write_ex)`.
    pub what: String,
    /// Whether the kernel emulates the instruction at `addr` (see [`crate::x86::emulation`]).
    pub emulated: bool,
}

/// The calling convention at a site (System V: arguments in `%rdi`, `%rsi`, `%rdx`, `%rcx`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallAbi {
    /// `(ssl, buf, num) → count`: `SSL_write`/`SSL_read` and `gnutls_record_send`/`_recv`. The
    /// count is read as the low 32 bits of `%rax`, signed: right for C `int`, and for GnuTLS'
    /// `ssize_t` too (counts are at most one record, errors small negatives).
    CountReturned,
    /// `(ssl, buf, size_t num, size_t *done) → 1` on success with `*done` set: the `_ex`
    /// functions and OpenSSL's internal `ssl_write_internal`/`ssl_read_internal`.
    CountThroughPointer,
}

/// An exported function's name and machine code. `code.code` should be exactly the symbol's
/// extent (`st_value .. st_value + st_size`): a tail jump is told from a jump within the
/// function by that extent.
#[derive(Clone, Copy, Debug)]
pub struct Exported<'a> {
    pub name: &'a str,
    pub code: FuncCode<'a>,
}

/// The probe pairs for one OpenSSL family: `plain` is `SSL_write` (or `SSL_read`), `ex` is
/// `SSL_write_ex` (or `SSL_read_ex`) when the object exports it. `callee_code(addr)` returns the
/// code at a virtual address (~64 bytes suffice), or `None` when `addr` is not in an executable
/// segment of the object. One placement per probe pair needed: the shared callee alone, or one
/// per exported function given (see the module doc for the order of preference).
pub fn openssl_family(
    plain: &Exported,
    ex: Option<&Exported>,
    callee_code: &dyn Fn(u64) -> Option<Vec<u8>>,
) -> Vec<Placement> {
    let mut entries = vec![entry_placement(plain, CallAbi::CountReturned)];
    entries.extend(ex.map(|ex| entry_placement(ex, CallAbi::CountThroughPointer)));
    if entries.iter().all(|p| p.emulated) {
        return entries;
    }
    match ex.map(|ex| shared_callee(plain, ex, callee_code)) {
        Some(Ok(callee)) => vec![callee],
        _ => entries,
    }
}

/// The probe pair for `gnutls_record_send`/`gnutls_record_recv` (`(session, data, size) →
/// ssize_t`): the entry, or the `push` after an `endbr64` there.
pub fn gnutls_function(f: &Exported) -> Placement {
    entry_placement(f, CallAbi::CountReturned)
}

/// The internal function both `plain` and `ex` forward their arguments to, as a placement, or why
/// there is none. Checked on each function's straight path from its entry to its first direct
/// call or jump (linear decoding; forward conditional branches are stepped over, anything else
/// that transfers control is refused):
/// - `ex` writes none of `%rdi`, `%rsi`, `%rdx`, `%rcx` before it; a `jmp` is accepted as a tail
///   call when nothing before it touched `%rsp` and its target lies outside `ex`;
/// - `plain` reaches it by `call` (it must turn the result into a count), writes neither `%rdi`
///   nor `%rsi`, extends `%edx` into `%rdx` at most (`movslq %edx,%rdx` or `mov %edx,%edx`), and
///   last sets `%rcx` to the address of a local (`mov %rsp,%rcx` or `lea d(%rsp|%rbp),%rcx`):
///   the out-pointer of the four-argument callee. This rules out a one-argument helper that
///   both happen to call first;
/// - both reach the same address, outside both functions, whose first instruction is an emulated
///   `push`, or an `endbr64` then an emulated `push` (the site is then the push).
pub fn shared_callee(
    plain: &Exported,
    ex: &Exported,
    callee_code: &dyn Fn(u64) -> Option<Vec<u8>>,
) -> Result<Placement, String> {
    let target = forwarded_to(plain, Caller::Plain)?;
    let ex_target = forwarded_to(ex, Caller::Ex)?;
    if target != ex_target {
        return Err(format!(
            "{} reaches {target:#x} but {} {ex_target:#x}",
            plain.name, ex.name
        ));
    }
    for f in [plain, ex] {
        if inside(f, target) {
            return Err(format!("{target:#x} lies inside {}", f.name));
        }
    }
    let code = callee_code(target).ok_or_else(|| format!("no code at {target:#x}"))?;
    let (i, emulation) = entry_site(&code, target)
        .ok_or_else(|| format!("the code at {target:#x} does not decode"))?;
    if !(emulation == Emulation::Emulated && i.mnemonic() == Mnemonic::Push) {
        return Err(format!(
            "{target:#x} begins {} ({}), not an emulated push",
            x86::gas(&i),
            emulation.as_str()
        ));
    }
    Ok(Placement {
        addr: i.ip(),
        abi: CallAbi::CountThroughPointer,
        what: format!(
            "callee@{target:#x}{} {} (emulated; called by {} and {})",
            plus(i.ip().wrapping_sub(target)),
            x86::gas(&i),
            plain.name,
            ex.name
        ),
        emulated: true,
    })
}

/// The site for an entry + return pair on a function starting at `entry`: its first instruction,
/// or, when that is a single-stepped `endbr64` followed by an emulated `push`, the push (nothing
/// before it moved `%rsp`, so the return address is still at `(%rsp)`). `None` when `code` does
/// not decode.
fn entry_site(code: &[u8], entry: u64) -> Option<(Instruction, Emulation)> {
    // Two instructions are at most 30 bytes.
    let head = code.get(..32).unwrap_or(code);
    let insns = x86::decode(head, entry);
    let first = *insns.first()?;
    let first_emulation = x86::emulation(&first, x86::insn_bytes(head, entry, &first));
    if first_emulation == Emulation::SingleStepped && first.mnemonic() == Mnemonic::Endbr64 {
        if let Some(second) = insns.get(1) {
            let emulation = x86::emulation(second, x86::insn_bytes(head, entry, second));
            if emulation == Emulation::Emulated && second.mnemonic() == Mnemonic::Push {
                return Some((*second, emulation));
            }
        }
    }
    Some((first, first_emulation))
}

/// The placement at `f`'s entry (see [`entry_site`]); always sound, whatever the code: the
/// symbol's address is an instruction start with the return address at `(%rsp)`.
fn entry_placement(f: &Exported, abi: CallAbi) -> Placement {
    let FuncCode { entry, code } = f.code;
    match entry_site(code, entry) {
        Some((i, emulation)) => Placement {
            addr: i.ip(),
            abi,
            what: format!(
                "{}{} {} ({})",
                f.name,
                plus(i.ip().wrapping_sub(entry)),
                x86::gas(&i),
                emulation.as_str()
            ),
            emulated: emulation == Emulation::Emulated,
        },
        None => Placement {
            addr: entry,
            abi,
            what: format!("{}+0 (undecoded; single-stepped)", f.name),
            emulated: false,
        },
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// `SSL_write(ssl, buf, int num)`: must pass a local's address as the fourth argument.
    Plain,
    /// `SSL_write_ex(ssl, buf, size_t num, size_t *written)`: must forward all four.
    Ex,
}

/// The target of `f`'s first direct call (or, for [`Caller::Ex`], tail jump) on its straight
/// path, when the argument registers reach it as [`shared_callee`] requires.
fn forwarded_to(f: &Exported, caller: Caller) -> Result<u64, String> {
    let FuncCode { entry, code } = f.code;
    let kept: &[Register] = match caller {
        Caller::Plain => &[Register::RDI, Register::RSI],
        Caller::Ex => &[Register::RDI, Register::RSI, Register::RDX, Register::RCX],
    };
    let mut rcx_is_local = false;
    let mut rsp_touched = false;
    for i in x86::decode(code, entry) {
        let at = || {
            format!(
                "{}{} {}",
                f.name,
                plus(i.ip().wrapping_sub(entry)),
                x86::gas(&i)
            )
        };
        if let Some(target) = x86::call_target(&i) {
            if caller == Caller::Plain && !rcx_is_local {
                return Err(format!("{}: %rcx is not a local's address", at()));
            }
            return Ok(target);
        }
        if i.is_jmp_short_or_near() {
            let target = i.near_branch_target();
            return match caller {
                Caller::Plain => Err(format!("{}: a jump before any call", at())),
                Caller::Ex if rsp_touched => Err(format!("{}: %rsp moved, no tail call", at())),
                Caller::Ex if inside(f, target) => Err(format!("{}: jumps within", at())),
                Caller::Ex => Ok(target),
            };
        }
        if let Some(target) = x86::branch_target(&i) {
            // A conditional branch: fall through if it goes forward (`target > ip`, addresses
            // compared as they are: a branch that wraps around counts as backward).
            if target <= i.ip() {
                return Err(format!("{}: a backward branch", at()));
            }
            continue;
        }
        if x86::is_control_transfer(&i) {
            return Err(format!("{}: transfers control", at()));
        }
        if let Some(r) = kept.iter().find(|r| x86::writes_reg(&i, **r)) {
            return Err(format!("{}: writes {r:?}", at()));
        }
        if caller == Caller::Plain {
            if x86::writes_reg(&i, Register::RDX) && !extends_edx(&i) {
                return Err(format!("{}: writes RDX", at()));
            }
            if x86::writes_reg(&i, Register::RCX) {
                rcx_is_local = is_local_address_to_rcx(&i);
            }
        }
        rsp_touched |= x86::writes_reg(&i, Register::RSP);
    }
    Err(format!("{}: no call before the end of the code", f.name))
}

/// `movslq %edx,%rdx` or `mov %edx,%edx`: `int num` widened to `size_t` in place.
fn extends_edx(i: &Instruction) -> bool {
    let op = |n| (i.op_kind(n) == OpKind::Register).then(|| i.op_register(n));
    match i.mnemonic() {
        Mnemonic::Movsxd => op(0) == Some(Register::RDX) && op(1) == Some(Register::EDX),
        Mnemonic::Mov => op(0) == Some(Register::EDX) && op(1) == Some(Register::EDX),
        _ => false,
    }
}

/// `mov %rsp,%rcx` or `lea d(%rsp),%rcx` / `lea d(%rbp),%rcx` (no index): `%rcx` = the address
/// of a local variable.
fn is_local_address_to_rcx(i: &Instruction) -> bool {
    if i.op_count() != 2 || i.op_kind(0) != OpKind::Register {
        return false;
    }
    if i.op_register(0) != Register::RCX {
        return false;
    }
    match i.mnemonic() {
        Mnemonic::Mov => i.op_kind(1) == OpKind::Register && i.op_register(1) == Register::RSP,
        Mnemonic::Lea => {
            matches!(i.memory_base(), Register::RSP | Register::RBP)
                && i.memory_index() == Register::None
        }
        _ => false,
    }
}

/// Whether `addr` lies inside `f`'s code.
fn inside(f: &Exported, addr: u64) -> bool {
    addr.wrapping_sub(f.code.entry) < f.code.code.len() as u64
}

/// `+0`, `+0x4`: an offset from a function's start, as objdump prints them.
fn plus(off: u64) -> String {
    if off == 0 {
        "+0".to_string()
    } else {
        format!("+{off:#x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: u64 = 0x1000;

    fn one(bytes: &[u8]) -> Instruction {
        let v = x86::decode(bytes, IP);
        assert_eq!(v.len(), 1, "{bytes:02x?}");
        v[0]
    }

    #[test]
    fn endbr64_is_decoded_as_such() {
        assert_eq!(one(&[0xf3, 0x0f, 0x1e, 0xfa]).mnemonic(), Mnemonic::Endbr64);
    }

    #[test]
    fn entry_site_rules() {
        let site = |code: &[u8]| entry_site(code, IP).map(|(i, e)| (i.ip() - IP, x86::gas(&i), e));
        use Emulation::*;
        assert_eq!(site(&[0x55, 0xc3]), Some((0, "push %rbp".into(), Emulated)));
        assert_eq!(
            site(&[0xf3, 0x0f, 0x1e, 0xfa, 0x41, 0x56]),
            Some((4, "push %r14".into(), Emulated))
        );
        // endbr64 then a single-stepped instruction, or then an emulated non-push: the entry.
        assert_eq!(
            site(&[0xf3, 0x0f, 0x1e, 0xfa, 0x48, 0x83, 0xec, 0x18]),
            Some((0, "endbr64".into(), SingleStepped))
        );
        assert_eq!(
            site(&[0xf3, 0x0f, 0x1e, 0xfa, 0xe9, 0, 0, 0, 0]).map(|s| s.0),
            Some(0)
        );
        // endbr64 cut off after itself.
        assert_eq!(
            site(&[0xf3, 0x0f, 0x1e, 0xfa]).map(|s| s.2),
            Some(SingleStepped)
        );
        // A jump at the entry is emulated and probed there.
        assert_eq!(site(&[0xe9, 0, 0, 0, 0]).map(|s| s.2), Some(Emulated));
        assert_eq!(site(&[]), None);
        assert_eq!(site(&[0x06]), None);
        // Only the first 32 bytes are decoded.
        let mut long = vec![0x90; 40];
        long[0] = 0x55;
        assert_eq!(site(&long).map(|s| s.0), Some(0));
    }

    #[test]
    fn edx_extensions() {
        assert!(extends_edx(&one(&[0x48, 0x63, 0xd2]))); // movslq %edx,%rdx
        assert!(extends_edx(&one(&[0x89, 0xd2]))); // mov %edx,%edx
        assert!(!extends_edx(&one(&[0x48, 0x63, 0xd1]))); // movslq %ecx,%rdx
        assert!(!extends_edx(&one(&[0x89, 0xca]))); // mov %ecx,%edx
        assert!(!extends_edx(&one(&[0x31, 0xd2]))); // xor %edx,%edx
        assert!(!extends_edx(&one(&[0x48, 0x63, 0x12]))); // movslq (%rdx),%rdx
    }

    #[test]
    fn local_addresses() {
        assert!(is_local_address_to_rcx(&one(&[0x48, 0x89, 0xe1]))); // mov %rsp,%rcx
        assert!(is_local_address_to_rcx(&one(&[
            0x48, 0x8d, 0x4c, 0x24, 0x08
        ]))); // lea 0x8(%rsp),%rcx
        assert!(is_local_address_to_rcx(&one(&[0x48, 0x8d, 0x4d, 0xa8]))); // lea -0x58(%rbp),%rcx
        assert!(is_local_address_to_rcx(&one(&[0x48, 0x8d, 0x0c, 0x24]))); // lea (%rsp),%rcx
        assert!(!is_local_address_to_rcx(&one(&[0x48, 0x89, 0xd9]))); // mov %rbx,%rcx
        assert!(!is_local_address_to_rcx(&one(&[0x48, 0x8d, 0x4b, 0x08]))); // lea 0x8(%rbx),%rcx
        assert!(!is_local_address_to_rcx(&one(&[0x48, 0x8d, 0x0c, 0x1c]))); // lea (%rsp,%rbx),%rcx
        assert!(!is_local_address_to_rcx(&one(&[
            0x48, 0x8d, 0x54, 0x24, 0x08
        ]))); // lea 0x8(%rsp),%rdx
        assert!(!is_local_address_to_rcx(&one(&[0x48, 0x8b, 0x0c, 0x24]))); // mov (%rsp),%rcx
    }

    #[test]
    fn plus_text() {
        assert_eq!(plus(0), "+0");
        assert_eq!(plus(4), "+0x4");
    }
}

/// A probe pair to attach in one object: where (file offset), for which direction, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProbePair {
    pub offset: u64,
    pub write: bool,
    pub placement: Placement,
}

/// The read and write families an object exports: (plain, `_ex`, is the write side). GnuTLS has
/// no `_ex` twin.
const FAMILIES: [(&str, Option<&str>, bool); 4] = [
    ("SSL_write", Some("SSL_write_ex"), true),
    ("SSL_read", Some("SSL_read_ex"), false),
    ("gnutls_record_send", None, true),
    ("gnutls_record_recv", None, false),
];

/// Every probe pair for the TLS functions the ELF object at `path` defines (`.dynsym`, else
/// `.symtab`), placed by the rules above. Reads only the headers, the symbol tables and the code
/// it decodes.
pub fn plan_object(path: &std::path::Path) -> Result<Vec<ProbePair>, String> {
    use object::{Object, ObjectSegment, ObjectSymbol, ReadRef, SegmentFlags, SymbolKind};
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let data = object::ReadCache::new(file);
    let elf = object::File::parse(&data).map_err(|e| format!("{}: {e}", path.display()))?;
    // Executable segments: (vaddr, size, file offset).
    let exec: Vec<(u64, u64, u64)> = elf
        .segments()
        .filter(|s| matches!(s.flags(), SegmentFlags::Elf { p_flags } if p_flags & object::elf::PF_X != 0))
        .map(|s| (s.address(), s.file_range().1, s.file_range().0))
        .collect();
    let segment_of = |addr: u64| {
        exec.iter()
            .find(|(va, size, _)| addr >= *va && addr - va < *size)
            .copied()
    };
    let offset_of = |addr: u64| segment_of(addr).map(|(va, _, off)| addr - va + off);
    // `len` bytes at `addr`, cut at the end of its segment.
    let read = |addr: u64, len: u64| -> Option<Vec<u8>> {
        let (va, size, off) = segment_of(addr)?;
        let len = len.clamp(1, va + size - addr);
        data.read_bytes_at(addr - va + off, len)
            .ok()
            .map(<[u8]>::to_vec)
    };
    // `.dynsym` first, then `.symtab` (static OpenSSL in a program that kept its symbols). A
    // function's code: a defined text symbol. `.symtab` may hold a local of the same name in
    // another file: a global one wins, and two different globals make it ambiguous (refused).
    let symbol = |name: &str| -> Result<Option<(u64, u64)>, String> {
        if let Some(s) = elf
            .dynamic_symbols()
            .find(|s| s.is_definition() && s.name() == Ok(name))
        {
            return Ok(Some((s.address(), s.size())));
        }
        let all: Vec<_> = elf
            .symbols()
            .filter(|s| s.is_definition() && s.kind() == SymbolKind::Text && s.name() == Ok(name))
            .collect();
        let globals: Vec<_> = all.iter().filter(|s| s.is_global()).collect();
        let chosen: Vec<(u64, u64)> = if globals.is_empty() {
            all.iter().map(|s| (s.address(), s.size())).collect()
        } else {
            globals.iter().map(|s| (s.address(), s.size())).collect()
        };
        match chosen.as_slice() {
            [] => Ok(None),
            [one, rest @ ..] if rest.iter().all(|r| r.0 == one.0) => Ok(Some(*one)),
            _ => Err(format!("{name}: {} definitions in .symtab", chosen.len())),
        }
    };
    // A placement as a probe pair at its file offset.
    let pair = |name: &str, write: bool, placement: Placement| -> Result<ProbePair, String> {
        let offset = offset_of(placement.addr).ok_or(format!(
            "{name}: site {:#x} outside the code",
            placement.addr
        ))?;
        Ok(ProbePair {
            offset,
            write,
            placement,
        })
    };
    let mut pairs = Vec::new();
    for (plain_name, ex_name, write) in FAMILIES {
        let Some((addr, size)) = symbol(plain_name)? else {
            continue;
        };
        let plain_code = read(addr, size.max(1)).ok_or(format!("{plain_name}: code unreadable"))?;
        let ex_sym = match ex_name {
            Some(n) => symbol(n)?.map(|s| (n, s)),
            None => None,
        };
        let ex = ex_sym.and_then(|(n, (a, s))| Some((n, a, read(a, s.max(1))?)));
        let plain = Exported {
            name: plain_name,
            code: FuncCode {
                entry: addr,
                code: &plain_code,
            },
        };
        let ex = ex.as_ref().map(|(n, a, c)| Exported {
            name: n,
            code: FuncCode { entry: *a, code: c },
        });
        let placements = if ex_name.is_some() {
            openssl_family(&plain, ex.as_ref(), &|a| read(a, 64))
        } else {
            vec![gnutls_function(&plain)]
        };
        for placement in placements {
            pairs.push(pair(plain_name, write, placement)?);
        }
    }
    if pairs.is_empty() {
        // No symbols: a stripped static BoringSSL found by its code, or nothing.
        if let Ok(found) = &*crate::signature::cached(path) {
            for (name, range, write) in [
                ("SSL_write", found.ssl_write, true),
                ("SSL_read", found.ssl_read, false),
            ] {
                let code = read(range.start, range.end - range.start)
                    .ok_or(format!("{name}: code unreadable"))?;
                let shown = format!("{name}@{:#x}", range.start);
                let f = Exported {
                    name: &shown,
                    code: FuncCode {
                        entry: range.start,
                        code: &code,
                    },
                };
                let mut placement = entry_placement(&f, CallAbi::CountReturned);
                placement.what = format!("{} found by signature", placement.what);
                pairs.push(pair(name, write, placement)?);
            }
        }
    }
    Ok(pairs)
}

/// One line for `--list --json` and the picker: where each probe pair sits.
pub fn describe(pairs: &[ProbePair]) -> String {
    pairs
        .iter()
        .map(|p| p.placement.what.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}
