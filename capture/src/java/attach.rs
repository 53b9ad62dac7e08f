//! HotSpot's attach mechanism, in Rust: how `jcmd` and `VirtualMachine.loadAgent` reach a
//! running JVM, without a JDK on apitop's side.
//!
//! The JVM listens on the Unix socket `/tmp/.java_pid<pid>` of its own mount namespace (`<pid>`
//! in its own pid namespace) once its attach listener runs. It starts that listener when it gets
//! SIGQUIT while a file `.attach_pid<pid>` exists in its working directory (or `/tmp`), owned by
//! its user or root. A client writes `1\0<command>\0<arg0>\0<arg1>\0<arg2>\0`; the JVM answers
//! with a status line (0 = done) and the command's output. For `load instrument false
//! <jar>=<options>`, the output is the agent's result (`return code: 0`, or just `0` before JDK
//! 9). The JVM accepts only peers with its effective uid and gid (or root, from JDK 11; a root
//! outside the JVM's user namespace is nobody to it): so the connect is made by a child process
//! started with the JVM's uid and gid — apitop itself, re-executed with [`HELPER_ARG`] — never
//! by changing the credentials of apitop's own threads.
//!
//! Everything is reached through `/proc/PID/root` and `/proc/PID/cwd`, so a JVM in a container
//! is attached the same way. SIGQUIT is only sent when the JVM catches it (`SigCgt`): a JVM
//! started with `-Xrs`, or not yet past its start-up, would otherwise die of it.
use std::ffi::OsString;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The hidden first argument that makes apitop the connecting child (see [`helper_main`]).
pub const HELPER_ARG: &str = "__apitop-java-attach";

/// How long the attach listener gets to start after SIGQUIT.
pub const SOCKET_WAIT: Duration = Duration::from_secs(5);
/// How long a command (loading the agent: its `agentmain` runs before the answer) may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// HotSpot's limit on each argument of a command (`arg_length_max`).
const MAX_ARG: usize = 1024;
/// The most of an answer kept.
const MAX_ANSWER: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error("no process with pid {0}")]
    NoSuchProcess(u32),
    #[error("cannot read /proc/{pid}/status: {why}")]
    Status { pid: u32, why: String },
    #[error("the JVM does not handle SIGQUIT (started with -Xrs, or still starting): sending it would kill the JVM, so it is not attached")]
    NoQuitHandler,
    #[error("the JVM did not open its attach socket within {0:?} of SIGQUIT (attach disabled with -XX:+DisableAttachMechanism, or the JVM is busy or still starting)")]
    NoSocket(Duration),
    #[error("cannot create the attach trigger file in the JVM's working directory or /tmp: {0}")]
    Trigger(String),
    #[error("{path} is owned by uid {owner}, not by the JVM's user (uid {uid}): not trusted")]
    ForeignSocket { path: PathBuf, owner: u32, uid: u32 },
    #[error("connecting to the JVM's attach socket as uid {uid}: {why}")]
    Connect { uid: u32, why: String },
    #[error("the JVM refused the command (status {status}): {message}")]
    Refused { status: i32, message: String },
    #[error("the agent did not start in the JVM: {0}")]
    AgentFailed(String),
    #[error("the JVM's answer is not understood: {0:?}")]
    BadAnswer(String),
    #[error("argument too long for HotSpot ({len} bytes, at most {MAX_ARG}): {what}")]
    TooLong { what: &'static str, len: usize },
    #[error("running the attach helper ({exe}): {why}")]
    Helper { exe: String, why: String },
}

/// Who and where the JVM is, from `/proc/PID/status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JvmIds {
    /// Host pid.
    pub pid: u32,
    /// The pid in the JVM's own pid namespace (the number in its socket's name).
    pub nspid: u32,
    pub uid: u32,
    pub gid: u32,
    /// SIGQUIT has a handler.
    pub catches_quit: bool,
}

impl JvmIds {
    pub fn read(pid: u32) -> Result<Self, AttachError> {
        let text = fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                AttachError::NoSuchProcess(pid)
            } else {
                AttachError::Status {
                    pid,
                    why: e.to_string(),
                }
            }
        })?;
        parse_status(pid, &text).ok_or_else(|| AttachError::Status {
            pid,
            why: "unexpected format".into(),
        })
    }

    /// `/proc/PID/root/tmp/.java_pid<nspid>`: the JVM's attach socket, from here.
    pub fn socket_path(&self) -> PathBuf {
        PathBuf::from(format!(
            "/proc/{}/root/tmp/.java_pid{}",
            self.pid, self.nspid
        ))
    }
}

/// Parses `/proc/PID/status` text.
pub fn parse_status(pid: u32, text: &str) -> Option<JvmIds> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.split_ascii_whitespace().collect::<Vec<_>>())
    };
    let euid = field("Uid:")?.get(1)?.parse().ok()?;
    let egid = field("Gid:")?.get(1)?.parse().ok()?;
    // Without NSpid (kernels before 4.1) the JVM shares apitop's pid namespace view.
    let nspid = match field("NSpid:") {
        Some(v) => v.last()?.parse().ok()?,
        None => pid,
    };
    let sigcgt = u64::from_str_radix(field("SigCgt:")?.first()?, 16).ok()?;
    Some(JvmIds {
        pid,
        nspid,
        uid: euid,
        gid: egid,
        catches_quit: sigcgt & (1 << (libc::SIGQUIT - 1)) != 0,
    })
}

/// Loads the Java agent `jar` (a path as the JVM sees it) with `options` into the JVM `pid`.
/// `helper` is the apitop executable to run as the connecting child (normally
/// `/proc/self/exe`). Returns the JVM's answer.
pub fn load_agent(
    pid: u32,
    jar: &str,
    options: &str,
    helper: &Path,
) -> Result<String, AttachError> {
    let arg = if options.is_empty() {
        jar.to_string()
    } else {
        format!("{jar}={options}")
    };
    let answer = execute(pid, &["load", "instrument", "false", &arg], helper)?;
    agent_result(&answer)?;
    Ok(answer)
}

/// Runs one attach command (`load`, `properties`, `jcmd` ...) and returns the JVM's output after
/// a status of 0.
pub fn execute(pid: u32, cmd: &[&str], helper: &Path) -> Result<String, AttachError> {
    let ids = JvmIds::read(pid)?;
    for a in cmd {
        if a.len() > MAX_ARG || a.contains('\0') {
            return Err(AttachError::TooLong {
                what: "command argument",
                len: a.len(),
            });
        }
    }
    let socket = ensure_socket(&ids)?;
    let answer = connect_as(&ids, &socket, cmd, helper)?;
    let (status, rest) = answer.split_once('\n').unwrap_or((answer.as_str(), ""));
    match status.trim().parse::<i32>() {
        Ok(0) => Ok(rest.to_string()),
        Ok(status) => Err(AttachError::Refused {
            status,
            message: rest.trim().to_string(),
        }),
        Err(_) => Err(AttachError::BadAnswer(answer.clone())),
    }
}

/// Interprets the output of `load instrument`: `return code: N` (JDK 9+) or `N`.
pub fn agent_result(output: &str) -> Result<(), AttachError> {
    let line = output.lines().next().unwrap_or("").trim();
    let code = line.strip_prefix("return code:").unwrap_or(line).trim();
    match code.parse::<i32>() {
        Ok(0) => Ok(()),
        Ok(n) => Err(AttachError::AgentFailed(match n {
            100 => "the agent jar was not found or has no Agent-Class (code 100)".into(),
            101 => "the agent jar could not be added to the class path (code 101)".into(),
            102 => "the agent's agentmain failed (code 102; see the JVM's stderr)".into(),
            -4 => "out of memory (code -4)".into(),
            n => format!("code {n}"),
        })),
        // A JDK that answers with a message instead (e.g. dynamic loading turned off).
        Err(_) => Err(AttachError::AgentFailed(output.trim().to_string())),
    }
}

/// The attach socket, started with the trigger file and SIGQUIT if it is not there yet.
fn ensure_socket(ids: &JvmIds) -> Result<PathBuf, AttachError> {
    let path = ids.socket_path();
    if let Some(p) = trusted_socket(ids, &path)? {
        return Ok(p);
    }
    if !ids.catches_quit {
        return Err(AttachError::NoQuitHandler);
    }
    let trigger = create_trigger(ids)?;
    // SAFETY: kill has no memory preconditions; the pid was just read and the JVM catches the
    // signal (checked above), so it is a request, not a kill.
    let sent = unsafe { libc::kill(ids.pid as libc::pid_t, libc::SIGQUIT) };
    let result = if sent != 0 {
        Err(AttachError::NoSuchProcess(ids.pid))
    } else {
        let start = Instant::now();
        let mut pause = Duration::from_millis(10);
        loop {
            if let Some(p) = trusted_socket(ids, &path)? {
                break Ok(p);
            }
            if start.elapsed() >= SOCKET_WAIT {
                break Err(AttachError::NoSocket(SOCKET_WAIT));
            }
            if !Path::new(&format!("/proc/{}", ids.pid)).exists() {
                break Err(AttachError::NoSuchProcess(ids.pid));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    };
    if let Some(t) = trigger {
        let _ = fs::remove_file(t);
    }
    result
}

/// The socket at `path` if it exists and belongs to the JVM's user: `/tmp` is shared, and a
/// socket someone else put there would get the agent's options.
fn trusted_socket(ids: &JvmIds, path: &Path) -> Result<Option<PathBuf>, AttachError> {
    match fs::symlink_metadata(path) {
        Ok(md) if md.file_type().is_socket() => {
            if md.uid() != ids.uid && md.uid() != 0 {
                return Err(AttachError::ForeignSocket {
                    path: path.to_path_buf(),
                    owner: md.uid(),
                    uid: ids.uid,
                });
            }
            Ok(Some(path.to_path_buf()))
        }
        _ => Ok(None),
    }
}

/// Creates `.attach_pid<nspid>` in the JVM's working directory, else in its `/tmp`, owned by
/// the JVM's user. Never through a symlink or over an existing file (it is root writing in a
/// directory someone else may own). Returns the file to remove afterwards (None: one was there).
fn create_trigger(ids: &JvmIds) -> Result<Option<PathBuf>, AttachError> {
    let name = format!(".attach_pid{}", ids.nspid);
    let dirs = [
        format!("/proc/{}/cwd", ids.pid),
        format!("/proc/{}/root/tmp", ids.pid),
    ];
    let mut errors = Vec::new();
    for dir in dirs {
        let path = Path::new(&dir).join(&name);
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path);
        match file {
            Ok(f) => {
                // The JVM ignores a trigger owned by someone other than its user or root.
                let _ = std::os::unix::fs::fchown(&f, Some(ids.uid), Some(ids.gid));
                return Ok(Some(path));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(None),
            Err(e) => errors.push(format!("{}: {e}", path.display())),
        }
    }
    Err(AttachError::Trigger(errors.join("; ")))
}

/// Runs the helper as the JVM's uid and gid to connect, send `cmd` and read the answer.
fn connect_as(
    ids: &JvmIds,
    socket: &Path,
    cmd: &[&str],
    helper: &Path,
) -> Result<String, AttachError> {
    let helper_err = |why: String| AttachError::Helper {
        exe: helper.display().to_string(),
        why,
    };
    let mut command = Command::new(helper);
    command
        .arg(HELPER_ARG)
        .arg(socket)
        .args(cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_clear();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        command.uid(ids.uid).gid(ids.gid);
    }
    let mut child = command.spawn().map_err(|e| helper_err(e.to_string()))?;
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if start.elapsed() > COMMAND_TIMEOUT + Duration::from_secs(2) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(helper_err(format!("no answer within {COMMAND_TIMEOUT:?}")));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(helper_err(e.to_string())),
        }
    };
    let mut out = Vec::new();
    let mut err = Vec::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.by_ref().take(MAX_ANSWER as u64).read_to_end(&mut out);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.by_ref().take(4096).read_to_end(&mut err);
    }
    if !status.success() {
        let why = String::from_utf8_lossy(&err).trim().to_string();
        return Err(AttachError::Connect { uid: ids.uid, why });
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The child's side: `apitop __apitop-java-attach SOCKET CMD [ARG...]`, running as the JVM's
/// user. Prints the JVM's answer on stdout; exits 1 with the reason on stderr.
pub fn helper_main(args: &[OsString]) -> i32 {
    match helper(args) {
        Ok(answer) => {
            let _ = io::stdout().write_all(&answer);
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

fn helper(args: &[OsString]) -> io::Result<Vec<u8>> {
    let bad = || io::Error::new(io::ErrorKind::InvalidInput, "usage: SOCKET CMD [ARG...]");
    let (socket, cmd) = args.split_first().ok_or_else(bad)?;
    if cmd.is_empty() || cmd.len() > 4 {
        return Err(bad());
    }
    let mut request = b"1\0".to_vec();
    for i in 0..4 {
        // Always three arguments after the command; missing ones are empty.
        if let Some(a) = cmd.get(i) {
            request.extend_from_slice(a.as_encoded_bytes());
        }
        request.push(0);
    }
    let mut s = UnixStream::connect(socket)?;
    s.set_write_timeout(Some(COMMAND_TIMEOUT))?;
    s.set_read_timeout(Some(COMMAND_TIMEOUT))?;
    s.write_all(&request)?;
    let mut answer = Vec::new();
    s.take(MAX_ANSWER as u64).read_to_end(&mut answer)?;
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields() {
        let text = "Name:\tjava\nUid:\t1000\t1001\t1000\t1000\nGid:\t50\t51\t50\t50\n\
                    NSpid:\t4242\t7\nSigCgt:\t0000000181005ccf\n";
        let ids = parse_status(4242, text).unwrap();
        assert_eq!((ids.nspid, ids.uid, ids.gid), (7, 1001, 51));
        assert!(ids.catches_quit);
        let no_quit = text.replace("181005ccf", "181005ccb");
        assert!(!parse_status(4242, &no_quit).unwrap().catches_quit);
        assert_eq!(
            ids.socket_path(),
            PathBuf::from("/proc/4242/root/tmp/.java_pid7")
        );
        assert!(parse_status(1, "garbage").is_none());
    }

    #[test]
    fn agent_results() {
        assert!(agent_result("return code: 0\n").is_ok());
        assert!(agent_result("0\n").is_ok());
        let e = agent_result("return code: 100\n").unwrap_err().to_string();
        assert!(e.contains("Agent-Class"), "{e}");
        let e = agent_result("Dynamic agent loading is not enabled\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not enabled"), "{e}");
    }
}
