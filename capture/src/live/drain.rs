//! Ring-buffer records to [`Event`]s, on the draining thread.
//!
//! Nothing here takes the probes' lock or does work that grows with the system: the work a
//! record asks for (attaching, seeding sockets) is handed to the maintenance thread, and socket
//! addresses come from an [`AddrLookup`] made per drained batch, which reads a network
//! namespace's TCP table at most once per batch however many new connections it holds (and
//! usually not at all: `pidfd_getfd` answers first).
use std::collections::{HashMap, HashSet};

use capture_ebpf::{
    DIR_READ, FLAG_PLAIN, HEADER_SIZE, KIND_ADDR, KIND_CLOSE, KIND_DATA, KIND_EXEC, KIND_EXIT,
    KIND_FD, KIND_MAP_EXEC, KIND_NEW_TARGET, SOCKADDR_LEN,
};

use super::maintenance::{Maintenance, Msg};
use super::records::*;
use super::{lock, Targets};
use crate::event::{ConnKey, Direction, Event};
use crate::exchange::UnixNanos;
use crate::procinfo::{self, AddrLookup};

pub(super) struct Drain {
    /// CLOCK_REALTIME − CLOCK_MONOTONIC, to stamp kernel times as wall-clock times.
    clock_offset: i128,
    /// Shared with the maintenance thread and the caller's `add_pid`: locked only to add or
    /// remove one pid.
    targets: Targets,
    /// Connections whose addresses were already looked up.
    addrs_known: HashSet<ConnKey>,
    /// Addresses of plain connections looked up before their first data event.
    plain_addrs: HashMap<ConnKey, (String, String)>,
    /// Addresses of the targets' sockets from `connect()`/`accept()`, by (pid, fd): a TLS
    /// connection that names its fd (Go, nested syscalls) finds its peer here even when the
    /// socket is gone from /proc by the time its data is read. Replaced when an fd is reused,
    /// dropped when the process exits.
    fd_addrs: HashMap<(u32, i32), (String, String)>,
}

fn strings((local, peer): (std::net::SocketAddr, std::net::SocketAddr)) -> (String, String) {
    (local.to_string(), peer.to_string())
}

impl Drain {
    pub(super) fn new(targets: Targets) -> Self {
        Drain {
            clock_offset: clock_offset(),
            targets,
            addrs_known: HashSet::new(),
            plain_addrs: HashMap::new(),
            fd_addrs: HashMap::new(),
        }
    }

    /// One record. `lookup` is the batch's: every address lookup of the batch goes through it.
    pub(super) fn convert(
        &mut self,
        rec: &[u8],
        out: &mut Vec<Event>,
        lookup: &mut AddrLookup,
        maint: &Maintenance,
    ) {
        let Some(h) = parse_header(rec) else {
            return;
        };
        let ts = self.wall_clock(h.ts_ns);
        let key = ConnKey {
            pid: h.tgid,
            conn: h.conn,
        };
        match h.kind {
            KIND_DATA => {
                let end = HEADER_SIZE + h.len as usize;
                let Some(bytes) = rec.get(HEADER_SIZE..end) else {
                    return;
                };
                let plain = h.flags & FLAG_PLAIN != 0;
                // A plain connection's first event must be its data, which says it is not TLS;
                // its addresses follow.
                if h.fd >= 0 && !plain {
                    self.learn_addrs(ts, key, h.fd, out, lookup);
                }
                let dir = if h.dir == DIR_READ {
                    Direction::Read
                } else {
                    Direction::Write
                };
                // What the full ring took from this direction since its last record (whole
                // calls included): the decoder skips it instead of splicing its neighbours.
                if h.lost_before > 0 {
                    out.push(Event::Gap {
                        ts,
                        key,
                        dir,
                        len: h.lost_before,
                    });
                }
                out.push(Event::Data {
                    ts,
                    key,
                    tid: h.tid,
                    fd: h.fd,
                    dir,
                    total: h.total,
                    offset: h.offset,
                    bytes: bytes.to_vec(),
                    tls: !plain,
                });
                if h.fd >= 0 && plain {
                    if let Some((local, peer)) = self.plain_addrs.remove(&key) {
                        out.push(Event::Addrs {
                            ts,
                            key,
                            local,
                            peer,
                        });
                    } else {
                        self.learn_addrs(ts, key, h.fd, out, lookup);
                    }
                }
            }
            KIND_CLOSE => {
                self.addrs_known.remove(&key);
                self.plain_addrs.remove(&key);
                out.push(Event::Close { ts, key });
            }
            KIND_ADDR => {
                // The peer from connect()/accept(); the local side from /proc while the socket
                // exists, else from the listener (accept), else unknown.
                let Some(raw) = rec.get(HEADER_SIZE..HEADER_SIZE + SOCKADDR_LEN) else {
                    return;
                };
                let Some(peer) = parse_sockaddr(raw) else {
                    return;
                };
                let local = lookup
                    .get(key.pid, h.fd)
                    .or_else(|| {
                        (h.total != u32::MAX)
                            .then(|| lookup.get(key.pid, h.total as i32))
                            .flatten()
                    })
                    .map_or_else(|| "?".into(), |(l, _)| l.to_string());
                self.addrs_known.insert(key);
                let addrs = (local, peer.to_string());
                self.fd_addrs.insert((key.pid, h.fd), addrs.clone());
                self.plain_addrs.insert(key, addrs);
            }
            // A plain connection's first data follows: its addresses are looked up now, while
            // the socket exists, and reported after that data.
            KIND_FD if h.flags & FLAG_PLAIN != 0 && self.addrs_known.insert(key) => {
                if let Some(addrs) = lookup.get(key.pid, h.fd) {
                    self.plain_addrs.insert(key, strings(addrs));
                }
            }
            KIND_FD if h.flags & FLAG_PLAIN != 0 => {}
            KIND_FD => {
                out.push(Event::Fd { ts, key, fd: h.fd });
                self.addrs_known.remove(&key);
                self.learn_addrs(ts, key, h.fd, out, lookup);
            }
            KIND_NEW_TARGET => {
                let pid = h.tgid;
                // sched_process_fork also fires for new threads: those share their process's
                // target entry, so drop theirs.
                // An exec'd process (tid == tgid in its record) is one whatever /proc says by
                // now: a short-lived one may already be gone.
                // (One small /proc/PID/status read here, not on the maintenance thread: the
                // Process event must precede the child's data, so it is decided in order.)
                if h.tid != h.tgid && tgid_of(pid) != Some(pid) {
                    maint.ask(Msg::NotTarget(pid));
                    return;
                }
                lock(&self.targets).insert(pid);
                // An exec'd Go program under a watched name is probed at once by the
                // maintenance thread, not at its next tick, or a short-lived client's requests
                // are over before it is attached. Sockets inherited from the parent (a forked
                // server's listener and connections) are seeded there too.
                maint.ask(Msg::NewTarget(pid));
                let comm = record_comm(rec)
                    .or_else(|| procinfo::comm(pid))
                    .unwrap_or_default();
                out.push(Event::Process { ts, pid, comm });
            }
            KIND_EXEC => {
                // `sh -c 'exec goprog'`: the new program is probed at once if it is Go.
                maint.ask(Msg::Exec(h.tgid));
                if let Some(comm) = record_comm(rec) {
                    out.push(Event::Process {
                        ts,
                        pid: h.tgid,
                        comm,
                    });
                }
            }
            KIND_MAP_EXEC => maint.ask(Msg::Mapped(h.tgid)),
            KIND_EXIT => {
                lock(&self.targets).remove(&h.tgid);
                maint.ask(Msg::Exited(h.tgid));
                self.forget(h.tgid);
                out.push(Event::Exit { ts, pid: h.tgid });
            }
            _ => {}
        }
    }

    /// A process ended or was found gone: what was kept about its sockets goes.
    pub(super) fn forget(&mut self, pid: u32) {
        self.addrs_known.retain(|k| k.pid != pid);
        self.fd_addrs.retain(|k, _| k.0 != pid);
        self.plain_addrs.retain(|k, _| k.pid != pid);
    }

    fn learn_addrs(
        &mut self,
        ts: UnixNanos,
        key: ConnKey,
        fd: i32,
        out: &mut Vec<Event>,
        lookup: &mut AddrLookup,
    ) {
        if !self.addrs_known.insert(key) {
            return;
        }
        let known = self.fd_addrs.get(&(key.pid, fd)).cloned();
        if let Some((local, peer)) = known.or_else(|| lookup.get(key.pid, fd).map(strings)) {
            out.push(Event::Addrs {
                ts,
                key,
                local,
                peer,
            });
        }
    }

    fn wall_clock(&self, mono_ns: u64) -> UnixNanos {
        (mono_ns as i128 + self.clock_offset).max(0) as UnixNanos
    }
}
