use aya_ebpf::{
    bindings::{BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP},
    helpers::{
        bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_ktime_get_ns,
        generated::{bpf_loop, bpf_probe_read_user, bpf_ringbuf_output},
    },
    macros::{map, tracepoint, uprobe, uretprobe},
    maps::{HashMap, LruHashMap, PerCpuArray, RingBuf},
    programs::{ProbeContext, RetProbeContext, TracePointContext},
};
use capture_ebpf::*;

/// Target processes (tgid → 1). Everything else costs one lookup.
#[map]
static TARGETS: HashMap<u32, u8> = HashMap::with_max_entries(8192, 0);
/// Process names (`-n`) whose future execs become targets.
#[map]
static NAMES: HashMap<[u8; COMM_LEN], u8> = HashMap::with_max_entries(64, 0);
/// Arguments of SSL calls, by thread. A thread's entry is kept and reused from call to call (an
/// update and a delete per call were half of the probes' own cost); LRU, so the entries of
/// threads that are gone make room for new ones instead of filling the map.
#[map]
pub(crate) static CALLS: LruHashMap<u64, CallArgs> = LruHashMap::with_max_entries(16384, 0);
/// Bytes of each connection and direction lost to a full ring since its last delivered record:
/// handed to userspace on the next one (`lost_before`), so that a decoder learns of a gap even
/// when whole calls were lost. LRU: a connection that never delivers again only ages out.
#[map]
pub(crate) static LOSSES: LruHashMap<LossKey, u32> = LruHashMap::with_max_entries(4096, 0);
/// Sized by userspace at load (`--ring-size`); RING_SIZE is the default.
#[map]
pub(crate) static EVENTS: RingBuf = RingBuf::with_byte_size(RING_SIZE, 0);

// Load-time settings from userspace (`EbpfLoader::set_global`). Read with `read_volatile`: the
// compiler would otherwise fold in the values below, which are only the defaults.
/// Bytes waiting in the ring past which a data record wakes the reader (a quarter of the ring).
#[unsafe(no_mangle)]
static WAKE_AT_BYTES: u64 = WAKE_AT as u64;
/// Offset of `child_pid` in `sched_process_fork` (20 on 6.18, 44 on 6.1: from the format file).
#[unsafe(no_mangle)]
static FORK_CHILD_PID_OFFSET: u32 = 20;
/// Offset of `group_dead` in `sched_process_exit`; 0 where the kernel has no such field (then
/// userspace watches for exits itself).
#[unsafe(no_mangle)]
static EXIT_GROUP_DEAD_OFFSET: u32 = 32;

fn setting<T: Copy>(v: &T) -> T {
    // SAFETY: a plain read of a static the loader may have rewritten before load.
    unsafe { core::ptr::read_volatile(v) }
}
/// Scratch space for one record (the BPF stack is 512 bytes).
#[map]
pub(crate) static SCRATCH: PerCpuArray<DataEvent> = PerCpuArray::with_max_entries(1, 0);
#[map]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(NUM_COUNTERS, 0);

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}

pub(crate) fn is_target(tgid: u32) -> bool {
    // SAFETY: the value is copied out immediately; map values are never referenced across calls.
    unsafe { TARGETS.get(tgid).is_some() }
}

/// Inserts into a map, counting a failure (map full) as a loss rather than ignoring it.
macro_rules! insert_counted {
    ($map:expr, $k:expr, $v:expr) => {
        if $map.insert($k, $v, 0).is_err() {
            $crate::probes::count(CTR_MAP_FULL, 1);
        }
    };
}
pub(crate) use insert_counted;

pub(crate) fn count(idx: u32, n: u64) {
    if let Some(p) = COUNTERS.get_ptr_mut(idx) {
        // SAFETY: per-CPU slot, no concurrent writer on this CPU while the program runs.
        unsafe { *p += n };
    }
}

pub(crate) fn header(kind: u8, conn: u64, fd: i32) -> EventHeader {
    let id = bpf_get_current_pid_tgid();
    EventHeader {
        // SAFETY: helper with no arguments.
        ts_ns: unsafe { bpf_ktime_get_ns() },
        conn,
        tgid: (id >> 32) as u32,
        tid: id as u32,
        fd,
        kind,
        ..Default::default()
    }
}

/// When this CPU last forced a wakeup of the reader (`bpf_ktime_get_ns`).
#[map]
static LAST_WAKE: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);
/// Least time between two forced wakeups from one CPU.
const WAKE_EVERY_NS: u64 = 1_000_000;

/// Flags for a data record taken at `now`: no wakeup (the reader drains on a short timer, and
/// waking it for every record costs far more than the copy), unless the ring is filling up,
/// when the reader is woken to drain it before records are lost — at most once a millisecond
/// per CPU. A wakeup is an irq_work self-interrupt, an APIC write that traps to the hypervisor
/// in a VM: forced on every record while the ring stayed a quarter full, it was a quarter of
/// the traced server's CPU at 64 KiB bodies, and a reader already awake gains nothing from it.
fn data_flags(now: u64) -> u64 {
    if EVENTS.query(BPF_RB_AVAIL_DATA as u64) <= setting(&WAKE_AT_BYTES) {
        return BPF_RB_NO_WAKEUP as u64;
    }
    match LAST_WAKE.get_ptr_mut(0) {
        // SAFETY: this CPU's slot; programs do not nest on one CPU.
        Some(last) if now.wrapping_sub(unsafe { *last }) >= WAKE_EVERY_NS => {
            // SAFETY: as above.
            unsafe { *last = now };
            BPF_RB_FORCE_WAKEUP as u64
        }
        _ => BPF_RB_NO_WAKEUP as u64,
    }
}

/// Copies the header and the first `n` payload bytes of `ev` (n ≤ CHUNK_SIZE, checked by the
/// caller where the verifier can see it) into the ring buffer; a full ring is counted.
#[inline(always)]
pub(crate) fn submit_chunk(ev: &mut DataEvent, n: u32) {
    let key = LossKey {
        conn: ev.header.conn,
        tgid: ev.header.tgid,
        dir: ev.header.dir as u32,
    };
    // SAFETY: the value is copied out at once.
    let before = unsafe { LOSSES.get(key).copied() }.unwrap_or(0);
    ev.header.lost_before = before;
    let size = HEADER_SIZE as u64 + n as u64;
    // SAFETY: `size` ≤ size_of::<DataEvent>() and `ev` is a valid map value of that size.
    let r = unsafe {
        bpf_ringbuf_output(
            (&raw const EVENTS).cast_mut().cast(),
            (ev as *mut DataEvent).cast(),
            size,
            data_flags(ev.header.ts_ns),
        )
    };
    if r != 0 {
        count(CTR_RING_FULL, 1);
        insert_counted!(LOSSES, &key, &before.saturating_add(n));
    } else if before != 0 {
        let _ = LOSSES.remove(key);
    }
}

pub(crate) fn emit_small(h: &EventHeader) {
    if EVENTS.output::<EventHeader>(h, 0).is_err() {
        count(CTR_RING_FULL, 1);
    }
}

fn save_call(ctx: &ProbeContext, dir: u8, ex: bool) -> u32 {
    let id = bpf_get_current_pid_tgid();
    if !is_target((id >> 32) as u32) {
        return 0;
    }
    let ssl: u64 = ctx.arg(0).unwrap_or(0);
    let buf: u64 = ctx.arg(1).unwrap_or(0);
    let len_ptr: u64 = if ex { ctx.arg(3).unwrap_or(0) } else { 0 };
    let args = CallArgs {
        ssl,
        buf,
        len_ptr,
        fd: -1,
        dir,
        active: 1,
        _pad: [0; 2],
    };
    match CALLS.get_ptr_mut(id) {
        // SAFETY: this thread's own entry; no other program writes it concurrently.
        Some(slot) => unsafe { *slot = args },
        None => insert_counted!(CALLS, &id, &args),
    }
    0
}

/// This thread's SSL call in flight, if any.
#[inline(always)]
pub(crate) fn active_call(id: u64) -> Option<*mut CallArgs> {
    let p = CALLS.get_ptr_mut(id)?;
    // SAFETY: map value pointer from a successful lookup.
    (unsafe { (*p).active } != 0).then_some(p)
}

fn finish_call(ctx: &RetProbeContext) -> u32 {
    let id = bpf_get_current_pid_tgid();
    let Some(slot) = active_call(id) else {
        return 0;
    };
    // SAFETY: this thread's own entry: copied out, then marked finished (kept for the next call).
    let mut args = unsafe {
        (*slot).active = 0;
        *slot
    };
    // Both variants return C `int`: only the low 32 bits of the return register are defined.
    let ret: i32 = ctx.ret();
    let len: u64 = if args.len_ptr != 0 {
        if ret != 1 {
            return 0;
        }
        // SAFETY: reads a size_t from the traced process; a fault is reported, not dereferenced.
        match unsafe { aya_ebpf::helpers::bpf_probe_read_user(args.len_ptr as *const u64) } {
            Ok(n) => n,
            Err(_) => {
                count(CTR_READ_FAULT, 1);
                return 0;
            }
        }
    } else {
        if ret <= 0 {
            return 0;
        }
        ret as u64
    };
    // A read that made no syscall (a memory BIO): the socket the thread read from just before
    // is its connection's, as far as can be told.
    if args.fd < 0 && args.dir == DIR_READ {
        args.fd = crate::plain::take_last_read(id);
    }
    emit_data(&args, len);
    0
}

/// What each `bpf_loop` iteration of [`emit_data`] needs: scalars only, so the callback's view
/// of the caller's stack stays simple for the verifier.
#[repr(C)]
struct ChunkLoop {
    header: EventHeader,
    buf: u64,
}

/// Copies `len` bytes at `args.buf` into the ring buffer, in chunks that carry their offset.
/// `bpf_loop` keeps verification cost flat: an unrolled 256-chunk loop exceeds the verifier's
/// instruction budget.
pub(crate) fn emit_data(args: &CallArgs, len: u64) {
    let total = if len > u32::MAX as u64 {
        u32::MAX
    } else {
        len as u32
    };
    let mut h = header(KIND_DATA, args.ssl, args.fd);
    h.dir = args.dir;
    h.total = total;
    let mut lp = ChunkLoop {
        header: h,
        buf: args.buf,
    };
    let chunks = total.div_ceil(CHUNK_SIZE as u32);
    let chunks = if chunks > MAX_CHUNKS {
        MAX_CHUNKS
    } else {
        chunks
    };
    // SAFETY: the callback only reads the `ChunkLoop` on this stack frame, which outlives the
    // call; bpf_loop runs the callback synchronously.
    unsafe {
        bpf_loop(
            chunks,
            emit_chunk as *mut core::ffi::c_void,
            (&raw mut lp).cast(),
            0,
        )
    };
    let sent = chunks as u64 * CHUNK_SIZE as u64;
    if (total as u64) > sent {
        count(CTR_TRUNCATED_BYTES, total as u64 - sent);
    }
}

/// One chunk of [`emit_data`]; returns 1 to stop the loop.
#[inline(never)]
extern "C" fn emit_chunk(index: u64, ctx: *mut core::ffi::c_void) -> i64 {
    // SAFETY: `ctx` is the `ChunkLoop` passed by emit_data.
    let lp = unsafe { &*(ctx as *const ChunkLoop) };
    let Some(ev) = SCRATCH.get_ptr_mut(0) else {
        count(CTR_NO_SCRATCH, 1);
        return 1;
    };
    let offset = (index as u32).wrapping_mul(CHUNK_SIZE as u32);
    let total = lp.header.total;
    if offset >= total {
        return 1;
    }
    let mut n = total - offset;
    if n > CHUNK_SIZE as u32 {
        n = CHUNK_SIZE as u32;
    }
    // SAFETY: `ev` points at this CPU's scratch slot, used by one program at a time.
    let ev = unsafe { &mut *ev };
    ev.header = lp.header;
    ev.header.offset = offset;
    ev.header.len = n;
    // SAFETY: n ≤ CHUNK_SIZE, the size of `data`; the source is user memory read with a checked helper.
    let r = unsafe {
        bpf_probe_read_user(
            ev.data.as_mut_ptr().cast(),
            n,
            (lp.buf + offset as u64) as *const core::ffi::c_void,
        )
    };
    if r != 0 {
        count(CTR_READ_FAULT, 1);
        return 1;
    }
    submit_chunk(ev, n);
    0
}

#[uprobe]
pub fn ssl_write(ctx: ProbeContext) -> u32 {
    save_call(&ctx, DIR_WRITE, false)
}

#[uprobe]
pub fn ssl_write_ex(ctx: ProbeContext) -> u32 {
    save_call(&ctx, DIR_WRITE, true)
}

#[uprobe]
pub fn ssl_read(ctx: ProbeContext) -> u32 {
    save_call(&ctx, DIR_READ, false)
}

#[uprobe]
pub fn ssl_read_ex(ctx: ProbeContext) -> u32 {
    save_call(&ctx, DIR_READ, true)
}

#[uretprobe]
pub fn ssl_call_ret(ctx: RetProbeContext) -> u32 {
    finish_call(&ctx)
}

#[uprobe]
pub fn ssl_set_fd(ctx: ProbeContext) -> u32 {
    let id = bpf_get_current_pid_tgid();
    if is_target((id >> 32) as u32) {
        let ssl: u64 = ctx.arg(0).unwrap_or(0);
        let fd: i32 = ctx.arg(1).unwrap_or(-1);
        emit_small(&header(KIND_FD, ssl, fd));
    }
    0
}

#[uprobe]
pub fn ssl_free(ctx: ProbeContext) -> u32 {
    let id = bpf_get_current_pid_tgid();
    if is_target((id >> 32) as u32) {
        let ssl: u64 = ctx.arg(0).unwrap_or(0);
        if ssl != 0 {
            emit_small(&header(KIND_CLOSE, ssl, -1));
        }
    }
    0
}

#[tracepoint]
pub fn sched_fork(ctx: TracePointContext) -> u32 {
    let id = bpf_get_current_pid_tgid();
    let parent = (id >> 32) as u32;
    if !is_target(parent) {
        return 0;
    }
    let at = setting(&FORK_CHILD_PID_OFFSET) as usize;
    // SAFETY: the offset comes from this kernel's format file for sched_process_fork.
    let Ok(child) = (unsafe { ctx.read_at::<i32>(at) }) else {
        return 0;
    };
    let child = child as u32;
    if child == parent || is_target(child) {
        return 0;
    }
    insert_counted!(TARGETS, &child, &1);
    let mut h = header(KIND_NEW_TARGET, 0, parent as i32);
    h.tgid = child;
    emit_proc(h);
    0
}

/// A process event with the current task's name.
fn emit_proc(h: EventHeader) {
    let ev = ProcEvent {
        header: h,
        comm: bpf_get_current_comm().unwrap_or([0; COMM_LEN]),
    };
    if EVENTS.output::<ProcEvent>(&ev, 0).is_err() {
        count(CTR_RING_FULL, 1);
    }
}

#[tracepoint]
pub fn sched_exec(_ctx: TracePointContext) -> u32 {
    let id = bpf_get_current_pid_tgid();
    let tgid = (id >> 32) as u32;
    if is_target(tgid) {
        // Same target, possibly a new name (`sh -c 'exec curl ...'`).
        emit_proc(header(KIND_EXEC, 0, 0));
        return 0;
    }
    let Ok(comm) = bpf_get_current_comm() else {
        return 0;
    };
    // SAFETY: value copied out.
    if unsafe { NAMES.get(comm).is_none() } {
        return 0;
    }
    insert_counted!(TARGETS, &tgid, &1);
    emit_proc(header(KIND_NEW_TARGET, 0, 0));
    0
}

#[tracepoint]
pub fn sched_exit(ctx: TracePointContext) -> u32 {
    let id = bpf_get_current_pid_tgid();
    let tgid = (id >> 32) as u32;
    if !is_target(tgid) {
        return 0;
    }
    let at = setting(&EXIT_GROUP_DEAD_OFFSET) as usize;
    if at == 0 {
        return 0;
    }
    // SAFETY: the offset comes from this kernel's format file for sched_process_exit.
    let group_dead = unsafe { ctx.read_at::<u8>(at) }.unwrap_or(0);
    if group_dead == 0 {
        return 0;
    }
    let _ = TARGETS.remove(tgid);
    emit_small(&header(KIND_EXIT, 0, -1));
    0
}
