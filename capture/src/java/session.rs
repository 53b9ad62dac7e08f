//! Attaching apitop's agent to JVMs for one capture session, and receiving what they send.
//!
//! ## Where the socket and the jar live
//!
//! The JVM must be able to open both, as its own user and in its own mount namespace (a JVM in a
//! container has its own `/tmp`). So for each JVM apitop makes a directory in *the JVM's* `/tmp`,
//! reached from the host through `/proc/PID/root/tmp`: `/tmp/apitop-<apitop pid>-<random>`,
//! mode 0700 and owned by the JVM's user (created by root, then handed over: only that user and
//! root can enter it). In it: a copy of the agent jar (mode 0400) and `agent.sock`, the
//! listening socket (bound by apitop through the same path, then given to the JVM's user: with
//! apitop's usual umask only its owner may connect). A Unix socket is found by its inode, so
//! the JVM connecting to `/tmp/apitop-…/agent.sock` in its namespace reaches apitop's listener.
//! Nothing is trusted for being there: the receiver checks each connection's `SO_PEERCRED` pid
//! against the JVM it made the socket for, and the random token of its HELLO.
//!
//! When the session ends, the socket, the jar copy and the directory are removed; the JVM keeps
//! its open descriptor of the jar, and the agent, finding the socket closed, turns its hooks
//! off. (A SIGKILLed apitop leaves the directory behind.)
use std::collections::HashMap;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::attach::{self, AttachError, JvmIds};
use super::receiver::{JavaReceiver, ReceiverStats, Registration};
use super::{JavaStatus, AGENT_JAR_NAME};
use crate::event::Event;
use crate::procinfo::{Inspector, TlsKind};

#[derive(Debug, thiserror::Error)]
pub enum JavaError {
    #[error("pid {0} is not a JVM (no libjvm.so mapped)")]
    NotJvm(u32),
    #[error("pid {pid} ({what}): not attachable: {why}")]
    Refused { pid: u32, what: String, why: String },
    #[error("apitop's Java agent jar was not found (looked in {0}); build it with scripts/java-agent.sh or set APITOP_JAVA_AGENT")]
    NoAgentJar(String),
    #[error("pid {pid}: preparing {path} for the agent: {source}")]
    Prepare {
        pid: u32,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("pid {pid}: loading the agent: {source}")]
    Attach {
        pid: u32,
        #[source]
        source: AttachError,
    },
    #[error("starting the Java receiver thread: {0}")]
    Thread(io::Error),
}

/// Where apitop looks for the agent jar: `$APITOP_JAVA_AGENT`, then next to the executable,
/// then `../java-agent/` from it (`target/java-agent/` when run from `target/{debug,release}`),
/// then `/usr/local/share/apitop` and `/usr/share/apitop`.
pub fn agent_jar_candidates() -> Vec<PathBuf> {
    let mut c = Vec::new();
    if let Some(p) = std::env::var_os("APITOP_JAVA_AGENT") {
        c.push(PathBuf::from(p));
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            c.push(dir.join(AGENT_JAR_NAME));
            if let Some(up) = dir.parent() {
                c.push(up.join("java-agent").join(AGENT_JAR_NAME));
            }
        }
    }
    c.push(PathBuf::from("/usr/local/share/apitop").join(AGENT_JAR_NAME));
    c.push(PathBuf::from("/usr/share/apitop").join(AGENT_JAR_NAME));
    c
}

/// The first of [`agent_jar_candidates`] that is a file.
pub fn find_agent_jar() -> Result<PathBuf, JavaError> {
    let c = agent_jar_candidates();
    c.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        JavaError::NoAgentJar(
            c.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        )
    })
}

/// One JVM's directory (see the module docs).
struct DropDir {
    /// `/proc/PID/root/tmp/apitop-…`: the directory from here.
    host: PathBuf,
}

impl Drop for DropDir {
    fn drop(&mut self) {
        let _ = fs::remove_file(self.host.join("agent.sock"));
        let _ = fs::remove_file(self.host.join(AGENT_JAR_NAME));
        let _ = fs::remove_dir(&self.host);
    }
}

/// The agents of one capture session.
pub struct JavaCapture {
    receiver: Arc<JavaReceiver>,
    jar: PathBuf,
    /// The executable run as the JVM's user to connect (apitop itself).
    helper: PathBuf,
    attached: HashMap<u32, DropDir>,
    inspector: Inspector,
}

impl JavaCapture {
    /// `jar`: the agent jar; `helper`: the apitop executable (`/proc/self/exe` normally).
    pub fn new(jar: PathBuf, helper: PathBuf) -> Result<Self, JavaError> {
        let receiver = JavaReceiver::start().map_err(JavaError::Thread)?;
        Ok(Self::with_receiver(jar, helper, Arc::new(receiver)))
    }

    /// As [`Self::new`], delivering to `receiver` (shared with whoever drains it).
    pub fn with_receiver(jar: PathBuf, helper: PathBuf, receiver: Arc<JavaReceiver>) -> Self {
        JavaCapture {
            receiver,
            jar,
            helper,
            attached: HashMap::new(),
            inspector: Inspector::new(),
        }
    }

    /// The JVM facts of `pid`, None when it is not a JVM.
    pub fn status(&mut self, pid: u32) -> Option<JavaStatus> {
        let info = self.inspector.process(pid).ok()?;
        (info.tls.kind == TlsKind::Jvm)
            .then_some(info.tls.java)
            .flatten()
    }

    /// Loads the agent into the JVM `pid` (once per session: a second call does nothing) and
    /// accepts its connection. A JVM that has the agent from an earlier session is loaded
    /// again: the agent keeps its hooks and connects to this session.
    pub fn attach(&mut self, pid: u32) -> Result<JavaStatus, JavaError> {
        let status = self.status(pid).ok_or(JavaError::NotJvm(pid))?;
        if self.attached.contains_key(&pid) {
            return Ok(status);
        }
        if let Some(why) = &status.refusal {
            return Err(JavaError::Refused {
                pid,
                what: status
                    .version
                    .as_deref()
                    .map(|v| format!("Java {v}"))
                    .unwrap_or_else(|| "Java".into()),
                why: why.clone(),
            });
        }
        let ids = JvmIds::read(pid).map_err(|source| JavaError::Attach { pid, source })?;
        let (dir, ns_dir, listener) = self.prepare(&ids)?;
        let token = random_hex(16);
        self.receiver.register(Registration {
            pid,
            token: token.clone(),
            listener,
        });
        let options = format!("sock={ns_dir}/agent.sock,token={token}");
        let jar = format!("{ns_dir}/{AGENT_JAR_NAME}");
        attach::load_agent(pid, &jar, &options, &self.helper)
            .map_err(|source| JavaError::Attach { pid, source })?;
        self.attached.insert(pid, dir);
        Ok(JavaStatus {
            agent_loaded: true,
            ..status
        })
    }

    /// Whether the agent was loaded into `pid` by this session.
    pub fn is_attached(&self, pid: u32) -> bool {
        self.attached.contains_key(&pid)
    }

    /// Moves up to `max` events from the agents to `out`.
    pub fn drain(&self, out: &mut Vec<Event>, max: usize) -> usize {
        self.receiver.drain(out, max)
    }

    pub fn stats(&self) -> &ReceiverStats {
        self.receiver.stats()
    }

    /// Makes the JVM's directory: returns it, its path in the JVM's namespace, and the
    /// listening socket in it.
    fn prepare(&self, ids: &JvmIds) -> Result<(DropDir, String, UnixListener), JavaError> {
        let name = format!("apitop-{}-{}", std::process::id(), random_hex(6));
        let ns_dir = format!("/tmp/{name}");
        let host = PathBuf::from(format!("/proc/{}/root{ns_dir}", ids.pid));
        let err = |path: &Path, source: io::Error| JavaError::Prepare {
            pid: ids.pid,
            path: path.to_path_buf(),
            source,
        };
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&host)
            .map_err(|e| err(&host, e))?;
        let dir = DropDir { host: host.clone() };
        let owner = (Some(ids.uid), Some(ids.gid));
        std::os::unix::fs::lchown(&host, owner.0, owner.1).map_err(|e| err(&host, e))?;
        let jar = host.join(AGENT_JAR_NAME);
        copy_private(&self.jar, &jar, ids.uid, ids.gid).map_err(|e| err(&jar, e))?;
        let sock = host.join("agent.sock");
        let listener = UnixListener::bind(&sock).map_err(|e| err(&sock, e))?;
        std::os::unix::fs::lchown(&sock, owner.0, owner.1).map_err(|e| err(&sock, e))?;
        Ok((dir, ns_dir, listener))
    }
}

/// Copies `from` to a new file `to` (never through a symlink or over a file), mode 0400, owned
/// by `uid:gid`.
fn copy_private(from: &Path, to: &Path, uid: u32, gid: u32) -> io::Result<()> {
    let mut src = fs::File::open(from)?;
    let mut dst = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o400)
        .custom_flags(libc::O_NOFOLLOW)
        .open(to)?;
    // The jar is a few hundred KiB; more is not the agent.
    let n = io::copy(&mut src.by_ref().take(64 << 20), &mut dst)?;
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "empty agent jar",
        ));
    }
    std::os::unix::fs::fchown(&dst, Some(uid), Some(gid))
}

/// `n` random bytes as hex, from the kernel's generator.
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    let mut got = 0;
    while got < n {
        // SAFETY: getrandom writes at most `n - got` bytes into the buffer's remaining space.
        let r = unsafe { libc::getrandom(buf[got..].as_mut_ptr().cast(), n - got, 0) };
        if r <= 0 {
            // Interrupted, or a kernel without getrandom: the time keeps names distinct.
            let t = super::now().to_le_bytes();
            for (i, b) in buf[got..].iter_mut().enumerate() {
                *b = t[i % 8] ^ (i as u8);
            }
            break;
        }
        got += r as usize;
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}
