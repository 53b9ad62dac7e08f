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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    /// A record as the kernel programs lay it out: the header fields at their `repr(C)` offsets,
    /// then `tail`.
    #[allow(clippy::too_many_arguments)]
    fn record(
        ts: u64,
        conn: u64,
        tgid: u32,
        tid: u32,
        fd: i32,
        total: u32,
        offset: u32,
        len: u32,
        kind: u8,
        dir: u8,
        flags: u8,
        tail: &[u8],
    ) -> Vec<u8> {
        let mut r = Vec::new();
        r.extend_from_slice(&ts.to_ne_bytes()); // 0
        r.extend_from_slice(&conn.to_ne_bytes()); // 8
        r.extend_from_slice(&tgid.to_ne_bytes()); // 16
        r.extend_from_slice(&tid.to_ne_bytes()); // 20
        r.extend_from_slice(&fd.to_ne_bytes()); // 24
        r.extend_from_slice(&total.to_ne_bytes()); // 28
        r.extend_from_slice(&offset.to_ne_bytes()); // 32
        r.extend_from_slice(&len.to_ne_bytes()); // 36
        r.extend_from_slice(&[kind, dir, flags]); // 40, 41, 42
        r.extend_from_slice(&[0xee; 5]); // padding up to 48
        r.extend_from_slice(tail);
        r
    }

    #[test]
    fn the_header_is_48_bytes_with_fields_at_their_offsets() {
        assert_eq!(HEADER_SIZE, 48);
        let rec = record(
            0x0102_0304_0506_0708,
            0xdead_beef_0000_1000,
            4242,
            4243,
            -1,
            70_000,
            16_384,
            5,
            capture_ebpf::KIND_DATA,
            1,
            0x3,
            b"hello",
        );
        let h = parse_header(&rec).expect("a full header");
        assert_eq!(h.ts_ns, 0x0102_0304_0506_0708);
        assert_eq!(h.conn, 0xdead_beef_0000_1000);
        assert_eq!((h.tgid, h.tid, h.fd), (4242, 4243, -1));
        assert_eq!((h.total, h.offset, h.len), (70_000, 16_384, 5));
        assert_eq!((h.kind, h.dir, h.flags), (capture_ebpf::KIND_DATA, 1, 0x3));
        assert_eq!(&rec[HEADER_SIZE..], b"hello");
    }

    #[test]
    fn short_records_are_rejected() {
        let rec = record(1, 2, 3, 4, 5, 6, 7, 0, 1, 0, 0, &[]);
        assert!(parse_header(&[]).is_none());
        assert!(parse_header(&rec[..HEADER_SIZE - 1]).is_none());
        assert!(parse_header(&rec).is_some());
        // Misaligned slices are read as well (ring-buffer records have no alignment promise).
        let mut shifted = vec![0u8];
        shifted.extend_from_slice(&rec);
        assert_eq!(parse_header(&shifted[1..]).map(|h| h.tgid), Some(3));
    }

    #[test]
    fn the_comm_follows_the_header_up_to_its_nul() {
        let mut comm = [0u8; COMM_LEN];
        comm[..4].copy_from_slice(b"curl");
        let rec = record(0, 0, 7, 7, 1, 0, 0, 0, 0, 0, 0, &comm);
        assert_eq!(record_comm(&rec).as_deref(), Some("curl"));
        // A name of the full 16 bytes has no NUL: all of it is the name.
        let rec = record(0, 0, 7, 7, 1, 0, 0, 0, 0, 0, 0, b"abcdefghijklmnop");
        assert_eq!(record_comm(&rec).as_deref(), Some("abcdefghijklmnop"));
        // Empty, or cut short: no name.
        let rec = record(0, 0, 7, 7, 1, 0, 0, 0, 0, 0, 0, &[0u8; COMM_LEN]);
        assert_eq!(record_comm(&rec), None);
        let rec = record(0, 0, 7, 7, 1, 0, 0, 0, 0, 0, 0, b"curl");
        assert_eq!(record_comm(&rec), None);
    }

    #[test]
    fn comm_keys_keep_15_bytes_and_a_nul() {
        assert_eq!(&comm_key("curl")[..5], b"curl\0");
        let k = comm_key("a-rather-long-program-name");
        assert_eq!(&k[..15], b"a-rather-long-p");
        assert_eq!(k[15], 0);
    }

    #[test]
    fn socket_info_packs_gen_then_state() {
        let v = socket_info_value(SocketInfo { gen: 7, state: 2 });
        let b = v.to_ne_bytes();
        assert_eq!(u32::from_ne_bytes(b[..4].try_into().unwrap()), 7);
        assert_eq!(u32::from_ne_bytes(b[4..].try_into().unwrap()), 2);
    }

    fn sockaddr_in(port: u16, ip: [u8; 4]) -> Vec<u8> {
        let mut r = (libc::AF_INET as u16).to_ne_bytes().to_vec();
        r.extend_from_slice(&port.to_be_bytes());
        r.extend_from_slice(&ip);
        r.extend_from_slice(&[0; 8]);
        r
    }

    fn sockaddr_in6(port: u16, ip: [u8; 16]) -> Vec<u8> {
        let mut r = (libc::AF_INET6 as u16).to_ne_bytes().to_vec();
        r.extend_from_slice(&port.to_be_bytes());
        r.extend_from_slice(&[0; 4]); // flowinfo
        r.extend_from_slice(&ip);
        r.extend_from_slice(&[0; 4]); // scope id
        r
    }

    #[test]
    fn ipv4_sockaddrs_parse() {
        let a = parse_sockaddr(&sockaddr_in(8443, [127, 0, 0, 1]));
        assert_eq!(a, Some("127.0.0.1:8443".parse::<SocketAddr>().unwrap()));
        // Just the family, port and address are needed; less is rejected.
        assert!(parse_sockaddr(&sockaddr_in(80, [10, 1, 2, 3])[..8]).is_some());
        assert!(parse_sockaddr(&sockaddr_in(80, [10, 1, 2, 3])[..7]).is_none());
        assert!(parse_sockaddr(&[]).is_none());
    }

    #[test]
    fn ipv6_sockaddrs_parse_and_mapped_ipv4_shows_as_ipv4() {
        let mut ip = [0u8; 16];
        ip[..2].copy_from_slice(&[0x20, 0x01]);
        ip[15] = 1;
        let a = parse_sockaddr(&sockaddr_in6(443, ip));
        assert_eq!(a, Some("[2001::1]:443".parse::<SocketAddr>().unwrap()));
        let mapped = std::net::Ipv4Addr::new(192, 168, 0, 9)
            .to_ipv6_mapped()
            .octets();
        let a = parse_sockaddr(&sockaddr_in6(80, mapped));
        assert_eq!(a, Some("192.168.0.9:80".parse::<SocketAddr>().unwrap()));
        assert!(parse_sockaddr(&sockaddr_in6(443, ip)[..23]).is_none());
    }

    #[test]
    fn other_families_are_not_addresses() {
        let mut unix = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        unix.extend_from_slice(b"/run/x.sock\0\0\0\0\0\0\0\0\0\0\0\0\0");
        assert!(parse_sockaddr(&unix).is_none());
    }
}
