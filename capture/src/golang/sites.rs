//! Where to put the uprobes in Go's `crypto/tls`: pure functions, machine code in, probe sites
//! out.
//!
//! Go (≥ 1.17, ABIInternal on amd64) passes arguments in registers: a method's receiver in
//! `%rax`, then `%rbx`, `%rcx`, ... For `(*Conn).Write(b []byte)` / `(*Conn).Read(b []byte)` that
//! is `%rax` = `*Conn`, `%rbx` = buffer pointer, `%rcx` = length. The probe must sit where those
//! are still intact, and — a probe on the function's first instruction (`cmp 0x10(%r14),%rsp`, the
//! stack-guard check) being single-stepped by the kernel — preferably on an instruction the kernel
//! emulates (see [`crate::x86`]). Go's prologues:
//!
//! ```text
//! Go ≥ 1.21:    cmp 0x10(%r14),%rsp; jbe <morestack>; push %rbp; mov %rsp,%rbp; sub $N,%rsp
//! Go 1.17–1.20: cmp 0x10(%r14),%rsp; jbe <morestack>; sub $N,%rsp; mov %rbp,M(%rsp); ...
//! large frames: lea -N(%rsp),%r12; cmp 0x10(%r14),%r12; jbe <morestack>; ...
//! ```
//!
//! The `push %rbp` runs once per call: the site of choice. Before Go 1.21 there is none, and the
//! emulated instruction left is the stack-check `jbe`. That one runs once more per stack growth:
//! when the branch is taken, morestack grows the stack and re-enters the function from its
//! entry, which hits the probe again. So a `jbe` site is [`SiteKind::SkipIfJbeTaken`]: the probe
//! ignores hits where the branch will be taken (CF or ZF set), and counts the call on the hit
//! that falls through.
//!
//! Every address returned is an instruction start found by decoding linearly from the function's
//! entry: a uprobe anywhere else corrupts the target's code. Go puts no data in its text, so
//! linear decoding is exact.

use crate::x86::{self, Emulation, Instruction, Register};

/// The stack-guard walk looks at most this far into a function: Go's prologue is a handful of
/// instructions, and anything further is the function body.
const PROLOGUE_BYTES: u64 = 64;

/// The machine code of one function, `code[0]` being the byte at `entry`. `code` should end at
/// the function's end (padding `int3`s after it are harmless).
#[derive(Clone, Copy, Debug)]
pub struct FuncCode<'a> {
    pub entry: u64,
    pub code: &'a [u8],
}

/// How the probe program must treat hits on a site.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SiteKind {
    /// Every hit is one execution of interest.
    Unconditional,
    /// The site is Go's stack-check `jbe` (`76` / `0f 86`) to the stack-growth path. Hits where
    /// the branch is taken (CF or ZF set) must be ignored: the function restarts from its entry
    /// after growing the stack and hits again.
    SkipIfJbeTaken,
}

/// One probe site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    /// Virtual address of the instruction's first byte.
    pub addr: u64,
    pub kind: SiteKind,
    /// What was chosen, for logs: `push %rbp at +0xd (emulated)`.
    pub what: String,
}

/// Where to probe Go's `crypto/tls`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoTlsSites {
    /// `(*Conn).Write`: `%rax` = `*Conn`, `%rbx` = buffer, `%rcx` = length still intact.
    pub write_entry: Site,
    /// `(*Conn).Read`: `%rax` = `*Conn`, `%rbx` = buffer, `%rcx` = length still intact.
    pub read_entry: Site,
    /// The single `call runtime.memmove` in Read (the copy of plaintext into the caller's buffer:
    /// `%rax` = dst, `%rbx` = src, `%rcx` = n at the call), or `None` when there is not exactly
    /// one; then `read_rets` complete reads.
    pub read_copy: Option<Site>,
    /// Every `ret` of Read (single-stepped), in address order.
    pub read_rets: Vec<Site>,
    /// `(*Conn).Close`: `%rax` = `*Conn` intact. `None` when Close was not given or has no
    /// emulated site before `%rax` is used.
    pub close_entry: Option<Site>,
}

/// An emulated site near `f`'s entry at which the registers `args` still hold the function's
/// arguments: the first emulated `push reg` (once per call), else the stack-check `jbe` (see
/// [`SiteKind::SkipIfJbeTaken`]). The walk from the entry stops at the first instruction that
/// writes one of `args`, at any control transfer other than the stack-check `jbe`, and after
/// [`PROLOGUE_BYTES`]. `Err` when it finds neither; the single-stepped entry is the caller's call.
pub fn entry_site(f: &FuncCode, args: &[Register]) -> Result<Site, String> {
    let insns = x86::decode(f.code, f.entry);
    let mut stack_check: Option<&Instruction> = None;
    let mut prev: Option<&Instruction> = None;
    let mut stopped = format!(
        "decoding ended at +{:#x}",
        insns.last().map_or(0, |i| offset(f, i.next_ip()))
    );
    for i in &insns {
        let off = offset(f, i.ip());
        if off >= PROLOGUE_BYTES {
            stopped = format!("no site in the first {PROLOGUE_BYTES} bytes");
            break;
        }
        if let Some(r) = args.iter().find(|r| x86::writes_reg(i, **r)) {
            stopped = format!("{} at +{off:#x} writes {r:?}", x86::gas(i));
            break;
        }
        let emulated =
            x86::emulation(i, x86::insn_bytes(f.code, f.entry, i)) == Emulation::Emulated;
        if emulated && i.mnemonic() == iced_x86::Mnemonic::Push {
            return Ok(site(f, i, SiteKind::Unconditional));
        }
        if x86::is_control_transfer(i) {
            if stack_check.is_none() && emulated && is_stack_check_jbe(f, prev, i) {
                stack_check = Some(i);
            } else {
                stopped = format!("{} at +{off:#x} transfers control", x86::gas(i));
                break;
            }
        }
        prev = Some(i);
    }
    match stack_check {
        Some(i) => Ok(site(f, i, SiteKind::SkipIfJbeTaken)),
        None => Err(format!(
            "no emulated instruction before the arguments are used: {stopped}"
        )),
    }
}

/// Go's stack-check branch: a `jbe` into the function itself (Go puts the morestack call at the
/// end of the function) right after a `cmp` against the stack guard `g.stackguard0`, which is
/// `0x10(%r14)` with `%r14` = `g` under ABIInternal.
fn is_stack_check_jbe(f: &FuncCode, prev: Option<&Instruction>, i: &Instruction) -> bool {
    let jbe = i.is_jcc_short_or_near() && i.condition_code() == iced_x86::ConditionCode::be;
    // Compared as offsets from the entry, which stay right where addresses wrap around.
    let inside = x86::branch_target(i)
        .is_some_and(|t| offset(f, t) > offset(f, i.ip()) && offset(f, t) < f.code.len() as u64);
    jbe && inside && prev.is_some_and(is_stack_guard_cmp)
}

/// `cmp 0x10(%r14),%rsp` (or `%r12` for large frames).
fn is_stack_guard_cmp(i: &Instruction) -> bool {
    i.mnemonic() == iced_x86::Mnemonic::Cmp
        && (0..i.op_count()).any(|n| i.op_kind(n) == iced_x86::OpKind::Memory)
        && i.memory_base() == Register::R14
        && i.memory_index() == Register::None
        && i.memory_displacement64() == 0x10
}

/// `addr` as an offset from `f`'s entry. Decoding wraps around at the top of the address space, so
/// this does too (and never panics).
fn offset(f: &FuncCode, addr: u64) -> u64 {
    addr.wrapping_sub(f.entry)
}

fn site(f: &FuncCode, i: &Instruction, kind: SiteKind) -> Site {
    let emulation = x86::emulation(i, x86::insn_bytes(f.code, f.entry, i));
    let mut what = format!(
        "{} at +{:#x} ({})",
        x86::gas(i),
        offset(f, i.ip()),
        emulation.as_str()
    );
    if kind == SiteKind::SkipIfJbeTaken {
        what.push_str("; hits that take the branch are skipped");
    }
    Site {
        addr: i.ip(),
        kind,
        what,
    }
}

/// The probe sites for Go's `crypto/tls`: `(*Conn).Write`, `(*Conn).Read` and optionally
/// `(*Conn).Close`, given their machine code, and the entry address of `runtime.memmove`.
/// `Err` when Write or Read has no emulated entry site or Read does not decode to its end.
pub fn go_tls_sites(
    write: &FuncCode,
    read: &FuncCode,
    close: Option<&FuncCode>,
    memmove_entry: u64,
) -> Result<GoTlsSites, String> {
    const BUF_ARGS: [Register; 3] = [Register::RAX, Register::RBX, Register::RCX];
    let write_entry = entry_site(write, &BUF_ARGS).map_err(|e| format!("Write: {e}"))?;
    let read_entry = entry_site(read, &BUF_ARGS).map_err(|e| format!("Read: {e}"))?;
    // Close only tells us a connection ended; without a site we learn that some other way.
    let close_entry = close.and_then(|c| entry_site(c, &[Register::RAX]).ok());

    let insns = x86::decode(read.code, read.entry);
    let decoded = insns.last().map_or(0, |i| offset(read, i.next_ip()));
    // A decode that stops early would hide rets and memmove calls; Go has no data in its text, so
    // only padding may follow.
    let rest = read.code.get(decoded as usize..).unwrap_or(&[]);
    if rest.iter().any(|b| *b != 0xcc && *b != 0x00) {
        return Err(format!(
            "Read: linear decoding stopped at +{decoded:#x} of {:#x} bytes",
            read.code.len()
        ));
    }
    let copies: Vec<&Instruction> = insns
        .iter()
        .filter(|i| x86::call_target(i) == Some(memmove_entry))
        .collect();
    let read_copy = match copies.as_slice() {
        [one] => Some(site(read, one, SiteKind::Unconditional)),
        _ => None,
    };
    let read_rets = insns
        .iter()
        .filter(|i| x86::is_ret(i))
        .map(|i| site(read, i, SiteKind::Unconditional))
        .collect();
    Ok(GoTlsSites {
        write_entry,
        read_entry,
        read_copy,
        read_rets,
        close_entry,
    })
}
