//! Go `crypto/tls` probes. Go passes arguments in registers (ABIInternal, Go ≥ 1.17) and keeps the
//! current goroutine in R14; goroutines move between threads, so a read's entry and completion
//! are paired by (tgid, goroutine), never by thread. No return probes: Go moves stacks, and a
//! uretprobe's rewritten return address crashes it.
//!
//! Every program here is attached by userspace at a site it chose by decoding the function (an
//! instruction the kernel emulates, while the argument registers are intact). `_jbe` variants sit
//! on the stack-check branch of Go < 1.21, whose taken hits are ignored: the function restarts
//! after growing its stack and hits the probe again.
use aya_ebpf::{
    bindings::pt_regs,
    helpers::{bpf_get_current_pid_tgid, bpf_probe_read_user},
    macros::{map, uprobe},
    maps::LruHashMap,
    programs::ProbeContext,
};
use capture_ebpf::*;

use crate::probes::{count, emit_data, emit_small, header, is_target};

/// `(*Conn).Read` calls in flight: entry arguments by (tgid, goroutine). LRU: a goroutine that
/// dies inside Read would otherwise leak its entry.
#[map]
static GO_READS: LruHashMap<GoKey, CallArgs> = LruHashMap::with_max_entries(16384, 0);

/// Carry and zero flags: `jbe` is taken when either is set.
const CF_ZF: u64 = 0x1 | 0x40;

fn regs(ctx: &ProbeContext) -> &pt_regs {
    // SAFETY: a uprobe's context is the traced task's saved user registers.
    unsafe { &*ctx.regs }
}

/// The calling goroutine of a target process, or None (not a target, or a taken stack-check
/// branch on a `_jbe` site).
#[inline(always)]
fn goroutine(r: &pt_regs, jbe: bool) -> Option<GoKey> {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    if !is_target(tgid) || (jbe && r.eflags & CF_ZF != 0) {
        return None;
    }
    Some(GoKey {
        tgid,
        _pad: 0,
        g: r.r14,
    })
}

/// The socket fd behind a `*tls.Conn`: its first field is the `net.Conn` interface (itab,
/// data); for a TCP connection data is a `*net.TCPConn`, whose first word is the `*netFD`, whose
/// `pfd.Sysfd` sits at 16 (Go 1.17–1.26). Memory is only read; userspace accepts the fd only if
/// it is a socket of that process, so a connection of another type costs at most "peer unknown".
#[inline(always)]
fn conn_fd(conn: u64) -> i32 {
    // SAFETY: a checked helper read of the traced process's memory (a fault is an error).
    let Ok(data) = (unsafe { bpf_probe_read_user((conn + 8) as *const u64) }) else {
        return -1;
    };
    // SAFETY: as above.
    let Ok(netfd) = (unsafe { bpf_probe_read_user(data as *const u64) }) else {
        return -1;
    };
    // SAFETY: as above.
    match unsafe { bpf_probe_read_user((netfd + 16) as *const i64) } {
        Ok(fd) if (0..1 << 24).contains(&fd) => fd as i32,
        _ => -1,
    }
}

/// `(*Conn).Write(b)`: RAX = the conn, RBX/RCX = b's pointer and length. The plaintext is
/// complete at entry.
#[inline(always)]
fn write_entry(ctx: &ProbeContext, jbe: bool) -> u32 {
    let r = regs(ctx);
    if goroutine(r, jbe).is_none() || r.rcx == 0 {
        return 0;
    }
    let args = CallArgs {
        ssl: r.rax,
        buf: r.rbx,
        len_ptr: 0,
        fd: conn_fd(r.rax),
        dir: DIR_WRITE,
        active: 1,
        _pad: [0; 2],
    };
    emit_data(&args, r.rcx);
    0
}

/// `(*Conn).Read(b)` entry: remember the conn and b until the bytes are known.
#[inline(always)]
fn read_entry(ctx: &ProbeContext, jbe: bool) -> u32 {
    let r = regs(ctx);
    let Some(key) = goroutine(r, jbe) else {
        return 0;
    };
    let args = CallArgs {
        ssl: r.rax,
        buf: r.rbx,
        // Holds b's length here: the copy must fit in it.
        len_ptr: r.rcx,
        fd: conn_fd(r.rax),
        dir: DIR_READ,
        active: 1,
        _pad: [0; 2],
    };
    if GO_READS.insert(key, args, 0).is_err() {
        count(CTR_GO_UNPAIRED, 1);
    }
    0
}

/// The read's entry for this goroutine, removed.
#[inline(always)]
fn take_read(key: &GoKey) -> Option<CallArgs> {
    // SAFETY: copied out before the entry is removed.
    let args = unsafe { GO_READS.get(key) }.copied();
    if args.is_some() {
        let _ = GO_READS.remove(key);
    }
    args
}

#[uprobe]
pub fn go_write(ctx: ProbeContext) -> u32 {
    write_entry(&ctx, false)
}

#[uprobe]
pub fn go_write_jbe(ctx: ProbeContext) -> u32 {
    write_entry(&ctx, true)
}

#[uprobe]
pub fn go_read(ctx: ProbeContext) -> u32 {
    read_entry(&ctx, false)
}

#[uprobe]
pub fn go_read_jbe(ctx: ProbeContext) -> u32 {
    read_entry(&ctx, true)
}

/// On `(*Conn).Read`'s one `call runtime.memmove`, which copies the decrypted bytes into b:
/// RAX = dst (b), RBX = src, RCX = n. The source already holds the plaintext.
#[uprobe]
pub fn go_read_copy(ctx: ProbeContext) -> u32 {
    let r = regs(&ctx);
    let Some(key) = goroutine(r, false) else {
        return 0;
    };
    let Some(mut args) = take_read(&key) else {
        count(CTR_GO_UNPAIRED, 1);
        return 0;
    };
    // The copy this site was validated for goes into b; anything else is not this Read's data.
    if r.rax != args.buf || r.rcx > args.len_ptr || r.rcx == 0 {
        return 0;
    }
    args.buf = r.rbx;
    args.len_ptr = 0;
    emit_data(&args, r.rcx);
    0
}

/// On each `ret` of `(*Conn).Read` (when no unique copy site was found): RAX = n.
#[uprobe]
pub fn go_read_ret(ctx: ProbeContext) -> u32 {
    let r = regs(&ctx);
    let Some(key) = goroutine(r, false) else {
        return 0;
    };
    let Some(mut args) = take_read(&key) else {
        return 0;
    };
    let n = r.rax as i64;
    if n <= 0 || n as u64 > args.len_ptr {
        return 0;
    }
    args.len_ptr = 0;
    emit_data(&args, n as u64);
    0
}

#[inline(always)]
fn close_entry(ctx: &ProbeContext, jbe: bool) -> u32 {
    let r = regs(ctx);
    if goroutine(r, jbe).is_some() && r.rax != 0 {
        emit_small(&header(KIND_CLOSE, r.rax, -1));
    }
    0
}

/// `(*Conn).Close`: a later conn at the same address is a new connection.
#[uprobe]
pub fn go_close(ctx: ProbeContext) -> u32 {
    close_entry(&ctx, false)
}

#[uprobe]
pub fn go_close_jbe(ctx: ProbeContext) -> u32 {
    close_entry(&ctx, true)
}
