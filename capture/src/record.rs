//! The recording format (`-w` / `-r`): the capture events, so a replay runs the same decoding.
//!
//! Layout: an 8-byte magic, a little-endian u16 format version, then records of
//! `tag: u8, len: u32 (LE), payload[len]`. Payload fields are little-endian integers and
//! length-prefixed (u32) byte strings, in the order written below. Unknown tags are skipped, so
//! later versions can add record kinds that older readers ignore.
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

use crate::event::{ConnKey, Direction, Event, LossCounters};
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
    #[error("{path}: recording is truncated after {events} events (the capture was cut off while writing)")]
    Truncated { path: String, events: u64 },
    #[error("{path}: recording is damaged at event {events}: {detail}")]
    Damaged {
        path: String,
        events: u64,
        detail: String,
    },
}

/// Writes events to a recording file created with mode 0600 (it holds decrypted traffic).
pub struct Writer {
    out: BufWriter<File>,
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
        let io = |source| RecordError::Io {
            path: shown.clone(),
            source,
        };
        let file = safe_create::create(path, who)?;
        let mut out = BufWriter::new(file);
        out.write_all(MAGIC).map_err(io)?;
        out.write_all(&VERSION.to_le_bytes()).map_err(io)?;
        Ok(Writer { out, path: shown })
    }

    pub fn write(&mut self, ev: &Event) -> Result<(), RecordError> {
        let (tag, payload) = encode(ev);
        let r = (|| {
            self.out.write_all(&[tag])?;
            self.out.write_all(&(payload.len() as u32).to_le_bytes())?;
            self.out.write_all(&payload)
        })();
        r.map_err(|source| RecordError::Io {
            path: self.path.clone(),
            source,
        })
    }

    pub fn flush(&mut self) -> Result<(), RecordError> {
        self.out.flush().map_err(|source| RecordError::Io {
            path: self.path.clone(),
            source,
        })
    }
}

/// Reads a recording event by event.
pub struct Reader<R> {
    input: R,
    path: String,
    events: u64,
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
            return Err(RecordError::Truncated { path, events: 0 });
        }
        let found = u16::from_le_bytes([head[8], head[9]]);
        if found > VERSION {
            return Err(RecordError::TooNew { path, found });
        }
        Ok(Reader {
            input,
            path,
            events: 0,
            done: false,
        })
    }

    fn next_event(&mut self) -> Result<Option<Event>, RecordError> {
        loop {
            let mut head = [0u8; 5];
            let n = read_full(&mut self.input, &mut head).map_err(|e| self.io(e))?;
            if n == 0 {
                return Ok(None);
            }
            if n < head.len() {
                return Err(self.truncated());
            }
            let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]);
            if len > MAX_RECORD {
                return Err(self.damaged(format!("record length {len} is implausible")));
            }
            let mut payload = vec![0u8; len as usize];
            if read_full(&mut self.input, &mut payload).map_err(|e| self.io(e))? < payload.len() {
                return Err(self.truncated());
            }
            match decode(head[0], &payload) {
                Ok(Some(ev)) => {
                    self.events += 1;
                    return Ok(Some(ev));
                }
                Ok(None) => continue,
                Err(detail) => return Err(self.damaged(detail)),
            }
        }
    }

    fn io(&self, source: io::Error) -> RecordError {
        RecordError::Io {
            path: self.path.clone(),
            source,
        }
    }
    fn truncated(&self) -> RecordError {
        RecordError::Truncated {
            path: self.path.clone(),
            events: self.events,
        }
    }
    fn damaged(&self, detail: String) -> RecordError {
        RecordError::Damaged {
            path: self.path.clone(),
            events: self.events,
            detail,
        }
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
        Event::Lost { ts, counters } => {
            e.u64(*ts)
                .u64(counters.ring_full)
                .u64(counters.truncated_bytes)
                .u64(counters.read_faults)
                .u64(counters.map_full);
            TAG_LOST
        }
    };
    (tag, e.0)
}

struct Dec<'a>(&'a [u8]);
impl<'a> Dec<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("record shorter than its fields".into());
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
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

fn decode(tag: u8, payload: &[u8]) -> Result<Option<Event>, String> {
    let mut d = Dec(payload);
    let ev = match tag {
        TAG_DATA => Event::Data {
            ts: d.u64()?,
            key: d.key()?,
            tid: d.u32()?,
            fd: d.u32()? as i32,
            dir: if d.u8()? == 1 {
                Direction::Read
            } else {
                Direction::Write
            },
            total: d.u32()?,
            offset: d.u32()?,
            tls: d.u8()? != 0,
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
                map_full: if d.0.is_empty() { 0 } else { d.u64()? },
            },
        },
        _ => return Ok(None),
    };
    Ok(Some(ev))
}
