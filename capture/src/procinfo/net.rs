//! TCP sockets of a process: `/proc/PID/fd` links and `/proc/PID/net/tcp{,6}` tables (read in the
//! process's own network namespace, so containers work).
use std::collections::HashSet;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// `TCP_LISTEN` in the kernel's `st` column.
const STATE_LISTEN: u8 = 0x0A;

/// One row of `/proc/net/tcp{,6}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TcpRow {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub state: u8,
    pub inode: u64,
}

/// Rows of the TCP tables visible to `pid` (both families).
pub(crate) fn tcp_rows(pid: u32) -> Vec<TcpRow> {
    let mut rows = Vec::new();
    for table in ["tcp", "tcp6"] {
        if let Ok(text) = fs::read_to_string(format!("/proc/{pid}/net/{table}")) {
            rows.extend(text.lines().skip(1).filter_map(parse_row));
        }
    }
    rows
}

pub(crate) fn parse_row(line: &str) -> Option<TcpRow> {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
    let fields: Vec<&str> = line.split_ascii_whitespace().collect();
    if fields.len() < 10 {
        return None;
    }
    Some(TcpRow {
        local: parse_addr(fields[1])?,
        remote: parse_addr(fields[2])?,
        state: u8::from_str_radix(fields[3], 16).ok()?,
        inode: fields[9].parse().ok()?,
    })
}

/// `0100007F:01BB` → 127.0.0.1:443. Addresses are printed as 32-bit words in host byte order;
/// IPv4-mapped IPv6 addresses come back as IPv4.
pub(crate) fn parse_addr(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let hex = ip.get(i * 8..i * 8 + 8)?;
        Some(u32::from_str_radix(hex, 16).ok()?.to_ne_bytes())
    };
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            let v6 = Ipv6Addr::from(bytes);
            match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(v6),
            }
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// The socket inode behind `/proc/PID/fd/FD`, if it is a socket.
pub(crate) fn fd_socket_inode(pid: u32, fd: &str) -> Option<u64> {
    let target = fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()?;
    let target = target.to_str()?;
    target
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

pub(crate) fn socket_addrs(pid: u32, fd: i32) -> Option<(String, String)> {
    if fd < 0 {
        return None;
    }
    let inode = fd_socket_inode(pid, &fd.to_string())?;
    let row = tcp_rows(pid).into_iter().find(|r| r.inode == inode)?;
    Some((row.local.to_string(), row.remote.to_string()))
}

pub(crate) fn tcp_socket_fds(pid: u32) -> Vec<i32> {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let socks: Vec<(i32, u64)> = dir
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let name = name.to_str()?;
            Some((name.parse().ok()?, fd_socket_inode(pid, name)?))
        })
        .collect();
    if socks.is_empty() {
        return Vec::new();
    }
    let inodes: HashSet<u64> = tcp_rows(pid).into_iter().map(|r| r.inode).collect();
    let mut fds: Vec<i32> = socks
        .into_iter()
        .filter(|(_, inode)| inodes.contains(inode))
        .map(|(fd, _)| fd)
        .collect();
    fds.sort_unstable();
    fds
}

pub(crate) fn listening_ports(pid: u32) -> Vec<u16> {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let inodes: HashSet<u64> = dir
        .flatten()
        .filter_map(|e| fd_socket_inode(pid, e.file_name().to_str()?))
        .collect();
    if inodes.is_empty() {
        return Vec::new();
    }
    let mut ports: Vec<u16> = tcp_rows(pid)
        .into_iter()
        .filter(|r| r.state == STATE_LISTEN && inodes.contains(&r.inode))
        .map(|r| r.local.port())
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_v4_and_v6_rows() {
        let v4 = "   0: 0100007F:01BB 0100007F:C800 01 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 20 4 30 10 -1";
        let row = parse_row(v4).unwrap();
        assert_eq!(row.local.to_string(), "127.0.0.1:443");
        assert_eq!(row.remote.to_string(), "127.0.0.1:51200");
        assert_eq!(row.state, 1);
        assert_eq!(row.inode, 4242);
        if cfg!(target_endian = "little") {
            let v6 = "   1: 00000000000000000000000001000000:1F90 0000000000000000FFFF00000100007F:D431 0A 00000000:00000000 00:00000000 00000000     0        0 99 1";
            let row = parse_row(v6).unwrap();
            assert_eq!(row.local.to_string(), "[::1]:8080");
            assert_eq!(row.remote.to_string(), "127.0.0.1:54321");
            assert_eq!(row.state, STATE_LISTEN);
        }
    }
}
