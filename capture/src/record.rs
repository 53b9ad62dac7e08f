//! The recording format (`-w` / `-r`): the capture events, so a replay runs the same decoding.
//!
//! Layout: an 8-byte magic, a little-endian u16 format version, then records of
//! `tag: u8, len: u32 (LE), payload[len]`. Payload fields are little-endian integers and
//! length-prefixed (u32) byte strings, in the order written below. Unknown tags are skipped, so
//! later versions can add record kinds that older readers ignore.
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use crate::event::{ConnKey, Direction, Event, LossCounters};
use crate::handoff::Handoff;
use crate::safe_create::{self, Invoker};

pub const MAGIC: &[u8; 8] = b"APITOP\x00R";
pub const VERSION: u16 = 1;
/// Largest record a reader accepts; a longer length means a damaged file.
const MAX_RECORD: u32 = 64 * 1024 * 1024;

const TAG_DATA: u8 = 1;
const TAG_CLOSE: u8 = 2;
const TAG_FD: u8 = 3;
const TAG_ADDRS: u8 = 4;
const TAG_PROCESS: u8 = 5;
const TAG_EXIT: u8 = 6;
const TAG_LOST: u8 = 7;
/// Added after version 1's first release: older readers skip it (unknown kinds are skipped).
const TAG_GAP: u8 = 8;

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error(transparent)]
    Create(#[from] safe_create::CreateError),
    #[error("{0}: not an apitop recording (wrong magic bytes)")]
    Foreign(String),
    #[error("{path}: recording format version {found} is newer than this apitop reads ({VERSION}); upgrade apitop")]
    TooNew { path: String, found: u16 },
    #[error("{path}: recording is truncated after {events} events: {detail} (the capture was cut off while writing)")]
    Truncated {
        path: String,
        events: u64,
        detail: String,
    },
    #[error("{path}: damaged record {record} at byte {offset}: {detail}")]
    Damaged {
        path: String,
        /// Records are numbered from 1 in file order, skipped (unknown) ones included.
        record: u64,
        /// Where the record starts (its tag byte).
        offset: u64,
        detail: String,
    },
}

/// Writes events to a recording file created with mode 0600 (it holds decrypted traffic). The
/// file is written by a thread of its own ([`Handoff`]): a slow disk does not hold up the ring
/// draining. A write error is returned by the next [`Writer::write`] or [`Writer::flush`].
pub struct Writer {
    out: Handoff,
    path: String,
}

impl Writer {
    /// Creates `path` for this process's invoker (see [`safe_create::create`]).
    pub fn create(path: &Path) -> Result<Self, RecordError> {
        Writer::create_for(path, Invoker::current())
    }

    /// Creates `path` safely: never through a symlink, never over someone else's file; under
    /// sudo the file is given to `who` so it can be read back without root.
    pub fn create_for(path: &Path, who: Invoker) -> Result<Self, RecordError> {
        let shown = path.display().to_string();
        let mut file = safe_create::create(path, who)?;
        // The header is written here, so that an unwritable file fails at once.
        file.write_all(MAGIC)
            .and_then(|_| file.write_all(&VERSION.to_le_bytes()))
            .map_err(|source| RecordError::Io {
                path: shown.clone(),
                source,
            })?;
        Ok(Writer {
            out: Handoff::new("apitop-record", file),
            path: shown,
        })
    }

    pub fn write(&mut self, ev: &Event) -> Result<(), RecordError> {
        self.check()?;
        let (tag, payload) = encode(ev);
        let buf = self.out.buffer();
        buf.push(tag);
        buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        buf.extend_from_slice(&payload);
        self.out.item_done();
        Ok(())
    }

    /// Hands what is buffered to the writing thread (it reaches the file shortly after).
    pub fn flush(&mut self) -> Result<(), RecordError> {
        self.out.flush();
        self.check()
    }

    /// Writes everything out and closes the file.
    pub fn finish(self) -> Result<(), RecordError> {
        let path = self.path;
        self.out
            .finish()
            .map_err(|source| RecordError::Io { path, source })
    }

    fn check(&self) -> Result<(), RecordError> {
        match self.out.error() {
            Some((kind, text)) => Err(RecordError::Io {
                path: self.path.clone(),
                source: io::Error::new(kind, text),
            }),
            None => Ok(()),
        }
    }
}

/// Bytes of a record's tag and length.
const RECORD_HEAD: u64 = 5;
/// Bytes of a data record before its chunk: ts, key, tid, fd, dir, total, offset, tls, length.
const DATA_FIELDS: usize = 8 + 12 + 4 + 4 + 1 + 4 + 4 + 1 + 4;
/// Largest data record: the kernel never sends more than `CHUNK_SIZE` bytes in one event. A
/// later apitop with larger chunks must raise `VERSION`.
const MAX_DATA_RECORD: u32 = (DATA_FIELDS + capture_ebpf::CHUNK_SIZE) as u32;
/// Largest record of the other known kinds: a few integers, addresses and a process name.
const MAX_SMALL_RECORD: u32 = 4096;

/// Largest payload a record of `tag` may have; more means the file is damaged.
fn max_payload(tag: u8) -> u32 {
    match tag {
        TAG_DATA => MAX_DATA_RECORD,
        TAG_CLOSE | TAG_FD | TAG_ADDRS | TAG_PROCESS | TAG_EXIT | TAG_LOST | TAG_GAP => {
            MAX_SMALL_RECORD
        }
        // Kinds from later versions are skipped unread, but a length this large is garbage.
        _ => MAX_RECORD,
    }
}

/// Reads a recording event by event. The file may come from someone else: every length is
/// checked before anything is allocated for it, and a damaged file is reported with the record
/// number and byte offset where it goes wrong, never with a panic.
pub struct Reader<R> {
    input: R,
    path: String,
    events: u64,
    /// Records read so far, skipped ones included.
    records: u64,
    /// Bytes read so far: where the next record starts.
    pos: u64,
    /// The payload being decoded, reused from record to record.
    payload: Vec<u8>,
    done: bool,
}

impl Reader<BufReader<File>> {
    pub fn open(path: &Path) -> Result<Self, RecordError> {
        let shown = path.display().to_string();
        let file = File::open(path).map_err(|source| RecordError::Io {
            path: shown.clone(),
            source,
        })?;
        Reader::new(BufReader::new(file), shown)
    }
}

impl<R: Read> Reader<R> {
    /// Checks the header; `path` names the input in errors.
    pub fn new(mut input: R, path: String) -> Result<Self, RecordError> {
        let mut head = [0u8; 10];
        let n = read_full(&mut input, &mut head).map_err(|source| RecordError::Io {
            path: path.clone(),
            source,
        })?;
        if n < MAGIC.len() || &head[..8] != MAGIC {
            return Err(RecordError::Foreign(path));
        }
        if n < head.len() {
            return Err(RecordError::Truncated {
                path,
                events: 0,
                detail: format!("the {}-byte header ends after {n} bytes", head.len()),
            });
        }
        let found = u16::from_le_bytes([head[8], head[9]]);
        if found > VERSION {
            return Err(RecordError::TooNew { path, found });
        }
        Ok(Reader {
            input,
            path,
            events: 0,
            records: 0,
            pos: head.len() as u64,
            payload: Vec::new(),
            done: false,
        })
    }

    fn next_event(&mut self) -> Result<Option<Event>, RecordError> {
        loop {
            let start = self.pos;
            let mut head = [0u8; RECORD_HEAD as usize];
            let n = read_full(&mut self.input, &mut head).map_err(|e| self.io(e))?;
            if n == 0 {
                return Ok(None);
            }
            self.records += 1;
            if n < head.len() {
                return Err(self.truncated(start, RECORD_HEAD, n as u64));
            }
            let tag = head[0];
            let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]);
            let max = max_payload(tag);
            if len > max {
                return Err(self.damaged(
                    start,
                    format!(
                        "payload length {len} exceeds {max} bytes, the largest {}",
                        kind(tag)
                    ),
                ));
            }
            let mut limited = (&mut self.input).take(u64::from(len));
            self.payload.clear();
            let got = if (1..=TAG_GAP).contains(&tag) {
                // Grows with the bytes actually there: a length past the end of the file
                // costs no more memory than the file holds.
                limited.read_to_end(&mut self.payload).map(|n| n as u64)
            } else {
                io::copy(&mut limited, &mut io::sink())
            };
            let got = got.map_err(|e| self.io(e))?;
            if got < u64::from(len) {
                return Err(self.truncated(start, RECORD_HEAD + u64::from(len), RECORD_HEAD + got));
            }
            self.pos = start + RECORD_HEAD + u64::from(len);
            let mut d = Dec {
                rest: &self.payload,
                at: start + RECORD_HEAD,
            };
            match decode(tag, &mut d) {
                Ok(Some(ev)) => {
                    self.events += 1;
                    return Ok(Some(ev));
                }
                Ok(None) => continue,
                Err(detail) => return Err(self.damaged(start, detail)),
            }
        }
    }

    fn io(&self, source: io::Error) -> RecordError {
        RecordError::Io {
            path: self.path.clone(),
            source,
        }
    }
    /// Record `self.records` at `start` needed `need` bytes; the file ended after `got`.
    fn truncated(&self, start: u64, need: u64, got: u64) -> RecordError {
        RecordError::Truncated {
            path: self.path.clone(),
            events: self.events,
            detail: format!(
                "record {} at byte {start} needs {need} bytes, the file ends after {got}",
                self.records
            ),
        }
    }
    fn damaged(&self, offset: u64, detail: String) -> RecordError {
        RecordError::Damaged {
            path: self.path.clone(),
            record: self.records,
            offset,
            detail,
        }
    }
}

/// What a record of `tag` is called in errors.
fn kind(tag: u8) -> &'static str {
    match tag {
        TAG_DATA => "data record (a kernel chunk and its fields)",
        TAG_CLOSE | TAG_FD | TAG_ADDRS | TAG_PROCESS | TAG_EXIT | TAG_LOST | TAG_GAP => {
            "record of its kind"
        }
        _ => "record",
    }
}

impl<R: Read> Iterator for Reader<R> {
    type Item = Result<Event, RecordError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = self.next_event();
        if !matches!(r, Ok(Some(_))) {
            self.done = true;
        }
        r.transpose()
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

struct Enc(Vec<u8>);
impl Enc {
    fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
        self
    }
    fn key(&mut self, k: ConnKey) -> &mut Self {
        self.u32(k.pid).u64(k.conn)
    }
}

fn encode(ev: &Event) -> (u8, Vec<u8>) {
    let mut e = Enc(Vec::new());
    let tag = match ev {
        Event::Data {
            ts,
            key,
            tid,
            fd,
            dir,
            total,
            offset,
            bytes,
            tls,
        } => {
            e.u64(*ts)
                .key(*key)
                .u32(*tid)
                .u32(*fd as u32)
                .u8(matches!(dir, Direction::Read) as u8)
                .u32(*total)
                .u32(*offset)
                .u8(*tls as u8)
                .bytes(bytes);
            TAG_DATA
        }
        Event::Close { ts, key } => {
            e.u64(*ts).key(*key);
            TAG_CLOSE
        }
        Event::Fd { ts, key, fd } => {
            e.u64(*ts).key(*key).u32(*fd as u32);
            TAG_FD
        }
        Event::Addrs {
            ts,
            key,
            local,
            peer,
        } => {
            e.u64(*ts)
                .key(*key)
                .bytes(local.as_bytes())
                .bytes(peer.as_bytes());
            TAG_ADDRS
        }
        Event::Process { ts, pid, comm } => {
            e.u64(*ts).u32(*pid).bytes(comm.as_bytes());
            TAG_PROCESS
        }
        Event::Exit { ts, pid } => {
            e.u64(*ts).u32(*pid);
            TAG_EXIT
        }
        Event::Gap { ts, key, dir, len } => {
            e.u64(*ts)
                .key(*key)
                .u8(matches!(dir, Direction::Read) as u8)
                .u32(*len);
            TAG_GAP
        }
        Event::Lost { ts, counters } => {
            e.u64(*ts)
                .u64(counters.ring_full)
                .u64(counters.truncated_bytes)
                .u64(counters.read_faults)
                .u64(counters.map_full)
                .u64(counters.java_dropped_bytes);
            TAG_LOST
        }
    };
    (tag, e.0)
}

/// Reads the fields of one payload; `at` is the file offset of `rest`, for errors.
struct Dec<'a> {
    rest: &'a [u8],
    at: u64,
}
impl<'a> Dec<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.rest.len() < n {
            return Err(format!(
                "a {n}-byte field at byte {} runs past the end of the record ({} bytes left)",
                self.at,
                self.rest.len()
            ));
        }
        let (a, b) = self.rest.split_at(n);
        self.rest = b;
        self.at += n as u64;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    /// A byte the writer only ever sets to 0 or 1: anything else is damage.
    fn flag(&mut self, what: &str) -> Result<bool, String> {
        let at = self.at;
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(format!("{what} byte at byte {at} is {v}, not 0 or 1")),
        }
    }
    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, String> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
    fn bytes(&mut self) -> Result<Vec<u8>, String> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }
    fn string(&mut self) -> Result<String, String> {
        Ok(String::from_utf8_lossy(&self.bytes()?).into_owned())
    }
    fn key(&mut self) -> Result<ConnKey, String> {
        Ok(ConnKey {
            pid: self.u32()?,
            conn: self.u64()?,
        })
    }
}

fn decode(tag: u8, d: &mut Dec) -> Result<Option<Event>, String> {
    let ev = match tag {
        TAG_DATA => Event::Data {
            ts: d.u64()?,
            key: d.key()?,
            tid: d.u32()?,
            fd: d.u32()? as i32,
            dir: if d.flag("direction")? {
                Direction::Read
            } else {
                Direction::Write
            },
            total: d.u32()?,
            offset: d.u32()?,
            tls: d.flag("TLS flag")?,
            bytes: d.bytes()?,
        },
        TAG_CLOSE => Event::Close {
            ts: d.u64()?,
            key: d.key()?,
        },
        TAG_FD => Event::Fd {
            ts: d.u64()?,
            key: d.key()?,
            fd: d.u32()? as i32,
        },
        TAG_ADDRS => Event::Addrs {
            ts: d.u64()?,
            key: d.key()?,
            local: d.string()?,
            peer: d.string()?,
        },
        TAG_PROCESS => Event::Process {
            ts: d.u64()?,
            pid: d.u32()?,
            comm: d.string()?,
        },
        TAG_EXIT => Event::Exit {
            ts: d.u64()?,
            pid: d.u32()?,
        },
        TAG_LOST => Event::Lost {
            ts: d.u64()?,
            counters: LossCounters {
                ring_full: d.u64()?,
                truncated_bytes: d.u64()?,
                read_faults: d.u64()?,
                // Absent from recordings made before the counter existed.
                map_full: if d.rest.is_empty() { 0 } else { d.u64()? },
                java_dropped_bytes: if d.rest.is_empty() { 0 } else { d.u64()? },
            },
        },
        TAG_GAP => Event::Gap {
            ts: d.u64()?,
            key: d.key()?,
            dir: if d.flag("direction")? {
                Direction::Read
            } else {
                Direction::Write
            },
            len: d.u32()?,
        },
        _ => return Ok(None),
    };
    Ok(Some(ev))
}
