//! TCP sockets of a process: `/proc/PID/fd` links and `/proc/PID/net/tcp{,6}` tables (read in the
//! process's own network namespace, so containers work).
use std::collections::{HashMap, HashSet};
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

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
    let (local, peer) = AddrLookup::new(AddrSource::Pidfd).get(pid, fd)?;
    Some((local.to_string(), peer.to_string()))
}

/// Where an [`AddrLookup`] finds a socket's addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrSource {
    /// A duplicate of the target's fd (`pidfd_getfd`, Linux 5.6): a few syscalls per socket.
    /// Where that is refused (no ptrace access, older kernel), the /proc tables.
    Pidfd,
    /// Only the /proc tables: what [`AddrSource::Pidfd`] falls back on, alone (tests, benchmark).
    Tables,
}

/// The work an [`AddrLookup`] did: what tests and the benchmark look at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LookupStats {
    /// Distinct (pid, fd) looked up.
    pub lookups: usize,
    /// `pidfd_open` calls: one per process, shared by all its lookups.
    pub pidfd_opens: usize,
    /// Reads of a network namespace's `/proc/PID/net/tcp` and `tcp6` (both count as one).
    pub table_reads: usize,
}

/// A network namespace, by the inode of `/proc/PID/ns/net`; a process whose link cannot be
/// read is a namespace of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Netns {
    Inode(u64),
    OfPid(u32),
}

/// Socket address lookups for one batch of records: each (pid, fd) is looked up once, each
/// process's pidfd is opened once, and each network namespace's TCP tables are read at most
/// once, however many connections of the batch need them.
///
/// Reading `/proc/PID/net/tcp{,6}` costs a line per socket in the namespace: per connection,
/// a busy host paid O(sockets) for every new one. Within a batch every socket a record names
/// was created before the batch was taken from the ring, so one read of the table made after
/// that serves every lookup of the batch; a socket missing from it had closed, and reading the
/// table again would not find it either. A new batch starts from nothing (fds are reused).
pub struct AddrLookup {
    source: AddrSource,
    found: HashMap<(u32, i32), Option<(SocketAddr, SocketAddr)>>,
    /// None: the process is gone, or pidfds are refused.
    pidfds: HashMap<u32, Option<OwnedFd>>,
    /// Socket inode → (local, remote), per namespace read.
    tables: HashMap<Netns, HashMap<u64, (SocketAddr, SocketAddr)>>,
    stats: LookupStats,
}

impl AddrLookup {
    pub fn new(source: AddrSource) -> Self {
        AddrLookup {
            source,
            found: HashMap::new(),
            pidfds: HashMap::new(),
            tables: HashMap::new(),
            stats: LookupStats::default(),
        }
    }

    /// Local and remote address of TCP socket `fd` of `pid` (a listener's remote is the
    /// unspecified address, port 0, as the kernel's table shows it). None when `fd` is not a
    /// TCP socket or is closed.
    pub fn get(&mut self, pid: u32, fd: i32) -> Option<(SocketAddr, SocketAddr)> {
        if fd < 0 {
            return None;
        }
        if let Some(v) = self.found.get(&(pid, fd)) {
            return *v;
        }
        self.stats.lookups += 1;
        let v = self.look_up(pid, fd);
        self.found.insert((pid, fd), v);
        v
    }

    pub fn stats(&self) -> LookupStats {
        self.stats
    }

    fn look_up(&mut self, pid: u32, fd: i32) -> Option<(SocketAddr, SocketAddr)> {
        if self.source == AddrSource::Pidfd {
            if let Some(pidfd) = self.pidfd(pid) {
                if let Some(dup) = dup_fd(pidfd, fd) {
                    // The duplicate is the socket itself: its answer is final.
                    return stream_names(dup.as_raw_fd());
                }
            }
        }
        let inode = fd_socket_inode(pid, &fd.to_string())?;
        self.table(pid).get(&inode).copied()
    }

    fn pidfd(&mut self, pid: u32) -> Option<BorrowedFd<'_>> {
        let stats = &mut self.stats;
        self.pidfds
            .entry(pid)
            .or_insert_with(|| {
                stats.pidfd_opens += 1;
                open_pidfd(pid)
            })
            .as_ref()
            .map(|fd| fd.as_fd())
    }

    /// The TCP table of `pid`'s namespace, read on first use in this batch.
    fn table(&mut self, pid: u32) -> &HashMap<u64, (SocketAddr, SocketAddr)> {
        let ns = netns_of(pid).map_or(Netns::OfPid(pid), Netns::Inode);
        let stats = &mut self.stats;
        self.tables.entry(ns).or_insert_with(|| {
            stats.table_reads += 1;
            tcp_rows(pid)
                .into_iter()
                .map(|r| (r.inode, (r.local, r.remote)))
                .collect()
        })
    }
}

/// The inode of `pid`'s network namespace (`net:[4026531840]`).
fn netns_of(pid: u32) -> Option<u64> {
    let link = fs::read_link(format!("/proc/{pid}/ns/net")).ok()?;
    link.to_str()?
        .strip_prefix("net:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

fn open_pidfd(pid: u32) -> Option<OwnedFd> {
    // SAFETY: a plain syscall on integers.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::c_int, 0) };
    // SAFETY: a new fd, ours alone.
    (pidfd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) })
}

/// A duplicate of the target's `fd` (`pidfd_getfd`): it only reads the socket's names and is
/// closed when dropped; the target is untouched.
fn dup_fd(pidfd: BorrowedFd<'_>, fd: i32) -> Option<OwnedFd> {
    // SAFETY: a plain syscall on integers.
    let dup = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
    // SAFETY: a new fd, ours alone.
    (dup >= 0).then(|| unsafe { OwnedFd::from_raw_fd(dup as RawFd) })
}

/// Local and peer address of a stream socket (AF_INET/AF_INET6); a socket with no peer (a
/// listener) has the unspecified address of its family as peer, as in the kernel's tables.
fn stream_names(fd: RawFd) -> Option<(SocketAddr, SocketAddr)> {
    let name = |peer: bool| -> Option<SocketAddr> {
        // SAFETY: sockaddr_storage is plain data, valid zeroed.
        let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        let sa = (&raw mut ss).cast::<libc::sockaddr>();
        // SAFETY: `sa`/`len` describe `ss`, which outlives the call.
        let r = unsafe {
            if peer {
                libc::getpeername(fd, sa, &mut len)
            } else {
                libc::getsockname(fd, sa, &mut len)
            }
        };
        (r == 0).then(|| sockaddr(&ss)).flatten()
    };
    let mut ty: libc::c_int = 0;
    let mut ty_len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `ty`/`ty_len` describe an int that outlives the call.
    let stream = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&raw mut ty).cast(),
            &mut ty_len,
        )
    } == 0
        && ty == libc::SOCK_STREAM;
    if !stream {
        return None;
    }
    let local = name(false)?;
    let peer = name(true).unwrap_or_else(|| {
        let any = match local {
            SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        SocketAddr::new(any, 0)
    });
    Some((local, peer))
}

/// An AF_INET/AF_INET6 address (IPv4-mapped IPv6 as IPv4); None for other families.
fn sockaddr(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match ss.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin =
                unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SocketAddr::new(IpAddr::V4(ip), u16::from_be(sin.sin_port)))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 =
                unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let v6 = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            let ip = match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(v6),
            };
            Some(SocketAddr::new(ip, u16::from_be(sin6.sin6_port)))
        }
        _ => None,
    }
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
