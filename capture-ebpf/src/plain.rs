//! Plain (non-TLS) sockets.
//!
//! A target's TCP sockets are tracked from `socket()` (AF_INET/AF_INET6, SOCK_STREAM) and
//! `accept()` on a tracked listener; userspace adds the ones that existed before attach. Reads and
//! writes on them are saved at syscall entry and copied out at exit, unless the thread is inside
//! an SSL call (ciphertext) or the socket's first bytes were a TLS record (a handshake made outside
//! SSL_read/SSL_write, or a TLS library without probes).
use aya_ebpf::{
    helpers::{
        bpf_get_current_pid_tgid,
        generated::{bpf_loop, bpf_probe_read_user},
    },
    macros::{btf_tracepoint, map},
    maps::{HashMap, LruHashMap, PerCpuArray},
    programs::BtfTracePointContext,
};
use capture_ebpf::*;

use crate::probes::{
    active_call, count, emit_small, header, insert_counted, is_target, submit_chunk, EVENTS,
    SCRATCH,
};

/// TCP sockets of targets: `socket_key(tgid, fd)` → generation and state.
#[map]
static SOCKETS: HashMap<u64, SocketInfo> = HashMap::with_max_entries(65536, 0);

/// Sockets created so far on each CPU: with the CPU's number, successive sockets on one fd get
/// distinct generations (a clock read could repeat modulo the key's bits). Per CPU because the
/// BPF target has no atomic fetch-and-add in Rust.
#[map]
static SOCK_SEQ: PerCpuArray<u32> = PerCpuArray::with_max_entries(1, 0);
// The maps of calls in flight are LRU: a thread killed inside a syscall never removes its entry,
// and such entries must make room rather than fill the map.
/// Plain socket reads and writes in flight, by thread.
#[map]
static PLAIN: LruHashMap<u64, PlainCall> = LruHashMap::with_max_entries(16384, 0);
/// `socket()`/`accept()` calls in flight whose result is a target's TCP socket, by thread.
#[map]
static NEW_SOCK: LruHashMap<u64, u8> = LruHashMap::with_max_entries(16384, 0);
/// `connect()`/`accept()` calls in flight on tracked sockets: (sockaddr pointer, fd), by thread.
#[map]
static ADDR_CALLS: LruHashMap<u64, [u64; 2]> = LruHashMap::with_max_entries(16384, 0);
/// The tracked socket each thread last read from outside an SSL call, until its next SSL read
/// that makes no syscall of its own takes it: a TLS library on memory BIOs (gRPC, netty) reads
/// the ciphertext from the socket itself and then calls `SSL_read` (see `probes::finish_call`).
#[map]
static LAST_READ: LruHashMap<u64, i32> = LruHashMap::with_max_entries(16384, 0);

/// The socket this thread read from since its last SSL read without a syscall, taken (used
/// once), or -1.
pub(crate) fn take_last_read(id: u64) -> i32 {
    // SAFETY: value copied out.
    match unsafe { LAST_READ.get(id) } {
        Some(fd) => {
            let fd = *fd;
            let _ = LAST_READ.remove(id);
            fd
        }
        None => -1,
    }
}

const MODE_BUF: u8 = 0;
const MODE_VEC: u8 = 1;
const MODE_MSG: u8 = 2;
const MSG_PEEK: u64 = 2;
const AF_INET: u64 = 2;
const AF_INET6: u64 = 10;
const SOCK_STREAM: u64 = 1;

/// A read or write entering: saved for its exit when it is on a target's plain TCP socket.
/// `flags_arg` is the index of the flags argument (MSG_PEEK reads are skipped), if any.
#[inline(always)]
fn io_enter(a: &Regs, dir: u8, mode: u8, flags_arg: Option<usize>) -> u32 {
    let id = bpf_get_current_pid_tgid();
    let tgid = (id >> 32) as u32;
    // Every process's reads and writes come here: the others leave after one lookup.
    if !is_target(tgid) {
        return 0;
    }
    let fd = a.arg(0);
    if let Some(args) = active_call(id) {
        // Inside an SSL call: the syscall reveals the connection's fd, and its bytes are
        // ciphertext.
        // SAFETY: map value owned by this thread's in-flight call.
        unsafe { (*args).fd = fd as i32 };
        return 0;
    }
    let sock = socket_key(tgid, fd as u32);
    // SAFETY: value copied out.
    let info = match unsafe { SOCKETS.get(sock) } {
        Some(i) => *i,
        None => return 0,
    };
    if dir == DIR_READ {
        insert_counted!(LAST_READ, &id, &(fd as i32));
    }
    if info.state == SOCK_TLS {
        return 0;
    }
    if let Some(f) = flags_arg {
        if a.arg(f) & MSG_PEEK != 0 {
            return 0;
        }
    }
    let p = a.arg(1);
    let (buf, iovcnt) = match mode {
        MODE_BUF => (p, 0),
        MODE_VEC => (p, a.arg(2)),
        _ => {
            // struct user_msghdr: msg_iov at 16, msg_iovlen at 24. Read, never written.
            // SAFETY: checked helper reads of the traced process's memory.
            let iov = unsafe { aya_ebpf::helpers::bpf_probe_read_user((p + 16) as *const u64) }
                .unwrap_or(0);
            // SAFETY: as above.
            let n = unsafe { aya_ebpf::helpers::bpf_probe_read_user((p + 24) as *const u64) }
                .unwrap_or(0);
            (iov, n)
        }
    };
    if buf == 0 || (mode != MODE_BUF && iovcnt == 0) {
        return 0;
    }
    let call = PlainCall {
        sock,
        buf,
        iovcnt,
        gen: info.gen,
        fd: fd as i32,
        dir,
        _pad: [0; 7],
    };
    insert_counted!(PLAIN, &id, &call);
    0
}

/// A read or write returning `ret`: emits the bytes transferred.
fn io_exit(ret: i64) -> u32 {
    let id = bpf_get_current_pid_tgid();
    // SAFETY: copied out before the entry is removed.
    let call = match unsafe { PLAIN.get(id) } {
        Some(c) => *c,
        None => return 0,
    };
    let _ = PLAIN.remove(id);
    if ret > 0 {
        emit_plain(&call, ret as u64);
    }
    0
}

/// State of [`emit_plain`]'s loop: the segment being copied and the iovecs still to load. Kept
/// in a per-CPU map rather than on the stack: the verifier follows stack values exactly through
/// each iteration (offset 0, 16 KiB, 32 KiB, ...) and never converges, map values it does not.
#[map]
static IOLOOP: PerCpuArray<IoLoop> = PerCpuArray::with_max_entries(1, 0);

#[repr(C)]
struct IoLoop {
    header: EventHeader,
    sock: u64,
    /// Next `struct iovec` to load.
    iov: u64,
    iov_left: u64,
    seg: u64,
    seg_left: u64,
    /// Bytes of the call (its return value) still to copy.
    remaining: u64,
    offset: u64,
}

fn emit_plain(call: &PlainCall, len: u64) {
    let total = if len > u32::MAX as u64 {
        u32::MAX
    } else {
        len as u32
    };
    let mut h = header(KIND_DATA, plain_conn(call.fd as u32, call.gen), call.fd);
    h.dir = call.dir;
    h.total = total;
    h.flags = FLAG_PLAIN;
    let (iov, iov_left, seg, seg_left) = if call.iovcnt == 0 {
        (0, 0, call.buf, total as u64)
    } else {
        let n = if call.iovcnt > MAX_IOVECS as u64 {
            MAX_IOVECS as u64
        } else {
            call.iovcnt
        };
        (call.buf, n, 0, 0)
    };
    let Some(lp) = IOLOOP.get_ptr_mut(0) else {
        count(CTR_NO_SCRATCH, 1);
        return;
    };
    // SAFETY: this CPU's slot; programs do not nest on one CPU.
    let lp = unsafe { &mut *lp };
    *lp = IoLoop {
        header: h,
        sock: call.sock,
        iov,
        iov_left,
        seg,
        seg_left,
        remaining: total as u64,
        offset: 0,
    };
    // SAFETY: the callback takes no context; it finds its state in IOLOOP.
    unsafe {
        bpf_loop(
            MAX_CHUNKS + MAX_IOVECS,
            emit_plain_step as *mut core::ffi::c_void,
            core::ptr::null_mut(),
            0,
        )
    };
    if lp.remaining > 0 {
        count(CTR_TRUNCATED_BYTES, lp.remaining);
    }
}

fn is_tls_record(b0: u8, b1: u8, b2: u8) -> bool {
    // ContentType change_cipher_spec..application_data, legacy version 3.x.
    (0x14..=0x17).contains(&b0) && b1 == 3 && b2 <= 4
}

/// One step of [`emit_plain`]: loads the next iovec, or emits one chunk of the current segment.
/// Returns 1 to stop.
#[inline(never)]
extern "C" fn emit_plain_step(_index: u64, _ctx: *mut core::ffi::c_void) -> i64 {
    let Some(lp) = IOLOOP.get_ptr_mut(0) else {
        return 1;
    };
    // SAFETY: this CPU's slot, filled by emit_plain.
    let lp = unsafe { &mut *lp };
    if lp.remaining == 0 {
        return 1;
    }
    if lp.seg_left == 0 {
        if lp.iov_left == 0 {
            return 1;
        }
        // SAFETY: reads one `struct iovec` of the traced process with a checked helper.
        match unsafe { aya_ebpf::helpers::bpf_probe_read_user(lp.iov as *const [u64; 2]) } {
            Ok(v) => {
                lp.seg = v[0];
                lp.seg_left = v[1];
            }
            Err(_) => {
                count(CTR_READ_FAULT, 1);
                return 1;
            }
        }
        lp.iov += 16;
        lp.iov_left -= 1;
        return 0;
    }
    let Some(ev) = SCRATCH.get_ptr_mut(0) else {
        count(CTR_NO_SCRATCH, 1);
        return 1;
    };
    let mut want = lp.seg_left;
    if want > lp.remaining {
        want = lp.remaining;
    }
    if want > CHUNK_SIZE as u64 {
        want = CHUNK_SIZE as u64;
    }
    let mut n = want as u32;
    if n > CHUNK_SIZE as u32 {
        n = CHUNK_SIZE as u32;
    }
    // SAFETY: `ev` points at this CPU's scratch slot, used by one program at a time.
    let ev = unsafe { &mut *ev };
    // SAFETY: n ≤ CHUNK_SIZE, the size of `data`; the source is user memory read with a checked helper.
    let r = unsafe {
        bpf_probe_read_user(
            ev.data.as_mut_ptr().cast(),
            n,
            lp.seg as *const core::ffi::c_void,
        )
    };
    if r != 0 {
        count(CTR_READ_FAULT, 1);
        return 1;
    }
    if lp.offset == 0 {
        if let Some(s) = SOCKETS.get_ptr_mut(lp.sock) {
            // SAFETY: this socket's map value; a racing thread at worst decides twice, alike.
            let state = unsafe { (*s).state };
            if state == SOCK_NEW || state == SOCK_UNDECIDED {
                let decided = if n >= 3 {
                    if is_tls_record(ev.data[0], ev.data[1], ev.data[2]) {
                        // SAFETY: as above.
                        unsafe { (*s).state = SOCK_TLS };
                        lp.remaining = 0;
                        return 1;
                    }
                    SOCK_PLAIN
                } else {
                    SOCK_UNDECIDED
                };
                // SAFETY: as above.
                unsafe { (*s).state = decided };
                if state == SOCK_NEW {
                    // A new connection: this record wakes the reader, which looks up its
                    // addresses while the socket still exists (data records do not wake it).
                    let mut h = lp.header;
                    h.kind = KIND_FD;
                    h.total = 0;
                    emit_small(&h);
                }
            }
        }
    }
    ev.header = lp.header;
    ev.header.offset = lp.offset as u32;
    ev.header.len = n;
    submit_chunk(ev, n);
    lp.seg += n as u64;
    lp.seg_left -= n as u64;
    lp.remaining -= n as u64;
    lp.offset += n as u64;
    0
}

/// `socket()` entry: an AF_INET/AF_INET6 stream socket of a target is tracked once created.
#[inline(always)]
fn sock_enter_socket(a: &Regs) -> u32 {
    let id = bpf_get_current_pid_tgid();
    if !is_target((id >> 32) as u32) {
        return 0;
    }
    let (family, ty) = (a.arg(0), a.arg(1));
    if (family == AF_INET || family == AF_INET6) && ty & 0xf == SOCK_STREAM {
        insert_counted!(NEW_SOCK, &id, &1);
    }
    0
}

/// `accept()`/`accept4()` entry: a connection accepted on a tracked listener is tracked.
#[inline(always)]
fn sock_enter_accept(a: &Regs) -> u32 {
    let id = bpf_get_current_pid_tgid();
    let fd = a.arg(0);
    let sock = socket_key((id >> 32) as u32, fd as u32);
    // SAFETY: presence check only.
    if unsafe { SOCKETS.get(sock).is_some() } {
        insert_counted!(NEW_SOCK, &id, &1);
        let addr = a.arg(1);
        if addr != 0 {
            insert_counted!(ADDR_CALLS, &id, &[addr, fd]);
        }
    }
    0
}

/// `connect()` entry on a tracked socket: the peer address is reported once connected.
#[inline(always)]
fn sock_enter_connect(a: &Regs) -> u32 {
    let id = bpf_get_current_pid_tgid();
    let fd = a.arg(0);
    let sock = socket_key((id >> 32) as u32, fd as u32);
    // SAFETY: presence check only.
    if unsafe { SOCKETS.get(sock).is_some() } {
        let addr = a.arg(1);
        if addr != 0 {
            insert_counted!(ADDR_CALLS, &id, &[addr, fd]);
        }
    }
    0
}

fn sock_exit_connect(ret: i64) -> u32 {
    let id = bpf_get_current_pid_tgid();
    // SAFETY: copied out before removal.
    let call = match unsafe { ADDR_CALLS.get(id) } {
        Some(c) => *c,
        None => return 0,
    };
    let _ = ADDR_CALLS.remove(id);
    // 0, or -EINPROGRESS on a non-blocking socket.
    if ret != 0 && ret != -115 {
        return 0;
    }
    let fd = call[1] as u32;
    // SAFETY: value copied out.
    if let Some(info) = unsafe { SOCKETS.get(socket_key((id >> 32) as u32, fd)) } {
        emit_addr(fd, info.gen, call[0], u32::MAX);
    }
    0
}

/// Reports the peer `sockaddr` at `addr` (the process's memory, only read) for socket `fd`.
fn emit_addr(fd: u32, gen: u32, addr: u64, listener: u32) {
    // SAFETY: checked helper read of the traced process's memory.
    let Ok(raw) =
        (unsafe { aya_ebpf::helpers::bpf_probe_read_user(addr as *const [u8; SOCKADDR_LEN]) })
    else {
        return;
    };
    let mut h = header(KIND_ADDR, plain_conn(fd, gen), fd as i32);
    h.flags = FLAG_PLAIN;
    h.total = listener;
    let ev = AddrEvent {
        header: h,
        addr: raw,
        _pad: [0; 4],
    };
    if EVENTS.output::<AddrEvent>(&ev, 0).is_err() {
        count(CTR_RING_FULL, 1);
    }
}

/// Exit of `socket()`, `accept()`, `accept4()`: the returned fd is a new connection.
fn sock_exit_new(ret: i64) -> u32 {
    let id = bpf_get_current_pid_tgid();
    // SAFETY: presence check only.
    if unsafe { NEW_SOCK.get(id).is_none() } {
        return 0;
    }
    let _ = NEW_SOCK.remove(id);
    if ret < 0 {
        return 0;
    }
    let info = SocketInfo {
        gen: next_gen(),
        state: SOCK_NEW,
    };
    insert_counted!(SOCKETS, &socket_key((id >> 32) as u32, ret as u32), &info);
    // SAFETY: copied out before removal.
    if let Some(call) = unsafe { ADDR_CALLS.get(id) }.copied() {
        let _ = ADDR_CALLS.remove(id);
        emit_addr(ret as u32, info.gen, call[0], call[1] as u32);
    }
    0
}

/// The next kernel generation, in `0..=KERNEL_GEN_MAX` (user space seeds from above it).
#[inline(always)]
fn next_gen() -> u32 {
    let Some(p) = SOCK_SEQ.get_ptr_mut(0) else {
        return 0;
    };
    // SAFETY: this CPU's slot; no other program writes it while this one runs here.
    let seq = unsafe {
        *p = (*p).wrapping_add(1);
        *p
    };
    // SAFETY: helper with no arguments.
    let cpu = unsafe { aya_ebpf::helpers::bpf_get_smp_processor_id() };
    // 6 bits of CPU, 9 of sequence: 512 sockets on one CPU before a generation repeats.
    ((seq << 6) | (cpu & 0x3F)) & KERNEL_GEN_MAX
}

/// `close()` entry: the socket's connection ends; its fd may be reused by another.
#[inline(always)]
fn sock_enter_close(a: &Regs) -> u32 {
    let id = bpf_get_current_pid_tgid();
    let fd = a.arg(0);
    let sock = socket_key((id >> 32) as u32, fd as u32);
    // SAFETY: value copied out.
    let info = match unsafe { SOCKETS.get(sock) } {
        Some(i) => *i,
        None => return 0,
    };
    let _ = SOCKETS.remove(sock);
    if info.state == SOCK_PLAIN || info.state == SOCK_UNDECIDED {
        let mut h = header(KIND_CLOSE, plain_conn(fd as u32, info.gen), fd as i32);
        h.flags = FLAG_PLAIN;
        emit_small(&h);
    }
    0
}

// x86-64 system call numbers (`arch/x86/entry/syscalls/syscall_64.tbl`, a stable ABI).
const NR_READ: u64 = 0;
const NR_WRITE: u64 = 1;
const NR_CLOSE: u64 = 3;
const NR_MMAP: u64 = 9;
const NR_READV: u64 = 19;
const NR_WRITEV: u64 = 20;
const NR_SOCKET: u64 = 41;
const NR_CONNECT: u64 = 42;
const NR_ACCEPT: u64 = 43;
const NR_SENDTO: u64 = 44;
const NR_RECVFROM: u64 = 45;
const NR_SENDMSG: u64 = 46;
const NR_RECVMSG: u64 = 47;
const NR_ACCEPT4: u64 = 288;

/// The reads and writes: plain capture copies their bytes, and their fd names the socket of
/// an SSL call they are made in.
#[inline(always)]
fn is_io(nr: u64) -> bool {
    matches!(
        nr,
        NR_READ
            | NR_WRITE
            | NR_READV
            | NR_WRITEV
            | NR_SENDTO
            | NR_RECVFROM
            | NR_SENDMSG
            | NR_RECVMSG
    )
}

/// The saved user registers of a system call (`struct pt_regs`, x86-64), as the BTF-typed
/// `sys_enter`/`sys_exit` tracepoints pass them: read with plain loads, which the verifier
/// checks against the kernel's own description of the struct.
pub(crate) struct Regs(*const u64);

impl Regs {
    /// Word indexes in `struct pt_regs` of the six system call arguments: rdi, rsi, rdx, r10,
    /// r8, r9.
    const ARGS: [usize; 6] = [14, 13, 12, 7, 9, 8];
    const ORIG_AX: usize = 15;
    const CS: usize = 17;

    // Inlined, so that every index is a constant where the load is: the verifier accepts
    // fixed-offset loads from a BTF pointer, not computed ones.
    #[inline(always)]
    fn word(&self, i: usize) -> u64 {
        // SAFETY: a trusted BTF pointer from the tracepoint; `i` indexes a field of pt_regs
        // (checked by the verifier at load).
        unsafe { core::ptr::read_volatile(self.0.add(i)) }
    }

    #[inline(always)]
    pub(crate) fn arg(&self, n: usize) -> u64 {
        self.word(Self::ARGS[n])
    }

    /// A 64-bit system call: 32-bit processes' calls arrive here too, numbered differently.
    #[inline(always)]
    fn native(&self) -> bool {
        self.word(Self::CS) == 0x33
    }
}

/// Every system call's entry (one program instead of a tracepoint per call: the per-call
/// tracepoints go through perf's buffer on each hit, and cost a traced server ~6 µs per HTTP
/// request; a BTF tracepoint runs the program directly). Only the calls below do anything.
#[btf_tracepoint(function = "sys_enter")]
pub fn sys_enter(ctx: BtfTracePointContext) -> u32 {
    let a = Regs(ctx.arg(0));
    let nr: u64 = ctx.arg(1);
    if !a.native() {
        return 0;
    }
    match nr {
        NR_WRITE | NR_SENDTO => io_enter(&a, DIR_WRITE, MODE_BUF, None),
        NR_READ => io_enter(&a, DIR_READ, MODE_BUF, None),
        NR_RECVFROM => io_enter(&a, DIR_READ, MODE_BUF, Some(3)),
        NR_WRITEV => io_enter(&a, DIR_WRITE, MODE_VEC, None),
        NR_READV => io_enter(&a, DIR_READ, MODE_VEC, None),
        NR_SENDMSG => io_enter(&a, DIR_WRITE, MODE_MSG, None),
        NR_RECVMSG => io_enter(&a, DIR_READ, MODE_MSG, Some(2)),
        NR_SOCKET => sock_enter_socket(&a),
        NR_ACCEPT | NR_ACCEPT4 => sock_enter_accept(&a),
        NR_CLOSE => sock_enter_close(&a),
        NR_CONNECT => sock_enter_connect(&a),
        _ => 0,
    }
}

/// A target's `mmap` returning: a file mapped executable (the dynamic loader placing a
/// library's code) is reported, so that userspace looks for TLS libraries in it at once rather
/// than at its next rescan, up to 250 ms later, by when a library loaded with `dlopen` may have
/// made its first calls. The arguments are still in the saved registers at exit.
fn map_exit(a: &Regs, ret: i64) -> u32 {
    const PROT_EXEC: u64 = 4;
    // Errors are -4095..-1; any other value is the mapping's address.
    if (-4095..0).contains(&ret) || a.arg(2) & PROT_EXEC == 0 || (a.arg(4) as i32) < 0 {
        return 0;
    }
    if !is_target((bpf_get_current_pid_tgid() >> 32) as u32) {
        return 0;
    }
    emit_small(&header(KIND_MAP_EXEC, 0, -1));
    0
}

/// Every system call's exit; see [`sys_enter`].
#[btf_tracepoint(function = "sys_exit")]
pub fn sys_exit(ctx: BtfTracePointContext) -> u32 {
    let a = Regs(ctx.arg(0));
    let ret: i64 = ctx.arg(1);
    if !a.native() {
        return 0;
    }
    match a.word(Regs::ORIG_AX) {
        nr if is_io(nr) => io_exit(ret),
        NR_CONNECT => sock_exit_connect(ret),
        NR_SOCKET | NR_ACCEPT | NR_ACCEPT4 => sock_exit_new(ret),
        NR_MMAP => map_exit(&a, ret),
        _ => 0,
    }
}

/// With plain capture off: the entries of the calls whose fd reveals the socket behind an
/// in-flight SSL call (the "nested syscall" technique), and nothing else.
#[btf_tracepoint(function = "sys_enter")]
pub fn sys_enter_fd(ctx: BtfTracePointContext) -> u32 {
    let a = Regs(ctx.arg(0));
    let nr: u64 = ctx.arg(1);
    if !a.native() {
        return 0;
    }
    let id = bpf_get_current_pid_tgid();
    // Every process's calls come here: the others leave after one lookup.
    if is_io(nr) && is_target((id >> 32) as u32) {
        if let Some(args) = active_call(id) {
            // SAFETY: map value owned by this thread's in-flight call.
            unsafe { (*args).fd = a.arg(0) as i32 };
        }
    }
    0
}
