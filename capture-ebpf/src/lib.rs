//! Wire types shared by the kernel programs and userspace. `no_std`, `repr(C)`, no dependencies,
//! so the same definitions compile for `bpfel-unknown-none` and for the host.
#![no_std]

/// Bytes of payload carried by one ring-buffer record. Larger calls are split into chunks that
/// carry their offset, so a missing chunk shows as a gap rather than silently shortened data.
pub const CHUNK_SIZE: usize = 16 * 1024;
/// Most chunks emitted for one call (4 MiB); the remainder is counted as truncated.
pub const MAX_CHUNKS: u32 = 256;
/// Ring buffer size in bytes (power of two, page multiple).
pub const RING_SIZE: u32 = 64 * 1024 * 1024;
/// Bytes waiting in the ring past which a data record wakes the reader (a quarter of the ring).
pub const WAKE_AT: u32 = RING_SIZE / 4;
/// Longest process name matched by `-n` in the kernel (the kernel's TASK_COMM_LEN).
pub const COMM_LEN: usize = 16;

pub const KIND_DATA: u8 = 1;
/// The `SSL*` was freed: the next connection at that address is a new one.
pub const KIND_CLOSE: u8 = 2;
/// A socket fd became known for an `SSL*` (from `SSL_set_fd` or a nested syscall).
pub const KIND_FD: u8 = 3;
/// A process we did not know about became a target (fork of a target, or exec of a watched name).
pub const KIND_NEW_TARGET: u8 = 4;
/// A target process exited.
pub const KIND_EXIT: u8 = 5;
/// A target process exec'd: its name may have changed. Sent as a [`ProcEvent`].
pub const KIND_EXEC: u8 = 6;
/// The peer address of a plain socket, from `connect()` or `accept()`. Sent as an [`AddrEvent`];
/// `total` holds the listening fd for an accepted connection, or `u32::MAX`.
pub const KIND_ADDR: u8 = 7;
/// A target mapped part of a file executable (`mmap` with `PROT_EXEC` and an fd: the dynamic
/// loader placing a library's code, at start or on `dlopen`). Header only.
pub const KIND_MAP_EXEC: u8 = 8;

/// Bytes of a `struct sockaddr_in6` (the larger of the two families captured).
pub const SOCKADDR_LEN: usize = 28;

/// `KIND_ADDR` records: the header and the peer's `struct sockaddr` as the process passed it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct AddrEvent {
    pub header: EventHeader,
    pub addr: [u8; SOCKADDR_LEN],
    pub _pad: [u8; 4],
}

/// `EventHeader::flags`: the record comes from a plain (non-TLS) socket syscall, and `conn` is a
/// [`plain_conn`] key rather than an `SSL*`.
pub const FLAG_PLAIN: u8 = 1;

/// High bits of a plain socket's connection key. User-space pointers (`SSL*`) never have them.
pub const PLAIN_CONN: u64 = 0xFFFF_0000_0000_0000;

/// The connection key of socket `fd` in its generation `gen` (a reused fd is a new connection).
pub const fn plain_conn(fd: u32, gen: u32) -> u64 {
    PLAIN_CONN | ((gen as u64 & 0xFFFF) << 32) | fd as u64
}

/// Generations the kernel gives new sockets count up through `0..=KERNEL_GEN_MAX`; those
/// user space gives sockets it finds already open count down from `0xFFFF`, above them.
pub const KERNEL_GEN_MAX: u32 = 0x7FFF;

/// Key of the `SOCKETS` map: a target's TCP socket fd.
pub const fn socket_key(tgid: u32, fd: u32) -> u64 {
    ((tgid as u64) << 32) | fd as u64
}

/// `SocketInfo::state`: nothing read or written yet.
pub const SOCK_NEW: u32 = 0;
/// Data was seen and it is not TLS.
pub const SOCK_PLAIN: u32 = 1;
/// The first bytes were a TLS record: the socket's plaintext comes from the TLS probes (or not at
/// all); its syscalls carry ciphertext and are skipped.
pub const SOCK_TLS: u32 = 2;
/// Data was emitted but too short to decide: checked again on the next call.
pub const SOCK_UNDECIDED: u32 = 3;

/// Value of the `SOCKETS` map.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SocketInfo {
    pub gen: u32,
    pub state: u32,
}

/// A plain socket read/write saved at syscall entry and completed at exit.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct PlainCall {
    /// `SOCKETS` key.
    pub sock: u64,
    /// The buffer, or the `struct iovec` array when `iovcnt > 0`.
    pub buf: u64,
    pub iovcnt: u64,
    pub gen: u32,
    pub fd: i32,
    pub dir: u8,
    pub _pad: [u8; 7],
}

pub const DIR_WRITE: u8 = 0;
pub const DIR_READ: u8 = 1;

/// Indices into the `COUNTERS` per-CPU array.
pub const CTR_RING_FULL: u32 = 0;
pub const CTR_TRUNCATED_BYTES: u32 = 1;
pub const CTR_READ_FAULT: u32 = 2;
pub const CTR_NO_SCRATCH: u32 = 3;
/// Go reads whose entry was not seen (or could not be stored): their bytes are lost.
pub const CTR_GO_UNPAIRED: u32 = 4;
/// An insert into a kernel map failed (map full): the call or socket it tracked is not captured.
pub const CTR_MAP_FULL: u32 = 5;
pub const NUM_COUNTERS: u32 = 6;

/// Most `iovec`s followed in one `readv`/`writev`/`sendmsg`/`recvmsg`.
pub const MAX_IOVECS: u32 = 64;

/// Header of every ring-buffer record; `KIND_DATA` records are followed by `len` payload bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct EventHeader {
    /// `bpf_ktime_get_ns` (CLOCK_MONOTONIC).
    pub ts_ns: u64,
    /// The `SSL*` pointer in the traced process.
    pub conn: u64,
    pub tgid: u32,
    pub tid: u32,
    /// Socket fd, or -1 when unknown. For `KIND_NEW_TARGET`, the parent tgid.
    pub fd: i32,
    /// Total bytes of the call this chunk belongs to.
    pub total: u32,
    /// Offset of this chunk in the call.
    pub offset: u32,
    /// Payload bytes following the header in this record.
    pub len: u32,
    pub kind: u8,
    pub dir: u8,
    /// `FLAG_*` bits.
    pub flags: u8,
    pub _pad: u8,
    /// Data records: bytes of this connection and direction that the ring had no room for
    /// since the last record delivered for it (whole calls included, which nothing else shows).
    pub lost_before: u32,
}

/// Key of the per-connection count of bytes the ring had no room for.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LossKey {
    pub conn: u64,
    pub tgid: u32,
    pub dir: u32,
}

pub const HEADER_SIZE: usize = size_of::<EventHeader>();

/// `KIND_NEW_TARGET` and `KIND_EXEC` records: the header and the process name at that moment
/// (a short-lived process may be gone before userspace could read /proc).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcEvent {
    pub header: EventHeader,
    pub comm: [u8; COMM_LEN],
}

/// A data record as built in per-CPU scratch space before it is copied to the ring buffer.
#[repr(C)]
pub struct DataEvent {
    pub header: EventHeader,
    pub data: [u8; CHUNK_SIZE],
}

/// A goroutine of a process: Go calls are paired by goroutine (R14), not by thread.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GoKey {
    pub tgid: u32,
    pub _pad: u32,
    /// The `g` pointer.
    pub g: u64,
}

/// Arguments of an `SSL_*` call saved at entry and completed at return.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct CallArgs {
    pub ssl: u64,
    pub buf: u64,
    /// `size_t *` of the `_ex` variants (0 for the plain ones).
    pub len_ptr: u64,
    /// Socket fd seen in a syscall made inside this call, or -1.
    pub fd: i32,
    pub dir: u8,
    /// 1 while the call is in flight: a thread's entry is reused from call to call (see
    /// `save_call`), so a present entry alone does not mean "inside an SSL call".
    pub active: u8,
    pub _pad: [u8; 2],
}
