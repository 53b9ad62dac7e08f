//! Ring-buffer records as the kernel programs write them, and the clocks to stamp them.
use capture_ebpf::{EventHeader, SocketInfo, COMM_LEN, HEADER_SIZE};

use crate::exchange::UnixNanos;

/// `SocketInfo` as the u64 the map holds (`repr(C)`: `gen` first, then `state`).
pub(super) fn socket_info_value(info: SocketInfo) -> u64 {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&info.gen.to_ne_bytes());
    b[4..].copy_from_slice(&info.state.to_ne_bytes());
    u64::from_ne_bytes(b)
}

/// A `struct sockaddr_in` or `sockaddr_in6` (IPv4-mapped IPv6 shown as IPv4).
pub(super) fn parse_sockaddr(raw: &[u8]) -> Option<std::net::SocketAddr> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    let family = u16::from_ne_bytes([*raw.first()?, *raw.get(1)?]);
    let port = u16::from_be_bytes([*raw.get(2)?, *raw.get(3)?]);
    let ip = match i32::from(family) {
        libc::AF_INET => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(raw.get(4..8)?).ok()?)),
        libc::AF_INET6 => {
            let v6 = Ipv6Addr::from(<[u8; 16]>::try_from(raw.get(8..24)?).ok()?);
            match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(v6),
            }
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

pub(super) fn parse_header(rec: &[u8]) -> Option<EventHeader> {
    if rec.len() < HEADER_SIZE {
        return None;
    }
    // SAFETY: the record holds at least HEADER_SIZE bytes written by the kernel programs as an
    // `EventHeader` (plain integers, every bit pattern valid); read_unaligned copes with any
    // alignment of the ring-buffer slice.
    Some(unsafe { std::ptr::read_unaligned(rec.as_ptr().cast::<EventHeader>()) })
}

/// The process name carried by a `ProcEvent` record.
pub(super) fn record_comm(rec: &[u8]) -> Option<String> {
    let raw = rec.get(HEADER_SIZE..HEADER_SIZE + COMM_LEN)?;
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    (end > 0).then(|| String::from_utf8_lossy(&raw[..end]).into_owned())
}

pub(super) fn comm_key(name: &str) -> [u8; COMM_LEN] {
    let mut key = [0u8; COMM_LEN];
    // The kernel keeps 15 bytes of a name plus the NUL.
    for (k, b) in key.iter_mut().zip(name.bytes().take(COMM_LEN - 1)) {
        *k = b;
    }
    key
}

pub(super) fn tgid_of(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
}

pub(super) fn clock_ns(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer for the duration of the call.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
}

pub(super) fn clock_offset() -> i128 {
    clock_ns(libc::CLOCK_REALTIME) - clock_ns(libc::CLOCK_MONOTONIC)
}

/// Wall-clock now, in the events' time base.
pub fn now() -> UnixNanos {
    clock_ns(libc::CLOCK_REALTIME).max(0) as UnixNanos
}
